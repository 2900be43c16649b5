"""`/openapi.json` and the Swagger UI page at `/docs`, served offline from swagger-ui-bundle's files."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import swagger_ui_bundle
from tornado.web import URLSpec

from core.errors import ApiError
from handlers.base import BaseHandler, dumps
from schemas.openapi import build_document
from services.integrations.asyncapi import build_asyncapi

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
# Only 'self': the page, its scripts, styles and the document all come from this server.
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Factory Management System — API documentation</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script src="/docs/static/swagger-init.js"></script>
</body>
</html>
"""

# A script file rather than inline code, so the page's CSP can forbid inline scripts.
SWAGGER_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""

# name → media type; swagger-init.js is ours, the rest are the package's own files.
ASSETS = {
    "swagger-ui.css": "text/css; charset=UTF-8",
    "swagger-ui-bundle.js": "text/javascript; charset=UTF-8",
    "swagger-init.js": "text/javascript; charset=UTF-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

_TEXT = {"type": "string"}


@functools.cache
def asset_body(name: str) -> bytes:
    if name == "swagger-init.js":
        return SWAGGER_INIT.encode()
    return (SWAGGER_DIR / name).read_bytes()


class OpenApiDocument:
    """The OpenAPI document of a route table, built on first use (the table is complete by then).

    `servers` names where the API is: FACTORY_PUBLIC_URL, else the origin the request came to; the
    body is rendered once per origin (a few at most; bounded whatever Host headers clients send).
    """

    def __init__(self, routes: list[URLSpec]) -> None:
        self.routes = routes
        self._document: dict[str, Any] | None = None
        self._rendered: dict[str, tuple[bytes, str]] = {}

    def rendered(self, origin: str = "/") -> tuple[bytes, str]:
        """The JSON body for a server at `origin`, and its ETag."""
        if self._document is None:
            self._document, _ = build_document(self.routes)
        if origin not in self._rendered:
            if len(self._rendered) >= 16:
                self._rendered.clear()
            body = dumps({**self._document, "servers": [{"url": origin, "description": "This server."}]})
            self._rendered[origin] = (body, f'"{hashlib.sha1(body).hexdigest()}"')
        return self._rendered[origin]


class OpenApiHandler(BaseHandler):
    """`GET /openapi.json`: the OpenAPI 3.0.3 document, built once per application."""

    access = {"GET": None}
    docs = {"GET": {
        "summary": "This API's OpenAPI 3.0.3 document", "tags": ["docs"], "cached": True,
        "database": False,
        "responses": {200: {"description": "The document.", "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}}}}},
    }}

    def initialize(self, document: OpenApiDocument, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.document = document

    async def get(self) -> None:
        self.send_document(*self.document.rendered(self.link_base))


@functools.lru_cache(maxsize=16)  # keyed by the Host header: bounded, whatever clients send
def asyncapi_body(host: str, secure: bool) -> tuple[bytes, str]:
    body = dumps(build_asyncapi(host, secure))
    return body, f'"{hashlib.sha1(body).hexdigest()}"'


class AsyncApiHandler(BaseHandler):
    """`GET /asyncapi.json`: the AsyncAPI 3.0 document of the live feed and the webhooks."""

    access = {"GET": None}
    docs = {"GET": {
        "summary": "The AsyncAPI 3.0 document of /ws and the webhook payloads", "tags": ["docs"],
        "cached": True, "database": False,
        "responses": {200: {"description": "The document.", "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}}}}},
    }}

    async def get(self) -> None:
        # FACTORY_PUBLIC_URL names the live server when set, as it does in links.
        public = urlsplit(self.ctx.settings.public_url or "")
        if public.netloc:
            self.send_document(*asyncapi_body(public.netloc, public.scheme == "https"))
        else:
            self.send_document(*asyncapi_body(self.request.host[:255], self.request.protocol == "https"))


class SwaggerPageHandler(BaseHandler):
    """`GET /docs`: Swagger UI over /openapi.json, with Authorize and Try it out."""

    access = {"GET": None}
    docs = {"GET": {
        "summary": "Swagger UI for this API (offline)", "tags": ["docs"], "database": False,
        "responses": {200: {"description": "The HTML page.", "content": {"text/html": {"schema": _TEXT}}}},
    }}

    async def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", DOCS_CSP)
        self.finish(DOCS_PAGE)


class SwaggerAssetHandler(BaseHandler):
    """`GET /docs/static/{asset}`: the Swagger UI scripts, styles and icons."""

    access = {"GET": None}
    docs = {"GET": {
        "summary": "A Swagger UI asset", "tags": ["docs"], "database": False,
        "path": {"asset": {"type": "string", "enum": list(ASSETS)}},
        "responses": {200: {"description": "The file.", "content": {
            "text/css": {"schema": _TEXT}, "text/javascript": {"schema": _TEXT},
            "image/png": {"schema": {"type": "string", "format": "binary"}}}}},
    }}

    async def get(self, asset: str) -> None:
        if asset not in ASSETS:
            raise ApiError(404, f"No Swagger UI asset named {asset}.")
        self.set_header("Content-Type", ASSETS[asset])
        self.set_header("Cache-Control", "public, max-age=3600")
        self.finish(asset_body(asset))
