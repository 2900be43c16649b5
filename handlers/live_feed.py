"""`/ws`: the live feed over WebSocket — first-message auth, a topic ACL, subscriptions and replay.

Protocol (README "Live feed" has every frame): the client's first message is
`{"type":"auth","token":…}` (or it connects with `?token=` or an `Authorization: Bearer` header);
then `subscribe`/`unsubscribe`/`ping`. Every
frame to the client goes through the connection's hub `Subscriber`: one bounded queue written by
the hub's flush, so replies and events keep their order and a slow client only ever delays itself.

Close codes: 4401 missing, bad, expired or revoked token (also when it stops being valid later);
4403 a topic the token may not read; 4429 too many connections for the user (per display token)
or the address; 1013 the client fell too far behind; 1001 server shutdown;
1009 a message over the size limit. An unknown topic, bad JSON or an unknown message type gets an
`error` frame and the connection stays open.
"""
from __future__ import annotations

import logging
import socket
from typing import Any

import tornado.ioloop
import tornado.websocket

from core.jsonin import JsonInputError, parse_json
from core.logs import redact
from core.security import Principal, TokenError
from handlers.base import BaseHandler
from handlers.live_connections import CLOSE_FORBIDDEN, CLOSE_TOO_MANY, CLOSE_UNAUTHORIZED, LiveFeedConnections
from handlers.ws_protocol import StrictWebSocketProtocol
from realtime.frames import StreamFrames
from realtime.hub import TOPICS, Subscriber, SubscriptionError, encode_frame

log = logging.getLogger("factory.realtime")

# The kernel's send buffer is part of what a stalled client can hold: left to autotuning it grows to
# megabytes per socket and hides a dead reader for minutes. Linux doubles this value.
SEND_BUFFER_BYTES = 128 * 1024


