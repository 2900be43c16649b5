"""/ws: the live feed through the real server — auth, topics, filters, order, replay, slow clients, closes."""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
import tornado.httpclient
import tornado.websocket

from handlers.live_connections import TOPIC_READERS
from realtime.frames import text_frame
from tests.conftest import PASSWORDS
from tests.feeds import ALL_TOPICS

# Guards against a hang only; nothing here asserts how fast anything is.
WAIT = 15.0
TODAY = datetime.now(UTC).date().isoformat()


async def subscribed_feed(api, feeds, role: str = "user", topics: list[str] = ALL_TOPICS, **options):
    feed = await feeds(await api.token(role))
    reply = await feed.subscribe(topics, **options)
    return feed, reply


async def production_setup(make, lines: tuple[str, ...] = ()):
    # Lines only where a test uses them: a new line's `line.status` follows up to a second later
    # (coalesced), on topic `lines`, taking an id from the one sequence between the ids a test counts.
    for code in lines:
        await make.line(code)
    return await make.product(stock_quantity=0, reorder_level=0), await make.employee()


async def record(api, product, employee, **fields) -> dict[str, Any]:
    body = {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "date_produced": TODAY, **fields}
    response = await api.post("/production", body, role="user")
    assert response.status == 201, response
    return response.json


# -- signing in ---------------------------------------------------------------------------------

async def test_first_message_auth_then_subscribe(api, feeds):
    feed, reply = await subscribed_feed(api, feeds, topics=["production", "orders", "inventory"])
    assert reply == {"type": "subscribed", "topics": ALL_TOPICS, "last_id": reply["last_id"]}
    assert isinstance(reply["last_id"], int)
    assert await feed.pong() == {"type": "pong"}


async def test_token_in_query_or_header_signs_in_and_the_query_token_is_not_logged(api, feeds, caplog):
    caplog.set_level(logging.DEBUG)
    token = await api.token("user")
    by_query = await feeds(query=f"?token={token}")
    assert (await by_query.subscribe(["orders"]))["topics"] == ["orders"]
    by_header = await feeds(headers={"Authorization": f"Bearer {token}"})
    assert (await by_header.subscribe(["orders"]))["topics"] == ["orders"]
    await by_query.pong()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/ws?token=[redacted]" in logged
    assert token not in logged


@pytest.mark.parametrize("name", ["%74oken", "to%6Ben", "TOKEN", "%54oken"])
async def test_a_percent_encoded_token_parameter_is_redacted_in_the_log_too(api, feeds, caplog, name):
    caplog.set_level(logging.DEBUG)
    token = await api.token("user")
    feed = await feeds(query=f"?{name}={token}&since=0")
    if name.lower() in ("%74oken", "to%6ben"):  # the server reads it as `token`: it signs in
        assert (await feed.subscribe(["orders"]))["topics"] == ["orders"]
    await feed.pong()
    feed.close()
    await api.get(f"/auth/me?{name}={token}", role="user")  # the access log of plain HTTP alike
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/ws?{name}=[redacted]&since=0" in logged
    assert token not in logged


@pytest.mark.settings(ws_auth_timeout=0.2)
async def test_no_auth_message_in_time_closes_4401(feeds):
    feed = await feeds()
    assert await feed.until_closed() == (4401, "authentication timed out")


async def expired_token(app) -> str:
    token, _ = app.ctx.auth.tokens.issue(typ="access", user_id=1, role="user", session_id=1, version=0,
                                         ttl=-60)
    return token


async def refresh_token(api) -> str:
    response = await api.login("test_user", PASSWORDS["user"])
    return response.json["refresh_token"]


async def revoked_token(api) -> str:
    response = await api.login("test_user", PASSWORDS["user"])
    token = response.json["access_token"]
    assert (await api.post("/auth/logout", token=token)).status == 204
    return token


