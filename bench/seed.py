"""Seeding at scale: time `python server.py seed --size N` into a fresh MariaDB database.

Size 4000 is 1,000,000 orders (with their lines) and 1,000,000 production records, plus their
stock movements, customers, employees and products; the target is under 60 s on the shared
2-core machine. The bench creates a database next to `--database-url`, migrates it (not timed),
times the seed command as an operator runs it (a subprocess, progress bar on the terminal),
counts the rows it left and prints rows per second. The database is dropped at the end unless
`--keep NAME` names it: the seeded data then stays for the suite's reads and analytics.

    .venv/bin/python bench/seed.py                          # 1M + 1M, then drop
    .venv/bin/python bench/seed.py --size 1000              # 250k + 250k
    .venv/bin/python bench/seed.py --keep factory_bench --replace --rows results.jsonl
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiomysql
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, Row, add_rows_argument, write_rows  # noqa: E402

FULL_SIZE = 4000
TARGET_SECONDS = 60.0
TABLES = ("orders", "order_items", "production_records", "stock_movements", "customers", "employees",
          "products")


async def run_sql(server: URL, *statements: str) -> list[tuple]:
    """Run statements on a connection to `server`; the last one's rows."""
    conn = await aiomysql.connect(host=server.host or "127.0.0.1", port=server.port or 3306,
                                  user=server.username or "root", password=server.password or "",
                                  db=server.database or None, autocommit=True)
    try:
        async with conn.cursor() as cursor:
            for statement in statements:
                await cursor.execute(statement)
            return list(await cursor.fetchall())
    finally:
        conn.close()


def database_exists(server: URL, name: str) -> bool:
    return bool(asyncio.run(run_sql(server, f"SHOW DATABASES LIKE '{name}'")))


def count_rows(url: URL) -> dict[str, int]:
    rows = asyncio.run(run_sql(url, " UNION ALL ".join(
        f"SELECT '{table}', COUNT(*) FROM `{table}`" for table in TABLES)))
    return {table: int(n) for table, n in rows}


def millions(n: int) -> str:
    return f"{n / 1_000_000:g}M" if n >= 1_000_000 and n % 100_000 == 0 else f"{n:,}"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def mariadb_cpu_seconds() -> float | None:
    """CPU seconds the local `mariadbd` (or `mysqld`) has used so far, None when none runs here.

    The whole server process: it includes background flushing and anyone else's queries."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() in ("mariadbd", "mysqld"):
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return None


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=FULL_SIZE,
                        help=f"seed --size (default {FULL_SIZE}: 1M orders + 1M production records)")
    parser.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/factory_seedbench",
                        help="server to seed; without --keep a database named after this one plus a "
                             "random suffix is created and dropped")
    parser.add_argument("--keep", metavar="NAME", help="seed into database NAME and leave it in place")
    parser.add_argument("--replace", action="store_true",
                        help="with --keep: drop NAME first if it exists (else an existing NAME is refused)")
    add_rows_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = make_url(args.database_url)
    server = base.set(database="")
    name = args.keep or f"{base.database or 'factory_seedbench'}_{uuid.uuid4().hex[:8]}"
    if database_exists(server, name):
        if not (args.keep and args.replace):
            print(f"error: database {name} exists (pass --replace to drop and re-seed it)", file=sys.stderr)
            return 1
        asyncio.run(run_sql(server, f"DROP DATABASE `{name}`"))
    asyncio.run(run_sql(server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    url = base.set(database=name)
    env = {**os.environ, "FACTORY_DATABASE_URL": url.render_as_string(hide_password=False)}
    try:
        subprocess.run([PYTHON, "server.py", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
        load_before, server_before, python_before = loadavg(), mariadb_cpu_seconds(), children_cpu_seconds()
        started = time.perf_counter()
        seeded = subprocess.run([PYTHON, "server.py", "seed", "--size", str(args.size)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        load_after, server_after = loadavg(), mariadb_cpu_seconds()
        python_cpu = children_cpu_seconds() - python_before
        print(seeded.stdout.strip())
        if seeded.returncode != 0:
            print(f"error: seed exited with {seeded.returncode}", file=sys.stderr)
            return 1
        counts = count_rows(url)
    finally:
        if not args.keep:
            asyncio.run(run_sql(server, f"DROP DATABASE IF EXISTS `{name}`"))

    total = sum(counts.values())
    main_rows = counts["orders"] + counts["production_records"]
    print(f"seed --size {args.size} into {name}: {seconds:.1f} s, load average {load_before} before, "
          f"{load_after} after")
    measured = server_before is not None and server_after is not None
    server_cpu = f"{server_after - server_before:.1f} s" if measured else "not measured (no local mariadbd)"
    print(f"  CPU: seed process {python_cpu:.1f} s, mariadbd {server_cpu} (the whole server)")
    for table, n in counts.items():
        print(f"  {table:<20} {n:>12,}")
    print(f"  {'all rows':<20} {total:>12,}  {total / seconds:,.0f} rows/s "
          f"({main_rows / seconds:,.0f} orders + production records/s)")
    full = args.size >= FULL_SIZE
    if full:
        print(f"target < {TARGET_SECONDS:.0f} s: {'met' if seconds < TARGET_SECONDS else 'missed'}")
    if args.keep:
        print(f"kept database {name}")
    workload = (f"seed {millions(counts['orders'])} orders + {millions(counts['production_records'])} "
                "production (MariaDB)")
    write_rows(args.rows, [Row(workload, round(seconds, 1), "s", target=f"< {TARGET_SECONDS:.0f} s" if full
                               else None, met=seconds < TARGET_SECONDS if full else None)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
