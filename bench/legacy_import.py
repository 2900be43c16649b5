"""The move from the old Flask system on MariaDB: `server.py import-legacy sqlite:///old.db` as an
operator runs it, timed from the command to its exit.

The old database is built here in the Flask system's schema (the one `tests/exchange/
test_legacy_import.py` holds): `--orders` orders (one product each, the old form), 30 % as many
production records, 2,000 customers, 50 products, 100 employees and a few users, dated over the
last year. The import goes into a fresh migrated MariaDB database (dropped after) with every rule
applied: the new ids mapped from the old, orders with their lines, totals and stock ledger, records
placed at noon of their plant day, summary tables. Prints orders per second (the target is the
imports' 5,000 orders/s) and rows per second, with the load average.

    .venv/bin/python bench/legacy_import.py                  # 100,000 orders, 30,000 records
    .venv/bin/python bench/legacy_import.py --orders 20000
"""
from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Row, add_rows_argument, mariadb_server, write_rows  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402
from tests.exchange.test_legacy_import import LEGACY_SCHEMA  # noqa: E402
from tests.servers import run_cli, server_env  # noqa: E402

CUSTOMERS, PRODUCTS, EMPLOYEES = 2_000, 50, 100
STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled", "done")  # "done": an old word


def build(path: Path, orders: int, records: int, seed: int = 7) -> int:
    """The old system's SQLite file; returns the number of rows written."""
    rng = random.Random(seed)
    now = datetime.now().replace(microsecond=0)
    year_ago = now - timedelta(days=365)

    def moment() -> str:
        return (year_ago + timedelta(seconds=rng.randrange(364 * 86_400))).isoformat(sep=" ")

    prices = [round(rng.uniform(1, 200), 2) for _ in range(PRODUCTS)]
    tables = {
        "users": [(n, f"user{n}", "pbkdf2:sha256:1000$salt$00", "user", 1, moment(), moment(), None)
                  for n in range(1, 6)],
        "employees": [(n, f"Employee {n}", "Operator", f"e{n}@plant.example", f"+4930{n:07d}", moment(),
                       moment(), None) for n in range(1, EMPLOYEES + 1)],
        "products": [(n, f"Product {n}", None, prices[n - 1], 10_000_000, moment(), moment(), None)
                     for n in range(1, PRODUCTS + 1)],
        "customers": [(n, f"Customer {n}", f"c{n}@buyer.example", f"+4940{n:07d}", f"{n} Road", moment(),
                       moment(), None) for n in range(1, CUSTOMERS + 1)],
        "orders": [],
        "production": [],
    }
    for n in range(1, orders + 1):
        product, quantity = rng.randrange(1, PRODUCTS + 1), rng.randrange(1, 20)
        at = moment()
        total = round(prices[product - 1] * quantity, 2)
        tables["orders"].append((n, rng.randrange(1, CUSTOMERS + 1), product, quantity, total,
                                 rng.choice(STATUSES), at, at, None))
    for n in range(1, records + 1):
        produced = rng.randrange(50, 500)
        day = (year_ago + timedelta(days=rng.randrange(364))).date().isoformat()
        tables["production"].append((n, rng.randrange(1, PRODUCTS + 1), rng.randrange(1, EMPLOYEES + 1),
                                     produced, rng.randrange(0, produced // 20 + 1), day, moment(), moment(),
                                     None))
    with sqlite3.connect(path) as connection:
        for ddl in LEGACY_SCHEMA:
            connection.execute(ddl)
        for table, rows in tables.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    return sum(len(rows) for rows in tables.values())


def progress_bars(stderr: str) -> list[str]:
    """Each table's last progress bar (rows, time taken, rate) from the command's stderr."""
    last: dict[str, str] = {}
    for line in stderr.replace("\r", "\n").splitlines():
        table = line.split(":", 1)[0].strip()
        if table in ("users", "employees", "products", "customers", "orders", "production"):
            last[table] = line.strip()
    return list(last.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--records", type=int, help="production records (default 30 %% of --orders)")
    add_rows_argument(parser)
    args = parser.parse_args(argv)
    mysql = mariadb_server()
    if not mysql:
        return 2
    records = args.records if args.records is not None else args.orders * 3 // 10
    with tempfile.TemporaryDirectory() as folder, mariadb_database(mysql, "factory_bench_legacy") as url:
        workdir = Path(folder)
        rows = build(workdir / "old.db", args.orders, records)
        env = server_env(workdir, url)
        load = os.getloadavg()
        started = time.perf_counter()
        result = run_cli(workdir, "import-legacy", f"sqlite:///{workdir / 'old.db'}", env=env)
        took = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return 1
    after = os.getloadavg()
    print(result.stdout.strip())
    for bar in progress_bars(result.stderr):
        print(f"    {bar}")
    rate = args.orders / took
    print(f"import-legacy: {args.orders:,} orders and {records:,} production records ({rows:,} rows) in "
          f"{took:.1f} s: {rate:,.0f} orders/s, {rows / took:,.0f} rows/s (target 5,000 orders/s)")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in load)}; after: "
          f"{' '.join(f'{v:.2f}' for v in after)}")
    write_rows(args.rows, [Row(f"import-legacy, {args.orders:,} orders + {records:,} records", rate,
                               "orders/s", target=">= 5,000 orders/s", met=rate >= 5_000)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
