"""make_app: build the whole application from Settings; nothing global for a test to patch."""
from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Any

import tornado.web

from core.cache import ResponseCache
from core.clock import Clock
from core.config import Settings
from core.context import AppContext
from core.db import Change, Database
from core.logs import log_request
from core.metrics import install_metrics
from core.ratelimit import MemoryRateLimiter, parse_budgets
from core.security import TokenService
from handlers.base import BodyTooLargeHandler, NotFoundHandler, StaticHandler
from handlers.routes import build_routes
from realtime.ws import install_live_feed
from services.auth import AuthService

log = logging.getLogger("factory.app")
ROOT = Path(__file__).resolve().parent.parent


class FactoryApplication(tornado.web.Application):
    """The Tornado application plus the context it owns; `close()` releases it."""

    ctx: AppContext
    in_flight = 0  # requests routed but not yet answered; shutdown waits for them

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.ctx.metrics.request_started()
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.ctx.settings.max_body_bytes:
            return self.get_handler_delegate(request, BodyTooLargeHandler)
        return super().find_handler(request, **kwargs)

    def log_request(self, handler: Any) -> None:
        super().log_request(handler)
        self.in_flight = max(0, self.in_flight - 1)
        self.ctx.metrics.request_finished(handler)

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is being answered (True) or `timeout` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self.in_flight

    async def close(self) -> None:
        for closer in self.ctx.extras.get("closers", []):
            await closer()
        await self.ctx.db.dispose()


def build_context(settings: Settings, clock: Clock | None = None) -> AppContext:
    db = Database(settings.database_url, timeout=settings.db_timeout)
    tokens = TokenService(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                          audience=settings.jwt_audience, access_ttl=settings.access_token_ttl,
                          refresh_ttl=settings.refresh_token_ttl, display_ttl=settings.display_token_ttl)
    ctx = AppContext(settings=settings, db=db, auth=AuthService(db, tokens),
                     clock=clock or Clock(settings.timezone),
                     cache=ResponseCache(settings.cache_ttl),
                     limiter=MemoryRateLimiter(parse_budgets(settings.rate_limits)))

    def invalidate(change: Change) -> None:
        if change.tables and ctx.cache is not None:
            ctx.cache.invalidate(change.tables)

    db.on_commit(invalidate)
    return ctx


def make_app(settings: Settings, *, clock: Clock | None = None) -> FactoryApplication:
    """The whole application; `clock` fixes "now" and the plant zone (tests), else the system's."""
    ctx = build_context(settings, clock)
    install_live_feed(ctx)
    install_metrics(ctx)
    if settings.redis_url:  # cluster mode: nothing of it is imported without FACTORY_REDIS_URL
        from core.cluster import install_cluster

        install_cluster(ctx)
    app = FactoryApplication(
        build_routes(),
        ctx=ctx,
        default_handler_class=NotFoundHandler,
        log_function=log_request,
        static_path=str(ROOT / "static"),
        static_handler_class=StaticHandler,
        compress_response=False,
        xsrf_cookies=False,
        # Ping every live-feed link each 20 s; one that has not answered by the next ping is dead.
        # (Tornado caps the timeout at the interval and warns about anything longer.)
        websocket_ping_interval=20,
        websocket_ping_timeout=20,
        websocket_max_message_size=64 * 1024,
        serve_traceback=False,
        debug=False,
    )
    app.ctx = ctx
    return app


async def bootstrap_admin(ctx: AppContext) -> str | None:
    """On first start with no users, create super_admin `admin`; returns a generated password."""
    generated = None
    password = ctx.settings.admin_password
    if not password:
        generated = password = secrets.token_urlsafe(12)
    created = await ctx.auth.ensure_admin(password)
    return generated if created else None
