"""Products, stock adjustments and stock movements as the API reads and writes them."""
from decimal import Decimal

from marshmallow import fields, validate

from schemas.common import (
    MAX_INT,
    ApiSchema,
    ArchivedListQuery,
    ListQuerySchema,
    Money,
    StrictInteger,
    Text,
    UtcDateTime,
    archive_flag,
)

SKU = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$",
                      error="Letters, digits, '.', '_' or '-', up to 64.")


class Seconds(fields.Decimal):
    """A duration: exact Decimal in, a JSON number out (not money; our dumps writes Decimal as a string)."""

    def _serialize(self, value, attr, obj, **kwargs):
        number = super()._serialize(value, attr, obj, **kwargs)
        return None if number is None else float(number)


class ProductSchema(ApiSchema):
    # Optional at creation, as in the system this one replaces: left out, it is made from the id.
    sku = Text(validate=SKU, metadata={"description": "Unique. Left out at creation, it is made from "
                                                      "the new product's id: `SKU-000042`."})
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    description = Text(load_default=None, allow_none=True, validate=validate.Length(max=5000))
    price = Money(required=True, validate=validate.Range(min=Decimal("0.01"), max=Decimal("9999999999.99")))
    # No load_default: a PUT that leaves stock out must not read as "set stock to 0" (the model
    # defaults it to 0 at creation).
    stock_quantity = StrictInteger(
        validate=validate.Range(min=0, max=MAX_INT),
        metadata={"default": 0,
                  "description": "Opening balance at creation; afterwards changes only through "
                                 "production, shipping and stock adjustments."},
    )
    reorder_level = StrictInteger(load_default=0, validate=validate.Range(min=0, max=MAX_INT))
    ideal_cycle_seconds = Seconds(
        load_default=None, allow_none=True, as_string=False, places=3, allow_nan=False,
        validate=validate.Range(min=Decimal("0.001"), max=Decimal("9999999")),
        metadata={"description": "Ideal seconds per unit, for OEE performance."},
    )
    active = archive_flag()


class ProductListQuery(ArchivedListQuery, ListQuerySchema):
    sku = Text(validate=validate.Length(max=64))
    name = Text(validate=validate.Length(max=200))
    q = Text(validate=validate.Length(max=200), metadata={"description": "Search name or SKU"})
    low_stock = fields.Boolean(metadata={"description": "Only products at or below reorder level"})


class StockAdjustmentSchema(ApiSchema):
    delta = StrictInteger(required=True, validate=[validate.Range(min=-MAX_INT, max=MAX_INT),
                                                   validate.NoneOf([0], error="Must not be zero.")])
    reason = Text(required=True, validate=validate.Length(min=1, max=255))


class StockMovementSchema(ApiSchema):
    product_id = fields.Integer(dump_only=True)
    delta = fields.Integer(dump_only=True)
    balance_after = fields.Integer(dump_only=True)
    reason = fields.String(dump_only=True)
    note = fields.String(dump_only=True)
    order_id = fields.Integer(dump_only=True, allow_none=True)
    production_record_id = fields.Integer(dump_only=True, allow_none=True)
    user_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = UtcDateTime(dump_only=True)


class StockMovementListQuery(ListQuerySchema):
    reason = fields.String(validate=validate.OneOf(
        ["opening", "production", "shipment", "adjustment", "reversal"]))
