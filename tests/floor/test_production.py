"""/production: records, the stock their good units make, and the rules on changing them."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import ProductionRecord, StockMovement


async def stock_of(api, product):
    return (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"]


async def record(api, product, employee, role="user", **fields):
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "date_produced": "2026-11-20", **fields}
    response = await api.post("/production", body, role=role)
    assert response.status == 201, response
    return response.json


def record_events(app):
    events = []
    app.ctx.db.on_commit(lambda change: events.extend(change.events))
    return events


async def test_record_adds_good_units_to_stock(api, make, app):
    events = record_events(app)
    product = await make.product(stock_quantity=5)
    employee = await make.employee()
    await make.line("Assembly-2")
    await make.shift("morning", "06:00", "14:00")
    response = await api.post("/production", {
        "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 120,
        "quantity_defective": 7, "date_produced": "2026-11-20", "line": "Assembly-2", "shift": "morning",
        "planned_minutes": 480, "downtime_minutes": 35}, role="user")
    assert response.status == 201, response
    body = response.json
    assert response.headers["Location"] == f"/production/{body['id']}"
    assert set(body) == {"id", "product_id", "employee_id", "quantity_produced", "quantity_defective",
                         "date_produced", "line", "shift", "planned_minutes", "downtime_minutes",
                         "work_order_id", "source", "machine_id", "created_at", "updated_at", "produced_at"}
    assert body["source"] == "api" and body["machine_id"] is None
    assert body["date_produced"] == "2026-11-20"
    assert body["line"] == "Assembly-2" and body["downtime_minutes"] == 35
    assert await stock_of(api, product) == 5 + 113
    assert (await api.get(f"/production/{body['id']}", role="user")).json == body
    assert ("production", "production.recorded", body) in events
    ledger = (await api.get(f"/products/{product['id']}/stock-movements?reason=production",
                            role="user")).json["items"]
    assert [(m["delta"], m["production_record_id"], m["balance_after"]) for m in ledger] == [
        (113, body["id"], 118)]


async def test_optional_fields_default_to_null_and_zero_defects(api, make):
    product, employee = await make.product(), await make.employee()
    body = await record(api, product, employee)
    assert body["quantity_defective"] == 0
    assert body["line"] is None and body["shift"] is None
    assert body["planned_minutes"] is None and body["downtime_minutes"] is None
    assert await stock_of(api, product) == 10


async def test_all_defective_adds_nothing(api, make, app):
    product, employee = await make.product(), await make.employee()
    await record(api, product, employee, quantity_produced=4, quantity_defective=4)
    assert await stock_of(api, product) == 0
    async with app.ctx.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(StockMovement)) == 0


BAD_RECORDS = [
    ("zero produced", {"quantity_produced": 0}, "quantity_produced"),
    ("negative produced", {"quantity_produced": -5}, "quantity_produced"),
    ("string produced", {"quantity_produced": "10"}, "quantity_produced"),
    ("negative defective", {"quantity_defective": -1}, "quantity_defective"),
    ("defective over produced", {"quantity_produced": 5, "quantity_defective": 6}, "quantity_defective"),
    ("malformed date", {"date_produced": "20-11-2026"}, "date_produced"),
    ("impossible date", {"date_produced": "2026-02-30"}, "date_produced"),
    ("datetime for date", {"date_produced": 20261120}, "date_produced"),
    ("future date", {"date_produced": "2999-01-01"}, "date_produced"),
    ("future time", {"date_produced": None, "produced_at": "2999-01-01T00:00:00Z"}, "produced_at"),
    ("malformed time", {"date_produced": None, "produced_at": "yesterday"}, "produced_at"),
    ("shift without a day", {"date_produced": None, "shift": "night"}, "shift"),
    ("unknown product", {"product_id": 999999}, "product_id"),
    ("unknown employee", {"employee_id": 999999}, "employee_id"),
    ("missing product", {"product_id": None}, "product_id"),
    ("downtime over planned", {"planned_minutes": 60, "downtime_minutes": 61}, "downtime_minutes"),
    ("downtime without planned", {"downtime_minutes": 10}, "downtime_minutes"),
    ("negative planned", {"planned_minutes": -1}, "planned_minutes"),
    ("planned over a day", {"planned_minutes": 1441}, "planned_minutes"),
    ("empty line", {"line": ""}, "line"),
    ("control characters", {"shift": "night\x00"}, "shift"),
    ("unknown field", {"operator": "Dana"}, "operator"),
]


@pytest.mark.parametrize("case,changes,field", BAD_RECORDS, ids=[case for case, _, _ in BAD_RECORDS])
async def test_bad_records_are_422_naming_the_field(api, make, app, case, changes, field):
    product, employee = await make.product(), await make.employee()
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "date_produced": "2026-11-20", **changes}
    body = {key: value for key, value in body.items() if value is not None}
    response = await api.post("/production", body, role="user")
    assert response.status == 422, response
    assert field in response.json["errors"], response.json
    assert await stock_of(api, product) == 0
    async with app.ctx.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProductionRecord)) == 0


async def test_update_moves_stock_by_the_difference(api, make, app):
    product, employee = await make.product(), await make.employee()
    body = await record(api, product, employee, quantity_produced=50, quantity_defective=5)
    await make.line("Paint")
    events = record_events(app)
    assert await stock_of(api, product) == 45

    more = await api.patch(f"/production/{body['id']}", {"quantity_produced": 60}, role="admin")
    assert more.status == 200, more
    assert more.json["quantity_produced"] == 60 and more.json["quantity_defective"] == 5
    assert await stock_of(api, product) == 55
    assert ("production", "production.updated", more.json) in events

    fewer = await api.patch(f"/production/{body['id']}", {"quantity_defective": 20}, role="admin")
    assert fewer.status == 200
    assert await stock_of(api, product) == 40

    unchanged = await api.patch(f"/production/{body['id']}", {"line": "Paint"}, role="admin")
    assert unchanged.status == 200 and unchanged.json["line"] == "Paint"
    ledger = (await api.get(f"/products/{product['id']}/stock-movements", role="user")).json["items"]
    assert [(m["reason"], m["delta"]) for m in ledger] == [("production", 45), ("production", 10),
                                                           ("reversal", -15)]


async def test_update_to_another_product_moves_stock_between_them(api, make):
    first, second, employee = await make.product(), await make.product(), await make.employee()
    body = await record(api, first, employee, quantity_produced=8)
    response = await api.patch(f"/production/{body['id']}", {"product_id": second["id"]}, role="admin")
    assert response.status == 200, response
    assert await stock_of(api, first) == 0
    assert await stock_of(api, second) == 8


async def test_update_checks_rules_against_the_stored_record(api, make):
    product, employee = await make.product(), await make.employee()
    body = await record(api, product, employee, quantity_produced=10, planned_minutes=100)
    for changes, field in [({"quantity_defective": 11}, "quantity_defective"),
                           ({"quantity_produced": 0}, "quantity_produced"),
                           ({"downtime_minutes": 101}, "downtime_minutes"),
                           ({"planned_minutes": None, "downtime_minutes": 5}, "downtime_minutes"),
                           ({"employee_id": 999999}, "employee_id"),
                           ({"product_id": 999999}, "product_id")]:
        response = await api.patch(f"/production/{body['id']}", changes, role="admin")
        assert response.status == 422, (changes, response)
        assert field in response.json["errors"]
    assert (await api.get(f"/production/{body['id']}", role="user")).json == body
    assert await stock_of(api, product) == 10


async def test_update_or_delete_refused_where_stock_would_go_negative(api, make, app):
    product, employee, customer = await make.product(), await make.employee(), await make.customer()
    body = await record(api, product, employee, quantity_produced=10)
    order = (await api.post("/orders", {"customer_id": customer["id"], "product_id": product["id"],
                                        "quantity": 8}, role="user")).json
    for status in ("confirmed", "in_production", "shipped"):
        assert (await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")).status == 200
    assert await stock_of(api, product) == 2

    shrink = await api.patch(f"/production/{body['id']}", {"quantity_produced": 5}, role="admin")
    assert shrink.status == 409, shrink
    assert "stock" in shrink.json["detail"].lower()
    delete = await api.delete(f"/production/{body['id']}", role="admin")
    assert delete.status == 409, delete
    assert (await api.get(f"/production/{body['id']}", role="user")).json == body
    assert await stock_of(api, product) == 2

    small = await api.patch(f"/production/{body['id']}", {"quantity_defective": 2}, role="admin")
    assert small.status == 200
    assert await stock_of(api, product) == 0


async def test_delete_reverses_the_stock(api, make, app):
    product, employee = await make.product(stock_quantity=3), await make.employee()
    body = await record(api, product, employee, quantity_produced=12, quantity_defective=2)
    events = record_events(app)
    assert await stock_of(api, product) == 13
    assert (await api.delete(f"/production/{body['id']}", role="admin")).status == 204
    assert await stock_of(api, product) == 3
    assert (await api.get(f"/production/{body['id']}", role="user")).status == 404
    assert ("production", "production.deleted", body) in events
    ledger = (await api.get(f"/products/{product['id']}/stock-movements", role="user")).json["items"]
    assert [(m["reason"], m["delta"], m["balance_after"]) for m in ledger] == [
        ("opening", 3, 3), ("production", 10, 13), ("reversal", -10, 3)]


async def test_roles(api, make):
    product, employee = await make.product(), await make.employee()
    body = await record(api, product, employee, role="user")
    assert (await api.get("/production", role="user")).status == 200
    assert (await api.patch(f"/production/{body['id']}", {"line": "x"}, role="user")).status == 403
    assert (await api.delete(f"/production/{body['id']}", role="user")).status == 403
    assert (await api.get("/production")).status == 401


async def test_put_updates_the_fields_it_sends(api, make):
    """As clients of the old system expect: PUT changes the fields sent and keeps the others."""
    product, employee = await make.product(), await make.employee()
    await make.line("Paint")
    await make.shift("night", "22:00", "06:00")
    body = await record(api, product, employee, quantity_produced=10, line="Paint", shift="night")
    response = await api.put(f"/production/{body['id']}", {
        "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 4}, role="admin")
    assert response.status == 200, response
    assert response.json["line"] == "Paint" and response.json["shift"] == "night"
    assert response.json["date_produced"] == body["date_produced"]
    assert await stock_of(api, product) == 4
    partial = await api.put(f"/production/{body['id']}", {"quantity_produced": 6}, role="admin")
    assert partial.status == 200 and partial.json["quantity_produced"] == 6
    assert await stock_of(api, product) == 6
    refused = await api.put(f"/production/{body['id']}", {"quantity_produced": 0}, role="admin")
    assert refused.status == 422 and await stock_of(api, product) == 6


async def test_list_filters_and_sorts(api, make):
    gear, valve = await make.product(), await make.product()
    dana, lee = await make.employee(), await make.employee()
    for code in ("A", "B"):
        await make.line(code)
    await make.shift("morning", "06:00", "14:00")
    await make.shift("night", "22:00", "06:00")
    a = await record(api, gear, dana, quantity_produced=30, date_produced="2026-11-01", line="A",
                     shift="morning")
    b = await record(api, valve, lee, quantity_produced=10, date_produced="2026-11-05", line="B",
                     shift="night")
    c = await record(api, gear, lee, quantity_produced=20, date_produced="2026-11-09", line="A",
                     shift="night")

    async def ids(query):
        response = await api.get(f"/production?{query}", role="user")
        assert response.status == 200, response
        return [item["id"] for item in response.json["items"]]

    assert await ids("") == [a["id"], b["id"], c["id"]]
    assert await ids(f"product_id={gear['id']}") == [a["id"], c["id"]]
    assert await ids(f"employee_id={lee['id']}") == [b["id"], c["id"]]
    assert await ids("line=A") == [a["id"], c["id"]]
    assert await ids("shift=night&line=A") == [c["id"]]
    assert await ids("from=2026-11-05") == [b["id"], c["id"]]
    assert await ids("to=2026-11-05") == [a["id"], b["id"]]
    assert await ids("from=2026-11-02&to=2026-11-08") == [b["id"]]
    assert await ids("sort_by=quantity_produced") == [b["id"], c["id"], a["id"]]
    assert await ids("sort_by=date_produced&sort_order=desc") == [c["id"], b["id"], a["id"]]
    for query, param in [("from=2026-11-31", "from"), ("from=2026-11-09&to=2026-11-01", "from"),
                         ("sort_by=line", "sort_by"), ("product_id=x", "product_id")]:
        response = await api.get(f"/production?{query}", role="user")
        assert response.status == 400 and param in response.json["errors"], query


async def test_product_and_employee_with_records_cannot_be_deleted(api, make):
    product, employee = await make.product(), await make.employee()
    await record(api, product, employee)
    for path in (f"/products/{product['id']}", f"/employees/{employee['id']}"):
        response = await api.delete(path, role="admin")
        assert response.status == 409, response
        assert "production records" in response.json["detail"]
