"""Stop reasons and stops as the API reads and writes them."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from models import STOP_CATEGORIES
from schemas.common import ApiSchema, DateRangeMixin, ListQuerySchema, StrictBoolean, Text, UtcDateTime
from schemas.line import CODE_PATTERN

REASON_CODE = validate.Regexp(rf"^{CODE_PATTERN}$", error="1-32 of letters, digits, '_' or '-'.")


class StopReasonSchema(ApiSchema):
    code = Text(required=True, validate=REASON_CODE,
                metadata={"description": "Unique; fixed once stops name it"})
    label = Text(required=True, validate=validate.Length(min=1, max=120))
    planned = StrictBoolean(load_default=False,
                            metadata={"description": "Planned stops (breaks, maintenance) are not downtime"})
    active = StrictBoolean(load_default=True)
    category = Text(load_default=None, allow_none=True, validate=validate.OneOf(STOP_CATEGORIES),
                    metadata={"description": "The loss it is analysed as: `planned` for a planned reason, "
                              "else one of the six big losses (`breakdown`, `setup`, `small_stop`, "
                              "`reduced_speed`, `startup_reject`, `production_reject`). Default: `planned` "
                              "or `breakdown`. null (not classified yet) only on a reason the system made "
                              "itself, such as a machine's `unassigned`."})


class StopReasonListQuery(ListQuerySchema):
    planned = fields.Boolean()
    active = fields.Boolean()
    category = Text(validate=validate.OneOf(STOP_CATEGORIES))


class StopOpenSchema(Schema):
    """`POST /lines/{code}/stops`: the line stops now, for this reason."""

    class Meta:
        unknown = "raise"

    reason = Text(required=True, validate=validate.Length(min=1, max=32))
    note = Text(load_default=None, allow_none=True, validate=validate.Length(max=500))


class StopClassifySchema(Schema):
    """`POST /stops/{id}/classify`: the reason of a stop a machine opened as `unassigned`."""

    class Meta:
        unknown = "raise"

    reason = Text(required=True, validate=validate.Length(min=1, max=32))


class StopSchema(ApiSchema):
    line = fields.String()
    reason = fields.String()
    label = fields.String(metadata={"description": "The reason's label"})
    planned = fields.Boolean(metadata={"description": "The reason's planned flag"})
    category = fields.String(allow_none=True, metadata={"description": "The reason's loss category "
                                                        "(null: unclassified)"})
    started_at = UtcDateTime()
    ended_at = UtcDateTime(allow_none=True, metadata={"description": "null while the line is stopped"})
    duration_seconds = fields.Integer(metadata={"description": "So far, while open"})
    note = fields.String(allow_none=True)
    reported_by = fields.String(allow_none=True, metadata={"description": "Who opened it"})


class StopCorrectionSchema(Schema):
    """`PATCH /stops/{id}` (admin): the window and the reason; a stop of one line never overlaps another."""

    class Meta:
        unknown = "raise"

    started_at = fields.AwareDateTime(metadata={"description": "UTC, e.g. …Z"})
    ended_at = fields.AwareDateTime(metadata={"description": "UTC; ≥ started_at; closes an open stop"})
    reason = Text(validate=validate.Length(min=1, max=32))

    @pre_load
    def _something(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and not data:
            raise ValidationError("Send started_at, ended_at or reason.", field_name="_schema")
        return data


class StopListQuery(DateRangeMixin, ListQuerySchema):
    line = Text(validate=validate.Length(min=1, max=32))
    reason = Text(validate=validate.Length(min=1, max=32))
    open = fields.Boolean(metadata={"description": "Only open (true) or closed (false) stops"})
