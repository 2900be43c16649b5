"""The OpenAPI 3.0.3 document, built by apispec from the route table and the handlers' own schemas."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields, validate
from tornado.web import URLSpec

from core.errors import problem
from schemas.common import _CONTROL, _PHONE, Money, Phone, StrictInteger, Text

# The docs convention. A handler (or a route's kwargs) may carry `docs = {METHOD: {...}}` with:
#   summary (required)  description  tags
#   body      the request's Schema (JSON)         query  the Schema of its query parameters
#   path      {name: JSON schema} for a path parameter the regex cannot say (e.g. an enum)
#   responses {status: Schema | JSON schema | None (no body) | a full response object with "description"}
#   errors    extra error statuses it can answer, e.g. (404, 409)
#   cached    GET answers with ETag and 304 (default: the handler has cache_tags)
#   sort_fields  the sort_by enum (the GET is a list: its 200 is also text/csv)
#   parameters   extra OpenAPI parameters the handler reads itself (e.g. /ws's `token`)
#   rate_limited / database = False drop the 429 / 503 responses
# Derived for every operation: 400/413/415/422 with a body, 400 with a query, 404 with a path
# parameter, bearer security with 401/403 for a role, 429 and 503. CRUD routes need no docs:
# they are read off their CrudService (schema, list_query, sort_fields, immutable_fields).
OPENAPI_VERSION = "3.0.3"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
JSON = "application/json"
CSV = "text/csv"
CONTACT = {"name": "Factory Management System operators"}
PROBLEM = "application/problem+json"
ROLE_TEXT = {"user": "any signed-in user", "admin": "the `admin` role or higher",
             "super_admin": "the `super_admin` role"}
# The path's first segment names its tag unless a handler's docs say otherwise.
TAG_OF_SEGMENT = {"login": "auth", "healthz": "operations", "readyz": "operations",
                  "metrics": "operations", "openapi.json": "docs", "asyncapi.json": "docs"}
TAG_TEXT = {
    "auth": "Sign-in, tokens and display tokens.",
    "operations": "Probes and metrics for operators.",
    "docs": "This document, the AsyncAPI document of the live feed and webhooks, and the Swagger UI page.",
    "webhooks": "Endpoints that receive every event of their topics as a signed HTTP POST.",
}

_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")

# Error statuses as reusable responses: (name, meaning, headers it always carries).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON body or invalid query parameters (named in `errors`)."),
    401: ("Unauthorized", "No token, or a bad, expired or revoked one."),
    403: ("Forbidden", "The token's role (or a display token) may not do this."),
    404: ("NotFound", "No such resource."),
    405: ("MethodNotAllowed", "The method is not allowed on this path."),
    409: ("Conflict", "Duplicate, in use, bad status change or short stock; nothing changed."),
    413: ("PayloadTooLarge", "The body is over 1 MiB."),
    414: ("URITooLong", "The URL (path and query) is over 8 KiB."),
    415: ("UnsupportedMediaType", "The body must be sent as application/json."),
    422: ("UnprocessableEntity", "The body failed validation; `errors` maps each field to messages."),
    429: ("TooManyRequests", "Rate limited; retry after `Retry-After` seconds."),
    503: ("ServiceUnavailable", "The database is unavailable; retry shortly."),
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {"description": "Identifies the request in the server's log.",
                     "schema": {"type": "string"}},
    "RateLimit": {"description": "Remaining requests in the current window (IETF httpapi draft).",
                  "schema": {"type": "string"}},
    "RateLimit-Policy": {"description": "The budget this request counted against.",
                         "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True,
                    "schema": {"type": "integer", "minimum": 0}},
    "WWW-Authenticate": {"description": "The Bearer challenge.", "required": True,
                         "schema": {"type": "string"}},
    "ETag": {"description": "Entity tag of the body; send it back in `If-None-Match`.",
             "schema": {"type": "string"}},
    "Location": {"description": "URL of the created resource.", "required": True,
                 "schema": {"type": "string"}},
    "Link": {"description": "RFC 8288 links: first, last, prev, next.", "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this is the kept answer to an earlier request "
                                           "with the same Idempotency-Key (nothing was done again).",
                            "schema": {"type": "string", "enum": ["true"]}},
}

IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "A unique key (e.g. a UUID) per intended change (IETF httpapi draft). Retrying with "
                   "the same key and body within 24 h does nothing again and replays the first answer "
                   "(status, body, `Location`) with `Idempotent-Replayed: true`; the same key with another "
                   "body is 422; while the first request is still running a retry waits, or gets 409 "
                   "with `Retry-After`. Keys are per user.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Unprocessable Entity"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "example": 422},
        "detail": {"type": "string", "example": "The request body failed validation."},
        "instance": {"type": "string", "nullable": True, "example": "urn:request:4f1c2a"},
        "errors": {"oneOf": [
            {"type": "object", "additionalProperties": True},
            {"type": "array", "items": {"type": "object", "required": ["row", "field", "message"],
                                        "properties": {"row": {"type": "integer", "minimum": 0},
                                                       "field": {"type": "string"},
                                                       "message": {"type": "string"}}}}],
                   "description": "Field name → list of messages (nested for nested objects); for an "
                                  "import (`POST /imports/…`), a list of `{row, field, message}`.",
                   "example": {"price": ["Missing data for required field."]}},
    },
}

PAGE_META_SCHEMA = {
    "type": "object",
    "required": ["per_page"],
    "description": "A page by number has page, per_page, total, pages and (lists) next_cursor; a page "
                   "by `cursor` has per_page, next_cursor and prev_cursor only (no total).",
    "properties": {
        "page": {"type": "integer", "minimum": 1},
        "per_page": {"type": "integer", "minimum": 1},
        "total": {"type": "integer", "minimum": 0},
        "pages": {"type": "integer", "minimum": 0},
        "next_cursor": {"type": "string", "nullable": True,
                        "description": "Pass as `cursor` for the next page; null on the last page."},
        "prev_cursor": {"type": "string", "nullable": True,
                        "description": "Pass as `cursor` for the page before (cursor pages only)."},
    },
}

# The request body Swagger's "Try it out" starts from, for every schema a body uses (a test checks
# that none is missing): each passes validation, and ids name the first row of each table, so on a
# database with a customer, a product (in stock) and an employee the creates succeed as they are.
# Without one, Swagger UI makes an example up from the schema (for orders both forms at once: a 422).
EXAMPLES: dict[str, dict[str, Any]] = {
    "Login": {"username": "admin", "password": "change-me-now"},
    "Refresh": {"refresh_token": "the refresh_token from POST /auth/login"},
    "PasswordChange": {"current_password": "change-me-now", "new_password": "a-new-long-passphrase"},
    "DisplayTokenRequest": {"label": "Hall 2 wall screen", "expires_in_days": 365},
    "Product": {"sku": "GEAR-12", "name": "Gear 12T", "price": "12.50", "stock_quantity": 40,
                "reorder_level": 10},
    "ProductPatch": {"price": "13.00"},
    "StockAdjustment": {"delta": -2, "reason": "Damaged in transit"},
    "Customer": {"name": "Acme Tools", "email": "buyer@acme.example", "phone": "+4930123456"},
    "CustomerPatch": {"phone": "0301234567"},
    "Employee": {"name": "Dana Smith", "position": "Line operator", "email": "dana@factory.example",
                 "phone": "+4940123456"},
    "EmployeePatch": {"position": "Shift lead"},
    "User": {"username": "line.lead", "password": "a-long-passphrase", "role": "user", "is_active": True},
    "UserPatch": {"is_active": True},
    "Order": {"customer_id": 1, "items": [{"product_id": 1, "quantity": 2}]},
    "OrderStatusChange": {"status": "confirmed"},
    "ProductionRecord": {"product_id": 1, "employee_id": 1, "quantity_produced": 120, "quantity_defective": 3,
                         "date_produced": "2026-11-26", "line": "L1", "shift": "early",
                         "planned_minutes": 480, "downtime_minutes": 25},
    "ProductionRecordPatch": {"quantity_defective": 4},
    # Registered paused, so trying the example sends nothing; PATCH {"active": true} starts it.
    # (An address literal: a host name must resolve, and example.com's address is IANA's own.)
    "Webhook": {"url": "https://93.184.215.14/hooks/factory", "topics": ["orders", "inventory"],
                "description": "ERP order intake", "active": False},
    "WebhookPatch": {"topics": ["orders"]},
    "Shift": {"name": "early", "starts_at": "06:00", "ends_at": "14:00", "break_minutes": 30},
    "ShiftPatch": {"break_minutes": 45},
    "Line": {"code": "L1", "name": "Assembly 1"},
    "LinePatch": {"name": "Assembly 1 (north)"},
    "StopReason": {"code": "tool_change", "label": "Tool change", "planned": True},
    "StopReasonPatch": {"label": "Machine breakdown"},
    "WorkOrder": {"product_id": 1, "line": "L1", "shift": "early", "date": "2026-11-27",
                  "planned_quantity": 800},
    "WorkOrderPatch": {"status": "released"},
    "StopOpen": {"reason": "breakdown", "note": "Conveyor jam at station 3"},
    "StopCorrection": {"reason": "changeover"},
    "CallOpen": {"kind": "maintenance", "note": "Spindle alarm on station 2"},
    "StationTokenRequest": {"label": "Line 1 tablet", "lines": ["L1"], "expires_in_days": 365},
    "StopClassify": {"reason": "breakdown"},
    "Machine": {"name": "Press 1", "line": "L1", "protocol": "sparkplug", "group_id": "plant",
                "node_id": "press-1", "good_metric": "good", "reject_metric": "reject",
                "state_metric": "state", "fault_metric": "fault", "fault_reasons": {"E12": "breakdown"}},
    "MachinePatch": {"micro_stop_seconds": 10},
}


# What Text refuses (control characters) and, when it must not be empty, what stripping leaves.
_NO_CONTROL = _CONTROL.pattern[1:-1]
TEXT_PATTERN = f"^[^{_NO_CONTROL}]*$"
NONBLANK_TEXT_PATTERN = f"^[^{_NO_CONTROL}]*[^\\s{_NO_CONTROL}][^{_NO_CONTROL}]*$"


def input_rules(self: Any, field: fields.Field, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Rules the custom fields enforce, as JSON schema, so the document promises no more than they accept."""
    extra: dict[str, Any] = {}
    if isinstance(field, Phone):
        extra["pattern"] = _PHONE.pattern
    elif isinstance(field, Text) and "pattern" not in ret:
        extra["pattern"] = NONBLANK_TEXT_PATTERN if ret.get("minLength", 0) >= 1 else TEXT_PATTERN
    if isinstance(field, Money):
        low = ret.get("x-minimum")
        extra["pattern"] = (r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,9}(\.[0-9]{1,2})?)$"
                            if low is not None and float(low) > 0 else r"^[0-9]{1,10}(\.[0-9]{1,2})?$")
        extra["example"] = "12.50"
    refused = [v for v in field.validators if isinstance(v, validate.NoneOf)]
    if refused:
        extra["not"] = {"enum": [item for v in refused for item in v.iterable]}
    return extra


