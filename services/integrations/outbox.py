"""The transactional outbox: every event is written in the transaction that caused it."""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from core.clock import Clock
from core.db import UnitOfWork
from core.dbguard import DatabaseUnavailable
from core.statements import run
from models import OutboxEvent, OutboxRelay
from realtime.hub import EVENT_TOPICS, encode_frame

INSERT_EVENT = insert(OutboxEvent.__table__)
INSERT_RELAY = insert(OutboxRelay.__table__)


class OutboxWriter:
    """A before-commit hook: no event without its commit, no commit without its event."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.written = 0

    async def __call__(self, uow: UnitOfWork) -> None:
        if not uow.change.events:
            return
        at = self.clock.utcnow()
        rows = [{"topic": EVENT_TOPICS.get(name, topic), "event": name, "at": at,
                 "data": encode_frame(data)} for topic, name, data in uow.change.events]
        if len(rows) == 1:  # most writes: one event, one prepared statement
            await run(uow.session, INSERT_EVENT, rows[0])
        else:
            await (await uow.session.connection()).execute(INSERT_EVENT, rows)
        self.written += len(rows)


async def purge(write: Callable[[], Any], before: datetime) -> int:
    """Delete outbox rows older than `before` (kept long enough for every retry window)."""
    async with write() as uow:
        result = await uow.session.execute(delete(OutboxEvent).where(OutboxEvent.at < before))
        return result.rowcount or 0



class CommandOutbox:
    """The before-commit hook of a command (`server.py import`): its events go to the outbox like a
    server's, and each is also listed in `outbox_relay`, since no live feed runs in the command's
    process: a running server claims the row and publishes the event (`CommandEventRelay`)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def __call__(self, uow: UnitOfWork) -> None:
        at = self.clock.utcnow()
        for topic, name, data in uow.change.events:
            row = {"topic": EVENT_TOPICS.get(name, topic), "event": name, "at": at,
                   "data": encode_frame(data)}
            outbox_id = (await run(uow.session, INSERT_EVENT, row)).lastrowid
            await run(uow.session, INSERT_RELAY, {"outbox_id": outbox_id})


class CommandEventRelay:
    """A running server's side of `CommandOutbox`: every `interval` seconds, claim the events commands
    wrote (a DELETE that only one process wins) and publish them live, in outbox order.

    `publish(topic, name, data)` is the server's event sink: its hub, or in cluster mode the Redis
    stream, so the event reaches every process's subscribers once.
    """

    BATCH = 100

    def __init__(self, db: Any, publish: Callable[[str, str, dict[str, Any]], Any]) -> None:
        self.db = db
        self.publish = publish

    async def relay(self) -> int:
        """Claim and publish what is waiting; how many events were published. While the database is
        away this says nothing (the outage is reported where it is met) and tries again next turn."""
        try:
            async with self.db.session() as session:
                waiting = (await session.execute(select(OutboxRelay.outbox_id).order_by(OutboxRelay.outbox_id)
                                                 .limit(self.BATCH))).scalars().all()
        except (SQLAlchemyError, DatabaseUnavailable, OSError):
            return 0
        if not waiting:
            return 0
        claimed = []
        async with self.db.write() as uow:
            for outbox_id in waiting:
                taken = await uow.session.execute(
                    delete(OutboxRelay).where(OutboxRelay.outbox_id == outbox_id))
                if taken.rowcount:
                    claimed.append(outbox_id)
            rows = (await uow.session.execute(select(OutboxEvent).where(OutboxEvent.id.in_(claimed))
                                              .order_by(OutboxEvent.id))).scalars().all() if claimed else []
            events = [(row.topic, row.event, json.loads(row.data)) for row in rows]
        for topic, name, data in events:  # after the claim's commit
            self.publish(topic, name, data)
        return len(events)
