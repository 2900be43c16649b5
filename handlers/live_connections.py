"""The open `/ws` connections: who may read which topic, and the timer that re-checks their tokens.

Kept apart from the handler (handlers/live_feed.py) so the application context can own it
without importing the request pipeline.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

import tornado.ioloop

from core.security import Principal, TokenError, role_at_least
from realtime.hub import TOPICS, EventHub
from services.identity.auth import AuthService

log = logging.getLogger("factory.realtime")

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429

# Who may read each topic: the minimum role, and whether wall-display tokens may.
TOPIC_READERS: Mapping[str, tuple[str, bool]] = {
    "production": ("user", True),
    "orders": ("user", True),
    "inventory": ("user", True),
    "lines": ("user", True),
}
if set(TOPIC_READERS) != TOPICS:
    raise RuntimeError("every hub topic needs an entry in TOPIC_READERS, and only those")


class LiveLink(Protocol):
    """One open live-feed connection, as the registry sees it."""

    token: str | None
    counted: tuple[str, ...]  # the keys this link counts under, set by LiveFeedConnections.admit

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the WebSocket with a close code."""


class LiveFeedConnections:
    """Every open `/ws` connection, and the one timer that re-checks their tokens."""

    def __init__(self, auth: AuthService, hub: EventHub, check_interval: float) -> None:
        self.auth = auth
        self.hub = hub
        self.check_interval = check_interval
        self.topic_readers = TOPIC_READERS
        self._open: dict[LiveLink, None] = {}
        # Open links per "ip:…" and per caller ("user:…", "display:…", "station:…").
        self._per_key: dict[str, int] = {}
        self._timer: tornado.ioloop.PeriodicCallback | None = None
        self._checked = asyncio.Event()  # clear while a token check runs, so stop() can wait for it
        self._checked.set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, handler: LiveLink) -> None:
        self._open[handler] = None

    def discard(self, handler: LiveLink) -> None:
        self._open.pop(handler, None)
        for key in handler.counted:
            left = self._per_key.get(key, 1) - 1
            if left > 0:
                self._per_key[key] = left
            else:
                self._per_key.pop(key, None)
        handler.counted = ()

    def admit(self, handler: LiveLink, key: str, cap: int) -> bool:
        """Count the link under `key`; False (and not counted) when `cap` are open already."""
        if key in handler.counted:
            return True
        if self._per_key.get(key, 0) >= cap:
            return False
        self._per_key[key] = self._per_key.get(key, 0) + 1
        handler.counted = (*handler.counted, key)
        return True

    def may_read(self, principal: Principal, topic: str) -> bool:
        """True when the principal may receive the topic's events."""
        min_role, display = self.topic_readers[topic]
        if principal.kind == "display" and not display:
            return False
        return role_at_least(principal.role, min_role)

    async def start(self) -> None:
        if self._timer is None:
            self._timer = tornado.ioloop.PeriodicCallback(self.check_tokens, self.check_interval * 1000)
            self._timer.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        await self._checked.wait()  # the database may be disposed next: let a running check finish
        self.close_all(1001, "server shutting down")

    def close_all(self, code: int, reason: str) -> None:
        """Close every connection: subscribers get what is queued for them first."""
        self.hub.shutdown(code, reason)
        for handler in list(self._open):
            handler.close(code, reason)

    async def check_tokens(self) -> None:
        """Close (4401) every connection whose token expired, was revoked or lost its user."""
        self._checked.clear()
        try:
            verdicts: dict[str, str | None] = {}
            for handler in list(self._open):
                token = handler.token
                if token is None:
                    continue
                if token not in verdicts:
                    verdicts[token] = await self._verdict(token)
                if verdicts[token] is not None and handler.token == token:
                    handler.close(CLOSE_UNAUTHORIZED, f"token no longer valid: {verdicts[token]}")
        finally:
            self._checked.set()

    async def _verdict(self, token: str) -> str | None:
        try:
            await self.auth.resolve(token)
        except TokenError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - a database outage must not drop every screen
            log.warning("live feed token check skipped: %s", exc.__class__.__name__)
        return None
