"""/dashboard (the wall-screen page) and /dashboard/state (what it shows), through the real server."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import tornado.websocket

from handlers.pages import PAGE_CSP

TODAY = datetime.now(UTC).date()
STATUSES = ["pending", "confirmed", "in_production", "shipped", "delivered", "cancelled"]


async def record(api, product, employee, day=TODAY, **fields):
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "date_produced": day.isoformat(), **fields}
    response = await api.post("/production", body, role="user")
    assert response.status == 201, response
    return response.json


async def state(api, query="", **kw):
    response = await api.get(f"/dashboard/state{query}", **kw)
    assert response.status == 200, response
    return response.json


async def test_the_page_is_public_html_with_a_strict_csp(api):
    response = await api.get("/dashboard")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in PAGE_CSP
    assert "'unsafe-inline'" not in PAGE_CSP and "http" not in PAGE_CSP
    page = response.body.decode()
    assert '<script src="/static/dashboard.js" defer></script>' in page
    assert '<script src="/static/board.js" defer></script>' in page
    assert 'id="units-today-total"' in page
    for asset, kind in (("/static/dashboard.js", "javascript"), ("/static/board.js", "javascript"),
                        ("/static/dashboard.css", "text/css")):
        served = await api.get(asset)
        assert served.status == 200 and kind in served.headers["Content-Type"], asset


async def test_state_needs_a_token(api):
    response = await api.get("/dashboard/state")
    assert response.status == 401
    assert response.headers["Content-Type"] == "application/problem+json"


async def test_an_empty_factory(api):
    body = await state(api, role="user")
    assert set(body) == {"date", "timezone", "day_starts_at", "day_ends_at", "generated_at", "last_event_id",
                         "production_today", "orders_today", "low_stock", "production_day"}
    assert body["date"] == TODAY.isoformat() and body["timezone"] == "UTC"
    assert body["production_day"] == TODAY.isoformat()  # no shifts: the calendar day
    assert body["day_starts_at"] == f"{TODAY.isoformat()}T00:00:00Z"
    assert body["day_ends_at"] == f"{(TODAY + timedelta(days=1)).isoformat()}T00:00:00Z"
    assert body["generated_at"].endswith("Z")
    assert body["production_today"] == {"by_product": [], "by_line": []}
    assert body["orders_today"] == {"placed": 0, "shipped": 0, "open": 0}
    assert body["low_stock"] == {"total": 0, "items": []}


def zone_on_another_day() -> tuple[str, date]:
    """A zone whose date differs from UTC's right now (one of UTC+14 / UTC-12 always does), and that date."""
    now = datetime.now(UTC)
    for name in ("Pacific/Kiritimati", "Etc/GMT+12"):
        local = now.astimezone(ZoneInfo(name)).date()
        if local != now.date():
            return name, local
    raise AssertionError("UTC+14 and UTC-12 cannot both share UTC's date")


PLANT_ZONE, PLANT_TODAY = zone_on_another_day()


@pytest.mark.settings(timezone=PLANT_ZONE)
async def test_today_is_the_plant_day_in_its_own_zone(api, make):
    product, employee = await make.product(name="Widget"), await make.employee()
    await make.line("L1")
    await record(api, product, employee, day=PLANT_TODAY, quantity_produced=7, line="L1")
    # UTC's date: ahead of the plant's (refused as a future day) or behind it (another day).
    other = await api.post("/production", {"product_id": product["id"], "employee_id": employee["id"],
                                            "quantity_produced": 100, "date_produced": TODAY.isoformat(),
                                            "line": "L1"}, role="user")
    assert other.status == (422 if TODAY > PLANT_TODAY else 201), other
    body = await state(api, role="user")
    assert body["timezone"] == PLANT_ZONE and body["date"] == PLANT_TODAY.isoformat()
    start = datetime.combine(PLANT_TODAY, time(0), tzinfo=ZoneInfo(PLANT_ZONE)).astimezone(UTC)
    assert body["day_starts_at"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["day_ends_at"] == (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [row["produced"] for row in body["production_today"]["by_product"]] == [7]


async def test_todays_totals_per_product_and_line(api, make):
    widget = await make.product(name="Widget")
    gadget = await make.product(name="Gadget")
    employee = await make.employee()
    await make.line("L1")
    await make.line("L2")
    await record(api, widget, employee, quantity_produced=10, quantity_defective=2, line="L1")
    await record(api, widget, employee, quantity_produced=5, line="L2")
    await record(api, gadget, employee, quantity_produced=7, quantity_defective=1, line="L1")
    await record(api, gadget, employee, quantity_produced=4)  # no line
    await record(api, gadget, employee, day=TODAY - timedelta(days=1), quantity_produced=99, line="L1")

    today = (await state(api, role="user"))["production_today"]
    assert today["by_product"] == [
        {"product_id": widget["id"], "product_name": "Widget", "produced": 15, "defective": 2, "good": 13},
        {"product_id": gadget["id"], "product_name": "Gadget", "produced": 11, "defective": 1, "good": 10},
    ]
    assert sorted(today["by_line"], key=lambda row: row["line"] or "") == [
        {"line": None, "produced": 4, "defective": 0, "good": 4},
        {"line": "L1", "produced": 17, "defective": 3, "good": 14},
        {"line": "L2", "produced": 5, "defective": 0, "good": 5},
    ]


async def test_the_line_filter_limits_todays_production(api, make):
    product, employee = await make.product(name="Widget"), await make.employee()
    for line, produced in (("L1", 3), ("L2", 5), ("L3", 11)):
        await make.line(line)
        await record(api, product, employee, quantity_produced=produced, line=line)
    await record(api, product, employee, quantity_produced=13)  # no line: not on any line's board
    today = (await state(api, role="user", query="?line=L1,L3"))["production_today"]
    assert today["by_product"][0]["produced"] == 14
    assert sorted(row["line"] for row in today["by_line"]) == ["L1", "L3"]


@pytest.mark.parametrize("query", ["line=", "line=L1,,L2", "line=L%201", "line=" + "x" * 33,
                                   "line=" + ",".join(f"L{n}" for n in range(51)), "lines=L1"])
async def test_a_bad_line_filter_is_a_400(api, query):
    response = await api.get(f"/dashboard/state?{query}", role="user")
    assert response.status == 400, response
    assert response.headers["Content-Type"] == "application/problem+json"


async def order(api, customer, product, quantity=1):
    return await api.create("orders", {"customer_id": customer["id"],
                                       "items": [{"product_id": product["id"], "quantity": quantity}]})


async def test_orders_today_are_placed_shipped_and_open(api, make):
    product, customer = await make.product(stock_quantity=10), await make.customer()
    ids = [(await order(api, customer, product))["id"] for _ in range(5)]
    for status in ("confirmed", "in_production", "shipped"):
        for order_id in ids[:2]:
            assert (await api.patch(f"/orders/{order_id}", {"status": status}, role="admin")).status == 200
    assert (await api.patch(f"/orders/{ids[1]}", {"status": "delivered"}, role="admin")).status == 200
    assert (await api.patch(f"/orders/{ids[2]}", {"status": "cancelled"}, role="admin")).status == 200
    # Both shipped today (one since delivered); two are still waiting; the cancelled one is neither.
    assert (await state(api, role="user"))["orders_today"] == {"placed": 5, "shipped": 2, "open": 2}


async def test_a_back_dated_order_is_not_placed_today(api, make):
    product, customer = await make.product(stock_quantity=10), await make.customer()
    await order(api, customer, product)
    back_dated = {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 1}],
                  "placed_at": "2025-01-15T09:00:00Z"}
    assert (await api.post("/orders", back_dated, role="admin")).status == 201
    # Placed counts by placed_at; both still wait to ship.
    assert (await state(api, role="user"))["orders_today"] == {"placed": 1, "shipped": 0, "open": 2}


