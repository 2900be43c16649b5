"""Response cache for authorized GETs: TTL-bound, tagged by table, single-flight."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cachetools import TTLCache

from core.tasks import spawn

Compute = Callable[[], Awaitable["CachedResponse"]]
Broadcaster = Callable[[frozenset[str]], None]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A rendered response body with its content type and strong ETag.

    `valid_until` (aware UTC, on the app's clock) is set by an answer that changes with the time
    alone, not only with writes (a shift instance ends, a day begins): from that moment the entry
    no longer answers.
    """

    body: bytes
    content_type: str
    etag: str
    headers: tuple[tuple[str, str], ...] = ()
    valid_until: datetime | None = None

    @classmethod
    def build(cls, body: bytes, content_type: str, headers: tuple[tuple[str, str], ...] = (),
              valid_until: datetime | None = None) -> CachedResponse:
        """Wrap a rendered body (and headers such as Link), computing its strong ETag once."""
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        return cls(body, content_type, f'"{digest}"', headers, valid_until)

    def stale(self, now: datetime | None) -> bool:
        """True when the app's clock at `now` has reached the moment this answer held until."""
        return self.valid_until is not None and now is not None and now >= self.valid_until


@dataclass(frozen=True, slots=True)
class _Entry:
    response: CachedResponse
    tags: frozenset[str]


@dataclass(slots=True)
class _Flight:
    """One compute in progress, and the tag generations it started under."""

    tags: frozenset[str]
    stamp: tuple[int, ...]
    task: asyncio.Task[CachedResponse] = field(init=False)


class _TaggedTTLCache(TTLCache):
    """A TTLCache that reports every entry it drops by expiry or by LRU eviction."""

    def __init__(
        self,
        maxsize: int,
        ttl: float,
        timer: Callable[[], float],
        on_drop: Callable[[Hashable, _Entry], None],
    ) -> None:
        super().__init__(maxsize, ttl, timer=timer)
        self._on_drop = on_drop

    def expire(self, time: float | None = None) -> list[tuple[Any, Any]]:
        expired = super().expire(time)
        for key, entry in expired:
            self._on_drop(key, entry)
        return expired

    def popitem(self) -> tuple[Any, Any]:
        key, entry = super().popitem()
        self._on_drop(key, entry)
        return key, entry


class ResponseCache:
    """Rendered responses by key, each tagged with the tables it was computed from.

    `hits` and `misses` count lookups; `coalesced` counts the misses that joined
    a compute already in flight; `invalidations` counts entries dropped by
    `invalidate`.  Set `broadcaster` to forward local invalidations to other
    processes; it is called synchronously, so it must only schedule its I/O.
    """

    def __init__(
        self,
        ttl: float,
        maxsize: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"cache ttl must not be negative, got {ttl}")
        self.ttl = ttl
        self._entries = _TaggedTTLCache(maxsize, ttl, clock, self._unindex)
        self._keys_by_tag: dict[str, set[Hashable]] = {}
        # Bumped by every invalidation of a tag (and `_epoch` by clear()) so a
        # compute that started before the bump never stores its result.
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self._flights: dict[Hashable, _Flight] = {}
        self.broadcaster: Broadcaster | None = None
        self.hits = 0
        self.misses = 0
        self.coalesced = 0
        self.invalidations = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return True  # an empty cache is still a cache: `if cache:` must not flip

    async def get_or_compute(
        self, key: Hashable, tags: Iterable[str], compute: Compute, *, counted: bool = True,
        now: datetime | None = None,
    ) -> tuple[CachedResponse, bool]:
        """Return the cached response for `key` (True) or compute it once (False).

        `counted=False` keeps the lookup out of hits, misses and coalesced: a part of another
        GET's answer (a list's total) is not a GET of its own. `now` is the app's clock: an entry
        whose `valid_until` it has reached is dropped and computed again.
        """
        entry = self._entries.get(key)
        if entry is not None and entry.response.stale(now):
            self._drop(key)
            entry = None
        if entry is not None:
            self.hits += counted
            return entry.response, True
        self.misses += counted
        flight = self._flights.get(key)
        joined = flight is not None and flight.stamp == self._stamp(flight.tags)
        if joined:
            self.coalesced += counted
        else:
            # No flight, or one that an invalidation has made stale: a request
            # that arrives after a write must not be answered from before it.
            flight = self._launch(key, frozenset(tags), compute)
        # shield: a caller that goes away must not cancel the others' compute.
        response = await asyncio.shield(flight.task)
        if joined and response.stale(now):
            # The flight joined had begun before the clock passed its answer's end.
            response = await asyncio.shield(self._launch(key, frozenset(tags), compute).task)
        return response, False

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._unindex(key, entry)

    def invalidate(self, tags: Iterable[str], *, broadcast: bool = True) -> int:
        """Drop every entry tagged with any of `tags`; return how many were dropped."""
        tags = frozenset(tags)
        dropped = 0
        for tag in tags:
            self._generations[tag] = self._generations.get(tag, 0) + 1
            for key in self._keys_by_tag.pop(tag, ()):
                entry = self._entries.pop(key, None)
                if entry is not None:
                    self._unindex(key, entry)
                    dropped += 1
        self.invalidations += dropped
        if broadcast and tags and self.broadcaster is not None:
            self.broadcaster(tags)
        return dropped

    def clear(self) -> None:
        """Drop every entry and make computes in flight unable to store."""
        self._entries.clear()
        self._keys_by_tag.clear()
        self._epoch += 1

    def _stamp(self, tags: frozenset[str]) -> tuple[int, ...]:
        generations = self._generations
        return (self._epoch, *(generations.get(tag, 0) for tag in sorted(tags)))

    def _launch(self, key: Hashable, tags: frozenset[str], compute: Compute) -> _Flight:
        flight = _Flight(tags, self._stamp(tags))
        # The task only starts on the next loop turn, after it is registered.
        flight.task = spawn(self._fill(key, flight, compute))  # shared by every caller waiting for it
        self._flights[key] = flight
        return flight

    async def _fill(self, key: Hashable, flight: _Flight, compute: Compute) -> CachedResponse:
        try:
            response = await compute()
            if flight.stamp == self._stamp(flight.tags):
                self._store(key, flight.tags, response)
            return response
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]

    def _store(self, key: Hashable, tags: frozenset[str], response: CachedResponse) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        # Index after inserting: the insert may expire an old entry for this key.
        self._entries[key] = _Entry(response, tags)
        for tag in tags:
            self._keys_by_tag.setdefault(tag, set()).add(key)

    def _unindex(self, key: Hashable, entry: _Entry) -> None:
        for tag in entry.tags:
            keys = self._keys_by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_tag[tag]
