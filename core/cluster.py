"""Cluster mode (FACTORY_REDIS_URL): Redis joins server processes into one service.

Loaded only when FACTORY_REDIS_URL is set. `Cluster` owns the Redis clients and one supervisor
task that pings Redis every second. Members hang off it: `InvalidationRelay` (a write on any
process drops the matching cache entries on all, over pub/sub), `RedisRateLimiter` (token
buckets in Redis, one Lua call per request) and `realtime.cluster.EventStream` (live events
through a Redis Stream with global ids). The composition root (app.py) builds and wires them.
When Redis stops answering, the cluster logs one warning and every member falls back to this
process alone (local cache, local buckets, local delivery); when Redis answers again each member
catches up and cluster behaviour resumes.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from core.db import Change
from core.ratelimit import Budget, MemoryRateLimiter, RateLimiter
from core.tasks import call_soon, spawn

if TYPE_CHECKING:
    from core.cache import ResponseCache

log = logging.getLogger("factory.cluster")

REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)
COMMAND_TIMEOUT = 0.5  # a request never waits longer than this for Redis
CHECK_INTERVAL = 1.0
BLOCK_SECONDS = 1.0  # XREAD BLOCK / pub/sub poll; the blocking client's socket timeout is above it
AUTH_TABLES = frozenset({"users", "auth_sessions"})


class ClusterUnavailable(Exception):
    """Redis did not answer; the caller falls back to this process alone."""


class ClusterMember(Protocol):
    async def resume(self) -> None:
        """Redis answers (again): catch up, before the cluster counts as available."""

    async def run(self) -> None:
        """Follow Redis while it is available (a reader loop); cancelled when it goes away."""


def make_client(url: str, timeout: float) -> Redis:
    # No retries: a retry on a dead link multiplies the wait; the supervisor notices instead.
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=COMMAND_TIMEOUT,
                          retry=Retry(NoBackoff(), 0), health_check_interval=0)


class Cluster:
    """Redis connections, their health, and the members that use them."""

    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self.node = uuid.uuid4().hex  # this process, so it can ignore its own broadcasts
        self.redis = make_client(url, COMMAND_TIMEOUT)
        self.blocking = make_client(url, BLOCK_SECONDS + 2 * COMMAND_TIMEOUT)
        self.available = False
        self.members: list[ClusterMember] = []
        self._warned = False
        self._supervisor: asyncio.Task[None] | None = None
        self._runs: list[asyncio.Task[None]] = []

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def call(self, command: Awaitable[Any]) -> Any:
        """Run one Redis command; ClusterUnavailable (and local fallback) if Redis is away or fails."""
        if not self.available:
            if asyncio.iscoroutine(command):
                command.close()
            raise ClusterUnavailable
        try:
            return await command
        except REDIS_ERRORS as exc:
            self.mark_down(exc)
            raise ClusterUnavailable from exc

    def mark_down(self, reason: BaseException | str) -> None:
        """Redis failed: fall back to local behaviour (one warning per outage) until it answers again."""
        was_available, self.available = self.available, False
        if was_available or not self._warned:
            self._warned = True
            log.warning("Redis unavailable (%s): live events, cache invalidation and rate limits are "
                        "local to node %s until it is back", _describe(reason), self.node[:8])
        for task in self._runs:
            task.cancel()
        self._runs = []

    async def ready(self) -> bool:
        """Readiness probe: Redis answered the supervisor's last check."""
        return self.available

    # -- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (or log that Redis is away) before serving, then keep checking every second."""
        await self.check()
        self._supervisor = spawn(self._supervise())

    async def close(self) -> None:
        for task in (self._supervisor, *self._runs):
            if task is not None:
                task.cancel()
        self._supervisor, self._runs = None, []
        for client in (self.redis, self.blocking):
            await client.aclose()

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            await self.check()

    async def check(self) -> None:
        try:
            await asyncio.wait_for(self.redis.ping(), COMMAND_TIMEOUT * 2)
            if not self.available:
                await self._resume()
        except REDIS_ERRORS as exc:
            self.mark_down(exc)
        except Exception as exc:  # noqa: BLE001 - the supervisor must outlive any one bad resume
            log.exception("resuming cluster mode failed")
            self.mark_down(exc)

    async def _resume(self) -> None:
        for member in self.members:
            await member.resume()
        self.available = True
        self._runs = [spawn(self._follow(member)) for member in self.members]
        if self._warned:
            log.warning("Redis is back: node %s resumed cluster mode", self.node[:8])
            self._warned = False
        else:
            log.info("cluster mode: joined through Redis as node %s", self.node[:8])

    async def _follow(self, member: ClusterMember) -> None:
        try:
            await member.run()
        except REDIS_ERRORS as exc:
            self.mark_down(exc)
        except Exception as exc:  # noqa: BLE001 - a reader's bug: fall back, log it, retry on the next check
            log.exception("cluster reader %s failed", type(member).__name__)
            self.mark_down(exc)


def _describe(reason: BaseException | str) -> str:
    if isinstance(reason, BaseException):
        return f"{reason.__class__.__name__}: {reason}" if str(reason) else reason.__class__.__name__
    return reason


