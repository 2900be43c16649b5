"""/webhooks: endpoints, signed deliveries from the outbox, retries, ordering, failing, ping, SSRF."""
from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime
from urllib.parse import quote

import pytest
from sqlalchemy import insert, select
from standardwebhooks import Webhook as Verifier

from app import make_app
from models import OutboxEvent, Webhook, WebhookDelivery, utcnow
from services.integrations.webhooks import newest_event_id
from tests.receivers import Receiver
from tests.waiting import eventually

FAST = dict(webhook_allow_private=True, webhook_retry_base=0.05, webhook_retry_cap=0.2,
            webhook_poll_interval=0.05)
fast = pytest.mark.settings(**FAST)


@pytest.fixture
def receiver(io_loop):
    started = Receiver().start()
    yield started
    started.stop()


async def register(api, url, topics=("orders",), **fields):
    response = await api.post("/webhooks", {"url": url, "topics": list(topics), **fields}, role="admin")
    assert response.status == 201, response
    return response.json


def parse_instant(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def verify(hook, request):
    """The package's own verifier: raises unless the signature and timestamp check out."""
    return Verifier(hook["secret"]).verify(request.body, request.headers)


async def place_order(api, make):
    customer = await make.customer()
    product = await make.product(price="4.00")
    response = await api.post("/orders", {"customer_id": customer["id"], "product_id": product["id"],
                                          "quantity": 1}, role="user")
    assert response.status == 201, response
    return response.json


async def deliveries(api, hook, at_least=0):
    """The endpoint's attempts, once `at_least` are logged: the receiver sees a request before the
    worker commits the attempt's row, so a test that waited for requests waits for rows too."""
    items = []

    async def logged():
        nonlocal items
        response = await api.get(f"/webhooks/{hook['id']}/deliveries?per_page=100", role="admin")
        assert response.status == 200, response
        items = response.json["items"]
        return len(items) >= at_least

    assert await eventually(logged), f"{len(items)} attempts logged, waited for {at_least}"
    return items


# -- the endpoints ------------------------------------------------------------------------------

@fast
async def test_the_secret_is_shown_once_and_follows_the_standard(api, receiver):
    hook = await register(api, receiver.url, topics=["orders", "inventory"], description="ERP")
    assert hook["secret"].startswith("whsec_")
    assert len(base64.b64decode(hook["secret"].removeprefix("whsec_"))) >= 24
    assert hook["topics"] == ["inventory", "orders"] and hook["active"] is True and hook["state"] == "healthy"
    shown = await api.get(f"/webhooks/{hook['id']}", role="admin")
    assert shown.status == 200 and "secret" not in shown.json
    listed = await api.get("/webhooks", role="admin")
    assert [item["id"] for item in listed.json["items"]] == [hook["id"]]
    assert all("secret" not in item for item in listed.json["items"])


@fast
async def test_users_may_not_touch_webhooks(api, receiver):
    refused = await api.post("/webhooks", {"url": receiver.url, "topics": ["orders"]}, role="user")
    assert refused.status == 403
    assert (await api.get("/webhooks", role="user")).status == 403


@fast
@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://example.com/x", "topics": ["orders"]}, "url"),
    ({"url": "http://user:pw@127.0.0.1/x", "topics": ["orders"]}, "url"),
    ({"url": "not a url", "topics": ["orders"]}, "url"),
    ({"url": "http://127.0.0.1/x", "topics": []}, "topics"),
    ({"url": "http://127.0.0.1/x", "topics": ["weather"]}, "topics"),
    ({"url": "http://127.0.0.1/x", "topics": ["orders", "orders"]}, "topics"),
    ({"url": "http://127.0.0.1/x"}, "topics"),
    ({"url": "http://127.0.0.1/x", "topics": ["orders"], "secret": "whsec_mine"}, "secret"),
])
async def test_bad_endpoints_are_422_naming_the_field(api, app, body, field):
    response = await api.post("/webhooks", body, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get("/webhooks", role="admin")).json["meta"]["total"] == 0


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost:9/hook", "http://[::1]:9/hook", "http://10.1.2.3/hook",
    "http://192.168.0.10/hook", "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/hook",
    "http://[::ffff:127.0.0.1]/hook",
])
async def test_private_and_loopback_urls_are_refused_without_the_opt_in(api, app, url):
    response = await api.post("/webhooks", {"url": url, "topics": ["orders"]}, role="admin")
    assert response.status == 422, response
    assert "url" in response.json["errors"]
    assert "FACTORY_WEBHOOK_ALLOW_PRIVATE" in response.json["errors"]["url"][0]


