"""The transactional outbox: every event is written in the transaction that caused it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert

from core.clock import Clock
from core.db import UnitOfWork
from core.statements import run
from models import OutboxEvent
from realtime.hub import EVENT_TOPICS, encode_frame

INSERT_EVENT = insert(OutboxEvent.__table__)


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

