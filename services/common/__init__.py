"""What every context builds on: CRUD for one model with its rules as data, the lean list serializer, and
the live events with the schemas their data is dumped with (the event envelope)."""