async def test_changing_the_url_to_a_private_one_is_refused_too(api, app):
    response = await api.post("/webhooks", {"url": "http://93.184.215.14/hook", "topics": ["orders"],
                                            "active": False},
                              role="admin")  # a public address literal: checked, never contacted
    assert response.status == 201, response
    changed = await api.patch(f"/webhooks/{response.json['id']}", {"url": "http://127.0.0.1/x"}, role="admin")
    assert changed.status == 422 and "url" in changed.json["errors"]


# -- delivery -----------------------------------------------------------------------------------

@fast
async def test_an_order_reaches_the_endpoint_signed_with_the_live_feed_envelope(api, make, app, receiver):
    hook = await register(api, receiver.url)
    order = await place_order(api, make)
    (request,) = await receiver.wait_for(1)
    payload = verify(hook, request)
    assert payload["type"] == payload["event"] == "order.created" and payload["topic"] == "orders"
    assert payload["timestamp"] == payload["at"] and payload["at"].endswith("Z")
    assert payload["data"] == order
    assert request.headers["Webhook-Id"] == f"evt_{payload['id']}"
    assert request.headers["Content-Type"] == "application/json"
    async with app.ctx.db.session() as session:
        row = await session.get(OutboxEvent, payload["id"])
    assert row.event == "order.created" and json.loads(row.data) == order


@fast
async def test_a_receiver_failing_three_times_gets_the_event_once_more_after_each(api, make, app):
    receiver = Receiver(500, 503, 502).start()
    try:
        hook = await register(api, receiver.url)
        await place_order(api, make)
        requests = await receiver.wait_for(4)
        await asyncio.sleep(0.5)  # room for a wrong fifth delivery to show up
        assert len(receiver.requests) == 4
        assert len({r.headers["Webhook-Id"] for r in requests}) == 1
        assert len({r.body for r in requests}) == 1
        for request in requests:
            verify(hook, request)
        attempts = await deliveries(api, hook, at_least=4)
        assert [(a["attempt"], a["status"], a["response_code"]) for a in attempts] == [
            (1, "failed", 500), (2, "failed", 503), (3, "failed", 502), (4, "delivered", 200)]
        assert all(a["next_retry_at"] for a in attempts[:3]) and attempts[3]["next_retry_at"] is None
        assert all(a["duration_ms"] >= 0 and a["event"] == "order.created" for a in attempts)
        state = (await api.get(f"/webhooks/{hook['id']}", role="admin")).json
        assert state["state"] == "healthy" and state["attempts"] == 0
    finally:
        receiver.stop()


@fast
async def test_events_arrive_in_id_order_even_across_retries(api, make, app):
    receiver = Receiver(500, 500)
    receiver.start()
    try:
        await register(api, receiver.url, topics=["orders"])
        placed = [await place_order(api, make) for _ in range(4)]
        await receiver.wait_for(6)
        await asyncio.sleep(0.3)
        ids = [event["id"] for event in receiver.events()]
        first_success = ids[2:]
        assert ids[:3] == [ids[0]] * 3  # the first event, twice refused, then taken
        assert first_success == sorted(first_success) and len(set(first_success)) == 4
        assert [event["data"]["id"] for event in receiver.events()[2:]] == [o["id"] for o in placed]
    finally:
        receiver.stop()


@fast
async def test_an_endpoint_only_gets_its_topics(api, make, app, receiver):
    await register(api, receiver.url, topics=["inventory"])
    product = await make.product(stock_quantity=1)
    await place_order(api, make)
    response = await api.post(f"/products/{product['id']}/stock-adjustments", {"delta": 2, "reason": "count"},
                              role="admin")
    assert response.status == 201
    await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    assert {event["topic"] for event in receiver.events()} == {"inventory"}
    assert "stock.changed" in {event["event"] for event in receiver.events()}


@fast
async def test_a_redirect_is_not_followed(api, make, app):
    receiver = Receiver(302).start()
    try:
        hook = await register(api, receiver.url)
        await place_order(api, make)
        requests = await receiver.wait_for(2)
        assert [r.path for r in requests[:2]] == ["/hook/", "/hook/"]
        attempts = await deliveries(api, hook, at_least=1)
        assert attempts[0]["status"] == "failed" and attempts[0]["response_code"] == 302
        assert "redirect" in attempts[0]["error"]
    finally:
        receiver.stop()


