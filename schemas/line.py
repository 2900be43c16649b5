"""Production lines as the API reads and writes them."""
from __future__ import annotations

from marshmallow import fields, validate

from schemas.common import ApiSchema, ListQuerySchema, StrictBoolean, Text

CODE_PATTERN = r"[A-Za-z0-9_-]{1,32}"
CODE = validate.Regexp(rf"^{CODE_PATTERN}$", error="1-32 of letters, digits, '_' or '-'.")
# Paths under /lines that are not line codes.
RESERVED_CODES = ("status",)


class LineSchema(ApiSchema):
    code = Text(required=True, validate=[CODE, validate.NoneOf(RESERVED_CODES, error="Reserved.")],
                metadata={"description": "Unique, never changes; the key in /lines/{code}."})
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    active = StrictBoolean(load_default=True)


class LineListQuery(ListQuerySchema):
    active = fields.Boolean()
    q = Text(validate=validate.Length(min=1, max=120), metadata={"description": "Search code and name"})