def page_of(item: Any) -> dict[str, Any]:
    """The list envelope around `item` (a schema class or a JSON schema), or with
    `include_meta=false` the bare rows."""
    return {"oneOf": [
        {"type": "object", "required": ["items", "meta"],
         "properties": {"items": {"type": "array", "items": item},
                        "meta": {"$ref": "#/components/schemas/PageMeta"}}},
        {"type": "array", "items": item, "description": "The rows alone (`include_meta=false`)."}]}


@dataclass
class Operation:
    """What the builder knows about one method of one route before it becomes OpenAPI."""

    path: str
    method: str
    role: str | None
    doc: dict[str, Any]
    params: list[str]
    path_schemas: dict[str, dict[str, Any]]
    documented: bool = True
    idempotent: bool = False


def openapi_path(pattern: str) -> tuple[str, list[str], dict[str, dict[str, Any]]]:
    """`/products/(?P<ident>[0-9]{1,18})$` → (`/products/{ident}`, ["ident"], {ident: schema})."""
    pattern = pattern.removeprefix("^").removesuffix("$")
    out, names, schemas, pos = [], [], {}, 0
    for match in _GROUP.finditer(pattern):
        if match.start() < pos:
            continue
        depth, end = 1, match.end()
        while depth and end < len(pattern):
            depth += {"(": 1, ")": -1}.get(pattern[end], 0) if pattern[end - 1] != "\\" else 0
            end += 1
        name, inner = match["name"], pattern[match.end():end - 1]
        out.append(pattern[pos:match.start()] + "{" + name + "}")
        names.append(name)
        schemas[name] = _param_schema(inner)
        pos = end
    out.append(pattern[pos:])
    return re.sub(r"\\(.)", r"\1", "".join(out)), names, schemas


