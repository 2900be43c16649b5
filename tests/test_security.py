"""Security suite: forged tokens, hostile input per field, security headers, CORS and login answers.

Each refusal is the documented 4xx and leaves the database as it was (row counts and row contents).
The roles × routes matrix lives in tests/identity/test_roles.py, driven by the same route table.
"""
from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

import jwt
import pytest
from marshmallow import fields
from sqlalchemy import func, select

from core.security import DUMMY_HASH, hash_password
from handlers.routes import build_routes
from models import Base
from schemas.common import MAX_INT, Money
from services.catalog.customers import CustomerService
from services.catalog.employees import EmployeeService
from services.catalog.products import ProductService
from services.floor.production import ProductionService
from services.identity.users import UserService
from services.sales.orders import OrderService
from tests.conftest import PASSWORDS, SECRET
from tests.waiting import line_status_settled

# Forging an HS512 token with the (HS256-sized) test key is the point, not a mistake.
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key is")
SERVICES = {s.name: s for s in (ProductService(), CustomerService(), EmployeeService(), OrderService(),
                                ProductionService(), UserService())}
OVERLONG = "x" * 100_000
SQLISH = "' OR 1=1; DROP TABLE products; --"


# -- the database before and after ------------------------------------------------------------

async def snapshot(app: Any) -> dict[str, int]:
    """Row counts of every table."""
    async with app.ctx.db.session() as session:
        return {table.name: await session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


async def unchanged(app: Any, api: Any, action: Callable[[], Awaitable[Any]], *rows: str) -> Any:
    """Run `action`; assert every table keeps its row count and every row in `rows` its content."""
    for role in ("user", "admin", "super_admin"):
        await api.token(role)  # sign-ins write sessions: do them before the snapshot
    await line_status_settled(app)  # the setup's line.status events are written after its commits
    before_counts = await snapshot(app)
    before_rows = [(await api.get(path, role="super_admin")).json for path in rows]
    result = await action()
    assert await snapshot(app) == before_counts
    assert [(await api.get(path, role="super_admin")).json for path in rows] == before_rows
    return result


# -- forged and stale tokens ------------------------------------------------------------------

async def claims_of(api: Any, role: str = "user") -> dict[str, Any]:
    token = (await api.login(f"test_{role}", PASSWORDS[role])).json["access_token"]
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def tamper(token: str, **changes: Any) -> str:
    """Change the payload but keep the old signature."""
    header, payload, signature = token.split(".")
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    body = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{body}.{signature}"


FORGERIES: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "alg none": lambda c, r: jwt.encode(c, None, algorithm="none"),
    "alg none, no signature part": lambda c, r: jwt.encode(c, None, algorithm="none").rstrip("."),
    "wrong key": lambda c, r: sign(c, "another-secret-" + "y" * 40),
    "HS512 with the right key": lambda c, r: sign(c, algorithm="HS512"),
    "expired": lambda c, r: sign({**c, "iat": c["iat"] - 7200, "nbf": c["iat"] - 7200,
                                  "exp": c["iat"] - 3600}),
    "not yet valid (nbf)": lambda c, r: sign({**c, "nbf": int(time.time()) + 3600}),
    "issued in the future (iat)": lambda c, r: sign({**c, "iat": int(time.time()) + 3600,
                                                     "nbf": int(time.time())}),
    "wrong audience": lambda c, r: sign({**c, "aud": "some-other-api"}),
    "wrong issuer": lambda c, r: sign({**c, "iss": "someone-else"}),
    "no jti": lambda c, r: sign({k: v for k, v in c.items() if k != "jti"}),
    "no exp": lambda c, r: sign({k: v for k, v in c.items() if k != "exp"}),
    "refresh token as access token": lambda c, r: r["refresh_token"],
    "typ claim changed to display": lambda c, r: sign({**c, "typ": "display"}),
    "tampered role claim": lambda c, r: tamper(r["access_token"], role="super_admin"),
    "tampered subject": lambda c, r: tamper(r["access_token"], sub="1"),
    "someone else's session": lambda c, r: sign({**c, "sid": c["sid"] + 1000}),
    "stale token version": lambda c, r: sign({**c, "ver": c["ver"] + 1}),
    "garbage": lambda c, r: "not.a.token",
}


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_forged_tokens_are_401_with_a_bearer_challenge(api: Any, forgery: str) -> None:
    pair = (await api.login("test_user", PASSWORDS["user"])).json
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    token = FORGERIES[forgery](claims, pair)
    for path in ("/auth/me", "/products", "/employees"):
        response = await api.get(path, token=token)
        assert response.status == 401, (forgery, path, response)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Content-Type"] == "application/problem+json"
        assert SECRET not in response.body.decode()


