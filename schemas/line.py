"""Production lines as the API reads and writes them."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from schemas.common import ApiSchema, ListQuerySchema, StrictBoolean, Text

CODE_PATTERN = r"[A-Za-z0-9_-]{1,32}"
CODE = validate.Regexp(rf"^{CODE_PATTERN}$", error="1-32 of letters, digits, '_' or '-'.")
# Paths under /lines that are not line codes.
RESERVED_CODES = ("status",)


class Calendar(fields.Field):
    """The shifts a line runs: a list of shift names in, stored comma-separated; null: every shift."""

    def _serialize(self, value: str | None, attr: str | None, obj: Any, **kwargs: Any) -> list[str] | None:
        return None if value is None else [name for name in value.split(",") if name]

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > 20 or not all(
                isinstance(name, str) and 1 <= len(name) <= 32 and "," not in name for name in value):
            raise ValidationError("A list of at most 20 shift names, or null for every shift.")
        if len({name.lower() for name in value}) != len(value):
            raise ValidationError("Each shift at most once.")
        return value


class LineSchema(ApiSchema):
    code = Text(required=True, validate=[CODE, validate.NoneOf(RESERVED_CODES, error="Reserved.")],
                metadata={"description": "Unique, never changes; the key in /lines/{code}."})
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    active = StrictBoolean(load_default=True)
    shifts = Calendar(allow_none=True, metadata={
        "type": "array", "items": {"type": "string"}, "nullable": True,
        "description": "The line's calendar: the shifts it runs (their names); null or left out: "
                       "every shift. Between its shifts a line is idle."})


class LineListQuery(ListQuerySchema):
    active = fields.Boolean()
    q = Text(validate=validate.Length(min=1, max=120), metadata={"description": "Search code and name"})
