"""Fixtures: a real server on a real port over a fresh database (SQLite, and MariaDB when asked)."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import tornado.httpclient
import tornado.httpserver
import tornado.testing

from app import make_app
from core import migrate
from core.cache import ResponseCache
from core.clock import Clock
from core.config import Settings
from core.ratelimit import MemoryRateLimiter, parse_budgets
from handlers.limits import server_options
from models import User
from services.identity.users import UserService
from tests.brokers import forget_session
from tests.clocks import FakeClock
from tests.databases import empty_tables, mariadb_database
from tests.event_contract import EventContract
from tests.feeds import Feed, ws_url

MYSQL_URL = os.environ.get("FACTORY_TEST_MYSQL_URL")
REDIS_URL = os.environ.get("FACTORY_TEST_REDIS_URL")
MQTT_URL = os.environ.get("FACTORY_TEST_MQTT_URL")
SECRET = "test-secret-" + "x" * 40
PASSWORDS = {"user": "user-pass-123", "admin": "admin-pass-123", "super_admin": "super-pass-123"}
# Tests get generous budgets unless they ask for tight ones with @pytest.mark.settings(...).
TEST_RATE_LIMITS = "login=1000/60,read=100000/60,write=100000/60,analytics=100000/60"
BACKENDS = ["sqlite", "mysql"]
# CI sets this: a test that would skip for want of a backend fails instead.
STRICT = os.environ.get("FACTORY_TEST_STRICT") == "1"


def skip_unless_available(available: bool, reason: str) -> None:
    """Skip with a one-line reason when a backend is not configured; fail instead under CI."""
    if available:
        return
    if STRICT:
        pytest.fail(f"FACTORY_TEST_STRICT=1 but {reason}")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**overrides): Settings fields for this test's app")
    config.addinivalue_line("markers", "sqlite_only: runs on the embedded database only")
    config.addinivalue_line("markers", "mqtt: the app consumes machine messages from the test broker "
                                       "(FACTORY_TEST_MQTT_URL) under a client id and prefix of its own")
    config.addinivalue_line("markers", "plant_clock(at, zone='UTC'): the app's clock stands at `at` "
                                       "(ISO, UTC) in plant zone `zone`; move it with the plant_time fixture")


# -- databases --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file migrated once; each test copies it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def mysql_database() -> Any:
    """A MariaDB database of this test session's own, migrated once and dropped at the end."""
    if not MYSQL_URL:
        yield None
        return
    with mariadb_database(MYSQL_URL) as url:
        yield url


@pytest.fixture
def empty_mariadb() -> Any:
    """A MariaDB database of this test's own with no tables at all (not migrated), dropped after."""
    skip_unless_available(bool(MYSQL_URL), "MariaDB tests need FACTORY_TEST_MYSQL_URL")
    with mariadb_database(MYSQL_URL, "factory_empty", migrated=False) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any, sqlite_template: str,
                 mysql_database: str | None) -> str:
    """A fresh, migrated, empty database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "factory.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("sqlite_only test")
    skip_unless_available(mysql_database is not None, "MariaDB tests need FACTORY_TEST_MYSQL_URL "
                          "(e.g. mysql+aiomysql://root@127.0.0.1:3306/factory_test)")
    return mysql_database


@pytest.fixture
def redis_prefix() -> Any:
    """A Redis key prefix of this test's own; its keys are deleted after."""
    prefix = f"factory-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    if not REDIS_URL:  # the test skipped: nothing was written
        return
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


# -- the application and its server -----------------------------------------------------------

@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Any) -> Settings:
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    base = Settings(database_url=database_url, jwt_secret=SECRET, log_dir=str(tmp_path / "logs"),
                    rate_limits=TEST_RATE_LIMITS, cache_ttl=30.0, admin_password=PASSWORDS["super_admin"])
    if request.node.get_closest_marker("mqtt"):
        names = request.getfixturevalue("mqtt_names")
        base = base.with_(mqtt_url=MQTT_URL, mqtt_prefix=names.prefix, mqtt_client_id=names.client_id)
    return base.with_(**overrides)


