"""The whole benchmark suite in one command, printed as one table.

    .venv/bin/python bench/suite.py                      # everything (about 10 minutes)
    .venv/bin/python bench/suite.py --only http,ws       # some steps
    .venv/bin/python bench/suite.py --reuse-data         # keep a 1M-row database seeded earlier

Each step is a script in `bench/` that starts the servers it measures (a bare Tornado reference
included, measured in the same run) and appends its results as rows (`--rows`, `bench/common.Row`).
The suite runs the steps one after another, keeps each one's output in a log next to the table,
and prints the machine, the versions and one table: workload, figure, reference, ratio, target,
met. A step that fails is reported as such and the others still run; the exit status is then 1.

Steps:
  seed       `server.py seed --size 4000` (1M orders + 1M production records) into MariaDB, timed;
             the database is kept for the http step
  http       cached GET /products and an uncached page of /orders on the 1M rows, POST /orders
             and POST /production, limiter and cache overhead — each vs a bare Tornado handler
  scale      uncached reads on the seeded 1M rows (cache off): the first page of every list, cursor
             pages at the end of /orders and /production, every report over all history and one
             month, /dashboard/state, server CPU per cursor page, RSS while paging all orders
  analytics  every analytic on 1M orders and 1M production records spread over two years (its own
             database, factory_bench_analytics, loaded on the first run), uncached (vs its SQL run
             directly) and cached
  ws         live-feed event-to-client latency, 1,000 subscribers at 100 events/s; memory per idle link
  cluster    reads with 1 vs 2 processes in cluster mode; cross-process event latency
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pymysql
import redis
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, Row, read_rows  # noqa: E402

MYSQL = "mysql+aiomysql://root@127.0.0.1:3306/factory_bench"
REDIS = "redis://127.0.0.1:6379/14"
SEED_SIZE = 4000  # server.py seed --size: 1M orders and 1M production records
ROWS_PER_SIZE = 250  # orders (and production records) per unit of --size
PACKAGES = ("tornado", "SQLAlchemy", "aiomysql", "marshmallow", "cachetools", "redis", "PyJWT")

Argv = Callable[[argparse.Namespace], list[str]]

STEPS: dict[str, Argv] = {
    "seed": lambda a: ["bench/seed.py", "--database-url", a.database_url, "--size", str(a.size),
                       "--keep", make_url(a.database_url).database, "--replace"],
    "http": lambda a: ["bench/http_paths.py", "--database-url", a.database_url],
    # Its own small database (factory_bench_writes, dropped at the end): POST vs the aiomysql floor.
    "writes": lambda a: ["bench/write_path.py", "--database-url",
                         sibling(a.database_url, "factory_bench_writes")],
    # Its own data (spread evenly over 2025-2026, so its month and day ranges hold rows), loaded
    # once by the script and reused after.
    # Uncached reads on the seeded 1M rows: first pages, cursor pages at depth, reports, dashboard.
    "scale": lambda a: ["bench/scale_reads.py", "--database-url", a.database_url, "--walk"],
    "analytics": lambda a: ["bench/analytics.py", "--url", sibling(a.database_url, "factory_bench_analytics"),
                            "--reuse", "--quick"],
    "ws": lambda a: ["bench/ws_fanout.py", "--quick"],
    "cluster": lambda a: ["bench/cluster.py", "--database-url", a.database_url, "--redis-url", a.redis_url,
                          "--rounds", "3", "--seconds", "4", "--events", "200"],
}


def sibling(url: str, database: str) -> str:
    """`url` with another database on the same server."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


# -- the machine --------------------------------------------------------------------------------