async def test_a_correctly_signed_raised_role_claim_does_not_raise_rights(api: Any) -> None:
    """Rights come from the user's row, not from the token: a leaked key still cannot mint a role."""
    claims = await claims_of(api, "user")
    token = sign({**claims, "role": "super_admin"})
    assert (await api.get("/auth/me", token=token)).json["role"] == "user"
    assert (await api.get("/employees", token=token)).status == 403


async def _make_user(api: Any, name: str) -> tuple[int, str]:
    created = await api.create("users", {"username": name, "password": "first-pass-123", "role": "admin"},
                               role="super_admin")
    token = (await api.login(name, "first-pass-123")).json["access_token"]
    assert (await api.get("/employees", token=token)).status == 200
    return created["id"], token


STALE = {
    "deleted user": lambda api, ident: api.delete(f"/users/{ident}", role="super_admin"),
    "deactivated user": lambda api, ident: api.patch(f"/users/{ident}", {"is_active": False},
                                                     role="super_admin"),
    "password changed": lambda api, ident: api.patch(f"/users/{ident}", {"password": "second-pass-123"},
                                                     role="super_admin"),
    "role lowered": lambda api, ident: api.patch(f"/users/{ident}", {"role": "user"}, role="super_admin"),
}


@pytest.mark.parametrize("change", STALE)
async def test_tokens_of_changed_users_are_401(api: Any, change: str) -> None:
    ident, token = await _make_user(api, "shift.lead")
    assert (await STALE[change](api, ident)).status in (200, 204)
    for path in ("/auth/me", "/employees"):
        response = await api.get(path, token=token)
        assert response.status == 401, (change, response)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- hostile input, field by field ------------------------------------------------------------

def bad_values(name: str, field: fields.Field) -> list[tuple[str, Any]]:
    """Values every field of this kind must refuse with a 422."""
    wrong_types: list[tuple[str, Any]] = [("object", {"a": 1}), ("array", [1])]
    if not field.allow_none:
        wrong_types.append(("null", None))
    if isinstance(field, fields.List):
        return [*wrong_types, ("string", "many"), ("empty", []), ("item of wrong type", ["x"]),
                ("101 items", [{"product_id": 1, "quantity": 1}] * 101)]
    if isinstance(field, Money):
        return [*wrong_types, ("negative", "-1.00"), ("zero", "0"), ("huge", "1" + "0" * 40),
                ("not a number", "ten"), ("NaN", "NaN"), ("Infinity", "Infinity"), ("boolean", True)]
    if isinstance(field, fields.Decimal):
        return [*wrong_types, ("negative", -1), ("huge", 10**40), ("not a number", "ten"),
                ("NaN", "NaN"), ("boolean", True)]
    if isinstance(field, fields.Integer):
        return [*wrong_types, ("string", "7"), ("float", 1.5), ("boolean", True), ("negative", -1),
                ("huge", 10**30), ("one past the INT column", MAX_INT + 1), ("SQL", SQLISH)]
    if isinstance(field, fields.Boolean):
        return [*wrong_types, ("string", "yes"), ("number", 1)]
    if isinstance(field, fields.Date):
        return [*wrong_types, ("impossible date", "2026-13-45"), ("number", 20260101), ("SQL", SQLISH)]
    values = [*wrong_types, ("number", 12345), ("boolean", False), ("overlong", OVERLONG)]
    if name != "password":  # a password may hold any character; every other text refuses controls
        values += [("NUL byte", "ab\x00cd@example.com"), ("control character", "ab\x1bcd")]
    return values