@dataclass
class MqttNames:
    """What keeps one test's MQTT traffic apart from every other run's on the shared broker."""

    client_id: str
    prefix: str
    group: str


@pytest.fixture
def mqtt_names() -> Any:
    """Unique client id, JSON prefix and Sparkplug group; the server's persistent session is
    removed from the broker afterwards (a clean connect with its id)."""
    skip_unless_available(bool(MQTT_URL), "MQTT tests need FACTORY_TEST_MQTT_URL (e.g. mqtt://127.0.0.1:1883)")
    tag = uuid.uuid4().hex[:10]
    names = MqttNames(client_id=f"factory-test-{tag}", prefix=f"factory-test-{tag}", group=f"g{tag}")
    yield names
    forget_session(MQTT_URL, names.client_id)


class PlantTime:
    """The app's "now" as a test sets it: a fixed aware UTC moment that moves only when told."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime | str) -> None:
        self.moment = utc_moment(moment)

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def utc_moment(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.fixture
def app(io_loop: Any, settings: Settings, request: pytest.FixtureRequest) -> Any:
    if not settings.is_sqlite:
        io_loop.run_sync(lambda: empty_tables(settings.database_url))
    marker = request.node.get_closest_marker("plant_clock")
    clock = None
    if marker:
        request.node.plant_time = PlantTime(utc_moment(marker.kwargs["at"]))
        clock = Clock(marker.kwargs.get("zone", "UTC"), now=request.node.plant_time)
    application = make_app(settings, clock=clock)
    # Every event any test makes the server commit must match its AsyncAPI payload schema.
    contract = EventContract()
    application.ctx.db.on_commit(contract)
    io_loop.run_sync(lambda: _create_role_users(application))
    io_loop.run_sync(application.start)
    yield application
    io_loop.run_sync(application.close)
    assert not contract.problems, "events that do not match /asyncapi.json:\n" + "\n".join(contract.problems)


@pytest.fixture
def plant_time(request: pytest.FixtureRequest, app: Any) -> PlantTime:
    """The fixed clock of a test marked plant_clock(at=...): `plant_time.set(...)` moves the app's now."""
    holder = getattr(request.node, "plant_time", None)
    assert holder is not None, "mark the test with @pytest.mark.plant_clock(at=...)"
    return holder


async def _create_role_users(application: Any) -> None:
    service = UserService()
    async with application.ctx.db.write() as uow:
        for role, password in PASSWORDS.items():
            await service.create(uow, {"username": f"test_{role}", "password": password, "role": role,
                                       "is_active": True})


