"""The prepared serializers dump exactly what the marshmallow schemas dump, for every resource."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from schemas.customer import CustomerSchema
from schemas.employee import EmployeeSchema
from schemas.order import OrderItemSchema, OrderSchema
from schemas.product import ProductSchema, StockMovementSchema
from schemas.production import ProductionRecordSchema
from schemas.user import UserSchema
from services.common.listing import Serializer

pytestmark = pytest.mark.sqlite_only  # no database involved
MOMENTS = [datetime(2026, 3, 4, 10, 0, 0, 123456), datetime(2026, 12, 31, 23, 59, 59, 999999),
           datetime(999, 1, 2, 3, 4, 5), datetime(2026, 3, 4, 11, 0, tzinfo=UTC)]
INTEGERS = ("id", "stock_quantity", "reorder_level", "delta", "balance_after", "quantity",
            "quantity_produced",
            "quantity_defective", "planned_minutes", "downtime_minutes")
MONEY = [Decimal("62.50"), Decimal("0.00"), Decimal("9999999999.99"), Decimal("12.5"), Decimal("1E+3"), None]


def rows(schema: type) -> list[dict]:
    """Rows with every value kind a column of the schema may hold, None where it may."""
    names = list(schema().fields)
    out = []
    for n in range(6):
        row: dict = {}
        for name in names:
            if name.endswith("_at"):
                row[name] = MOMENTS[n % len(MOMENTS)]
            elif name in ("price", "total_price", "unit_price", "line_total", "ideal_cycle_seconds"):
                row[name] = MONEY[n % len(MONEY)] if name != "price" or MONEY[n % len(MONEY)] else Decimal(1)
            elif name == "date_produced":
                row[name] = date(2026, 3, n + 1)
            elif name in ("is_active",):
                row[name] = bool(n % 2)
            elif name.endswith("_id") or name in INTEGERS:
                row[name] = None if n == 5 and name not in ("id",) else n * 7
            else:
                row[name] = None if n == 5 else f"text {n} ünïcode"
        out.append(row)
    return out


@pytest.mark.parametrize("schema", [CustomerSchema, EmployeeSchema, ProductSchema, StockMovementSchema,
                                    ProductionRecordSchema, UserSchema, OrderItemSchema])
def test_prepared_dump_equals_the_schema(schema):
    serializer, reference = Serializer(schema), schema()
    for row in rows(schema):
        assert json.dumps(serializer.dump(row)) == json.dumps(reference.dump(SimpleNamespace(**row))), row


def test_prepared_dump_of_orders_with_items():
    serializer, reference = Serializer(OrderSchema), OrderSchema()
    items = rows(OrderItemSchema)
    for row in rows(OrderSchema):
        row.pop("items")
        expected = reference.dump(SimpleNamespace(**row, items=[SimpleNamespace(**item) for item in items]))
        dumped = serializer.dump(row, {"items": [serializer.nested["items"].dump(item) for item in items]})
        assert json.dumps(dumped) == json.dumps(expected)