BAD_FIRST_MESSAGES = {
    "not auth first": lambda app, api: {"type": "subscribe", "topics": ["orders"]},
    "no token": lambda app, api: {"type": "auth"},
    "empty token": lambda app, api: {"type": "auth", "token": ""},
    "garbage": lambda app, api: {"type": "auth", "token": "not-a-jwt"},
    "expired": lambda app, api: expired_token(app),
    "refresh token": lambda app, api: refresh_token(api),
    "revoked": lambda app, api: revoked_token(api),
}


@pytest.mark.parametrize("case", BAD_FIRST_MESSAGES)
async def test_bad_or_missing_token_closes_4401(app, api, feeds, case):
    message = BAD_FIRST_MESSAGES[case](app, api)
    if not isinstance(message, dict):
        message = {"type": "auth", "token": await message}
    feed = await feeds()
    feed.send(**message)
    code, reason = await feed.until_closed()
    assert code == 4401, reason


async def test_bad_query_token_closes_4401(app, feeds):
    feed = await feeds(query=f"?token={await expired_token(app)}")
    assert await feed.until_closed() == (4401, "authentication failed: token expired")


@pytest.mark.settings(ws_token_check_interval=0.2)
async def test_a_display_token_watches_the_feed_until_revoked(api, feeds):
    minted = await api.post("/auth/display-tokens", {"label": "Hall 3 screen"}, role="admin")
    assert minted.status == 201, minted
    feed = await feeds(minted.json["token"])
    await feed.subscribe()
    assert (await api.delete(f"/auth/display-tokens/{minted.json['id']}", role="admin")).status == 204
    # The periodic token check (every 30 s by default: well within the minute) closes it.
    code, reason = await feed.until_closed()
    assert code == 4401 and "revoked" in reason


# The token lives 5 s: long enough to sign in and subscribe on a loaded machine (with 1 s the
# token sometimes expired before the subscription), short enough for the 20 s hang guard.
@pytest.mark.settings(ws_token_check_interval=0.2, access_token_ttl=5)
async def test_an_expiring_token_closes_the_link(api, feeds):
    feed, _ = await subscribed_feed(api, feeds)
    assert await feed.until_closed() == (4401, "token no longer valid: token expired")


@pytest.mark.settings(ws_token_check_interval=0.2)
async def test_deactivating_the_user_closes_the_link(api, feeds):
    feed, _ = await subscribed_feed(api, feeds)
    me = (await api.get("/auth/me", role="user")).json
    assert (await api.patch(f"/users/{me['id']}", {"is_active": False}, role="super_admin")).status == 200
    code, reason = await feed.until_closed()
    assert code == 4401 and "revoked" in reason


async def test_a_fresh_token_can_be_sent_on_a_live_link(api, feeds):
    feed, _ = await subscribed_feed(api, feeds)
    fresh = (await api.login("test_user", PASSWORDS["user"])).json["access_token"]
    feed.send(type="auth", token=fresh)
    assert await feed.pong() == {"type": "pong"}
    feed.send(type="auth", token="not-a-jwt")
    assert (await feed.until_closed())[0] == 4401


# -- topics and messages -------------------------------------------------------------------------

async def test_a_topic_the_token_may_not_read_closes_4403(app, api, feeds):
    # The contract lets every role read every topic; narrow one on this app to see the rule work.
    app.ctx.live_feed.topic_readers = {**TOPIC_READERS, "orders": ("admin", False)}
    admin, _ = await subscribed_feed(api, feeds, role="admin", topics=["orders"])
    feed = await feeds(await api.token("user"))
    await feed.subscribe(["production"])
    feed.send(type="subscribe", topics=["orders"])
    assert await feed.until_closed() == (4403, "not allowed to read topic orders")
    assert await admin.pong() == {"type": "pong"}


