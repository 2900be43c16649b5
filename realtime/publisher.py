"""The one place committed events leave the write path: a commit listener that feeds the live feed."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from core.db import Change
from realtime.hub import EVENT_TOPICS

log = logging.getLogger("factory.realtime")

# Where events go: (topic, event name, data). Locally `EventHub.publish`; cluster mode swaps in a
# sink that appends to a Redis Stream, and nothing else in the write path changes.
EventSink = Callable[[str, str, dict[str, Any]], Any]


class CommitPublisher:
    """Publishes each committed unit of work's events, in the order they were emitted.

    Registered with `Database.on_commit`, so a rolled-back transaction publishes nothing.
    """

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def __call__(self, change: Change) -> None:
        for topic, name, data in change.events:
            # The event name decides the topic, so a client's subscription always matches the contract.
            topic = EVENT_TOPICS.get(name, topic)
            try:
                self.sink(topic, name, data)
            except Exception:  # one bad event must not swallow the rest of the commit's events
                log.exception("publishing %s failed", name)
