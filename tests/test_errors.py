"""The error contract: every error is RFC 9457 problem+json, with the right status and
headers, an X-Request-ID, and never a stack trace or SQL text."""
from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

PROBLEM_KEYS = {"type", "title", "status", "detail"}
LEAKS = re.compile(r"Traceback|File \"|sqlalchemy|SELECT |INSERT |UPDATE |DELETE FROM|\[SQL|"
                   r"OperationalError|IntegrityError|pymysql|aiomysql|sqlite3|\.py\b", re.I)


def assert_problem(response, status):
    assert response.status == status, response
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
    body = response.json
    assert PROBLEM_KEYS <= set(body), body
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert not LEAKS.search(response.body.decode()), response.body
    assert re.fullmatch(r"[A-Za-z0-9._\-]{1,64}", response.headers["X-Request-ID"])
    return body


# -- 400 --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"{bad json", b"{\"name\": }", b"\xff\xfe", b"[1, 2", b"'single'"])
async def test_malformed_json_is_400(api, raw):
    response = await api.request("POST", "/products", body=raw, role="admin",
                                 headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


async def test_empty_body_is_400(api):
    response = await api.request("POST", "/products", body=b"", role="admin",
                                 headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


async def test_malformed_query_is_400_naming_the_parameter(api):
    body = assert_problem(await api.get("/products?page=abc&per_page=0", role="user"), 400)
    assert set(body["errors"]) == {"page", "per_page"}
    assert "page" in body["detail"] and "per_page" in body["detail"]


# -- 401 and 403 ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"},
                                     {"Authorization": "Basic dXNlcjpwYXNz"}])
async def test_401_carries_a_bearer_challenge(api, headers):
    response = await api.get("/products", headers=headers)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_403_for_a_role_too_low(api):
    response = await api.post("/products", {"sku": "X-1", "name": "X", "price": "1.00"}, role="user")
    body = assert_problem(response, 403)
    assert "admin" in body["detail"]
    assert "WWW-Authenticate" not in response.headers


# -- 404 and 405 ------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH", "PUT"])
async def test_unknown_path_is_404(api, method):
    body = {} if method in ("POST", "PATCH", "PUT") else None
    response = await api.request(method, "/no/such/thing", json_body=body, role="admin")
    assert_problem(response, 404)


@pytest.mark.parametrize("path", ["/products/999999", "/customers/999999", "/employees/999999",
                                  "/users/999999", "/products/999999999999999999"])
async def test_unknown_id_is_404(api, path):
    body = assert_problem(await api.get(path, role="super_admin"), 404)
    assert "999999" in body["detail"]


@pytest.mark.parametrize("path", ["/products/abc", "/products/1.5", "/products/-1", "/products/"])
async def test_malformed_ids_are_404(api, path):
    assert_problem(await api.get(path, role="user"), 404)


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/products", {"GET", "POST"}),
    ("PUT", "/customers", {"GET", "POST"}),
    ("POST", "/products/1", {"GET", "PATCH", "PUT", "DELETE"}),
    ("GET", "/auth/login", {"POST"}),
    ("DELETE", "/auth/me", {"GET"}),
])
async def test_wrong_method_is_405_with_allow(api, method, path, allowed):
    body = {} if method in ("POST", "PUT") else None
    response = await api.request(method, path, json_body=body, role="super_admin")
    assert_problem(response, 405)
    listed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= listed <= allowed | {"HEAD", "OPTIONS"}


async def test_head_where_there_is_no_get_is_405(api):
    response = await api.request("HEAD", "/auth/login")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"


async def test_unsupported_http_method_is_405(api):
    response = await api.request("PROPFIND", "/products", role="admin")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


# -- 413, 415 and 422 -------------------------------------------------------------------------

async def test_body_over_one_mib_is_413(api):
    big = json.dumps({"sku": "BIG-1", "name": "Big", "price": "1.00", "description": "x" * (1024 * 1024)})
    response = await api.request("POST", "/products", body=big, role="admin",
                                 headers={"Content-Type": "application/json"})
    assert_problem(response, 413)
    assert (await api.get("/products", role="admin")).json["meta"]["total"] == 0


async def test_body_just_under_one_mib_is_parsed(api):
    # Not refused for its size: it gets as far as validation (description is capped at 5000).
    big = json.dumps({"sku": "BIG-1", "name": "Big", "price": "1.00", "description": "x" * (1024 * 1000)})
    response = await api.request("POST", "/products", body=big, role="admin",
                                 headers={"Content-Type": "application/json"})
    body = assert_problem(response, 422)
    assert list(body["errors"]) == ["description"]