def _param_schema(inner: str) -> dict[str, Any]:
    digits = re.fullmatch(r"\[0-9\]\{1,(\d+)\}|\\d\{1,(\d+)\}", inner)
    if digits:
        width = int(digits.group(1) or digits.group(2))
        return {"type": "integer", "minimum": 0, "maximum": 10**width - 1}
    return {"type": "string", "pattern": f"^{inner}$"}


def route_access(route: URLSpec) -> dict[str, str | None]:
    return dict((route.kwargs or {}).get("access") or getattr(route.handler_class, "access", {}) or {})


def route_operations(route: URLSpec) -> list[Operation]:
    """The operations one route serves, with the docs that describe each."""
    path, params, path_schemas = openapi_path(route.regex.pattern)
    kwargs = route.kwargs or {}
    service = kwargs.get("service")
    handler_docs = kwargs.get("docs") or getattr(route.handler_class, "docs", {}) or {}
    operations = []
    for method, role in route_access(route).items():
        if method not in METHODS:
            continue
        doc = handler_docs.get(method)
        documented = doc is not None and bool(doc.get("summary"))
        if doc is None and service is not None:
            doc = resource_doc(service, method, item=bool(params))
            documented = True
        doc = dict(doc or {})
        if method == "GET":
            doc.setdefault("cached", bool(getattr(route.handler_class, "cache_tags", ())))
        idempotent = method in getattr(route.handler_class, "idempotent", ())
        operations.append(Operation(path, method, role, doc, params, path_schemas, documented=documented,
                                    idempotent=idempotent))
    return operations


