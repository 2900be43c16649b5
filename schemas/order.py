"""Orders as the API reads and writes them: items in, server-computed prices out."""
from __future__ import annotations

from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from models import ORDER_STATUSES
from schemas.common import (
    MAX_INT,
    ApiSchema,
    DateRangeMixin,
    ListQuerySchema,
    Money,
    StrictInteger,
    UtcDateTime,
)

MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000
SERVER_COMPUTED = ("unit_price", "line_total", "total_price", "price")
PRICE_MESSAGE = "Prices and totals are computed by the server from the product's price; do not send them."
ID = validate.Range(min=1, max=MAX_INT, error="Must be a positive id.")
QUANTITY = validate.Range(min=1, max=MAX_QUANTITY, error="Must be between {min} and {max}.")


def refuse_prices(data: Any) -> None:
    """A client-sent price or total is a 422 with a message that says why."""
    if isinstance(data, dict):
        errors = {name: [PRICE_MESSAGE] for name in SERVER_COMPUTED if name in data}
        if errors:
            raise ValidationError(errors)


class OrderItemSchema(Schema):
    """One line of an order; its price is the product's at placement."""

    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    product_id = StrictInteger(required=True, validate=ID)
    quantity = StrictInteger(required=True, validate=QUANTITY)
    unit_price = Money(dump_only=True)
    line_total = Money(dump_only=True)

    @pre_load
    def _no_prices(self, data: Any, **kwargs: Any) -> Any:
        refuse_prices(data)
        return data


class OrderSchema(ApiSchema):
    """`{customer_id, items: [...]}`, or the one-line `{customer_id, product_id, quantity}`."""

    customer_id = StrictInteger(required=True, validate=ID)
    items = fields.List(fields.Nested(OrderItemSchema), validate=validate.Length(
        min=1, max=MAX_ITEMS, error="An order has between {min} and {max} items."))
    product_id = StrictInteger(load_only=True, validate=ID,
                               metadata={"description": "One-line order: the product (instead of items)."})
    quantity = StrictInteger(load_only=True, validate=QUANTITY,
                             metadata={"description": "One-line order: the quantity (instead of items)."})
    status = fields.String(dump_only=True, metadata={"enum": list(ORDER_STATUSES)})
    total_price = Money(dump_only=True)
    placed_at = UtcDateTime(metadata={
        "description": "When the order was placed (UTC; default now). Only an admin may set it, never "
                       "in the future; reports and the from/to filters key on it."})

    @pre_load
    def _no_prices(self, data: Any, **kwargs: Any) -> Any:
        refuse_prices(data)
        if isinstance(data, dict) and "status" in data:
            raise ValidationError({"status": ["A new order is always pending; change it with PATCH."]})
        return data

    @validates_schema
    def _one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        one_line = [name for name in ("product_id", "quantity") if name in data]
        if "items" in data and one_line:
            raise ValidationError("Send either items or product_id and quantity, not both.",
                                  field_name="items")
        if "items" not in data:
            if not one_line:
                raise ValidationError("Missing data for required field.", field_name="items")
            for name in ("product_id", "quantity"):
                if name not in data:
                    raise ValidationError("Missing data for required field.", field_name=name)

    @post_load
    def _as_items(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Both forms become items; `one_line` tells error messages which field names the client used."""
        placed = {"placed_at": data["placed_at"]} if "placed_at" in data else {}
        if "items" in data:
            return {"customer_id": data["customer_id"], "items": data["items"], "one_line": False, **placed}
        return {"customer_id": data["customer_id"], "one_line": True, **placed,
                "items": [{"product_id": data["product_id"], "quantity": data["quantity"]}]}


class OrderStatusChangeSchema(ApiSchema):
    """The one thing that changes on a placed order: its status."""

    status = fields.String(required=True, validate=validate.OneOf(ORDER_STATUSES))

    @pre_load
    def _only_status(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            fixed = {name: ["An order's customer, items and prices are fixed once placed; "
                            "only status can be changed."]
                     for name in data if name != "status"}
            if fixed:
                raise ValidationError(fixed)
        return data


class OrderListQuery(DateRangeMixin, ListQuerySchema):
    status = fields.String(validate=validate.OneOf(ORDER_STATUSES))
    customer_id = fields.Integer(validate=ID)
    product_id = fields.Integer(validate=ID, metadata={"description": "Orders with this product"})