async def test_non_json_content_type_is_refused(api):
    response = await api.request("POST", "/products", body=b"<product/>", role="admin",
                                 headers={"Content-Type": "application/xml"})
    assert response.status in (400, 415)
    assert_problem(response, response.status)


async def test_validation_is_422_with_errors_per_field(api):
    response = await api.post("/products", {"sku": "bad sku", "price": "-1", "colour": "red"}, role="admin")
    body = assert_problem(response, 422)
    errors = body["errors"]
    assert set(errors) == {"sku", "price", "name", "colour"}
    for messages in errors.values():
        assert isinstance(messages, list) and all(isinstance(m, str) and m for m in messages)


async def test_409_is_a_problem_too(api, make):
    await make.product(sku="TWIN-1")
    body = assert_problem(await api.post("/products", {"sku": "TWIN-1", "name": "T", "price": "1.00"},
                                         role="admin"), 409)
    assert body["errors"] == {"sku": ["Already in use."]}


# -- X-Request-ID -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, role, status", [
    ("GET", "/healthz", None, 200),
    ("GET", "/products", "user", 200),
    ("GET", "/products", None, 401),
    ("POST", "/products", "user", 403),
    ("GET", "/products/999999", "user", 404),
    ("GET", "/nowhere", None, 404),
    ("DELETE", "/products", "admin", 405),
    ("POST", "/auth/login", None, 422),
])
async def test_request_id_is_echoed_on_every_response(api, method, path, role, status):
    body = {} if method == "POST" else None
    response = await api.request(method, path, json_body=body, role=role,
                                 headers={"X-Request-ID": "client-chosen-id.42"})
    assert response.status == status
    assert response.headers["X-Request-ID"] == "client-chosen-id.42"
    if status >= 400:
        assert response.json["instance"] == "urn:request:client-chosen-id.42"


@pytest.mark.parametrize("method, path, role", [("GET", "/healthz", None), ("GET", "/products", None),
                                                ("GET", "/nowhere", "user"), ("DELETE", "/products", "admin"),
                                                ("GET", "/products", "user")])
async def test_request_id_is_generated_when_absent(api, method, path, role):
    first = await api.request(method, path, role=role)
    second = await api.request(method, path, role=role)
    assert re.fullmatch(r"[A-Za-z0-9._\-]{8,64}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("supplied", ["has space", "x" * 65, "semi;colon", "<script>"])
async def test_unsafe_request_ids_are_replaced(api, supplied):
    response = await api.get("/healthz", headers={"X-Request-ID": supplied})
    assert response.headers["X-Request-ID"] != supplied
    assert re.fullmatch(r"[A-Za-z0-9._\-]{1,64}", response.headers["X-Request-ID"])


# -- server-side failures never leak ----------------------------------------------------------

@pytest.mark.sqlite_only
async def test_a_database_error_leaks_nothing_and_is_logged_under_the_request_id(app, api, caplog):
    await api.token("user")
    async with app.ctx.db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE customers"))
    with caplog.at_level(logging.INFO):
        response = await api.get("/customers", role="user", headers={"X-Request-ID": "broken-table-1"})
    assert response.status >= 500
    assert_problem(response, response.status)
    logged = [r.getMessage() for r in caplog.records if "broken-table-1" in r.getMessage()]
    assert any("no such table: customers" in message for message in logged), logged



async def test_a_failed_statement_never_carries_its_values(app):
    """What a failed statement's error says (and so what the log gets) leaves out the bound values."""
    with pytest.raises(DBAPIError) as failure:
        async with app.ctx.db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO no_such_table (secret) VALUES (:secret)"),
                               {"secret": "Bound-Value-7f3a"})
    assert "no_such_table" in str(failure.value)
    assert "Bound-Value-7f3a" not in str(failure.value)


@pytest.mark.parametrize("declared", [1024 * 1024 + 1, 20 * 1024 * 1024, 10 ** 12])
async def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(api, base_url, declared):
    """Even past the server's own cap, the answer is a problem+json 413, not a cut connection."""
    port = int(base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"POST /products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {declared}\r\n\r\n").encode() + b"{" * 1000)
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
    length = int(re.search(r"Content-Length: (\d+)", head).group(1))
    body = json.loads(await asyncio.wait_for(reader.readexactly(length), 10))
    writer.close()
    assert head.startswith("HTTP/1.1 413 ")
    assert "application/problem+json" in head and "X-Content-Type-Options: nosniff" in head
    assert body["status"] == 413 and "over 1048576 bytes" in body["detail"]
    assert (await api.get("/products", role="admin")).json["meta"]["total"] == 0
