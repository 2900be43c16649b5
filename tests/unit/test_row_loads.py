"""The fast loads of import rows give exactly what the schema's load gives, or leave the row to it."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from schemas.order import OrderSchema
from schemas.production import ProductionRecordSchema
from services.exchange.row_loads import fast_loader

ints = st.one_of(st.integers(-3, 3), st.integers(1_000_000 - 2, 1_000_002),
                 st.integers(2**31 - 3, 2**31 + 1), st.integers(1, 500), st.booleans(), st.floats(0, 5),
                 st.sampled_from(["7", "", None]))
texts = st.one_of(st.none(), st.sampled_from(["A", " A ", "", "   ", "x" * 32, "x" * 33, "L\x00", 5, "Früh"]))
dates = st.sampled_from(["2026-11-20", "2026-02-30", "20261120", "", None, 20261120, "2026-11-20T00:00:00"])
times = st.sampled_from(["2026-11-20T05:06:07Z", "2026-11-20T05:06:07+02:00", "2026-11-20", "soon", None, 7])


def same(schema, row) -> None:
    fast = fast_loader("orders" if isinstance(schema, OrderSchema) else "production", schema)(dict(row))
    try:
        loaded = schema.load(dict(row))
    except ValidationError:
        assert fast is None, (row, fast)
        return
    if fast is not None:
        assert fast == loaded, (row, fast, loaded)


@settings(max_examples=600, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "customer_id": ints, "product_id": ints, "quantity": ints, "placed_at": times, "status": st.just("x"),
    "total_price": st.just("1.00"),
    "items": st.one_of(st.lists(st.fixed_dictionaries({}, optional={
        "product_id": ints, "quantity": ints, "unit_price": st.just("1.00")}), max_size=3),
        st.just([]), st.just("x"), st.lists(st.just({"product_id": 1, "quantity": 1}), min_size=101,
                                            max_size=101))}))
def test_orders(row):
    same(OrderSchema(), row)


@settings(max_examples=600, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "product_id": ints, "employee_id": ints, "quantity_produced": ints, "quantity_defective": ints,
    "date_produced": dates, "produced_at": times, "line": texts, "shift": texts,
    "planned_minutes": st.one_of(ints, st.integers(1439, 1441)),
    "downtime_minutes": ints, "work_order_id": ints, "note": st.just("x")}))
def test_production(row):
    same(ProductionRecordSchema(), row)


def test_clean_rows_take_the_fast_load():
    orders = fast_loader("orders", OrderSchema())
    assert orders({"customer_id": 1, "product_id": 2, "quantity": 3}) is not None
    assert orders({"customer_id": 1, "items": [{"product_id": 2, "quantity": 3}],
                   "placed_at": "2026-11-20T05:06:07Z"}) is not None
    production = fast_loader("production", ProductionRecordSchema())
    assert production({"product_id": 1, "employee_id": 2, "quantity_produced": 5,
                       "date_produced": "2026-11-20", "line": "A"}) is not None
    assert production({"product_id": 1, "employee_id": 2, "quantity_produced": 5,
                       "produced_at": "2026-11-20T05:06:07Z", "line": "A"}) is not None
    assert production({"product_id": 1, "employee_id": 2, "quantity_produced": 5}) is not None
