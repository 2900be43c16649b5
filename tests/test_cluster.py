"""Cluster mode: real server processes on one MariaDB database, joined by Redis.

Each test starts `python server.py` twice (processes A and B on two ports) or once with
`--processes 2`, over a MariaDB database of this module's own and a Redis key prefix of the
test's own, so parallel runs never meet.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MYSQL_URL, PASSWORDS, REDIS_URL, Api, skip_unless_available
from tests.databases import empty_tables, mariadb_database
from tests.feeds import ALL_TOPICS, Feed
from tests.servers import ServerProcess, run_cli, server_env
from tests.waiting import eventually


@pytest.fixture(scope="module")
def cluster_database(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A MariaDB database for this module, migrated with `python server.py migrate`, dropped after."""
    if not (MYSQL_URL and REDIS_URL):
        yield None
        return
    with mariadb_database(MYSQL_URL, "factory_cluster", migrated=False) as url:
        workdir = tmp_path_factory.mktemp("migrate")
        result = run_cli(workdir, "migrate", env=server_env(workdir, url))
        assert result.returncode == 0, result.stderr
        yield url


class Cluster:
    """Starts server processes on the shared database and Redis prefix; stops them all at the end."""

    def __init__(self, workdir: Path, database_url: str, prefix: str) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.prefix = prefix
        self.servers: list[ServerProcess] = []

    async def start(self, name: str, *args: str, **env: str) -> ServerProcess:
        workdir = self.workdir / name
        workdir.mkdir()
        settings = server_env(workdir, self.database_url, FACTORY_REDIS_URL=REDIS_URL,
                              FACTORY_REDIS_PREFIX=self.prefix, **env)
        server = ServerProcess(workdir, settings, *args)
        self.servers.append(server)
        return await server.wait_ready()

    async def pair(self, **env: str) -> tuple[ServerProcess, ServerProcess]:
        # One after the other: the first start creates the admin user on the empty database.
        return await self.start("a", **env), await self.start("b", **env)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def cluster(io_loop: Any, tmp_path: Path, cluster_database: str | None, redis_prefix: str) -> Any:
    skip_unless_available(bool(MYSQL_URL and REDIS_URL), "cluster tests need FACTORY_TEST_MYSQL_URL and "
                          "FACTORY_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")
    io_loop.run_sync(lambda: empty_tables(cluster_database))
    nodes = Cluster(tmp_path, cluster_database, redis_prefix)
    yield nodes
    nodes.stop()


async def clients(a: ServerProcess, b: ServerProcess) -> tuple[Api, Api]:
    """API clients for A and B; the role users are created once, through A."""
    api_a, api_b = Api(a.base_url), Api(b.base_url)
    admin = (await api_a.login("admin", PASSWORDS["super_admin"])).json["access_token"]
    for role in ("user", "admin", "super_admin"):
        response = await api_a.post("/users", {"username": f"test_{role}", "password": PASSWORDS[role],
                                               "role": role, "is_active": True}, token=admin)
        assert response.status == 201, response
    return api_a, api_b


async def product(api: Api, sku: str, stock: int = 10) -> dict[str, Any]:
    return await api.create("products", {"sku": sku, "name": sku.title(), "price": "4.00",
                                         "stock_quantity": stock, "reorder_level": 0})


async def adjust(api: Api, product_id: int, delta: int) -> None:
    response = await api.post(f"/products/{product_id}/stock-adjustments",
                              {"delta": delta, "reason": "count"}, role="admin")
    assert response.status == 201, response


async def test_an_event_written_through_one_process_reaches_websockets_on_both(cluster):
    a, b = await cluster.pair()
    api_a, api_b = await clients(a, b)
    gear = await product(api_a, "GEAR-1")
    on_a = await Feed.open(a.ws_url, await api_a.token("user"))
    on_b = await Feed.open(b.ws_url, await api_b.token("user"))
    await on_a.subscribe(ALL_TOPICS)
    await on_b.subscribe(ALL_TOPICS)

    await adjust(api_a, gear["id"], 5)
    from_b = await stock_change(on_b, 5)
    assert from_b["event"] == "stock.changed" and from_b["data"]["id"] == gear["id"]
    assert await stock_change(on_a, 5) == from_b  # the same event, with the same id, on both

    await adjust(api_b, gear["id"], -2)  # and the other way round
    assert await stock_change(on_a, -2) == await stock_change(on_b, -2)
    for api in (api_a, api_b):
        api.client.close()


