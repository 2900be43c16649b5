"""Domain logic and queries, one module per resource; handlers call these, never the other way."""
