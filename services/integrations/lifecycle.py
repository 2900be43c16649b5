"""The integrations' parts with a lifetime: the outbox hook, and the background tasks of a process."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from core.clock import Clock
from core.config import Settings
from core.db import Change, Database
from core.tasks import spawn, stop_if_cancelled
from services.integrations.idempotency import IdempotencyStore
from services.integrations.outbox import CommandEventRelay, OutboxWriter, purge
from services.integrations.webhook_delivery import DeliveryWorker

log = logging.getLogger("factory.integrations")


async def every(interval: float, name: str, job: Callable[[], Awaitable[int]]) -> None:
    """Run `job` every `interval` seconds until cancelled; a failure (an outage) waits for the next turn."""
    while True:
        try:
            removed = await job()
            if removed:
                log.info("%s: removed %d rows", name, removed)
        except Exception:
            stop_if_cancelled()
            log.warning("%s failed", name, exc_info=True)
        await asyncio.sleep(interval)


STOP_TIMEOUT = 10.0  # seconds a background task may take to end once cancelled
RELAY_INTERVAL = 1.0  # seconds between looks for events a command wrote (server.py import)


class Integrations:
    """The outbox writer (a before-commit hook), the webhook worker, and the tasks of one process."""

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.outbox = OutboxWriter(clock)
        self.worker = DeliveryWorker(db, settings)
        self.tasks: list[asyncio.Task[Any]] = []
        self.relay: CommandEventRelay | None = None

    def relay_to(self, publish: Callable[[str, str, dict[str, Any]], Any]) -> None:
        """Publish the events commands write (see CommandOutbox) through `publish`, the live feed's sink."""
        self.relay = CommandEventRelay(self.db, publish)

    def notify(self, change: Change) -> None:
        """A commit listener: new outbox rows wake the delivery worker."""
        self.worker.notify(change)

    async def start(self, keys: IdempotencyStore) -> None:
        """One delivery worker and one of each sweep per process (claims keep processes apart)."""
        settings = self.settings
        retention = timedelta(seconds=settings.outbox_retention)
        jobs: dict[str, Callable[[], Awaitable[Any]]] = {
            "idempotency sweep": lambda: every(settings.idempotency_sweep_interval, "idempotency sweep",
                                               keys.sweep),
            "outbox purge": lambda: every(settings.idempotency_sweep_interval, "outbox purge",
                                          lambda: purge(self.db.write, self.clock.utcnow() - retention)),
        }
        if settings.webhook_delivery:
            jobs["webhook delivery"] = self.worker.run
        if self.relay is not None:
            relay = self.relay
            jobs["command events"] = lambda: every(RELAY_INTERVAL, "command events", relay.relay)
        self.tasks = [spawn(job(), name=name) for name, job in jobs.items()]

    async def stop(self) -> None:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        if not tasks:
            await self.worker.close()  # a ping may have opened a connection
            return
        _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
        for task in stuck:  # never seen since stop_if_cancelled; a shutdown must not hang on one
            log.error("%s did not stop within %.0f s of its cancellation", task.get_name(), STOP_TIMEOUT)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("%s ended with %r", task.get_name(), task.exception())
        await self.worker.close()