async def valid_body(name: str, make: Any) -> dict[str, Any]:
    if name == "products":
        return {"sku": "SEC-1", "name": "Bolt", "price": "1.25", "stock_quantity": 5, "reorder_level": 1,
                "ideal_cycle_seconds": 2.5, "description": "M6"}
    if name == "customers":
        return {"name": "Acme", "email": "acme@example.com", "phone": "+4930555000", "address": "Main St"}
    if name == "employees":
        return {"name": "Dana", "position": "Operator", "email": "dana@example.com", "phone": "+4940555000"}
    if name == "users":
        return {"username": "night.shift", "password": "night-pass-123", "role": "user", "is_active": True}
    product = await make.product(stock_quantity=100)
    if name == "orders":
        customer = await make.customer()
        return {"customer_id": customer["id"], "items": [{"product_id": product["id"], "quantity": 2}]}
    employee = await make.employee()
    await make.line("L1")  # a record names a registered line and shift
    await make.shift("early", "06:00", "14:00")
    return {"product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 10,
            "quantity_defective": 1, "date_produced": "2026-11-02", "line": "L1", "shift": "early",
            "planned_minutes": 480, "downtime_minutes": 30}


def cases(service: Any) -> list[tuple[str, str, Any]]:
    schema = service.schema()
    return [(name, label, value) for name, field in schema.load_fields.items()
            for label, value in bad_values(field.data_key or name, field)]


async def refused(api: Any, method: str, path: str, body: Any, expected: int = 422) -> str | None:
    response = await api.request(method, path, json_body=body, role="super_admin")
    if response.status != expected or response.headers["Content-Type"] != "application/problem+json":
        return f"{method} {path} {body!r:.120} → {response.status} {response.body[:200]!r}"
    return None


@pytest.mark.parametrize("name", SERVICES)
async def test_bad_input_on_create_is_422_and_changes_nothing(app: Any, api: Any, make: Any,
                                                              name: str) -> None:
    service, path = SERVICES[name], f"/{name}"
    valid = await valid_body(name, make)

    async def attempts() -> list[str]:
        failures = []
        for field, label, value in cases(service):
            failure = await refused(api, "POST", path, {**valid, field: value})
            if failure:
                failures.append(f"{field} {label}: {failure}")
        failures += filter(None, [
            await refused(api, "POST", path, {**valid, "is_admin": True}),
            await refused(api, "POST", path, {**valid, "id": 5}),
            await refused(api, "POST", path, [valid]),
        ])
        return failures

    assert await unchanged(app, api, attempts) == []
    assert (await api.post(path, valid, role="super_admin")).status == 201  # the baseline is valid


@pytest.mark.parametrize("name", [n for n in SERVICES if n != "orders"])
async def test_bad_input_on_update_is_422_and_keeps_the_row(app: Any, api: Any, make: Any, name: str) -> None:
    service, path = SERVICES[name], f"/{name}"
    row = (await api.post(path, await valid_body(name, make), role="super_admin")).json
    item = f"{path}/{row['id']}"

    async def attempts() -> list[str]:
        failures = []
        for field, label, value in cases(service):
            for method in ("PATCH", "PUT"):
                base = {} if method == "PATCH" else put_body(name, row)
                body = {**base, field: value}
                failure = await refused(api, method, item, body)
                if failure:
                    failures.append(f"{field} {label}: {failure}")
        return failures

    assert await unchanged(app, api, attempts, item) == []


