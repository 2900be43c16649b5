"""`Accept: text/csv` on every list: all matching rows, filters and sort applied, streamed, formula-safe."""
from __future__ import annotations

import csv
import io

import pytest

import services.exchange.exports
from schemas.customer import CustomerSchema
from schemas.employee import EmployeeSchema
from schemas.product import ProductSchema
from schemas.production import ProductionRecordSchema

CSV = {"Accept": "text/csv"}


def parse(response) -> list[dict[str, str]]:
    assert response.status == 200, response
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.body.decode())))


def header(response) -> list[str]:
    return next(csv.reader(io.StringIO(response.body.decode())))


async def json_items(api, path: str, role: str = "admin") -> list[dict]:
    """Every item of a JSON list, page by page."""
    items, page = [], 1
    while True:
        sep = "&" if "?" in path else "?"
        response = await api.get(f"{path}{sep}page={page}&per_page=100", role=role)
        assert response.status == 200, response
        items += response.json["items"]
        if page >= response.json["meta"]["pages"]:
            return items
        page += 1


@pytest.mark.parametrize("resource, schema", [("products", ProductSchema), ("customers", CustomerSchema),
                                              ("employees", EmployeeSchema),
                                              ("production", ProductionRecordSchema)])
async def test_the_columns_are_the_json_fields(api, make, resource, schema):
    product, employee = await make.product(), await make.employee()
    await make.customer()
    await api.create("production", {"product_id": product["id"], "employee_id": employee["id"],
                                    "quantity_produced": 3, "date_produced": "2026-11-20"})
    response = await api.get(f"/{resource}", role="admin", headers=CSV)
    assert header(response) == list(schema().dump_fields)
    assert len(parse(response)) == 1
    assert response.headers["Content-Disposition"] == f'attachment; filename="{resource}.csv"'


async def test_every_matching_row_in_the_lists_order_without_paging(api, make):
    for n in range(25):
        await make.product(name=f"Bolt {n % 7}", price=f"{1 + n % 4}.50", reorder_level=n % 3)
    await make.product(name="Nut", price="3.00")
    path = "/products?q=Bolt&sort_by=price&sort_order=desc"
    rows = parse(await api.get(path, role="user", headers=CSV))
    expected = await json_items(api, path, role="user")
    assert len(rows) == 25
    assert [int(row["id"]) for row in rows] == [item["id"] for item in expected]
    assert [row["price"] for row in rows] == [item["price"] for item in expected]
    assert {row["active"] for row in rows} == {"true"}


@pytest.mark.parametrize("sort", ["price", "name", "id", "stock_quantity", "created_at"])
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_keyset_batches_keep_the_order_across_ties(api, make, monkeypatch, sort, order):
    monkeypatch.setattr(services.exchange.exports, "BATCH_ROWS", 3)  # many batch edges in a small list
    for n in range(11):
        await make.product(name=f"P{n % 3}", price=f"{1 + n % 2}.00")
    path = f"/products?sort_by={sort}&sort_order={order}"
    rows = parse(await api.get(path, role="user", headers=CSV))
    assert [int(row["id"]) for row in rows] == [item["id"] for item in await json_items(api, path, "user")]


async def test_formula_cells_are_escaped_and_nulls_are_empty(api, make):
    await make.product(name="=HYPERLINK(\"http://evil\")", description=None)
    await make.product(name="@SUM(A1)", description="-2+3")
    await make.product(name="'quoted", description="plain")
    rows = parse(await api.get("/products", role="user", headers=CSV))
    assert [row["name"] for row in rows] == ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)", "''quoted"]
    assert [row["description"] for row in rows] == ["", "'-2+3", "plain"]
    await make.customer(phone="+4930123456")
    phones = [row["phone"] for row in parse(await api.get("/customers", role="user", headers=CSV))]
    assert phones == ["'+4930123456"]