@pytest.mark.parametrize("message, error", [
    ({"type": "subscribe", "topics": ["payroll"]}, "unknown topic(s): payroll"),
    ({"type": "subscribe", "topics": "orders"}, "subscribe needs topics: a list of topic names"),
    ({"type": "subscribe", "topics": []}, "subscribe needs topics: a list of topic names"),
    ({"type": "subscribe", "topics": ["orders"], "since": -1}, "since must be a non-negative integer"),
    ({"type": "subscribe", "topics": ["orders"], "since": "5"}, "since must be a non-negative integer"),
    ({"type": "subscribe", "topics": ["orders"], "filters": {"colour": "red"}}, "unknown filter(s): colour"),
    ({"type": "subscribe", "topics": ["orders"], "filters": {"product_id": "1"}},
     "filter product_id must be a positive integer"),
    ({"type": "subscribe", "topics": ["orders"], "filters": []},
     "filters must be an object with product_id and/or line"),
    ({"type": "unsubscribe"}, "unsubscribe needs topics: a list of topic names"),
    ({"type": "dance"}, "unknown message type 'dance'; expected subscribe, unsubscribe, ping or auth"),
    ({"topics": ["orders"]}, 'a message is a JSON object with a "type"'),
    ([1, 2], 'a message is a JSON object with a "type"'),
])
async def test_bad_messages_get_an_error_frame_and_the_link_stays(api, feeds, message, error):
    feed = await feeds(await api.token("user"))
    feed.conn.write_message(json.dumps(message))
    assert await feed.receive() == {"type": "error", "message": error}
    assert await feed.pong() == {"type": "pong"}


async def test_bad_json_and_binary_frames_get_an_error_frame(api, feeds):
    feed = await feeds(await api.token("user"))
    feed.conn.write_message("{not json")
    assert await feed.receive() == {"type": "error", "message": "the message is not valid JSON"}
    feed.conn.write_message(b"\x00\x01", binary=True)
    assert await feed.receive() == {"type": "error", "message": "send JSON text frames, not binary ones"}
    assert await feed.pong() == {"type": "pong"}


async def test_a_message_over_the_size_limit_closes_1009(api, feeds):
    feed = await feeds(await api.token("user"))
    feed.send(type="ping", padding="x" * 70_000)
    assert (await feed.until_closed())[0] == 1009


async def test_plain_get_is_sent_to_the_asyncapi_document(api):
    response = await api.client.fetch(api.base_url + "/ws", follow_redirects=False, raise_error=False)
    assert response.code == 303
    assert response.headers["Location"] == "/asyncapi.json"
    assert response.headers["Content-Type"].startswith("application/json")


async def test_cross_origin_browsers_need_a_configured_origin(base_url, feeds):
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await feeds(headers={"Origin": "http://evil.example"})
    assert refused.value.code == 403
    host = base_url.removeprefix("http://")
    await feeds(headers={"Origin": f"http://{host}"})


@pytest.mark.settings(ws_origins=("https://screens.example",))
async def test_configured_origins_are_allowed(feeds):
    await feeds(headers={"Origin": "https://screens.example"})


@pytest.mark.settings(rate_limits="read=2/60")
async def test_each_connection_attempt_takes_a_read_token(feeds):
    await feeds()
    await feeds()
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await feeds()
    assert refused.value.code == 429


async def test_shutdown_closes_every_link_with_1001(app, api, feeds):
    signed_in, _ = await subscribed_feed(api, feeds)
    waiting = await feeds()
    await app.shutdown()
    assert (await signed_in.until_closed())[0] == 1001
    assert (await waiting.until_closed())[0] == 1001


# -- events --------------------------------------------------------------------------------------

def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