async def stock_change(feed: Feed, delta: int) -> dict[str, Any]:
    """The next stock.changed event with this delta (events from setting up may come first)."""
    while True:
        event = (await feed.events(1))[0]
        if event["event"] == "stock.changed" and event["data"]["delta"] == delta:
            return event


async def test_a_cached_list_on_one_process_sees_a_write_on_the_other_at_once(cluster):
    a, b = await cluster.pair()
    api_a, api_b = await clients(a, b)
    await product(api_a, "BOLT-1")
    first = await api_b.get("/products", role="user")
    again = await api_b.get("/products", role="user")
    assert again.headers["X-Cache"] == "hit" and again.json == first.json

    await product(api_a, "BOLT-2")
    after = await api_b.get("/products", role="user")
    assert [item["sku"] for item in after.json["items"]] == ["BOLT-1", "BOLT-2"]

    # Rights too: a user deactivated through A is refused by B at once (its principal cache forgets).
    users = await api_a.get("/users?role=user", role="super_admin")
    user_id = next(u["id"] for u in users.json["items"] if u["username"] == "test_user")
    assert (await api_b.get("/auth/me", role="user")).status == 200
    response = await api_a.patch(f"/users/{user_id}", {"is_active": False}, role="super_admin")
    assert response.status == 200, response
    assert (await api_b.get("/auth/me", role="user")).status == 401
    for api in (api_a, api_b):
        api.client.close()


async def test_a_login_budget_holds_across_processes(cluster):
    a, b = await cluster.pair(FACTORY_RATE_LIMITS="login=4/60")
    api_a, api_b = Api(a.base_url), Api(b.base_url)
    statuses = []
    for n in range(8):
        api = (api_a, api_b)[n % 2]
        statuses.append((await api.login("admin", "not-the-password")).status)
    assert statuses == [401] * 4 + [429] * 4
    refused = await api_b.login("admin", PASSWORDS["super_admin"])
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit"].startswith('"login";r=0;')
    for api in (api_a, api_b):
        api.client.close()


async def test_replay_after_reconnecting_to_another_process_has_no_gap(cluster):
    a, b = await cluster.pair()
    api_a, api_b = await clients(a, b)
    gear = await product(api_a, "GEAR-9", stock=100)
    token = await api_a.token("user")

    on_a = await Feed.open(a.ws_url, token)
    await on_a.subscribe(["inventory"])
    for n, api in enumerate((api_a, api_b, api_a)):
        await adjust(api, gear["id"], n + 1)
    seen = await on_a.events(3)
    on_a.close()

    for n, api in enumerate((api_b, api_a, api_b, api_b)):  # missed while away, written through both
        await adjust(api, gear["id"], -(n + 1))
    on_b = await Feed.open(b.ws_url, token)
    reply = await on_b.subscribe(["inventory"], since=seen[-1]["id"])
    missed = await on_b.events(4)
    assert [e["data"]["delta"] for e in missed] == [-1, -2, -3, -4]
    ids = [e["id"] for e in seen + missed]
    assert ids == list(range(ids[0], ids[0] + 7)), ids  # one global order, no gap
    assert reply["last_id"] == ids[-1]
    assert await on_b.quiet() == []  # nothing twice

    # A process started later backfills its replay buffer from the stream: replay works there too.
    c = await cluster.start("c")
    on_c = await Feed.open(c.ws_url, token)
    await on_c.subscribe(["inventory"], since=seen[-1]["id"])
    assert await on_c.events(4) == missed
    for api in (api_a, api_b):
        api.client.close()


