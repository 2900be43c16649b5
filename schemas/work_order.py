"""Work orders (the plan) as the API reads and writes them."""
from __future__ import annotations

from marshmallow import fields, validate

from models import WORK_ORDER_STATUSES
from schemas.common import MAX_INT, ApiSchema, DateRangeMixin, Day, ListQuerySchema, StrictInteger, Text

ID = validate.Range(min=1, max=MAX_INT, error="Must be a positive id.")
NAME = validate.Length(min=1, max=32)


class WorkOrderSchema(ApiSchema):
    product_id = StrictInteger(required=True, validate=ID)
    line = Text(required=True, validate=NAME, metadata={"description": "An active line's code"})
    shift = Text(required=True, validate=NAME, metadata={"description": "A shift's name"})
    date = fields.Date(required=True,
                       metadata={"description": "The plant-local date the shift instance starts"})
    planned_quantity = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_INT))
    order_id = StrictInteger(load_default=None, allow_none=True, validate=ID,
                             metadata={"description": "The customer order it makes (make-to-order)"})
    status = fields.String(validate=validate.OneOf(WORK_ORDER_STATUSES), metadata={
        "description": "planned → released → in_progress → completed, or cancelled before completed; "
                       "one step at a time (the first record moves it to in_progress). New: planned "
                       "or released."})
    good = fields.Integer(dump_only=True, metadata={"description": "Summed from its records"})
    defective = fields.Integer(dump_only=True, metadata={"description": "Summed from its records"})


class WorkOrderListQuery(DateRangeMixin, ListQuerySchema):
    date = Day()
    line = Text(validate=NAME)
    shift = Text(validate=NAME)
    status = fields.String(validate=validate.OneOf(WORK_ORDER_STATUSES))
    product_id = fields.Integer(validate=ID)
