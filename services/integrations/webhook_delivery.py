"""The webhook delivery worker: outbox events to each endpoint, signed, in id order, with retries.

One worker per process. An endpoint is leased to one worker at a time (claimed with SELECT … FOR
UPDATE SKIP LOCKED on MariaDB, so processes of a cluster share the endpoints without waiting on
each other); every change of the endpoint's position checks the lease, so each event goes to each
endpoint once — at least once across a crash, when the receiver dedupes on `webhook-id`.
The worker's scheduling (retries, leases) runs on the wall clock: it is not plant time.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from standardwebhooks import Webhook as Signer
from tornado.httpclient import HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from core.config import Settings
from core.db import Change, Database
from core.tasks import stop_if_cancelled
from models import OutboxEvent, Webhook, WebhookDelivery, utcnow
from realtime.hub import format_instant
from services.integrations.outbox import envelope
from services.integrations.webhook_urls import PublicResolver

log = logging.getLogger("factory.webhooks")

BATCH = 100  # events read per endpoint per turn
CLAIM = 20  # endpoints claimed per turn
GAP_SCAN = 1000  # outbox ids checked for gaps per turn
USER_AGENT = "factory-management-webhooks/1"


@dataclass
class Attempt:
    """What one POST to a receiver came to."""

    ok: bool
    response_code: int | None
    error: str | None
    duration_ms: int


def backoff(attempts: int, settings: Settings) -> float:
    """Seconds before retry number `attempts`: base × 2^(n-1), capped, with ±20 % jitter."""
    delay = min(settings.webhook_retry_base * 2 ** min(attempts - 1, 40), settings.webhook_retry_cap)
    return delay * random.uniform(0.8, 1.2)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class DeliveryWorker:
    """Delivers due endpoints until stopped; `notify` (a commit listener) wakes it for new events."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.node = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self._client: SimpleAsyncHTTPClient | None = None
        self.delivered = 0
        self.failed = 0
        self._gaps: dict[int, float] = {}  # a missing outbox id → when this worker first saw it missing
        # Set when the last turn found no endpoint to deliver to: then a write's events need no turn
        # (one only wakes it by changing the webhooks); the poll interval still looks, for endpoints
        # another process of a cluster registers.
        self._no_endpoints = False

    @property
    def client(self) -> SimpleAsyncHTTPClient:
        if self._client is None:
            self._client = SimpleAsyncHTTPClient(
                force_instance=True, max_clients=CLAIM,
                resolver=PublicResolver(allow_private=self.settings.webhook_allow_private))
        return self._client

    def notify(self, change: Change) -> None:
        """A commit listener: new events wake the worker at once (when any endpoint can take them)."""
        if "webhooks" in change.tables or (change.events and not self._no_endpoints):
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver, then sleep until woken or the poll interval passes (events from other processes)."""
        try:
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
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

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
        """Send the endpoint's next events in id order; stop at the first failure."""
        sent = False
        try:
            topics = [topic for topic in hook.topics.split(",") if topic]
            async with self.db.session() as session:
                events = list((await session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.id > hook.last_event_id, OutboxEvent.id <= newest,
                           OutboxEvent.topic.in_(topics))
                    .order_by(OutboxEvent.id).limit(BATCH))).scalars())
            if not events:  # nothing of its topics: move past what was looked at
                await self._advance(hook, newest)
                return False
            for event in events:
                result = await self.send(hook, envelope(event), f"evt_{event.id}")
                if not await self._record(hook, event, result):
                    return sent
                sent = True
            if len(events) < BATCH:
                await self._advance(hook, newest)
            return sent
        finally:
            await self._release(hook)

    async def send(self, hook: Webhook, payload: dict[str, Any], message_id: str) -> Attempt:
        """POST one signed payload (Standard Webhooks headers); never follows a redirect."""
        body = encode(payload)
        moment = datetime.now(UTC)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   "webhook-id": message_id, "webhook-timestamp": str(int(moment.timestamp())),
                   "webhook-signature": Signer(hook.secret).sign(message_id, moment, body.decode())}
        timeout = self.settings.webhook_timeout
        request = HTTPRequest(hook.url, method="POST", body=body, headers=headers, follow_redirects=False,
                              connect_timeout=timeout, request_timeout=timeout, decompress_response=False,
                              streaming_callback=lambda chunk: None)  # the answer's body is not kept
        started = time.monotonic()
        try:
            response = await self.client.fetch(request, raise_error=False)
            code, error = response.code, None
            if code == 599:  # Tornado's code for a timeout or a dropped connection
                code, error = None, _describe(response.error)
        except Exception as exc:  # refused, unreachable, or a non-public address
            code, error = None, _describe(exc)
        duration = int((time.monotonic() - started) * 1000)
        ok = code is not None and 200 <= code < 300
        if not ok and error is None:
            error = f"HTTP {code}" + (" (redirects are not followed)" if code and 300 <= code < 400 else "")
        return Attempt(ok, code, error, duration)

    async def _record(self, hook: Webhook, event: OutboxEvent, result: Attempt) -> bool:
        """Log the attempt and move the endpoint on (or schedule its retry); False stops this endpoint."""
        now = utcnow()
        attempt = hook.attempts + 1
        values: dict[str, Any]
        next_retry = None
        if result.ok:
            # The lease is renewed with every event, so a long run to a slow receiver keeps it: it
            # runs out only if one attempt outlasts it, never because the run is long.
            values = {"last_event_id": event.id, "attempts": 0, "state": "healthy",
                      "first_failure_at": None, "next_attempt_at": None,
                      "lease_until": now + timedelta(seconds=self.settings.webhook_lease)}
            self.delivered += 1
        else:
            self.failed += 1
            first_failure = hook.first_failure_at or now
            if (now - first_failure).total_seconds() >= self.settings.webhook_retry_window:
                values = {"attempts": attempt, "state": "failing", "active": False, "next_attempt_at": None,
                          "lease_owner": None, "lease_until": None}
                log.warning("webhook %d marked failing after %d attempts of event %d", hook.id, attempt,
                            event.id)
            else:
                next_retry = now + timedelta(seconds=backoff(attempt, self.settings))
                values = {"attempts": attempt, "state": "retrying", "first_failure_at": first_failure,
                          "next_attempt_at": next_retry, "lease_owner": None, "lease_until": None}
        async with self.db.write() as uow:
            moved = await uow.session.execute(
                update(Webhook).where(Webhook.id == hook.id, Webhook.lease_owner == self.node)
                .values(**values))
            if moved.rowcount != 1:  # the lease ran out and another worker has the endpoint
                return False
            uow.touch("webhooks")  # its state and position are read through the response cache
            uow.session.add(WebhookDelivery(
                webhook_id=hook.id, event_id=event.id, event=event.event, attempt=attempt,
                status="delivered" if result.ok else "failed", response_code=result.response_code,
                error=result.error, duration_ms=result.duration_ms, attempted_at=now,
                next_retry_at=next_retry))
        for name, value in values.items():
            setattr(hook, name, value)
        return result.ok

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
        payload = {"type": "event", "id": 0, "topic": "webhooks", "event": "webhook.ping",
                   "at": format_instant(datetime.now(UTC)), "data": {"webhook_id": hook.id}}
        result = await self.send(hook, payload, f"ping_{secrets.token_hex(8)}")
        delivery = WebhookDelivery(
            webhook_id=hook.id, event_id=None, event="webhook.ping", attempt=1,
            status="delivered" if result.ok else "failed", response_code=result.response_code,
            error=result.error, duration_ms=result.duration_ms, attempted_at=utcnow())
        async with self.db.write() as uow:
            uow.session.add(delivery)
        return delivery


def _describe(exc: BaseException | None) -> str:
    """A short reason for the attempt log: the error's kind and message, never a traceback."""
    if exc is None:
        return "no response"
    return f"{exc.__class__.__name__}: {exc}"[:255]