async def test_low_stock_lists_the_furthest_below_first(api, make):
    await make.product(name="Axle", stock_quantity=50, reorder_level=10)
    at_level = await make.product(name="Bolt", stock_quantity=10, reorder_level=10)
    below = await make.product(name="Cog", stock_quantity=2, reorder_level=10)
    low = (await state(api, role="user"))["low_stock"]
    assert low["total"] == 2
    assert [row["id"] for row in low["items"]] == [below["id"], at_level["id"]]
    assert low["items"][1] == {"id": at_level["id"], "sku": at_level["sku"], "name": "Bolt",
                               "stock_quantity": 10, "reorder_level": 10}


async def test_last_event_id_is_where_the_live_feed_follows_on(api, make):
    before = (await state(api, role="user"))["last_event_id"]
    product, employee = await make.product(), await make.employee()
    await record(api, product, employee)  # stock.changed + production.recorded
    assert (await state(api, role="user"))["last_event_id"] == before + 2


async def test_a_display_token_reads_the_dashboard_and_nothing_else(api):
    minted = await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")
    token = minted.json["token"]
    assert (await state(api, token=token))["date"] == TODAY.isoformat()
    refused = await api.get("/products", token=token)
    assert refused.status == 403
    assert "display token" in refused.json["detail"]
    assert (await api.delete(f"/auth/display-tokens/{minted.json['id']}", role="admin")).status == 204
    assert (await api.get("/dashboard/state", token=token)).status == 401


@pytest.mark.parametrize("role", ["user", "admin", "super_admin"])
async def test_every_role_reads_the_state(api, role):
    assert (await state(api, role=role))["orders_today"]["open"] == 0


async def test_state_and_the_events_after_its_last_event_id_add_up(api, make, base_url):
    """Loaded while production is being recorded, no state counts an event twice or misses one."""
    product, employee = await make.product(), await make.employee()
    feed = await tornado.websocket.websocket_connect(base_url.replace("http://", "ws://") + "/ws")
    feed.write_message(json.dumps({"type": "auth", "token": await api.token("user")}))
    feed.write_message(json.dumps({"type": "subscribe", "topics": ["production"]}))
    assert json.loads(await asyncio.wait_for(feed.read_message(), 15))["type"] == "subscribed"

    async def keep_recording() -> None:
        for n in range(1, 13):
            await record(api, product, employee, quantity_produced=n)

    writer = asyncio.ensure_future(keep_recording())
    snapshots = []
    while not writer.done():
        snapshots.append(await state(api, role="user"))
    await writer
    events = [json.loads(await asyncio.wait_for(feed.read_message(), 15)) for _ in range(12)]
    feed.close()
    assert sum(e["data"]["quantity_produced"] for e in events) == sum(range(1, 13))
    for snapshot in snapshots:
        counted = sum(row["produced"] for row in snapshot["production_today"]["by_product"])
        later = sum(e["data"]["quantity_produced"] for e in events if e["id"] > snapshot["last_event_id"])
        assert counted + later == sum(range(1, 13)), snapshot["last_event_id"]
