"""Production records as the API reads and writes them."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.common import (
    MAX_INT,
    ApiSchema,
    DateRangeMixin,
    ListQuerySchema,
    StrictInteger,
    Text,
    UtcDateTime,
)

ID = validate.Range(min=1, max=MAX_INT, error="Must be a positive id.")
MINUTES_PER_DAY = 24 * 60
MINUTES = validate.Range(min=0, max=MINUTES_PER_DAY, error="Must be between {min} and {max} minutes.")
LABEL = validate.Length(min=1, max=32)


class ProductionRecordSchema(ApiSchema):
    """Cross-field rules (defective ≤ produced, downtime ≤ planned) are checked on the merged row."""

    product_id = StrictInteger(required=True, validate=ID)
    employee_id = StrictInteger(required=True, validate=ID, allow_none=True, metadata={
        "description": "Required when typed; null on a machine's record"})
    quantity_produced = StrictInteger(required=True, validate=validate.Range(
        min=1, max=MAX_INT, error="Must be at least {min}."))
    quantity_defective = StrictInteger(load_default=0, validate=validate.Range(
        min=0, max=MAX_INT, error="Must not be negative."),
        metadata={"description": "0 … quantity_produced"})
    produced_at = UtcDateTime(metadata={
        "description": "When it was made (UTC; default now; never in the future). The server derives "
                       "`shift` and `date_produced` (the plant-local date the shift instance started) "
                       "from it and the line's shifts; between shifts `shift` is null and "
                       "`date_produced` the plant day of this time."})
    date_produced = fields.Date(metadata={
        "description": "YYYY-MM-DD, the production day. Derived from `produced_at`; the old form "
                       "sends it with `shift` (the instance must have started: the record is placed at "
                       "min(now, the instance's end)), or alone (a day not in the future; placed at "
                       "min(now, plant-local noon))."})
    line = Text(load_default=None, allow_none=True, validate=LABEL,
                metadata={"description": "An active line's code"})
    shift = Text(load_default=None, allow_none=True, validate=LABEL,
                 metadata={"description": "A shift's name (derived from `produced_at` when left out)"})
    planned_minutes = StrictInteger(load_default=None, allow_none=True, validate=MINUTES)
    downtime_minutes = StrictInteger(load_default=None, allow_none=True, validate=MINUTES,
                                     metadata={"description": "0 … planned_minutes; needs planned_minutes"})
    source = fields.String(dump_only=True, dump_default="api", metadata={
        "enum": ["api", "machine"],
        "description": "api: typed; machine: counted from a machine over MQTT (no employee), one "
                       "record per machine, shift instance and work order or product, growing"})
    machine_id = fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "The machine that counted it (source machine)"})
    work_order_id = StrictInteger(load_default=None, allow_none=True, validate=ID, metadata={
        "description": "The work order it fulfils: same product and line (its line fills in when "
                       "left out, and its shift in the old form), and the record must fall in the work "
                       "order's shift instance (422 otherwise); the first record moves the order to "
                       "in_progress"})


    @validates_schema
    def employee_named(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Null only on a machine's record, which the API never writes."""
        if "employee_id" in data and data["employee_id"] is None:
            raise ValidationError("Must be an employee's id.", "employee_id")


class ProductionListQuery(DateRangeMixin, ListQuerySchema):
    product_id = fields.Integer(validate=ID)
    employee_id = fields.Integer(validate=ID)
    line = Text(validate=LABEL)
    shift = Text(validate=LABEL)
    work_order_id = fields.Integer(validate=ID)