class InvalidationRelay:
    """Cache invalidations to and from the other processes, over one pub/sub channel."""

    def __init__(self, cluster: Cluster, cache: ResponseCache, forget_principals: Callable[[], None]) -> None:
        self.cluster = cluster
        self.cache = cache
        self.forget_principals = forget_principals  # resolved tokens: a user or session may have changed
        self.channel = cluster.key("invalidate")
        self._pending: set[asyncio.Task[None]] = set()
        self._missed: set[str] = set()  # tags changed here while Redis was away
        self._pubsub: Any = None

    def broadcast(self, tags: frozenset[str]) -> None:
        """ResponseCache.broadcaster: called synchronously, so it only schedules the publish."""
        if not self.cluster.available:
            self._missed |= tags
            return
        task = spawn(self._publish(tags))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self, change: Change) -> None:
        """Commit listener: the write's response waits until the other processes have been told."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _publish(self, tags: frozenset[str] | set[str]) -> None:
        message = json.dumps({"node": self.cluster.node, "tags": sorted(tags)})
        try:
            await self.cluster.call(self.cluster.redis.publish(self.channel, message))
        except ClusterUnavailable:
            self._missed |= tags

    async def resume(self) -> None:
        """Subscribe, then drop everything cached here: invalidations may have been missed meanwhile."""
        if self._pubsub is not None:
            await self._pubsub.aclose()
        self._pubsub = self.cluster.blocking.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.channel)
        self.cache.clear()
        self.forget_principals()
        missed, self._missed = self._missed, set()
        if missed:  # the others may hold entries this process changed while it was cut off
            await self.cluster.redis.publish(self.channel, json.dumps({"node": self.cluster.node,
                                                                       "tags": sorted(missed)}))

    async def run(self) -> None:
        pubsub = self._pubsub
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=BLOCK_SECONDS)
            if message is not None and message.get("type") == "message":
                self.receive(message["data"])

    def receive(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            node, tags = message["node"], frozenset(message["tags"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed cache invalidation message")
            return
        if node == self.cluster.node:
            return
        self.cache.invalidate(tags, broadcast=False)
        if tags & AUTH_TABLES:
            self.forget_principals()


# Refill by the time elapsed (Redis TIME, so every process shares one clock), take `cost` if there
# is enough, store tokens and timestamp with an expiry of about one window. One call per request.
TOKEN_BUCKET = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
tokens = math.min(capacity, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens + 1e-9 >= cost then
  tokens = math.max(0, tokens - cost)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, tostring(tokens)}
"""


class ScriptBatcher:
    """Runs a Lua script for every caller of one event-loop turn in a single pipeline.

    One round trip per request costs redis-py about as much CPU as the request itself; under
    load many requests reach the limiter in the same turn, and a pipeline of N calls costs a
    fraction of N single calls.
    """

    def __init__(self, client: Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._queue: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        if not self._queue:
            call_soon(self._flush)
        self._queue.append((keys, args, future))
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        spawn(self._run(batch))

    async def _run(self, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            results = await self._evaluate(batch)
            if any(isinstance(result, NoScriptError) for result in results):
                await self.client.script_load(self.source)  # Redis restarted or flushed its scripts
                results = await self._evaluate(batch)
        except BaseException as exc:  # noqa: BLE001 - every caller gets the failure
            results = [exc] * len(batch)
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _evaluate(self, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(self.sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)


class SharedValues:
    """Short-lived values every process reads, under one name (e.g. the answer a rotated refresh
    token got, for its twin that lands on another process). Nothing is shared while Redis is away:
    `get` answers None and `put` keeps nothing, and each process is on its own, as without Redis."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name

    async def get(self, key: str) -> str | None:
        try:
            value = await self.cluster.call(self.cluster.redis.get(self.cluster.key(self.name, key)))
        except ClusterUnavailable:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, key: str, value: str, seconds: float) -> None:
        try:
            await self.cluster.call(self.cluster.redis.set(self.cluster.key(self.name, key), value,
                                                           px=max(1, int(seconds * 1000))))
        except ClusterUnavailable:
            pass


class RedisRateLimiter(RateLimiter):
    """Token buckets in Redis, so a budget holds across processes; local buckets while Redis is away."""

    def __init__(self, cluster: Cluster, fallback: MemoryRateLimiter,
                 budgets: Mapping[str, Budget] | None = None) -> None:
        super().__init__(budgets if budgets is not None else fallback.budgets)
        self.cluster = cluster
        self.fallback = fallback
        self._script = ScriptBatcher(cluster.redis, TOKEN_BUCKET)

    async def _consume(self, budget: Budget, identity: str, cost: int) -> tuple[bool, float]:
        if self.cluster.available:
            key = self.cluster.key("ratelimit", budget.name, identity)
            ttl_ms = int(budget.window * 1000) + 1000
            try:
                allowed, tokens = await self.cluster.call(
                    self._script(keys=[key], args=[budget.capacity, budget.rate, cost, ttl_ms]))
                return bool(allowed), float(tokens)
            except ClusterUnavailable:
                pass
        return await self.fallback._consume(budget, identity, cost)

