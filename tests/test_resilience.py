"""Failure behaviour: the database or Redis goes away behind a TCP proxy the test controls.

The server under test reaches MariaDB (and Redis) through `TcpProxy`, which the test can cut in
two ways: `refuse` (listening socket closed, every link reset — a stopped server) and `blackhole`
(links stay open but nothing gets through — a partition or a stalled network, where a naive
client hangs). The shared MariaDB and Redis are never touched.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
import tornado.httpserver
import tornado.testing
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app import make_app
from models import Product
from tests.conftest import PASSWORDS, REDIS_URL, Api, skip_unless_available
from tests.feeds import Feed, ws_url
from tests.servers import ServerProcess, server_env
from tests.waiting import answered, eventually


class TcpProxy:
    """A TCP relay in its own thread and event loop, so the server's loop can't slow it down."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.mode = "open"  # open | blackhole | refuse
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> TcpProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def cut(self, mode: str) -> None:
        """`refuse`: stop listening and reset every link. `blackhole`: keep links, drop all data."""
        assert mode in ("refuse", "blackhole")
        self.mode = mode
        if mode == "refuse":
            self._run(self._shut())

    def restore(self) -> None:
        """Forward again; links held through a blackhole are dropped, as a timed-out TCP link would be."""
        self._run(self._reopen())

    def stop(self) -> None:
        self._run(self._shut())
        self._run(self._cancel_relays())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _cancel_relays(self) -> None:
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    async def _reopen(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self.mode = "open"
        if self._server is None:
            await self._listen()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode != "open":
            await self._pipe(reader, None)  # a blackholed connect: accepted, then silence
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None) -> None:
        try:
            while data := await reader.read(65536):
                if self.mode == "open" and writer is not None:
                    writer.write(data)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if writer is not None and self.mode == "open":
                writer.close()


def proxied(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


@pytest.fixture
def direct_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        pytest.skip("an outage needs a networked database: MariaDB only")
    return database_url


@pytest.fixture
def db_proxy(direct_url: str) -> Any:
    url = make_url(direct_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 3306).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def redis_proxy() -> Any:
    skip_unless_available(bool(REDIS_URL), "Redis outage tests need FACTORY_TEST_REDIS_URL "
                          "(e.g. redis://127.0.0.1:6379/15)")
    url = urlsplit(REDIS_URL)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 6379).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def settings(settings: Any, request: pytest.FixtureRequest) -> Any:
    """The app reaches MariaDB and/or Redis through the proxies the test asks for."""
    changes: dict[str, Any] = {}
    if "db_proxy" in request.fixturenames:
        changes["database_url"] = proxied(request.getfixturevalue("direct_url"),
                                          request.getfixturevalue("db_proxy"))
    if "redis_proxy" in request.fixturenames:
        proxy = request.getfixturevalue("redis_proxy")
        database = urlsplit(REDIS_URL).path.strip("/") or "0"
        changes.update(redis_url=f"redis://127.0.0.1:{proxy.port}/{database}",
                       redis_prefix=request.getfixturevalue("redis_prefix"))
    return settings.with_(**changes)


@pytest.fixture
def db_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="factory.db")
    return caplog


async def wait_ready(api: Any) -> None:
    async def ready() -> bool:
        return (await api.get("/readyz")).status == 200

    assert await eventually(ready), "the server did not recover after the database came back"


def assert_unavailable(response: Any) -> None:
    assert response.status == 503, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json["status"] == 503
    assert "Retry-After" in response.headers
    assert b"Traceback" not in response.body and b"SELECT" not in response.body