def machine(args: argparse.Namespace) -> list[tuple[str, str]]:
    """What the figures were measured on: cores, memory, load, and the versions that matter."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    versions = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return [
        ("machine", f"{os.cpu_count()} cores ({cpu}), {mem_kb / 1024 ** 2:.0f} GiB, {platform.platform()}"),
        ("python", platform.python_version()),
        ("packages", versions),
        ("MariaDB", _mariadb_version(args.database_url)),
        ("Redis", _redis_version(args.redis_url)),
        ("load generator", _wrk_version()),
    ]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _mariadb_version(url: str) -> str:
    parsed = make_url(url)
    try:
        with pymysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                             user=parsed.username or "root", password=parsed.password or "",
                             connect_timeout=5) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            return str(cursor.fetchone()[0])
    except pymysql.MySQLError as exc:
        return f"unreachable ({exc.args[-1] if exc.args else exc})"


def _redis_version(url: str) -> str:
    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()
    except redis.RedisError as exc:
        return f"unreachable ({exc})"


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        return "bench/common.py's asyncio generator (wrk is not installed: apt install wrk)"
    return (out.stdout + out.stderr).split("[", 1)[0].strip() or "wrk"


def load_average() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


# -- the run ------------------------------------------------------------------------------------

def run_step(name: str, argv: list[str], folder: Path, rows_file: Path) -> tuple[bool, float]:
    """Run one step with its output in `<folder>/<name>.log`; True when it exited 0."""
    log = folder / f"{name}.log"
    started = time.perf_counter()
    print(f"[{dt.datetime.now():%H:%M:%S}] {name}: {' '.join(argv)} (load {load_average()})", flush=True)
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run([PYTHON, *argv, "--rows", str(rows_file)], cwd=ROOT, stdout=out,
                              stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    verdict = "ok" if done.returncode == 0 else f"FAILED (exit {done.returncode}), see {log}"
    print(f"[{dt.datetime.now():%H:%M:%S}] {name}: {verdict} in {seconds:.0f} s", flush=True)
    return done.returncode == 0, seconds


def seeded(url: str, orders: int) -> bool:
    """True when the database at `url` already holds at least `orders` orders."""
    parsed = make_url(url)
    try:
        with pymysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                             user=parsed.username or "root", password=parsed.password or "",
                             database=parsed.database, connect_timeout=5) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM orders")
            return int(cursor.fetchone()[0]) >= orders
    except pymysql.MySQLError:
        return False


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    return f"{text} {unit}".strip()


def table(rows: list[Row], failed: list[str]) -> str:
    lines = ["| workload | figure | reference | ratio | target | met |", "|---|---:|---|---:|---|:---:|"]
    for row in rows:
        met = "" if row.met is None else "yes" if row.met else "**no**"
        ratio = "" if row.ratio is None else "< 0.01×" if row.ratio < 0.01 else f"{row.ratio:.2f}×"
        lines.append(f"| {row.workload} | {fmt(row.figure, row.unit)} | {row.reference or ''} | {ratio} "
                     f"| {row.target or ''} | {met} |")
    for name in failed:
        lines.append(f"| {name}: the step failed (see its log) | | | | | **no** |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--database-url", default=os.environ.get("FACTORY_BENCH_DATABASE_URL", MYSQL),
                        help=f"MariaDB database for the 1M rows (default {MYSQL})")
    parser.add_argument("--redis-url", default=REDIS, help=f"Redis for cluster mode (default {REDIS})")
    parser.add_argument("--size", type=int, default=SEED_SIZE, help="seed size (default 4000 = 1M + 1M)")
    parser.add_argument("--only", help="comma-separated steps: " + ", ".join(STEPS))
    parser.add_argument("--reuse-data", action="store_true",
                        help="skip the seed step when the database already holds the orders")
    parser.add_argument("--out", type=Path, help="folder for the logs and the table "
                                                 "(default bench/results/<timestamp>)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = list(STEPS) if not args.only else [name.strip() for name in args.only.split(",")]
    unknown = [name for name in steps if name not in STEPS]
    if unknown:
        print(f"unknown step(s): {', '.join(unknown)}; the steps are {', '.join(STEPS)}", file=sys.stderr)
        return 2
    if "seed" in steps and args.reuse_data and seeded(args.database_url, args.size * ROWS_PER_SIZE):
        print(f"seed: skipped, {args.database_url} already holds {args.size * ROWS_PER_SIZE:,} orders")
        steps.remove("seed")
    folder = args.out or ROOT / "bench" / "results" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    rows_file = folder / "rows.jsonl"
    about = machine(args)
    started, load_before = time.perf_counter(), load_average()
    failed = []
    for name in steps:
        ok, _ = run_step(name, STEPS[name](args), folder, rows_file)
        if not ok:
            failed.append(name)
    minutes = (time.perf_counter() - started) / 60
    header = [f"- **{key}**: {value}" for key, value in about]
    header.append(f"- **run**: {dt.datetime.now():%Y-%m-%d %H:%M}, {minutes:.0f} min, "
                  f"steps {', '.join(steps)}; load average {load_before} before, {load_average()} after "
                  "(1/5/15 min)")
    command = " ".join([".venv/bin/python bench/suite.py", *(sys.argv[1:] if argv is None else argv)])
    header.append(f"- **command**: `{command}`")
    report = "\n".join(header) + "\n\n" + table(read_rows(rows_file), failed) + "\n"
    (folder / "table.md").write_text(report, encoding="utf-8")
    print("\n" + report)
    print(f"logs and table: {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
