"""Prometheus metrics: requests by route, and the counters the hub, cache, limiter and pool keep.

The hub, the response cache, the rate limiter and the connection pool already count what they do;
`Metrics.sync` copies those counters into prometheus_client metrics instead of sprinkling
increments through the code. It runs at every scrape, and once a second under `--processes N`,
where every worker writes its values to PROMETHEUS_MULTIPROC_DIR and a scrape of any worker
sums them all.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import tornado.ioloop
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from core.cache import ResponseCache
    from core.db import Database
    from core.ratelimit import RateLimiter

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SYNC_INTERVAL = 1.0


def use_multiprocess_dir(path: str) -> None:
    """Switch prometheus_client to its multiprocess mode (values in mmap files under `path`).

    Call it before the workers fork and before any metric exists.
    """
    os.environ[MULTIPROC_ENV] = path
    # prometheus_client picks its value class when it is imported, which may have happened
    # before the directory was known: pick again.
    values.ValueClass = values.get_value_class()


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def mark_worker_dead(pid: int) -> None:
    """Drop a finished worker's live gauges (connections, pool use) from the sums."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)


class EventCounters(Protocol):
    """The live-event hub's own counters."""

    subscribers: int

    def metrics(self) -> Mapping[str, int]:
        """published / delivered / dropped so far."""


class Availability(Protocol):
    available: bool


class MessageCounters(Protocol):
    """The machines' MQTT consumer: messages by result, rebirth requests, its connection state."""

    results: Mapping[str, int]
    rebirths: int
    state: str


class Observed(Protocol):
    """What the metrics read, at every sync: the application context (fields may be swapped)."""

    db: Database
    cache: ResponseCache | None
    limiter: RateLimiter | None
    hub: EventCounters | None
    live_feed: Any  # sized: len() is the open WebSocket count
    cluster: Availability | None
    mqtt: MessageCounters | None