async def test_every_write_path_emits_its_event_with_the_row_as_the_api_returns_it(api, make, feeds):
    feed, start = await subscribed_feed(api, feeds)
    # The shop floor's topic shares the id sequence: its events fill the gaps between these.
    shop_floor, _ = await subscribed_feed(api, feeds, topics=["lines"])
    product, employee = await production_setup(make, lines=("L1", "L2"))

    created = await record(api, product, employee, quantity_produced=12, quantity_defective=2, line="L1")
    stock, recorded = await feed.events(2)
    assert (recorded["topic"], recorded["event"]) == ("production", "production.recorded")
    assert recorded["data"] == (await api.get(f"/production/{created['id']}", role="user")).json
    assert (stock["topic"], stock["event"]) == ("inventory", "stock.changed")
    assert without(stock["data"], "delta", "reason") == (
        await api.get(f"/products/{product['id']}", role="user")).json
    assert (stock["data"]["delta"], stock["data"]["reason"], stock["data"]["stock_quantity"]) == (
        10, "production", 10)

    assert (await api.patch(f"/production/{created['id']}", {"line": "L2"}, role="admin")).status == 200
    [updated] = await feed.events(1)
    assert updated["event"] == "production.updated"
    assert updated["data"] == (await api.get(f"/production/{created['id']}", role="user")).json
    assert updated["data"]["line"] == "L2"

    last_seen = updated["data"]
    assert (await api.delete(f"/production/{created['id']}", role="admin")).status == 204
    taken_back, low, deleted = await feed.events(3)
    assert (deleted["event"], deleted["data"]) == ("production.deleted", last_seen)
    assert (taken_back["event"], taken_back["data"]["delta"]) == ("stock.changed", -10)
    # Stock 0 is at the reorder level 0: taking stock out down to it is a low-stock warning too.
    assert (low["topic"], low["event"]) == ("inventory", "stock.low")
    assert low["data"] == (await api.get(f"/products/{product['id']}", role="user")).json

    customer = await make.customer()
    order = await api.create("orders", {"customer_id": customer["id"],
                                        "items": [{"product_id": product["id"], "quantity": 3}]}, role="user")
    [placed] = await feed.events(1)
    assert (placed["topic"], placed["event"]) == ("orders", "order.created")
    assert placed["data"] == (await api.get(f"/orders/{order['id']}", role="user")).json

    assert (await api.patch(f"/orders/{order['id']}", {"status": "confirmed"}, role="admin")).status == 200
    [confirmed] = await feed.events(1)
    assert confirmed["event"] == "order.status_changed"
    assert confirmed["data"]["previous_status"] == "pending"
    assert without(confirmed["data"], "previous_status") == (
        await api.get(f"/orders/{order['id']}", role="user")).json

    events = [recorded, stock, updated, taken_back, deleted, low, placed, confirmed]
    ids = sorted(event["id"] for event in events)
    floor_ids = {frame["id"] for frame in await shop_floor.quiet() if frame["type"] == "event"}
    assert sorted({*ids, *(i for i in floor_ids if i < ids[-1])}) == list(range(start["last_id"] + 1,
                                                                                ids[-1] + 1))
    for event in events:
        assert set(event) == {"type", "id", "topic", "event", "at", "data"}
        assert event["at"].endswith("Z") and datetime.fromisoformat(event["at"])


async def test_stock_low_fires_at_or_below_the_reorder_level(api, make, feeds):
    feed, _ = await subscribed_feed(api, feeds, topics=["inventory"])
    product = await make.product(stock_quantity=20, reorder_level=5)
    adjust = f"/products/{product['id']}/stock-adjustments"
    for delta in (-10, -5, -1, 30):
        assert (await api.post(adjust, {"delta": delta, "reason": "count"}, role="admin")).status == 201
    seen = await feed.events(7)
    assert [(e["event"], e["data"]["stock_quantity"]) for e in seen] == [
        ("stock.changed", 20), ("stock.changed", 10), ("stock.changed", 5), ("stock.low", 5),
        ("stock.changed", 4), ("stock.low", 4), ("stock.changed", 34)]
    assert await feed.pong() == {"type": "pong"}


async def test_filters_narrow_a_subscription(api, make, feeds):
    first, employee = await production_setup(make, lines=("L1", "L2"))
    second = await make.product()
    by_product, _ = await subscribed_feed(api, feeds, topics=["production"],
                                          filters={"product_id": first["id"]})
    by_line, _ = await subscribed_feed(api, feeds, topics=["production"], filters={"line": "L2"})
    await record(api, second, employee, line="L1")
    wanted_product = await record(api, first, employee, line="L1")
    wanted_line = await record(api, second, employee, line="L2")
    assert [e["data"]["id"] for e in await by_product.events(1)] == [wanted_product["id"]]
    assert [e["data"]["id"] for e in await by_line.events(1)] == [wanted_line["id"]]
    assert await by_product.pong() == {"type": "pong"}
    assert await by_line.pong() == {"type": "pong"}


