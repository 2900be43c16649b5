"""`line.status` events: after a commit changes a line's figures, its status object on topic `lines`.

Coalesced per line: at most one event per line per `interval` seconds. A change marks its lines
dirty; a line published less than `interval` ago waits for the rest of it, and whatever changed
meanwhile goes out in that one event, read fresh from the database after the last commit. The
events are emitted by a unit of work of their own, so they take the path of every event: the
outbox (webhooks), then the live feed after the commit, with ids after those of the commits they
reflect (and a Redis Stream in cluster mode).
"""
from __future__ import annotations

import asyncio
import logging
import math

from core.clock import Clock
from core.db import Change, Database
from core.tasks import call_at, spawn
from services.floor.line_status import line_statuses

log = logging.getLogger("factory.realtime")

EVERY_LINE = "*"  # a change whose lines are unknown (a shift edited, a stop corrected): all of them
# Events whose data names the line they change (an updated record's earlier line is in
# `Change.lines`, put there by the write that moved it).
LINE_EVENTS = frozenset({"production.recorded", "production.updated", "production.deleted", "line.stopped",
                         "line.started", "work_order.created", "work_order.updated", "machine.status"})
# Tables whose changes move figures of lines the events do not name.
SHOP_TABLES = frozenset({"shifts", "lines", "stops", "stop_reasons", "work_orders"})


def changed_lines(change: Change) -> set[str]:
    """The codes of the lines whose figures a committed change moves; EVERY_LINE when unknown."""
    lines = set(change.lines)
    for _, name, data in change.events:
        if name in LINE_EVENTS and data.get("line"):
            lines.add(data["line"])
    if not lines and change.tables & SHOP_TABLES:
        return {EVERY_LINE}
    return lines


class LineStatusFeed:
    """A commit listener that publishes coalesced `line.status` events."""

    def __init__(self, db: Database, clock: Clock, interval: float = 1.0) -> None:
        self.db = db
        self.clock = clock
        self.interval = interval
        self.dirty: set[str] = set()
        self.last: dict[str, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def __call__(self, change: Change) -> None:
        lines = changed_lines(change)
        if lines:
            self.dirty |= lines
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None or self._task is not None or not self.dirty:
            return
        loop = asyncio.get_running_loop()
        due = min(self.last.get(code, -math.inf) for code in self.dirty) + self.interval
        # Armed by whichever commit came first, but published for all: in a context of its own.
        self._timer = call_at(max(due, loop.time()), self._start)

    def _start(self) -> None:
        self._timer = None
        self._task = spawn(self._publish_due())

    async def _publish_due(self) -> None:
        try:
            now = asyncio.get_running_loop().time()
            due = {code for code in self.dirty if self.last.get(code, -math.inf) + self.interval <= now}
            self.dirty -= due
            # Read now, whether or not a status comes back: a line that has none (deactivated, or
            # named only by old records) is coalesced like the others, not read again on every commit.
            # Entries a full interval old say nothing more than a missing one, so they go.
            self.last = {code: at for code, at in self.last.items() if at + self.interval > now}
            self.last.update(dict.fromkeys(due, now))
            every = EVERY_LINE in due
            async with self.db.session() as session:
                statuses = await line_statuses(session, self.clock, None if every else due)
            fresh = []
            for status in statuses:
                code = status["line"]
                if code not in due and self.last.get(code, -math.inf) + self.interval > now:
                    self.dirty.add(code)  # published a moment ago on its own: its turn comes next
                    continue
                self.last[code] = now
                fresh.append(status)
            if fresh:
                # A unit of work of its own: the events go the way every event goes — the outbox
                # (webhooks), then the publisher after the commit (the live feed, the cluster's stream).
                async with self.db.write() as uow:
                    for status in fresh:
                        uow.emit("lines", "line.status", status)
        except Exception as exc:  # the next change tries again; the database may be away
            log.warning("line.status not published: %s: %s", exc.__class__.__name__, exc)
        finally:
            self._task = None
            self._arm()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
