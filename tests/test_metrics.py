"""/metrics: Prometheus text with requests by route and status, live feed, cache, limits and pool."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import tornado.websocket
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORDS
from tests.waiting import eventually

WAIT = 15.0  # guards against a hang only


async def scrape(api: Any) -> dict[tuple[str, frozenset], float]:
    """Every sample of a /metrics scrape, keyed by (sample name, labels)."""
    response = await api.get("/metrics")
    assert response.status == 200, response
    samples = {}
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_is_public_prometheus_text(api):
    response = await api.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert "RateLimit" not in response.headers  # scrapes are not rate limited
    assert b"# TYPE factory_http_requests_total counter" in response.body
    assert b"# TYPE factory_http_request_duration_seconds histogram" in response.body


async def test_requests_are_counted_by_route_name_and_status(api, make):
    product = await make.product()
    await api.get("/products", role="user")
    await api.get(f"/products/{product['id']}", role="user")
    await api.get("/products/999999", role="user")
    await api.get("/no/such/path")
    samples = await scrape(api)
    assert value(samples, "factory_http_requests_total", route="products", method="GET", status="200") == 1
    assert value(samples, "factory_http_requests_total", route="products", method="POST", status="201") == 1
    assert value(samples, "factory_http_requests_total",
                 route="products_item", method="GET", status="200") == 1
    assert value(samples, "factory_http_requests_total",
                 route="products_item", method="GET", status="404") == 1
    assert value(samples, "factory_http_requests_total", route="unmatched", method="GET", status="404") == 1
    # The raw path (with its id) never becomes a label value.
    assert not any(f"/products/{product['id']}" in dict(labels).get("route", "") for _, labels in samples)
    assert value(samples, "factory_http_request_duration_seconds_count", route="products", method="GET") == 1
    assert value(samples, "factory_http_request_duration_seconds_bucket",
                 route="products", method="GET", le="+Inf") == 1


async def test_cache_hits_and_misses(api, make):
    await make.product()
    for _ in range(3):
        assert (await api.get("/products", role="user")).status == 200
    samples = await scrape(api)
    assert value(samples, "factory_cache_misses_total") >= 1
    assert value(samples, "factory_cache_hits_total") >= 2
    assert value(samples, "factory_cache_entries") >= 1


@pytest.mark.settings(rate_limits="login=2/60")
async def test_rate_limit_refusals_by_budget(api):
    statuses = [(await api.login("nobody", "wrong-password")).status for _ in range(4)]
    assert statuses.count(429) == 2
    samples = await scrape(api)
    assert value(samples, "factory_rate_limit_refusals_total", budget="login") == 2
    assert value(samples, "factory_rate_limit_refusals_total", budget="read") == 0


async def test_database_pool_use(api):
    samples = await scrape(api)
    assert ("factory_db_pool_connections", frozenset({("state", "checked_out")})) in samples
    assert ("factory_db_pool_connections", frozenset({("state", "idle")})) in samples
    assert value(samples, "factory_db_pool_size") >= 1
    assert value(samples, "factory_db_available") == 1


async def test_websocket_connections_and_events(api, base_url, make):
    product = await make.product(stock_quantity=5)
    token = await api.token("user")
    conn = await tornado.websocket.websocket_connect(base_url.replace("http", "ws") + "/ws")
    conn.write_message(json.dumps({"type": "auth", "token": token}))
    conn.write_message(json.dumps({"type": "subscribe", "topics": ["inventory"]}))
    reply = json.loads(await asyncio.wait_for(conn.read_message(), WAIT))
    assert reply["type"] == "subscribed"
    assert value(await scrape(api), "factory_websocket_connections") == 1

    response = await api.post(f"/products/{product['id']}/stock-adjustments",
                              {"delta": 3, "reason": "cycle count"}, role="admin")
    assert response.status == 201
    event = json.loads(await asyncio.wait_for(conn.read_message(), WAIT))
    assert event["type"] == "event"
    samples = await scrape(api)
    assert value(samples, "factory_events_published_total") >= 1
    assert value(samples, "factory_events_delivered_total") >= 1
    assert value(samples, "factory_events_dropped_total") == 0
    assert value(samples, "factory_http_requests_total", route="live_feed", method="GET", status="101") == 1

    conn.close()

    async def disconnected() -> bool:  # the server notices the close a moment later
        return value(await scrape(api), "factory_websocket_connections") == 0

    assert await eventually(disconnected), "the closed WebSocket is still counted"


async def test_login_password_never_in_metrics(api):
    await api.login("test_user", PASSWORDS["user"])
    response = await api.get("/metrics")
    assert PASSWORDS["user"].encode() not in response.body
