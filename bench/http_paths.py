"""The HTTP hot paths on one database, each against a bare Tornado handler measured in the same run.

One invocation starts four one-process servers pinned to one core (the load generator, wrk or the
asyncio generator in bench/common.py, runs on the other):

- bare:       plain tornado.web.RequestHandlers that answer each path with the very bytes the app
              sent for it (a POST handler parses the same JSON body first): the framework reference;
- app:        the application as configured (auth, rate limiter with budgets no run can exhaust,
              response cache);
- no limiter: the same with `ctx.limiter = None`;
- no cache:   the same with FACTORY_CACHE_TTL=0.

Workloads, in interleaved rounds (rotated each round; a ratio is the median of per-round ratios):

- GET /products?per_page=20, cached, vs bare; and with vs without the limiter (its overhead);
- GET /orders?per_page=20&page=N, walking pages from --orders-page, so every request is a cache
  miss (a POST before each run clears what the last run cached, then one GET fills the list
  total), vs bare serving page N; and the same pages with the cache off (once, after the rounds:
  every request then counts all the orders);
- GET /orders?customer_id=N, walking customers, cache on (every request a miss) vs cache off: the
  cache's own cost on a miss;
- POST /orders and POST /production vs bare.

The database given by --database-url is used as it is when it holds orders (the suite's
`bench/seed.py` leaves 1M in `factory_bench`), else migrated and seeded with `server.py seed
--size --seed-size`. The bench adds a user, a customer, a product and an employee of its own,
posts only against them, and deletes them and everything posted at the end.

    .venv/bin/python bench/http_paths.py --database-url mysql+aiomysql://root@127.0.0.1:3306/factory_bench
    .venv/bin/python bench/http_paths.py --database-url … --rounds 6 --seconds 5 --rows rows.jsonl
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.web
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import build_context, make_app  # noqa: E402
from bench.cached_reads import (  # noqa: E402
    bench_settings,
    fetch,
    listen,
    paired,
    sign_in,
)
from bench.common import (  # noqa: E402
    LoadResult,
    Row,
    ServerProcess,
    add_load_arguments,
    add_rows_argument,
    have_wrk,
    run_load,
    write_rows,
)
from core import migrate  # noqa: E402
from models import Customer, Order  # noqa: E402
from services.catalog.customers import CustomerService  # noqa: E402
from services.catalog.employees import EmployeeService  # noqa: E402
from services.catalog.products import ProductService  # noqa: E402
from services.exchange.seed import run_seed  # noqa: E402
from services.identity.users import UserService  # noqa: E402
from tests.databases import run_sql  # noqa: E402

SERVERS = ("bare", "app", "no limiter", "no cache")
# Measured once, after the rounds: with the cache off every request counts all the orders, and the
# COUNTs still queued when the run ends would slow whatever ran next.
AFTER_ROUNDS = ("orders page: cache off",)
USER_PASSWORD = "bench-user-password"
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Load:
    """One thing to measure: a request (its path may count `{n}` up) sent to one of the servers."""

    server: str
    path: str
    method: str = "GET"
    body: str | None = None
    first_n: int = 1

    @property
    def walks(self) -> bool:
        return "{n}" in self.path


# -- the servers (child processes: `http_paths.py serve …`) -------------------------------------

class BareHandler(tornado.web.RequestHandler):
    """Tornado with nothing of ours: each method answers with the app's recorded status, headers, bytes."""

    def initialize(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers

    def get(self) -> None:
        self.answer("GET")

    def post(self) -> None:
        json.loads(self.request.body)  # the app parses the same body: so does the reference
        self.answer("POST")

    def answer(self, method: str) -> None:
        answer = self.answers[method]
        self.set_status(answer["status"])
        for name, value in answer["headers"].items():
            self.set_header(name, value)
        self.finish(answer["body"])


def bare_app(answers_file: str) -> tornado.web.Application:
    """Routes from the recorded answers: {path: {method: {status, headers, body_file}}}; bodies read once."""
    routes = json.loads(Path(answers_file).read_text())
    for by_method in routes.values():
        for answer in by_method.values():
            answer["body"] = Path(answer.pop("body_file")).read_bytes()
    return tornado.web.Application([(path, BareHandler, {"answers": by_method})
                                    for path, by_method in routes.items()])


async def serve(args: argparse.Namespace) -> None:
    if args.kind == "bare":
        await listen(bare_app(args.answers))
        return
    app = make_app(bench_settings(args.database_url, cache_ttl=0 if args.kind == "no cache" else 3600))
    if args.kind == "no limiter":
        app.ctx.limiter = None
    await app.start()
    await listen(app)


# -- the database ----------------------------------------------------------------------------------

@dataclass
class Fixtures:
    """What the bench adds to the database, and what it finds there."""

    user: str
    user_id: int
    customer_id: int
    product_id: int
    employee_id: int
    first_customer: int
    customers: int


def prepare_database(url: str, seed_size: int) -> None:
    """Create, migrate and seed the database unless it already holds orders."""
    base = make_url(url)
    asyncio.run(run_sql(base.set(database=""), f"CREATE DATABASE IF NOT EXISTS `{base.database}` "
                                                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    migrate.upgrade(url)
    if asyncio.run(count_orders(url)) == 0:
        print(f"seeding {base.database} with server.py seed --size {seed_size}", flush=True)
        if run_seed(bench_settings(url), seed_size) != 0:
            raise RuntimeError("seeding failed")


async def count_orders(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(Order)) or 0
    finally:
        await engine.dispose()


async def add_fixtures(url: str) -> Fixtures:
    """A user to sign in as, and a customer, product and employee that only the bench posts against."""
    tag = uuid.uuid4().hex[:8]
    ctx = build_context(bench_settings(url))
    try:
        created = {}
        services = {
            "user": (UserService(), {"username": f"httpbench-{tag}", "password": USER_PASSWORD,
                                     "role": "user", "is_active": True}),
            "customer": (CustomerService(), {"name": f"HTTP bench {tag}", "phone": "+4915100000000",
                                             "email": f"httpbench-{tag}@example.com"}),
            "product": (ProductService(), {"sku": f"HTTPBENCH-{tag}", "name": f"HTTP bench {tag}",
                                           "price": "12.50", "stock_quantity": 0, "reorder_level": 5}),
            "employee": (EmployeeService(), {"name": f"HTTP bench {tag}", "position": "Operator",
                                             "email": f"httpbench-{tag}@example.com",
                                             "phone": f"+49151{int(tag, 16) % 10**8:08d}"}),
        }
        for name, (service, raw) in services.items():
            async with ctx.db.write() as uow:
                created[name] = (await service.create(uow, service.schema().load(raw))).id
        async with ctx.db.session() as session:
            first, last = (await session.execute(select(func.min(Customer.id), func.max(Customer.id)))).one()
        return Fixtures(f"httpbench-{tag}", created["user"], created["customer"], created["product"],
                        created["employee"], first, last - first + 1)
    finally:
        await ctx.db.dispose()


async def remove_fixtures(url: str, fixtures: Fixtures) -> None:
    """Delete the bench's rows and everything posted against them: the database is left as found."""
    engine = create_async_engine(url)
    params = {"customer": fixtures.customer_id, "product": fixtures.product_id,
              "employee": fixtures.employee_id, "user": fixtures.user_id}
    try:
        async with engine.begin() as conn:
            for sql in (
                "DELETE FROM order_items WHERE order_id IN "
                "(SELECT id FROM orders WHERE customer_id = :customer)",
                "DELETE FROM orders WHERE customer_id = :customer",
                "DELETE FROM stock_movements WHERE product_id = :product",
                "DELETE FROM production_records WHERE product_id = :product",
                "DELETE FROM products WHERE id = :product",
                "DELETE FROM customers WHERE id = :customer",
                "DELETE FROM employees WHERE id = :employee",
                "DELETE FROM users WHERE id = :user",
            ):
                await conn.execute(text(sql), params)
    finally:
        await engine.dispose()


# -- the driver ------------------------------------------------------------------------------------

def workloads(args: argparse.Namespace, fx: Fixtures) -> dict[str, Load]:
    order = json.dumps({"customer_id": fx.customer_id,
                        "items": [{"product_id": fx.product_id, "quantity": 2}]})
    record = json.dumps({"product_id": fx.product_id, "employee_id": fx.employee_id, "quantity_produced": 10,
                         "quantity_defective": 1, "date_produced": "2026-11-26"})
    products, page = "/products?per_page=20", "/orders?per_page=20&page="
    # Walk customers from the middle so consecutive runs ask for the same ones after the POST.
    customer = "/orders?customer_id={n}"
    middle = fx.first_customer + fx.customers // 3
    return {
        "products: bare": Load("bare", products),
        "products: cached": Load("app", products),
        "products: cached, no limiter": Load("no limiter", products),
        "orders page: bare": Load("bare", f"{page}{args.orders_page}"),
        "orders page: cache miss": Load("app", page + "{n}", first_n=args.orders_page),
        "orders page: cache off": Load("no cache", page + "{n}", first_n=args.orders_page),
        "orders by customer: cache miss": Load("app", customer, first_n=middle),
        "orders by customer: cache off": Load("no cache", customer, first_n=middle),
        "POST /orders: bare": Load("bare", "/orders", "POST", order),
        "POST /orders: app": Load("app", "/orders", "POST", order),
        "POST /production: bare": Load("bare", "/production", "POST", record),
        "POST /production: app": Load("app", "/production", "POST", record),
    }


async def record_answers(servers: dict[str, ServerProcess], loads: dict[str, Load], auth: dict[str, str],
                         folder: Path) -> Path:
    """What the app answers to each bare path, saved for the bare server (bodies as files)."""
    routes: dict[str, dict[str, Any]] = {}
    # POSTs first: the GETs' bytes must be those of the data as the runs begin.
    bare = [load for load in loads.values() if load.server == "bare"]
    for load in sorted(bare, key=lambda load: load.method, reverse=True):
        source = servers["no cache"] if load.method == "GET" else servers["app"]
        response = await fetch(source.url + load.path, {**auth, **JSON_HEADERS}, load.body, load.method)
        body_file = folder / f"{len(routes)}-{load.method}.json"
        body_file.write_bytes(response.body)
        headers = {"Content-Type": response.headers["Content-Type"]}
        if "Location" in response.headers:
            headers["Location"] = response.headers["Location"]
        path = load.path.split("?", 1)[0]
        routes.setdefault(path, {})[load.method] = {"status": response.code, "headers": headers,
                                                   "body_file": str(body_file)}
    answers = folder / "answers.json"
    answers.write_text(json.dumps(routes))
    return answers


async def check_bare(servers: dict[str, ServerProcess], loads: dict[str, Load], auth: dict[str, str]) -> None:
    """The bare server must send the very bytes the app sends for the same GET."""
    for load in loads.values():
        if load.server == "bare" and load.method == "GET":
            app = await fetch(servers["no cache"].url + load.path, auth)
            bare = await fetch(servers["bare"].url + load.path)
            assert app.body == bare.body, f"bare {load.path} differs from the app's answer"


def start_run(servers: dict[str, ServerProcess], load: Load, auth: dict[str, str], invalidate: Load) -> None:
    """Before a walking run on a caching server: a POST drops what the last run cached (and the list
    total), then one GET just before the walk computes the total again, as a page request would."""
    if not load.walks or load.server != "app":
        return
    app = servers["app"].url
    asyncio.run(fetch(app + invalidate.path, {**auth, **JSON_HEADERS}, invalidate.body, "POST"))
    asyncio.run(fetch(app + load.path.replace("{n}", str(load.first_n - 1)), auth))


def measure(servers: dict[str, ServerProcess], load: Load, auth: dict[str, str], args: argparse.Namespace,
            tool: str, seconds: float) -> tuple[LoadResult, float]:
    """One run: the result and the server's CPU µs per answered request."""
    server = servers[load.server]
    headers = {} if load.server == "bare" else dict(auth)
    if load.body is not None:
        headers.update(JSON_HEADERS)
    used = server.cpu_seconds()
    result = run_load(server.url + load.path, connections=args.connections, seconds=seconds, headers=headers,
                      tool=tool, cpu=args.load_cpu, method=load.method, body=load.body, first_n=load.first_n)
    used = server.cpu_seconds() - used
    return result, used / max(1, result.requests) * 1e6


def drive(args: argparse.Namespace) -> int:
    tool = args.load if args.load != "auto" else ("wrk" if have_wrk() else "python")
    prepare_database(args.database_url, args.seed_size)
    fixtures = asyncio.run(add_fixtures(args.database_url))
    servers: dict[str, ServerProcess] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="factory-http-bench-") as tmp:
            me = str(Path(__file__).resolve())
            for kind in SERVERS[1:]:
                servers[kind] = ServerProcess(kind, [me, "serve", kind, "--database-url", args.database_url],
                                              cpu=args.server_cpu)
            token = asyncio.run(sign_in(servers["app"].url, fixtures.user, USER_PASSWORD))
            auth = {"Authorization": f"Bearer {token}"}
            loads = workloads(args, fixtures)
            answers = asyncio.run(record_answers(servers, loads, auth, Path(tmp)))
            servers["bare"] = ServerProcess("bare", [me, "serve", "bare", "--answers", str(answers)],
                                            cpu=args.server_cpu)
            asyncio.run(check_bare(servers, loads, auth))
            invalidate = loads["POST /orders: app"]
            names = list(loads)
            for name in names:  # warm up pools, sessions and caches
                start_run(servers, loads[name], auth, invalidate)
                measure(servers, loads[name], auth, args, tool, 1)
            results: dict[str, list[LoadResult]] = {name: [] for name in names}
            cpu_us: dict[str, list[float]] = {name: [] for name in names}
            rotated = [name for name in names if name not in AFTER_ROUNDS]
            for round_number in range(args.rounds):
                shift = round_number % len(rotated)
                for name in rotated[shift:] + rotated[:shift] + (list(AFTER_ROUNDS) if round_number
                                                                  == args.rounds - 1 else []):
                    start_run(servers, loads[name], auth, invalidate)
                    result, cpu = measure(servers, loads[name], auth, args, tool, args.seconds)
                    results[name].append(result)
                    cpu_us[name].append(cpu)
            rows = report(results, cpu_us, args, tool)
            write_rows(args.rows, rows)
    finally:
        for server in servers.values():
            server.stop()
        asyncio.run(remove_fixtures(args.database_url, fixtures))
    return 0


# -- the report ------------------------------------------------------------------------------------

# (workload row, target, its reference, what the ratio must reach or None)
COMPARISONS = (
    ("GET /products, cached", "products: cached", "products: bare", 0.7),
    ("GET /products, cached, no limiter", "products: cached, no limiter", "products: bare", None),
    ("GET /orders page, cache miss", "orders page: cache miss", "orders page: bare", 0.3),
    ("GET /orders page, cache off", "orders page: cache off", "orders page: bare", None),
    ("POST /orders", "POST /orders: app", "POST /orders: bare", None),
    ("POST /production", "POST /production: app", "POST /production: bare", None),
)
OVERHEADS = (
    ("rate limiter: cached GET /products with ÷ without", "products: cached", "products: cached, no limiter"),
    ("response cache: GET /orders?customer_id (miss) on ÷ off", "orders by customer: cache miss",
     "orders by customer: cache off"),
)


def report(results: dict[str, list[LoadResult]], cpu_us: dict[str, list[float]], args: argparse.Namespace,
           tool: str) -> list[Row]:
    # Answered requests only: a 503 (pool timeout with the cache off) is not throughput.
    rps = {name: [(r.requests - r.errors) / r.seconds for r in runs] for name, runs in results.items()}
    speed = {name: [1 / us for us in values] for name, values in cpu_us.items()}

    def med(name: str, field: str) -> float:
        if field == "rps":
            return statistics.median(rps[name])
        return statistics.median(getattr(r, field) for r in results[name])

    database = make_url(args.database_url).database
    print(f"\n{database}: {args.connections} connections, {args.rounds} rounds × {args.seconds:g} s, "
          f"load: {tool}; orders pages from {args.orders_page}\n")
    print(f"{'workload':<31} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU µs/req':>10}  "
          "req/s per round (2xx/3xx answers)")
    for name, runs in results.items():
        print(f"{name:<31} {med(name, 'rps'):>7.0f} {med(name, 'p50_ms'):>8.2f} {med(name, 'p99_ms'):>8.2f} "
              f"{sum(r.errors for r in runs):>6} {statistics.median(cpu_us[name]):>10.0f}  "
              + " ".join(f"{value:.0f}" for value in rps[name]))
    rows: list[Row] = []
    print(f"\n{'vs bare Tornado':<38} {'×bare':>6} {'by CPU':>7}  target")
    def ratio_of(values: dict[str, list[float]], target: str, base: str) -> float:
        if len(values[target]) == len(values[base]):
            return paired(values, target, base)
        return statistics.median(values[target]) / statistics.median(values[base])  # measured once

    for label, target, base, goal in COMPARISONS:
        ratio = ratio_of(rps, target, base)
        met = None if goal is None else ratio >= goal
        verdict = "" if goal is None else f"≥ {goal}× — {'met' if met else 'MISSED'} ({ratio:.3f}×)"
        print(f"{label:<38} {ratio:>6.2f} {ratio_of(speed, target, base):>7.2f}  {verdict}")
        rows.append(Row(f"{label} ({args.connections} conn)", round(med(target, "rps"), 1), "req/s",
                        "bare Tornado", round(ratio, 3), None if goal is None else f"≥ {goal}× bare", met))
        rows.append(Row(f"{label}: p99", round(med(target, "p99_ms"), 2), "ms", "bare Tornado p99",
                        round(med(target, "p99_ms") / max(med(base, "p99_ms"), 1e-9), 2)))
    print()
    for label, target, base in OVERHEADS:
        ratio = paired(rps, target, base)
        cost = statistics.median(t - b for t, b in zip(cpu_us[target], cpu_us[base], strict=True))
        print(f"{label}: {ratio:.2f}× the throughput, {cost:+.0f} µs CPU per request")
        rows.append(Row(label, round(med(target, "rps"), 1), "req/s", "the same without it", round(ratio, 3)))
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve", help="(internal) run one server and print its port")
    child.add_argument("kind", choices=SERVERS)
    child.add_argument("--database-url")
    child.add_argument("--answers")
    parser.add_argument("--database-url", default=os.environ.get(
        "FACTORY_BENCH_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1:3306/factory_bench"),
        help="MariaDB URL; used as it is when it holds orders, else created and seeded "
             "(default: factory_bench)")
    parser.add_argument("--seed-size", type=int, default=50,
                        help="server.py seed --size for an empty database (default 50: 12,500 orders)")
    parser.add_argument("--orders-page", type=int, default=500,
                        help="first page of /orders walked by the uncached workload (default 500)")
    add_load_arguments(parser, connections=32, seconds=3.0, rounds=4)  # 4 rounds: about 3 minutes
    add_rows_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args))
        return 0
    args.server_cpu = None if args.server_cpu < 0 else args.server_cpu
    args.load_cpu = None if args.load_cpu < 0 else args.load_cpu
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
