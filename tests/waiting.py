"""Waiting in tests: poll a condition until a deadline, never sleep a fixed time and then look."""
from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

# Guards against a hang only: generous, because the machine is shared; nothing here measures speed.
GUARD = 20.0
T = TypeVar("T")


async def eventually(predicate: Callable[[], Any], timeout: float = GUARD, interval: float = 0.05) -> bool:
    """True as soon as `predicate()` (sync or async) is truthy; False if it still is not at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


async def answered(awaitable: Awaitable[T], timeout: float = GUARD) -> T:
    """The awaitable's result; a test failure instead of a hang when none comes before the guard."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise AssertionError(f"no answer within the {timeout:.0f} s hang guard") from None


async def line_status_settled(app: Any) -> None:
    """Wait until the coalesced line.status events of earlier commits are out (at most ~1 s each)."""
    feed = app.ctx.line_status
    assert await eventually(lambda: not feed.dirty and feed._timer is None and feed._task is None), \
        "line.status still pending"