def put_body(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row as a full replacement body: its writable fields, as returned."""
    schema = SERVICES[name].schema()
    body = {key: row[key] for key in schema.load_fields if key in row}
    if name == "users":
        body["password"] = "night-pass-123"
    return body


async def test_order_status_changes_refuse_anything_but_a_status(app: Any, api: Any, make: Any) -> None:
    product, customer = await make.product(stock_quantity=5), await make.customer()
    order = await api.create("orders", {"customer_id": customer["id"], "product_id": product["id"],
                                        "quantity": 1}, role="user")
    item = f"/orders/{order['id']}"

    async def attempts() -> list[str | None]:
        return [await refused(api, "PATCH", item, body) for body in (
            {"status": "teleported"}, {"status": 3}, {"status": None}, {"status": SQLISH},
            {"status": "shipped\x00"}, {"status": "confirmed", "total_price": "0.01"},
            {"customer_id": customer["id"]}, {})]

    assert await unchanged(app, api, attempts, item, f"/products/{product['id']}") == [None] * 8


@pytest.mark.parametrize("raw", [b'{"name": "\xff\xfe"}', b"\xc3\x28", b'{"name": "ok"', b"[1, 2", b"\x00"])
async def test_invalid_utf8_and_broken_json_bodies_are_400(app: Any, api: Any, raw: bytes) -> None:
    async def attempts() -> list[int]:
        return [(await api.request("POST", f"/{name}", body=raw, role="super_admin",
                                   headers={"Content-Type": "application/json"})).status for name in SERVICES]

    assert await unchanged(app, api, attempts) == [400] * len(SERVICES)


async def test_stock_cannot_overflow_the_column(app: Any, api: Any, make: Any) -> None:
    product = await make.product(stock_quantity=MAX_INT - 5)
    path = f"/products/{product['id']}"

    async def attempts() -> list[int]:
        return [(await api.post(f"{path}/stock-adjustments", {"delta": delta, "reason": "count"},
                                role="admin")).status for delta in (6, MAX_INT, -MAX_INT)]

    assert await unchanged(app, api, attempts, path) == [409, 409, 409]
    last = await api.post(f"{path}/stock-adjustments", {"delta": 5, "reason": "count"}, role="admin")
    assert last.status == 201 and last.json["balance_after"] == MAX_INT


# -- hostile queries --------------------------------------------------------------------------

LISTS = [f"/{name}" for name in SERVICES]
BAD_QUERIES = [
    "per_page=1000000000", "per_page=0", "per_page=-5", "per_page=ten", "page=0", "page=-1",
    "page=99999999999999999999", "page=1.5", "sort_by=id;DROP%20TABLE%20products", "sort_by=id%20desc",
    "sort_by=password_hash", "sort_by=" + quote(SQLISH), "sort_order=sideways", "sort_order=asc;--",
    "no_such_filter=1", "page=%00", "sort_by=%ff%fe", "per_page=10%00",
]


@pytest.mark.parametrize("path", LISTS)
async def test_bad_list_queries_are_400_naming_the_parameter(app: Any, api: Any, make: Any,
                                                             path: str) -> None:
    await make.product()

    async def attempts() -> list[str]:
        failures = []
        for query in BAD_QUERIES:
            response = await api.get(f"{path}?{query}", role="super_admin")
            name = query.split("=")[0]
            if response.status != 400 or name not in (response.json or {}).get("errors", {}):
                failures.append(f"{path}?{query} → {response.status} {response.body[:160]!r}")
        return failures

    assert await unchanged(app, api, attempts, "/products?per_page=100") == []


@pytest.mark.parametrize("query", ["q=", "name=", "sku=", "q=%25", "name=_"])
async def test_sql_looking_text_filters_match_literally(app: Any, api: Any, make: Any, query: str) -> None:
    await make.product(name="Plain bolt")
    value = SQLISH if query.endswith("=") else ""

    async def attempt() -> Any:
        return await api.get(f"/products?{query}{quote(value)}", role="user")

    response = await unchanged(app, api, attempt, "/products")
    assert response.status == 200
    assert response.json["items"] == []


# -- headers on every response ----------------------------------------------------------------

def concrete(route: Any) -> str:
    if route.name == "docs_asset":
        return "/docs/static/swagger-ui.css"
    return unquote(route.reverse(*["1"] * route.regex.groups))


def header_requests() -> list[tuple[str, str, str | None]]:
    seen = []
    for route in build_routes():
        access = (route.kwargs or {}).get("access") or route.handler_class.access
        for method in access:
            seen.append((method, concrete(route), "admin"))
            seen.append((method, concrete(route), None))
        seen.append(("TRACE" if "GET" in access else "GET", concrete(route), None))
    return seen + [("GET", "/no/such/path", None), ("GET", "/static/dashboard.js", None),
                   ("GET", "/static/no-such-file.js", None), ("OPTIONS", "/products", None)]


async def test_security_headers_on_every_response(app: Any, api: Any, make: Any) -> None:
    await make.product()
    failures = []
    for method, path, role in header_requests():
        if path == "/ws":
            continue  # a WebSocket upgrade, covered by tests/test_ws.py
        body = {} if method in ("POST", "PUT", "PATCH") else None
        response = await api.request(method, path, json_body=body, role=role)
        headers = response.headers
        problems = []
        if headers.get("X-Content-Type-Options") != "nosniff":
            problems.append("no nosniff")
        if any(ch.isdigit() for ch in headers.get("Server", "")):
            problems.append(f"Server: {headers['Server']}")
        if headers.get("Content-Type", "").startswith("text/html"):
            csp = headers.get("Content-Security-Policy", "")
            if "default-src 'self'" not in csp or "frame-ancestors 'none'" not in csp:
                problems.append(f"HTML without a strict CSP ({csp!r})")
        if response.status >= 500:
            problems.append(f"status {response.status}")
        if problems:
            failures.append(f"{method} {path} as {role} → {response.status}: {', '.join(problems)}")
    assert failures == []


async def test_error_pages_and_stack_traces_never_show(api: Any) -> None:
    for method, path in (("GET", "/no/such/path"), ("TRACE", "/products"), ("GET", "/products/abc")):
        response = await api.request(method, path)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert b"Traceback" not in response.body and b"<html" not in response.body


# -- CORS ---------------------------------------------------------------------------------------

@pytest.mark.settings(cors_origins=("http://good.example",))
async def test_cors_only_for_configured_origins(api: Any) -> None:
    good = await api.get("/products", role="user", headers={"Origin": "http://good.example"})
    assert good.headers["Access-Control-Allow-Origin"] == "http://good.example"
    assert "Origin" in good.headers["Vary"]
    for origin in ("http://evil.example", "http://good.example.evil.example", "null", "*"):
        response = await api.get("/products", role="user", headers={"Origin": origin})
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers, origin
        assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = {"Origin": "http://good.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "Authorization, Content-Type"}
    allowed = await api.request("OPTIONS", "/products", headers=preflight)
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://good.example"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    refused_preflight = await api.request("OPTIONS", "/products",
                                          headers={**preflight, "Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused_preflight.headers


async def test_no_cors_headers_without_configured_origins(api: Any) -> None:
    response = await api.get("/products", role="user", headers={"Origin": "http://good.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


# -- login ------------------------------------------------------------------------------------

async def test_unknown_user_wrong_password_and_inactive_user_get_one_answer(api: Any) -> None:
    ident = (await api.create("users", {"username": "retired", "password": "retired-pass-1"},
                              role="super_admin"))["id"]
    await api.patch(f"/users/{ident}", {"is_active": False}, role="super_admin")
    answers = []
    for username, password in (("nobody-here", "whatever-123"), ("test_user", "wrong-pass-123"),
                               ("retired", "retired-pass-1")):
        response = await api.login(username, password)
        body = {k: v for k, v in response.json.items() if k != "instance"}
        answers.append((response.status, body, response.headers.get("WWW-Authenticate")))
    assert answers[0][0] == 401
    assert answers[0] == answers[1] == answers[2]


def test_unknown_users_cost_a_full_password_check() -> None:
    """Same scrypt parameters for the dummy hash as for real ones, so both answers take as long."""
    assert DUMMY_HASH.split("$")[:4] == hash_password("any password").split("$")[:4]