@pytest.fixture
def http_server(io_loop: Any, app: Any, http_server_port: Any) -> Any:
    server = tornado.httpserver.HTTPServer(app, **server_options(app.ctx.settings))
    server.add_socket(http_server_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.fixture
def base_url(http_server: Any, http_server_port: Any) -> str:
    return f"http://127.0.0.1:{http_server_port[1]}"


# -- a client that speaks the API -------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class Api:
    """HTTP client bound to the test server; `role=` signs the request in as that role."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        self.tokens: dict[str, str] = {}

    async def request(self, method: str, path: str, *, json_body: Any = None, body: bytes | str | None = None,
                      role: str | None = None, token: str | None = None,
                      headers: dict[str, str] | None = None) -> Response:
        all_headers = dict(headers or {})
        if role is not None:
            token = await self.token(role)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body)
            all_headers.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        response = await self.client.fetch(self.base_url + path, method=method, body=body,
                                           headers=all_headers, raise_error=False,
                                           allow_nonstandard_methods=True, request_timeout=60)
        return Response(response.code, response.headers, response.body or b"")

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json_body: Any = None, **kw: Any) -> Response:
        return await self.request("POST", path, json_body=json_body, **kw)

    async def patch(self, path: str, json_body: Any = None, **kw: Any) -> Response:
        return await self.request("PATCH", path, json_body=json_body, **kw)

    async def put(self, path: str, json_body: Any = None, **kw: Any) -> Response:
        return await self.request("PUT", path, json_body=json_body, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)

    async def login(self, username: str, password: str) -> Response:
        return await self.post("/auth/login", {"username": username, "password": password})

    async def token(self, role: str) -> str:
        if role not in self.tokens:
            response = await self.login(f"test_{role}", PASSWORDS[role])
            assert response.status == 200, response
            self.tokens[role] = response.json["access_token"]
        return self.tokens[role]

    async def create(self, resource: str, data: dict[str, Any], role: str = "admin") -> dict[str, Any]:
        response = await self.post(f"/{resource}", data, role=role)
        assert response.status == 201, response
        return response.json


@pytest.fixture
def api(base_url: str) -> Any:
    client = Api(base_url)
    yield client
    client.client.close()


@pytest.fixture
def feeds(base_url: str) -> Any:
    """Opens live-feed clients on the test server (signed in when given a token); closes them after."""
    opened: list[Feed] = []

    async def open_feed(token: str | None = None, *, query: str = "",
                        headers: dict[str, str] | None = None) -> Feed:
        url = ws_url(base_url) + query
        feed = await (Feed.open(url, token) if token else Feed.connect(url, headers=headers))
        opened.append(feed)
        return feed

    yield open_feed
    for feed in opened:
        feed.close()


class Factory:
    """Row factories through the real API, with unique values per call."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    async def product(self, **overrides: Any) -> dict[str, Any]:
        n = self._next()
        data = {"sku": f"SKU-{n:04d}", "name": f"Product {n}", "price": "10.00", "stock_quantity": 0,
                "reorder_level": 0, **overrides}
        return await self.api.create("products", data)

    async def customer(self, **overrides: Any) -> dict[str, Any]:
        n = self._next()
        data = {"name": f"Customer {n}", "email": f"customer{n}@example.com",
                "phone": f"+4930{1000000 + n}", **overrides}
        return await self.api.create("customers", data)

    async def employee(self, **overrides: Any) -> dict[str, Any]:
        n = self._next()
        data = {"name": f"Employee {n}", "position": "Operator", "email": f"employee{n}@example.com",
                "phone": f"+4940{1000000 + n}", **overrides}
        return await self.api.create("employees", data)


    async def line(self, code: str | None = None, **overrides: Any) -> dict[str, Any]:
        code = code or f"L{self._next()}"
        return await self.api.create("lines", {"code": code, "name": f"Line {code}", **overrides})

    async def shift(self, name: str, starts_at: str, ends_at: str, **overrides: Any) -> dict[str, Any]:
        return await self.api.create("shifts", {"name": name, "starts_at": starts_at, "ends_at": ends_at,
                                                **overrides})


@pytest.fixture
def make(api: Api) -> Factory:
    return Factory(api)


@pytest.fixture
def clock(app: Any) -> FakeClock:
    """Swap in a response cache and rate limiter that read this clock, so tests move time, not sleep."""
    fake = FakeClock()
    app.ctx.cache = ResponseCache(app.ctx.settings.cache_ttl, clock=fake)
    app.ctx.limiter = MemoryRateLimiter(parse_budgets(app.ctx.settings.rate_limits), clock=fake)
    return fake


# -- a real browser ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# How long a page may take to show something: a guard against a hang, not a speed assertion.
BROWSER_WAIT_MS = 20_000


@pytest.fixture
def browser(io_loop: Any, base_url: str) -> Any:
    """Chromium driven by Playwright's async API on the test's loop, so the server keeps serving."""
    skip_unless_available(os.path.exists(CHROMIUM), f"browser tests need Debian's chromium at {CHROMIUM}")
    from playwright.async_api import async_playwright, expect  # only the browser tests pay for it

    async def launch() -> Any:
        playwright = await async_playwright().start()
        return playwright, await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    playwright, browser = io_loop.run_sync(launch)
    expect.set_options(timeout=BROWSER_WAIT_MS)
    yield browser
    io_loop.run_sync(browser.close)
    io_loop.run_sync(playwright.stop)


ROLES = ("user", "admin", "super_admin")
__all__ = ["Api", "Factory", "FakeClock", "PlantTime", "Response", "PASSWORDS", "ROLES", "REDIS_URL",
           "MYSQL_URL", "User"]
