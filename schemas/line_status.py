"""A line's live status as GET /lines/status and the `line.status` event carry it."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

_RATIO = {"allow_none": True}


class LineStopSchema(Schema):
    id = fields.Integer()
    reason = fields.String()
    label = fields.String()
    planned = fields.Boolean()
    category = fields.String(allow_none=True, metadata={"description": "The reason's loss category"})
    started_at = fields.String(metadata={"format": "date-time"})
    note = fields.String(allow_none=True, metadata={"description": "What the reporter wrote, if anything"})


class LineShiftSchema(Schema):
    name = fields.String()
    date = fields.String(metadata={"format": "date", "description": "The plant-local date it starts"})
    starts_at = fields.String(metadata={"format": "date-time"})
    ends_at = fields.String(metadata={"format": "date-time"})
    elapsed = fields.Float(metadata={"description": "0 … 1 of the window's wall time"})
    on_break = fields.Boolean(metadata={"description": "A scheduled break runs now"})
    break_ends_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class LinePlanSchema(Schema):
    planned_quantity = fields.Integer()
    good = fields.Integer()
    defective = fields.Integer()
    expected_by_now = fields.Integer()
    pace = fields.Float(**_RATIO, metadata={"description": "good / expected_by_now; null when 0"})


class LineOeeSchema(Schema):
    availability = fields.Float(**_RATIO)
    performance = fields.Float(**_RATIO)
    quality = fields.Float(**_RATIO)
    oee = fields.Float(**_RATIO)


class LastShiftSchema(Schema):
    name = fields.String()
    date = fields.String(metadata={"format": "date"})
    starts_at = fields.String(metadata={"format": "date-time"})
    ends_at = fields.String(metadata={"format": "date-time"})
    plan = fields.Nested(LinePlanSchema)
    oee = fields.Nested(LineOeeSchema)
    warnings = fields.List(fields.String())


class MicroStopsSchema(Schema):
    count = fields.Integer()
    seconds = fields.Float()


class LineStatusSchema(Schema):
    line = fields.String()
    name = fields.String()
    state = fields.String(validate=validate.OneOf(["running", "stopped", "idle", "offline"]), metadata={
        "description": "offline: every machine of the line is offline (lines with machines only)"})
    stop = fields.Nested(LineStopSchema, allow_none=True)
    shift = fields.Nested(LineShiftSchema, allow_none=True)
    plan = fields.Nested(LinePlanSchema)
    oee = fields.Nested(LineOeeSchema)
    warnings = fields.List(fields.String(), metadata={"description": "e.g. performance_over_100"})
    scheduled = fields.Boolean(metadata={"description": "false: no work order, production or stop"})
    last_shift = fields.Nested(LastShiftSchema, allow_none=True,
                               metadata={"description": "While idle: the last finished instance"})
    as_of = fields.String(metadata={"format": "date-time"})
    offline_since = fields.String(allow_none=True, metadata={
        "format": "date-time", "description": "Since when all the line's machines are offline, else null"})
    micro_stops = fields.Nested(MicroStopsSchema, metadata={
        "description": "Gaps between machine counts shorter than a stop, in the running shift instance"})
