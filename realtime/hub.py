"""Numbers committed domain events, keeps a bounded replay buffer and fans them out to subscribers.

The hub knows nothing of HTTP or Tornado: a connection hands it a `FrameSink`
(``write(frames)`` and ``close(code, reason)``; realtime/frames.py has the one the
live feed uses). Every frame is serialized once, at
publish time, and the same ``str`` goes to every subscriber; ``publish`` is
synchronous and never waits for a client. Publishing only queues: one callback
per loop turn then writes every subscriber's queued frames in one ``write``,
except a subscriber whose previous write is still buffered, which waits for it.
A write holds at most WRITE_BUDGET characters: a long replay goes out as the client reads it,
so a client that never reads makes the server hold one budget, not the whole replay.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Protocol

log = logging.getLogger(__name__)

TOPICS: frozenset[str] = frozenset({"production", "orders", "inventory", "lines"})

EVENT_TOPICS: Mapping[str, str] = {
    "production.recorded": "production",
    "production.updated": "production",
    "production.deleted": "production",
    "order.created": "orders",
    "order.status_changed": "orders",
    "stock.changed": "inventory",
    "stock.low": "inventory",
    # One summary per import (POST /imports/…), instead of an event per row.
    "products.imported": "inventory",
    "orders.imported": "orders",
    "production.imported": "production",
    "line.stopped": "lines",
    "line.started": "lines",
    "line.status": "lines",
    "work_order.created": "lines",
    "work_order.updated": "lines",
    "call.opened": "lines",
    "call.acknowledged": "lines",
    "call.resolved": "lines",
    "call.escalated": "lines",
    "machine.status": "lines",
}

FILTER_KEYS: frozenset[str] = frozenset({"product_id", "line"})
MAX_FILTER_LINES = 50

# Characters of frames handed to one connection's socket at a time (frames are ASCII JSON). What the
# queue holds beyond it are references to frames the replay buffer keeps anyway.
WRITE_BUDGET = 64 * 1024

CLOSE_TOO_SLOW = 1013
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL_ERROR = 1011

CloseConnection = Callable[[int, str], Any]
Clock = Callable[[], datetime]


class FrameSink(Protocol):
    """A connection as the hub writes to it: a batch of frames at once, then maybe a wait."""

    def write(self, frames: list[str]) -> Awaitable[Any] | None:
        """Take the frames in order now; None when more may follow at once, else what to await first."""

    def close(self, code: int, reason: str) -> Any:
        """Close the connection (after anything it has already taken)."""


def utc_now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


def format_instant(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``, e.g. ``2026-11-26T16:00:00.000Z``."""
    if moment.tzinfo is None:  # naive datetimes in this service are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)  # Decimal money, UUIDs and the like


def encode_frame(message: Mapping[str, Any]) -> str:
    """Compact JSON text for one WebSocket frame."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=_json_default)


class SubscriptionError(ValueError):
    """A subscribe request the feed can't honour (unknown topic, bad since or filter)."""


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    """One committed domain event and its wire frame, serialized once."""

    id: int
    topic: str
    event: str
    at: str
    data: dict[str, Any]
    frame: str = field(repr=False)

    @classmethod
    def create(
        cls, id: int, topic: str, event: str, data: dict[str, Any], at: str | datetime
    ) -> Event:
        """Build an event and serialize its ``{"type":"event",…}`` frame."""
        if isinstance(at, datetime):
            at = format_instant(at)
        frame = encode_frame(
            {"type": "event", "id": id, "topic": topic, "event": event, "at": at, "data": data}
        )
        return cls(id, topic, event, at, data, frame)

    @classmethod
    def from_frame(cls, frame: str) -> Event:
        """Rebuild an event from its frame text (e.g. from a Redis Stream), keeping that text."""
        message = json.loads(frame)
        if not isinstance(message, dict) or message.get("type") != "event":
            raise ValueError("not an event frame")
        return cls(
            int(message["id"]), message["topic"], message["event"], message["at"],
            message["data"], frame,
        )


