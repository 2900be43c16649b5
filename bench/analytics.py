"""Analytics on a million rows: load MariaDB, then time every report uncached and cached.

Uncached, for each report it prints the median time of its SQL run directly (the compiled
statement on a bare aiomysql connection), through the service (`services.analytics.raw_reports.run_report`)
and over HTTP (a real server in this process with the response cache off), the ratios to the
direct SQL, and whether EXPLAIN shows every table read through an index.

Cached, it asks a one-process server (`bench/analytics.py serve`, a child process with the
response cache on, signed in as an admin) for each report twice or more on one keep-alive
connection: the first GET fills the cache (a miss), the ones after it are hits, and the hits'
median latency (request sent → whole response read) is the cached figure; the server's own CPU
time per hit is printed beside it, since on a loaded machine the latency also waits for a core.

    .venv/bin/python bench/analytics.py                    # loads the data once, then times
    .venv/bin/python bench/analytics.py --reuse            # times again on the data already loaded
    .venv/bin/python bench/analytics.py --reuse --quick    # fewer rounds, no uncached HTTP (≈ 2–3 min)
    .venv/bin/python bench/analytics.py --reuse --rows rows.jsonl   # also hand rows to bench/suite.py

The data: 1,000,000 orders (1–3 lines each, 5 % cancelled) and 1,000,000 production records,
spread evenly over 2025-01-01 … 2026-12-31, for 10,000 customers, 200 products and 300 employees.
Rows are written as CSV and loaded with LOAD DATA LOCAL INFILE, the fastest bulk path on MariaDB.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiomysql
import pymysql
import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.testing
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import make_app  # noqa: E402
from bench.common import Row, ServerProcess, add_rows_argument, announce_port, write_rows  # noqa: E402
from core import migrate  # noqa: E402
from core.config import Settings  # noqa: E402
from core.logs import setup_logging  # noqa: E402
from handlers.analytics import analytics_routes  # noqa: E402
from services.analytics.raw_reports import run_report  # noqa: E402
from services.analytics.reports import ANALYTICS  # noqa: E402
from services.identity.users import UserService  # noqa: E402

START = date(2025, 1, 1)
DAYS = 730
CUSTOMERS, PRODUCTS, EMPLOYEES = 10_000, 200, 300
LINES = [f"Line {n}" for n in range(1, 13)]
STATUSES = ["delivered"] * 60 + ["shipped"] * 10 + ["confirmed"] * 10 + ["pending"] * 10 + \
    ["in_production"] * 5 + ["cancelled"] * 5
PASSWORD = "bench-admin-password"
SECRET = "bench-secret-" + "x" * 40
UNLIMITED = "login=1000/60,read=100000/60,write=100000/60,analytics=100000/60"
UNCACHED_TARGET_MS, SQL_RATIO_TARGET, CACHED_TARGET_MS = 300.0, 1.2, 2.0
MONTH = {"from": "2026-12-01", "to": "2026-12-31"}

# (report, query parameters): full history, a month, a day.
SCENARIOS: list[tuple[str, dict[str, str]]] = [
    ("employee-performance", {}),
    ("employee-performance", MONTH),
    ("top-products", {}),
    ("top-products", MONTH),
    ("customer-lifetime-value", {"threshold": "1000"}),
    ("customer-lifetime-value", {**MONTH, "threshold": "1000"}),
    ("production-efficiency", {}),
    ("production-efficiency", {"group_by": "line"}),
    ("production-efficiency", {"group_by": "employee"}),
    ("production-efficiency", {"group_by": "day"}),
    ("production-efficiency", MONTH),
    ("production-efficiency", {**MONTH, "group_by": "line"}),
    ("production-efficiency", {**MONTH, "group_by": "employee"}),
    ("production-efficiency", {**MONTH, "group_by": "day"}),
    ("production-efficiency", {"date": "2026-12-15", "group_by": "line"}),
]


# -- loading ----------------------------------------------------------------------------------

def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def write_csv(path: Path, rows: Any) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write("\t".join("\\N" if v is None else str(v) for v in row))
            out.write("\n")
            count += 1
    return count


def generate(folder: Path, orders: int, records: int, rng: random.Random) -> dict[str, Path]:
    now = stamp(datetime(2027, 1, 1))
    prices = [Decimal(rng.randint(100, 50_000)) / 100 for _ in range(PRODUCTS)]
    files = {name: folder / f"{name}.tsv" for name in
             ("customers", "products", "employees", "orders", "order_items", "production_records")}
    write_csv(files["customers"], ((i, f"Customer {i}", f"customer{i}@example.com", f"+4930{1000000 + i}",
                                    None, now, now) for i in range(1, CUSTOMERS + 1)))
    write_csv(files["products"], ((i, f"SKU-{i:05d}", f"Product {i}", None, prices[i - 1], 1000, 10,
                                   Decimal(rng.randint(5_000, 25_000)) / 1000, now, now)
                                  for i in range(1, PRODUCTS + 1)))
    write_csv(files["employees"], ((i, f"Employee {i}", "Operator", f"employee{i}@example.com",
                                    f"+4940{1000000 + i}", now, now) for i in range(1, EMPLOYEES + 1)))
    seconds = DAYS * 86_400
    base = datetime.combine(START, datetime.min.time())
    item_id = 0
    with files["orders"].open("w") as order_out, files["order_items"].open("w") as item_out:
        for order_id in range(1, orders + 1):
            placed = stamp(base + timedelta(seconds=(order_id - 1) * seconds // orders))
            total = Decimal(0)
            for _ in range(rng.randint(1, 3)):
                item_id += 1
                product = rng.randint(1, PRODUCTS)
                quantity = rng.randint(1, 20)
                line_total = prices[product - 1] * quantity
                total += line_total
                item_out.write(f"{item_id}\t{order_id}\t{product}\t{quantity}\t{prices[product - 1]}\t"
                               f"{line_total}\t{placed}\t{placed}\n")
            order_out.write(f"{order_id}\t{rng.randint(1, CUSTOMERS)}\t{rng.choice(STATUSES)}\t{total}\t"
                            f"{placed}\t{placed}\n")
    with files["production_records"].open("w") as out:
        for record_id in range(1, records + 1):
            day = START + timedelta(days=(record_id - 1) * DAYS // records)
            produced = rng.randint(50, 1000)
            planned = rng.choice((240, 480))
            out.write(f"{record_id}\t{rng.randint(1, PRODUCTS)}\t{rng.randint(1, EMPLOYEES)}\t{produced}\t"
                      f"{rng.randint(0, produced // 20)}\t{day}\t{rng.choice(LINES)}\t"
                      f"{rng.choice(('morning', 'late', 'night'))}\t{planned}\t{rng.randint(0, 60)}\t"
                      f"{day} 18:00:00\t{day} 18:00:00\n")
    return files


COLUMNS = {
    "customers": "id, name, email, phone, address, created_at, updated_at",
    "products": "id, sku, name, description, price, stock_quantity, reorder_level, ideal_cycle_seconds, "
                "created_at, updated_at",
    "employees": "id, name, position, email, phone, created_at, updated_at",
    "orders": "id, customer_id, status, total_price, created_at, updated_at",
    "order_items": "id, order_id, product_id, quantity, unit_price, line_total, created_at, updated_at",
    "production_records": "id, product_id, employee_id, quantity_produced, quantity_defective, "
                          "date_produced, line, shift, planned_minutes, downtime_minutes, created_at, "
                          "updated_at",
}


def connect(url: str, **extra: Any) -> pymysql.Connection:
    u = make_url(url)
    return pymysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                           password=u.password or "", database=u.database, **extra)


def row_counts(url: str) -> tuple[int, int] | None:
    """(orders, production records) in the database at `url`; None when it has no such tables."""
    try:
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM production_records)")
            orders, records = cur.fetchone()
            return int(orders), int(records)
    except pymysql.MySQLError:
        return None


def load(url: str, orders: int, records: int) -> None:
    name = make_url(url).database
    with connect(make_url(url).set(database="").render_as_string(False)) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    migrate.upgrade(url)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        files = generate(Path(tmp), orders, records, random.Random(42))
        print(f"generated rows in {time.perf_counter() - started:.0f} s", flush=True)
        with connect(url, local_infile=True, autocommit=False) as conn, conn.cursor() as cur:
            cur.execute("SET foreign_key_checks = 0, unique_checks = 0")
            for table, path in files.items():
                started = time.perf_counter()
                cur.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} "
                            f"FIELDS TERMINATED BY '\\t' ({COLUMNS[table]})")
                conn.commit()
                print(f"loaded {table}: {cur.rowcount:,} rows in {time.perf_counter() - started:.0f} s",
                      flush=True)
            cur.execute("ANALYZE TABLE orders, order_items, production_records, products, customers, "
                        "employees")
            cur.fetchall()


# -- the servers ------------------------------------------------------------------------------

def server_settings(url: str, cache_ttl: float) -> Settings:
    # A generous db_timeout: a million-row report may take longer than an outage check expects.
    return Settings(database_url=url, jwt_secret=SECRET, cache_ttl=cache_ttl, db_timeout=30.0,
                    rate_limits=UNLIMITED, log_dir=tempfile.mkdtemp(prefix="bench-logs-"))


async def serve(url: str) -> None:
    """The cached server: one process, as server.py runs it, with the response cache on."""
    settings = server_settings(url, cache_ttl=3600.0)
    setup_logging(settings.log_dir, to_stderr=False)
    app = make_app(settings)
    await app.start()
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    announce_port(sockets[0].getsockname()[1])
    await asyncio.Event().wait()  # until the parent terminates us


class KeepAliveClient:
    """Blocking HTTP/1.1 GETs on one keep-alive connection: no connect or client loop in the timing."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers: dict[str, str] = {}

    def login(self, username: str, password: str) -> None:
        body = json.dumps({"username": username, "password": password})
        self.conn.request("POST", "/auth/login", body, {"Content-Type": "application/json"})
        token = json.loads(self.conn.getresponse().read())["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> tuple[float, str, bytes]:
        """Milliseconds from sending the request to the last byte read, X-Cache, and the body."""
        started = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return elapsed, response.headers.get("X-Cache", ""), body

    def close(self) -> None:
        self.conn.close()


def cached_times(client: KeepAliveClient, path: str, hits: int,
                 server_cpu: Callable[[], float]) -> dict[str, float]:
    """The first GET (it fills the cache), then `hits` GETs: their latency and the server's CPU per hit.

    CPU time is the server process's own (user + system), so it holds whatever the neighbours do;
    the latency also waits for a core on a loaded machine.
    """
    miss_ms, state, first = client.get(path)
    if state != "miss":
        raise RuntimeError(f"GET {path}: the first request was a cache {state!r}, not a miss")
    times = []
    cpu_before = server_cpu()
    for _ in range(hits):
        elapsed, state, body = client.get(path)
        if state != "hit" or body != first:
            raise RuntimeError(f"GET {path}: a repeated request was a cache {state!r}")
        times.append(elapsed)
    cpu_ms = (server_cpu() - cpu_before) * 1000 / hits
    return {"miss": miss_ms, "hit": statistics.median(times), "best_hit": min(times),
            "p90_hit": statistics.quantiles(times, n=10)[-1], "cpu_per_hit": cpu_ms, "bytes": len(first)}


# -- timing -----------------------------------------------------------------------------------

async def timed(run: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await run()
    return (time.perf_counter() - started) * 1000, result


async def race(contenders: dict[str, Callable[[], Awaitable[Any]]], repeat: int,
               budget_ms: float = 4000) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Median and best time of each contender, run in interleaved rounds so all see the same load.

    One warm-up round first (the same pages in the buffer pool for everyone); fast reports get
    more rounds, up to what fits in `budget_ms`, since a loaded machine makes single runs noisy.
    """
    results = {name: (await timed(run))[1] for name, run in contenders.items()}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    rounds, spent = 0, 0.0
    while rounds < repeat or (spent < budget_ms and rounds < 5 * repeat):
        for name, run in contenders.items():
            elapsed, results[name] = await timed(run)
            times[name].append(elapsed)
            spent += elapsed
        rounds += 1
    return ({name: statistics.median(t) for name, t in times.items()},
            {name: min(t) for name, t in times.items()}, results)


FACT_TABLES = ("orders", "order_items", "production_records")


def explain_summary(rows: list[dict[str, Any]]) -> tuple[bool, str]:
    """Every million-row table read through an index (never a full scan), and the access per table."""
    parts, indexed = [], True
    for row in rows:
        table = row["table"] or ""
        if table.startswith("<"):
            continue
        covering = "Using index" in (row["Extra"] or "").split("; ")
        parts.append(f"{table}: {row['type']} {row['key'] or '-'}{' (covering)' if covering else ''}")
        if table in FACT_TABLES:
            indexed = indexed and row["key"] is not None and row["type"] != "ALL"
    return indexed, "; ".join(parts)


def label(name: str, args: dict[str, str]) -> str:
    """The report, its other parameters, and its range: all history, a month or a day."""
    extra = ", ".join(f"{k}={v}" for k, v in args.items() if k not in ("from", "to", "date"))
    if "date" in args:
        scope = f"day {args['date']}"
    elif "from" in args:
        scope = f"month {args['from'][:7]}"
    else:
        scope = "all history"
    return f"{name} {extra + ', ' if extra else ''}{scope}"


async def bench(url: str, repeat: int, *, budget_ms: float, hits: int,
                http_uncached: bool) -> list[dict[str, Any]]:
    app = make_app(server_settings(url, cache_ttl=0.0))
    async with app.ctx.db.write() as uow:
        await uow.session.execute(text("DELETE FROM users WHERE username = 'bench'"))
    async with app.ctx.db.write() as uow:
        await UserService().create(uow, {"username": "bench", "password": PASSWORD, "role": "admin",
                                         "is_active": True})
    cached_server = ServerProcess("cached", [str(Path(__file__).resolve()), "serve", "--url", url])
    cached_client = KeepAliveClient(cached_server.port)
    cached_client.login("bench", PASSWORD)
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets([sock])
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    base = f"http://127.0.0.1:{port}"
    login = await client.fetch(f"{base}/auth/login", method="POST",
                               body=f'{{"username":"bench","password":"{PASSWORD}"}}')
    token = json.loads(login.body)["access_token"]
    queries = {spec.kwargs["analytic"].name: spec.kwargs["query"] for spec in analytics_routes()}
    u = make_url(url)
    raw = await aiomysql.connect(host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                                 password=u.password or "", db=u.database, autocommit=True)
    dialect = app.ctx.db.engine.dialect

    async def measure(name: str, args: dict[str, str]) -> dict[str, Any]:
        analytic = ANALYTICS[name]
        params = queries[name]().load(args)
        sql = str(analytic.statement(params).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        path = f"/analytics/{name}?{urlencode(args)}"

        async def direct() -> Any:
            async with raw.cursor() as cur:
                await cur.execute(sql)
                return await cur.fetchall()

        async def service() -> Any:
            async with app.ctx.db.session() as session:
                return await run_report(session, analytic, params)

        async def http() -> Any:
            response = await client.fetch(base + path, headers={"Authorization": f"Bearer {token}"})
            assert response.headers.get("X-Cache") == "miss"
            return response.body

        contenders = {"sql": direct, "service": service, **({"http": http} if http_uncached else {})}
        median, best, out = await race(contenders, repeat, budget_ms)
        async with raw.cursor(aiomysql.DictCursor) as cur:
            await cur.execute("EXPLAIN " + sql)
            indexed, plan = explain_summary(await cur.fetchall())
        cached = cached_times(cached_client, path, hits, cached_server.cpu_seconds)
        return {"label": label(name, args), **median, **{f"best_{k}": v for k, v in best.items()},
                "rows": len(out["sql"]), "total": out["service"].total, "indexed": indexed, "plan": plan,
                **{f"cached_{k}": v for k, v in cached.items()}}

    results = []
    try:
        for name, args in SCENARIOS:
            r = await measure(name, args)
            results.append(r)
            over_http = (f"http {r['http']:8.1f} ms ({r['http'] / r['sql']:4.2f}×)  " if "http" in r else "")
            print(f"{r['label']:<58} sql {r['sql']:7.1f} ms  "
                  f"service {r['service']:7.1f} ms ({r['service'] / r['sql']:4.2f}×)  {over_http}"
                  f"cached {r['cached_hit']:5.2f} ms (CPU {r['cached_cpu_per_hit']:.2f}, "
                  f"miss {r['cached_miss']:.0f})  "
                  f"groups {r['total']:<5} index {'yes' if r['indexed'] else 'NO'}", flush=True)
    finally:
        raw.close()
        client.close()
        server.stop()
        cached_client.close()
        cached_server.stop()
        await app.close()
    return results


def uncached_met(r: dict[str, Any]) -> bool:
    return r["service"] < UNCACHED_TARGET_MS and r["service"] / r["sql"] <= SQL_RATIO_TARGET


def rows(results: list[dict[str, Any]]) -> list[Row]:
    """Two rows per report and range for bench/suite.py: uncached through the service, and cached."""
    out = []
    for r in results:
        out.append(Row(f"analytics: {r['label']}, uncached (service)", round(r["service"], 1), "ms",
                       reference="its SQL", ratio=round(r["service"] / r["sql"], 2),
                       target=f"< {UNCACHED_TARGET_MS:.0f} ms, ≤ {SQL_RATIO_TARGET}× SQL",
                       met=uncached_met(r)))
        out.append(Row(f"analytics: {r['label']}, cached (HTTP hit)", round(r["cached_hit"], 2), "ms",
                       target=f"< {CACHED_TARGET_MS:.0f} ms", met=r["cached_hit"] < CACHED_TARGET_MS))
    return out


def yes_no(met: bool) -> str:
    return "yes" if met else "**no**"


def markdown(results: list[dict[str, Any]]) -> str:
    over_http = "http" in results[0]
    lines = ["Uncached:", "",
             "| report | SQL direct ms | service ms (× SQL) |" + (" HTTP ms (× SQL) |" if over_http else "")
             + " best of runs: SQL / service" + (" / HTTP" if over_http else "")
             + " | groups | < 300 ms and ≤ 1.2× (service) | fact tables via index (EXPLAIN) |",
             "|---|---:|---:|" + ("---:|" if over_http else "") + "---:|---:|---|---|"]
    for r in results:
        http_cell = f" {r['http']:.0f} ({r['http'] / r['sql']:.2f}×) |" if over_http else ""
        best = " / ".join(f"{r[f'best_{k}']:.0f}" for k in ("sql", "service", "http") if f"best_{k}" in r)
        service = f"{r['service']:.0f} ({r['service'] / r['sql']:.2f}×)"
        lines.append(f"| {r['label']} | {r['sql']:.0f} | {service} |{http_cell} {best} | {r['total']} "
                     f"| {yes_no(uncached_met(r))} | "
                     f"{'yes' if r['indexed'] else 'NO'}: {r['plan']} |")
    lines += ["", "Cached (HTTP, one keep-alive connection; first GET fills the cache):", "",
              "| report | body KB | first GET (miss) ms | hit median ms | hit best / p90 ms "
              "| server CPU per hit ms | < 2 ms |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['label']} | {r['cached_bytes'] / 1024:.1f} | {r['cached_miss']:.0f} "
                     f"| {r['cached_hit']:.2f} | {r['cached_best_hit']:.2f} / {r['cached_p90_hit']:.2f} "
                     f"| {r['cached_cpu_per_hit']:.2f} "
                     f"| {yes_no(r['cached_hit'] < CACHED_TARGET_MS)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve", help="(internal) run the cached server and print its port")
    child.add_argument("--url", required=True)
    parser.add_argument("--url", default=os.environ.get(
        "FACTORY_BENCH_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306/factory_bench_analytics"))
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--production", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, help="timed rounds per uncached contender (median; default 5, "
                                                   "3 with --quick)")
    parser.add_argument("--hits", type=int,
                        help="cached GETs timed per report (default 200, 100 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and no uncached HTTP contender (≈ 2–3 min on the 1M rows)")
    parser.add_argument("--reuse", action="store_true",
                        help="time the data already in the database (at least --orders and --production "
                             "rows; never dropped); load only into an empty or missing one")
    parser.add_argument("--migrate", action="store_true", help="with --reuse: upgrade the schema first")
    add_rows_argument(parser)
    args = parser.parse_args()
    if args.command == "serve":
        asyncio.run(serve(args.url))
        return
    counts = row_counts(args.url) if args.reuse else None
    if counts is not None and counts != (0, 0) and (counts[0] < args.orders or counts[1] < args.production):
        # --reuse never drops data: it may be another bench's (bench/suite.py reuses a seeded one).
        sys.exit(f"--reuse: {args.url} holds {counts[0]:,} orders and {counts[1]:,} production records, "
                 f"fewer than {args.orders:,} and {args.production:,}; seed it or drop it first")
    if counts is None or counts == (0, 0):
        started = time.perf_counter()
        load(args.url, args.orders, args.production)
        print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
    elif args.migrate:
        migrate.upgrade(args.url)
    repeat = args.repeat or (3 if args.quick else 5)
    hits = args.hits or (100 if args.quick else 200)
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    started = time.perf_counter()
    results = asyncio.run(bench(args.url, repeat, budget_ms=2000 if args.quick else 4000, hits=hits,
                                http_uncached=not args.quick))
    print("load average after: {:.1f} {:.1f} {:.1f}; timed for {:.0f} s".format(
        *os.getloadavg(), time.perf_counter() - started))
    print()
    print(markdown(results))
    write_rows(args.rows, rows(results))


if __name__ == "__main__":
    main()
