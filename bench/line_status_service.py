"""In-process: `line_statuses` for 20 lines, process CPU and wall time per call, and its query count.

Times the service function itself (no HTTP, no token check) on a SQLite file (or `--database-url`)
seeded with 20 lines, three 8-hour shifts, a plan, records and stops in the running shift. With
`--baseline FILE` it interleaves calls of another version of the module (e.g. the one on main,
`git show main:services/floor/line_status.py > /tmp/old.py`) with the current one: an A/B on the same
machine under the same load, reported as a ratio.

    .venv/bin/python bench/line_status_service.py --calls 300
    .venv/bin/python bench/line_status_service.py --baseline /tmp/old.py --calls 300
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402

from core import migrate  # noqa: E402
from core.clock import Clock  # noqa: E402
from core.db import Database  # noqa: E402
from services.floor import line_status  # noqa: E402

LINES = 20
SHIFTS = (("early", 6), ("late", 14), ("night", 22))


async def fill(db: Database, now: datetime) -> None:
    """20 lines, three shifts, two products, a plan, records and stops in the running instance."""
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    clock = Clock("UTC", now=lambda: now)
    async with db.engine.begin() as conn:
        for n in range(LINES):
            await conn.execute(text("INSERT INTO `lines` (code, name, active, created_at, updated_at) "
                                    f"VALUES ('L{n + 1:02d}', 'Line {n + 1}', 1, '{stamp}', '{stamp}')"))
        for name, hour in SHIFTS:
            await conn.execute(text(
                "INSERT INTO shifts (name, starts_at, ends_at, break_minutes, days, created_at, updated_at) "
                f"VALUES ('{name}', '{hour:02d}:00', '{(hour + 8) % 24:02d}:00', 30, "
                f"'mon,tue,wed,thu,fri,sat,sun', '{stamp}', '{stamp}')"))
        for n, ideal in ((1, 20), (2, 35)):
            await conn.execute(text(
                "INSERT INTO products (id, sku, name, price, stock_quantity, reorder_level, "
                f"ideal_cycle_seconds, created_at, updated_at) VALUES ({n}, 'B-{n}', 'Part {n}', 10.00, 0, "
                f"0, {ideal}, '{stamp}', '{stamp}')"))
        await conn.execute(text("INSERT INTO employees (id, name, position, email, phone, created_at, "
                                f"updated_at) VALUES (1, 'Op', 'Operator', 'op@example.com', '+49301', "
                                f"'{stamp}', '{stamp}')"))
    from services.floor.shift_time import current_instance
    from services.floor.shifts import all_shifts
    async with db.session() as session:
        instance = current_instance(await all_shifts(session), now, clock.zone)
    assert instance is not None
    begun = naive(instance.starts_at)
    async with db.engine.begin() as conn:
        for n in range(LINES):
            code = f"L{n + 1:02d}"
            for product in (1, 2):
                await conn.execute(text(
                    "INSERT INTO work_orders (product_id, line, shift, date, planned_quantity, status, "
                    f"created_at, updated_at) VALUES ({product}, '{code}', '{instance.shift}', "
                    f"'{instance.date}', 450, 'released', '{stamp}', '{stamp}')"))
                for k in range(5):
                    await conn.execute(text(
                        "INSERT INTO production_records (product_id, employee_id, quantity_produced, "
                        "quantity_defective, date_produced, line, shift, planned_minutes, downtime_minutes, "
                        f"created_at, updated_at) VALUES ({product}, 1, {20 + k}, {k % 2}, "
                        f"'{instance.date}', '{code}', '{instance.shift}', 480, 0, '{stamp}', '{stamp}')"))
            if n % 4 == 0:  # a closed changeover on every fourth line, an open breakdown on every fifth
                await conn.execute(text(
                    "INSERT INTO stops (line, reason, started_at, ended_at, created_at, updated_at) VALUES "
                    f"('{code}', 'changeover', '{begun + timedelta(minutes=10)}', "
                    f"'{begun + timedelta(minutes=25)}', '{stamp}', '{stamp}')"))
            if n % 5 == 0:
                await conn.execute(text(
                    "INSERT INTO stops (line, reason, started_at, open_line, created_at, updated_at) VALUES "
                    f"('{code}', 'breakdown', '{naive(now) - timedelta(minutes=5)}', '{code}', "
                    f"'{stamp}', '{stamp}')"))


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("line_status_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def run(url: str, args: argparse.Namespace, now: datetime) -> None:
    db = Database(url, timeout=30)
    clock = Clock("UTC", now=lambda: now)
    queries = [0]
    event.listen(db.engine.sync_engine, "before_cursor_execute",
                 lambda *a: queries.__setitem__(0, queries[0] + 1))
    try:
        if args.fill:
            await fill(db, now)
        versions = {"new": line_status.line_statuses}
        if args.baseline:
            versions = {"old": load(args.baseline).line_statuses, **versions}
        outputs = {}
        for name, function in versions.items():
            async with db.session() as session:
                queries[0] = 0
                outputs[name] = await function(session, clock)
                print(f"{name}: {queries[0]} queries per call, {len(outputs[name])} lines")
        if len(outputs) == 2:
            print("identical output:", outputs["old"] == outputs["new"])
        wall: dict[str, list[float]] = {name: [] for name in versions}
        cpu: dict[str, list[float]] = {name: [] for name in versions}
        for _ in range(args.calls):
            for name, function in versions.items():  # interleaved: both see the same load
                started, started_cpu = time.perf_counter(), time.process_time()
                async with db.session() as session:
                    await function(session, clock)
                cpu[name].append((time.process_time() - started_cpu) * 1000)
                wall[name].append((time.perf_counter() - started) * 1000)
        for name in versions:
            print(f"{name}: wall p50 {statistics.median(wall[name]):.2f} ms, "
                  f"CPU p50 {statistics.median(cpu[name]):.2f} ms, "
                  f"mean CPU {statistics.fmean(cpu[name]):.2f} ms")
        if len(versions) == 2:
            print(f"new/old: wall p50 {statistics.median(wall['new']) / statistics.median(wall['old']):.2f}, "
                  f"CPU mean {statistics.fmean(cpu['new']) / statistics.fmean(cpu['old']):.2f}")
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a migrated database to fill (default: a new SQLite file)")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--baseline", help="another line_status.py to interleave with this one")
    args = parser.parse_args(argv)
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="factory-line-status-service-") as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/bench.db"
        if not args.database_url:
            migrate.upgrade(url)
        args.fill = True
        asyncio.run(run(url, args, now))
    return 0


if __name__ == "__main__":
    sys.exit(main())
