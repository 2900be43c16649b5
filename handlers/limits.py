"""Refusals before routing: bodies over the limit (declared or chunked), long URLs, big headers.

Each is a problem+json answer from a handler, never Tornado's bare 400 or a cut connection, as far
as Tornado lets: past `HEADER_BYTES_HARD` (what Tornado reads of a request head at all) or
`DISCARD_BYTES` of body the connection is still closed.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

import tornado.web
from tornado import httputil
from tornado.ioloop import IOLoop

from core.config import Settings
from core.errors import ApiError
from handlers.base import BaseHandler

_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 64 * 1024
# Tornado reads up to this much of a request head; past it the connection is closed unanswered.
HEADER_BYTES_HARD = 128 * 1024
MAX_QUERY_FIELDS = 1000
# A refused body is read and thrown away, up to this many bytes and seconds, so that the client is
# done sending when the 413 comes and sees it (closing on unread data sends a reset instead).
DISCARD_BYTES = 16 * 1024 * 1024
LINGER_SECONDS = 10.0


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for tornado's HTTPServer: the bounds it enforces itself."""
    return {"max_body_size": DISCARD_BYTES, "body_timeout": settings.body_timeout,
            "max_header_size": HEADER_BYTES_HARD, "idle_connection_timeout": 120}


def let_the_app_count_query_fields() -> None:
    """Raise Tornado's own query-field cap (a bare 400) above what fits in a request head.

    Tornado's setting is process-wide; `refusal` then answers past MAX_QUERY_FIELDS with problem+json.
    """
    config = httputil.ParseBodyConfig(
        urlencoded=httputil.ParseUrlEncodedConfig(max_arguments=HEADER_BYTES_HARD // 2))
    httputil.set_parse_body_config(config)


def refusal(request: httputil.HTTPServerRequest, settings: Settings) -> tuple[int, str] | None:
    """Why a request is refused before it is routed, as (status, detail); None if it is not."""
    if len(request.uri or "") > MAX_URL_BYTES:
        return 414, f"The URL is over {MAX_URL_BYTES} bytes."
    path = request.path or ""
    if "%" in path and _CONTROL.search(unquote_to_bytes(path)):
        # No route's path holds one: a 404 like any other unknown path (a file name with NUL was a 500).
        return 404, "No resource at this path: it holds a control character (NUL included)."
    if sum(len(name) + len(value) + 4 for name, value in request.headers.get_all()) > MAX_HEADER_BYTES:
        return 431, f"The request headers are over {MAX_HEADER_BYTES} bytes."
    if sum(len(values) for values in request.query_arguments.values()) > MAX_QUERY_FIELDS:
        return 400, f"The query has over {MAX_QUERY_FIELDS} fields."
    return None


def body_limit(delegate: Any, settings: Settings) -> int:
    """The routed handler's body limit: its own `max_body_bytes` (imports: 10 MiB) or the default."""
    handler = getattr(delegate, "handler_class", None)
    return getattr(handler, "max_body_bytes", None) or settings.max_body_bytes


class RefusedRequestHandler(BaseHandler):
    """Answers a request `refusal` turned down, with its status, after the caller's budget is spent."""

    def initialize(self, status: int = 400, detail: str = "", **options: Any) -> None:  # type: ignore[override]
        super().initialize(**options)
        self.status, self.detail = status, detail

    async def prepare(self) -> None:
        self.begin()
        await self.admit(self.request.method or "GET")
        raise ApiError(self.status, self.detail)


@tornado.web.stream_request_body
class BodyTooLargeHandler(BaseHandler):
    """A body over the limit: the 413 goes out at once, the connection ends once the body is read.

    Streaming, so it runs as soon as the headers are in (declared size) or the limit is crossed
    (chunked). The answer is flushed right away, but the request is finished only when the rest of
    the body has been read and discarded: a client such as urllib sends its whole body before
    reading, and closing on unread data would reset the connection and lose the 413 (nginx and
    Apache linger the same way). Past DISCARD_BYTES or LINGER_SECONDS the connection closes anyway.
    """

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
    received = 0
    body_done = False  # the whole body was read: finishing keeps the connection usable
    given_up = False  # past the bounds: finishing closes the connection
    _linger: object | None = None

    limit: int | None = None

    def initialize(self, limit: int | None = None, **options: Any) -> None:  # type: ignore[override]
        """`limit`: the route's own body limit, when it is not the default (imports)."""
        super().initialize(**options)
        self.limit = limit

    async def prepare(self) -> None:
        self.begin()
        error = ApiError(413, f"The body is over {self.limit or self.ctx.settings.max_body_bytes} bytes.",
                         headers={"Connection": "close"})
        try:
            await self.admit(self.request.method or "POST")
        except ApiError as exc:  # 429: answered the same lingering way
            error = exc
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > DISCARD_BYTES:
            self.given_up = True
            raise error
        # Over the server's own limit Tornado would cut the connection (with a bare 400) before
        # this handler answers; a chunk may overshoot DISCARD_BYTES, so allow twice that.
        self.request.connection.set_max_body_size(2 * DISCARD_BYTES)
        self._linger = IOLoop.current().call_later(LINGER_SECONDS, self.give_up)
        self.send_error(error.status, exc_info=(ApiError, error, None))

    def finish(self, chunk: Any = None) -> Any:
        """Until the body is in (or the bounds are passed) the answer is only flushed."""
        if self.body_done or self.given_up:
            return super().finish(chunk)
        if self._headers_written:
            return None
        if chunk is not None:
            self.write(chunk)
        self.set_header("Content-Length", str(sum(map(len, self._write_buffer))))
        return self.flush()

    def data_received(self, chunk: bytes) -> None:
        """Thrown away; past DISCARD_BYTES the connection is closed without waiting for the rest."""
        self.received += len(chunk)
        if self.received > DISCARD_BYTES:
            self.give_up()

    def give_up(self) -> None:
        self._stop_lingering()
        if not self._finished:
            self.given_up = True
            super().finish()

    def on_connection_close(self) -> None:
        self._stop_lingering()
        super().on_connection_close()

    def _stop_lingering(self) -> None:
        if self._linger is not None:
            IOLoop.current().remove_timeout(self._linger)
            self._linger = None

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """The body is in: finish the answer already sent, and keep the connection."""
        self._stop_lingering()
        self.body_done = True

    head = post = put = patch = delete = options = get


class BoundedChunkedBody(httputil.HTTPMessageDelegate):
    """Counts a chunked body for its handler; past the limit the request goes to BodyTooLargeHandler."""

    def __init__(self, application: Any, request: httputil.HTTPServerRequest,
                 inner: httputil.HTTPMessageDelegate, limit: int) -> None:
        self.application, self.request, self.inner, self.limit = application, request, inner, limit
        self.size = 0
        self.refusing: httputil.HTTPMessageDelegate | None = None
        self.start_line: Any = None

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        self.start_line = start_line
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        if self.refusing is not None:
            return self.refusing.data_received(chunk)
        self.size += len(chunk)
        if self.size <= self.limit:
            return self.inner.data_received(chunk)
        self.inner.on_connection_close()  # drops the chunks it collected
        self.refusing = self.application.get_handler_delegate(self.request, BodyTooLargeHandler,
                                                              {"limit": self.limit})
        return self.refusing.headers_received(self.start_line, self.request.headers)

    def finish(self) -> None:
        (self.refusing or self.inner).finish()

    def on_connection_close(self) -> None:
        (self.refusing or self.inner).on_connection_close()


def route_with_limits(application: Any, request: httputil.HTTPServerRequest, settings: Settings,
                      route: Any) -> Any:
    """The delegate for `request`: a refusal, or `route()`'s with a chunked body bounded."""
    refused = refusal(request, settings)
    if refused is not None:
        status, detail = refused
        return application.get_handler_delegate(request, RefusedRequestHandler,
                                                {"status": status, "detail": detail})
    delegate = route()
    limit = body_limit(delegate, settings)  # known once routed: a route may allow more (imports)
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return application.get_handler_delegate(request, BodyTooLargeHandler, {"limit": limit})
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return BoundedChunkedBody(application, request, delegate, limit)
    return delegate
