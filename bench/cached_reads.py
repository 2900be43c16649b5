"""Cached `GET /products` against a bare Tornado handler serving the same JSON bytes, in one run.

Four servers, each one process pinned to the same core, while the load generator (wrk, or the
asyncio generator in bench/common.py) runs on the other core:

- bare:         a plain tornado.web.RequestHandler that finishes with the very bytes the app sent;
- cached:       the application as configured in production (auth, rate limiter, response cache);
- no limiter:   the same with `ctx.limiter = None`, to price the limiter;
- uncached:     the same with the cache off (FACTORY_CACHE_TTL=0), for reference.

Targets are measured in interleaved rounds (bare, cached, no limiter, uncached; then rotated), and
each ratio is the median of the per-round ratios, so a neighbour's burst on this shared machine
moves both sides of a pair. CPU time per request (from /proc) is printed beside throughput: it
counts only what the server itself burned, whatever else the machine is doing.

    .venv/bin/python bench/cached_reads.py                     # SQLite in a temporary folder
    .venv/bin/python bench/cached_reads.py --database-url mysql+aiomysql://root@127.0.0.1:3306/factory
    .venv/bin/python bench/cached_reads.py --rounds 5 --seconds 10 --connections 64 --load python

On MariaDB the bench creates a database of its own next to the one named and drops it at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import bootstrap_admin, build_context, make_app  # noqa: E402
from bench.common import (  # noqa: E402
    LoadResult,
    ServerProcess,
    add_load_arguments,
    announce_port,
    have_wrk,
    run_load,
)
from core import migrate  # noqa: E402
from core.config import Settings  # noqa: E402
from core.logs import setup_logging  # noqa: E402
from services.catalog.products import ProductService  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402

PASSWORD = "bench-admin-password"
SECRET = "bench-secret-" + "x" * 40
# Budgets no run can exhaust: the limiter does all its work but never refuses.
UNLIMITED = "login=1000/60,read=1000000000/60,write=1000000000/60,analytics=1000000000/60"
TARGETS = ("bare", "cached", "no limiter", "uncached")


# -- the servers (run as child processes: `cached_reads.py serve …`) ----------------------------

class BareJsonHandler(tornado.web.RequestHandler):
    """Tornado with nothing of ours: the same bytes and content type, no auth, no cache."""

    def initialize(self, body: bytes) -> None:
        self.body = body

    def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(self.body)


def bench_settings(database_url: str, *, cache_ttl: float = 3600.0) -> Settings:
    return Settings(database_url=database_url, jwt_secret=SECRET, admin_password=PASSWORD,
                    rate_limits=UNLIMITED, cache_ttl=cache_ttl, log_dir=str(Path(tempfile.gettempdir())
                                                                          / "factory-bench-logs"))


async def serve(args: argparse.Namespace) -> None:
    if args.access_log:
        setup_logging(bench_settings(args.database_url).log_dir, to_stderr=False)
    if args.kind == "bare":
        app: Any = tornado.web.Application([(r"/products", BareJsonHandler,
                                             {"body": Path(args.body_file).read_bytes()})])
    else:
        app = make_app(bench_settings(args.database_url, cache_ttl=0 if args.kind == "uncached" else 3600))
        if args.kind == "no limiter":
            app.ctx.limiter = None
        await app.start()
    await listen(app)


async def listen(app: tornado.web.Application) -> None:
    """Serve `app` on a free loopback port, tell the parent which, and run until terminated."""
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    announce_port(sockets[0].getsockname()[1])
    await asyncio.Event().wait()  # until the parent terminates us


# -- the database ----------------------------------------------------------------------------------

def prepare_database(url: str | None, folder: Path) -> tuple[str, Callable[[], None]]:
    """A fresh, migrated database; returns its URL and a function that removes it."""
    if not url or url.startswith("sqlite"):
        fresh = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        migrate.upgrade(fresh)
        return fresh, lambda: None
    stack = ExitStack()
    fresh = stack.enter_context(mariadb_database(url, f"{make_url(url).database or 'factory'}_bench"))
    return fresh, stack.close


async def seed_products(database_url: str, count: int) -> None:
    """The bootstrap admin and `count` products, through the same service the API uses."""
    ctx = build_context(bench_settings(database_url))
    try:
        await bootstrap_admin(ctx)
        service = ProductService()
        async with ctx.db.write() as uow:
            for n in range(1, count + 1):
                await service.create(uow, {
                    "sku": f"BENCH-{n:05d}", "name": f"Bench product {n}",
                    "description": "A product for the cached-read benchmark.", "price": f"{n % 97 + 1}.50",
                    "stock_quantity": 0, "reorder_level": 5, "ideal_cycle_seconds": None})
    finally:
        await ctx.db.dispose()


# -- the driver ------------------------------------------------------------------------------------

async def fetch(url: str, headers: dict[str, str] | None = None, body: str | None = None,
                method: str = "GET") -> tornado.httpclient.HTTPResponse:
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    try:
        return await client.fetch(url, method=method, headers=headers, body=body)
    finally:
        client.close()


async def sign_in(base_url: str, username: str = "admin", password: str = PASSWORD) -> str:
    response = await fetch(f"{base_url}/auth/login", method="POST",
                           body=json.dumps({"username": username, "password": password}),
                           headers={"Content-Type": "application/json"})
    return json.loads(response.body)["access_token"]


def median(results: list[LoadResult], field: str) -> float:
    return statistics.median(getattr(r, field) for r in results)


def paired(results: dict[str, list[float]], target: str, base: str) -> float:
    """Median over rounds of target/base, each pair measured minutes apart at most."""
    ratios = [t / b for t, b in zip(results[target], results[base], strict=True) if b]
    return statistics.median(ratios or [0.0])


def report(results: dict[str, list[LoadResult]], cpu_us: dict[str, list[float]], args: argparse.Namespace,
           tool: str, database: str, body_size: int) -> None:
    """Throughput and latency as measured, and CPU per request (less sensitive to a busy neighbour).

    Ratios are medians of per-round ratios: a neighbour's burst in one round moves both sides of
    that round's pair, not the whole comparison.
    """
    rps = {target: [r.rps for r in runs] for target, runs in results.items()}
    cpu_speed = {target: [1 / us for us in values] for target, values in cpu_us.items()}
    print(f"\nGET /products?per_page={args.per_page} ({body_size} bytes of JSON), {database}, "
          f"{args.connections} connections, {args.rounds} rounds × {args.seconds:g} s, load: {tool}\n")
    print(f"{'target':<11} {'req/s':>7} {'×bare':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'CPU µs/req':>10} {'×bare':>6}  req/s per round")
    for target in TARGETS:
        runs = results[target]
        print(f"{target:<11} {median(runs, 'rps'):>7.0f} {paired(rps, target, 'bare'):>6.2f} "
              f"{median(runs, 'p50_ms'):>7.2f} {median(runs, 'p99_ms'):>7.2f} "
              f"{sum(r.errors for r in runs):>6} {statistics.median(cpu_us[target]):>10.0f} "
              f"{paired(cpu_speed, target, 'bare'):>6.2f}  " + " ".join(f"{r.rps:.0f}" for r in runs))
    cpu_cost = statistics.median(c - u for c, u in zip(cpu_us["cached"], cpu_us["no limiter"], strict=True))
    print(f"\nlimiter: {paired(rps, 'cached', 'no limiter'):.2f}× the throughput without it; "
          f"{cpu_cost:+.0f} µs of CPU per request")
    ratio = paired(rps, "cached", "bare")
    verdict = "met" if ratio >= 0.7 else "MISSED"
    print(f"target cached ≥ 0.7 × bare throughput: {ratio:.2f}× — {verdict} "
          f"(by CPU per request: {paired(cpu_speed, 'cached', 'bare'):.2f}×)")


def drive(args: argparse.Namespace) -> int:
    tool = args.load if args.load != "auto" else ("wrk" if have_wrk() else "python")
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as tmp:
        folder = Path(tmp)
        database_url, drop = prepare_database(args.database_url, folder)
        servers: dict[str, ServerProcess] = {}
        try:
            asyncio.run(seed_products(database_url, args.products))
            me = str(Path(__file__).resolve())
            common = ["--database-url", database_url] + (["--access-log"] if args.access_log else [])
            for kind in ("cached", "no limiter", "uncached"):
                servers[kind] = ServerProcess(kind, [me, "serve", kind, *common], cpu=args.server_cpu)
            token = asyncio.run(sign_in(servers["cached"].url))
            path = f"/products?per_page={args.per_page}"
            auth = {"Authorization": f"Bearer {token}"}
            sample = asyncio.run(fetch(servers["cached"].url + path, auth))
            body_file = folder / "body.json"
            body_file.write_bytes(sample.body)
            servers["bare"] = ServerProcess("bare", [me, "serve", "bare", "--body-file", str(body_file)],
                                            cpu=args.server_cpu)
            bare_body = asyncio.run(fetch(servers["bare"].url + "/products")).body
            assert bare_body == sample.body, "the bare handler must send the very same bytes"
            headers = {"bare": {}, "cached": auth, "no limiter": auth, "uncached": auth}
            for target in TARGETS:  # warm up: JIT-free Python still has caches, pools and sessions
                run_load(servers[target].url + path, connections=args.connections, seconds=1,
                         headers=headers[target], tool=tool, cpu=args.load_cpu)
            probe = asyncio.run(fetch(servers["cached"].url + path, auth))
            assert probe.headers.get("X-Cache") == "hit", "the cached target must answer from the cache"
            results: dict[str, list[LoadResult]] = {target: [] for target in TARGETS}
            cpu_us: dict[str, list[float]] = {target: [] for target in TARGETS}
            for round_number in range(args.rounds):
                order = TARGETS[round_number % len(TARGETS):] + TARGETS[:round_number % len(TARGETS)]
                for target in order:
                    used = servers[target].cpu_seconds()
                    result = run_load(servers[target].url + path, connections=args.connections,
                                      seconds=args.seconds, headers=headers[target], tool=tool,
                                      cpu=args.load_cpu)
                    used = servers[target].cpu_seconds() - used
                    results[target].append(result)
                    cpu_us[target].append(used / max(1, result.requests) * 1e6)
            database = "SQLite" if database_url.startswith("sqlite") else "MariaDB"
            report(results, cpu_us, args, tool, database, len(sample.body))
        finally:
            for server in servers.values():
                server.stop()
            drop()
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve", help="(internal) run one server and print its port")
    child.add_argument("kind", choices=TARGETS)
    child.add_argument("--database-url")
    child.add_argument("--body-file")
    child.add_argument("--access-log", action="store_true")
    parser.add_argument("--database-url", default=os.environ.get("FACTORY_BENCH_DATABASE_URL"),
                        help="SQLAlchemy URL; MariaDB gets a throw-away database beside it "
                             "(default: SQLite in a temporary folder)")
    parser.add_argument("--products", type=int, default=200, help="products seeded (default 200)")
    parser.add_argument("--per-page", type=int, default=20, help="page size requested (default 20)")
    add_load_arguments(parser, connections=32, seconds=4.0, rounds=6)
    parser.add_argument("--access-log", action="store_true",
                        help="write the access log to a file in every server, as server.py does")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command != "serve":
        args.server_cpu = None if args.server_cpu < 0 else args.server_cpu
        args.load_cpu = None if args.load_cpu < 0 else args.load_cpu
    if args.command == "serve":
        asyncio.run(serve(args))
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