@pytest.mark.settings(**{**FAST, "webhook_retry_window": 0.3})
async def test_after_the_retry_window_the_endpoint_is_failing_until_re_enabled(api, make, app):
    receiver = Receiver(status=500).start()
    try:
        hook = await register(api, receiver.url)
        await place_order(api, make)
        for _ in range(600):
            state = (await api.get(f"/webhooks/{hook['id']}", role="admin")).json
            if state["state"] == "failing":
                break
            await asyncio.sleep(0.05)
        assert state["state"] == "failing" and state["active"] is False
        assert "retry window" in state["disabled_reason"] and "HTTP 500" in state["disabled_reason"]
        tried = len(receiver.requests)
        await place_order(api, make)
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == tried  # stopped: nothing more is sent

        receiver.status = 200
        enabled = await api.patch(f"/webhooks/{hook['id']}", {"active": True}, role="admin")
        assert enabled.status == 200 and enabled.json["state"] == "healthy"
        assert enabled.json["disabled_reason"] is None
        requests = await receiver.wait_for(tried + 2)
        orders = [r.json["data"]["id"] for r in requests[tried:]]
        assert orders == sorted(orders) and len(orders) == 2
    finally:
        receiver.stop()


@fast
async def test_a_ping_is_sent_now_and_logged(api, app, receiver):
    hook = await register(api, receiver.url)
    response = await api.post(f"/webhooks/{hook['id']}/test", role="admin")
    assert response.status == 200, response
    assert response.json["status"] == "delivered" and response.json["response_code"] == 200
    (request,) = receiver.requests
    pinged = verify(hook, request)
    assert pinged["event"] == pinged["type"] == "webhook.ping" and pinged["timestamp"] == pinged["at"]
    assert [a["event"] for a in await deliveries(api, hook)] == ["webhook.ping"]
    assert (await api.post("/webhooks/999999/test", role="admin")).status == 404


@fast
async def test_a_rolled_back_write_leaves_no_event_in_the_outbox(api, make, app):
    product = await make.product(stock_quantity=0)
    async with app.ctx.db.session() as session:
        before = (await session.execute(select(OutboxEvent.id))).scalars().all()
    refused = await api.post(f"/products/{product['id']}/stock-adjustments", {"delta": -1, "reason": "x"},
                             role="admin")
    assert refused.status == 409
    async with app.ctx.db.session() as session:
        after = (await session.execute(select(OutboxEvent.id))).scalars().all()
    assert after == before


