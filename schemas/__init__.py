"""Marshmallow schemas: the single source for validation, serialization and the OpenAPI document."""
