"""Archiving: `active` on employees, products and customers — out of lists and new work, kept in history."""
from __future__ import annotations

import pytest

RESOURCES = ("employees", "products", "customers")


async def make_row(make, resource: str) -> dict:
    makers = {"employees": make.employee, "products": make.product, "customers": make.customer}
    return await makers[resource]()


async def archive(api, resource: str, ident: int, active: bool = False) -> dict:
    response = await api.patch(f"/{resource}/{ident}", {"active": active}, role="admin")
    assert response.status == 200, response
    assert response.json["active"] is active
    return response.json


def ids(response) -> list[int]:
    assert response.status == 200, response
    return [item["id"] for item in response.json["items"]]


@pytest.mark.parametrize("resource", RESOURCES)
async def test_new_rows_are_active_and_archived_rows_leave_the_list(api, make, resource):
    kept, archived = await make_row(make, resource), await make_row(make, resource)
    assert kept["active"] is True
    await archive(api, resource, archived["id"])

    assert ids(await api.get(f"/{resource}", role="admin")) == [kept["id"]]
    assert (await api.get(f"/{resource}", role="admin")).json["meta"]["total"] == 1
    everything = await api.get(f"/{resource}?include_archived=true", role="admin")
    assert ids(everything) == [kept["id"], archived["id"]]
    item = await api.get(f"/{resource}/{archived['id']}", role="admin")
    assert item.status == 200 and item.json["active"] is False

    await archive(api, resource, archived["id"], active=True)
    assert ids(await api.get(f"/{resource}", role="admin")) == [kept["id"], archived["id"]]


@pytest.mark.parametrize("resource", RESOURCES)
async def test_a_full_update_without_active_keeps_the_row_archived(api, make, resource):
    row = await make_row(make, resource)
    await archive(api, resource, row["id"])
    body = {k: v for k, v in row.items()
            if k not in ("id", "created_at", "updated_at", "active", "stock_quantity")}
    response = await api.put(f"/{resource}/{row['id']}", body, role="admin")
    assert response.status == 200, response
    assert response.json["active"] is False


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("value", ["no", 0, None, "false"])
async def test_active_must_be_a_json_boolean(api, make, resource, value):
    row = await make_row(make, resource)
    response = await api.patch(f"/{resource}/{row['id']}", {"active": value}, role="admin")
    assert response.status == 422, response
    assert "active" in response.json["errors"]


async def test_include_archived_must_be_a_boolean(api):
    response = await api.get("/products?include_archived=maybe", role="admin")
    assert response.status == 400, response
    assert "include_archived" in response.json["errors"]


async def test_an_archived_customer_cannot_place_new_orders(api, make):
    customer, product = await make.customer(), await make.product()
    await archive(api, "customers", customer["id"])
    items = [{"product_id": product["id"], "quantity": 1}]
    response = await api.post("/orders", {"customer_id": customer["id"], "items": items}, role="user")
    assert response.status == 422, response
    assert "archived" in response.json["errors"]["customer_id"][0]
    assert (await api.get("/orders?include_archived=true", role="user")).status == 400  # not an order filter
    assert (await api.get("/orders", role="user")).json["meta"]["total"] == 0


async def test_an_archived_product_cannot_be_ordered_in_either_form(api, make):
    customer, active, archived = await make.customer(), await make.product(), await make.product()
    await archive(api, "products", archived["id"])
    items = [{"product_id": active["id"], "quantity": 1}, {"product_id": archived["id"], "quantity": 2}]
    response = await api.post("/orders", {"customer_id": customer["id"], "items": items}, role="user")
    assert response.status == 422, response
    assert "archived" in response.json["errors"]["items"]["1"]["product_id"][0]
    assert "0" not in response.json["errors"]["items"]

    one_line = await api.post("/orders", {"customer_id": customer["id"], "product_id": archived["id"],
                                          "quantity": 1}, role="user")
    assert one_line.status == 422, one_line
    assert "archived" in one_line.json["errors"]["product_id"][0]
    assert (await api.get("/orders", role="user")).json["meta"]["total"] == 0


async def test_archived_products_and_employees_cannot_record_new_production(api, make):
    product, employee = await make.product(), await make.employee()
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 5,
            "date_produced": "2026-11-20"}
    await archive(api, "products", product["id"])
    response = await api.post("/production", body, role="user")
    assert response.status == 422, response
    assert "archived" in response.json["errors"]["product_id"][0]

    await archive(api, "products", product["id"], active=True)
    await archive(api, "employees", employee["id"])
    response = await api.post("/production", body, role="user")
    assert response.status == 422, response
    assert "archived" in response.json["errors"]["employee_id"][0]
    assert "product_id" not in response.json["errors"]
    stock = await api.get(f"/products/{product['id']}", role="user")
    assert stock.json["stock_quantity"] == 0


async def test_history_stays_editable_and_counted_after_archiving(api, make):
    customer, employee = await make.customer(), await make.employee()
    product = await make.product(price="4.00")
    record = await api.create("production", {"product_id": product["id"], "employee_id": employee["id"],
                                             "quantity_produced": 10, "date_produced": "2026-11-20"})
    order = await api.create("orders", {"customer_id": customer["id"], "product_id": product["id"],
                                        "quantity": 3}, role="user")
    for resource, row in (("customers", customer), ("products", product), ("employees", employee)):
        await archive(api, resource, row["id"])

    # Existing records keep working: the order moves along its lifecycle, the record can be corrected.
    for status in ("confirmed", "in_production", "shipped"):
        response = await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")
        assert response.status == 200, response
    response = await api.patch(f"/production/{record['id']}", {"quantity_defective": 1}, role="admin")
    assert response.status == 200, response
    assert (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"] == 6

    assert ids(await api.get("/orders", role="user")) == [order["id"]]
    assert ids(await api.get("/production", role="user")) == [record["id"]]
    top = await api.get("/analytics/top-products", role="admin")
    assert [(row["product_id"], row["units_sold"]) for row in top.json["items"]] == [(product["id"], 3)]
    performance = await api.get("/analytics/employee-performance", role="admin")
    assert [(row["employee_id"], row["units_produced"]) for row in performance.json["items"]] == \
        [(employee["id"], 10)]
    value = await api.get("/analytics/customer-lifetime-value", role="admin")
    assert [row["customer_id"] for row in value.json["items"]] == [customer["id"]]


@pytest.mark.parametrize("resource", RESOURCES)
async def test_deleting_a_referenced_row_says_to_archive_it(api, make, resource):
    customer, product, employee = await make.customer(), await make.product(), await make.employee()
    await api.create("production", {"product_id": product["id"], "employee_id": employee["id"],
                                    "quantity_produced": 1, "date_produced": "2026-11-20"})
    await api.create("orders", {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1},
                     role="user")
    ident = {"customers": customer, "products": product, "employees": employee}[resource]["id"]
    response = await api.delete(f"/{resource}/{ident}", role="admin")
    assert response.status == 409, response
    assert 'PATCH {"active": false}' in response.json["detail"]
    assert (await api.get(f"/{resource}/{ident}", role="admin")).status == 200


@pytest.mark.parametrize("resource", RESOURCES)
async def test_an_unreferenced_archived_row_can_still_be_deleted(api, make, resource):
    row = await make_row(make, resource)
    await archive(api, resource, row["id"])
    assert (await api.delete(f"/{resource}/{row['id']}", role="admin")).status == 204
    assert (await api.get(f"/{resource}/{row['id']}", role="admin")).status == 404
