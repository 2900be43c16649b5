"""The composition root: builds every part of the application from Settings, and starts and stops them.

`make_app(settings, clock=...)` is the one place that knows how the layers fit together (see
docs/architecture.md). Each part with a lifetime is an async generator in `PARTS` (aiohttp's
cleanup-context shape): it sets up, yields while the application serves, then tears down.
`await app.start()` runs them in order; `await app.close()` tears them down in reverse.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import tornado.web

from core.cache import ResponseCache
from core.clock import Clock
from core.config import Settings
from core.db import Change, Database
from core.logs import log_request
from core.metrics import Metrics
from core.ratelimit import MemoryRateLimiter, parse_budgets
from core.security import TokenService
from handlers.base import NotFoundHandler, StaticHandler
from handlers.compression import transforms
from handlers.context import AppContext
from handlers.limits import let_the_app_count_query_fields, route_with_limits
from handlers.live_connections import LiveFeedConnections
from handlers.routes import build_routes
from realtime.hub import EventHub
from realtime.publisher import CommitPublisher
from services.floor.calls import escalation_loop
from services.floor.line_status_feed import LineStatusFeed
from services.identity.auth import AuthService
from services.integrations.idempotency import IdempotencyStore
from services.integrations.lifecycle import Integrations

log = logging.getLogger("factory.app")
ROOT = Path(__file__).resolve().parent

# A part of the application with a lifetime: set up, yield while serving, tear down.
Part = Callable[[AppContext], AbstractAsyncContextManager[None]]


def build_context(settings: Settings, clock: Clock | None = None) -> AppContext:
    """Every part, typed and wired, none started: the CLI uses it for the database and auth alone."""
    db = Database(settings.database_url, timeout=settings.db_timeout, pool_size=settings.db_pool_size)
    tokens = TokenService(secret=settings.jwt_secret, issuer=settings.jwt_issuer,
                          audience=settings.jwt_audience, access_ttl=settings.access_token_ttl,
                          refresh_ttl=settings.refresh_token_ttl)
    auth = AuthService(db, tokens, refresh_reuse_window=settings.refresh_reuse_window)
    hub = EventHub(replay_size=settings.ws_replay_size, queue_size=settings.ws_queue_size)
    cache = ResponseCache(settings.cache_ttl)
    limiter = MemoryRateLimiter(parse_budgets(settings.rate_limits))
    clock = clock or Clock(settings.timezone)
    publisher = CommitPublisher(hub.publish)
    ctx = AppContext(
        settings=settings, db=db, auth=auth, clock=clock,
        cache=cache, limiter=limiter, hub=hub, publisher=publisher,
        live_feed=LiveFeedConnections(auth, hub, settings.ws_token_check_interval),
        idempotency=IdempotencyStore(db, ttl=settings.idempotency_ttl, wait=settings.idempotency_wait,
                                     lease=settings.idempotency_lease),
        integrations=Integrations(db, settings, clock),
        line_status=LineStatusFeed(db, clock))
    if settings.mqtt_url:  # machines over MQTT: aiomqtt and protobuf load only when it is set
        from services.floor.machine_ingest import MachineFloor
        from services.floor.mqtt_consumer import MachineConsumer
        ctx.mqtt = MachineConsumer(settings, MachineFloor(db, clock, settings.mqtt_offline_seconds))
    relay_flush = None
    if settings.redis_url:  # cluster mode: nothing of it is imported without FACTORY_REDIS_URL
        relay_flush = join_cluster(ctx, cache, limiter)

    def invalidate_cache(change: Change) -> None:
        # Reads ctx.cache at commit time: a test or benchmark may swap the cache after start-up.
        if change.tables and ctx.cache is not None:
            ctx.cache.invalidate(change.tables)

    # What a committed write sets off, in this order (Database.announce awaits each in turn):
    # 1. resolved tokens are forgotten when users or sessions changed, so a revoked session or a
    #    lowered role holds from the very next request;
    # 2. cached responses of the written tables are dropped (in cluster mode this also schedules
    #    the broadcast to the other processes);
    # 3. the live events go out, after 2, so a client that re-reads on an event gets fresh data;
    #    the publisher only queues, so it delays nothing;
    # 3b. the lines whose figures moved get a (coalesced) line.status, read after this commit and
    #    emitted by a write of its own, so it takes an id after the events of 3;
    # 4. the webhook worker is woken for the new outbox rows (it only sets an event);
    # 5. cluster mode: the write's response waits until the broadcast of 2 has left, so the
    #    writer's next read on any process does not see the old data. Last: it awaits Redis.
    # Before each commit, inside the transaction, every event is written to the outbox.
    db.before_commit(ctx.integrations.outbox)
    # Events a command wrote (server.py import) reach this server's subscribers through the same sink.
    ctx.integrations.relay_to(lambda topic, name, data: ctx.publisher.sink(topic, name, data))
    listeners: list[Callable[[Change], Any]] = [auth.forget_on_change, invalidate_cache, ctx.publisher,
                                                ctx.line_status, ctx.integrations.notify]
    if relay_flush is not None:
        listeners.append(relay_flush)
    for listener in listeners:
        db.on_commit(listener)
    return ctx


def join_cluster(ctx: AppContext, cache: ResponseCache,
                 limiter: MemoryRateLimiter) -> Callable[[Change], Any]:
    """Cache invalidation, rate limits and live events through Redis; returns the relay's commit listener."""
    from core.cluster import Cluster, InvalidationRelay, RedisRateLimiter, SharedValues
    from realtime.cluster import EventStream

    settings = ctx.settings
    cluster = Cluster(settings.redis_url, settings.redis_prefix)
    relay = InvalidationRelay(cluster, cache, ctx.auth.forget)
    # Revocations on other processes arrive through Redis: without it, resolve every token afresh.
    ctx.auth.cache_trusted = lambda: cluster.available
    # A refresh token's twin landing on another process gets the pair the first one got.
    ctx.auth.shared_rotations = SharedValues(cluster, "refresh")
    cache.broadcaster = relay.broadcast
    ctx.limiter = RedisRateLimiter(cluster, limiter)  # local buckets stay as its fallback
    stream = EventStream(cluster, ctx.hub)
    ctx.publisher.sink = stream.publish
    cluster.members += [relay, stream]
    ctx.cluster, ctx.event_stream = cluster, stream
    if ctx.mqtt is not None:  # one process at a time consumes the machines' session
        from services.floor.mqtt_consumer import RedisLease
        ctx.mqtt.lease = RedisLease(cluster.redis, cluster.key("mqtt", "lease"), cluster.node)
    return relay.flush