async def product_skus(url: str) -> set[str]:
    """What the database itself holds, read over a direct link (not through the proxy)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set((await conn.execute(select(Product.sku))).scalars())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_database_outage_gives_fast_503_and_recovers_by_itself(api, make, db_proxy, db_log, mode):
    kept = await make.product(sku="KEPT-1")
    await api.token("admin")
    await api.token("user")
    assert (await api.get("/products", role="user")).status == 200  # the pool holds live connections now
    assert (await api.get("/readyz")).status == 200

    db_proxy.cut(mode)
    # An uncached read and a write: both need the database.
    for call in (api.get("/products?per_page=7", role="user"),
                 api.post("/products", {"sku": "LOST-1", "name": "x", "price": "1.00"}, role="admin"),
                 api.get("/customers", role="user")):
        assert_unavailable(await answered(call))  # answered, not left hanging on the dead link
    ready = await answered(api.get("/readyz"))
    assert ready.status == 503 and ready.json == {"ready": False, "checks": {"database": False}}
    assert (await api.get("/healthz")).status == 200  # alive, just not ready

    db_proxy.restore()
    await wait_ready(api)
    response = await api.get(f"/products/{kept['id']}", role="user")
    assert response.status == 200 and response.json["sku"] == "KEPT-1"
    assert (await api.post("/products", {"sku": "AFTER-1", "name": "After", "price": "2.00"},
                           role="admin")).status == 201
    assert (await api.get("/products?per_page=9", role="user")).status == 200
    if mode == "blackhole":  # refused connects fail fast by themselves; a blackhole needs the guard
        outages = [r for r in db_log.records if "database unreachable" in r.getMessage()]
        assert len(outages) == 1, [r.getMessage() for r in db_log.records]


async def test_every_write_answered_2xx_is_durable(api, db_proxy, direct_url):
    await api.token("admin")
    client_statuses: dict[str, int] = {}

    async def create(n: int) -> None:
        sku = f"W-{n:03d}"
        response = await api.post("/products", {"sku": sku, "name": f"Widget {n}", "price": "3.00"},
                                  role="admin")
        client_statuses[sku] = response.status

    # Writes in flight when the link goes: cut as soon as the first is answered, so some were
    # answered before the cut and the rest race it; those sent after the cut can only fail.
    writers = [asyncio.ensure_future(create(n)) for n in range(30)]
    assert await eventually(lambda: client_statuses), "no write was answered before the cut"
    db_proxy.cut("blackhole")
    await answered(asyncio.gather(*writers, *(create(n) for n in range(30, 35))))
    db_proxy.restore()
    await wait_ready(api)

    succeeded = {sku for sku, status in client_statuses.items() if status == 201}
    assert set(client_statuses.values()) == {201, 503}, client_statuses  # both happened, nothing else
    assert all(client_statuses[f"W-{n:03d}"] == 503 for n in range(30, 35)), client_statuses
    missing = succeeded - await product_skus(direct_url)
    assert not missing, f"answered 201 but not in the database: {sorted(missing)}"


async def test_requests_during_outage_do_not_pile_up(api, db_proxy):
    await api.token("user")
    db_proxy.cut("blackhole")
    # All twenty are answered (none waits behind another for the guard), each with a 503.
    responses = await answered(asyncio.gather(*(api.get(f"/products?page={n}", role="user")
                                                 for n in range(1, 21))))
    assert {r.status for r in responses} == {503}
    assert len(responses) == 20 and all(r.json["status"] == 503 for r in responses)
    db_proxy.restore()
    await wait_ready(api)
    assert (await api.get("/products?page=1", role="user")).status == 200


# -- Redis ------------------------------------------------------------------------------------

class InProcessNode:
    """A second application on the same database and Redis prefix, served on its own port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        sock, port = tornado.testing.bind_unused_port()
        self.server = tornado.httpserver.HTTPServer(app)
        self.server.add_sockets([sock])
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"

    @classmethod
    async def start(cls, settings: Any) -> InProcessNode:
        app = make_app(settings)
        await app.start()
        return cls(app)

    async def stop(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()
        await self.app.close()


async def stock_change(feed: Feed, delta: int) -> dict[str, Any]:
    while True:
        event = (await feed.events(1))[0]
        if event["event"] == "stock.changed" and event["data"]["delta"] == delta:
            return event


async def adjust(api: Any, product_id: int, delta: int) -> Any:
    return await api.post(f"/products/{product_id}/stock-adjustments", {"delta": delta, "reason": "count"},
                          role="admin")


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_redis_outage_degrades_to_local_delivery_and_cluster_mode_resumes(
        api, app, settings, make, redis_proxy, caplog, mode):
    caplog.set_level(logging.INFO, logger="factory.cluster")
    a = app.ctx.cluster
    other = await InProcessNode.start(settings)
    api_b = Api(other.base_url)
    try:
        gear = await make.product(stock_quantity=100)
        token = await api.token("user")
        feed_a = await Feed.open(ws_url(api.base_url), token)
        feed_b = await Feed.open(other.ws_url, token)
        await feed_a.subscribe(["inventory"])
        await feed_b.subscribe(["inventory"])
        assert (await adjust(api, gear["id"], 1)).status == 201
        assert await stock_change(feed_b, 1) == await stock_change(feed_a, 1)  # cluster mode works

        redis_proxy.cut(mode)
        # HTTP keeps working on both, rate limits included (local buckets meanwhile).
        assert (await api.get("/products", role="user")).status == 200
        assert (await api_b.get("/products?per_page=5", role="user")).status == 200
        assert (await adjust(api, gear["id"], 2)).status == 201
        local = await stock_change(feed_a, 2)  # delivered on the process that wrote it
        assert local["id"] > 0
        assert (await adjust(api, gear["id"], 3)).status == 201
        assert (await stock_change(feed_a, 3))["id"] == local["id"] + 1
        assert [f for f in await feed_b.quiet() if f["type"] == "event"] == []  # B can't hear A meanwhile
        ready = await api.get("/readyz")
        assert ready.status == 503 and ready.json["checks"] == {"database": True, "redis": False}
        warnings = [r.getMessage() for r in caplog.records
                    if r.levelno == logging.WARNING and "Redis unavailable" in r.getMessage()]
        assert len([w for w in warnings if a.node[:8] in w]) == 1, warnings  # one warning, not one per call

        redis_proxy.restore()

        async def both_ready() -> bool:
            return all([(await api.get("/readyz")).status == 200, (await api_b.get("/readyz")).status == 200])

        assert await eventually(both_ready), "cluster mode did not resume after Redis came back"
        assert (await adjust(api_b, gear["id"], 4)).status == 201
        resumed = await stock_change(feed_a, 4)
        assert resumed == await stock_change(feed_b, 4)
        assert resumed["id"] > local["id"] + 1  # global ids carry on above the local ones
        listed = await api_b.get("/products", role="user")
        await make.product(sku="AFTER-REDIS")
        assert "AFTER-REDIS" in [p["sku"] for p in (await api_b.get("/products", role="user")).json["items"]]
        assert listed.status == 200
        feed_a.close()
        feed_b.close()
    finally:
        api_b.client.close()
        await other.stop()


# -- graceful shutdown --------------------------------------------------------------------------

async def test_sigterm_finishes_requests_in_flight_and_closes_websockets_with_1001(tmp_path):
    server = ServerProcess(tmp_path, server_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"))
    try:
        await server.wait_ready()
        api = Api(server.base_url)
        token = (await api.login("admin", PASSWORDS["super_admin"])).json["access_token"]
        feed = await Feed.open(server.ws_url, token)
        await feed.subscribe(["production"])

        # A request in flight: its headers are in (the server said 100 Continue), its body is not.
        body = json.dumps({"sku": "LATE-1", "name": "Late", "price": "1.00"}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /products HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nExpect: 100-continue\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert (await answered(reader.readline())).startswith(b"HTTP/1.1 100")

        server.terminate()
        assert await feed.receive() is None
        assert feed.conn.close_code == 1001
        with pytest.raises(OSError):  # no new connections once shutdown has begun
            await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(body)
        response = await answered(reader.read())
        assert response.lstrip(b"\r\n").startswith(b"HTTP/1.1 201"), response
        writer.close()
        assert await server.exit_code() == 0, server.output()[-3000:]
        api.client.close()
    finally:
        server.stop()
