"""Shifts as the API reads and writes them, and the running shift instance."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, pre_dump, validate

from models import WEEKDAYS
from models.shift import parse_breaks, window_minutes
from schemas.common import ApiSchema, ListQuerySchema, StrictInteger, Text, UtcDateTime

CLOCK = validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="Must be HH:MM (00:00 … 23:59).")


MAX_BREAKS = 10


class BreakSchema(Schema):
    starts_at = Text(required=True, validate=CLOCK, metadata={"description": "HH:MM, plant-local"})
    minutes = StrictInteger(required=True, validate=validate.Range(min=1, max=24 * 60 - 1))


class ShiftSchema(ApiSchema):
    """Breaks and days are checked against the window on the merged row (services/floor/shifts.py)."""

    name = Text(required=True, validate=validate.Length(min=1, max=32))
    starts_at = Text(required=True, validate=CLOCK, metadata={"description": "HH:MM, plant-local"})
    ends_at = Text(required=True, validate=CLOCK,
                   metadata={"description": "HH:MM, plant-local; at or before starts_at: the next day"})
    break_minutes = StrictInteger(validate=validate.Range(min=0, max=24 * 60 - 1), metadata={
        "description": "Σ of the breaks' minutes (read-only when `breaks` are given); a shift "
                       "without `breaks` may set it alone: a break with no time, spread evenly "
                       "over the shift (0 … duration − 1)"})
    breaks = fields.List(fields.Nested(BreakSchema), validate=validate.Length(max=MAX_BREAKS), metadata={
        "description": "Breaks at their times, inside the shift and not overlapping; planned "
                       "downtime once their time has come"})
    effective_from = fields.Date(load_only=True, metadata={
        "description": "On a change of times, breaks or days: the first date (plant-local, ≥ today) "
                       "whose instance runs under the new definition; default the next instance "
                       "that has not started. Past instances keep the definition they ran under."})
    days = fields.List(fields.String(validate=validate.OneOf(WEEKDAYS)), load_default=list(WEEKDAYS),
                       validate=validate.Length(min=1, max=7),
                       metadata={"description": "Weekdays the shift starts on (default: all)"})
    duration_minutes = fields.Integer(dump_only=True)
    planned_minutes = fields.Integer(dump_only=True, metadata={"description": "duration − break"})

    @pre_dump
    def _figures(self, row: Any, **kwargs: Any) -> dict[str, Any]:
        duration = window_minutes(row.starts_at, row.ends_at)
        return {"id": row.id, "created_at": row.created_at, "updated_at": row.updated_at,
                "name": row.name, "starts_at": row.starts_at, "ends_at": row.ends_at,
                "break_minutes": row.break_minutes, "days": row.days.split(","),
                "breaks": [{"starts_at": start, "minutes": minutes}
                           for start, minutes in parse_breaks(row.breaks)],
                "duration_minutes": duration, "planned_minutes": duration - row.break_minutes}

    @post_load
    def _days_text(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "days" in data:
            if len(set(data["days"])) != len(data["days"]):
                raise ValidationError({"days": ["Each day at most once."]})
            data["days"] = ",".join(day for day in WEEKDAYS if day in data["days"])
        return data


class ShiftListQuery(ListQuerySchema):
    pass


class ShiftVersionSchema(Schema):
    """One version of a shift's definition: instances starting on or after `effective_from` (until
    the next version's) run under it."""

    effective_from = fields.Date()
    effective_to = fields.Date(allow_none=True, metadata={
        "description": "The last date under this version; null for the one in force from then on"})
    starts_at = fields.String()
    ends_at = fields.String()
    break_minutes = fields.Integer()
    breaks = fields.List(fields.Nested(BreakSchema))
    days = fields.List(fields.String())
    created_at = UtcDateTime()


class ShiftHistorySchema(Schema):
    shift = fields.String()
    items = fields.List(fields.Nested(ShiftVersionSchema))


class ShiftInstanceSchema(Schema):
    """A shift on a date: the plant-local date it starts, and its window as UTC timestamps."""

    shift = fields.String()
    date = fields.Date()
    starts_at = UtcDateTime()
    ends_at = UtcDateTime()


class CurrentShiftSchema(Schema):
    current = fields.Nested(ShiftInstanceSchema, allow_none=True,
                            metadata={"description": "The running instance, or null"})
    next = fields.Nested(ShiftInstanceSchema, allow_none=True,
                         metadata={"description": "The next instance to start, or null without shifts"})
