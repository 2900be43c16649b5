"""Idempotency-Key (IETF httpapi draft): one effect per key, and its first answer replayed to retries.

A request with a key first claims it: a row (user, key) inserted in a short transaction of its own,
so a second request with the key, in this process or another, finds the row instead of doing the
work again. The claim is marked `applied` inside the very transaction that makes the change (a
before-commit hook), and the answer is kept once it is written. So:

- `pending`: nothing committed yet. Others wait; if the claimant died (its lease ran out), the next
  request takes the key over — nothing had happened, so doing it is right.
- `applied`: the change committed. Others wait for the answer; it is never done twice.
- `done`: the answer is kept and replayed, byte for byte, until the key expires. A done key is
  never moved again: no later commit, whatever context it runs in, marks it `applied`.

A request that changed nothing (refused, or failed before its commit) gives its key back, so the
client may retry it with the same key.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.db import Database, UnitOfWork
from core.errors import ApiError, conflict, invalid
from core.jsonin import parse_json
from models import IdempotencyKey, utcnow

log = logging.getLogger("factory.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEPT_HEADERS = ("Location", "Content-Type")
# MariaDB error codes a concurrent claim can meet (deadlock, lock wait timeout): claim again.
_RETRYABLE = {1213, 1205}


@dataclass
class Claim:
    """A key this request holds; `applied` once its change has committed."""

    id: int
    owner: str
    applied: bool = False
    done: bool = False  # its answer is kept: the request is over, later commits are not its own


@dataclass
class Remembered:
    """The first answer to a key, as kept."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def parse_key(raw: str) -> str:
    """The key from the header: an sf-string (`"abc"`) or a bare token, 1-255 visible ASCII characters."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not 1 <= len(value) <= MAX_KEY_LENGTH or not all(33 <= ord(ch) <= 126 for ch in value):
        raise ApiError(400, f"{HEADER} must be 1-{MAX_KEY_LENGTH} visible ASCII characters.",
                       errors={HEADER: ["Must be 1-255 visible ASCII characters, e.g. a UUID."]})
    return value


def fingerprint(method: str, uri: str, body: bytes) -> str:
    """What makes two requests "the same": method, path with query, and the body as parsed JSON.

    Key order and whitespace do not matter: a JSON body counts by its canonical form (sorted keys,
    no spaces). A body that is not JSON (the server refuses it anyway) counts byte for byte.
    """
    digest = hashlib.sha256()
    for part in (method.encode(), uri.encode(), canonical_body(body)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def canonical_body(body: bytes) -> bytes:
    """A JSON body in one spelling (sorted keys, compact); anything else as it came."""
    if not body.strip():
        return body
    try:
        value = parse_json(body)
    except ValueError:
        return body
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class IdempotencyStore:
    """Claims, marks, keeps and replays keys in the `idempotency_keys` table."""

    def __init__(self, db: Database, *, ttl: float = 86400.0, lease: float = 60.0, wait: float = 10.0,
                 poll: float = 0.05) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl)
        # A claim older than this whose change never committed belongs to a request that died.
        self.lease = timedelta(seconds=lease)
        self.wait = wait
        self.poll = poll

    async def claim(self, user_id: int, key: str, print_: str) -> Claim | Remembered:
        """Hold the key for this request, or the first answer to replay; waits while another holds it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            claimed = await self._insert(user_id, key, print_)
            if claimed is not None:
                return claimed
            row = await self._read(user_id, key)
            now = utcnow()
            if row is None:
                continue  # expired and swept in between: claim again
            if row.expires_at <= now:
                await self._drop_expired(row.id)
                continue
            if row.fingerprint != print_:
                raise invalid({HEADER: ["This key was already used for a different request."]},
                              detail=f"This {HEADER} was already used with another method, path or body; "
                                     "use a new key for a new request.")
            if row.state == "done":
                return Remembered(row.response_status or 200, json.loads(row.response_headers or "{}"),
                                  base64.b64decode(row.response_body or ""))
            stale = row.claimed_at <= now - self.lease
            if stale and row.state == "pending":
                taken = await self._take_over(row.id, row.owner)
                if taken is not None:
                    return taken
                continue
            if stale:  # applied, but its answer was never kept: the claimant died after its commit
                raise conflict(f"The request with this {HEADER} was carried out, but its answer was lost; "
                               "read the resource to see the result.")
            if loop.time() >= deadline:
                raise ApiError(409, f"A request with this {HEADER} is still being processed; retry shortly.",
                               headers={"Retry-After": "1"})
            await asyncio.sleep(self.poll)

    async def mark_applied(self, uow: UnitOfWork, claim: Claim) -> None:
        """In the change's own transaction: the key and the change commit together or not at all."""
        if claim.done:
            return
        result = await uow.session.execute(
            update(IdempotencyKey).where(IdempotencyKey.id == claim.id, IdempotencyKey.owner == claim.owner,
                                         IdempotencyKey.state.in_(("pending", "applied")))
            .values(state="applied"))
        if result.rowcount != 1:  # taken over after our lease ran out: the other request does it
            raise ApiError(409, f"This {HEADER} was taken over by a later request; retry shortly.",
                           headers={"Retry-After": "1"})
        claim.applied = True

    async def keep(self, claim: Claim, answer: Remembered) -> None:
        """Keep the first answer for the retries to come (run again if it loses a deadlock: the
        change has committed, so losing its answer would leave the key without one)."""

        async def store(uow: UnitOfWork) -> None:
            await uow.session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == claim.id, IdempotencyKey.owner == claim.owner)
                .values(state="done", response_status=answer.status,
                        response_headers=json.dumps(answer.headers),
                        response_body=base64.b64encode(answer.body).decode()))

        await self.db.transaction(store)
        claim.done = True

    async def release(self, claim: Claim) -> None:
        """Give back a key whose request changed nothing, so a retry may do it."""

        async def give_back(uow: UnitOfWork) -> None:
            await uow.session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.id == claim.id,
                                             IdempotencyKey.owner == claim.owner,
                                             IdempotencyKey.state == "pending"))

        await self.db.transaction(give_back)

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete expired keys; returns how many."""
        async with self.db.write() as uow:
            result = await uow.session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow())))
            return result.rowcount or 0

    # -- rows -----------------------------------------------------------------------------

    async def _insert(self, user_id: int, key: str, print_: str) -> Claim | None:
        owner = secrets.token_hex(16)
        now = utcnow()
        try:
            async with self.db.write() as uow:
                row = IdempotencyKey(user_id=user_id, idempotency_key=key, fingerprint=print_,
                                     state="pending", owner=owner, claimed_at=now, expires_at=now + self.ttl)
                uow.session.add(row)
                await uow.session.flush()
                return Claim(row.id, owner)
        except IntegrityError:
            return None  # someone holds (or held) the key
        except DBAPIError as exc:
            if _error_code(exc) in _RETRYABLE:
                return None
            raise

    async def _read(self, user_id: int, key: str) -> IdempotencyKey | None:
        async with self.db.session() as session:
            return (await session.execute(
                select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                             IdempotencyKey.idempotency_key == key))).scalar_one_or_none()

    async def _take_over(self, ident: int, previous_owner: str) -> Claim | None:
        owner = secrets.token_hex(16)
        async with self.db.write() as uow:
            result = await uow.session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == ident, IdempotencyKey.owner == previous_owner,
                       IdempotencyKey.state == "pending")
                .values(owner=owner, claimed_at=utcnow()))
        if result.rowcount != 1:
            return None
        log.warning("Idempotency-Key claim %d taken over: its request never committed", ident)
        return Claim(ident, owner)

    async def _drop_expired(self, ident: int) -> None:
        async with self.db.write() as uow:
            await uow.session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.id == ident,
                                             IdempotencyKey.expires_at <= utcnow()))


def _error_code(exc: DBAPIError) -> Any:
    args = getattr(exc.orig, "args", ())
    return args[0] if args else None
