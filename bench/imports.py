"""Importing orders: `server.py import orders FILE` against the seed's bulk loader, same data, MariaDB.

Two fresh databases get the same 50 products and 2,000 customers (bulk-loaded, not timed). A CSV of
`--orders` one-line orders (`customer_id,product_id,quantity`, seeded random) is then imported by the
command line as an operator runs it (a subprocess: validation pass, then one transaction through
OrderService.create), and the same orders — with the totals the import computed — are written by
the seed's BulkWriter (LOAD DATA / multi-row INSERT, no validation). Prints orders per second for
each and their ratio; both databases are dropped at the end. The machine is shared: note the load.

    .venv/bin/python bench/imports.py                 # 100,000 orders
    .venv/bin/python bench/imports.py --orders 20000
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import loadavg, run_sql  # noqa: E402
from core.db import Database  # noqa: E402
from services.exchange.bulk import BulkWriter  # noqa: E402
from services.exchange.seed import COLUMNS, TEXT_COLUMNS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS, CUSTOMERS = 50, 2000
STAMP = "2026-11-01 08:00:00"


def price(n: int) -> Decimal:
    return Decimal(f"{n % 40 + 1}.{n % 100:02d}")


def orders_plan(count: int) -> list[tuple[int, int, int]]:
    rng = random.Random(17)
    return [(rng.randint(1, CUSTOMERS), rng.randint(1, PRODUCTS), rng.randint(1, 20)) for _ in range(count)]


async def load_masters(url: str) -> None:
    db = Database(url)
    try:
        async with BulkWriter(db, COLUMNS, TEXT_COLUMNS) as writer:
            await writer.insert("products", [(n, f"BENCH-{n}", f"Part {n}", "", str(price(n)), 0, 0, "0",
                                              STAMP, STAMP) for n in range(1, PRODUCTS + 1)])
            await writer.insert("customers", [(n, f"Customer {n}", f"c{n}@bench.example",
                                               f"+4930{1000000 + n}", "Road", STAMP, STAMP)
                                              for n in range(1, CUSTOMERS + 1)])
    finally:
        await db.dispose()


async def bulk_orders(url: str, plan: list[tuple[int, int, int]]) -> float:
    """The seed's loader writing the same orders; returns seconds."""
    db = Database(url)
    try:
        started = time.monotonic()
        async with BulkWriter(db, COLUMNS, TEXT_COLUMNS) as writer:
            for start in range(0, len(plan), 20_000):
                orders, lines = [], []
                batch = plan[start:start + 20_000]
                for n, (customer, product, quantity) in enumerate(batch, start=start + 1):
                    total = str(price(product) * quantity)
                    orders.append((n, customer, "pending", total, STAMP, STAMP))
                    lines.append((n, n, product, quantity, str(price(product)), total, STAMP, STAMP))
                await writer.insert("orders", orders)
                await writer.insert("order_items", lines)
        return time.monotonic() - started
    finally:
        await db.dispose()


def create_database(server_url: str, name: str) -> str:
    server = make_url(server_url).set(database="")
    asyncio.run(run_sql(server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    subprocess.run([sys.executable, str(ROOT / "server.py"), "migrate"], check=True, cwd=ROOT,
                   env={**os.environ, "FACTORY_DATABASE_URL": url}, capture_output=True)
    asyncio.run(load_masters(url))
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/factory_importbench")
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:6]
    names = [f"{make_url(args.database_url).database}_{kind}_{suffix}" for kind in ("cli", "bulk")]
    server = make_url(args.database_url).set(database="")
    plan = orders_plan(args.orders)
    try:
        cli_url, bulk_url = (create_database(args.database_url, name) for name in names)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "orders.csv"
            path.write_text("customer_id,product_id,quantity\n"
                            + "".join(f"{c},{p},{q}\n" for c, p, q in plan))
            print(f"load before: {loadavg()}")
            started = time.monotonic()
            subprocess.run([sys.executable, str(ROOT / "server.py"), "import", "orders", str(path)],
                           check=True, cwd=folder, env={**os.environ, "FACTORY_DATABASE_URL": cli_url})
            cli_seconds = time.monotonic() - started
        bulk_seconds = asyncio.run(bulk_orders(bulk_url, plan))
        print(f"load after: {loadavg()}")
        cli_rate, bulk_rate = args.orders / cli_seconds, args.orders / bulk_seconds
        for label, seconds, rate in (("server.py import orders", cli_seconds, cli_rate),
                                     ("seed's BulkWriter", bulk_seconds, bulk_rate)):
            print(f"{label:24} {args.orders:,} orders in {seconds:.1f} s = {rate:,.0f} orders/s")
        print(f"ratio import / bulk loader: {cli_rate / bulk_rate:.3f}")
    finally:
        for name in names:
            asyncio.run(run_sql(server, f"DROP DATABASE IF EXISTS `{name}`"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
