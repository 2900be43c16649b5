"""Rate limiting through the real server: budgets, identities, IETF headers, refill, expiry, logging."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from core.logs import LOG_FILE, setup_logging
from core.ratelimit import DEFAULT_RATE_LIMITS
from tests.conftest import PASSWORDS, Api, Factory, FakeClock

TRUST_LOOPBACK = {"trusted_proxies": ("127.0.0.1",)}


def from_client(ip: str) -> dict[str, str]:
    """Headers a trusted proxy adds for a client at `ip` (no traffic goes to that address)."""
    return {"X-Forwarded-For": ip}


def assert_refused(response: Any, budget: str, retry_after: int | None = None) -> None:
    assert response.status == 429, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json
    assert problem["status"] == 429 and problem["title"] and problem["detail"]
    seconds = int(response.headers["Retry-After"])
    assert seconds >= 1
    if retry_after is not None:
        assert seconds == retry_after
    assert response.headers["RateLimit-Policy"].startswith(f'"{budget}";')
    assert response.headers["RateLimit"] == f'"{budget}";r=0;t={seconds}'


async def wrong_login(api: Api, username: str = "test_user", **kw: Any) -> Any:
    return await api.post("/auth/login", {"username": username, "password": "wrong-password"}, **kw)


# -- login ------------------------------------------------------------------------------------

@pytest.mark.settings(rate_limits=DEFAULT_RATE_LIMITS)
async def test_the_eleventh_login_attempt_within_a_minute_is_refused_by_default(
        api: Api, clock: FakeClock) -> None:
    for attempt in range(10):
        response = await wrong_login(api)
        assert response.status == 401, (attempt, response)
        assert response.headers["RateLimit-Policy"] == '"login";q=10;w=60'
        assert response.headers["RateLimit"].startswith(f'"login";r={9 - attempt};')
    refused = await api.post("/auth/login", {"username": "test_user", "password": PASSWORDS["user"]})
    assert_refused(refused, "login", retry_after=6)  # 10 per 60 s: one token back every 6 s
    clock.advance(6)
    allowed = await api.post("/auth/login", {"username": "test_user", "password": PASSWORDS["user"]})
    assert allowed.status == 200
    assert allowed.headers["RateLimit"].startswith('"login";r=0;')


@pytest.mark.settings(rate_limits=DEFAULT_RATE_LIMITS)
async def test_login_counts_per_client_whatever_the_username(api: Api, clock: FakeClock) -> None:
    for n in range(10):
        assert (await wrong_login(api, f"nobody{n}")).status == 401
    assert_refused(await wrong_login(api, "test_admin"), "login")


@pytest.mark.settings(rate_limits=DEFAULT_RATE_LIMITS, **TRUST_LOOPBACK)
async def test_login_failures_for_a_username_count_per_client(api: Api, clock: FakeClock) -> None:
    """Wrong passwords spend the guessing client's budget only: the account's owner still signs in."""
    for n in range(10):
        assert (await wrong_login(api, headers=from_client(f"203.0.113.{n + 1}"))).status == 401
    assert (await wrong_login(api, headers=from_client("203.0.113.200"))).status == 401
    owner = await api.post("/auth/login", {"username": "test_user", "password": PASSWORDS["user"]},
                           headers=from_client("203.0.113.201"))
    assert owner.status == 200


# -- read, write, analytics -------------------------------------------------------------------

@pytest.mark.settings(rate_limits="read=3/60")
async def test_reads_past_the_read_budget_are_refused(api: Api, make: Factory, clock: FakeClock) -> None:
    await make.product()
    await api.token("user")
    for remaining, reset in ((2, 20), (1, 40), (0, 60)):
        response = await api.get("/products", role="user")
        assert response.status == 200
        assert response.headers["RateLimit-Policy"] == '"read";q=3;w=60'
        assert response.headers["RateLimit"] == f'"read";r={remaining};t={reset}'
    assert_refused(await api.get("/products", role="user"), "read", retry_after=20)


@pytest.mark.settings(rate_limits="write=2/60")
async def test_writes_past_the_write_budget_are_refused_and_change_nothing(
        api: Api, clock: FakeClock) -> None:
    for n in range(2):
        created = await api.post("/products", {"sku": f"W-{n}", "name": "W", "price": "1.00"}, role="admin")
        assert created.status == 201
        assert created.headers["RateLimit-Policy"] == '"write";q=2;w=60'
    refused = await api.post("/products", {"sku": "W-9", "name": "W", "price": "1.00"}, role="admin")
    assert_refused(refused, "write", retry_after=30)
    listed = await api.get("/products", role="admin")
    assert sorted(p["sku"] for p in listed.json["items"]) == ["W-0", "W-1"]
    # PATCH and DELETE spend the same budget.
    item = f"/products/{listed.json['items'][0]['id']}"
    assert_refused(await api.patch(item, {"name": "X"}, role="admin"), "write")
    assert_refused(await api.delete(item, role="admin"), "write")
    assert (await api.get(item, role="admin")).json["name"] == "W"


@pytest.mark.settings(rate_limits="analytics=2/60")
async def test_analytics_have_a_budget_of_their_own(api: Api, clock: FakeClock) -> None:
    for remaining in (1, 0):
        report = await api.get("/analytics/top-products", role="admin")
        assert report.status == 200
        assert report.headers["RateLimit-Policy"] == '"analytics";q=2;w=60'
        assert report.headers["RateLimit"].startswith(f'"analytics";r={remaining};')
    assert_refused(await api.get("/analytics/production-efficiency", role="admin"), "analytics", 30)
    assert_refused(await api.get("/analytics/top-products", role="admin", headers={"Accept": "text/csv"}),
                   "analytics")
    listed = await api.get("/products", role="admin")  # reads still pass
    assert listed.status == 200 and listed.headers["RateLimit-Policy"].startswith('"read";')


@pytest.mark.settings(rate_limits="read=2/60,write=2/60")
async def test_budgets_are_separate(api: Api, clock: FakeClock) -> None:
    for _ in range(2):
        assert (await api.get("/products", role="admin")).status == 200
    assert_refused(await api.get("/products", role="admin"), "read")
    created = await api.post("/products", {"sku": "S-1", "name": "S", "price": "1.00"}, role="admin")
    assert created.status == 201
    assert created.headers["RateLimit"].startswith('"write";r=1;')


# -- identities -------------------------------------------------------------------------------

@pytest.mark.settings(rate_limits="read=2/60")
async def test_each_user_has_a_bucket_of_their_own(api: Api, clock: FakeClock) -> None:
    for _ in range(2):
        assert (await api.get("/products", role="user")).status == 200
    assert_refused(await api.get("/products", role="user"), "read")
    admin = await api.get("/products", role="admin")
    assert admin.status == 200
    assert admin.headers["RateLimit"] == '"read";r=1;t=30'


@pytest.mark.settings(rate_limits="read=2/60")
async def test_before_login_the_client_ip_is_the_identity(api: Api, clock: FakeClock) -> None:
    await api.token("user")
    for remaining in (1, 0):
        anonymous = await api.get("/products")
        assert anonymous.status == 401
        assert anonymous.headers["RateLimit"].startswith(f'"read";r={remaining};')
    assert_refused(await api.get("/products"), "read")
    # A bad token is still "before login": it spends the client's bucket, not a user's.
    assert_refused(await api.get("/products", token="not-a-token"), "read")
    assert (await api.get("/products", role="user")).status == 200  # the user's own bucket


@pytest.mark.settings(rate_limits="read=2/60")
async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(api: Api, clock: FakeClock) -> None:
    for n in range(2):
        assert (await api.get("/products", headers=from_client(f"198.51.100.{n}"))).status == 401
    assert_refused(await api.get("/products", headers=from_client("198.51.100.99")), "read")


@pytest.mark.settings(rate_limits="read=2/60", **TRUST_LOOPBACK)
async def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(api: Api, clock: FakeClock) -> None:
    for _ in range(2):
        assert (await api.get("/products", headers=from_client("198.51.100.1"))).status == 401
    assert_refused(await api.get("/products", headers=from_client("198.51.100.1")), "read")
    # The proxy appends the address it saw: a client-written first hop changes nothing.
    spoofed = await api.get("/products", headers=from_client("198.51.100.7, 198.51.100.1"))
    assert_refused(spoofed, "read")
    assert (await api.get("/products", headers=from_client("198.51.100.2"))).status == 401
    assert (await api.get("/products")).status == 401  # the proxy's own requests are a third client


# -- headers on every response ----------------------------------------------------------------

@pytest.mark.settings(rate_limits="read=50/60,write=50/60")
async def test_every_response_carries_the_ratelimit_headers(api: Api, make: Factory) -> None:
    product = await make.product(sku="TAKEN")
    item = f"/products/{product['id']}"
    cases = [
        ("GET", "/products", None, None, 401),
        ("GET", "/products", None, "user", 200),
        ("GET", "/products?per_page=0", None, "user", 400),
        ("GET", "/employees", None, "user", 403),
        ("GET", f"/products/{product['id'] + 1000}", None, "user", 404),
        ("GET", "/no-such-thing", None, "user", 404),
        ("DELETE", "/auth/me", None, "user", 405),
        ("OPTIONS", "/products", None, None, 204),
        ("POST", "/products", {"sku": "TAKEN", "name": "Dup", "price": "1.00"}, "admin", 409),
        ("PATCH", item, {"price": "nope"}, "admin", 422),
        ("POST", "/products", None, "admin", 400),
        ("POST", "/auth/login", {"username": "test_user", "password": "wrong-password"}, None, 401),
    ]
    for method, path, body, role, status in cases:
        response = await api.request(method, path, json_body=body, role=role)
        assert response.status == status, (method, path, response)
        assert response.headers.get("RateLimit-Policy"), (method, path)
        assert response.headers.get("RateLimit"), (method, path)


@pytest.mark.settings(rate_limits="read=2/60")
async def test_a_304_carries_the_ratelimit_headers(api: Api, make: Factory, clock: FakeClock) -> None:
    await make.product()
    etag = (await api.get("/products", role="user")).headers["ETag"]
    response = await api.get("/products", role="user", headers={"If-None-Match": etag})
    assert response.status == 304
    assert response.headers["RateLimit"] == '"read";r=0;t=60'
    assert_refused(await api.get("/products", role="user", headers={"If-None-Match": etag}), "read")


# -- time: refill and expiry ------------------------------------------------------------------

@pytest.mark.settings(rate_limits="read=2/60")
async def test_a_bucket_refills_as_time_passes(api: Api, clock: FakeClock) -> None:
    await api.token("user")
    for _ in range(2):
        assert (await api.get("/products", role="user")).status == 200
    assert_refused(await api.get("/products", role="user"), "read", retry_after=30)
    clock.advance(29)
    assert_refused(await api.get("/products", role="user"), "read", retry_after=1)
    clock.advance(1)
    refilled = await api.get("/products", role="user")
    assert refilled.status == 200
    assert refilled.headers["RateLimit"] == '"read";r=0;t=60'
    clock.advance(600)  # never more than the capacity, however long the wait
    full = await api.get("/products", role="user")
    assert full.headers["RateLimit"] == '"read";r=1;t=30'


@pytest.mark.settings(rate_limits="read=3/60", **TRUST_LOOPBACK)
async def test_idle_buckets_expire(app: Any, api: Api, clock: FakeClock) -> None:
    limiter = app.ctx.limiter
    for n in range(20):
        assert (await api.get("/products", headers=from_client(f"198.51.100.{n}"))).status == 401
    assert limiter.bucket_count == 20
    for _ in range(3):
        await api.get("/products", headers=from_client("198.51.100.0"))
    clock.advance(61)
    assert limiter.bucket_count == 0  # all idle a whole window: forgotten
    back = await api.get("/products", headers=from_client("198.51.100.0"))
    assert back.status == 401
    assert back.headers["RateLimit"] == '"read";r=2;t=20'  # a forgotten bucket comes back full
    assert limiter.bucket_count == 1


# -- observability ----------------------------------------------------------------------------

@pytest.fixture
def log_file(settings: Any) -> Any:
    """The application log file under settings.log_dir, attached for this test only."""
    path = setup_logging(settings.log_dir, to_stderr=False)
    yield path
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "baseFilename", None) == str(path.resolve()):
            root.removeHandler(handler)
            handler.close()


def refusal_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if "rate limit" in line and "exceeded" in line]


@pytest.mark.settings(rate_limits="read=1/60")
async def test_refusals_are_counted_and_logged_once_per_client_per_window(
        app: Any, api: Api, clock: FakeClock, log_file: Path) -> None:
    assert log_file.name == LOG_FILE and log_file.parent == Path(app.ctx.settings.log_dir)
    await api.token("user")
    assert (await api.get("/products", role="user")).status == 200
    for _ in range(5):
        assert_refused(await api.get("/products", role="user"), "read")
    assert (await api.get("/products")).status == 401  # the anonymous client has a bucket of its own
    for _ in range(3):
        assert_refused(await api.get("/products"), "read")
    assert app.ctx.limiter.refusals["read"] == 8
    lines = refusal_lines(log_file)
    assert len(lines) == 2, lines
    assert any("user:" in line for line in lines) and any("ip:127.0.0.1" in line for line in lines)

    clock.advance(60)  # a new window: the next refusal is news again
    assert (await api.get("/products", role="user")).status == 200
    assert_refused(await api.get("/products", role="user"), "read")
    assert len(refusal_lines(log_file)) == 3
    assert app.ctx.limiter.refusals["read"] == 9


def metric(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])


@pytest.mark.settings(rate_limits="read=3/60")
async def test_metrics_count_cache_hits_misses_and_refusals(
        api: Api, make: Factory, clock: FakeClock) -> None:
    await make.product()
    await api.token("admin")
    before = (await api.get("/metrics")).body.decode()
    for _ in range(3):
        assert (await api.get("/products", role="admin")).status == 200
    for _ in range(2):
        assert_refused(await api.get("/products", role="admin"), "read")
    after = (await api.get("/metrics")).body.decode()
    for name, delta in (("factory_cache_misses_total", 1), ("factory_cache_hits_total", 2),
                        ('factory_rate_limit_refusals_total{budget="read"}', 2),
                        ('factory_rate_limit_refusals_total{budget="login"}', 0)):
        assert metric(after, name) - metric(before, name) == delta, name
