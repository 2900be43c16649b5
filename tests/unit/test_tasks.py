"""A background loop that outlives errors still ends when cancelled, even when the cancellation
arrives mid-clean-up and comes out as another error (the shutdown that used to hang)."""
from __future__ import annotations

import asyncio

import pytest

from services.integrations.lifecycle import every


async def _cleanup_fails() -> int:
    """A job cancelled mid-statement whose rollback fails: the error replaces the cancellation."""
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        raise RuntimeError("rollback on a broken connection") from None
    return 0


async def _cancel(job) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(every(0.01, "test job", job))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    return task


def test_a_cancellation_turned_into_an_error_still_ends_the_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        task = loop.run_until_complete(_cancel(_cleanup_fails))
        assert task.done() and task.cancelled(), "the loop ran on after its cancellation"
    finally:
        loop.close()  # not asyncio.run: its clean-up would wait forever on a loop that runs on


def test_an_ordinary_failure_does_not_end_the_loop() -> None:
    turns = 0

    async def fails() -> int:
        nonlocal turns
        turns += 1
        raise RuntimeError("an outage")

    async def run() -> None:
        task = asyncio.get_running_loop().create_task(every(0.01, "test job", fails))
        await asyncio.sleep(0.1)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert turns >= 3


def test_background_work_never_inherits_the_context_that_started_it() -> None:
    """A task or timer started from a request's context runs without that request's context variables."""
    import contextvars

    from core.tasks import call_at, spawn

    request_hooks = contextvars.ContextVar("request_hooks", default="none")

    async def seen() -> str:
        return request_hooks.get()

    async def run() -> tuple[str, str, str]:
        request_hooks.set("the request's")
        loop = asyncio.get_running_loop()
        timer_saw = loop.create_future()
        call_at(loop.time(), lambda: timer_saw.set_result(request_hooks.get()))
        inherited = await loop.create_task(seen())
        return inherited, await spawn(seen()), await timer_saw

    assert asyncio.run(run()) == ("the request's", "none", "none")
