"""`--processes N`: fork workers that share the listening sockets, pass SIGTERM on, restart crashes.

Tornado's `fork_processes` leaves the parent deaf to SIGTERM (the workers would be orphaned
instead of shut down gracefully), so the parent here forwards SIGTERM and SIGINT to every worker
and waits for them to finish their requests.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from core.metrics import mark_worker_dead

log = logging.getLogger("factory.server")
MAX_RESTARTS = 100
RESTART_PAUSE = 1.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_workers(count: int, serve: Callable[[int], int]) -> int:
    """Fork `count` workers each running `serve(worker_id)`; return once all have stopped."""
    children: dict[int, int] = {}
    stopping = False
    restarts = 0

    def start(worker_id: int) -> None:
        # Block the stop signals across fork: a worker must never run the parent's handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for signum in SIGNALS:
                    signal.signal(signum, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
                code = serve(worker_id)
            except BaseException:  # noqa: BLE001 - a worker must exit here, never return into the parent's loop
                log.exception("worker %d failed", worker_id)
            finally:
                os._exit(code)
        children[pid] = worker_id
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    for signum in SIGNALS:
        signal.signal(signum, stop)
    log.info("starting %d worker processes", count)
    for worker_id in range(count):
        start(worker_id)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        worker_id = children.pop(pid, None)
        if worker_id is None:
            continue
        mark_worker_dead(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping or code == 0:
            log.info("worker %d (pid %d) stopped", worker_id, pid)
            continue
        restarts += 1
        if restarts > MAX_RESTARTS:
            log.error("worker %d (pid %d) exited with %d; too many restarts, giving up", worker_id, pid, code)
            stop(signal.SIGTERM, None)
            continue
        log.warning("worker %d (pid %d) exited with %d; restarting it", worker_id, pid, code)
        time.sleep(RESTART_PAUSE)
        if not stopping:
            start(worker_id)
    return 0
