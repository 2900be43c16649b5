"""Importing orders on MariaDB: `POST /imports/orders` and `server.py import orders FILE` beside a
bare multi-row INSERT of the same rows through aiomysql, in one run.

Three fresh databases get the same 50 products and 2,000 customers (bulk-loaded, not timed). A
CSV of `--orders` one-line orders (`customer_id,product_id,quantity`, seeded random) is imported
by the server (one request; the server in this process, the client one request) and by the
command line as an operator runs it (a subprocess: a validating pass, then one transaction), every
rule applied (schema, references, archive, prices, totals, summary tables, counts). The reference
writes the same orders and lines — with the totals the import computed — in multi-row INSERTs of
1,000 rows through one aiomysql connection in one transaction, and nothing else (no validation,
no summary tables). Prints orders per second for each and the ratios; the databases are dropped at
the end. The machine is shared: the load average is printed beside the figures.

    .venv/bin/python bench/imports.py                 # 100,000 orders
    .venv/bin/python bench/imports.py --orders 20000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import aiomysql
import tornado.httpclient
import tornado.httpserver
import tornado.testing
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Row, add_rows_argument, write_rows  # noqa: E402
from bench.seed import loadavg, run_sql  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import Database  # noqa: E402
from services.exchange.bulk import BulkWriter  # noqa: E402
from services.exchange.seed import COLUMNS, TEXT_COLUMNS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS, CUSTOMERS = 50, 2000
STAMP = "2026-11-01 08:00:00"
PASSWORD = "bench-imports-password-1"
TARGET_RATE, TARGET_RATIO = 5000.0, 0.25


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


async def bare_inserts(url: str, plan: list[tuple[int, int, int]]) -> float:
    """The same orders and lines as multi-row INSERTs of 1,000 rows, one transaction; seconds."""
    parsed = make_url(url)
    conn = await aiomysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                                  user=parsed.username or "root", password=parsed.password or "",
                                  db=parsed.database, autocommit=False)
    try:
        started = time.monotonic()
        async with conn.cursor() as cursor:
            for start in range(0, len(plan), 1000):
                batch = plan[start:start + 1000]
                orders, lines = [], []
                for n, (customer, product, quantity) in enumerate(batch, start=start + 1):
                    total = price(product) * quantity
                    orders.append((n, customer, "pending", total, STAMP, STAMP, STAMP))
                    lines.append((n, product, quantity, price(product), total, STAMP, STAMP))
                await cursor.executemany(
                    "INSERT INTO orders (id, customer_id, status, total_price, placed_at, created_at, "
                    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)", orders)
                await cursor.executemany(
                    "INSERT INTO order_items (order_id, product_id, quantity, unit_price, line_total, "
                    "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)", lines)
        await conn.commit()
        return time.monotonic() - started
    finally:
        conn.close()


async def http_import(url: str, body: bytes) -> float:
    """`POST /imports/orders` with the whole CSV, to the app served from this process; seconds."""
    from app import make_app

    settings = Settings(database_url=url, jwt_secret="bench-imports-secret-0123456789abcdef", db_timeout=60.0,
                        admin_password=PASSWORD, log_dir=tempfile.mkdtemp(prefix="bench-imports-"))
    app = make_app(settings)
    await app.start()
    await app.ctx.auth.ensure_admin(PASSWORD)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app, max_body_size=64 * 1024 * 1024)
    server.add_sockets([sock])
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    base = f"http://127.0.0.1:{port}"
    try:
        login = await client.fetch(f"{base}/auth/login", method="POST",
                                   headers={"Content-Type": "application/json"},
                                   body=json.dumps({"username": "admin", "password": PASSWORD}))
        token = json.loads(login.body)["access_token"]
        started = time.monotonic()
        answer = await client.fetch(f"{base}/imports/orders", method="POST", body=body, request_timeout=3600,
                                    headers={"Content-Type": "text/csv", "Authorization": f"Bearer {token}"})
        seconds = time.monotonic() - started
        assert answer.code == 200, answer.body
        return seconds
    finally:
        client.close()
        server.stop()
        await app.close()


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
    add_rows_argument(parser)
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:6]
    kinds = ("http", "cli", "bare")
    names = {kind: f"{make_url(args.database_url).database}_{kind}_{suffix}" for kind in kinds}
    server = make_url(args.database_url).set(database="")
    plan = orders_plan(args.orders)
    text = "customer_id,product_id,quantity\n" + "".join(f"{c},{p},{q}\n" for c, p, q in plan)
    seconds: dict[str, float] = {}
    try:
        urls = {kind: create_database(args.database_url, name) for kind, name in names.items()}
        print(f"load before: {loadavg()}")
        seconds["bare"] = asyncio.run(bare_inserts(urls["bare"], plan))
        seconds["http"] = asyncio.run(http_import(urls["http"], text.encode()))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "orders.csv"
            path.write_text(text)
            started = time.monotonic()
            subprocess.run([sys.executable, str(ROOT / "server.py"), "import", "orders", str(path)],
                           check=True, cwd=folder, env={**os.environ, "FACTORY_DATABASE_URL": urls["cli"]})
            seconds["cli"] = time.monotonic() - started
        print(f"load after: {loadavg()}")
        for kind in kinds:
            (count,), = asyncio.run(run_sql(make_url(urls[kind]), "SELECT COUNT(*) FROM orders"))
            assert count == args.orders, (kind, count)
    finally:
        for name in names.values():
            asyncio.run(run_sql(server, f"DROP DATABASE IF EXISTS `{name}`"))
    rates = {kind: args.orders / seconds[kind] for kind in kinds}
    labels = {"http": "POST /imports/orders", "cli": "server.py import orders",
              "bare": "bare multi-row INSERT (aiomysql)"}
    for kind in kinds:
        print(f"{labels[kind]:34} {args.orders:,} orders in {seconds[kind]:.1f} s "
              f"= {rates[kind]:,.0f} orders/s")
    rows = []
    for kind in ("http", "cli"):
        ratio = rates[kind] / rates["bare"]
        print(f"ratio {kind} / bare: {ratio:.3f}")
        rows.append(Row(f"import {args.orders:,} orders ({labels[kind]})", round(rates[kind]), "orders/s",
                        reference="bare multi-row INSERT", ratio=round(ratio, 3),
                        target=f"≥ {TARGET_RATE:,.0f}/s and ≥ {TARGET_RATIO}× bare",
                        met=rates[kind] >= TARGET_RATE and ratio >= TARGET_RATIO))
    write_rows(args.rows, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
