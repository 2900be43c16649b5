"""Andon calls as the API reads and writes them, and the calls report."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from models import CALL_KINDS
from schemas.analytics import AnalyticsQuery
from schemas.common import ApiSchema, DateRangeMixin, ListQuerySchema, Text, UtcDateTime

KIND = validate.OneOf(CALL_KINDS)


class CallOpenSchema(Schema):
    """`POST /lines/{code}/calls`: someone at the line calls for help."""

    class Meta:
        unknown = "raise"

    kind = fields.String(required=True, validate=KIND,
                         metadata={"description": "Who is called: " + ", ".join(CALL_KINDS)})
    note = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class CallSchema(ApiSchema):
    line = fields.String()
    kind = fields.String(validate=KIND)
    note = fields.String(allow_none=True)
    opened_at = UtcDateTime()
    opened_by = fields.String(allow_none=True, metadata={"description": "Who raised it"})
    acknowledged_at = UtcDateTime(allow_none=True, metadata={"description": "null until someone answers"})
    acknowledged_by = fields.String(allow_none=True)
    resolved_at = UtcDateTime(allow_none=True, metadata={"description": "null while the call is open"})
    resolved_by = fields.String(allow_none=True)
    escalated_at = UtcDateTime(allow_none=True, metadata={
        "description": "When it was escalated for going unacknowledged too long (null: never)"})
    response_seconds = fields.Integer(allow_none=True, metadata={"description": "Opened → acknowledged"})
    resolution_seconds = fields.Integer(allow_none=True, metadata={"description": "Opened → resolved"})


class CallListQuery(DateRangeMixin, ListQuerySchema):
    line = Text(validate=validate.Length(min=1, max=32))
    kind = fields.String(validate=KIND)
    open = fields.Boolean(metadata={"description": "Only open (true: not resolved) or resolved (false)"})


class CallReportQuery(AnalyticsQuery):
    """`GET /analytics/calls`: calls opened on plant-local days `from` … `to` (default the last 30)."""

    line = Text(validate=validate.Length(min=1, max=32))
    kind = fields.String(validate=KIND)
