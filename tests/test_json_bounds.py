"""JSON input is bounded on every route that takes a body, and on /ws: 400 problem+json or an error frame.

Deep nesting, numbers past any column and lone UTF-16 surrogates once reached a RecursionError, a
ValueError or a driver's UnicodeEncodeError: 500s with a traceback, /auth/login included.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest

from handlers.routes import build_routes
from tests.feeds import Feed, ws_url

HOSTILE = {
    "deep nesting": b'{"name": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "nesting past the bound": b'{"items": ' + b"[" * 40 + b"]" * 40 + b"}",
    "a 5000-digit integer": b'{"quantity": ' + b"9" * 5000 + b"}",
    "a long float": b'{"price": 1.' + b"5" * 100 + b"}",
    "an infinite float": b'{"price": 1e999}',
    "NaN": b'{"price": NaN}',
    "a lone surrogate": b'{"username": "\\ud800", "password": "x", "name": "\\ud800", "label": "\\udfff"}',
    "a lone surrogate as a key": b'{"\\ud800": 1}',
}


def body_routes() -> list[tuple[str, str]]:
    """(method, path) for every route that reads a JSON body, with ids filled in."""
    found = []
    for spec in build_routes():
        access = (spec.kwargs or {}).get("access") or getattr(spec.handler_class, "access", {})
        path = re.sub(r"\(\?P<\w+>[^)]*\)", "1", spec.regex.pattern.rstrip("$"))
        for method in ("POST", "PUT", "PATCH"):
            if method in access and spec.handler_class.__name__ != "LogoutHandler":
                found.append((method, path))
    return found


ROUTES = body_routes()


def test_the_route_table_has_body_routes_including_login() -> None:
    assert ("POST", "/auth/login") in ROUTES and ("PATCH", "/orders/1") in ROUTES and len(ROUTES) > 15


@pytest.mark.parametrize("case", HOSTILE)
async def test_hostile_json_is_400_problem_on_every_route(api: Any, case: str) -> None:
    for method, path in ROUTES:
        response = await api.request(method, path, body=HOSTILE[case], role="super_admin",
                                      headers={"Content-Type": "application/json"})
        assert response.status == 400, (case, method, path, response)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "not acceptable JSON" in response.json["detail"]


async def test_login_without_a_token_refuses_hostile_json_with_400(api: Any) -> None:
    for case, raw in HOSTILE.items():
        response = await api.request("POST", "/auth/login", body=raw,
                                      headers={"Content-Type": "application/json"})
        assert response.status == 400, (case, response)


async def test_nesting_and_numbers_within_the_bounds_still_work(api: Any, make: Any) -> None:
    customer = await make.customer()
    product = await make.product(stock_quantity=5)
    items = [{"product_id": product["id"], "quantity": 2}]
    body = json.dumps({"customer_id": customer["id"], "items": items})
    assert (await api.request("POST", "/orders", body=body, role="user")).status == 201


@pytest.mark.parametrize("case", HOSTILE)
async def test_hostile_json_on_the_live_feed_gets_an_error_frame(api: Any, base_url: str, case: str) -> None:
    feed = await Feed.open(ws_url(base_url), await api.token("user"))
    await feed.subscribe()
    feed.conn.write_message(HOSTILE[case].replace(b"{", b'{"type": "subscribe", ', 1).decode())
    reply = await feed.receive()
    assert reply["type"] == "error" and "not acceptable JSON" in reply["message"], reply
    assert await feed.pong() == {"type": "pong"}
    feed.conn.close()