class Subscriber:
    """One live-feed connection: its topics, filters and bounded queue, written by the hub's flush."""

    __slots__ = (
        "_controls",
        "_due",
        "_hub",
        "_position",
        "_queue",
        "_replay_backlog",
        "_sink",
        "_written",
        "attached",
        "line",
        "product_id",
        "topics",
    )

    def __init__(self, hub: EventHub, sink: FrameSink) -> None:
        self.topics: set[str] = set()
        self.product_id: int | None = None
        self.line: frozenset[str] | None = None
        self.attached = True
        self._hub = hub
        self._sink = sink
        self._queue: deque[str] = deque()
        self._controls = 0  # replies queued among the events; not counted as deliveries
        self._replay_backlog = 0  # a replay may exceed queue_size without counting as slowness
        self._position = 0  # newest event id this subscriber was given or passed over
        self._due = False  # in the hub's next flush
        self._written: asyncio.Future[Any] | None = None  # a write the sink still buffers

    def __repr__(self) -> str:
        return f"<Subscriber topics={sorted(self.topics)} queued={len(self._queue)}>"

    @property
    def queued(self) -> int:
        """Frames waiting to be written."""
        return len(self._queue)

    def subscribe(
        self,
        topics: Iterable[str],
        since: int | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> int:
        """Add topics, replace filters, queue ``subscribed`` then the replay (or ``resync``).

        Returns the hub's ``last_id``. Replay and registration happen with no
        await in between, so nothing is lost or repeated at the seam. A
        subscriber's ids only ever increase: replay starts after both ``since``
        and the newest id it has already been given.
        Raises ``SubscriptionError`` for an unknown topic, a bad ``since`` or bad filters.
        """
        if not self.attached:
            raise RuntimeError("subscriber is detached")
        wanted = _check_topics(topics)
        product_id, line = _check_filters(filters)
        if since is not None and (type(since) is not int or since < 0):
            raise SubscriptionError("since must be a non-negative integer")

        hub = self._hub
        for topic in wanted - self.topics:
            hub._by_topic[topic][self] = None
        self.topics |= wanted
        self.product_id, self.line = product_id, line
        last_id = hub.last_id
        subscribed = {"type": "subscribed", "topics": sorted(self.topics), "last_id": last_id}
        if not self.push(encode_frame(subscribed)):
            return last_id

        start = None if since is None else max(since, self._position)
        replay = None if start is None else hub._events_after(start)
        if since is not None and (replay is None or since > last_id):
            reason = (
                f"since={since} is ahead of this feed (last id {last_id})"
                if since > last_id
                else f"since={since} is older than the replay buffer (oldest id {hub.first_id})"
            )
            self.push(encode_frame({"type": "resync", "reason": reason}))
        elif replay:
            frames = [
                event.frame for event in replay
                if event.topic in self.topics and self._passes(event)
            ]
            self._replay_backlog += len(frames)
            self._queue.extend(frames)
            self._wake()
        self._position = max(self._position, last_id)
        return last_id

    def unsubscribe(self, topics: Iterable[str]) -> None:
        """Stop live delivery of these topics; unknown or absent ones are ignored."""
        for topic in set(topics) & self.topics:
            self.topics.discard(topic)
            self._hub._by_topic[topic].pop(self, None)

    def push(self, frame: str) -> bool:
        """Queue a reply frame (pong, error…) behind what is already queued; False if closed."""
        if not self.attached:
            return False
        if self._full():
            self._drop_too_slow()
            return False
        self._queue.append(frame)
        self._controls += 1
        self._wake()
        return True

    def detach(self) -> None:
        """Unregister from the hub and drop what is queued; safe to call more than once."""
        if not self.attached:
            return
        self.attached = False
        self._hub._remove(self)
        self._queue.clear()
        self._controls = 0
        written, self._written = self._written, None
        # Only a sink's own send task is stopped; a transport's write future is left to
        # the transport (Tornado's IOStream logs an error for a cancelled one).
        if isinstance(written, asyncio.Task) and not written.done():
            written.cancel()

    def _passes(self, event: Event) -> bool:
        # An event passes a filter when its data has the key with that value, or lacks the key.
        data = event.data
        product_id = self.product_id
        if product_id is not None and data.get("product_id", product_id) != product_id:
            return False
        # A missing key passes; a null line (a record on no line) matches no line filter.
        return self.line is None or "line" not in data or data["line"] in self.line

    def _full(self) -> bool:
        return len(self._queue) >= self._hub.queue_size + self._replay_backlog

    def _offer(self, event: Event) -> bool:
        """Queue a live event without blocking; False means the queue is full."""
        if self._full():
            return False
        self._queue.append(event.frame)
        self._position = event.id
        self._wake()
        return True

    def _wake(self) -> None:
        # A subscriber whose last write is still buffered is written again when that write is done.
        if not self._due and self._written is None:
            self._due = True
            self._hub._schedule(self)

    def _write(self) -> None:
        """Hand everything queued to the sink in one write (the hub's flush calls this)."""
        self._due = False
        queue = self._queue
        if not queue or not self.attached:
            return
        if len(queue) == 1:
            batch = [queue.popleft()]
        elif sum(map(len, queue)) <= WRITE_BUDGET:  # the usual few frames of one turn: all of them
            batch = list(queue)
            queue.clear()
        else:
            batch, size = [], 0
            while queue and (not batch or size + len(queue[0]) <= WRITE_BUDGET):
                frame = queue.popleft()
                batch.append(frame)
                size += len(frame)
        delivered = len(batch)
        if self._controls:
            controls = min(self._controls, delivered)
            delivered -= controls
            self._controls -= controls
        if self._replay_backlog:
            self._replay_backlog = max(0, self._replay_backlog - len(batch))
        try:
            written = self._sink.write(batch)
        except Exception as exc:  # noqa: BLE001 - a transport error ends this connection only
            self._send_failed(exc)
            return
        if written is None:
            self._hub.delivered += delivered
            if queue:  # the rest of a long replay: next loop turn, after the others' writes
                self._wake()
            return
        self._written = future = asyncio.ensure_future(written)
        future.add_done_callback(partial(self._write_done, delivered))

    def _write_done(self, delivered: int, future: asyncio.Future[Any]) -> None:
        if future is not self._written:  # detached meanwhile
            if not future.cancelled():
                future.exception()
            return
        self._written = None
        exc = future.exception() if not future.cancelled() else asyncio.CancelledError()
        if exc is not None:
            self._send_failed(exc)
            return
        self._hub.delivered += delivered
        if self._queue:
            self._write()

    def _send_failed(self, exc: BaseException) -> None:
        log.info("live feed send failed, dropping subscriber: %r", exc)
        self._abandon(CLOSE_INTERNAL_ERROR, "send failed")

    def _drop_too_slow(self) -> None:
        self._hub.dropped += 1
        log.warning("live feed subscriber closed: over %d frames queued", self._hub.queue_size)
        self._abandon(CLOSE_TOO_SLOW, "client too slow")

    def _abandon(self, code: int, reason: str) -> None:
        self.detach()
        try:
            self._sink.close(code, reason)
        except Exception:  # a failing close must never break publish for the others
            log.exception("closing a live feed connection failed")


def _check_topics(topics: Iterable[str]) -> set[str]:
    if isinstance(topics, str):
        raise SubscriptionError("topics must be a list of topic names")
    try:
        wanted = set(topics)
    except TypeError:
        raise SubscriptionError("topics must be a list of topic names") from None
    unknown = sorted(str(topic) for topic in wanted - TOPICS)
    if unknown:
        raise SubscriptionError(f"unknown topic(s): {', '.join(unknown)}")
    return wanted


def _check_filters(filters: Mapping[str, Any] | None) -> tuple[int | None, frozenset[str] | None]:
    if not filters:
        return None, None
    unknown = sorted(set(filters) - FILTER_KEYS)
    if unknown:
        raise SubscriptionError(f"unknown filter(s): {', '.join(map(str, unknown))}")
    product_id = filters.get("product_id")
    line = filters.get("line")
    if product_id is not None and (type(product_id) is not int or product_id < 1):
        raise SubscriptionError("filter product_id must be a positive integer")
    if line is None:
        return product_id, None
    # One line code, or a list of them (a wall screen watching a few lines).
    lines = [line] if isinstance(line, str) else line
    if (not isinstance(lines, list) or not 1 <= len(lines) <= MAX_FILTER_LINES
            or not all(isinstance(code, str) and len(code) <= 64 for code in lines)):
        raise SubscriptionError(f"filter line must be a line code or a list of 1 to {MAX_FILTER_LINES}")
    return product_id, frozenset(lines)


class EventHub:
    """Assigns event ids, keeps the replay buffer and fans frames out to subscribers."""

    def __init__(
        self, replay_size: int = 10_000, queue_size: int = 1_000, clock: Clock = utc_now
    ) -> None:
        if replay_size < 0 or queue_size < 1:
            raise ValueError("replay_size must be >= 0 and queue_size >= 1")
        self.replay_size = replay_size
        self.queue_size = queue_size
        self._clock = clock
        self._buffer: deque[Event] = deque(maxlen=replay_size)
        self._last_id = 0
        self._by_topic: dict[str, dict[Subscriber, None]] = {topic: {} for topic in TOPICS}
        self._attached: dict[Subscriber, None] = {}
        self._to_write: list[Subscriber] = []  # due in the next flush, in the order they became due
        self.published = 0
        self.delivered = 0
        self.dropped = 0

    @property
    def last_id(self) -> int:
        """Id of the newest event published here (0 before the first)."""
        return self._last_id

    @property
    def first_id(self) -> int | None:
        """Id of the oldest event still in the replay buffer."""
        return self._buffer[0].id if self._buffer else None

    @property
    def subscribers(self) -> int:
        """Connections currently attached."""
        return len(self._attached)

    def metrics(self) -> dict[str, int]:
        """Counters for /metrics."""
        return {
            "published": self.published,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "subscribers": self.subscribers,
            "buffered": len(self._buffer),
            "last_id": self._last_id,
        }

    def attach(self, sink: FrameSink) -> Subscriber:
        """Attach a connection; it receives nothing until it subscribes."""
        subscriber = Subscriber(self, sink)
        self._attached[subscriber] = None
        return subscriber

    def publish(self, topic: str, event: str, data: dict[str, Any]) -> Event:
        """Number, buffer and fan out one committed event; never waits for a client."""
        if topic not in TOPICS:
            raise ValueError(f"unknown topic: {topic}")
        built = Event.create(self._last_id + 1, topic, event, data, self._clock())
        self._accept(built)
        return built

    def publish_event(self, event: Event) -> bool:
        """Fan out an event numbered elsewhere; duplicates and older ids are skipped (False)."""
        if event.id <= self._last_id:
            return False
        self._accept(event)
        return True

    def shutdown(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Detach and close every subscriber."""
        for subscriber in list(self._attached):
            subscriber._abandon(code, reason)

    def _accept(self, event: Event) -> None:
        self._last_id = event.id
        self._buffer.append(event)
        self.published += 1
        # The loop over every subscriber of the topic is the per-event Python work of the fan-out,
        # so `_passes`, `_offer` and `_wake` are written out here (what they do, in that order):
        # one attribute test for a subscriber without filters, one append, one flag.
        too_slow: list[Subscriber] = []
        frame, ident, limit = event.frame, event.id, self.queue_size
        to_write = self._to_write
        idle = not to_write
        for subscriber in self._by_topic.get(event.topic, ()):
            if (subscriber.product_id is not None or subscriber.line is not None) and \
                    not subscriber._passes(event):
                continue
            queue = subscriber._queue
            if len(queue) >= limit + subscriber._replay_backlog:
                too_slow.append(subscriber)
                continue
            queue.append(frame)
            subscriber._position = ident
            if not subscriber._due and subscriber._written is None:
                subscriber._due = True
                to_write.append(subscriber)
        if idle and to_write:
            asyncio.get_running_loop().call_soon(self._flush)
        for subscriber in too_slow:  # closed after the loop: it changes the topic index
            subscriber._drop_too_slow()

    def _schedule(self, subscriber: Subscriber) -> None:
        if not self._to_write:
            asyncio.get_running_loop().call_soon(self._flush)
        self._to_write.append(subscriber)

    def _flush(self) -> None:
        # One callback writes every due subscriber: no task, future or callback per connection.
        due, self._to_write = self._to_write, []
        for subscriber in due:
            subscriber._write()

    def _events_after(self, start: int) -> list[Event] | None:
        """Buffered events with id > start, oldest first; None if some were evicted."""
        buffer = self._buffer
        if start >= self._last_id:
            return []
        if not buffer or start < buffer[0].id - 1:
            return None
        newer: list[Event] = []
        for event in reversed(buffer):
            if event.id <= start:
                break
            newer.append(event)
        newer.reverse()
        return newer

    def _remove(self, subscriber: Subscriber) -> None:
        self._attached.pop(subscriber, None)
        for topic in subscriber.topics:
            self._by_topic[topic].pop(subscriber, None)