def resource_doc(service: Any, method: str, *, item: bool) -> dict[str, Any]:
    """The docs of a generic CRUD route, read off its CrudService."""
    label, schema = service.label, service.schema
    tag = service.name.replace("_", "-")
    if not item and method == "GET":
        query = service.list_query
        return {"summary": f"List {tag}", "tags": [tag], "query": query, "cached": True,
                "sort_fields": service.sort_fields, "responses": {200: page_of(schema)},
                "description": f"Paged; sort by one of: {', '.join(service.sort_fields)}. "
                               "`Accept: text/csv` answers every matching row as CSV instead "
                               "(filters and sort applied, no paging, streamed; order lines flattened "
                               "to one row each)."}
    if not item and method == "POST":
        return {"summary": f"Create a {label.lower()}", "tags": [tag], "body": schema,
                "responses": {201: schema}, "errors": (409,)}
    if method == "GET":
        return {"summary": f"Read a {label.lower()}", "tags": [tag], "cached": True,
                "responses": {200: schema}}
    if method == "DELETE":
        return {"summary": f"Delete a {label.lower()}", "tags": [tag], "responses": {204: None},
                "errors": (409,),
                "description": "409 while other rows reference it."}
    # PUT is PATCH (clients of the old system send only the fields that changed). Fields fixed
    # after creation (stock) are left out: sending a different value is a 422.
    fixed = tuple(service.immutable_fields)
    body = schema(partial=True, exclude=fixed)
    if method == "PATCH":
        return {"summary": f"Change a {label.lower()}", "tags": [tag], "body": body,
                "responses": {200: schema}, "errors": (409,),
                "description": "Updates the fields sent and keeps the others; each field sent is "
                               "validated as on create (422 names the fields it refuses)."}
    return {"summary": f"Update a {label.lower()} (the fields sent, as PATCH)", "tags": [tag],
            "body": body, "responses": {200: schema}, "errors": (409,),
            "description": "Like PATCH: the fields sent are updated and the others kept, so a client "
                           "may send the whole row or only what changed. Each field sent is validated "
                           "as on create (422 names the fields it refuses); unknown fields are refused."}


