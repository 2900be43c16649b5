"""Unit tests for the tagged, single-flight response cache (fake clock, no sleeps)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from core.cache import CachedResponse, ResponseCache
from tests.clocks import FakeClock


class Counter:
    """A compute function that renders a numbered body and counts its calls."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    async def __call__(self) -> CachedResponse:
        self.calls += 1
        body = f'{{"call": {self.calls}}}'.encode()
        if self.gate is not None:
            await self.gate.wait()
        return CachedResponse.build(body, "application/json")


async def settle() -> None:
    """Let every task that is ready run up to its next real wait."""
    for _ in range(5):
        await asyncio.sleep(0)


def make_cache(ttl: float = 30, maxsize: int = 100) -> tuple[ResponseCache, FakeClock]:
    clock = FakeClock()
    return ResponseCache(ttl, maxsize=maxsize, clock=clock), clock


def test_build_computes_a_strong_quoted_etag_from_the_body() -> None:
    first = CachedResponse.build(b'{"a": 1}', "application/json")
    again = CachedResponse.build(b'{"a": 1}', "application/json")
    other = CachedResponse.build(b'{"a": 2}', "application/json")
    assert first.etag.startswith('"') and first.etag.endswith('"')
    assert not first.etag.startswith("W/")
    assert first.etag == again.etag != other.etag
    assert first.content_type == "application/json"


def test_miss_then_hit() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        compute = Counter()
        first, cached_first = await cache.get_or_compute("k", ["products"], compute)
        second, cached_second = await cache.get_or_compute("k", ["products"], compute)
        assert (cached_first, cached_second) == (False, True)
        assert first is second
        assert compute.calls == 1
        assert (cache.hits, cache.misses) == (1, 1)
        assert len(cache) == 1

    asyncio.run(scenario())


def test_entry_expires_after_ttl() -> None:
    async def scenario() -> None:
        cache, clock = make_cache(ttl=30)
        compute = Counter()
        await cache.get_or_compute("k", ["products"], compute)
        clock.advance(29.9)
        assert (await cache.get_or_compute("k", ["products"], compute))[1] is True
        clock.advance(0.1)
        response, cached = await cache.get_or_compute("k", ["products"], compute)
        assert cached is False
        assert response.body == b'{"call": 2}'

    asyncio.run(scenario())


def test_invalidate_drops_only_entries_with_a_given_tag() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        compute = Counter()
        await cache.get_or_compute("products", ["products"], compute)
        await cache.get_or_compute("orders", ["orders", "order_items"], compute)
        await cache.get_or_compute("top", ["orders", "products"], compute)
        await cache.get_or_compute("staff", ["employees"], compute)

        assert cache.invalidate(["order_items", "customers"]) == 1
        assert cache.invalidate(["products"]) == 2
        assert cache.invalidations == 3
        assert len(cache) == 1
        assert (await cache.get_or_compute("staff", ["employees"], compute))[1]
        assert not (await cache.get_or_compute("top", ["orders", "products"], compute))[1]

    asyncio.run(scenario())


NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BOUNDARY = NOON + timedelta(hours=2)


class UntilBoundary(Counter):
    """An answer that holds, on the app's clock, until BOUNDARY (a shift instance's end)."""

    async def __call__(self) -> CachedResponse:
        response = await super().__call__()
        return CachedResponse.build(response.body, response.content_type, valid_until=BOUNDARY)


def test_an_answer_that_holds_until_a_moment_is_computed_again_once_the_app_clock_reaches_it() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        compute = UntilBoundary()
        assert (await cache.get_or_compute("k", ["stops"], compute, now=NOON))[1] is False
        before = BOUNDARY - timedelta(microseconds=1)
        assert (await cache.get_or_compute("k", ["stops"], compute, now=before))[1] is True
        response, cached = await cache.get_or_compute("k", ["stops"], compute, now=BOUNDARY)
        assert (response.body, cached, compute.calls) == (b'{"call": 2}', False, 2)
        assert len(cache) == 1  # the stale entry was replaced, not kept beside the new one

    asyncio.run(scenario())


def test_a_request_after_the_moment_does_not_take_the_answer_of_a_compute_begun_before_it() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        early = UntilBoundary(gate)
        first = asyncio.create_task(cache.get_or_compute("k", ["stops"], early, now=NOON))
        await settle()
        late = asyncio.create_task(cache.get_or_compute("k", ["stops"], early, now=BOUNDARY))
        await settle()
        gate.set()
        assert (await first)[0].body == b'{"call": 1}'
        assert (await late)[0].body == b'{"call": 2}'

    asyncio.run(scenario())


def test_invalidation_during_compute_keeps_its_result_out_of_the_cache() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        slow = Counter(gate)
        reader = asyncio.create_task(cache.get_or_compute("k", ["orders"], slow))
        await settle()  # the compute has read the (soon stale) rows
        assert slow.calls == 1
        cache.invalidate(["orders"])
        gate.set()
        response, cached = await reader
        assert (response.body, cached) == (b'{"call": 1}', False)
        assert len(cache) == 0
        fresh = Counter()
        response, cached = await cache.get_or_compute("k", ["orders"], fresh)
        assert (fresh.calls, cached) == (1, False)

    asyncio.run(scenario())


