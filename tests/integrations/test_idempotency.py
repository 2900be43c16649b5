"""Idempotency-Key on the POSTs that create or move something: one effect, the first answer replayed."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import tornado.httpserver
from sqlalchemy import func, insert, select

from app import make_app
from models import IdempotencyKey, Order, ProductionRecord, StockMovement, User, utcnow
from services.integrations.idempotency import fingerprint
from tests.conftest import Api
from tests.servers import free_port

KEY = "7f3c1e9a-0b6d-4a51-9a55-6f0d3e2b8c11"


async def count(app, model, *where):
    async with app.ctx.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def keyed_post(api, path, body, key=KEY, role="user"):
    return await api.post(path, body, role=role, headers={"Idempotency-Key": key})


async def order_body(make):
    customer = await make.customer()
    product = await make.product(price="12.50")
    return {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 2}]}


async def test_a_retried_order_is_placed_once_and_the_first_answer_replayed_byte_for_byte(api, make, app):
    body = await order_body(make)
    first = await keyed_post(api, "/orders", body)
    assert first.status == 201, first
    assert "Idempotent-Replayed" not in first.headers
    again = await keyed_post(api, "/orders", body)
    assert again.status == 201, again
    assert again.body == first.body
    assert again.headers["Location"] == first.headers["Location"] == f"/orders/{first.json['id']}"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count(app, Order) == 1


async def test_a_retried_production_record_moves_stock_once(api, make, app):
    product = await make.product(stock_quantity=5)
    employee = await make.employee()
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "quantity_defective": 1, "date_produced": "2026-11-20"}
    answers = [await keyed_post(api, "/production", body) for _ in range(3)]
    assert {a.status for a in answers} == {201}
    assert len({a.body for a in answers}) == 1
    assert await count(app, ProductionRecord) == 1
    assert (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"] == 14


async def test_a_retried_stock_adjustment_moves_stock_once(api, make, app):
    product = await make.product(stock_quantity=5)
    path = f"/products/{product['id']}/stock-adjustments"
    for _ in range(2):
        response = await keyed_post(api, path, {"delta": 3, "reason": "count"}, role="admin")
        assert response.status == 201, response
    assert (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"] == 8
    assert await count(app, StockMovement, StockMovement.reason == "adjustment") == 1


async def test_a_retried_stop_opens_and_ends_the_line_once(api, make, app):
    await make.line("L1")
    opened = [await keyed_post(api, "/lines/L1/stops", {"reason": "breakdown"}) for _ in range(2)]
    assert [a.status for a in opened] == [201, 201], opened
    assert opened[1].body == opened[0].body and opened[1].headers["Idempotent-Replayed"] == "true"
    end_key = "end-" + KEY[4:]
    ended = [await keyed_post(api, "/lines/L1/stops/current/end", None, key=end_key) for _ in range(2)]
    assert [a.status for a in ended] == [200, 200], ended  # the retry replays; without the key: 409
    assert ended[1].body == ended[0].body and ended[1].headers["Idempotent-Replayed"] == "true"
    stops = (await api.get("/stops", role="user")).json["items"]
    assert [(stop["id"], stop["ended_at"] is not None) for stop in stops] == [(opened[0].json["id"], True)]


async def test_a_retried_import_imports_its_rows_once(api, make, app):
    rows = [{"sku": f"IMP-{n}", "name": f"Imported {n}", "price": "3.00", "stock_quantity": 2}
            for n in range(3)]
    answers = [await keyed_post(api, "/imports/products", rows, role="admin") for _ in range(2)]
    assert [a.status for a in answers] == [200, 200], answers
    assert answers[1].body == answers[0].body and answers[1].headers["Idempotent-Replayed"] == "true"
    listed = (await api.get("/products?per_page=100", role="user")).json["items"]
    assert sorted(item["sku"] for item in listed) == ["IMP-0", "IMP-1", "IMP-2"]


async def test_twenty_concurrent_requests_with_one_key_place_one_order(api, make, app):
    body = await order_body(make)
    await api.token("user")
    answers = await asyncio.gather(*(keyed_post(api, "/orders", body) for _ in range(20)))
    assert await count(app, Order) == 1
    assert {a.status for a in answers} == {201}, [a for a in answers if a.status != 201][:2]
    assert len({a.body for a in answers}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in answers) == 1


async def test_the_same_key_with_another_body_is_422_and_changes_nothing(api, make, app):
    body = await order_body(make)
    assert (await keyed_post(api, "/orders", body)).status == 201
    other = {**body, "items": [{**body["items"][0], "quantity": 3}]}
    refused = await keyed_post(api, "/orders", other)
    assert refused.status == 422, refused
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert "Idempotency-Key" in refused.json["errors"]
    assert await count(app, Order) == 1


async def test_another_user_with_the_same_key_is_independent(api, make, app):
    body = await order_body(make)
    mine = await keyed_post(api, "/orders", body, role="user")
    theirs = await keyed_post(api, "/orders", body, role="admin")
    assert mine.status == theirs.status == 201
    assert mine.json["id"] != theirs.json["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    assert await count(app, Order) == 2


async def test_without_a_key_every_post_counts(api, make, app):
    body = await order_body(make)
    for _ in range(2):
        assert (await api.post("/orders", body, role="user")).status == 201
    assert await count(app, Order) == 2


async def test_a_refused_request_gives_its_key_back(api, make, app):
    product = await make.product(stock_quantity=0)
    path = f"/products/{product['id']}/stock-adjustments"
    take = {"delta": -5, "reason": "scrap"}
    short = await keyed_post(api, path, take, role="admin")
    assert short.status == 409, short
    assert await count(app, IdempotencyKey) == 0
    assert (await api.post(path, {"delta": 10, "reason": "count"}, role="admin")).status == 201
    retried = await keyed_post(api, path, take, role="admin")
    assert retried.status == 201, retried
    assert "Idempotent-Replayed" not in retried.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve-key", "two words"])
async def test_a_malformed_key_is_400(api, make, app, key):
    body = await order_body(make)
    response = await keyed_post(api, "/orders", body, key=key)
    assert response.status == 400, response
    assert "Idempotency-Key" in response.json["errors"]
    assert await count(app, Order) == 0


async def test_a_quoted_key_is_the_same_key(api, make, app):
    body = await order_body(make)
    assert (await keyed_post(api, "/orders", body, key="abc-1")).status == 201
    again = await keyed_post(api, "/orders", body, key='"abc-1"')
    assert again.headers.get("Idempotent-Replayed") == "true"


async def seed_claim(app, api, path, body, *, state, age):
    """A key row as another process would leave it: claimed `age` seconds ago, in `state`."""
    user_id = await user_id_of(app, "test_user")
    raw = json.dumps(body).encode()
    async with app.ctx.db.write() as uow:
        now = utcnow()
        await uow.session.execute(insert(IdempotencyKey).values(
            user_id=user_id, idempotency_key=KEY, fingerprint=fingerprint("POST", path, raw), state=state,
            owner="another-process", claimed_at=now - timedelta(seconds=age),
            expires_at=now + timedelta(hours=1), created_at=now, updated_at=now))


async def user_id_of(app, username):
    async with app.ctx.db.session() as session:
        return await session.scalar(select(User.id).where(User.username == username))


@pytest.mark.settings(idempotency_wait=0.3)
async def test_a_key_still_in_progress_elsewhere_is_409_with_retry_after(api, make, app):
    body = await order_body(make)
    await seed_claim(app, api, "/orders", body, state="pending", age=0)
    response = await keyed_post(api, "/orders", body)
    assert response.status == 409, response
    assert response.headers["Retry-After"] == "1"
    assert await count(app, Order) == 0


@pytest.mark.settings(idempotency_lease=5)
async def test_an_abandoned_claim_that_committed_nothing_is_taken_over(api, make, app):
    body = await order_body(make)
    await seed_claim(app, api, "/orders", body, state="pending", age=30)
    response = await keyed_post(api, "/orders", body)
    assert response.status == 201, response
    assert await count(app, Order) == 1
    assert (await keyed_post(api, "/orders", body)).headers["Idempotent-Replayed"] == "true"


@pytest.mark.settings(idempotency_lease=5)
async def test_an_applied_claim_whose_answer_was_lost_is_never_done_twice(api, make, app):
    body = await order_body(make)
    await seed_claim(app, api, "/orders", body, state="applied", age=30)
    response = await keyed_post(api, "/orders", body)
    assert response.status == 409, response
    assert await count(app, Order) == 0


@pytest.mark.settings(idempotency_ttl=0.5, idempotency_sweep_interval=0.1)
async def test_expired_keys_are_swept_and_the_key_can_be_used_again(api, make, app):
    body = await order_body(make)
    assert (await keyed_post(api, "/orders", body)).status == 201
    for _ in range(200):  # the sweeper runs every 0.1 s; this only bounds a hang
        if await count(app, IdempotencyKey) == 0:
            break
        await asyncio.sleep(0.05)
    assert await count(app, IdempotencyKey) == 0
    other = {**body, "items": [{**body["items"][0], "quantity": 5}]}
    reused = await keyed_post(api, "/orders", other)
    assert reused.status == 201, reused
    assert await count(app, Order) == 2


async def test_a_kept_answer_survives_a_restart(api, make, app, io_loop):
    body = await order_body(make)
    first = await keyed_post(api, "/orders", body)
    # A new application on the same database: nothing of the first one's memory is shared.
    restarted = make_app(app.ctx.settings)
    port = free_port()
    server = tornado.httpserver.HTTPServer(restarted)
    server.listen(port, "127.0.0.1")
    other = Api(f"http://127.0.0.1:{port}")
    try:
        again = await keyed_post(other, "/orders", body)
    finally:
        other.client.close()
        server.stop()
        await restarted.close()
    assert again.status == 201 and again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count(app, Order) == 1


async def test_the_openapi_document_offers_the_header_on_each_such_operation(api):
    document = (await api.get("/openapi.json")).json
    for path in ("/orders", "/production", "/products", "/products/{ident}/stock-adjustments", "/work-orders",
                 "/lines/{code}/stops", "/lines/{code}/stops/current/end", "/imports/orders"):
        names = [p.get("name") for p in document["paths"][path]["post"].get("parameters", [])]
        assert "Idempotency-Key" in names, path
        responses = document["paths"][path]["post"]["responses"]
        success = responses.get("201") or responses["200"]
        assert "Idempotent-Replayed" in success["headers"], path
    assert "Idempotency-Key" not in [p.get("name") for p in document["paths"]["/orders"]["get"]["parameters"]]


@pytest.mark.settings(cors_origins=("http://terminal.example",))
async def test_a_browser_client_may_send_the_key_and_read_the_replay_flag(api, make, app):
    preflight = await api.request("OPTIONS", "/orders", headers={
        "Origin": "http://terminal.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key"})
    assert preflight.status == 204
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    body = await order_body(make)
    response = await api.post("/orders", body, role="user",
                              headers={"Idempotency-Key": KEY, "Origin": "http://terminal.example"})
    assert "Idempotent-Replayed" in response.headers["Access-Control-Expose-Headers"]


async def test_a_retry_after_the_lines_status_write_still_replays(api, make):
    """The coalesced line.status write is a task spawned from the request: it must not mark the key
    again after its answer was kept (the retry then waited and got a 409 instead of the replay)."""
    await make.line("L1")
    await make.shift("early", "00:00", "23:59")
    product, employee = await make.product(), await make.employee()
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "date_produced": "2026-11-27", "line": "L1"}
    headers = {"Idempotency-Key": "station-retry-1"}
    first = await api.post("/production", body, role="user", headers=headers)
    await asyncio.sleep(1.5)  # the line.status write of this record has committed by now
    again = await api.post("/production", body, role="user", headers=headers)
    assert first.status == again.status == 201, again
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json


async def line_status_published(app, after: int, listener) -> None:
    """Wait until a `line.status` event commits beyond the first `after` ones."""
    for _ in range(100):
        if sum(name == "line.status" for name in listener) > after:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no line.status event was published")


@pytest.mark.parametrize("keyed", ["open", "end"])
async def test_a_floor_write_retried_after_other_writes_on_its_line_replays_at_once(api, make, app, keyed):
    """The coalesced `line.status` write that a keyed request happened to arm must not touch its key."""
    events: list[str] = []
    app.ctx.db.on_commit(lambda change: events.extend(name for _, name, _ in change.events))
    await make.line("L1")
    if keyed == "end":
        assert (await api.post("/lines/L1/stops", {"reason": "breakdown"}, role="user")).status == 201
    await line_status_published(app, 0 if keyed == "open" else 1, events)
    seen = sum(name == "line.status" for name in events)
    # Just after the line's last line.status: the keyed write arms the next one (due 1 s later).
    path, body = (("/lines/L1/stops", {"reason": "breakdown"}) if keyed == "open"
                  else ("/lines/L1/stops/current/end", None))
    first = await keyed_post(api, path, body)
    assert first.status in (200, 201), first
    await line_status_published(app, seen, events)  # the coalesced write the keyed request armed
    started = asyncio.get_running_loop().time()
    again = await keyed_post(api, path, body)
    assert again.status == first.status, again
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body == first.body
    assert asyncio.get_running_loop().time() - started < 5  # not the 10 s wait for a request in flight
    async with app.ctx.db.session() as session:
        states = (await session.execute(select(IdempotencyKey.state))).scalars().all()
    assert states == ["done"]


async def test_keys_compare_byte_for_byte(api, make, app):
    """Keys that differ only in case are two keys (MariaDB's default collation called them one)."""
    body = await order_body(make)
    other = {**body, "items": [{**body["items"][0], "quantity": 5}]}
    first = await keyed_post(api, "/orders", body, key="Order-Key-7")
    second = await keyed_post(api, "/orders", other, key="order-key-7")
    third = await keyed_post(api, "/orders", body, key="ORDER-KEY-7")
    assert [first.status, second.status, third.status] == [201, 201, 201], (second, third)
    assert "Idempotent-Replayed" not in second.headers and "Idempotent-Replayed" not in third.headers
    assert len({first.json["id"], second.json["id"], third.json["id"]}) == 3
    replayed = await keyed_post(api, "/orders", other, key="order-key-7")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert await count(app, Order) == 3