@fast
async def test_every_committed_event_is_in_the_outbox_in_emit_order(api, make, app):
    emitted = []
    app.ctx.db.on_commit(lambda change: emitted.extend((name, data) for _, name, data in change.events))
    product = await make.product(stock_quantity=3)
    await place_order(api, make)
    await api.post(f"/products/{product['id']}/stock-adjustments", {"delta": 2, "reason": "count"},
                   role="admin")
    async with app.ctx.db.session() as session:
        rows = (await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars().all()
    assert [(row.event, json.loads(row.data)) for row in rows] == [
        (name, json.loads(json.dumps(data, default=str))) for name, data in emitted]
    assert len(rows) >= 3


@fast
async def test_deleting_an_endpoint_stops_its_deliveries(api, make, app, receiver):
    hook = await register(api, receiver.url)
    assert (await api.delete(f"/webhooks/{hook['id']}", role="admin")).status == 204
    await place_order(api, make)
    await asyncio.sleep(0.3)
    assert receiver.requests == []
    assert (await api.get(f"/webhooks/{hook['id']}/deliveries", role="admin")).status == 404


# -- commit order (MariaDB hands out ids before transactions commit, in any order) ---------------

async def hold_event(app):
    """An outbox row inserted in a transaction left open, as a slow writer's would be."""
    conn = await app.ctx.db.engine.connect()
    transaction = await conn.begin()
    await conn.execute(insert(OutboxEvent).values(topic="orders", event="order.created", at=utcnow(),
                                                   data='{"held":true}'))
    return conn, transaction


@pytest.mark.settings(**{**FAST, "webhook_gap_wait": 30.0})
async def test_an_event_committed_late_is_not_skipped(api, make, app, receiver, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite commits one writer at a time: ids always commit in order")
    await register(api, receiver.url)
    await place_order(api, make)
    await receiver.wait_for(1)
    conn, transaction = await hold_event(app)
    try:
        order = await place_order(api, make)  # a higher id, committed first
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 1  # waits for the gap below it
        await transaction.commit()
    finally:
        await conn.close()
    first, second = (request.json for request in (await receiver.wait_for(3))[1:])
    assert first["data"] == {"held": True} and second["data"] == order
    assert first["id"] < second["id"]


@pytest.mark.settings(**{**FAST, "webhook_gap_wait": 0.3})
async def test_a_rolled_back_event_id_is_skipped_after_the_gap_wait(api, make, app, receiver, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite reuses a rolled-back id: there is no gap")
    await register(api, receiver.url)
    conn, transaction = await hold_event(app)
    await transaction.rollback()
    await conn.close()
    order = await place_order(api, make)
    (request,) = await receiver.wait_for(1)
    assert request.json["data"] == order


@pytest.mark.settings(**{**FAST, "webhook_delivery": False})
async def test_a_server_that_delivers_no_webhooks_sends_nothing(api, make, app, receiver):
    hook = await register(api, receiver.url)
    await place_order(api, make)
    assert (await api.post(f"/webhooks/{hook['id']}/test", role="admin")).status == 409
    await asyncio.sleep(0.3)
    assert receiver.requests == []


@pytest.mark.settings(**{**FAST, "webhook_lease": 2.0})
async def test_a_long_run_to_a_slow_receiver_keeps_its_lease(api, make, app):
    """A second worker on the same database (another process's, in effect) never takes the endpoint
    over while the first is still delivering: the lease is renewed with every event."""
    receiver = Receiver(delay=0.35).start()  # one attempt stays well inside the lease
    rival = make_app(app.ctx.settings)
    await rival.start()
    try:
        await register(api, receiver.url)
        placed = [await place_order(api, make) for _ in range(8)]  # 8 × 0.35 s: past the lease
        await receiver.wait_for(8)
        await asyncio.sleep(1.0)  # room for a duplicate to show up
        ids = [request.json["id"] for request in receiver.requests]
        assert len(ids) == len(set(ids)) == 8 and ids == sorted(ids)
        assert [request.json["data"]["id"] for request in receiver.requests] == [o["id"] for o in placed]
    finally:
        await rival.close()
        receiver.stop()


@pytest.mark.settings(webhook_allow_private=True, webhook_poll_interval=30.0)  # no poll in the test
async def test_writes_do_not_wake_the_worker_while_no_webhook_is_active(api, make, app, receiver):
    """With no endpoint, the worker's first turn finds none and later writes leave it asleep (each
    used to cost it two reads and a transaction); registering one wakes it as before."""
    from sqlalchemy import event

    polls: list[str] = []

    def statement(conn, cursor, sql, params, context, many):
        if "FROM webhooks" in sql:
            polls.append(sql)

    await place_order(api, make)
    await asyncio.sleep(0.2)  # the turn that finds no endpoint
    event.listen(app.ctx.db.engine.sync_engine, "before_cursor_execute", statement)
    try:
        for _ in range(5):
            await place_order(api, make)
        await asyncio.sleep(0.2)
        assert polls == []
        hook = await register(api, receiver.url)
        placed = await place_order(api, make)
        await receiver.wait_for(1)
        assert receiver.requests[-1].json["data"]["id"] == placed["id"]
        assert polls and hook["id"]
    finally:
        event.remove(app.ctx.db.engine.sync_engine, "before_cursor_execute", statement)


@fast
async def test_an_endpoints_deliveries_are_its_own_only(api, make, app):
    receivers = [Receiver().start(), Receiver().start()]
    try:
        hooks = [await register(api, receiver.url) for receiver in receivers]
        for _ in range(3):
            await place_order(api, make)
        for receiver in receivers:
            await receiver.wait_for(3)
        pinged = await api.post(f"/webhooks/{hooks[1]['id']}/test", role="admin")
        assert pinged.status == 200
        for hook, count in zip(hooks, (3, 4), strict=True):
            attempts = await deliveries(api, hook, at_least=count)
            assert len(attempts) == count and {a["webhook_id"] for a in attempts} == {hook["id"]}
            first = await api.get(f"/webhooks/{hook['id']}/deliveries?per_page=2", role="admin")
            assert first.status == 200 and first.json["meta"]["total"] == count, first
            after = await api.get(f"/webhooks/{hook['id']}/deliveries?per_page=2&cursor="
                                  f"{quote(first.json['meta']['next_cursor'])}", role="admin")
            assert after.status == 200, after
            seen = first.json["items"] + after.json["items"]
            assert [a["id"] for a in seen] == [a["id"] for a in attempts][:4]
    finally:
        for receiver in receivers:
            receiver.stop()


@fast
async def test_a_410_switches_the_endpoint_off_with_its_reason(api, make, app, caplog):
    receiver = Receiver(410).start()
    try:
        hook = await register(api, receiver.url)
        await place_order(api, make)
        await receiver.wait_for(1)
        for _ in range(200):
            state = (await api.get(f"/webhooks/{hook['id']}", role="admin")).json
            if not state["active"]:
                break
            await asyncio.sleep(0.05)
        assert state["active"] is False and state["state"] == "failing"
        assert "410" in state["disabled_reason"]
        assert any("410" in record.getMessage() for record in caplog.records
                   if record.name == "factory.webhooks")
        (attempt,) = await deliveries(api, hook, at_least=1)
        assert attempt["status"] == "failed" and attempt["response_code"] == 410
        assert attempt["next_retry_at"] is None
        await place_order(api, make)
        await asyncio.sleep(0.4)
        assert len(receiver.requests) == 1  # gone means gone: nothing more, no retry

        enabled = await api.patch(f"/webhooks/{hook['id']}", {"active": True}, role="admin")
        assert enabled.status == 200 and enabled.json["disabled_reason"] is None
        await receiver.wait_for(3)
        assert [r.status for r in receiver.requests] == [410, 200, 200]
        assert receiver.requests[1].body == receiver.requests[0].body  # from the event it refused
    finally:
        receiver.stop()


@fast
@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_on_429_and_503_is_honoured(api, make, app, status):
    receiver = Receiver(status, headers={"Retry-After": "1"}).start()
    try:
        hook = await register(api, receiver.url)
        await place_order(api, make)
        await receiver.wait_for(2)
        failed, delivered = await deliveries(api, hook, at_least=2)
        assert failed["response_code"] == status and delivered["status"] == "delivered"
        waited = (parse_instant(failed["next_retry_at"]) - parse_instant(failed["attempted_at"]))
        assert waited.total_seconds() >= 1.0  # the backoff alone is at most 0.2 s here
        assert parse_instant(delivered["attempted_at"]) >= parse_instant(failed["next_retry_at"])
    finally:
        receiver.stop()


@pytest.mark.settings(**{**FAST, "webhook_retry_window": 1.0})
async def test_a_retry_after_past_the_retry_window_is_cut_to_the_window(api, make, app):
    receiver = Receiver(status=503, headers={"Retry-After": "86400"}).start()
    try:
        hook = await register(api, receiver.url)
        await place_order(api, make)
        await receiver.wait_for(1)
        for _ in range(200):
            state = (await api.get(f"/webhooks/{hook['id']}", role="admin")).json
            if state["state"] == "failing":
                break
            await asyncio.sleep(0.05)
        assert state["state"] == "failing" and state["active"] is False  # not a day later
        first = (await deliveries(api, hook, at_least=1))[0]
        waited = parse_instant(first["next_retry_at"]) - parse_instant(first["attempted_at"])
        assert 0 < waited.total_seconds() <= 1.0
    finally:
        receiver.stop()


@fast
async def test_deliveries_to_an_endpoint_share_one_kept_alive_connection(api, make, app, receiver):
    await register(api, receiver.url)
    for _ in range(5):
        await place_order(api, make)
    requests = await receiver.wait_for(5)
    assert len({request.stream for request in requests}) == 1


@pytest.mark.settings(webhook_allow_private=False, webhook_poll_interval=0.05)
async def test_an_address_inside_the_network_is_never_connected_to_at_delivery(api, make, app, receiver):
    """The address is checked where the connection is made, not only when the URL was saved (an
    endpoint saved while its name was public, whose DNS answer changed since)."""
    async with app.ctx.db.write() as uow:
        uow.session.add(Webhook(url=receiver.url, topics="orders", secret="whsec_" + "A" * 32,
                                active=True, state="healthy", attempts=0,
                                last_event_id=await newest_event_id(uow.session)))
        uow.touch("webhooks")
    await place_order(api, make)
    for _ in range(200):
        async with app.ctx.db.session() as session:
            tried = (await session.execute(select(WebhookDelivery))).scalars().all()
        if tried:
            break
        await asyncio.sleep(0.05)
    assert tried and tried[0].status == "failed" and tried[0].response_code is None
    assert "non-public" in tried[0].error
    assert receiver.requests == []