def test_request_after_an_invalidation_does_not_join_the_stale_compute() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        stale = Counter(gate)
        before = asyncio.create_task(cache.get_or_compute("k", ["orders"], stale))
        await settle()
        cache.invalidate(["orders"])
        after_write = Counter()
        # Joining the stale flight would wait on its gate forever: time out instead.
        response, _ = await asyncio.wait_for(cache.get_or_compute("k", ["orders"], after_write), timeout=5)
        assert after_write.calls == 1
        assert (await cache.get_or_compute("k", ["orders"], after_write))[1] is True
        gate.set()
        await before
        # The stale flight finishing last must not overwrite the fresh entry.
        assert (await cache.get_or_compute("k", ["orders"], after_write))[0] is response

    asyncio.run(scenario())


def test_invalidating_another_tag_does_not_stop_a_compute_from_storing() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        reader = asyncio.create_task(cache.get_or_compute("k", ["orders"], Counter(gate)))
        await settle()
        cache.invalidate(["employees"])
        gate.set()
        await reader
        assert len(cache) == 1

    asyncio.run(scenario())


def test_concurrent_misses_compute_once() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        compute = Counter(gate)
        readers = [asyncio.create_task(cache.get_or_compute("k", ["products"], compute)) for _ in range(100)]
        await settle()
        gate.set()
        results = await asyncio.gather(*readers)
        assert compute.calls == 1
        assert {id(response) for response, _ in results} == {id(results[0][0])}
        assert (cache.misses, cache.coalesced, cache.hits) == (100, 99, 0)
        assert (await cache.get_or_compute("k", ["products"], compute))[1] is True

    asyncio.run(scenario())


def test_a_failed_compute_reaches_every_waiter_and_caches_nothing() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        calls = 0

        async def broken() -> CachedResponse:
            nonlocal calls
            calls += 1
            await gate.wait()
            raise RuntimeError("database went away")

        readers = [asyncio.create_task(cache.get_or_compute("k", ["orders"], broken)) for _ in range(5)]
        await settle()
        gate.set()
        results = await asyncio.gather(*readers, return_exceptions=True)
        assert calls == 1
        assert all(isinstance(result, RuntimeError) for result in results)
        assert len(cache) == 0
        compute = Counter()
        assert (await cache.get_or_compute("k", ["orders"], compute))[1] is False
        assert compute.calls == 1

    asyncio.run(scenario())


def test_a_cancelled_caller_does_not_cancel_the_shared_compute() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        gate = asyncio.Event()
        compute = Counter(gate)
        first = asyncio.create_task(cache.get_or_compute("k", ["orders"], compute))
        second = asyncio.create_task(cache.get_or_compute("k", ["orders"], compute))
        await settle()
        first.cancel()
        gate.set()
        response, _ = await second
        assert first.cancelled()
        assert compute.calls == 1
        assert (await cache.get_or_compute("k", ["orders"], compute))[0] is response

    asyncio.run(scenario())


def test_maxsize_bounds_entries_and_the_tag_index() -> None:
    async def scenario() -> None:
        cache, _ = make_cache(maxsize=3)
        for number in range(10):
            await cache.get_or_compute(number, ["products", f"p{number}"], Counter())
        assert len(cache) == 3
        # White-box: evicted keys must also leave the tag index, or it grows forever.
        indexed = {key for keys in cache._keys_by_tag.values() for key in keys}
        assert indexed == {7, 8, 9}
        assert cache.invalidate(["products"]) == 3

    asyncio.run(scenario())


def test_expired_entries_leave_the_tag_index() -> None:
    async def scenario() -> None:
        cache, clock = make_cache(ttl=10)
        for number in range(5):
            await cache.get_or_compute(number, ["orders"], Counter())
        clock.advance(10)
        assert len(cache) == 0
        assert cache._keys_by_tag == {}
        assert cache.invalidate(["orders"]) == 0

    asyncio.run(scenario())


def test_invalidations_are_broadcast_unless_they_came_from_elsewhere() -> None:
    cache, _ = make_cache()
    sent: list[frozenset[str]] = []
    cache.broadcaster = sent.append
    cache.invalidate(["orders", "products"])
    cache.invalidate(["customers"], broadcast=False)
    cache.invalidate([])
    assert sent == [frozenset({"orders", "products"})]


def test_clear_drops_everything_and_stops_computes_in_flight_from_storing() -> None:
    async def scenario() -> None:
        cache, _ = make_cache()
        await cache.get_or_compute("a", ["orders"], Counter())
        gate = asyncio.Event()
        reader = asyncio.create_task(cache.get_or_compute("b", ["users"], Counter(gate)))
        await settle()
        cache.clear()
        gate.set()
        await reader
        assert len(cache) == 0
        assert cache.invalidate(["orders", "users"]) == 0

    asyncio.run(scenario())


def test_an_empty_cache_is_still_truthy() -> None:
    cache, _ = make_cache()
    assert cache
    assert len(cache) == 0


def test_negative_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        ResponseCache(-1)


async def test_an_uncounted_lookup_is_cached_but_left_out_of_hits_and_misses() -> None:
    cache, _ = make_cache()
    compute = Counter()
    first, hit = await cache.get_or_compute("total", ["orders"], compute, counted=False)
    again, hit_again = await cache.get_or_compute("total", ["orders"], compute, counted=False)
    assert (hit, hit_again, compute.calls) == (False, True, 1)
    assert again is first
    assert (cache.hits, cache.misses, cache.coalesced) == (0, 0, 0)
    cache.invalidate(["orders"])
    assert (await cache.get_or_compute("total", ["orders"], compute, counted=False))[1] is False
