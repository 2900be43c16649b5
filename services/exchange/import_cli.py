"""`server.py import RESOURCE FILE`: a file of any size, validated in full, then written, with progress."""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.clock import Clock
from core.config import Settings
from core.db import Database
from services.exchange.import_jobs import import_file
from services.exchange.imports import MAX_ERRORS, Importer, ImportRejected
from services.integrations.outbox import CommandOutbox


class Progress:
    """One tqdm bar per phase (validating, importing), on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, phase: str, rows: int) -> None:
        bar = self.bars.get(phase)
        if bar is None:
            for other in self.bars.values():
                other.close()
            bar = self.bars[phase] = tqdm(desc=phase, unit=" rows", file=sys.stderr, disable=not self.enabled,
                                          mininterval=0.5)
        bar.update(rows)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


async def import_path(settings: Settings, resource: str, path: Path, *, dry_run: bool, restore: bool,
                      progress: Progress) -> dict[str, Any]:
    db = Database(settings.database_url, timeout=max(settings.db_timeout, 10.0))
    # The import's summary event goes to the outbox (webhooks) in its transaction, and a running
    # server publishes it to its live feed (CommandEventRelay): this process has no feed of its own.
    clock = Clock(settings.timezone)
    db.before_commit(CommandOutbox(clock))
    try:
        return await import_file(db, Importer(resource, restore=restore, clock=clock), path, dry_run=dry_run,
                                 progress=progress)
    finally:
        await db.dispose()


def run_import(settings: Settings, resource: str, path: str, *, dry_run: bool = False, restore: bool = False,
               show_progress: bool = True) -> int:
    """The command: prints a summary (or the problems, and imports nothing); returns the exit code."""
    file = Path(path)
    if not file.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    progress = Progress(show_progress)
    started = time.monotonic()
    try:
        result = asyncio.run(import_path(settings, resource, file, dry_run=dry_run, restore=restore,
                                         progress=progress))
    except ImportRejected as exc:
        progress.close()
        print(f"error: {exc.total} problem(s) in {path}; nothing was imported.", file=sys.stderr)
        for error in exc.rows[:MAX_ERRORS]:
            print(f"  row {error.row}, {error.field}: {error.message}", file=sys.stderr)
        if exc.total > MAX_ERRORS:
            print(f"  … and {exc.total - MAX_ERRORS} more", file=sys.stderr)
        return 1
    progress.close()
    seconds = time.monotonic() - started
    if dry_run:
        print(f"dry run: {result['rows']} {resource} rows are valid; nothing was written ({seconds:.1f} s)")
    else:
        rate = result["imported"] / seconds if seconds else 0
        print(f"imported {result['imported']} {resource} from {result['rows']} rows in {seconds:.1f} s "
              f"({rate:,.0f} rows/s)")
    return 0
