"""AppContext: every part one application instance owns, built by `app.build_context`.

Handlers reach it as `self.ctx`. Each field is typed; the parts of cluster mode are None unless
FACTORY_REDIS_URL is set. Starting and stopping the parts is the composition root's job (app.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.cache import ResponseCache
from core.clock import Clock
from core.config import Settings
from core.db import Database
from core.metrics import Metrics
from core.ratelimit import RateLimiter
from handlers.live_connections import LiveFeedConnections
from realtime.hub import EventHub
from realtime.publisher import CommitPublisher
from services.floor.line_status_feed import LineStatusFeed
from services.identity.auth import AuthService
from services.integrations.idempotency import IdempotencyStore
from services.integrations.lifecycle import Integrations

if TYPE_CHECKING:  # cluster mode's modules (and redis) load only when FACTORY_REDIS_URL is set
    from core.cluster import Cluster
    from realtime.cluster import EventStream
    from services.floor.mqtt_consumer import MachineConsumer

log = logging.getLogger("factory.app")


@dataclass
class AppContext:
    settings: Settings
    db: Database
    auth: AuthService
    clock: Clock
    cache: ResponseCache | None  # None: every GET is computed (benchmarks price the cache so)
    limiter: RateLimiter | None  # None: no rate limits (benchmarks price the limiter so)
    hub: EventHub
    publisher: CommitPublisher  # cluster mode points its sink at `event_stream`
    live_feed: LiveFeedConnections
    idempotency: IdempotencyStore  # Idempotency-Key claims and kept answers
    integrations: Integrations  # the event outbox, webhook delivery and their housekeeping
    line_status: LineStatusFeed  # coalesced line.status events after commits
    cluster: Cluster | None = None
    event_stream: EventStream | None = None
    mqtt: MachineConsumer | None = None  # the machines' MQTT consumer, with FACTORY_MQTT_URL
    metrics: Metrics = field(init=False)  # made by app.make_app, for a context that serves

    def on_rate_limited(self, budget: str, identity: str) -> None:
        """Count a refusal; log it once per identity and window, not per request."""
        refusals = getattr(self.limiter, "refusal_log", None)
        if refusals is None or refusals.should_log(identity, budget):
            log.warning("rate limit %s exceeded by %s", budget, identity)
