"""`POST /imports/{resource}`: CSV or JSON, validated first, one transaction, row-numbered errors."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from models import Product, StockMovement
from services.exchange.imports import SERVICES
from tests.waiting import line_status_settled

CSV_TYPE = {"Content-Type": "text/csv"}
EXPORT = {"Accept": "text/csv"}


async def post_csv(api, resource: str, text: str, query: str = "", role: str = "admin"):
    return await api.request("POST", f"/imports/{resource}{query}", body=text.encode(), role=role,
                             headers=CSV_TYPE)


async def total(api, resource: str) -> int:
    response = await api.get(f"/{resource}?include_archived=true" if resource in
                             ("products", "customers", "employees") else f"/{resource}", role="admin")
    return response.json["meta"]["total"]


def products_csv(count: int, bad_row: int | None = None) -> str:
    lines = ["sku,name,price,stock_quantity,reorder_level"]
    for n in range(1, count + 1):
        price = "12.5x" if n == bad_row else f"{n % 50 + 1}.25"
        lines.append(f"SKU-{n:05d},Product {n},{price},{n % 7},2")
    return "\n".join(lines) + "\n"


async def test_a_products_csv_imports_with_opening_stock_in_the_ledger(api):
    response = await post_csv(api, "products", products_csv(30))
    assert response.status == 200, response
    assert response.json["imported"] == 30 and response.json["rows"] == 30
    items = (await api.get("/products?per_page=100&sort_by=sku", role="user")).json["items"]
    assert [item["sku"] for item in items] == [f"SKU-{n:05d}" for n in range(1, 31)]
    assert items[6]["price"] == "8.25" and items[6]["stock_quantity"] == 0
    assert items[5]["stock_quantity"] == 6
    ledger = await api.get(f"/products/{items[5]['id']}/stock-movements", role="user")
    assert [(m["reason"], m["delta"]) for m in ledger.json["items"]] == [("opening", 6)]


async def test_one_bad_cell_in_ten_thousand_rows_imports_nothing_and_names_it(api):
    response = await post_csv(api, "products", products_csv(10_000, bad_row=7_345))
    assert response.status == 422, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json["errors"] == [{"row": 7_345, "field": "price", "message": "Not a valid number."}]
    assert await total(api, "products") == 0


async def test_a_dry_run_validates_everything_and_changes_nothing(api, make):
    await make.product(sku="TAKEN-1")
    response = await post_csv(api, "products", products_csv(50), "?dry_run=true")
    assert response.status == 200, response
    assert response.json == {"resource": "products", "rows": 50, "restore": False, "dry_run": True,
                             "imported": 0}
    assert await total(api, "products") == 1
    clash = await post_csv(api, "products", "sku,name,price\nOK-1,A,1.00\ntaken-1,B,2.00\nOK-1,C,3.00\n",
                           "?dry_run=true")
    assert clash.status == 422, clash
    assert clash.json["errors"] == [{"row": 2, "field": "sku", "message": "Already in use."},
                                    {"row": 3, "field": "sku", "message": "Same sku as row 1."}]


async def test_errors_list_the_first_hundred_in_row_order(api):
    lines = ["name,email,phone"] + [f"C{n},not-an-email-{n},+49301234{n:03d}" for n in range(1, 151)]
    response = await post_csv(api, "customers", "\n".join(lines))
    assert response.status == 422, response
    errors = response.json["errors"]
    assert len(errors) == 100 and [e["row"] for e in errors] == list(range(1, 101))
    assert {e["field"] for e in errors} == {"email"}
    assert "150 problem(s)" in response.json["detail"]


async def test_unknown_and_read_only_columns_are_refused_by_name(api):
    response = await post_csv(api, "employees", "name,position,email,phone,salary\n")
    assert response.status == 422
    assert response.json["errors"][0]["row"] == 0 and response.json["errors"][0]["field"] == "salary"
    text = "id,name,position,email,phone\n1,A,B,a@b.example,+4930123456\n"
    response = await post_csv(api, "employees", text)
    assert response.status == 422
    error = response.json["errors"][0]
    assert error["field"] == "id" and "restore=true" in error["message"]
    assert await total(api, "employees") == 0


async def test_json_orders_go_through_the_order_rules(api, make):
    customer, archived = await make.customer(), await make.customer()
    gear, bolt = await make.product(price="10.00"), await make.product(price="2.50")
    await api.patch(f"/customers/{archived['id']}", {"active": False}, role="admin")
    rows = [{"customer_id": customer["id"], "items": [{"product_id": gear["id"], "quantity": 2},
                                                      {"product_id": bolt["id"], "quantity": 4}]},
            {"customer_id": customer["id"], "product_id": bolt["id"], "quantity": 1}]
    bad = [*rows, {"customer_id": archived["id"], "product_id": gear["id"], "quantity": 1},
           {"customer_id": customer["id"], "items": [{"product_id": 999999, "quantity": 1}]},
           {"customer_id": customer["id"], "items": [{"product_id": gear["id"], "quantity": 1,
                                                      "unit_price": "0.01"}]}]
    response = await api.post("/imports/orders", bad, role="admin")
    assert response.status == 422, response
    assert [(e["row"], e["field"]) for e in response.json["errors"]] == [
        (3, "customer_id"), (4, "items[0].product_id"), (5, "items[0].unit_price")]
    assert "archived" in response.json["errors"][0]["message"]
    assert await total(api, "orders") == 0

    response = await api.post("/imports/orders", rows, role="admin")
    assert response.status == 200, response
    orders = (await api.get("/orders", role="user")).json["items"]
    assert [(o["status"], o["total_price"]) for o in orders] == [("pending", "30.00"), ("pending", "2.50")]


async def test_imported_history_keeps_its_placed_at_for_filters_and_reports(api, make):
    customer, gear = await make.customer(), await make.product(price="10.00")
    rows = [{"customer_id": customer["id"], "product_id": gear["id"], "quantity": 3,
             "placed_at": "2025-03-04T10:00:00Z"},
            {"customer_id": customer["id"], "product_id": gear["id"], "quantity": 5}]
    response = await api.post("/imports/orders", rows, role="admin")
    assert response.status == 200, response
    that_day = (await api.get("/orders?from=2025-03-04&to=2025-03-04", role="user")).json["items"]
    assert [(o["placed_at"], o["total_price"]) for o in that_day] == [("2025-03-04T10:00:00Z", "30.00")]
    report = await api.get("/analytics/top-products?from=2025-03-01&to=2025-03-31", role="admin")
    assert [(item["product_id"], item["units_sold"]) for item in report.json["items"]] == [(gear["id"], 3)]
    future = [{**rows[0], "placed_at": "2999-01-01T00:00:00Z"}]
    refused = await api.post("/imports/orders", future, role="admin")
    assert refused.status == 422 and refused.json["errors"][0]["field"] == "placed_at", refused


async def test_a_csv_of_one_line_orders(api, make):
    customer, gear = await make.customer(), await make.product(price="10.00")
    text = (f"customer_id,product_id,quantity\n{customer['id']},{gear['id']},3\n"
            f"{customer['id']},{gear['id']},x\n")
    response = await post_csv(api, "orders", text)
    assert response.status == 422
    assert response.json["errors"] == [{"row": 2, "field": "quantity", "message": "Not a valid integer."}]
    response = await post_csv(api, "orders", text.rsplit("\n", 2)[0] + "\n")
    assert response.status == 200, response
    assert [o["total_price"] for o in (await api.get("/orders", role="user")).json["items"]] == ["30.00"]


async def test_imports_are_for_admins_and_need_a_known_type_and_size(api, base_url):
    assert (await post_csv(api, "products", products_csv(1), role="user")).status == 403
    assert (await api.request("POST", "/imports/products", body=b"x")).status == 401
    wrong = await api.request("POST", "/imports/products", body=b"sku", role="admin",
                              headers={"Content-Type": "text/plain"})
    assert wrong.status == 415
    assert (await post_csv(api, "products", "\n")).status == 422
    assert (await api.post("/imports/products", {"sku": "A"}, role="admin")).status == 422
    assert (await api.post("/imports/products", [], role="admin")).status == 422
    assert (await api.get("/imports/products", role="admin")).status == 405
    assert (await api.post("/imports/users", [], role="super_admin")).status == 404


async def test_the_body_may_be_up_to_ten_mib_on_imports_only(api):
    big = products_csv(40_000)
    assert len(big) > 1024 * 1024  # over the 1 MiB every other route allows
    response = await post_csv(api, "products", big, "?dry_run=true")
    assert response.status == 200, response
    assert response.json["rows"] == 40_000
    elsewhere = await api.request("POST", "/products", body=big.encode(), role="admin",
                                  headers={"Content-Type": "application/json"})
    assert elsewhere.status == 413
    too_big = "sku,name,price\n" + "X" * (10 * 1024 * 1024)
    response = await post_csv(api, "products", too_big)
    assert response.status == 413, response
    assert str(10 * 1024 * 1024) in response.json["detail"]


async def test_one_summary_event_per_import(api, make, feeds):
    product, employee = await make.product(), await make.employee()
    feed = await feeds(await api.token("admin"))
    await feed.subscribe()
    rows = [{"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 5,
             "quantity_defective": 1, "date_produced": "2026-11-20"} for _ in range(20)]
    response = await api.post("/imports/production", rows, role="admin")
    assert response.status == 200, response
    assert (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"] == 80
    marker = await api.create("production", {"product_id": product["id"], "employee_id": employee["id"],
                                             "quantity_produced": 1, "date_produced": "2026-11-21"})
    events = []
    while not events or events[-1]["event"] != "production.recorded":
        events += await feed.events(1)
    assert [e["event"] for e in events] == ["production.imported", "stock.changed", "production.recorded"]
    assert events[0]["topic"] == "production"
    assert events[0]["data"] == {"resource": "production", "rows": 20, "restore": False, "by": "test_admin"}
    assert events[-1]["data"]["id"] == marker["id"]


@pytest.mark.plant_clock(at="2026-11-27T20:00:00Z", zone="Europe/Berlin")
async def test_imported_records_are_placed_by_the_plant_clock_as_posted_ones(api, make):
    """An import places each record in time as `POST /production` does: the app's clock and the
    plant's zone (Berlin, CET), the line's shifts, a night shift belonging to the day it started."""
    await make.shift("night", "22:00", "06:00")
    await make.line("L1")
    product, employee = await make.product(), await make.employee()
    base = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 3}
    bodies = [{**base, "line": "L1", "produced_at": "2026-11-26T23:30:00Z"},  # 00:30 local: the 26th's night
              {**base, "produced_at": "2026-11-26T23:30:00Z"},  # every shift without a line
              {**base, "line": "L1", "produced_at": "2026-11-27T12:00:00Z"},  # between shifts: the plant day
              {**base, "date_produced": "2026-11-26", "shift": "night"},  # placed at the instance's end
              {**base, "date_produced": "2026-11-27"},  # plant-local noon
              {**base, "line": "L1"}]  # now: 21:00 local, no shift yet
    imported = await api.post("/imports/production", bodies, role="admin")
    assert imported.status == 200, imported
    posted = [await api.create("production", body) for body in bodies]
    page = await api.get(f"/production?per_page=50&product_id={product['id']}", role="user")
    assert page.status == 200, page
    records = page.json["items"][:len(bodies)]
    placed = ("line", "shift", "date_produced", "produced_at")
    assert [{k: r[k] for k in placed} for r in records] == [{k: r[k] for k in placed} for r in posted]
    assert [(r["shift"], r["date_produced"]) for r in records] == [
        ("night", "2026-11-26"), ("night", "2026-11-26"), (None, "2026-11-27"), ("night", "2026-11-26"),
        (None, "2026-11-27"), (None, "2026-11-27")]
    refused = await api.post("/imports/production", [*bodies, {**base, "date_produced": "2026-11-27",
                                                                "shift": "night"}], role="admin")
    assert refused.status == 422  # tonight's night shift has not started at 21:00 local
    assert refused.json["errors"] == [{"row": 7, "field": "shift", "message": (
        "Shift night of 2026-11-27 has not started (it starts at 2026-11-27T21:00:00Z).")}]


async def ledger_matches_stock(app) -> None:
    async with app.ctx.db.session() as session:
        stock = dict((await session.execute(select(Product.id, Product.stock_quantity))).all())
        sums = dict((await session.execute(select(StockMovement.product_id, func.sum(StockMovement.delta))
                                           .group_by(StockMovement.product_id))).all())
    assert {k: v for k, v in stock.items() if v} == {k: int(v) for k, v in sums.items() if v}


async def test_concurrent_import_and_api_writes_keep_the_ledger_equal_to_stock(api, make, app):
    first, second = await make.product(stock_quantity=100), await make.product(stock_quantity=100)
    employee = await make.employee()
    rows = [{"product_id": (first, second)[n % 2]["id"], "employee_id": employee["id"],
             "quantity_produced": 3, "quantity_defective": n % 2, "date_produced": "2026-11-20"}
            for n in range(200)]

    async def api_writes() -> None:
        for n in range(20):
            target = (second, first)[n % 2]["id"]
            if n % 3:
                response = await api.post(f"/products/{target}/stock-adjustments",
                                          {"delta": -1, "reason": "count"}, role="admin")
            else:
                response = await api.post("/production", {"product_id": target, "employee_id": employee["id"],
                                                           "quantity_produced": 2,
                                                           "date_produced": "2026-11-21"}, role="user")
            assert response.status == 201, response

    imported, _ = await asyncio.gather(api.post("/imports/production", rows, role="admin"), api_writes())
    assert imported.status == 200, imported
    await ledger_matches_stock(app)
    pair = (first, second)
    stock = [(await api.get(f"/products/{p['id']}", role="user")).json["stock_quantity"] for p in pair]
    # Imported good units: 100 × 3 on the first, 100 × 2 on the second; the API's 20 writes on top.
    taken = [sum(1 for n in range(20) if n % 3 and (second, first)[n % 2] is p) for p in pair]
    made = [sum(2 for n in range(20) if not n % 3 and (second, first)[n % 2] is p) for p in pair]
    assert stock == [100 + 300 - taken[0] + made[0], 100 + 200 - taken[1] + made[1]]


RESOURCES = ("products", "customers", "employees", "production", "orders")  # restored in this order


async def export_all(api) -> dict[str, bytes]:
    out = {}
    for resource in RESOURCES:
        archived = "?include_archived=true" if resource in ("products", "customers", "employees") else ""
        response = await api.get(f"/{resource}{archived}", role="admin", headers=EXPORT)
        assert response.status == 200, response
        out[resource] = response.body
    return out


async def test_round_trip_export_restore_export_is_byte_identical(api, make, app, settings):
    gear = await make.product(name="=Gear, \"large\"", description="line one\nline two", price="19.99",
                              stock_quantity=40, ideal_cycle_seconds=1.5)
    bolt = await make.product(name="'Bolt", price="0.10", stock_quantity=500)
    spare = await make.product(name="Spare", price="3.00")
    customers = [await make.customer(address="+1 Main St"), await make.customer()]
    employees = [await make.employee(name="@lice"), await make.employee()]
    await make.line("A")
    for n in range(4):
        await api.create("production", {"product_id": (gear, bolt)[n % 2]["id"], "line": "A",
                                        "employee_id": employees[n % 2]["id"], "quantity_produced": 10 + n,
                                        "quantity_defective": n, "date_produced": f"2026-11-1{n}",
                                        "planned_minutes": 60, "downtime_minutes": n})
    orders = []
    for n in range(5):
        orders.append(await api.create("orders", {"customer_id": customers[n % 2]["id"], "items": [
            {"product_id": gear["id"], "quantity": 1 + n}, {"product_id": bolt["id"], "quantity": 10}]},
            role="user"))
    # Back-dated by an admin: restored with its own placed_at, not the time of the restore.
    orders.append(await api.create("orders", {"customer_id": customers[1]["id"], "product_id": bolt["id"],
                                              "quantity": 3, "placed_at": "2025-03-04T05:06:07Z"}))
    for status in ("confirmed", "in_production", "shipped"):
        await api.patch(f"/orders/{orders[0]['id']}", {"status": status}, role="admin")
    await api.patch(f"/orders/{orders[1]['id']}", {"status": "cancelled"}, role="admin")
    await api.patch(f"/products/{gear['id']}", {"price": "21.00"}, role="admin")  # after the orders
    await api.patch(f"/products/{spare['id']}", {"active": False}, role="admin")
    await api.patch(f"/employees/{employees[1]['id']}", {"active": False}, role="admin")
    await api.patch(f"/customers/{customers[1]['id']}", {"name": "Renamed"}, role="admin")
    record = (await api.get("/production?per_page=1", role="admin")).json["items"][0]
    await asyncio.sleep(1.1)  # a later second: updated_at differs from created_at in the export
    await api.patch(f"/production/{record['id']}", {"quantity_defective": 0}, role="admin")

    first = await export_all(api)
    lines = {resource: first[resource].count(b"\r\n") - 1 for resource in RESOURCES}
    assert set(RESOURCES) == set(SERVICES)  # every importable resource
    assert lines == {"products": 3, "customers": 2, "employees": 2, "production": 4, "orders": 11}
    assert b"2025-03-04T05:06:07Z" in first["orders"]
    await empty_business_tables(settings.database_url)
    for resource in RESOURCES:
        assert await total(api, resource) == 0
        response = await api.request("POST", f"/imports/{resource}?restore=true", body=first[resource],
                                     role="admin", headers=CSV_TYPE)
        assert response.status == 200, (resource, response)
    second = await export_all(api)
    for resource in RESOURCES:
        assert second[resource] == first[resource], resource
    await ledger_matches_stock(app)
    # The restored rows work as the API's own: a new order on a restored product and customer.
    order = await api.create("orders", {"customer_id": customers[0]["id"], "product_id": gear["id"],
                                        "quantity": 1}, role="user")
    assert order["total_price"] == "21.00" and order["id"] > max(o["id"] for o in orders)


async def empty_business_tables(url: str) -> None:
    """Everything but the users and their sessions (the test's tokens stay valid)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from models import ROLLUP_TABLES

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for table in ("stock_movements", "order_items", "orders", "production_records", "products",
                          "customers", "employees"):
                await conn.execute(text(f"DELETE FROM {table}"))
            # Summary tables and counts are derived from the rows: gone with them.
            for table in ROLLUP_TABLES:
                await conn.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


async def test_restore_refuses_ids_in_use_and_totals_that_do_not_add_up(api, make):
    customer, gear = await make.customer(), await make.product(price="10.00")
    text = ("id,customer_id,status,total_price,item_id,product_id,quantity,unit_price,line_total\n"
            f"7,{customer['id']},shipped,25.00,70,{gear['id']},2,10.00,20.00\n"
            f"7,{customer['id']},shipped,25.00,71,{gear['id']},1,5.00,5.00\n"
            f"8,{customer['id']},lost,1.00,72,{gear['id']},1,1.00,2.00\n")
    response = await post_csv(api, "orders", text, "?restore=true")
    assert response.status == 422, response
    assert [(e["row"], e["field"]) for e in response.json["errors"]] == [
        (3, "status"), (3, "items[0].line_total")]
    fixed = text.replace(",lost,1.00,72", ",delivered,1.00,72").replace("1,1.00,2.00", "1,1.00,1.00")
    response = await post_csv(api, "orders", fixed, "?restore=true")
    assert response.status == 200, response
    order = (await api.get("/orders/7", role="user")).json
    assert order["status"] == "shipped" and order["total_price"] == "25.00"
    assert [(i["id"], i["unit_price"]) for i in order["items"]] == [(70, "10.00"), (71, "5.00")]
    assert (await api.get(f"/products/{gear['id']}", role="user")).json["stock_quantity"] == 0
    again = await post_csv(api, "orders", fixed, "?restore=true")
    assert again.status == 422
    assert {(e["row"], e["field"]) for e in again.json["errors"]} >= {(1, "id"), (3, "id")}


async def test_a_large_import_leaves_the_server_answering_meanwhile(api, make):
    """Rows are parsed, validated and written a chunk at a time, the event loop free between chunks:
    health checks are answered while a multi-MiB import runs (a dry run: parsing and validating
    only; then the import), not after it."""
    customer, product = await make.customer(), await make.product(price="1.00")
    count = 30_000  # 60 chunks to read and validate, 30 to write
    body = ("customer_id,product_id,quantity\n"
            + f"{customer['id']},{product['id']},1\n" * count).encode()

    async def answered_meanwhile(query: str) -> list[str]:
        done: list[str] = []

        async def run_import() -> None:
            response = await api.request("POST", f"/imports/orders{query}", body=body, role="admin",
                                         headers=CSV_TYPE)
            assert response.status == 200, response
            done.append("import")

        async def health_checks() -> None:
            while "import" not in done:
                response = await api.get("/healthz")
                assert response.status == 200, response
                done.append("healthz")
                await asyncio.sleep(0.02)

        await asyncio.gather(run_import(), health_checks())
        return done

    # Ordering, not time: more than one answer came back before the import's own.
    done = await answered_meanwhile("?dry_run=true")
    assert done.index("import") >= 2, done[:5]
    done = await answered_meanwhile("")
    assert done.index("import") >= 2, done[:5]
    assert (await api.get("/orders?per_page=1", role="user")).json["meta"]["total"] == count


@pytest.mark.plant_clock(at="2026-11-27T08:00:00Z")
@pytest.mark.parametrize("query", ["", "?restore=true"], ids=["chunked", "restore"])
async def test_an_import_moves_the_status_of_the_lines_it_wrote(app, api, make, feeds, query):
    """The rows' own events give way to one summary event; the lines they were on still get their
    line.status, showing the imported counts."""
    await make.shift("early", "06:00", "14:00")
    for code in ("L1", "L2"):
        await make.line(code)
    product, employee = await make.product(ideal_cycle_seconds=20), await make.employee()
    await line_status_settled(app)  # the lines' own statuses are out: what follows is the import's
    feed = await feeds(await api.token("user"))
    await feed.subscribe(["lines"])
    rows = [{"product_id": product["id"], "employee_id": employee["id"], "line": "L1", "quantity_produced": 5,
             "produced_at": "2026-11-27T07:00:00Z",
             **({"id": 100 + n, "date_produced": "2026-11-27", "shift": "early"} if query else {})}
            for n in range(4)]
    imported = await api.post(f"/imports/production{query}", rows, role="admin")
    assert imported.status == 200, imported
    (event,) = await feed.events(1)
    assert (event["event"], event["data"]["line"], event["data"]["plan"]["good"]) == ("line.status", "L1", 20)
    assert event["data"] == next(item for item in (await api.get("/lines/status", role="user")).json["items"]
                                 if item["line"] == "L1")


async def test_a_restored_record_without_its_date_is_a_422_naming_it(api, make):
    """A restore writes records as exported, not placed: one without date_produced is refused
    (it was a 409 with an unhandled NOT NULL error), and nothing is written."""
    product, employee = await make.product(), await make.employee()
    row = {"id": 7, "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 5,
           "produced_at": "2026-11-20T07:00:00Z"}
    refused = await api.post("/imports/production?restore=true", [row], role="admin")
    assert refused.status == 422, refused
    assert refused.json["errors"] == [{"row": 1, "field": "date_produced",
                                       "message": "A restored record needs its date_produced (as exported)."}]
    assert (await api.get("/production", role="user")).json["items"] == []


@pytest.mark.plant_clock(at="2026-11-27T12:00:00Z")
async def test_an_import_takes_a_line_and_shift_in_any_case_as_the_api_does(api, make):
    """`l1` and `EARLY` name line L1 and shift early through POST /production; an import takes them
    too, and stores them as the line and shift spell them."""
    await make.shift("early", "06:00", "14:00")
    await make.line("L1")
    product, employee = await make.product(), await make.employee()
    base = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 2, "line": "l1"}
    body = {**base, "shift": "EARLY", "date_produced": "2026-11-27"}
    posted = await api.create("production", body)
    imported = await api.post("/imports/production", [body, {**base, "produced_at": "2026-11-27T07:00:00Z"}],
                              role="admin")
    assert imported.status == 200, imported
    items = (await api.get(f"/production?per_page=50&product_id={product['id']}", role="user")).json["items"]
    assert (posted["line"], posted["shift"]) == ("L1", "early")
    assert [(r["line"], r["shift"]) for r in items] == [("L1", "early")] * 3
