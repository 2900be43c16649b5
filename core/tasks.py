"""Background tasks: loops that outlive errors must still end when cancelled."""
from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Re-raise a cancellation that a clean-up turned into another error.

    A task cancelled mid-statement rolls back on the way out; if that clean-up fails, its error
    replaces the CancelledError, and a loop that outlives errors would run on, so the `await` of
    the cancelled task never returns (a shutdown that hangs). The task still counts the request.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