def schema_name(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not isinstance(schema, type):
        if schema.partial is True:
            name += "Patch"
        elif schema.exclude:
            name += "Update"
    return name


class DocumentBuilder:
    """Turns operations into an apispec document; `undocumented` lists what had no docs."""

    def __init__(self, title: str, version: str) -> None:
        self.plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
        self.spec = APISpec(title=title, version=version, openapi_version=OPENAPI_VERSION,
                            plugins=[self.plugin], info={"description": DESCRIPTION, "contact": CONTACT})
        self.plugin.map_to_openapi_type(Text, "string", None)
        self.plugin.map_to_openapi_type(StrictInteger, "integer", None)
        self.plugin.map_to_openapi_type(Money, "string", "decimal")
        self.plugin.converter.add_attribute_function(input_rules)
        self.undocumented: list[str] = []
        self.tags: set[str] = set()
        self._components()

    def _components(self) -> None:
        comp = self.spec.components
        comp.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                            "description": "An access token from POST /auth/login."})
        comp.schema("Problem", PROBLEM_SCHEMA)
        comp.schema("PageMeta", PAGE_META_SCHEMA)
        for name, header in HEADERS.items():
            comp.header(name, header)
        for status, (name, text) in ERRORS.items():
            comp.response(name, self._problem_response(status, text))
        comp.response("NotModified", {"description": "The `If-None-Match` ETag still matches.",
                                      "headers": self._headers("ETag")})

    def _headers(self, *names: str) -> dict[str, Any]:
        return {name: {"$ref": f"#/components/headers/{name}"} for name in names}

    def _problem_response(self, status: int, text: str) -> dict[str, Any]:
        headers = {401: ("WWW-Authenticate",), 429: ("Retry-After", "RateLimit", "RateLimit-Policy"),
                   503: ("Retry-After",)}.get(status, ())
        return {"description": text, "headers": self._headers("X-Request-ID", *headers),
                "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"},
                                      "example": problem_example(status)}}}

    # -- operations -----------------------------------------------------------------------

    def add(self, routes: Iterable[URLSpec]) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for route in routes:
            operations = route_operations(route)
            if not operations and not route_access(route):
                self.undocumented.append(f"{route.regex.pattern} (no access table)")
            for op in operations:
                if not op.documented:
                    self.undocumented.append(f"{op.method} {op.path}")
                paths.setdefault(op.path, {})[op.method.lower()] = self.operation(op, route)
        for path, operations in paths.items():
            self.spec.path(path=path, operations=operations)
        for tag in sorted(self.tags):
            self.spec.tag({"name": tag, **({"description": TAG_TEXT[tag]} if tag in TAG_TEXT else {})})
        return self.spec.to_dict()

    def operation(self, op: Operation, route: URLSpec) -> dict[str, Any]:
        doc, handler = op.doc, route.handler_class
        tags = doc.get("tags") or [TAG_OF_SEGMENT.get(op.path.split("/")[1], op.path.split("/")[1])]
        self.tags.update(tags)
        name = route.name or op.path.strip("/").replace("/", "_")
        operation: dict[str, Any] = {
            "operationId": f"{op.method.lower()}_{name}",
            "summary": doc.get("summary") or (handler.__doc__ or op.path).strip().splitlines()[0],
            "tags": tags,
            "parameters": self.parameters(op),
            "responses": self.responses(op, handler),
        }
        # Every operation says what it does: its docs, else its handler's docstring, else the summary.
        description = doc.get("description") or _docstring(handler) or operation["summary"]
        if op.role is not None:
            operation["security"] = [{"bearerAuth": []}]
            operation["x-required-role"] = op.role
            description = f"Requires {ROLE_TEXT[op.role]} (bearer token). {description}".strip()
        if description:
            operation["description"] = description
        if doc.get("body") is not None:
            operation["requestBody"] = self.request_body(doc["body"])
        if not operation["parameters"]:
            del operation["parameters"]
        return operation

    def parameters(self, op: Operation) -> list[dict[str, Any]]:
        path_schemas = {**op.path_schemas, **op.doc.get("path", {})}
        params = [{"in": "path", "name": name, "required": True, "schema": path_schemas[name]}
                  for name in op.params]
        query = op.doc.get("query")
        if query is not None:
            converted = self.plugin.converter.schema2parameters(query, location="query")
            for param in converted:
                if param["name"] == "sort_by" and op.doc.get("sort_fields"):
                    param["schema"] = {"type": "string", "enum": list(op.doc["sort_fields"])}
            params.extend(converted)
        params.extend(op.doc.get("parameters", ()))  # extra ones a handler reads itself
        if op.idempotent:
            params.append(IDEMPOTENCY_PARAMETER)
        if op.method == "GET" and self.cached(op):
            params.append({"in": "header", "name": "If-None-Match", "required": False,
                           "description": "An ETag from an earlier response: 304 when unchanged.",
                           "schema": {"type": "string"}})
        return params

    def cached(self, op: Operation) -> bool:
        """Cached GETs carry an ETag and answer a matching If-None-Match with 304."""
        return bool(op.doc.get("cached"))

    def request_body(self, schema: Any) -> dict[str, Any]:
        if isinstance(schema, dict) and "content" in schema:
            return schema  # a complete request body (several media types, e.g. CSV or JSON)
        media: dict[str, Any] = {"schema": schema}
        if isinstance(schema, dict):
            return {"required": True, "content": {JSON: media}}
        example = EXAMPLES.get(schema_name(schema))
        if example is not None:
            media["example"] = example
        return {"required": True, "content": {JSON: media}}

    def responses(self, op: Operation, handler: type) -> dict[str, Any]:
        doc = op.doc
        responses: dict[str, Any] = {}
        for status, body in (doc.get("responses") or {200: None}).items():
            responses[str(status)] = self.success(op, int(status), body)
        errors = set(doc.get("errors", ()))
        if op.method in ("POST", "PUT", "PATCH") and doc.get("body") is not None:
            errors |= {400, 413, 415, 422}
        if doc.get("query") is not None:
            errors |= {400, 414}  # a query can make the URL longer than the server reads
        if op.idempotent:
            errors |= {400, 409, 422}
        if op.params:
            errors.add(404)
        if op.role is not None:
            errors |= {401, 403}
        if doc.get("rate_limited", True):
            errors.add(429)
        if doc.get("database", True):
            errors.add(503)
        for status in sorted(errors):
            if str(status) not in responses:
                responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
        if op.method == "GET" and self.cached(op) and "304" not in responses:
            responses["304"] = {"$ref": "#/components/responses/NotModified"}
        if op.method == "GET" and doc.get("sort_fields") and "200" in responses:
            responses["200"] = with_csv(responses["200"])
        return dict(sorted(responses.items()))

    def success(self, op: Operation, status: int, body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and "description" in body:
            return body  # a complete response object (HTML, CSV, …)
        headers = ["X-Request-ID", "RateLimit", "RateLimit-Policy"]
        if status == 201:
            headers.append("Location")
        if op.idempotent and status < 300:
            headers.append("Idempotent-Replayed")
        if op.method == "GET" and status == 200 and self.cached(op):
            headers.append("ETag")
            if op.doc.get("query") is not None and op.doc.get("sort_fields"):
                headers.append("Link")
        response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Success."),
                                    "headers": self._headers(*headers)}
        if body is not None and status != 204:
            response["content"] = {JSON: {"schema": body}}
        return response


