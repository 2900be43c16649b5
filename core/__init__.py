"""Cross-cutting building blocks: configuration, database, security, caching, rate limiting."""
