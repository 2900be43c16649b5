"""GET /openapi.json and GET /docs: a valid OpenAPI 3.0.3 document that documents every route of the table."""
from __future__ import annotations

from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource

from handlers.routes import build_routes
from schemas.openapi import build_document, openapi_path, route_access

pytestmark = pytest.mark.sqlite_only  # the document does not depend on the database
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    built, undocumented = build_document(build_routes())
    assert undocumented == [], f"routes without docs: {undocumented}"
    return built


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method.upper(), op)
            for path, ops in document["paths"].items() for method, op in ops.items()]


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = document[section][kind][name]
    return node


def test_the_document_is_valid_openapi_3_0_3(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.0.3"
    validate(document)


def test_every_route_and_method_of_the_table_is_documented() -> None:
    built, undocumented = build_document(build_routes())
    assert undocumented == []
    for route in build_routes():
        path, params, _ = openapi_path(route.regex.pattern)
        access = route_access(route)
        assert access, f"{route.regex.pattern} has no access table"
        for method in access:
            if method in METHODS:
                assert method.lower() in built["paths"].get(path, {}), f"{method} {path} is not documented"


def test_a_route_without_docs_is_reported() -> None:
    from tornado.web import url

    from handlers.base import BaseHandler

    class Undocumented(BaseHandler):
        access = {"GET": "user", "POST": "admin"}

    _, undocumented = build_document([url(r"/widgets", Undocumented)])
    assert undocumented == ["GET /widgets", "POST /widgets"]


def test_operations_have_ids_summaries_tags_and_responses(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    tag_names = {tag["name"] for tag in document["tags"]}
    for path, method, op in operations(document):
        assert op["summary"], (method, path)
        assert op["tags"] and set(op["tags"]) <= tag_names, (method, path)
        assert any(status.startswith("2") or status == "101" for status in op["responses"]), (method, path)


def test_protected_operations_name_bearer_security_and_role(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "An access token from POST /auth/login."}
    for route in build_routes():
        path, _, _ = openapi_path(route.regex.pattern)
        for method, role in route_access(route).items():
            op = document["paths"][path][method.lower()]
            if role is None:
                assert "security" not in op, (method, path)
                continue
            assert op["security"] == [{"bearerAuth": []}], (method, path)
            assert op["x-required-role"] == role
            assert role in op["description"]
            assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_path_parameters_are_declared_with_types(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
        assert set(declared) == names, (method, path)
        for param in declared.values():
            assert param["required"] is True and param["schema"].get("type"), (method, path)
        if names and "ident" in names:
            assert declared["ident"]["schema"]["type"] == "integer"
            assert "404" in op["responses"], (method, path)


def test_every_list_documents_paging_sorting_and_the_envelope(document: dict[str, Any]) -> None:
    lists = 0
    for path, _, op in operations(document):
        ok = resolve(document, op["responses"].get("200", {}))
        schema = ok.get("content", {}).get("application/json", {}).get("schema", {})
        if "oneOf" in schema:  # a list: the envelope, or with include_meta=false the bare rows
            schema, rows = schema["oneOf"]
            assert rows == {**schema["properties"]["items"], "description": rows["description"]}, path
            assert "include_meta" in [p["name"] for p in op["parameters"]], path
        if set(schema.get("properties", {})) != {"items", "meta"}:
            continue
        if not path.startswith("/analytics/"):
            assert "text/csv" in ok["content"], path
        lists += 1
        params = {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert schema["properties"]["items"]["type"] == "array", path
        assert schema["properties"]["meta"] == {"$ref": "#/components/schemas/PageMeta"}
        if path.startswith("/analytics/"):
            assert {"from", "to", "limit"} <= set(params), path
            continue
        assert params["page"]["minimum"] == 1, path
        assert (params["per_page"]["minimum"], params["per_page"]["maximum"]) == (1, 100), path
        assert params["sort_order"]["enum"] == ["asc", "desc"], path
        assert "id" in params["sort_by"]["enum"], path
        assert "Link" in ok["headers"], path
    assert lists >= 8


def test_resource_filters_come_from_the_list_query_schemas(document: dict[str, Any]) -> None:
    params = {p["name"]: p["schema"] for p in document["paths"]["/orders"]["get"]["parameters"]}
    assert {"status", "customer_id", "from", "to"} <= set(params)
    assert "shipped" in params["status"]["enum"]
    assert params["from"]["format"] == "date"
    products = {p["name"]: p["schema"] for p in document["paths"]["/products"]["get"]["parameters"]}
    assert products["low_stock"]["type"] == "boolean"


def test_bodies_and_their_statuses(document: dict[str, Any]) -> None:
    create = document["paths"]["/products"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Product"}
    assert {"201", "400", "409", "413", "415", "422", "429"} <= set(create["responses"])
    assert "Location" in create["responses"]["201"]["headers"]
    patch = document["paths"]["/products/{ident}"]["patch"]
    patch_schema = resolve(document, patch["requestBody"]["content"]["application/json"]["schema"])
    assert "required" not in patch_schema and "stock_quantity" not in patch_schema["properties"]
    delete = document["paths"]["/products/{ident}"]["delete"]
    assert "content" not in delete["responses"]["204"]
    product = document["components"]["schemas"]["Product"]
    assert product["additionalProperties"] is False
    assert product["properties"]["id"]["readOnly"] is True
    assert product["properties"]["price"]["type"] == "string"
    assert product["properties"]["stock_quantity"]["minimum"] == 0
    user = document["components"]["schemas"]["User"]
    assert user["properties"]["password"]["writeOnly"] is True
    assert user["properties"]["role"]["enum"] == ["user", "admin", "super_admin"]


def test_errors_are_problem_json_with_their_headers(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    for name in ("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "PayloadTooLarge",
                 "UnprocessableEntity", "TooManyRequests", "ServiceUnavailable"):
        assert responses[name]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"}
    assert "WWW-Authenticate" in responses["Unauthorized"]["headers"]
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(responses["TooManyRequests"]["headers"])
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")) and "$ref" not in response:
                assert path == "/readyz" and status == "503", (method, path, status)


def test_cached_gets_document_etag_and_304(document: dict[str, Any]) -> None:
    for path in ("/products", "/products/{ident}", "/orders", "/analytics/top-products"):
        op = document["paths"][path]["get"]
        assert op["responses"]["304"] == {"$ref": "#/components/responses/NotModified"}
        assert "ETag" in op["responses"]["200"]["headers"]
        assert any(p["name"] == "If-None-Match" for p in op["parameters"])


def test_request_examples_satisfy_their_schemas(document: dict[str, Any]) -> None:
    registry = Registry().with_resource("urn:doc", Resource.opaque(document))
    checked = 0
    for path, method, op in operations(document):
        media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" not in media:
            continue
        # The schema where it stands in the document, so the references inside it resolve too.
        parts = ("paths", path, method.lower(), "requestBody", "content", "application/json", "schema")
        pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)
        schema = {"$ref": f"urn:doc#/{pointer}"}
        errors = list(OAS30Validator(schema, registry=registry).iter_errors(media["example"]))
        assert not errors, (method, path, [e.message for e in errors])
        checked += 1
    assert checked >= 5


async def test_the_server_serves_the_document_and_304s_it(api: Any) -> None:
    first = await api.get("/openapi.json")
    assert first.status == 200
    assert first.headers["Content-Type"].startswith("application/json")
    validate(first.json)
    assert first.json["paths"].keys() == build_document(build_routes())[0]["paths"].keys()
    again = await api.get("/openapi.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and again.body == b""


async def test_docs_page_is_offline_swagger_under_a_strict_csp(api: Any) -> None:
    page = await api.get("/docs")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    html = page.body.decode()
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    for asset, media in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                         ("swagger-init.js", "text/javascript"), ("favicon-32x32.png", "image/png")):
        assert f"/docs/static/{asset}" in html
        response = await api.get(f"/docs/static/{asset}")
        assert response.status == 200, asset
        assert response.headers["Content-Type"].startswith(media)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    init = (await api.get("/docs/static/swagger-init.js")).body.decode()
    assert '"/openapi.json"' in init and "persistAuthorization: true" in init and "validatorUrl: null" in init
    missing = await api.get("/docs/static/petstore.json")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