class Metrics:
    """The application's metrics; `render()` is the `/metrics` body."""

    def __init__(self, ctx: Observed) -> None:
        self.ctx = ctx
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_enabled()
        self._routes: dict[tuple[type, int], str | None] | None = None
        self._rules: dict[type, list[Any]] = {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._seen: dict[Any, float] = {}
        self._timer: tornado.ioloop.PeriodicCallback | None = None
        registry = self.registry

        self.requests = Counter("factory_http_requests", "HTTP requests answered, by route, method, status.",
                                ["route", "method", "status"], registry=registry)
        self.latency = Histogram("factory_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route and method.",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = Gauge("factory_http_requests_in_flight", "HTTP requests being answered now.",
                               registry=registry, multiprocess_mode="livesum")
        self.websockets = Gauge("factory_websocket_connections", "Open live-feed WebSocket connections.",
                                registry=registry, multiprocess_mode="livesum")
        self.events = {
            "published": Counter("factory_events_published", "Live events taken in by the hub.",
                                 registry=registry),
            "delivered": Counter("factory_events_delivered", "Live event frames written to subscribers.",
                                 registry=registry),
            "dropped": Counter("factory_events_dropped", "Subscribers closed for falling too far behind.",
                               registry=registry),
        }
        self.cache = {
            "hits": Counter("factory_cache_hits", "Cached GETs answered from the response cache.",
                            registry=registry),
            "misses": Counter("factory_cache_misses", "Cached GETs that had to be computed.",
                              registry=registry),
        }
        self.cache_entries = Gauge("factory_cache_entries", "Responses held in the cache.",
                                   registry=registry, multiprocess_mode="livesum")
        self.refusals = Counter("factory_rate_limit_refusals", "Requests refused with 429, by budget.",
                                ["budget"], registry=registry)
        self.pool = Gauge("factory_db_pool_connections", "Database connections by state (checked_out, idle).",
                          ["state"], registry=registry, multiprocess_mode="livesum")
        self.pool_size = Gauge("factory_db_pool_size", "Connections the pool keeps (before overflow).",
                               registry=registry, multiprocess_mode="livesum")
        self.db_available = Gauge("factory_db_available", "1 while the database answers, 0 in an outage.",
                                  registry=registry, multiprocess_mode="livemin")
        self.mqtt_messages = Counter("factory_mqtt_messages", "Machine MQTT messages taken in, by result "
                                     "(applied, unchanged, unknown_machine, undecodable, too_large, …).",
                                     ["result"], registry=registry)
        self.mqtt_rebirths = Counter("factory_mqtt_rebirth_requests",
                                     "Sparkplug rebirth requests sent (NCMD).", registry=registry)
        self.mqtt_connected = Gauge("factory_mqtt_connected", "1 while the MQTT consumer is connected.",
                                    registry=registry, multiprocess_mode="livemax")
        self.redis_up = Gauge("factory_cluster_redis_up", "Cluster mode: 1 while Redis answers, else 0.",
                              registry=registry, multiprocess_mode="livemin")

    # -- requests -------------------------------------------------------------------------

    def request_started(self) -> None:
        self.in_flight.inc()

    def request_finished(self, handler: Any) -> None:
        """Count one answered request (Tornado's log_request hook); a few µs on the hot path."""
        method = handler.request.method if handler.request.method in METHODS else "OTHER"
        key = (self.route_name(handler), method, handler.get_status())
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key: do it once per series
            route = key[0]
            children = (self.requests.labels(route, method, str(key[2])), self.latency.labels(route, method))
            self._children[key] = children
        self.in_flight.dec()
        children[0].inc()
        children[1].observe(handler.request.request_time())

    def route_name(self, handler: Any) -> str:
        """The URLSpec name the request matched ("unmatched" for 404s), never the raw path."""
        if self._routes is None:
            self._index_routes(handler.application.wildcard_router.rules)
        # A route's handler class and its `access` table (the very dict from the route table)
        # identify it without matching the path again.
        name = self._routes.get((type(handler), id(getattr(handler, "access", None))))
        if name is not None:
            return name
        rules = self._rules.get(type(handler))
        if not rules:
            return "unmatched"
        path = handler.request.path
        return next((_label(rule) for rule in rules if _pattern(rule).match(path)), _label(rules[0]))

    def _index_routes(self, rules: list[Any]) -> None:
        self._routes = {}
        seen: dict[tuple[type, int], int] = {}
        for rule in rules:
            target = rule.target
            self._rules.setdefault(target, []).append(rule)
            access = (rule.target_kwargs or {}).get("access", getattr(target, "access", None))
            key = (target, id(access))
            seen[key] = seen.get(key, 0) + 1
            self._routes[key] = _label(rule)
        for key, count in seen.items():
            if count > 1:  # ambiguous: fall back to matching the path
                del self._routes[key]

    # -- counters kept elsewhere ----------------------------------------------------------

    def sync(self) -> None:
        """Copy the hub, cache, limiter and pool counters into the Prometheus metrics."""
        ctx = self.ctx
        if ctx.hub is not None:
            counters = ctx.hub.metrics()
            for name, counter in self.events.items():
                self._advance(counter, ("events", name), counters.get(name, 0))
        connections = ctx.live_feed
        if connections is not None:
            self.websockets.set(len(connections))
        elif ctx.hub is not None:
            self.websockets.set(ctx.hub.subscribers)
        if ctx.cache is not None:
            self._advance(self.cache["hits"], ("cache", "hits"), ctx.cache.hits)
            self._advance(self.cache["misses"], ("cache", "misses"), ctx.cache.misses)
            self.cache_entries.set(len(ctx.cache))
        if ctx.limiter is not None:
            self._advance_labelled(self.refusals, "refusals", ctx.limiter.refusals)
        self._sync_pool()
        self.db_available.set(1 if getattr(ctx.db, "available", True) else 0)
        cluster = ctx.cluster
        if cluster is not None:
            self.redis_up.set(1 if cluster.available else 0)
        mqtt = getattr(ctx, "mqtt", None)
        if mqtt is not None:
            self._advance_labelled(self.mqtt_messages, "mqtt", mqtt.results)
            self._advance(self.mqtt_rebirths, ("mqtt", "rebirths"), mqtt.rebirths)
            self.mqtt_connected.set(1 if mqtt.state == "connected" else 0)

    def _sync_pool(self) -> None:
        pool = self.ctx.db.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        if checked_out is None:
            return
        self.pool.labels("checked_out").set(checked_out())
        self.pool.labels("idle").set(pool.checkedin())
        self.pool_size.set(pool.size())

    def _advance(self, counter: Counter, key: Any, current: float) -> None:
        """Add what a monotonic counter gained since the last sync."""
        gained = current - self._seen.get(key, 0)
        if gained > 0:
            counter.inc(gained)
        self._seen[key] = current

    def _advance_labelled(self, counter: Counter, name: str, currents: Mapping[str, float]) -> None:
        for label, current in currents.items():
            self._advance(counter.labels(label), (name, label), current)

    # -- exposition and lifetime ------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition: this process's metrics, or every worker's summed."""
        self.sync()
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    async def start(self) -> None:
        """Under --processes, publish this worker's counters every second for the others' scrapes."""
        if self.multiprocess and self._timer is None:
            self._timer = tornado.ioloop.PeriodicCallback(self.sync, SYNC_INTERVAL * 1000)
            self._timer.start()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.multiprocess:
            self.sync()


def _pattern(rule: Any) -> re.Pattern[str]:
    return getattr(rule.matcher, "regex", _NEVER)


def _label(rule: Any) -> str:
    """A rule's name; unnamed ones (Tornado's /static/) by their pattern, still a bounded set."""
    return getattr(rule, "name", None) or _pattern(rule).pattern


_NEVER = re.compile(r"(?!)")

