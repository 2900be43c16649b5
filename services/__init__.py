"""The domain, one package per business context (catalog, sales, floor, analytics, exchange,
integrations, identity, on the shared `common`); docs/architecture.md has the map of who may use whom."""
