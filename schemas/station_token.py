"""Station tokens (an operator's tablet at a line) as the API mints and lists them."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.common import Text
from schemas.line import CODE_PATTERN
from schemas.user import ActorSchema, DisplayTokenListQuery

LINE_CODE = validate.Regexp(rf"^{CODE_PATTERN}$", error="1-32 of letters, digits, '_' or '-'.")


class StationTokenRequestSchema(Schema):
    class Meta:
        unknown = "raise"

    label = Text(required=True, validate=validate.Length(min=1, max=120))
    lines = fields.List(Text(validate=LINE_CODE), required=True, validate=validate.Length(min=1, max=12),
                        metadata={"description": "The codes of the active lines the station records for"})
    expires_in_days = fields.Integer(load_default=365, strict=True, validate=validate.Range(min=1, max=3650))


class StationTokenSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    lines = fields.List(fields.String())
    token = fields.String(metadata={"description": "Shown once; open /station#token=…&line=… with it."})
    expires_at = fields.String()
    created_at = fields.String()


class StationTokenAuditSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    lines = fields.List(fields.String())
    created_at = fields.String()
    expires_at = fields.String()
    revoked_at = fields.String(allow_none=True)
    minted_by = fields.Nested(ActorSchema)
    revoked_by = fields.Nested(ActorSchema, allow_none=True)


StationTokenListQuery = DisplayTokenListQuery