async def test_orders_are_one_row_per_line_with_filters(api, make):
    customer, other = await make.customer(), await make.customer()
    gear, bolt = await make.product(price="10.00"), await make.product(price="2.50")
    first = await api.create("orders", {"customer_id": customer["id"], "items": [
        {"product_id": gear["id"], "quantity": 2}, {"product_id": bolt["id"], "quantity": 4}]}, role="user")
    await api.create("orders", {"customer_id": other["id"], "product_id": bolt["id"], "quantity": 1},
                     role="user")
    response = await api.get(f"/orders?customer_id={customer['id']}", role="user", headers=CSV)
    assert header(response) == ["id", "created_at", "updated_at", "customer_id", "status", "total_price",
                                "placed_at", "item_id", "product_id", "quantity", "unit_price", "line_total"]
    rows = parse(response)
    assert [(row["id"], row["product_id"], row["quantity"], row["unit_price"], row["line_total"])
            for row in rows] == [(str(first["id"]), str(gear["id"]), "2", "10.00", "20.00"),
                                 (str(first["id"]), str(bolt["id"]), "4", "2.50", "10.00")]
    assert {row["total_price"] for row in rows} == {"30.00"}
    assert [row["item_id"] for row in rows] == [str(item["id"]) for item in first["items"]]


async def test_archived_rows_are_exported_only_when_asked(api, make):
    kept, archived = await make.employee(), await make.employee()
    assert (await api.patch(f"/employees/{archived['id']}", {"active": False}, role="admin")).status == 200
    assert [row["id"] for row in parse(await api.get("/employees", role="admin", headers=CSV))] == \
        [str(kept["id"])]
    rows = parse(await api.get("/employees?include_archived=true", role="admin", headers=CSV))
    assert [(row["id"], row["active"]) for row in rows] == [(str(kept["id"]), "true"),
                                                          (str(archived["id"]), "false")]


async def test_stock_movements_export(api, make):
    product = await make.product(stock_quantity=5)
    await api.post(f"/products/{product['id']}/stock-adjustments", {"delta": -2, "reason": "=count"},
                   role="admin")
    rows = parse(await api.get(f"/products/{product['id']}/stock-movements", role="user", headers=CSV))
    assert [(row["delta"], row["balance_after"], row["reason"], row["note"]) for row in rows] == \
        [("5", "5", "opening", "Opening balance"), ("-2", "3", "adjustment", "'=count")]
    missing = await api.get("/products/999999/stock-movements", role="user", headers=CSV)
    assert missing.status == 404


async def test_export_goes_through_auth_roles_and_query_checks(api, make):
    await make.employee()
    assert (await api.get("/employees", headers=CSV)).status == 401
    assert (await api.get("/employees", role="user", headers=CSV)).status == 403
    bad = await api.get("/products?sort_by=password", role="user", headers=CSV)
    assert bad.status == 400 and bad.headers["Content-Type"].startswith("application/problem+json")
    bad = await api.get("/products?per_page=0", role="user", headers=CSV)
    assert bad.status == 400


async def test_json_and_csv_do_not_share_cache_entries(api, make):
    await make.product()
    first = await api.get("/products", role="user")
    assert first.headers["Content-Type"].startswith("application/json")
    exported = await api.get("/products", role="user", headers=CSV)
    assert exported.headers["Content-Type"].startswith("text/csv")
    again = await api.get("/products", role="user")
    assert again.headers["X-Cache"] == "hit" and again.body == first.body
    # Written after the export: a second export sees it (exports are never served from the cache).
    await make.product()
    assert len(parse(await api.get("/products", role="user", headers=CSV))) == 2


async def test_json_stays_the_default(api, make):
    await make.product()
    for accept in ("", "*/*", "application/json, text/csv", "text/html"):
        response = await api.get("/products", role="user", headers={"Accept": accept} if accept else {})
        assert response.headers["Content-Type"].startswith("application/json"), accept