# -- the parts with a lifetime, in start order (stopped in reverse) -----------------------------

@asynccontextmanager
async def database(ctx: AppContext) -> AsyncIterator[None]:
    """The engine and its pool: disposed last, after everything that may still query."""
    try:
        yield
    finally:
        await ctx.db.dispose()


@asynccontextmanager
async def line_status(ctx: AppContext) -> AsyncIterator[None]:
    """The coalescing timer of line.status events: stopped before the database goes."""
    try:
        yield
    finally:
        await ctx.line_status.close()


@asynccontextmanager
async def live_feed(ctx: AppContext) -> AsyncIterator[None]:
    """The timer that re-checks live-feed tokens; at the end every link is closed with 1001."""
    await ctx.live_feed.start()
    try:
        yield
    finally:
        await ctx.live_feed.stop()  # waits for a running token check: the database goes next


@asynccontextmanager
async def metrics(ctx: AppContext) -> AsyncIterator[None]:
    """Under --processes, the once-a-second copy of this worker's counters for the others' scrapes."""
    await ctx.metrics.start()
    try:
        yield
    finally:
        await ctx.metrics.stop()


@asynccontextmanager
async def cluster(ctx: AppContext) -> AsyncIterator[None]:
    """Cluster mode: join through Redis before serving; at the end send what is queued, then leave."""
    if ctx.cluster is None:
        yield
        return
    await ctx.cluster.start()
    try:
        yield
    finally:
        if ctx.event_stream is not None:
            await ctx.event_stream.flush()
        await ctx.cluster.close()


