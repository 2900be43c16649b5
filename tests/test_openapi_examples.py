"""/docs examples: every request body has one that the server takes as it is, and every error status
shows an example of its own (not the same 422 for all)."""
from __future__ import annotations

from typing import Any

import pytest

from handlers.routes import build_routes
from schemas.openapi import EXAMPLES, build_document

DOCUMENT, _ = build_document(build_routes())
REFUSED_AS_INVALID = {400, 413, 415, 422}


def body_operations() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                found.append((method.upper(), path, operation["requestBody"]["content"]["application/json"]))
    return found


def test_every_request_body_has_its_own_example() -> None:
    missing = [f"{method} {path}" for method, path, media in body_operations() if "example" not in media]
    assert not missing, f"request bodies without an example (add it to EXAMPLES): {missing}"


def test_every_error_response_shows_an_example_with_its_own_status() -> None:
    responses = DOCUMENT["components"]["responses"]
    seen = set()
    for operations in DOCUMENT["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                name = response["$ref"].rsplit("/", 1)[1] if "$ref" in response else None
                media = (responses[name] if name else response)["content"].get("application/problem+json")
                if media is None:  # /readyz answers 503 with its own JSON report
                    continue
                assert media["example"]["status"] == int(status), (status, media["example"])
                seen.add(int(status))
    assert {400, 401, 403, 404, 409, 422, 429} <= seen


@pytest.mark.sqlite_only
async def test_each_example_is_taken_as_it_is(api: Any, make: Any) -> None:
    # The rows the examples name by id 1, and a user who signs in with the login example.
    await make.customer()
    await make.product(stock_quantity=500)
    await make.employee()
    login = EXAMPLES["Login"]
    await api.create("users", {**login, "role": "admin"}, role="super_admin")
    token = (await api.login(login["username"], login["password"])).json["access_token"]
    password_change = None
    # A station token names the example line: sent once the line example has made it.
    for method, path, media in sorted(body_operations(), key=lambda op: op[1] == "/auth/station-tokens"):
        target = path.replace("{ident}", "1").replace("{code}", "L1")
        if path == "/auth/password":  # it ends the token's session: sent last
            password_change = (method, target, media["example"])
            continue
        response = await api.request(method, target, json_body=media["example"], token=token,
                                     role=None if path.startswith("/auth") else "super_admin")
        assert response.status not in REFUSED_AS_INVALID, (method, path, response)
        if method == "POST" and "{ident}" not in path and path != "/auth/refresh":
            assert response.status in (200, 201), (method, path, response)
    method, target, example = password_change
    assert (await api.request(method, target, json_body=example, token=token)).status == 200