class LiveFeedHandler(tornado.websocket.WebSocketHandler, BaseHandler):
    """`GET /ws`: the live feed; BaseHandler's prepare takes one `read` budget per connection."""

    # The handshake is public: the token comes in the first message (or ?token=) and is checked there.
    access = {"GET": None}
    budgets = {"GET": "read"}
    allow_display = True
    docs = {"GET": {
        "summary": "Live feed (WebSocket upgrade)", "tags": ["live feed"], "database": False,
        "description": (
            "The live feed: open it with a WebSocket client (`Upgrade: websocket`). Sign in with "
            "`?token=`, an `Authorization: Bearer` header, or a first message "
            '`{"type":"auth","token":…}` within 5 s; then subscribe to topics. Every frame, event '
            "payload and close code (4401 bad token, 4403 forbidden topic, 4429 too many links, 1013 "
            "too slow) is in the AsyncAPI document at [/asyncapi.json](/asyncapi.json). A plain HTTP "
            "GET is sent there."),
        "parameters": [{"in": "query", "name": "token", "required": False,
                        "description": "An access or display token, for clients that cannot send headers.",
                        "schema": {"type": "string"}}],
        "responses": {
            101: {"description": "Switching to the WebSocket protocol: the live feed runs on this link."},
            303: {"description": "Not a WebSocket upgrade: see the AsyncAPI document of the feed.",
                  "headers": {"Location": {"$ref": "#/components/headers/Location"}},
                  "content": {"application/json": {"schema": {
                      "type": "object", "required": ["detail", "asyncapi"],
                      "properties": {"detail": {"type": "string"}, "asyncapi": {"type": "string"}}}}}},
        },
        "errors": (400, 414),  # 414: a query (token) longer than the server reads
    }}

    token: str | None = None
    token_error: str | None = None
    counted: tuple[str, ...] = ()  # the keys this connection counts under, in LiveFeedConnections
    subscriber: Subscriber | None = None
    _deadline: object | None = None

    # -- the handshake ----------------------------------------------------------------------

    async def authenticate(self) -> Principal | None:
        """A bearer header or `?token=` at the handshake; otherwise the first message brings it."""
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or self.get_query_argument("token", "").strip()
        if not token:
            return None
        try:
            principal = await self.ctx.auth.resolve(token)
        except TokenError as exc:
            self.token_error = str(exc)
            raise
        self.token = token
        return principal

    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            # Plain HTTP: point at the document that says how to use the feed.
            self.set_status(303)
            self.set_header("Location", "/asyncapi.json")
            self.send_json({"detail": "/ws is the live feed: connect with a WebSocket client. The "
                                      "protocol is described by /asyncapi.json.",
                            "asyncapi": "/asyncapi.json"}, 303)
            return
        await super().get(*args, **kwargs)

    def get_websocket_protocol(self) -> StrictWebSocketProtocol | None:
        """Tornado's protocol, failing the connection on unmasked frames and invalid close frames."""
        protocol = super().get_websocket_protocol()
        return None if protocol is None else StrictWebSocketProtocol(self, False, protocol.params)

    def check_origin(self, origin: str) -> bool:
        """Cross-origin browsers only from the configured origins (same host is always allowed)."""
        return origin in self.ctx.settings.ws_origins or super().check_origin(origin)

    def open(self, *args: str, **kwargs: str) -> None:
        self.connections.add(self)
        self.set_nodelay(True)
        sock = self.ws_connection.stream.socket
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        if not self.connections.admit(self, f"ip:{self.client_ip}", self.ctx.settings.ws_max_per_address):
            self.close(CLOSE_TOO_MANY, "too many live-feed connections from this address")
        elif self.token_error is not None:
            self.close(CLOSE_UNAUTHORIZED, f"authentication failed: {self.token_error}")
        elif self.principal is not None:
            if self.admit_principal(self.principal):
                self.start_feed()
        else:
            self._deadline = tornado.ioloop.IOLoop.current().call_later(
                self.ctx.settings.ws_auth_timeout, self.close, CLOSE_UNAUTHORIZED, "authentication timed out")

    def admit_principal(self, principal: Principal) -> bool:
        """Count this link against its user (or its display or station token: a hall's screens and
        tablets are minted by one admin, and each token has a count of its own); close 4429 past the cap."""
        if self.connections.admit(self, principal.caller, self.ctx.settings.ws_max_per_user):
            return True
        self.close(CLOSE_TOO_MANY, "too many live-feed connections for this user")
        return False

    @property
    def connections(self) -> LiveFeedConnections:
        return self.ctx.live_feed

    def start_feed(self) -> None:
        self._cancel_deadline()
        self.subscriber = self.ctx.hub.attach(StreamFrames(self.ws_connection.stream, self.close))

    # -- messages ---------------------------------------------------------------------------

    async def on_message(self, message: str | bytes) -> None:
        request = self.parse(message)
        if self.subscriber is None:  # not signed in yet: only an auth message will do
            if request is None or request.get("type") != "auth":
                self.close(CLOSE_UNAUTHORIZED, 'the first message must be {"type":"auth","token":…}')
                return
            await self.sign_in(request.get("token"))
            return
        if request is None:
            return
        kind = request.get("type")
        if kind == "subscribe":
            self.subscribe(request)
        elif kind == "unsubscribe":
            topics = request.get("topics")
            if not _is_name_list(topics):
                self.reply_error("unsubscribe needs topics: a list of topic names")
                return
            self.subscriber.unsubscribe(topics)
            self.reply({"type": "unsubscribed", "topics": sorted(self.subscriber.topics)})
        elif kind == "ping":
            self.reply({"type": "pong"})
        elif kind == "auth":  # a fresh token for a long-lived link, before the old one expires
            await self.sign_in(request.get("token"))
        else:
            self.reply_error(f"unknown message type {str(kind)[:40]!r}; expected subscribe, unsubscribe, "
                             "ping or auth")

    def parse(self, message: str | bytes) -> dict[str, Any] | None:
        """The message as a JSON object with a string `type`; None (after an error frame) if not."""
        if isinstance(message, bytes):
            self.reply_error("send JSON text frames, not binary ones")
            return None
        try:
            request = parse_json(message)
        except JsonInputError as exc:
            self.reply_error(f"the message is {exc}")
            return None
        if not isinstance(request, dict) or not isinstance(request.get("type"), str):
            self.reply_error('a message is a JSON object with a "type"')
            return None
        return request

    async def sign_in(self, token: Any) -> None:
        if not isinstance(token, str) or not token.strip():
            self.close(CLOSE_UNAUTHORIZED, "authentication failed: missing token")
            return
        try:
            principal = await self.ctx.auth.resolve(token.strip())
        except TokenError as exc:
            self.close(CLOSE_UNAUTHORIZED, f"authentication failed: {exc}")
            return
        if self.ws_connection is None:  # closed (auth deadline, shutdown) while the token was checked
            return
        self.principal, self.token = principal, token.strip()
        if self.subscriber is None:
            if self.admit_principal(principal):
                self.start_feed()
            return
        may_read = self.connections.may_read
        forbidden = sorted(topic for topic in self.subscriber.topics if not may_read(principal, topic))
        if forbidden:
            self.close(CLOSE_FORBIDDEN, f"not allowed to read topic {forbidden[0]}")

    def subscribe(self, request: dict[str, Any]) -> None:
        topics, filters = request.get("topics"), request.get("filters")
        if not _is_name_list(topics) or not topics:
            self.reply_error("subscribe needs topics: a list of topic names")
            return
        if filters is not None and not isinstance(filters, dict):
            self.reply_error("filters must be an object with product_id and/or line")
            return
        may_read = self.connections.may_read
        forbidden = sorted(t for t in set(topics) & TOPICS if not may_read(self.principal, t))
        if forbidden:
            self.close(CLOSE_FORBIDDEN, f"not allowed to read topic {forbidden[0]}")
            return
        try:
            self.subscriber.subscribe(topics, request.get("since"), filters)
        except SubscriptionError as exc:
            self.reply_error(str(exc))

    def reply(self, message: dict[str, Any]) -> None:
        if self.subscriber is not None:
            self.subscriber.push(encode_frame(message))

    def reply_error(self, text: str) -> None:
        self.reply({"type": "error", "message": text})

    # -- the end ----------------------------------------------------------------------------

    def on_close(self) -> None:
        self._cancel_deadline()
        if self.subscriber is not None:
            self.subscriber.detach()
        self.connections.discard(self)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._deadline)
            self._deadline = None

    def _request_summary(self) -> str:
        # Tornado's own log lines name the request: never with the ?token= in them.
        return f"{self.request.method} {redact(self.request.uri or '')} ({self.request.remote_ip})"


def _is_name_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
