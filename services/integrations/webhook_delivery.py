"""The webhook delivery worker: outbox events to each endpoint, signed, in id order, with retries.

One worker per process. An endpoint is leased to one worker at a time (claimed with SELECT … FOR
UPDATE SKIP LOCKED on MariaDB, so processes of a cluster share the endpoints without waiting on
each other); every change of the endpoint's position checks the lease, so each event goes to each
endpoint once — at least once across a crash, when the receiver dedupes on `webhook-id`.
An endpoint's events go over one kept-alive connection, a batch at a time; the batch's attempts and
the endpoint's new position are written in one transaction after it was sent (a crash before that
sends the batch again: at least once).
The worker's scheduling (retries, leases) runs on the wall clock: it is not plant time.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from standardwebhooks import Webhook as Signer

from core.config import Settings
from core.db import Change, Database
from core.tasks import stop_if_cancelled
from models import OutboxEvent, Webhook, WebhookDelivery, utcnow
from realtime.hub import format_instant
from services.integrations.webhook_client import Attempt, EndpointClients, post

log = logging.getLogger("factory.webhooks")

BATCH = 100  # events read, sent and recorded together per endpoint
TURN_BATCHES = 10  # batches per endpoint per turn: then the endpoints are claimed afresh
CLAIM = 20  # endpoints claimed per turn
GAP_SCAN = 1000  # outbox ids checked for gaps per turn
OUTBOX = OutboxEvent.__table__
INSERT_DELIVERY = insert(WebhookDelivery.__table__)


def backoff(attempts: int, settings: Settings) -> float:
    """Seconds before retry number `attempts`: base × 2^(n-1), capped, with ±20 % jitter."""
    delay = min(settings.webhook_retry_base * 2 ** min(attempts - 1, 40), settings.webhook_retry_cap)
    return delay * random.uniform(0.8, 1.2)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_body(event: Any) -> bytes:
    """An outbox row as a webhook body: the live feed's event fields, with `type` (the event's name)
    and `timestamp` (when it was committed) as Standard Webhooks recommends. The row's data is the
    JSON the outbox stored, spliced in as it is rather than parsed and encoded again."""
    at = json.dumps(format_instant(event.at))
    name = json.dumps(event.event, ensure_ascii=False)
    return (f'{{"type":{name},"timestamp":{at},"id":{int(event.id)},'
            f'"topic":{json.dumps(event.topic)},"event":{name},"at":{at},"data":{event.data}}}').encode()


class DeliveryWorker:
    """Delivers due endpoints until stopped; `notify` (a commit listener) wakes it for new events."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.node = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self.clients = EndpointClients(allow_private=settings.webhook_allow_private,
                                       timeout=settings.webhook_timeout)
        self.delivered = 0
        self.failed = 0
        self._gaps: dict[int, float] = {}  # a missing outbox id → when this worker first saw it missing
        # Set when the last turn found no endpoint to deliver to: then a write's events need no turn
        # (one only wakes it by changing the webhooks); the poll interval still looks, for endpoints
        # another process of a cluster registers.
        self._no_endpoints = False

    def notify(self, change: Change) -> None:
        """A commit listener: new events wake the worker at once (when any endpoint can take them)."""
        if "webhooks" in change.tables or (change.events and not self._no_endpoints):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver, then sleep until woken or the poll interval passes (events from other processes)."""
        while True:
            try:
                busy = await self.turn()
            except Exception:  # an outage must not end the worker: try again after the interval
                stop_if_cancelled()
                log.warning("webhook delivery turn failed", exc_info=True)
                busy = False
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def close(self) -> None:
        """Close the endpoints' connections (after the worker's task has stopped)."""
        await self.clients.close()

    async def turn(self) -> bool:
        """Claim the endpoints with something due and deliver to each; True if any event was sent."""
        claimed, newest = await self.claim()
        if not claimed:
            return False
        results = await asyncio.gather(*(self.deliver_endpoint(row, newest) for row in claimed),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("webhook delivery failed: %r", result)
        return any(result is True for result in results)

    async def settled(self) -> int:
        """The highest event id below which every event is committed (or never will be).

        Ids are handed out when a transaction inserts, but transactions commit in any order: id 8 can
        be visible while id 7 is still on its way. A worker that moved past 7 would never send it, so
        delivery stops at a gap until the gap is older than any transaction can run (then it was a
        rollback). SQLite commits one writer at a time, so there it never waits.
        """
        async with self.db.session() as session:
            low = await session.scalar(select(func.min(Webhook.last_event_id))
                                       .where(Webhook.active.is_(True), Webhook.state != "failing"))
            self._no_endpoints = low is None
            if low is None:
                return 0
            ids = (await session.execute(select(OutboxEvent.id).where(OutboxEvent.id > low)
                                         .order_by(OutboxEvent.id).limit(GAP_SCAN))).scalars().all()
        now = time.monotonic()
        self._gaps = {gap: seen for gap, seen in self._gaps.items() if gap > low}
        safe = low
        for ident in ids:
            for gap in range(safe + 1, ident):
                if now - self._gaps.setdefault(gap, now) < self.settings.webhook_gap_wait:
                    return safe
            safe = ident
        return safe

    async def claim(self) -> tuple[list[Webhook], int]:
        newest = await self.settled()
        if self._no_endpoints:
            return [], newest
        now = utcnow()
        async with self.db.write() as uow:
            due = (select(Webhook)
                   .where(Webhook.active.is_(True), Webhook.state != "failing",
                          Webhook.last_event_id < newest,
                          or_(Webhook.next_attempt_at.is_(None), Webhook.next_attempt_at <= now),
                          or_(Webhook.lease_until.is_(None), Webhook.lease_until < now))
                   .order_by(Webhook.id).limit(CLAIM).with_for_update(skip_locked=True))
            rows = list((await uow.session.execute(due)).scalars())
            claimed = []
            until = now + timedelta(seconds=self.settings.webhook_lease)
            for row in rows:
                uow.session.expunge(row)  # changed below by a statement, not by a second flush
                # Compare-and-set as well: where the SELECT took no row lock (SQLite), two workers
                # may both have read the endpoint as free; only one UPDATE can still find it so.
                taken = await uow.session.execute(
                    update(Webhook)
                    .where(Webhook.id == row.id,
                           or_(Webhook.lease_until.is_(None), Webhook.lease_until < now))
                    .values(lease_owner=self.node, lease_until=until)
                    .execution_options(synchronize_session=False))
                if taken.rowcount == 1:
                    row.lease_owner, row.lease_until = self.node, until
                    claimed.append(row)
        return claimed, newest

    async def deliver_endpoint(self, hook: Webhook, newest: int) -> bool:
        """Send the endpoint's next events in id order over its keep-alive connection, a batch at a
        time; stop at the first failure. Each batch's attempts are recorded in one transaction."""
        sent = False
        try:
            topics = [topic for topic in hook.topics.split(",") if topic]
            client = self.clients.get(hook.id, hook.url)
            signer = Signer(hook.secret)
            for _ in range(TURN_BATCHES):
                async with self.db.session() as session:
                    events = list((await session.execute(
                        select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.event, OUTBOX.c.at, OUTBOX.c.data)
                        .where(OUTBOX.c.id > hook.last_event_id, OUTBOX.c.id <= newest,
                               OUTBOX.c.topic.in_(topics))
                        .order_by(OUTBOX.c.id).limit(BATCH))).all())
                if not events:  # nothing of its topics: move past what was looked at
                    await self._advance(hook, newest)
                    return sent
                results = []
                # Recorded at least this often, so the lease (renewed by each record) outlives a run
                # to a slow receiver: it runs out only if one attempt outlasts it.
                record_by = time.monotonic() + self.settings.webhook_lease / 4
                for event in events:
                    result = await self.send(client, hook, signer, webhook_body(event), f"evt_{event.id}")
                    results.append((event, result))
                    if not result.ok or time.monotonic() > record_by:
                        break
                done = len(results) == len(events) < BATCH and results[-1][1].ok
                if not await self._record(hook, results, newest if done else None):
                    return sent
                sent = sent or results[0][1].ok
                if done or not results[-1][1].ok:
                    return sent
            return sent
        finally:
            await self._release(hook)

    async def send(self, client: Any, hook: Webhook, signer: Signer, body: bytes, message_id: str) -> Attempt:
        """POST one signed body (Standard Webhooks headers); never follows a redirect."""
        moment = datetime.now(UTC)
        headers = {"Content-Type": "application/json", "webhook-id": message_id,
                   "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": signer.sign(message_id, moment, body.decode())}
        return await post(self.clients, client, hook.url, body, headers)

    async def _record(self, hook: Webhook, results: list[tuple[Any, Attempt]], finished: int | None) -> bool:
        """Log a batch's attempts and move the endpoint on (or schedule its retry, or switch it off),
        in one transaction; False if the lease was lost (another worker has the endpoint).

        `finished`: the position the endpoint reaches when the whole batch went through and nothing
        more of its topics is there up to it."""
        now = utcnow()
        attempt = hook.attempts + 1
        values: dict[str, Any] = {}
        next_retry = None
        delivered = [event for event, result in results if result.ok]
        last_event, last = results[-1]
        if delivered:
            # The lease is renewed with every record, so a long run to a slow receiver keeps it.
            values = {"last_event_id": finished or delivered[-1].id, "attempts": 0, "state": "healthy",
                      "first_failure_at": None, "next_attempt_at": None,
                      "lease_until": now + timedelta(seconds=self.settings.webhook_lease)}
            self.delivered += len(delivered)
        if not last.ok:
            self.failed += 1
            attempt = 1 if delivered else attempt
            first_failure = None if delivered else hook.first_failure_at
            first_failure = first_failure or now
            window = self.settings.webhook_retry_window
            if last.response_code == 410:
                reason = f"The receiver answered 410 Gone at {format_instant(now)}: it takes no more events."
                values.update(state="failing", active=False, disabled_reason=reason, attempts=attempt,
                              next_attempt_at=None, lease_owner=None, lease_until=None)
                log.warning("webhook %d disabled: the receiver answered 410 Gone to event %d", hook.id,
                            last_event.id)
            elif (now - first_failure).total_seconds() >= window:
                reason = (f"Gave up at {format_instant(now)} after {attempt} attempts of event "
                          f"{last_event.id} over the retry window (last: {last.error})")[:255]
                values.update(state="failing", active=False, disabled_reason=reason, attempts=attempt,
                              next_attempt_at=None, lease_owner=None, lease_until=None)
                log.warning("webhook %d marked failing after %d attempts of event %d", hook.id, attempt,
                            last_event.id)
            else:
                delay = backoff(attempt, self.settings)
                if last.retry_after is not None:  # never sooner than the receiver asked, within the window
                    left = window - (now - first_failure).total_seconds()
                    delay = max(delay, min(last.retry_after, left))
                next_retry = now + timedelta(seconds=delay)
                values.update(attempts=attempt, state="retrying", first_failure_at=first_failure,
                              next_attempt_at=next_retry, lease_owner=None, lease_until=None)
        rows = [{"webhook_id": hook.id, "event_id": event.id, "event": event.event,
                 "attempt": hook.attempts + 1 if n == 0 else 1,
                 "status": "delivered" if result.ok else "failed", "response_code": result.response_code,
                 "error": result.error, "duration_ms": result.duration_ms, "attempted_at": now,
                 "next_retry_at": next_retry if not result.ok else None}
                for n, (event, result) in enumerate(results)]
        async with self.db.write() as uow:
            moved = await uow.session.execute(
                update(Webhook).where(Webhook.id == hook.id, Webhook.lease_owner == self.node)
                .values(**values).execution_options(synchronize_session=False))
            if moved.rowcount != 1:  # the lease ran out and another worker has the endpoint
                return False
            uow.touch("webhooks")  # its state and position are read through the response cache
            await uow.session.execute(INSERT_DELIVERY, rows)
        for name, value in values.items():
            setattr(hook, name, value)
        return True

    async def _advance(self, hook: Webhook, newest: int) -> None:
        async with self.db.write() as uow:
            await uow.session.execute(
                update(Webhook).where(Webhook.id == hook.id, Webhook.lease_owner == self.node,
                                      Webhook.last_event_id < newest)
                .values(last_event_id=newest))
            uow.touch("webhooks")

    async def _release(self, hook: Webhook) -> None:
        async with self.db.write() as uow:
            await uow.session.execute(
                update(Webhook).where(and_(Webhook.id == hook.id, Webhook.lease_owner == self.node))
                .values(lease_owner=None, lease_until=None))

    async def ping(self, hook: Webhook) -> WebhookDelivery:
        """Send a `webhook.ping` now and log the attempt (it is not an outbox event)."""
        at = format_instant(datetime.now(UTC))
        payload = {"type": "webhook.ping", "timestamp": at, "id": 0, "topic": "webhooks",
                   "event": "webhook.ping", "at": at, "data": {"webhook_id": hook.id}}
        result = await self.send(self.clients.get(hook.id, hook.url), hook, Signer(hook.secret),
                                 encode(payload), f"ping_{secrets.token_hex(8)}")
        delivery = WebhookDelivery(
            webhook_id=hook.id, event_id=None, event="webhook.ping", attempt=1,
            status="delivered" if result.ok else "failed", response_code=result.response_code,
            error=result.error, duration_ms=result.duration_ms, attempted_at=utcnow())
        async with self.db.write() as uow:
            uow.session.add(delivery)
        return delivery

