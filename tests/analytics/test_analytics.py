"""/analytics: every report on a small dataset whose numbers are worked out by hand below.

Orders (cancelled never count as sales; placement date = orders.placed_at). The rows are written
straight to the tables, as an import would, and the summary tables rebuilt from them:

    order  customer  placed                status      lines                            total
    O1     C1        2026-03-01 09:00:00   delivered   Gear 3 × 10.00, Bolt 4 × 2.50     40.00
    O2     C1        2026-03-05 14:30:00   pending     Bolt 10 × 2.50                    25.00
    O3     C2        2026-03-02 08:00:00   cancelled   Gear 100 × 10.00                1000.00
    O4     C2        2026-03-10 23:59:59   shipped     Housing 1 × 99.99, Gear 1 × 10   109.99
    O5     C3        2026-04-02 10:00:00   confirmed   Gear 2 × 10.00                    20.00
    O6     C3        2026-02-28 23:59:59   delivered   Bolt 1 × 2.50                      2.50
    O7     C1        2026-03-31 12:00:00   confirmed   Bolt 3 × 2.50                      7.50

Production (ideal cycle: Gear 30 s, Bolt 12 s, Housing none):

    record  day         product  employee  line  produced  defective  planned  downtime
    R1      2026-03-01  Gear     Alice     A     100       5          480      30
    R2      2026-03-01  Bolt     Bob       A     600       30         240      40
    R3      2026-03-02  Gear     Bob       B     50        0          120      20
    R4      2026-03-02  Housing  Alice     B     10        1          60       0
    R5      2026-03-03  Gear     Alice     C     40        4          -        -
    R6      2026-04-01  Bolt     Bob       -     300       3          480      0
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from models import Order, OrderItem, ProductionRecord
from services.analytics import rollups

MARCH = "from=2026-03-01&to=2026-03-31"


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-6)


async def rebuilt(uow) -> None:
    """Rows added straight to the tables: refill the summary tables from them, in the same transaction."""
    await uow.session.flush()
    await rollups.rebuild(uow.session)


async def build_dataset(app, make) -> dict[str, int]:
    gear = await make.product(name="Gear", price="10.00", ideal_cycle_seconds=30)
    bolt = await make.product(name="Bolt", price="2.50", ideal_cycle_seconds=12)
    housing = await make.product(name="Housing, large", price="99.99")
    alice = await make.employee(name="Alice")
    bob = await make.employee(name="Bob")
    c1 = await make.customer(name="Northwind")
    c2 = await make.customer(name="Contoso")
    c3 = await make.customer(name="=Acme")
    ids = {"gear": gear["id"], "bolt": bolt["id"], "housing": housing["id"], "alice": alice["id"],
           "bob": bob["id"], "c1": c1["id"], "c2": c2["id"], "c3": c3["id"]}

    def order(customer: str, placed: datetime, status: str, *lines: tuple[str, int, str]) -> Order:
        items = [OrderItem(product_id=ids[product], quantity=quantity, unit_price=Decimal(price),
                           line_total=Decimal(price) * quantity) for product, quantity, price in lines]
        return Order(customer_id=ids[customer], status=status, created_at=placed, updated_at=placed,
                     placed_at=placed,
                     total_price=sum((item.line_total for item in items), Decimal("0")), items=items)

    def record(day: date, product: str, employee: str, line: str | None, produced: int, defective: int,
               planned: int | None, downtime: int | None) -> ProductionRecord:
        return ProductionRecord(date_produced=day, product_id=ids[product], employee_id=ids[employee],
                                line=line, quantity_produced=produced, quantity_defective=defective,
                                planned_minutes=planned, downtime_minutes=downtime)

    async with app.ctx.db.write() as uow:
        uow.session.add_all([
            order("c1", datetime(2026, 3, 1, 9), "delivered", ("gear", 3, "10.00"), ("bolt", 4, "2.50")),
            order("c1", datetime(2026, 3, 5, 14, 30), "pending", ("bolt", 10, "2.50")),
            order("c2", datetime(2026, 3, 2, 8), "cancelled", ("gear", 100, "10.00")),
            order("c2", datetime(2026, 3, 10, 23, 59, 59), "shipped", ("housing", 1, "99.99"),
                  ("gear", 1, "10.00")),
            order("c3", datetime(2026, 4, 2, 10), "confirmed", ("gear", 2, "10.00")),
            order("c3", datetime(2026, 2, 28, 23, 59, 59), "delivered", ("bolt", 1, "2.50")),
            order("c1", datetime(2026, 3, 31, 12), "confirmed", ("bolt", 3, "2.50")),
            record(date(2026, 3, 1), "gear", "alice", "A", 100, 5, 480, 30),
            record(date(2026, 3, 1), "bolt", "bob", "A", 600, 30, 240, 40),
            record(date(2026, 3, 2), "gear", "bob", "B", 50, 0, 120, 20),
            record(date(2026, 3, 2), "housing", "alice", "B", 10, 1, 60, 0),
            record(date(2026, 3, 3), "gear", "alice", "C", 40, 4, None, None),
            record(date(2026, 4, 1), "bolt", "bob", None, 300, 3, 480, 0),
        ])
        await rebuilt(uow)
    return ids


async def report(api, path: str, role: str = "admin") -> list[dict]:
    response = await api.get(path, role=role)
    assert response.status == 200, response
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json["items"]


# -- employee performance ---------------------------------------------------------------------

async def test_employee_performance_all_time(api, make, app):
    ids = await build_dataset(app, make)
    assert await report(api, "/analytics/employee-performance") == [
        # Bob: R2 + R3 + R6 = 600 + 50 + 300 produced, 30 + 0 + 3 defective.
        {"employee_id": ids["bob"], "employee_name": "Bob", "units_produced": 950, "units_defective": 33,
         "defect_rate": approx(33 / 950), "records": 3},
        # Alice: R1 + R4 + R5 = 100 + 10 + 40 produced, 5 + 1 + 4 defective.
        {"employee_id": ids["alice"], "employee_name": "Alice", "units_produced": 150,
         "units_defective": 10, "defect_rate": approx(10 / 150), "records": 3},
    ]


async def test_employee_performance_in_a_date_range(api, make, app):
    ids = await build_dataset(app, make)
    items = await report(api, f"/analytics/employee-performance?{MARCH}")
    # R6 (April) drops out: Bob has R2 + R3 only.
    assert [(i["employee_id"], i["units_produced"], i["units_defective"], i["records"]) for i in items] == [
        (ids["bob"], 650, 30, 2), (ids["alice"], 150, 10, 3)]
    assert items[0]["defect_rate"] == approx(30 / 650)
    items = await report(api, "/analytics/employee-performance?from=2026-04-01")
    assert [(i["employee_name"], i["units_produced"]) for i in items] == [("Bob", 300)]


# -- top products -----------------------------------------------------------------------------

async def test_top_products_exclude_cancelled_orders(api, make, app):
    ids = await build_dataset(app, make)
    # Gear would lead with 106 units if the cancelled O3 counted.
    assert await report(api, "/analytics/top-products") == [
        {"product_id": ids["bolt"], "product_name": "Bolt", "units_sold": 4 + 10 + 1 + 3,
         "revenue": "45.00"},
        {"product_id": ids["gear"], "product_name": "Gear", "units_sold": 3 + 1 + 2, "revenue": "60.00"},
        {"product_id": ids["housing"], "product_name": "Housing, large", "units_sold": 1,
         "revenue": "99.99"},
    ]


async def test_top_products_date_range_is_inclusive_by_placement_day(api, make, app):
    ids = await build_dataset(app, make)
    items = await report(api, f"/analytics/top-products?{MARCH}")
    # O1, O2, O4, O7: O6 was placed a second before March, O5 in April.
    assert [(i["product_id"], i["units_sold"], i["revenue"]) for i in items] == [
        (ids["bolt"], 17, "42.50"), (ids["gear"], 4, "40.00"), (ids["housing"], 1, "99.99")]
    # O2 and O4 (at 23:59:59 on the last day); equal units rank by revenue.
    items = await report(api, "/analytics/top-products?from=2026-03-02&to=2026-03-10")
    assert [(i["product_id"], i["units_sold"], i["revenue"]) for i in items] == [
        (ids["bolt"], 10, "25.00"), (ids["housing"], 1, "99.99"), (ids["gear"], 1, "10.00")]


async def test_top_products_limit_and_pages(api, make, app):
    ids = await build_dataset(app, make)
    response = await api.get("/analytics/top-products?limit=2", role="admin")
    assert [i["product_id"] for i in response.json["items"]] == [ids["bolt"], ids["gear"]]
    assert response.json["meta"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    response = await api.get("/analytics/top-products?limit=2&page=2", role="admin")
    assert [i["product_id"] for i in response.json["items"]] == [ids["housing"]]
    response = await api.get("/analytics/top-products?limit=2&page=3", role="admin")
    assert response.json == {"items": [], "meta": {"page": 3, "per_page": 2, "total": 3, "pages": 2}}


# -- customer lifetime value ------------------------------------------------------------------

async def test_customer_lifetime_value(api, make, app):
    ids = await build_dataset(app, make)
    assert await report(api, "/analytics/customer-lifetime-value") == [
        # C2: O4 only; the cancelled O3 (1000.00) is not a sale.
        {"customer_id": ids["c2"], "customer_name": "Contoso", "orders": 1, "lifetime_value": "109.99",
         "average_order_value": "109.99", "first_order_at": "2026-03-10T23:59:59Z",
         "last_order_at": "2026-03-10T23:59:59Z"},
        # C1: 40.00 + 25.00 + 7.50 = 72.50 over 3 orders = 24.1666… → 24.17.
        {"customer_id": ids["c1"], "customer_name": "Northwind", "orders": 3, "lifetime_value": "72.50",
         "average_order_value": "24.17", "first_order_at": "2026-03-01T09:00:00Z",
         "last_order_at": "2026-03-31T12:00:00Z"},
        # C3: 20.00 + 2.50 = 22.50 over 2 orders.
        {"customer_id": ids["c3"], "customer_name": "=Acme", "orders": 2, "lifetime_value": "22.50",
         "average_order_value": "11.25", "first_order_at": "2026-02-28T23:59:59Z",
         "last_order_at": "2026-04-02T10:00:00Z"},
    ]


@pytest.mark.parametrize("threshold, expected", [
    ("72.50", ["c2", "c1"]),     # at the threshold counts
    ("72.505", ["c2"]),          # 72.50 is below 72.505
    ("72.51", ["c2"]),
    ("0", ["c2", "c1", "c3"]),
    ("109.99", ["c2"]),
    ("110", []),
])
async def test_customer_lifetime_value_threshold(api, make, app, threshold, expected):
    ids = await build_dataset(app, make)
    items = await report(api, f"/analytics/customer-lifetime-value?threshold={threshold}")
    assert [i["customer_id"] for i in items] == [ids[name] for name in expected]


async def test_customer_lifetime_value_in_a_date_range(api, make, app):
    ids = await build_dataset(app, make)
    items = await report(api, f"/analytics/customer-lifetime-value?{MARCH}")
    assert [(i["customer_id"], i["orders"], i["lifetime_value"]) for i in items] == [
        (ids["c2"], 1, "109.99"), (ids["c1"], 3, "72.50")]


# -- production efficiency (OEE) --------------------------------------------------------------

async def test_production_efficiency_by_product_is_the_default(api, make, app):
    ids = await build_dataset(app, make)
    assert await report(api, "/analytics/production-efficiency") == [
        # Gear: R5 has no planned/downtime, so availability, performance and OEE are unknown.
        {"product_id": ids["gear"], "product_name": "Gear", "produced": 190, "defective": 9, "good": 181,
         "availability": None, "performance": None, "quality": approx(181 / 190), "oee": None},
        # Bolt: R2 + R6. Running = (240 − 40) + (480 − 0) = 680 of 720 planned minutes;
        # ideal = 12 s × 900 = 10800 s of 680 × 60 s running.
        {"product_id": ids["bolt"], "product_name": "Bolt", "produced": 900, "defective": 33, "good": 867,
         "availability": approx(680 / 720), "performance": approx(10800 / 40800),
         "quality": approx(867 / 900), "oee": approx(680 / 720 * 10800 / 40800 * 867 / 900)},
        # Housing has no ideal cycle time: performance (and so OEE) unknown; 60 of 60 minutes ran.
        {"product_id": ids["housing"], "product_name": "Housing, large", "produced": 10, "defective": 1,
         "good": 9, "availability": approx(1.0), "performance": None, "quality": approx(0.9), "oee": None},
    ]
    assert await report(api, "/analytics/production-efficiency?group_by=product") == await report(
        api, "/analytics/production-efficiency")


async def test_production_efficiency_by_line(api, make, app):
    await build_dataset(app, make)
    assert await report(api, "/analytics/production-efficiency?group_by=line") == [
        # R6 has no line: its own group, first in order. 480 of 480 minutes; 12 s × 300 of 480 min.
        {"line": None, "produced": 300, "defective": 3, "good": 297, "availability": approx(1.0),
         "performance": approx(3600 / 28800), "quality": approx(297 / 300),
         "oee": approx(3600 / 28800 * 297 / 300)},
        # A: R1 + R2. Running 450 + 200 = 650 of 720; ideal 30 × 100 + 12 × 600 = 10200 s.
        {"line": "A", "produced": 700, "defective": 35, "good": 665, "availability": approx(650 / 720),
         "performance": approx(10200 / 39000), "quality": approx(665 / 700),
         "oee": approx(650 / 720 * 10200 / 39000 * 665 / 700)},
        # B: R3 + R4; Housing (R4) has no ideal cycle time.
        {"line": "B", "produced": 60, "defective": 1, "good": 59, "availability": approx(160 / 180),
         "performance": None, "quality": approx(59 / 60), "oee": None},
        {"line": "C", "produced": 40, "defective": 4, "good": 36, "availability": None,
         "performance": None, "quality": approx(36 / 40), "oee": None},
    ]


async def test_production_efficiency_by_employee(api, make, app):
    ids = await build_dataset(app, make)
    items = await report(api, "/analytics/production-efficiency?group_by=employee")
    by_id = {item["employee_id"]: item for item in items}
    assert [item["employee_id"] for item in items] == sorted(by_id)
    # Alice: R1, R4, R5 — R5 lacks its times.
    assert by_id[ids["alice"]] == {
        "employee_id": ids["alice"], "employee_name": "Alice", "produced": 150, "defective": 10,
        "good": 140, "availability": None, "performance": None, "quality": approx(140 / 150), "oee": None}
    # Bob: R2, R3, R6. Running 200 + 100 + 480 = 780 of 840; ideal 12×600 + 30×50 + 12×300 = 12300 s.
    assert by_id[ids["bob"]] == {
        "employee_id": ids["bob"], "employee_name": "Bob", "produced": 950, "defective": 33, "good": 917,
        "availability": approx(780 / 840), "performance": approx(12300 / 46800),
        "quality": approx(917 / 950), "oee": approx(780 / 840 * 12300 / 46800 * 917 / 950)}


async def test_production_efficiency_by_employee_in_a_date_range(api, make, app):
    ids = await build_dataset(app, make)
    items = await report(api, f"/analytics/production-efficiency?group_by=employee&{MARCH}")
    by_id = {item["employee_id"]: item for item in items}
    assert by_id[ids["alice"]]["availability"] is None and by_id[ids["alice"]]["produced"] == 150
    # Bob without R6: R2 + R3. Running 200 + 100 = 300 of 360; ideal 12 × 600 + 30 × 50 = 8700 s.
    assert by_id[ids["bob"]] == {
        "employee_id": ids["bob"], "employee_name": "Bob", "produced": 650, "defective": 30, "good": 620,
        "availability": approx(300 / 360), "performance": approx(8700 / 18000),
        "quality": approx(620 / 650), "oee": approx(300 / 360 * 8700 / 18000 * 620 / 650)}
    # One day: R3 (Bob, Gear) and R4 (Alice, Housing: no ideal cycle time).
    assert await report(api, "/analytics/production-efficiency?group_by=employee&date=2026-03-02") == [
        {"employee_id": ids["alice"], "employee_name": "Alice", "produced": 10, "defective": 1, "good": 9,
         "availability": approx(1.0), "performance": None, "quality": approx(0.9), "oee": None},
        {"employee_id": ids["bob"], "employee_name": "Bob", "produced": 50, "defective": 0, "good": 50,
         "availability": approx(100 / 120), "performance": approx(1500 / 6000), "quality": approx(1.0),
         "oee": approx(100 / 120 * 1500 / 6000)},
    ]


async def test_production_efficiency_by_day_and_for_one_date(api, make, app):
    await build_dataset(app, make)
    items = await report(api, "/analytics/production-efficiency?group_by=day")
    assert [(i["day"], i["produced"], i["good"]) for i in items] == [
        ("2026-03-01", 700, 665), ("2026-03-02", 60, 59), ("2026-03-03", 40, 36), ("2026-04-01", 300, 297)]
    assert items[0]["oee"] == approx(650 / 720 * 10200 / 39000 * 665 / 700)
    assert set(items[0]) == {"day", "produced", "defective", "good", "availability", "performance",
                             "quality", "oee"}
    one_day = await report(api, "/analytics/production-efficiency?group_by=day&date=2026-03-02")
    assert one_day == [{"day": "2026-03-02", "produced": 60, "defective": 1, "good": 59,
                        "availability": approx(160 / 180), "performance": None,
                        "quality": approx(59 / 60), "oee": None}]
    assert one_day == await report(
        api, "/analytics/production-efficiency?group_by=day&from=2026-03-02&to=2026-03-02")


async def test_production_efficiency_in_a_date_range(api, make, app):
    ids = await build_dataset(app, make)
    items = await report(api, f"/analytics/production-efficiency?{MARCH}")
    bolt = next(i for i in items if i["product_id"] == ids["bolt"])
    # Only R2: 200 of 240 minutes; 12 s × 600 = 7200 s of 200 × 60 s; 570 good of 600.
    assert bolt == {"product_id": ids["bolt"], "product_name": "Bolt", "produced": 600, "defective": 30,
                    "good": 570, "availability": approx(200 / 240), "performance": approx(0.6),
                    "quality": approx(0.95), "oee": approx(200 / 240 * 0.6 * 0.95)}


async def test_performance_faster_than_ideal_is_capped_at_one(api, make, app):
    product = await make.product(ideal_cycle_seconds=600)
    employee = await make.employee()
    async with app.ctx.db.write() as uow:
        # 100 units × 600 s ideal in 60 running minutes would be a performance of 16.7.
        uow.session.add(ProductionRecord(date_produced=date(2026, 5, 1), product_id=product["id"],
                                         employee_id=employee["id"], quantity_produced=100,
                                         quantity_defective=0, planned_minutes=60, downtime_minutes=0))
        await rebuilt(uow)
    [item] = await report(api, "/analytics/production-efficiency?date=2026-05-01")
    assert (item["availability"], item["performance"], item["quality"], item["oee"]) == (1, 1, 1, 1)


async def test_zero_planned_minutes_is_null_not_a_division_by_zero(api, make, app):
    product = await make.product(ideal_cycle_seconds=10)
    employee = await make.employee()
    async with app.ctx.db.write() as uow:
        uow.session.add(ProductionRecord(date_produced=date(2026, 5, 2), product_id=product["id"],
                                         employee_id=employee["id"], quantity_produced=5,
                                         quantity_defective=5, planned_minutes=0, downtime_minutes=0))
        await rebuilt(uow)
    [item] = await report(api, "/analytics/production-efficiency?date=2026-05-02")
    assert item["availability"] is None and item["performance"] is None
    assert item["quality"] == 0 and item["good"] == 0 and item["oee"] is None


# -- empty ranges, CSV, caching ---------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/analytics/employee-performance", "/analytics/top-products", "/analytics/customer-lifetime-value",
    "/analytics/production-efficiency", "/analytics/production-efficiency?group_by=line",
    "/analytics/production-efficiency?group_by=employee", "/analytics/production-efficiency?group_by=day",
])
async def test_an_empty_range_gives_empty_items(api, make, app, path):
    await build_dataset(app, make)
    joiner = "&" if "?" in path else "?"
    response = await api.get(f"{path}{joiner}from=2025-01-01&to=2025-12-31", role="admin")
    assert response.status == 200, response
    assert response.json == {"items": [], "meta": {"page": 1, "per_page": 100, "total": 0, "pages": 0}}


async def test_csv_has_a_header_line_and_the_same_rows(api, make, app):
    ids = await build_dataset(app, make)
    response = await api.get("/analytics/top-products", role="admin", headers={"Accept": "text/csv"})
    assert response.status == 200, response
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.body.decode() == (
        "product_id,product_name,units_sold,revenue\r\n"
        f"{ids['bolt']},Bolt,18,45.00\r\n"
        f"{ids['gear']},Gear,6,60.00\r\n"
        f'{ids["housing"]},"Housing, large",1,99.99\r\n')
    # A name a spreadsheet would run as a formula is defused; nulls are empty cells.
    response = await api.get("/analytics/customer-lifetime-value?threshold=20",
                             role="admin", headers={"Accept": "text/csv"})
    assert response.body.decode().splitlines()[-1] == (
        f"{ids['c3']},'=Acme,2,22.50,11.25,2026-02-28T23:59:59Z,2026-04-02T10:00:00Z")
    response = await api.get("/analytics/production-efficiency?group_by=line",
                             role="admin", headers={"Accept": "text/csv"})
    lines = response.body.decode().splitlines()
    assert lines[0] == "line,produced,defective,good,availability,performance,quality,oee"
    assert lines[-1] == "C,40,4,36,,,0.9,"
    # JSON is still the default, and the CSV of an empty range is just the header.
    assert (await api.get("/analytics/top-products", role="admin")).json["items"][0]["units_sold"] == 18
    response = await api.get("/analytics/employee-performance?from=2030-01-01", role="admin",
                             headers={"Accept": "text/csv"})
    assert response.body == (b"employee_id,employee_name,units_produced,units_defective,defect_rate,"
                             b"records\r\n")


async def test_a_new_sale_shows_up_at_once(api, make, app):
    ids = await build_dataset(app, make)
    first = await api.get("/analytics/top-products", role="admin")
    assert first.json["items"][0]["units_sold"] == 18
    placed = await api.post("/orders", {"customer_id": ids["c1"], "product_id": ids["housing"],
                                        "quantity": 50}, role="user")
    assert placed.status == 201, placed
    items = (await api.get("/analytics/top-products", role="admin")).json["items"]
    assert (items[0]["product_id"], items[0]["units_sold"], items[0]["revenue"]) == (
        ids["housing"], 51, "5099.49")


# -- bad parameters and roles -----------------------------------------------------------------

@pytest.mark.parametrize("path, parameter", [
    ("/analytics/customer-lifetime-value?threshold=lots", "threshold"),
    ("/analytics/customer-lifetime-value?threshold=-1", "threshold"),
    ("/analytics/customer-lifetime-value?threshold=NaN", "threshold"),
    ("/analytics/top-products?limit=-1", "limit"),
    ("/analytics/top-products?limit=0", "limit"),
    ("/analytics/top-products?limit=1001", "limit"),
    ("/analytics/top-products?limit=ten", "limit"),
    ("/analytics/top-products?page=0", "page"),
    ("/analytics/top-products?from=2026-13-01", "from"),
    ("/analytics/employee-performance?to=yesterday", "to"),
    ("/analytics/employee-performance?from=2026-03-10&to=2026-03-01", "from"),
    ("/analytics/production-efficiency?group_by=shift", "group_by"),
    ("/analytics/production-efficiency?date=2026-02-30", "date"),
    ("/analytics/production-efficiency?date=2026-03-01&from=2026-03-01", "date"),
    ("/analytics/top-products?colour=blue", "colour"),
    ("/analytics/top-products?threshold=5", "threshold"),
])
async def test_bad_parameters_are_400_naming_the_parameter(api, path, parameter):
    response = await api.get(path, role="admin")
    assert response.status == 400, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json
    assert body["status"] == 400 and parameter in body["errors"] and parameter in body["detail"]


@pytest.mark.parametrize("name", ["employee-performance", "top-products", "customer-lifetime-value",
                                  "production-efficiency"])
async def test_analytics_are_for_admins(api, name):
    assert (await api.get(f"/analytics/{name}", role="user")).status == 403
    assert (await api.get(f"/analytics/{name}")).status == 401
    assert (await api.get(f"/analytics/{name}", role="admin")).status == 200
    assert (await api.get(f"/analytics/{name}", role="super_admin")).status == 200
    assert (await api.post(f"/analytics/{name}", {}, role="admin")).status == 405


@pytest.mark.settings(rate_limits="login=100/60,read=1000/60,write=1000/60,analytics=2/60")
async def test_analytics_have_their_own_rate_budget(api):
    for _ in range(2):
        assert (await api.get("/analytics/top-products", role="admin")).status == 200
    refused = await api.get("/analytics/top-products", role="admin")
    assert refused.status == 429 and "Retry-After" in refused.headers
    assert (await api.get("/products", role="admin")).status == 200