def with_csv(response: dict[str, Any]) -> dict[str, Any]:
    """A list's 200 answer, which is also CSV on `Accept: text/csv` (every list answers it)."""
    content = response.get("content", {})
    if CSV in content or JSON not in content:
        return response
    return {**response, "content": {**content, CSV: {"schema": {
        "type": "string", "description": "`Accept: text/csv`: a header line, then one line per row "
                                         "(every matching row, no paging)."}}}}


def _docstring(handler: type) -> str:
    """A handler's docstring as one paragraph (its own, not a base class's)."""
    text = handler.__dict__.get("__doc__") or ""
    return " ".join(text.split())


def write_only_not_required(document: dict[str, Any]) -> dict[str, Any]:
    """A write-only field (a user's password) is left out of `required`, its description saying when
    it is needed: OpenAPI 3.0 means "required in requests only", but generated clients read the
    list for responses too, and then fail on every answer (which never carries the field)."""
    for schema in document.get("components", {}).get("schemas", {}).values():
        required = schema.get("required", [])
        for name, prop in schema.get("properties", {}).items():
            if prop.get("writeOnly") and name in required:
                required.remove(name)
                note = "Required when creating; never in answers."
                prop["description"] = f"{prop['description']} {note}" if prop.get("description") else note
        if "required" in schema and not required:
            del schema["required"]
    return document


