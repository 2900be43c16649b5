"""Stock: admin adjustments, the ledger, its invariant, and no oversell under concurrency."""
from __future__ import annotations

import asyncio
import json
import random

import pytest
import tornado.httpclient
from sqlalchemy import func, select

from models import Product, StockMovement


async def stock_of(api, product_id):
    return (await api.get(f"/products/{product_id}", role="user")).json["stock_quantity"]


async def ledger_mismatches(app):
    """Products whose stock_quantity is not the sum of their movements (or the last balance)."""
    async with app.ctx.db.session() as session:
        sums = dict((await session.execute(
            select(StockMovement.product_id, func.sum(StockMovement.delta)).group_by(StockMovement.product_id)
        )).all())
        last = dict((await session.execute(
            select(StockMovement.product_id, StockMovement.balance_after).where(StockMovement.id.in_(
                select(func.max(StockMovement.id)).group_by(StockMovement.product_id)))
        )).all())
        stock = dict((await session.execute(select(Product.id, Product.stock_quantity))).all())
    return {pid: (qty, sums.get(pid), last.get(pid)) for pid, qty in stock.items()
            if int(sums.get(pid) or 0) != qty or (pid in last and last[pid] != qty)}


class Burst:
    """Many requests at once over enough connections that they really overlap at the server."""

    def __init__(self, api):
        self.api = api
        self.client = tornado.httpclient.AsyncHTTPClient(force_instance=True, max_clients=64)

    async def send(self, method, path, body, token):
        response = await self.client.fetch(
            self.api.base_url + path, method=method, body=json.dumps(body), raise_error=False,
            request_timeout=120, headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
        return response.code

    async def all(self, requests):
        try:
            return await asyncio.gather(*(self.send(*request) for request in requests))
        finally:
            self.client.close()


async def ready_to_ship(api, customer, items):
    order = (await api.post("/orders", {"customer_id": customer["id"], "items": items}, role="user")).json
    for status in ("confirmed", "in_production"):
        assert (await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")).status == 200
    return order


# -- adjustments and the ledger ------------------------------------------------------------------

async def test_adjustment_writes_a_ledger_row(api, make, app):
    events = []
    app.ctx.db.on_commit(lambda change: events.extend(change.events))
    product = await make.product(stock_quantity=10, reorder_level=5)
    response = await api.post(f"/products/{product['id']}/stock-adjustments",
                              {"delta": -6, "reason": "Cycle count: 6 damaged in storage"}, role="admin")
    assert response.status == 201, response
    movement = response.json
    assert movement["delta"] == -6 and movement["balance_after"] == 4
    assert movement["reason"] == "adjustment" and movement["note"] == "Cycle count: 6 damaged in storage"
    assert movement["product_id"] == product["id"] and movement["user_id"] is not None
    assert await stock_of(api, product["id"]) == 4
    names = [name for _, name, _ in events]
    assert "stock.changed" in names and "stock.low" in names

    ledger = await api.get(f"/products/{product['id']}/stock-movements", role="user")
    assert ledger.status == 200
    assert [(m["reason"], m["delta"], m["balance_after"]) for m in ledger.json["items"]] == [
        ("opening", 10, 10), ("adjustment", -6, 4)]


async def test_adjustment_below_zero_is_409_and_changes_nothing(api, make):
    product = await make.product(stock_quantity=3)
    response = await api.post(f"/products/{product['id']}/stock-adjustments",
                              {"delta": -4, "reason": "count"}, role="admin")
    assert response.status == 409, response
    assert await stock_of(api, product["id"]) == 3
    assert (await api.get(f"/products/{product['id']}/stock-movements", role="user")).json["meta"][
        "total"] == 1


@pytest.mark.parametrize("body,field", [
    ({"delta": 0, "reason": "nothing"}, "delta"), ({"delta": "5", "reason": "x"}, "delta"),
    ({"delta": 1.5, "reason": "x"}, "delta"), ({"reason": "x"}, "delta"), ({"delta": 5}, "reason"),
    ({"delta": 5, "reason": ""}, "reason"), ({"delta": 5, "reason": "x", "price": "1.00"}, "price"),
])
async def test_bad_adjustments_are_422(api, make, body, field):
    product = await make.product(stock_quantity=3)
    response = await api.post(f"/products/{product['id']}/stock-adjustments", body, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert await stock_of(api, product["id"]) == 3


async def test_adjustments_need_admin_and_a_real_product(api, make):
    product = await make.product()
    path = f"/products/{product['id']}/stock-adjustments"
    assert (await api.post(path, {"delta": 1, "reason": "x"}, role="user")).status == 403
    assert (await api.post(path, {"delta": 1, "reason": "x"})).status == 401
    assert (await api.post("/products/999999/stock-adjustments", {"delta": 1, "reason": "x"},
                           role="admin")).status == 404
    assert (await api.get("/products/999999/stock-movements", role="user")).status == 404
    assert (await api.get(f"/products/{product['id']}/stock-movements")).status == 401


async def test_movement_list_pages_and_filters(api, make):
    product = await make.product(stock_quantity=1)
    for delta in (5, -2, 7, -1):
        response = await api.post(f"/products/{product['id']}/stock-adjustments",
                                  {"delta": delta, "reason": "count"}, role="admin")
        assert response.status == 201
    page = await api.get(f"/products/{product['id']}/stock-movements?per_page=2&page=2", role="user")
    meta = page.json["meta"]
    assert isinstance(meta.pop("next_cursor"), str)
    assert meta == {"page": 2, "per_page": 2, "total": 5, "pages": 3}
    assert [m["delta"] for m in page.json["items"]] == [-2, 7]
    assert 'rel="next"' in page.headers["Link"]
    newest = await api.get(f"/products/{product['id']}/stock-movements?sort_order=desc&per_page=1",
                           role="user")
    assert newest.json["items"][0]["balance_after"] == 10
    opening = await api.get(f"/products/{product['id']}/stock-movements?reason=opening", role="user")
    assert [m["delta"] for m in opening.json["items"]] == [1]
    other = await make.product(stock_quantity=4)
    assert (await api.get(f"/products/{other['id']}/stock-movements", role="user")).json["meta"][
        "total"] == 1
    for query in ("reason=theft", "sort_by=balance_after", "per_page=0"):
        response = await api.get(f"/products/{product['id']}/stock-movements?{query}", role="user")
        assert response.status == 400, query


async def test_stock_is_not_patched_directly(api, make):
    product = await make.product(stock_quantity=5)
    response = await api.patch(f"/products/{product['id']}", {"stock_quantity": 50}, role="admin")
    assert response.status == 422
    assert await stock_of(api, product["id"]) == 5


async def test_ledger_invariant_after_a_random_mix(api, make, app):
    """Whatever mix of writes succeeds or is refused, stock equals the sum of its movements."""
    rng = random.Random(20261126)
    products = [await make.product(stock_quantity=rng.randint(0, 20), reorder_level=5) for _ in range(4)]
    employees = [await make.employee() for _ in range(2)]
    customers = [await make.customer() for _ in range(2)]
    records, orders, outcomes = [], [], []
    for _ in range(60):
        product = rng.choice(products)
        action = rng.choice(["produce", "adjust", "order", "advance", "advance", "edit", "delete"])
        if action == "produce":
            produced = rng.randint(1, 30)
            response = await api.post("/production", {
                "product_id": product["id"], "employee_id": rng.choice(employees)["id"],
                "quantity_produced": produced, "quantity_defective": rng.randint(0, produced),
                "date_produced": "2026-11-20"}, role="user")
            if response.status == 201:
                records.append(response.json)
        elif action == "adjust":
            response = await api.post(f"/products/{product['id']}/stock-adjustments",
                                      {"delta": rng.choice([-15, -5, -1, 3, 10]), "reason": "count"},
                                      role="admin")
        elif action == "order":
            items = [{"product_id": p["id"], "quantity": rng.randint(1, 12)}
                     for p in rng.sample(products, rng.randint(1, 3))]
            response = await api.post("/orders", {"customer_id": rng.choice(customers)["id"], "items": items},
                                      role="user")
            if response.status == 201:
                orders.append(response.json)
        elif action == "advance" and orders:
            order = rng.choice(orders)
            current = (await api.get(f"/orders/{order['id']}", role="user")).json["status"]
            target = {"pending": "confirmed", "confirmed": "in_production", "in_production": "shipped",
                      "shipped": "delivered"}.get(current, "confirmed")
            response = await api.patch(f"/orders/{order['id']}", {"status": target}, role="admin")
        elif action == "edit" and records:
            rec = rng.choice(records)
            produced = rng.randint(1, 40)
            response = await api.patch(f"/production/{rec['id']}", {
                "quantity_produced": produced, "quantity_defective": rng.randint(0, produced)}, role="admin")
        elif action == "delete" and records:
            rec = records.pop(rng.randrange(len(records)))
            response = await api.delete(f"/production/{rec['id']}", role="admin")
            if response.status != 204:
                records.append(rec)
        else:
            continue
        assert response.status < 500, response
        outcomes.append(response.status)
    assert 409 in outcomes and any(200 <= status < 300 for status in outcomes)
    assert await ledger_mismatches(app) == {}


# -- concurrency ---------------------------------------------------------------------------------

async def test_thirty_shipments_against_stock_for_ten(api, make, app):
    product = await make.product(stock_quantity=10)
    customer = await make.customer()
    orders = [await ready_to_ship(api, customer, [{"product_id": product["id"], "quantity": 1}])
              for _ in range(30)]
    token = await api.token("admin")
    codes = await Burst(api).all(
        [("PATCH", f"/orders/{order['id']}", {"status": "shipped"}, token) for order in orders])
    assert sorted(codes) == [200] * 10 + [409] * 20, codes
    assert await stock_of(api, product["id"]) == 0
    statuses = [(await api.get(f"/orders/{order['id']}", role="user")).json["status"] for order in orders]
    assert statuses.count("shipped") == 10 and statuses.count("in_production") == 20
    async with app.ctx.db.session() as session:
        shipments = await session.scalar(select(func.count()).select_from(StockMovement)
                                         .where(StockMovement.reason == "shipment"))
    assert shipments == 10
    assert await ledger_mismatches(app) == {}


async def test_mixed_concurrent_writes_neither_deadlock_nor_oversell(api, make, app):
    """Shipments locking several products, placements and production on the same rows at once."""
    first = await make.product(stock_quantity=6)
    second = await make.product(stock_quantity=6)
    customer, employee = await make.customer(), await make.employee()
    # Items listed in both orders of products, so a naive lock order would cross.
    orders = [await ready_to_ship(api, customer, [{"product_id": a["id"], "quantity": 1},
                                                   {"product_id": b["id"], "quantity": 1}])
              for a, b in [(first, second), (second, first)] * 5]
    admin, user = await api.token("admin"), await api.token("user")
    requests = [("PATCH", f"/orders/{order['id']}", {"status": "shipped"}, admin) for order in orders]
    requests += [("POST", "/orders", {"customer_id": customer["id"], "items": [
        {"product_id": second["id"], "quantity": 1}, {"product_id": first["id"], "quantity": 1}]}, user)
        for _ in range(10)]
    requests += [("POST", "/production", {"product_id": product["id"], "employee_id": employee["id"],
                                          "quantity_produced": 1, "date_produced": "2026-11-20"}, user)
                 for product in (first, second) * 5]
    codes = await Burst(api).all(requests)
    shipped, placed, produced = codes[:10], codes[10:20], codes[20:]
    assert placed == [201] * 10 and produced == [201] * 10, codes
    assert set(shipped) <= {200, 409} and shipped.count(200) >= 6, codes
    first_stock, second_stock = await stock_of(api, first["id"]), await stock_of(api, second["id"])
    assert first_stock == second_stock == 6 + 5 - shipped.count(200)
    assert await ledger_mismatches(app) == {}
