"""Response caching through the real server: hits, expiry, exact invalidation, no leakage, ETag/304."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import jwt
import pytest
from sqlalchemy import event

from handlers.base import BaseHandler
from tests.conftest import PASSWORDS, SECRET, Api, Factory, FakeClock


async def get_twice(api: Api, path: str, role: str) -> Any:
    """GET `path` until it is cached; returns the cached response."""
    await api.get(path, role=role)
    cached = await api.get(path, role=role)
    assert cached.status == 200, cached
    assert cached.headers["X-Cache"] == "hit", (path, role)
    return cached


# -- hits, keys and expiry --------------------------------------------------------------------

async def test_second_read_is_a_hit_with_the_same_body_and_etag(api: Api, make: Factory) -> None:
    product = await make.product()
    for path in ("/products", f"/products/{product['id']}"):
        first = await api.get(path, role="user")
        second = await api.get(path, role="user")
        assert (first.status, second.status) == (200, 200)
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
        assert first.body == second.body
        assert first.headers["ETag"] == second.headers["ETag"]


async def test_cacheable_responses_are_private_vary_on_authorization_and_carry_a_strong_etag(
        api: Api, make: Factory) -> None:
    await make.product()
    for _ in range(2):  # the miss and the hit look the same
        response = await api.get("/products", role="user")
        etag = response.headers["ETag"]
        assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
        assert "private" in response.headers["Cache-Control"]
        assert "Authorization" in [v.strip() for v in response.headers["Vary"].split(",")]
        assert response.headers["Content-Type"].startswith("application/json")


async def test_the_link_header_is_served_with_a_cached_list(api: Api, make: Factory) -> None:
    for _ in range(3):
        await make.product()
    first = await api.get("/products?per_page=2", role="user")
    second = await api.get("/products?per_page=2", role="user")
    assert second.headers["X-Cache"] == "hit"
    assert first.headers["Link"] == second.headers["Link"]
    assert 'rel="next"' in second.headers["Link"]


async def test_query_order_does_not_matter_but_query_values_do(api: Api, make: Factory) -> None:
    products = [await make.product() for _ in range(3)]
    first = await api.get("/products?page=1&per_page=2", role="user")
    reordered = await api.get("/products?per_page=2&page=1", role="user")
    other_page = await api.get("/products?page=2&per_page=2", role="user")
    assert first.headers["X-Cache"] == "miss"
    assert reordered.headers["X-Cache"] == "hit" and reordered.body == first.body
    assert other_page.headers["X-Cache"] == "miss" and other_page.body != first.body
    assert [p["id"] for p in other_page.json["items"]] == [products[2]["id"]]


async def test_an_entry_expires_after_the_ttl(api: Api, make: Factory, clock: FakeClock) -> None:
    product = await make.product()
    path = f"/products/{product['id']}"
    assert (await api.get(path, role="user")).headers["X-Cache"] == "miss"
    clock.advance(29.9)
    assert (await api.get(path, role="user")).headers["X-Cache"] == "hit"
    clock.advance(0.2)
    expired = await api.get(path, role="user")
    assert expired.status == 200 and expired.headers["X-Cache"] == "miss"
    assert (await api.get(path, role="user")).headers["X-Cache"] == "hit"


@pytest.mark.settings(cache_ttl=0)
async def test_a_zero_ttl_turns_the_cache_off_but_keeps_etags(api: Api, make: Factory) -> None:
    await make.product()
    first = await api.get("/products", role="user")
    second = await api.get("/products", role="user")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "miss")
    assert first.headers["ETag"] == second.headers["ETag"]
    revalidated = await api.get("/products", role="user", headers={"If-None-Match": first.headers["ETag"]})
    assert revalidated.status == 304


async def test_errors_are_never_cached(api: Api, make: Factory) -> None:
    first = await make.product()
    path = f"/products/{first['id'] + 1}"
    missing = await api.get(path, role="user")
    assert missing.status == 404
    assert "X-Cache" not in missing.headers
    product = await make.product()
    assert product["id"] == first["id"] + 1
    found = await api.get(path, role="user")
    assert found.status == 200 and found.json["sku"] == product["sku"]
    bad = await api.get("/products?per_page=1000", role="user")
    assert bad.status == 400 and "X-Cache" not in bad.headers


async def test_concurrent_misses_for_one_key_compute_once(app: Any, api: Api, make: Factory) -> None:
    for _ in range(3):
        await make.product()
    await api.token("user")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "products" in statement:
            statements.append(statement)

    engine = app.ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    cache = app.ctx.cache
    misses, coalesced = cache.misses, cache.coalesced
    try:
        responses = await asyncio.gather(*(api.get("/products?per_page=3", role="user") for _ in range(8)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {r.status for r in responses} == {200}
    assert len({r.body for r in responses}) == 1
    # One compute launched (the others joined it or hit its result): one count and one page query.
    assert (cache.misses - misses) - (cache.coalesced - coalesced) == 1
    assert len(statements) == 2, statements


async def test_pages_of_one_filter_share_one_count_until_a_write(app: Any, api: Api, make: Factory) -> None:
    for _ in range(3):
        await make.product()
    await api.token("user")
    counts: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "count(" in statement.lower() and "products" in statement:
            counts.append(statement)

    engine = app.ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        pages = [await api.get(f"/products?per_page=1&page={n}{sort}", role="user")
                 for n, sort in ((1, ""), (2, ""), (3, "&sort_by=name&sort_order=desc"))]
        assert [p.json["meta"]["total"] for p in pages] == [3, 3, 3]
        assert all(p.headers["X-Cache"] == "miss" for p in pages)
        assert len(counts) == 1, "every page and sort of one filter shares one count"
        other = await api.get("/products?per_page=1&q=nothing-matches", role="user")
        assert other.json["meta"]["total"] == 0 and len(counts) == 2, "another filter counts its own"
        await make.product()
        after = await api.get("/products?per_page=1&page=4", role="user")
        assert after.json["meta"] == {"page": 4, "per_page": 1, "total": 4, "pages": 4, "next_cursor": None}
        assert len(after.json["items"]) == 1 and len(counts) == 3, "a write drops the count with the pages"
    finally:
        event.remove(engine, "before_cursor_execute", count)


# -- nobody sees what they may not see --------------------------------------------------------

async def test_roles_never_share_an_entry(api: Api, make: Factory) -> None:
    await make.product()
    assert (await api.get("/products", role="user")).headers["X-Cache"] == "miss"
    assert (await api.get("/products", role="admin")).headers["X-Cache"] == "miss"
    assert (await api.get("/products", role="super_admin")).headers["X-Cache"] == "miss"
    assert (await api.get("/products", role="user")).headers["X-Cache"] == "hit"


@pytest.mark.parametrize("path,reader,refused", [
    ("/employees", "admin", "user"),
    ("/users", "super_admin", "admin"),
    ("/users", "super_admin", "user"),
])
async def test_a_cached_entry_is_never_served_to_a_role_below_the_route(
        api: Api, make: Factory, path: str, reader: str, refused: str) -> None:
    await make.employee()
    await get_twice(api, path, reader)
    response = await api.get(path, role=refused)
    assert response.status == 403
    assert "X-Cache" not in response.headers and b"items" not in response.body


class CallerHandler(BaseHandler):
    """A cached answer that depends on who asks, not only on the role."""

    access = {"GET": "user"}
    cache_tags = ("users",)
    cache_per_user = True

    async def get(self) -> None:
        await self.send_cached(self.caller)

    async def caller(self) -> dict[str, Any]:
        return {"username": self.principal.username}


async def test_a_per_user_answer_is_cached_per_user(app: Any, api: Api) -> None:
    app.wildcard_router.add_rules([(r"/test/caller", CallerHandler)])
    second = await api.create("users", {"username": "second_user", "password": "second-pass-1",
                                        "role": "user"}, role="super_admin")
    login = await api.login(second["username"], "second-pass-1")
    other_token = login.json["access_token"]
    mine = [await api.get("/test/caller", role="user") for _ in range(2)]
    theirs = [await api.get("/test/caller", token=other_token) for _ in range(2)]
    assert [r.json["username"] for r in mine] == ["test_user", "test_user"]
    assert [r.json["username"] for r in theirs] == ["second_user", "second_user"]
    assert [r.headers["X-Cache"] for r in mine + theirs] == ["miss", "hit", "miss", "hit"]


def forged_token(**claims: Any) -> str:
    now = int(time.time())
    base = {"sub": "1", "role": "super_admin", "iat": now, "nbf": now, "exp": now + 600,
            "iss": "factory-management", "aud": "factory-management-api", "jti": "x", "typ": "access",
            "sid": 1, "ver": 0}
    return jwt.encode({**base, **claims}, SECRET, algorithm="HS256")


async def test_no_valid_token_is_never_answered_from_the_cache(api: Api, make: Factory) -> None:
    product = await make.product()
    paths = ("/products", f"/products/{product['id']}")
    for path in paths:
        await get_twice(api, path, "user")
    attempts: list[dict[str, Any]] = [
        {},
        {"token": "not-a-jwt"},
        {"token": forged_token(exp=int(time.time()) - 10)},  # expired
        {"token": jwt.encode({"sub": "1"}, "another-secret-" + "y" * 32, algorithm="HS256")},
        {"token": forged_token(sid=999_999)},  # correctly signed, but no such session
        {"headers": {"Authorization": "Basic dXNlcjpwYXNz"}},
    ]
    for attempt in attempts:
        for path in paths:
            response = await api.get(path, **attempt)
            assert response.status == 401, (attempt, response)
            assert "X-Cache" not in response.headers and b"SKU-" not in response.body
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_revoked_or_deactivated_token_is_refused_though_its_role_is_cached(
        api: Api, make: Factory) -> None:
    await make.product()
    login = await api.post("/auth/login", {"username": "test_user", "password": PASSWORDS["user"]})
    token = login.json["access_token"]
    assert (await api.get("/products", token=token)).status == 200
    assert (await api.get("/products", token=token)).headers["X-Cache"] == "hit"
    assert (await api.post("/auth/logout", token=token)).status == 204
    assert (await api.get("/products", token=token)).status == 401

    await get_twice(api, "/products", "user")  # a fresh session of the same user, cached
    users = (await api.get("/users?q=test_user", role="super_admin")).json["items"]
    user_id = next(u["id"] for u in users if u["username"] == "test_user")
    user_token = await api.token("user")
    deactivated = await api.patch(f"/users/{user_id}", {"is_active": False}, role="super_admin")
    assert deactivated.status == 200
    assert (await api.get("/products", token=user_token)).status == 401
    assert (await api.get("/products", role="admin")).status == 200


# -- HTTP revalidation ------------------------------------------------------------------------

async def test_if_none_match_with_the_current_etag_gives_304_without_a_body(
        api: Api, make: Factory) -> None:
    product = await make.product()
    path = f"/products/{product['id']}"
    first = await api.get(path, role="user")
    etag = first.headers["ETag"]
    for _ in range(2):  # from a miss's entry and from a hit
        response = await api.get(path, role="user", headers={"If-None-Match": etag})
        assert response.status == 304
        assert response.body == b""
        assert response.headers["ETag"] == etag
        assert "RateLimit" in response.headers
    listed = await api.get("/products", role="user", headers={"If-None-Match": f'"nope", {etag}'})
    assert listed.status == 200  # the list has its own ETag
    other = await api.get("/products", role="user", headers={"If-None-Match": f'"nope", '
                                                                               f'{listed.headers["ETag"]}'})
    assert other.status == 304


async def test_a_write_changes_the_etag_so_an_old_one_gets_the_new_body(api: Api, make: Factory) -> None:
    product = await make.product()
    path = f"/products/{product['id']}"
    old = await api.get(path, role="user")
    assert (await api.patch(path, {"name": "Renamed"}, role="admin")).status == 200
    response = await api.get(path, role="user", headers={"If-None-Match": old.headers["ETag"]})
    assert response.status == 200
    assert response.json["name"] == "Renamed"
    assert response.headers["ETag"] != old.headers["ETag"]


async def test_if_none_match_without_a_token_is_401_not_304(api: Api, make: Factory) -> None:
    await make.product()
    etag = (await api.get("/products", role="user")).headers["ETag"]
    response = await api.get("/products", headers={"If-None-Match": etag})
    assert response.status == 401


# -- every write invalidates every read it changes --------------------------------------------

async def assert_write_refreshes(api: Api, reads: list[tuple[str, str]], write: Callable[[], Awaitable[Any]],
                                 expect_status: int | tuple[int, ...] = (200, 201, 204)) -> None:
    """Cache every (role, path) in `reads`, write, and check each read then shows the new state."""
    before = {read: await get_twice(api, read[1], read[0]) for read in reads}
    result = await write()
    statuses = (expect_status,) if isinstance(expect_status, int) else expect_status
    assert result.status in statuses, result
    for (role, path), old in before.items():
        after = await api.get(path, role=role)
        assert after.headers.get("X-Cache") != "hit", f"{path} as {role} was served stale after the write"
        assert (after.status, after.body) != (old.status, old.body), f"{path} as {role} did not change"


RESOURCES: dict[str, dict[str, Any]] = {
    "products": {
        "readers": ("user", "admin"), "writer": "admin",
        "create": lambda n: {"sku": f"NEW-{n}", "name": f"New {n}", "price": "3.50"},
        "patch": {"price": "99.99"},
        "put": lambda row: {"sku": row["sku"], "name": "Replaced", "price": "1.25"},
    },
    "customers": {
        "readers": ("user", "admin"), "writer": "admin",
        "create": lambda n: {"name": f"New {n}", "email": f"new{n}@example.com", "phone": f"+4989{n:07d}"},
        "patch": {"name": "Patched"},
        "put": lambda row: {"name": "Replaced", "email": row["email"], "phone": row["phone"]},
    },
    "employees": {
        "readers": ("admin", "super_admin"), "writer": "admin",
        "create": lambda n: {"name": f"New {n}", "position": "Welder", "email": f"new{n}@example.com",
                             "phone": f"+4969{n:07d}"},
        "patch": {"position": "Supervisor"},
        "put": lambda row: {"name": "Replaced", "position": "Fitter", "email": row["email"],
                            "phone": row["phone"]},
    },
    "users": {
        "readers": ("super_admin",), "writer": "super_admin",
        "create": lambda n: {"username": f"worker{n}", "password": "worker-pass-1", "role": "user"},
        "patch": {"role": "admin"},
        "put": lambda row: {"username": row["username"], "password": "other-pass-2", "role": "user",
                            "is_active": False},
    },
}


async def make_row(api: Api, resource: str, n: int) -> dict[str, Any]:
    spec = RESOURCES[resource]
    return await api.create(resource, spec["create"](n), role=spec["writer"])


@pytest.mark.parametrize("resource", sorted(RESOURCES))
async def test_create_invalidates_the_list(api: Api, resource: str) -> None:
    spec = RESOURCES[resource]
    await make_row(api, resource, 1)
    reads = [(role, f"/{resource}") for role in spec["readers"]]
    await assert_write_refreshes(api, reads, lambda: api.post(
        f"/{resource}", spec["create"](2), role=spec["writer"]))


@pytest.mark.parametrize("method", ["patch", "put"])
@pytest.mark.parametrize("resource", sorted(RESOURCES))
async def test_update_invalidates_the_list_and_the_item(api: Api, resource: str, method: str) -> None:
    spec = RESOURCES[resource]
    row = await make_row(api, resource, 1)
    item = f"/{resource}/{row['id']}"
    reads = [(role, path) for role in spec["readers"] for path in (f"/{resource}", item)]
    body = spec["patch"] if method == "patch" else spec["put"](row)
    await assert_write_refreshes(api, reads, lambda: api.request(
        method.upper(), item, json_body=body, role=spec["writer"]))


@pytest.mark.parametrize("resource", sorted(RESOURCES))
async def test_delete_invalidates_the_list_and_the_item(api: Api, resource: str) -> None:
    spec = RESOURCES[resource]
    row = await make_row(api, resource, 1)
    item = f"/{resource}/{row['id']}"
    reads = [(role, path) for role in spec["readers"] for path in (f"/{resource}", item)]
    await assert_write_refreshes(api, reads, lambda: api.delete(item, role=spec["writer"]))
    for role in spec["readers"]:
        assert (await api.get(item, role=role)).status == 404


async def test_a_refused_write_changes_nothing_and_keeps_the_cache(api: Api, make: Factory) -> None:
    first = await make.product(sku="TAKEN")
    cached = await get_twice(api, "/products", "user")
    duplicate = await api.post("/products", {"sku": "TAKEN", "name": "Dup", "price": "1.00"}, role="admin")
    assert duplicate.status == 409
    invalid = await api.patch(f"/products/{first['id']}", {"price": "-1"}, role="admin")
    assert invalid.status == 422
    again = await api.get("/products", role="user")
    assert again.body == cached.body


async def test_reads_after_successive_writes_always_show_the_latest_state(api: Api, make: Factory) -> None:
    product = await make.product()
    item = f"/products/{product['id']}"
    for cents in range(101, 106):
        price = f"{cents // 100}.{cents % 100:02d}"
        assert (await api.patch(item, {"price": price}, role="admin")).status == 200
        assert (await api.get(item, role="user")).json["price"] == price
        assert (await api.get("/products", role="user")).json["items"][0]["price"] == price
        assert (await api.get(item, role="user")).headers["X-Cache"] == "hit"


# -- orders, production, stock and analytics --------------------------------------------------

TODAY = date.today().isoformat()
SALES = [("admin", "/analytics/top-products"), ("admin", "/analytics/customer-lifetime-value")]
PRODUCTION_REPORTS = [("admin", "/analytics/production-efficiency"),
                      ("admin", "/analytics/production-efficiency?group_by=line"),
                      ("admin", "/analytics/employee-performance")]


@pytest.fixture
def floor(io_loop: Any, make: Factory) -> dict[str, Any]:
    """A product in stock, a customer and an employee: what orders and production need."""

    async def build() -> dict[str, Any]:
        for code in ("A", "B", "C"):
            await make.line(code)
        return {"product": await make.product(stock_quantity=100, ideal_cycle_seconds=30),
                "customer": await make.customer(), "employee": await make.employee()}

    return io_loop.run_sync(build)


async def place_order(api: Api, floor: dict[str, Any], quantity: int = 2) -> dict[str, Any]:
    body = {"customer_id": floor["customer"]["id"],
            "items": [{"product_id": floor["product"]["id"], "quantity": quantity}]}
    return await api.create("orders", body, role="user")


def production_body(floor: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"product_id": floor["product"]["id"], "employee_id": floor["employee"]["id"],
            "quantity_produced": 10, "quantity_defective": 1, "date_produced": TODAY, "line": "A",
            "planned_minutes": 60, "downtime_minutes": 5, **overrides}


def stock_views(floor: dict[str, Any]) -> list[tuple[str, str]]:
    product = f"/products/{floor['product']['id']}"
    return [("user", product), ("admin", product), ("user", "/products"),
            ("user", f"{product}/stock-movements")]


async def test_placing_an_order_invalidates_orders_their_filtered_views_and_sales(
        api: Api, floor: dict[str, Any]) -> None:
    await place_order(api, floor)
    reads = [("user", "/orders"), ("admin", "/orders"),
             ("user", f"/orders?customer_id={floor['customer']['id']}"),
             ("user", f"/orders?product_id={floor['product']['id']}"), *SALES]
    await assert_write_refreshes(api, reads, lambda: api.post("/orders", {
        "customer_id": floor["customer"]["id"], "product_id": floor["product"]["id"], "quantity": 3},
        role="user"))


async def test_cancelling_an_order_invalidates_it_and_the_sales_it_no_longer_counts(
        api: Api, floor: dict[str, Any]) -> None:
    order = await place_order(api, floor)
    item = f"/orders/{order['id']}"
    await assert_write_refreshes(api, [("user", item), ("user", "/orders"), *SALES],
                                 lambda: api.patch(item, {"status": "cancelled"}, role="admin"))
    assert (await api.get("/analytics/top-products", role="admin")).json["items"] == []


async def test_shipping_an_order_invalidates_the_order_and_the_products_stock(
        api: Api, floor: dict[str, Any]) -> None:
    order = await place_order(api, floor, quantity=4)
    item = f"/orders/{order['id']}"
    for status in ("confirmed", "in_production"):
        assert (await api.patch(item, {"status": status}, role="admin")).status == 200
    await assert_write_refreshes(api, [("user", item), ("user", "/orders"), *stock_views(floor)],
                                 lambda: api.put(item, {"status": "shipped"}, role="admin"))
    assert (await api.get(f"/products/{floor['product']['id']}", role="user")).json["stock_quantity"] == 96


async def test_deleting_an_order_invalidates_orders_and_sales(api: Api, floor: dict[str, Any]) -> None:
    order = await place_order(api, floor)
    item = f"/orders/{order['id']}"
    await assert_write_refreshes(api, [("user", item), ("user", "/orders"), *SALES],
                                 lambda: api.delete(item, role="admin"))


async def test_recording_production_invalidates_production_stock_and_production_analytics(
        api: Api, floor: dict[str, Any]) -> None:
    await api.create("production", production_body(floor, line="B"), role="user")
    reads = [("user", "/production"), ("admin", "/production"), *stock_views(floor), *PRODUCTION_REPORTS]
    await assert_write_refreshes(api, reads, lambda: api.post("/production", production_body(floor),
                                                              role="user"))
    assert (await api.get(f"/products/{floor['product']['id']}", role="user")).json["stock_quantity"] == 118


@pytest.mark.parametrize("method,body", [
    ("PATCH", {"quantity_defective": 4}),
    ("PUT", {"quantity_produced": 20, "quantity_defective": 0, "line": "C"}),
])
async def test_changing_a_production_record_invalidates_it_the_stock_and_the_analytics(
        api: Api, floor: dict[str, Any], method: str, body: dict[str, Any]) -> None:
    record = await api.create("production", production_body(floor), role="user")
    item = f"/production/{record['id']}"
    full = body if method == "PATCH" else production_body(floor, **body)
    reads = [("user", item), ("user", "/production"), *stock_views(floor), *PRODUCTION_REPORTS]
    await assert_write_refreshes(api, reads, lambda: api.request(method, item, json_body=full, role="admin"))


async def test_deleting_a_production_record_invalidates_it_the_stock_and_the_analytics(
        api: Api, floor: dict[str, Any]) -> None:
    record = await api.create("production", production_body(floor), role="user")
    item = f"/production/{record['id']}"
    reads = [("user", item), ("user", "/production"), *stock_views(floor), *PRODUCTION_REPORTS]
    await assert_write_refreshes(api, reads, lambda: api.delete(item, role="admin"))


async def test_a_stock_adjustment_invalidates_the_product_and_its_ledger(
        api: Api, floor: dict[str, Any]) -> None:
    path = f"/products/{floor['product']['id']}/stock-adjustments"
    await assert_write_refreshes(api, stock_views(floor), lambda: api.post(
        path, {"delta": -7, "reason": "Cycle count"}, role="admin"))


async def test_renaming_master_data_invalidates_the_analytics_that_show_the_name(
        api: Api, floor: dict[str, Any]) -> None:
    await place_order(api, floor)
    await api.create("production", production_body(floor), role="user")
    renames = [
        (f"/products/{floor['product']['id']}", [SALES[0], *PRODUCTION_REPORTS[:1]]),
        (f"/customers/{floor['customer']['id']}", [SALES[1]]),
        (f"/employees/{floor['employee']['id']}", [PRODUCTION_REPORTS[2],
                                                   ("admin", "/analytics/production-efficiency"
                                                             "?group_by=employee")]),
    ]
    for path, reads in renames:
        await assert_write_refreshes(api, reads, lambda path=path: api.patch(
            path, {"name": "Renamed " + path}, role="admin"))


async def test_analytics_as_csv_are_cached_apart_from_json_and_invalidated_too(
        api: Api, floor: dict[str, Any]) -> None:
    csv_reads = [("admin", "/analytics/top-products")]
    headers = {"Accept": "text/csv"}
    first = await api.get(csv_reads[0][1], role="admin", headers=headers)
    cached = await api.get(csv_reads[0][1], role="admin", headers=headers)
    assert cached.headers["X-Cache"] == "hit" and cached.headers["Content-Type"].startswith("text/csv")
    as_json = await api.get(csv_reads[0][1], role="admin")
    assert as_json.headers["X-Cache"] == "miss"
    assert as_json.headers["Content-Type"].startswith("application/json")
    await place_order(api, floor)
    after = await api.get(csv_reads[0][1], role="admin", headers=headers)
    assert after.headers["X-Cache"] == "miss" and after.body != first.body