def prune_unused(document: dict[str, Any]) -> dict[str, Any]:
    """Drop the components nothing refers to (reusable responses an API never answers, say)."""
    components = document.get("components", {})
    while True:
        used = set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', json.dumps(document)))
        unused = [(kind, name) for kind in ("schemas", "responses", "headers", "parameters")
                  for name in components.get(kind, {}) if (kind, name) not in used]
        if not unused:
            return document
        for kind, name in unused:
            del components[kind][name]


# What each error status says in its example (the Problem schema's own example is a 422).
PROBLEM_DETAILS: dict[int, tuple[str, dict[str, list[str]] | None]] = {
    400: ("Invalid query parameter: per_page.", {"per_page": ["Must be between 1 and 100."]}),
    401: ("Authentication required.", None),
    403: ("This needs the admin role.", None),
    404: ("Product 42 does not exist.", None),
    405: ("DELETE is not allowed here.", None),
    409: ("Another product already has this sku.", {"sku": ["Already in use."]}),
    413: ("The body is over 1048576 bytes.", None),
    415: ("Send the body as application/json.", None),
    422: ("The request body failed validation.", {"price": ["Missing data for required field."]}),
    429: ("Too many write requests; retry in 3 s.", None),
    503: ("The database is unavailable; try again shortly.", None),
}


def problem_example(status: int) -> dict[str, Any]:
    """A problem document as the server sends it for `status`."""
    detail, errors = PROBLEM_DETAILS.get(status, (ERRORS[status][1], None))
    return problem(status, detail, errors=errors, instance="urn:request:4f1c2a9e0b7d0000000001")


_STATUS_TEXT = {200: "Success.", 201: "Created; `Location` names the new resource.",
                202: "Accepted.", 204: "Done; no body."}

DESCRIPTION = (
    "The Factory Management System's REST API. Sign in with `POST /auth/login` and send the "
    "access token as `Authorization: Bearer <token>` (the **Authorize** button here). "
    "Errors are RFC 9457 `application/problem+json`. Lists are paged with `page`/`per_page` and "
    "answer `{items, meta}` with a `Link` header. Every response carries `X-Request-ID` and the "
    "rate-limit headers `RateLimit` and `RateLimit-Policy`. POSTs that create or move something take "
    "an `Idempotency-Key` header. The live feed (`/ws`) and the webhook payloads are described by the "
    "AsyncAPI 3.0 document at [/asyncapi.json](/asyncapi.json)."
)


def build_document(routes: Iterable[URLSpec], *, title: str = "Factory Management System",
                   version: str = "1.0.0") -> tuple[dict[str, Any], list[str]]:
    """The OpenAPI document for `routes`, and the routes or methods that lack docs."""
    builder = DocumentBuilder(title, version)
    document = builder.add(routes)
    return prune_unused(write_only_not_required(_plain(document))), builder.undocumented


def _plain(value: Any) -> Any:
    """Decimal bounds from validators become JSON numbers."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