async def test_processes_flag_runs_workers_that_share_one_port_and_stop_on_sigterm(cluster):
    server = await cluster.start("workers", "--processes", "2")
    api = Api(server.base_url)
    for _ in range(30):
        assert (await api.get("/healthz")).status == 200
    metrics = (await api.get("/metrics")).body.decode()
    # Every worker's counts, summed whichever worker answered the scrape.
    served = re.search(r'factory_http_requests_total\{method="GET",route="healthz",status="200"\} (\S+)',
                       metrics)
    assert served and float(served.group(1)) == 30, metrics[:2000]
    token = (await api.login("admin", PASSWORDS["super_admin"])).json["access_token"]
    feed = await Feed.open(server.ws_url, token)
    await feed.subscribe(ALL_TOPICS)

    server.terminate()
    assert await feed.receive() is None
    assert feed.conn.close_code == 1001
    assert await server.exit_code() == 0, server.output()[-3000:]
    log = "\n".join(server.log_lines())
    assert len(set(re.findall(r"joined through Redis as node (\w+)", log))) == 2, log[-3000:]
    assert len(re.findall(r"worker \d \(pid \d+\) stopped", log)) == 2, log[-3000:]
    api.client.close()


async def test_shop_floor_events_written_on_one_process_reach_the_other_in_one_order(cluster):
    """line.stopped and the coalesced line.status go through the cluster's stream like any event."""
    a, b = await cluster.pair()
    api_a, api_b = await clients(a, b)
    assert (await api_a.post("/lines", {"code": "L1", "name": "Assembly 1"}, role="admin")).status == 201
    on_a = await Feed.open(a.ws_url, await api_a.token("user"))
    on_b = await Feed.open(b.ws_url, await api_b.token("user"))
    await on_a.subscribe(["lines"], filters={"line": "L1"})
    await on_b.subscribe(["lines"], filters={"line": "L1"})

    stop = await api_a.post("/lines/L1/stops", {"reason": "breakdown"}, role="user")
    assert stop.status == 201, stop
    seen_b = await until_stopped_status(on_b)
    seen_a = await until_stopped_status(on_a)
    stopped = [event for event in seen_b if event["event"] == "line.stopped"]
    assert [event["data"] for event in stopped] == [stop.json]
    # The same events with the same ids on both processes, from the last status back.
    assert seen_a[-1] == seen_b[-1] and seen_b[-1]["id"] > stopped[0]["id"]
    assert (await api_b.get("/lines/status", role="user")).json["items"][0]["state"] == "stopped"
    for api in (api_a, api_b):
        api.client.close()


async def until_stopped_status(feed: Feed) -> list[dict[str, Any]]:
    """Events up to the first line.status that shows the line stopped."""
    seen = []
    while True:
        event = (await feed.events(1))[0]
        seen.append(event)
        if event["event"] == "line.status" and event["data"]["state"] == "stopped":
            return seen


async def test_a_refresh_retried_on_another_process_gets_the_same_pair(cluster):
    """A client whose refresh answer was lost retries, and the balancer sends it to the other
    process: inside the reuse window it gets the pair the first use got, and the session lives on.
    Later, the same token again is a replay on any process and ends the session."""
    a, b = await cluster.pair()
    api_a, api_b = await clients(a, b)
    signed_in = (await api_a.login("test_user", PASSWORDS["user"])).json
    first = await api_a.post("/auth/refresh", {"refresh_token": signed_in["refresh_token"]})
    assert first.status == 200, first
    twin = await api_b.post("/auth/refresh", {"refresh_token": signed_in["refresh_token"]})
    assert twin.status == 200, twin
    assert twin.json == first.json
    assert (await api_b.get("/auth/me", token=first.json["access_token"])).status == 200
    onward = await api_b.post("/auth/refresh", {"refresh_token": first.json["refresh_token"]})
    assert onward.status == 200, onward

    assert await eventually(lambda: _replay_refused(api_a, first.json["refresh_token"]), timeout=10)
    assert (await api_b.get("/auth/me", token=onward.json["access_token"])).status == 401


async def _replay_refused(api: Api, token: str) -> bool:
    """True once `token` (already used) is refused as a replay: the reuse window has passed."""
    return (await api.post("/auth/refresh", {"refresh_token": token})).status == 401
