"""Background tasks: each in a context of its own; loops that outlive errors still end when cancelled."""
from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def spawn(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Start background work in a fresh context, never the one of the request that happened to start it.

    A task copies the context it is created in. Work that outlives a request or serves many (a
    coalesced event, a shared sender, a watchdog) must not carry that request's context variables
    along: its commits would run the request's before-commit hooks (and mark its Idempotency-Key
    again after the answer was kept).
    """
    return asyncio.get_running_loop().create_task(coro, name=name, context=contextvars.Context())


def call_at(when: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
    """`loop.call_at` in a fresh context (see `spawn`)."""
    return asyncio.get_running_loop().call_at(when, callback, context=contextvars.Context())


def call_soon(callback: Callable[[], object]) -> asyncio.Handle:
    """`loop.call_soon` in a fresh context (see `spawn`)."""
    return asyncio.get_running_loop().call_soon(callback, context=contextvars.Context())


def stop_if_cancelled() -> None:
    """Re-raise a cancellation that a clean-up turned into another error.

    A task cancelled mid-statement rolls back on the way out; if that clean-up fails, its error
    replaces the CancelledError, and a loop that outlives errors would run on, so the `await` of
    the cancelled task never returns (a shutdown that hangs). The task still counts the request.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