async def test_unsubscribe_stops_a_topic(api, make, feeds):
    feed, _ = await subscribed_feed(api, feeds)
    feed.send(type="unsubscribe", topics=["inventory", "payroll"])
    assert await feed.receive() == {"type": "unsubscribed", "topics": ["orders", "production"]}
    product, employee = await production_setup(make)
    created = await record(api, product, employee)
    [event] = await feed.events(1)
    assert (event["event"], event["data"]["id"]) == ("production.recorded", created["id"])
    assert await feed.pong() == {"type": "pong"}


async def test_a_rolled_back_write_emits_nothing(api, make, feeds):
    plenty = await make.product(stock_quantity=100)
    short = await make.product(stock_quantity=1)
    customer = await make.customer()
    items = [{"product_id": plenty["id"], "quantity": 5}, {"product_id": short["id"], "quantity": 5}]
    order = await api.create("orders", {"customer_id": customer["id"], "items": items}, role="user")
    for status in ("confirmed", "in_production"):
        assert (await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")).status == 200
    feed, start = await subscribed_feed(api, feeds)
    # Shipping takes the first product's stock, then finds the second short: the whole write rolls back,
    # and the stock.changed it had queued for the first product must never be published.
    refused = await api.patch(f"/orders/{order['id']}", {"status": "shipped"}, role="admin")
    assert refused.status == 409, refused
    adjusted = await api.post(f"/products/{plenty['id']}/stock-adjustments", {"delta": 1, "reason": "count"},
                              role="admin")
    assert adjusted.status == 201
    [event] = await feed.events(1)
    assert event["id"] == start["last_id"] + 1
    assert (event["event"], event["data"]["stock_quantity"], event["data"]["delta"]) == (
        "stock.changed", 101, 1)


# -- replay ----------------------------------------------------------------------------------------

async def last_event_id(api) -> int:
    return (await api.get("/dashboard/state", role="user")).json["last_event_id"]


async def test_since_resumes_across_a_reconnect_with_no_gap_or_duplicate(api, make, feeds):
    product, employee = await production_setup(make)
    first, _ = await subscribed_feed(api, feeds)
    for _ in range(3):
        await record(api, product, employee)
    seen = await first.events(6)
    resume_from = seen[-1]["id"]
    first.close()

    for _ in range(3):  # missed while disconnected
        await record(api, product, employee)

    async def keep_writing() -> None:
        for _ in range(5):
            await record(api, product, employee)

    writer = asyncio.ensure_future(keep_writing())
    second = await feeds(await api.token("user"))
    reply = await second.subscribe(since=resume_from)  # the seam lands somewhere inside the writes
    await writer
    final = await last_event_id(api)
    assert resume_from + 6 <= reply["last_id"] <= final
    resumed = await second.events(final - resume_from)
    assert [event["id"] for event in resumed] == list(range(resume_from + 1, final + 1))
    assert await second.pong() == {"type": "pong"}  # and nothing after


@pytest.mark.settings(ws_replay_size=4)
async def test_since_older_than_the_replay_buffer_gets_resync(api, make, feeds):
    product, employee = await production_setup(make)
    for _ in range(3):
        await record(api, product, employee)
    last = await last_event_id(api)
    feed = await feeds(await api.token("user"))
    reply = await feed.subscribe(since=1)
    resync = await feed.receive()
    assert resync["type"] == "resync" and "older than the replay buffer" in resync["reason"]
    assert reply["last_id"] == last

    ahead = await feeds(await api.token("user"))
    await ahead.subscribe(since=last + 100)
    resync = await ahead.receive()
    assert resync["type"] == "resync" and "ahead" in resync["reason"]

    created = await record(api, product, employee)  # a resynced subscription is live from here
    events = await feed.events(2)
    assert [e["id"] for e in events] == [last + 1, last + 2]
    assert events[1]["data"]["id"] == created["id"]


@pytest.mark.settings(ws_replay_size=100)
async def test_since_within_the_buffer_replays_only_the_subscribed_topics(api, make, feeds):
    product, employee = await production_setup(make)
    before = await last_event_id(api)
    created = [await record(api, product, employee) for _ in range(2)]
    feed = await feeds(await api.token("user"))
    await feed.subscribe(["production"], since=before)
    replayed = await feed.events(2)
    assert [e["data"]["id"] for e in replayed] == [row["id"] for row in created]
    assert all(e["topic"] == "production" for e in replayed)


# -- slow clients ----------------------------------------------------------------------------------

class StalledClient:
    """Completes the handshake, signs in and subscribes over a raw socket, then stops reading."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, port: int, token: str, topics: list[str]) -> StalledClient:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window fills fast
        sock.setblocking(False)
        client = cls(sock)
        await client.loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        await client.loop.sock_sendall(sock, (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # byte by byte: nothing of the first frame is consumed
            head += await client.read(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        await client.send({"type": "auth", "token": token})
        await client.send({"type": "subscribe", "topics": topics})
        opcode, payload = await client.frame()
        assert (opcode, json.loads(payload)["type"]) == (0x1, "subscribed")
        return client

    async def read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = await self.loop.sock_recv(self.sock, size - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    async def send(self, message: dict[str, Any]) -> None:
        payload, mask = json.dumps(message).encode(), os.urandom(4)
        assert len(payload) < 0x10000
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))  # FIN + text, masked, 16-bit size
        await self.loop.sock_sendall(self.sock, header + mask + masked)

    async def frame(self) -> tuple[int, bytes]:
        first, second = await self.read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.read(8))[0]
        return first & 0x0F, await self.read(size)

    async def close_code(self) -> int:
        """Read on at last, through everything buffered, to the close frame."""
        while True:
            opcode, payload = await asyncio.wait_for(self.frame(), WAIT)
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]

    def close(self) -> None:
        self.sock.close()


@pytest.mark.settings(ws_queue_size=4)
async def test_a_stalled_client_is_closed_1013_and_never_delays_the_others(api, make, feeds, base_url):
    # Big events (a long description rides along in every stock event) fill the socket buffers quickly.
    product = await make.product(description="\U0001d4e7" * 5000)
    port = int(base_url.rsplit(":", 1)[1])
    stalled = await StalledClient.connect(port, await api.token("user"), ["inventory"])
    try:
        fast, start = await subscribed_feed(api, feeds, topics=["inventory"])
        burst = 40
        reading = asyncio.ensure_future(fast.events(burst))  # reads as they come, like a live screen
        for _ in range(burst):
            response = await api.post(f"/products/{product['id']}/stock-adjustments",
                                      {"delta": 1, "reason": "count"}, role="admin")
            assert response.status == 201
        received = await reading  # all of them, while the other client still reads nothing
        assert [e["id"] for e in received] == list(range(start["last_id"] + 1, start["last_id"] + burst + 1))
        assert received[-1]["data"]["stock_quantity"] == burst
        assert await fast.pong() == {"type": "pong"}
        assert await stalled.close_code() == 1013
    finally:
        stalled.close()


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_text_frames_carry_every_length(size):
    text = "é" * (size // 2) + "x" * (size % 2)
    frame = text_frame(text)
    first, second = frame[0], frame[1]
    assert first == 0x81 and not second & 0x80  # FIN + text, unmasked
    if second < 126:
        length, start = second, 2
    elif second == 126:
        length, start = struct.unpack("!H", frame[2:4])[0], 4
    else:
        length, start = struct.unpack("!Q", frame[2:10])[0], 10
    assert length == len(text.encode()) == len(frame) - start
    assert frame[start:].decode() == text
    assert text_frame(text) is frame  # the same text is framed once for every subscriber
