"""Importing orders or production records on MariaDB: `POST /imports/RESOURCE` and `server.py
import RESOURCE FILE` beside a bare multi-row INSERT of the same rows through aiomysql, in one run.

Three fresh databases get the same 50 products, 2,000 customers and 200 employees (bulk-loaded, not
timed); for production also 10 lines (half running two of the shifts, half all three) and three
shifts in the plant's zone (Europe/Berlin: a night shift over midnight, a timed break, a spread
break, and a changed version of the early shift from 1 August). A seeded random CSV of `--orders`
rows is imported by the server (one request; the server in this process, the client one request)
and by the command line as an operator runs it (a subprocess: a validating pass, then one
transaction), every rule applied (schema, references, archive; for orders prices, totals; for
production each record placed in its shift instance by its `produced_at`, good units into stock
through the ledger; summary tables, counts).

Orders are one-line orders (`customer_id,product_id,quantity`); the reference writes the same
orders and lines, with the totals the import computes, in multi-row INSERTs of 1,000 rows through
one aiomysql connection in one transaction, and nothing else (no validation, no summary tables).
Production records are `product_id,employee_id,quantity_produced,quantity_defective,line,
produced_at` (times over June–September 2026); the reference writes the same records — their
shift and production day placed beforehand, untimed — and their stock movements the same way.
Prints rows per second for each and the ratios; the databases are dropped at the end. The machine
is shared: the load average is printed beside the figures.

    .venv/bin/python bench/imports.py                          # 100,000 orders
    .venv/bin/python bench/imports.py --orders 20000
    .venv/bin/python bench/imports.py --resource production    # 100,000 production records
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
from datetime import UTC, date, datetime, timedelta
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
from core.clock import Clock  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import Database  # noqa: E402
from models.shift import parse_breaks  # noqa: E402
from services.exchange.bulk import BulkWriter  # noqa: E402
from services.exchange.seed import COLUMNS, TEXT_COLUMNS  # noqa: E402
from services.floor.production_time import ShiftBook, derive  # noqa: E402
from services.floor.shift_time import BEGINNING, Definition, ShiftPlan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS, CUSTOMERS, EMPLOYEES, LINES = 50, 2000, 200, 10
ZONE = "Europe/Berlin"
# name, starts_at, ends_at, break_minutes, breaks, days; Early changes from 1 August.
SHIFTS = [("Early", "06:00", "14:00", 30, "10:00/30", "mon,tue,wed,thu,fri"),
          ("Late", "14:00", "22:00", 30, None, "mon,tue,wed,thu,fri,sat"),
          ("Night", "22:00", "06:00", 0, None, "sun,mon,tue,wed,thu")]
EARLY_FROM = (date(2026, 8, 1), "06:30", "14:00", 20, "12:00/20", "mon,tue,wed,thu,fri,sat")
FIRST_MOMENT = datetime(2026, 6, 1, tzinfo=UTC)
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
            await writer.insert("employees", [(n, f"Employee {n}", "Operator", f"e{n}@bench.example",
                                               f"+4940{1000000 + n}", STAMP, STAMP)
                                              for n in range(1, EMPLOYEES + 1)])
    finally:
        await db.dispose()
    stamps = f"'{STAMP}', '{STAMP}'"
    lines = ", ".join(f"('L{n}', 'Line {n}', 1, {calendar(n)}, {stamps})" for n in range(1, LINES + 1))
    windows = [(n, f"'{start}', '{end}', {minutes}, {sql_text(breaks)}, '{days}'")
               for n, (_, start, end, minutes, breaks, days) in enumerate(SHIFTS, 1)]
    shifts = ", ".join(f"({n}, '{SHIFTS[n - 1][0]}', {window}, {stamps})" for n, window in windows)
    since, start, end, minutes, breaks, days = EARLY_FROM
    versions = ", ".join([f"({n}, '{BEGINNING}', {window}, {stamps})" for n, window in windows]
                         + [f"(1, '{since}', '{start}', '{end}', {minutes}, '{breaks}', '{days}', {stamps})"])
    columns = "starts_at, ends_at, break_minutes, breaks, days, created_at, updated_at"
    await run_sql(make_url(url),
                  f"INSERT INTO `lines` (code, name, active, shifts, created_at, updated_at) VALUES {lines}",
                  f"INSERT INTO shifts (id, name, {columns}) VALUES {shifts}",
                  f"INSERT INTO shift_versions (shift_id, effective_from, {columns}) VALUES {versions}")


def calendar(line: int) -> str:
    return "'Early,Late'" if line % 2 else "NULL"


def sql_text(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


def records_plan(count: int) -> list[tuple[int, int, int, int, int, datetime]]:
    """(product, employee, produced, defective, line, produced_at) per record, seeded."""
    rng = random.Random(23)
    span = int((datetime(2026, 10, 1, tzinfo=UTC) - FIRST_MOMENT).total_seconds())
    return [(rng.randint(1, PRODUCTS), rng.randint(1, EMPLOYEES), rng.randint(5, 200), rng.randint(0, 3),
             rng.randint(1, LINES), FIRST_MOMENT + timedelta(seconds=rng.randrange(span)))
            for _ in range(count)]


def records_csv(plan: list[tuple[int, int, int, int, int, datetime]]) -> str:
    return "product_id,employee_id,quantity_produced,quantity_defective,line,produced_at\n" + "".join(
        f"{p},{e},{q},{d},L{line},{at:%Y-%m-%dT%H:%M:%SZ}\n" for p, e, q, d, line, at in plan)


def shift_book() -> ShiftBook:
    """The bench's shifts as the placement reads them, for the reference's rows (placed untimed)."""
    plans = [ShiftPlan(name, [Definition(BEGINNING, start, end, minutes, days, tuple(parse_breaks(breaks)))])
             for name, start, end, minutes, breaks, days in SHIFTS]
    since, start, end, minutes, breaks, days = EARLY_FROM
    plans[0].versions.append(Definition(since, start, end, minutes, days, tuple(parse_breaks(breaks))))
    return ShiftBook(plans, {f"L{n}": ("Early,Late" if n % 2 else None) for n in range(1, LINES + 1)})


async def connect(url: str) -> aiomysql.Connection:
    """A plain aiomysql connection to the database `url` names, outside any transaction."""
    parsed = make_url(url)
    return await aiomysql.connect(host=parsed.host or "127.0.0.1", port=parsed.port or 3306,
                                  user=parsed.username or "root", password=parsed.password or "",
                                  db=parsed.database, autocommit=False)


async def bare_records(url: str, plan: list[tuple[int, int, int, int, int, datetime]]) -> float:
    """The same records (placed beforehand, untimed) and their stock movements as multi-row INSERTs
    of 1,000 rows, one transaction; seconds."""
    book, clock = shift_book(), Clock(ZONE)
    placed = [derive(book.of_line(f"L{line}"), at, clock) for *_, line, at in plan]
    conn = await connect(url)
    try:
        started = time.monotonic()
        stock = dict.fromkeys(range(1, PRODUCTS + 1), 0)
        async with conn.cursor() as cursor:
            for start in range(0, len(plan), 1000):
                records, movements = [], []
                batch = zip(plan[start:start + 1000], placed[start:start + 1000], strict=True)
                for n, ((product, employee, produced, defective, line, at), where) in enumerate(batch,
                                                                                              start + 1):
                    moment = at.replace(tzinfo=None)
                    records.append((n, product, employee, produced, defective, where["date_produced"], moment,
                                    f"L{line}", where["shift"], "api", STAMP, STAMP))
                    if produced - defective:
                        stock[product] += produced - defective
                        movements.append((product, produced - defective, stock[product], "production",
                                          f"Production record {n}", n, STAMP, STAMP))
                await cursor.executemany(
                    "INSERT INTO production_records (id, product_id, employee_id, quantity_produced, "
                    "quantity_defective, date_produced, produced_at, line, shift, source, created_at, "
                    "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", records)
                await cursor.executemany(
                    "INSERT INTO stock_movements (product_id, delta, balance_after, reason, note, "
                    "production_record_id, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    movements)
        await conn.commit()
        return time.monotonic() - started
    finally:
        conn.close()


async def bare_inserts(url: str, plan: list[tuple[int, int, int]]) -> float:
    """The same orders and lines as multi-row INSERTs of 1,000 rows, one transaction; seconds."""
    conn = await connect(url)
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


async def http_import(url: str, resource: str, body: bytes) -> float:
    """`POST /imports/RESOURCE` with the whole CSV, to the app served from this process; seconds."""
    from app import make_app

    settings = Settings(database_url=url, jwt_secret="bench-imports-secret-0123456789abcdef", db_timeout=60.0,
                        admin_password=PASSWORD, log_dir=tempfile.mkdtemp(prefix="bench-imports-"),
                        timezone=ZONE)
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
        answer = await client.fetch(f"{base}/imports/{resource}", method="POST", body=body,
                                    request_timeout=3600,
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
    parser.add_argument("--resource", choices=("orders", "production"), default="orders")
    parser.add_argument("--orders", type=int, default=100_000, help="rows to import (orders or records)")
    parser.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/factory_importbench")
    parser.add_argument("--no-http", dest="http", action="store_false",
                        help="the command line and the reference only (a file over the 10 MiB body limit)")
    add_rows_argument(parser)
    args = parser.parse_args()
    resource, count = args.resource, args.orders
    suffix = uuid.uuid4().hex[:6]
    kinds = ("http", "cli", "bare") if args.http else ("cli", "bare")
    names = {kind: f"{make_url(args.database_url).database}_{kind}_{suffix}" for kind in kinds}
    server = make_url(args.database_url).set(database="")
    if resource == "orders":
        plan: list = orders_plan(count)
        text = "customer_id,product_id,quantity\n" + "".join(f"{c},{p},{q}\n" for c, p, q in plan)
        table, bare, unit = "orders", bare_inserts, "orders"
    else:
        plan = records_plan(count)
        text = records_csv(plan)
        table, bare, unit = "production_records", bare_records, "records"
    seconds: dict[str, float] = {}
    try:
        urls = {kind: create_database(args.database_url, name) for kind, name in names.items()}
        print(f"load before: {loadavg()}")
        seconds["bare"] = asyncio.run(bare(urls["bare"], plan))
        if args.http:
            seconds["http"] = asyncio.run(http_import(urls["http"], resource, text.encode()))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{resource}.csv"
            path.write_text(text)
            started = time.monotonic()
            # GNU time reports the import's own peak RSS (getrusage's children include the migrations).
            command = ["/usr/bin/time", "-f", "MAXRSS %M", sys.executable, str(ROOT / "server.py"), "import",
                       resource, str(path)]
            env = {**os.environ, "FACTORY_DATABASE_URL": urls["cli"], "FACTORY_TIMEZONE": ZONE}
            done = subprocess.run(command, check=True, cwd=folder, stderr=subprocess.PIPE, text=True, env=env)
            seconds["cli"] = time.monotonic() - started
            peak_mib = int(done.stderr.rsplit("MAXRSS", 1)[1].split()[0]) / 1024
        print(f"load after: {loadavg()}")
        written = {kind: asyncio.run(run_sql(make_url(urls[kind]), f"SELECT COUNT(*) FROM {table}"))[0][0]
                   for kind in kinds}
        assert set(written.values()) == {count}, written
        if resource == "production":  # the same places and stock as the reference's
            check = ("SELECT (SELECT SUM(stock_quantity) FROM products), "
                     "(SELECT COUNT(*) FROM stock_movements), "
                     "(SELECT COUNT(DISTINCT shift, date_produced) FROM production_records), "
                     "(SELECT COUNT(*) FROM production_records WHERE shift IS NULL)")
            found = {kind: asyncio.run(run_sql(make_url(urls[kind]), check))[0] for kind in kinds}
            sums = {kind: tuple(int(v or 0) for v in row) for kind, row in found.items()}
            assert not args.http or sums["http"] == sums["cli"], sums
            assert sums["cli"][1:] == sums["bare"][1:], sums  # the reference moves no product's stock
            print(f"checked: {sums['cli'][1]:,} movements, {sums['cli'][2]:,} shift instances and days, "
                  f"{sums['cli'][3]:,} records between shifts in each")
    finally:
        for name in names.values():
            asyncio.run(run_sql(server, f"DROP DATABASE IF EXISTS `{name}`"))
    rates = {kind: count / seconds[kind] for kind in kinds}
    labels = {"http": f"POST /imports/{resource}", "cli": f"server.py import {resource}",
              "bare": "bare multi-row INSERT (aiomysql)"}
    for kind in kinds:
        print(f"{labels[kind]:34} {count:,} {unit} in {seconds[kind]:.1f} s = {rates[kind]:,.0f} {unit}/s")
    print(f"server.py import: peak RSS {peak_mib:,.1f} MiB for a {len(text.encode()) / 2**20:,.1f} MiB file")
    rows = []
    for kind in [kind for kind in kinds if kind != "bare"]:
        ratio = rates[kind] / rates["bare"]
        print(f"ratio {kind} / bare: {ratio:.3f}")
        rows.append(Row(f"import {count:,} {unit} ({labels[kind]})", round(rates[kind]), f"{unit}/s",
                        reference="bare multi-row INSERT", ratio=round(ratio, 3),
                        target=f"≥ {TARGET_RATE:,.0f}/s and ≥ {TARGET_RATIO}× bare",
                        met=rates[kind] >= TARGET_RATE and ratio >= TARGET_RATIO))
    write_rows(args.rows, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
