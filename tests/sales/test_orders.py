"""/orders: placement with server-side prices, the status lifecycle, shipping, lists and safety."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import tornado.httpclient
from sqlalchemy import func, select

from models import Order, OrderItem, StockMovement

LIFECYCLE = ["confirmed", "in_production", "shipped", "delivered"]


async def place(api, body, role="user"):
    response = await api.post("/orders", body, role=role)
    assert response.status == 201, response
    return response.json


async def advance(api, order_id, *statuses):
    for status in statuses:
        response = await api.patch(f"/orders/{order_id}", {"status": status}, role="admin")
        assert response.status == 200, response
    return response.json


def record_events(app):
    events = []
    app.ctx.db.on_commit(lambda change: events.extend(change.events))
    return events


# -- placing ------------------------------------------------------------------------------------

async def test_place_order_snapshots_prices_and_computes_totals(api, make, app):
    events = record_events(app)
    customer = await make.customer()
    gear = await make.product(price="12.50")
    valve = await make.product(price="3.10")
    response = await api.post("/orders", {"customer_id": customer["id"], "items": [
        {"product_id": gear["id"], "quantity": 3}, {"product_id": valve["id"], "quantity": 7}]}, role="user")
    assert response.status == 201, response
    order = response.json
    assert response.headers["Location"] == f"/orders/{order['id']}"
    assert order["status"] == "pending"
    assert order["customer_id"] == customer["id"]
    assert order["total_price"] == "59.20"
    assert [(i["product_id"], i["quantity"], i["unit_price"], i["line_total"]) for i in order["items"]] == [
        (gear["id"], 3, "12.50", "37.50"), (valve["id"], 7, "3.10", "21.70")]
    assert set(order) == {"id", "customer_id", "status", "total_price", "items", "placed_at", "created_at",
                          "updated_at"}
    assert set(order["items"][0]) == {"id", "product_id", "quantity", "unit_price", "line_total"}
    assert order["created_at"].endswith("Z")

    fetched = await api.get(f"/orders/{order['id']}", role="user")
    assert fetched.status == 200
    assert fetched.json == order
    assert ("orders", "order.created", order) in events


async def test_decimal_totals_have_no_float_drift(api, make):
    customer = await make.customer()
    product = await make.product(price="0.10")
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 3})
    assert order["total_price"] == "0.30"
    assert order["items"][0]["line_total"] == "0.30"


async def test_one_line_body_is_a_one_item_order(api, make):
    customer = await make.customer()
    product = await make.product(price="4.25")
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 4})
    assert len(order["items"]) == 1
    assert order["items"][0]["product_id"] == product["id"]
    assert order["total_price"] == "17.00"


async def test_unit_price_is_snapshotted_at_placement(api, make):
    customer = await make.customer()
    product = await make.product(price="10.00")
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 2})
    assert (await api.patch(f"/products/{product['id']}", {"price": "99.00"}, role="admin")).status == 200
    again = (await api.get(f"/orders/{order['id']}", role="user")).json
    assert again["items"][0]["unit_price"] == "10.00"
    assert again["total_price"] == "20.00"


BAD_BODIES = [
    # (case, body with placeholders C=customer id and P=product id, field named in errors)
    ("zero quantity", {"customer_id": "C", "product_id": "P", "quantity": 0}, "quantity"),
    ("negative quantity", {"customer_id": "C", "product_id": "P", "quantity": -2}, "quantity"),
    ("string quantity", {"customer_id": "C", "product_id": "P", "quantity": "3"}, "quantity"),
    ("fractional quantity", {"customer_id": "C", "product_id": "P", "quantity": 1.5}, "quantity"),
    ("zero item quantity", {"customer_id": "C", "items": [{"product_id": "P", "quantity": 0}]}, "items"),
    ("missing customer", {"product_id": "P", "quantity": 1}, "customer_id"),
    ("unknown customer", {"customer_id": 999999, "product_id": "P", "quantity": 1}, "customer_id"),
    ("unknown product", {"customer_id": "C", "product_id": 999999, "quantity": 1}, "product_id"),
    ("unknown item product", {"customer_id": "C", "items": [{"product_id": 999999, "quantity": 1}]},
     "items"),
    ("no items", {"customer_id": "C", "items": []}, "items"),
    ("neither form", {"customer_id": "C"}, "items"),
    ("both forms", {"customer_id": "C", "product_id": "P", "quantity": 1,
                    "items": [{"product_id": "P", "quantity": 1}]}, "items"),
    ("one-line without quantity", {"customer_id": "C", "product_id": "P"}, "quantity"),
    ("client total", {"customer_id": "C", "product_id": "P", "quantity": 1, "total_price": "1.00"},
     "total_price"),
    ("client unit price", {"customer_id": "C", "items": [{"product_id": "P", "quantity": 1,
                                                          "unit_price": "0.01"}]}, "items"),
    ("client status", {"customer_id": "C", "product_id": "P", "quantity": 1, "status": "shipped"},
     "status"),
    ("unknown field", {"customer_id": "C", "product_id": "P", "quantity": 1, "discount": 5}, "discount"),
    ("boolean customer", {"customer_id": True, "product_id": "P", "quantity": 1}, "customer_id"),
]


@pytest.mark.parametrize("case,body,field", BAD_BODIES, ids=[case for case, _, _ in BAD_BODIES])
async def test_bad_order_bodies_are_422_naming_the_field(api, make, app, case, body, field):
    customer = await make.customer()
    product = await make.product()

    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            return {"C": customer["id"], "P": product["id"]}.get(value, value)
        return value

    response = await api.post("/orders", fill(body), role="user")
    assert response.status == 422, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json["errors"], response.json
    async with app.ctx.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0


async def test_unknown_product_in_items_names_the_line(api, make):
    customer = await make.customer()
    product = await make.product()
    response = await api.post("/orders", {"customer_id": customer["id"], "items": [
        {"product_id": product["id"], "quantity": 1}, {"product_id": 424242, "quantity": 1}]}, role="user")
    assert response.status == 422
    assert response.json["errors"] == {"items": {"1": {"product_id": ["Product 424242 does not exist."]}}}


async def test_client_price_is_refused_with_a_reason(api, make):
    customer = await make.customer()
    product = await make.product()
    response = await api.post("/orders", {"customer_id": customer["id"], "product_id": product["id"],
                                          "quantity": 1, "total_price": "0.01"}, role="user")
    assert response.status == 422
    assert "computed by the server" in response.json["errors"]["total_price"][0]


async def test_malformed_json_is_400(api):
    response = await api.request("POST", "/orders", body=b"{not json", role="user",
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400


# -- the lifecycle ------------------------------------------------------------------------------

async def test_full_lifecycle_and_status_events(api, make, app):
    customer = await make.customer()
    product = await make.product(stock_quantity=10)
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 4})
    events = record_events(app)
    previous = "pending"
    for status in LIFECYCLE:
        response = await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")
        assert response.status == 200, response
        assert response.json["status"] == status
        changed = [data for topic, name, data in events if name == "order.status_changed"][-1]
        assert changed["previous_status"] == previous and changed["status"] == status
        assert changed["items"] == order["items"]
        previous = status
    assert (await api.get(f"/orders/{order['id']}", role="user")).json["status"] == "delivered"


@pytest.mark.parametrize("path,target", [
    ([], "shipped"), ([], "delivered"), ([], "in_production"), ([], "pending"),
    (["confirmed"], "delivered"), (["confirmed"], "pending"),
    (["confirmed", "in_production", "shipped"], "cancelled"),
    (["confirmed", "in_production", "shipped"], "in_production"),
    (["confirmed", "in_production", "shipped", "delivered"], "cancelled"),
    (["confirmed", "in_production", "shipped", "delivered"], "shipped"),
    (["cancelled"], "confirmed"), (["cancelled"], "cancelled"),
])
async def test_other_status_changes_are_409_naming_both_states(api, make, path, target):
    customer = await make.customer()
    product = await make.product(stock_quantity=5)
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    if path:
        await advance(api, order["id"], *path)
    current = path[-1] if path else "pending"
    response = await api.patch(f"/orders/{order['id']}", {"status": target}, role="admin")
    assert response.status == 409, response
    assert current in response.json["detail"] and target in response.json["detail"]
    assert (await api.get(f"/orders/{order['id']}", role="user")).json["status"] == current


@pytest.mark.parametrize("start", ["pending", "confirmed", "in_production"])
async def test_cancel_before_shipping(api, make, start):
    customer = await make.customer()
    product = await make.product(stock_quantity=5)
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    if start != "pending":
        await advance(api, order["id"], *LIFECYCLE[:LIFECYCLE.index(start) + 1])
    cancelled = await advance(api, order["id"], "cancelled")
    assert cancelled["status"] == "cancelled"
    assert (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"] == 5


async def test_status_change_needs_admin(api, make):
    customer = await make.customer()
    product = await make.product()
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    assert (await api.patch(f"/orders/{order['id']}", {"status": "confirmed"}, role="user")).status == 403
    assert (await api.patch(f"/orders/{order['id']}", {"status": "confirmed"})).status == 401
    assert (await api.delete(f"/orders/{order['id']}", role="user")).status == 403
    response = await api.patch(f"/orders/{order['id']}", {"status": "confirmed"}, role="super_admin")
    assert response.status == 200


@pytest.mark.parametrize("body,field", [
    ({"customer_id": 1}, "customer_id"),
    ({"status": "confirmed", "total_price": "1.00"}, "total_price"),
    ({"items": []}, "items"),
    ({"status": "teleported"}, "status"),
    ({}, "status"),
])
async def test_patch_changes_only_the_status(api, make, body, field):
    customer = await make.customer()
    product = await make.product()
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    response = await api.patch(f"/orders/{order['id']}", body, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get(f"/orders/{order['id']}", role="user")).json == order


async def test_put_changes_status_like_patch(api, make):
    customer = await make.customer()
    product = await make.product()
    order = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    response = await api.put(f"/orders/{order['id']}", {"status": "confirmed"}, role="admin")
    assert response.status == 200 and response.json["status"] == "confirmed"


async def test_unknown_order_is_404(api):
    assert (await api.get("/orders/987654", role="user")).status == 404
    assert (await api.patch("/orders/987654", {"status": "confirmed"}, role="admin")).status == 404


# -- shipping -----------------------------------------------------------------------------------

async def test_shipping_takes_stock_for_every_item(api, make, app):
    customer = await make.customer()
    gear = await make.product(stock_quantity=10)
    valve = await make.product(stock_quantity=6)
    order = await place(api, {"customer_id": customer["id"], "items": [
        {"product_id": gear["id"], "quantity": 4}, {"product_id": valve["id"], "quantity": 6},
        {"product_id": gear["id"], "quantity": 1}]})
    await advance(api, order["id"], "confirmed", "in_production", "shipped")
    assert (await api.get(f"/products/{gear['id']}", role="user")).json["stock_quantity"] == 5
    assert (await api.get(f"/products/{valve['id']}", role="user")).json["stock_quantity"] == 0
    movements = (await api.get(f"/products/{gear['id']}/stock-movements?reason=shipment", role="user")).json
    assert [(m["delta"], m["order_id"], m["balance_after"]) for m in movements["items"]] == [
        (-5, order["id"], 5)]


async def test_short_stock_refuses_shipping_and_changes_nothing(api, make, app):
    customer = await make.customer()
    plenty = await make.product(stock_quantity=100)
    scarce = await make.product(stock_quantity=2)
    order = await place(api, {"customer_id": customer["id"], "items": [
        {"product_id": plenty["id"], "quantity": 10}, {"product_id": scarce["id"], "quantity": 3}]})
    await advance(api, order["id"], "confirmed", "in_production")
    response = await api.patch(f"/orders/{order['id']}", {"status": "shipped"}, role="admin")
    assert response.status == 409, response
    assert "stock" in response.json["detail"].lower()
    assert (await api.get(f"/orders/{order['id']}", role="user")).json["status"] == "in_production"
    assert (await api.get(f"/products/{plenty['id']}", role="user")).json["stock_quantity"] == 100
    assert (await api.get(f"/products/{scarce['id']}", role="user")).json["stock_quantity"] == 2
    async with app.ctx.db.session() as session:
        shipments = await session.scalar(select(func.count()).select_from(StockMovement)
                                         .where(StockMovement.reason == "shipment"))
    assert shipments == 0


# -- lists --------------------------------------------------------------------------------------

async def test_list_filters_and_sorts(api, make, app):
    alice, bob = await make.customer(), await make.customer()
    cheap, dear = await make.product(price="1.00", stock_quantity=50), await make.product(price="50.00")
    small = await place(api, {"customer_id": alice["id"], "product_id": cheap["id"], "quantity": 2})
    large = await place(api, {"customer_id": bob["id"], "product_id": dear["id"], "quantity": 3})
    mixed = await place(api, {"customer_id": alice["id"], "items": [
        {"product_id": cheap["id"], "quantity": 1}, {"product_id": dear["id"], "quantity": 1}]})
    await advance(api, small["id"], "confirmed")

    async def ids(query):
        response = await api.get(f"/orders?{query}", role="user")
        assert response.status == 200, response
        return [order["id"] for order in response.json["items"]]

    assert await ids("") == [small["id"], large["id"], mixed["id"]]
    assert await ids("status=confirmed") == [small["id"]]
    assert await ids("status=pending&sort_by=id&sort_order=desc") == [mixed["id"], large["id"]]
    assert await ids(f"customer_id={alice['id']}") == [small["id"], mixed["id"]]
    assert await ids(f"product_id={dear['id']}") == [large["id"], mixed["id"]]
    assert await ids("sort_by=total_price&sort_order=desc") == [large["id"], mixed["id"], small["id"]]
    assert await ids("sort_by=status") == [small["id"], large["id"], mixed["id"]]
    today = datetime.now(UTC).date()
    assert len(await ids(f"from={today - timedelta(days=1)}&to={today + timedelta(days=1)}")) == 3
    assert await ids(f"from={today + timedelta(days=1)}") == []
    assert await ids(f"to={today - timedelta(days=1)}") == []

    page = await api.get("/orders?per_page=2&page=2", role="user")
    assert page.json["meta"] == {"page": 2, "per_page": 2, "total": 3, "pages": 2, "next_cursor": None}
    assert [o["id"] for o in page.json["items"]] == [mixed["id"]]
    assert len(page.json["items"][0]["items"]) == 2
    assert 'rel="prev"' in page.headers["Link"]


async def test_placement_date_filter_is_inclusive_by_day(api, make, app):
    customer = await make.customer()
    product = await make.product()
    # An admin back-dates the order: the filters key on placed_at, not on when it was entered.
    placed = await api.post("/orders", {"customer_id": customer["id"], "product_id": product["id"],
                                        "quantity": 1, "placed_at": "2026-03-05T23:59:59Z"}, role="admin")
    assert placed.status == 201 and placed.json["placed_at"] == "2026-03-05T23:59:59Z", placed
    for query, expected in [("from=2026-03-05&to=2026-03-05", 1), ("to=2026-03-05", 1),
                            ("from=2026-03-06", 0), ("to=2026-03-04", 0)]:
        response = await api.get(f"/orders?{query}", role="user")
        assert response.json["meta"]["total"] == expected, query


@pytest.mark.parametrize("query,param", [
    ("status=lost", "status"), ("customer_id=abc", "customer_id"), ("from=2026-13-01", "from"),
    ("to=yesterday", "to"), ("from=2026-03-02&to=2026-03-01", "from"), ("sort_by=customer", "sort_by"),
    ("per_page=101", "per_page"), ("colour=red", "colour"),
])
async def test_bad_list_queries_are_400(api, query, param):
    response = await api.get(f"/orders?{query}", role="user")
    assert response.status == 400, response
    assert param in response.json["errors"]


# -- deleting and references --------------------------------------------------------------------

async def test_delete_only_pending_or_cancelled_orders(api, make, app):
    customer = await make.customer()
    product = await make.product()
    pending = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    confirmed = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    cancelled = await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    await advance(api, confirmed["id"], "confirmed")
    await advance(api, cancelled["id"], "cancelled")
    assert (await api.delete(f"/orders/{pending['id']}", role="admin")).status == 204
    assert (await api.delete(f"/orders/{cancelled['id']}", role="admin")).status == 204
    refused = await api.delete(f"/orders/{confirmed['id']}", role="admin")
    assert refused.status == 409 and "confirmed" in refused.json["detail"]
    assert (await api.get(f"/orders/{pending['id']}", role="user")).status == 404
    async with app.ctx.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OrderItem)) == 1


async def test_customer_and_product_with_orders_cannot_be_deleted(api, make):
    customer = await make.customer()
    product = await make.product()
    await place(api, {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    for path in (f"/customers/{customer['id']}", f"/products/{product['id']}"):
        response = await api.delete(path, role="admin")
        assert response.status == 409, response
        assert "order" in response.json["detail"]
        assert (await api.get(path, role="admin")).status == 200


# -- concurrency --------------------------------------------------------------------------------

async def test_concurrent_placements_lose_no_order(api, make, app):
    customers = [await make.customer() for _ in range(4)]
    products = [await make.product(price="2.50") for _ in range(3)]
    token = await api.token("user")
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=64)

    async def place_one(n):
        items = [{"product_id": products[(n + k) % 3]["id"], "quantity": 1 + k} for k in range(1 + n % 3)]
        body = {"customer_id": customers[n % 4]["id"], "items": items}
        response = await client.fetch(f"{api.base_url}/orders", method="POST", raise_error=False,
                                      body=json.dumps(body), request_timeout=120,
                                      headers={"Authorization": f"Bearer {token}",
                                               "Content-Type": "application/json"})
        return response.code

    try:
        codes = await asyncio.gather(*(place_one(n) for n in range(40)))
    finally:
        client.close()
    assert codes == [201] * 40
    async with app.ctx.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 40
        assert await session.scalar(select(func.count()).select_from(OrderItem)) == sum(
            1 + n % 3 for n in range(40))