@asynccontextmanager
async def integrations(ctx: AppContext) -> AsyncIterator[None]:
    """The webhook delivery worker and the sweeps of expired Idempotency-Keys and old outbox rows."""
    await ctx.integrations.start(ctx.idempotency)
    try:
        yield
    finally:
        await ctx.integrations.stop()


@asynccontextmanager
async def andon(ctx: AppContext) -> AsyncIterator[None]:
    """The sweep that escalates andon calls left unacknowledged, by the app's clock."""
    settings = ctx.settings
    task = asyncio.get_running_loop().create_task(
        escalation_loop(ctx.db, ctx.clock, settings.andon_escalate_seconds, settings.andon_check_interval),
        name="andon escalation")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=10)


@asynccontextmanager
async def machines(ctx: AppContext) -> AsyncIterator[None]:
    """With FACTORY_MQTT_URL, the machines' MQTT consumer: stopped first, before what it writes through."""
    if ctx.mqtt is None:
        yield
        return
    await ctx.mqtt.start()
    try:
        yield
    finally:
        await ctx.mqtt.stop()


PARTS: tuple[Part, ...] = (database, line_status, live_feed, metrics, cluster, integrations, andon,
                          machines)


class FactoryApplication(tornado.web.Application):
    """The Tornado application plus the context it owns: `start()`, `shutdown()`, `close()`."""

    ctx: AppContext
    in_flight = 0  # requests routed but not yet answered; shutdown waits for them
    _parts: AsyncExitStack | None = None

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.ctx.metrics.request_started()
        # Hardening: long URLs, big headers, many query fields, bodies over the limit (chunked too).
        return route_with_limits(self, request, self.ctx.settings,
                                 lambda: super(FactoryApplication, self).find_handler(request, **kwargs))

    def log_request(self, handler: Any) -> None:
        super().log_request(handler)
        self.in_flight = max(0, self.in_flight - 1)
        self.ctx.metrics.request_finished(handler)

    async def start(self) -> None:
        """Start every part in order; if one fails, those already started are stopped again."""
        if self._parts is not None:
            return
        stack = AsyncExitStack()
        try:
            for part in PARTS:
                await stack.enter_async_context(part(self.ctx))
        except BaseException:
            await stack.aclose()
            raise
        self._parts = stack

    async def shutdown(self) -> None:
        """The first step of stopping: close every live-feed link (1001) so draining can finish."""
        await self.ctx.live_feed.stop()

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is being answered (True) or `timeout` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self.in_flight

    async def close(self) -> None:
        """Stop every part in reverse order (the database last); safe to call if never started."""
        parts, self._parts = self._parts, None
        if parts is None:
            await self.ctx.db.dispose()
            return
        await parts.aclose()


def make_app(settings: Settings, *, clock: Clock | None = None) -> FactoryApplication:
    """The whole application; `clock` fixes "now" and the plant zone (tests), else the system's."""
    ctx = build_context(settings, clock)
    let_the_app_count_query_fields()
    # Made here, not in build_context: the CLI builds contexts before --processes picks the
    # directory the workers' metrics meet in, and a metric made before that is not shared.
    ctx.metrics = Metrics(ctx)
    app = FactoryApplication(
        build_routes(),
        ctx=ctx,
        default_handler_class=NotFoundHandler,
        log_function=log_request,
        static_path=str(ROOT / "static"),
        static_handler_class=StaticHandler,
        transforms=transforms(),  # gzip over 1 KiB (handlers/compression.py)
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
