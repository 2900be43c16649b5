"""POST /orders and POST /production through the server vs the database's floor.

    .venv/bin/python bench/write_path.py \
        [--database-url mysql+aiomysql://root@127.0.0.1:3306/factory_bench_writes]

Creates the database (dropped at the end) with the bench's customer, product, employee and user.
A capturing server (one process) records the SQL statements and parameters it sends through
aiomysql for one order and one production record, transaction by transaction. The floor replays
exactly those statements, with those parameters, through aiomysql directly, one transaction per
request, with as many connections as the HTTP load has (every statement of the request, including
the sign-in check, goes into that one transaction). The app and the floor are measured in
interleaved rounds, and the rows report writes/s for each and the ratio app ÷ floor (target ≥ 0.5×).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiomysql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import make_app  # noqa: E402
from bench.cached_reads import bench_settings, fetch, listen, sign_in  # noqa: E402
from bench.common import Row, ServerProcess, add_load_arguments, add_rows_argument, run_load, write_rows  # noqa: E402
from bench.http_paths import USER_PASSWORD, add_fixtures  # noqa: E402
from core import migrate  # noqa: E402
from tests.databases import run_sql  # noqa: E402

DEFAULT_URL = "mysql+aiomysql://root@127.0.0.1:3306/factory_bench_writes"
JSON = {"Content-Type": "application/json"}


def _line(entry: dict[str, Any]) -> str:
    """One capture entry as a line; pickled, so every parameter replays as the type it was."""
    return base64.b64encode(pickle.dumps(entry)).decode() + "\n"


async def serve(args: argparse.Namespace) -> None:
    app = make_app(bench_settings(args.database_url, cache_ttl=0))
    if args.capture:
        out = Path(args.capture).open("a", encoding="utf-8")
        # At the driver, below SQLAlchemy: the hot writes send prepared statements straight through
        # aiomysql (core/statements.py), and the floor must replay exactly what reached the server.
        execute, executemany = aiomysql.Cursor.execute, aiomysql.Cursor.executemany

        inside_many = False  # executemany may run execute per row: record the call once

        def record(sql: str | bytes, params: Any, many: bool) -> None:
            sql = sql.decode() if isinstance(sql, (bytes, bytearray)) else sql
            params = [list(p) for p in params] if many else list(params or ())
            out.write(_line({"sql": sql, "params": params, "many": many}))
            out.flush()

        async def recorded_execute(self: Any, query: str, args: Any = None) -> Any:
            if not inside_many:
                record(query, args, False)
            return await execute(self, query, args)

        async def recorded_executemany(self: Any, query: str, args: Any) -> Any:
            nonlocal inside_many
            record(query, args, True)
            inside_many = True
            try:
                return await executemany(self, query, args)
            finally:
                inside_many = False

        aiomysql.Cursor.execute, aiomysql.Cursor.executemany = recorded_execute, recorded_executemany
    await app.start()
    await listen(app)


def requests(capture: Path) -> list[list[dict[str, Any]]]:
    """The captured statements, one list per request (the driver marks where each request ended)."""
    groups: list[list[dict[str, Any]]] = [[]]
    for line in capture.read_text(encoding="utf-8").splitlines():
        entry = pickle.loads(base64.b64decode(line))  # noqa: S301 - our own capture file
        if entry.get("end"):
            groups.append([])
        elif " webhooks" not in entry["sql"]:  # the delivery worker's polls, not the request's
            groups[-1].append(entry)
    return [g for g in groups if g]


def the_write(groups: list[list[dict[str, Any]]], table: str) -> list[dict[str, Any]]:
    """Every statement of the (last) request that inserted into `table`."""
    found = [g for g in groups if any(s["sql"].lstrip().upper().startswith(f"INSERT INTO {table.upper()} ")
                                      for s in g)]
    if not found:
        raise RuntimeError(f"no captured request inserts into {table}")
    return found[-1]


async def floor(url: str, statements: list[dict[str, Any]], connections: int, seconds: float) -> float:
    """Transactions/s replaying `statements` through aiomysql, one transaction per request."""
    u = make_url(url)
    pool = await aiomysql.create_pool(host=u.host, port=u.port or 3306, user=u.username,
                                      password=u.password or "", db=u.database, minsize=connections,
                                      maxsize=connections, autocommit=False)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                await conn.begin()
                async with conn.cursor() as cur:
                    for s in statements:
                        if s["many"]:
                            await cur.executemany(s["sql"], s["params"])
                        else:
                            await cur.execute(s["sql"], s["params"] or None)
                        await cur.fetchall()
                await conn.commit()
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    pool.close()
    await pool.wait_closed()
    return done / elapsed


async def post(base: str, path: str, body: str, auth: dict[str, str], capture: Path) -> None:
    """POST once and mark in the capture where the request's statements end."""
    response = await fetch(base + path, method="POST", body=body, headers={**JSON, **auth})
    if response.code != 201:
        raise RuntimeError(f"POST {path} answered {response.code}: {response.body[:200]!r}")
    with capture.open("a", encoding="utf-8") as out:
        out.write(_line({"end": path}))


def drive(args: argparse.Namespace) -> int:
    url = args.database_url
    base = make_url(url)
    admin = base.set(database="")
    asyncio.run(run_sql(admin, f"DROP DATABASE IF EXISTS `{base.database}`"))
    asyncio.run(run_sql(admin, f"CREATE DATABASE `{base.database}` "
                               "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    server: ServerProcess | None = None
    try:
        migrate.upgrade(url)
        fx = asyncio.run(add_fixtures(url))
        order = json.dumps({"customer_id": fx.customer_id,
                            "items": [{"product_id": fx.product_id, "quantity": 2}]})
        record = json.dumps({"product_id": fx.product_id, "employee_id": fx.employee_id,
                             "quantity_produced": 10, "quantity_defective": 1, "date_produced": "2026-11-26"})
        me = str(Path(__file__).resolve())
        capture = Path(f"/tmp/factory-bench-writes-{time.time_ns()}.capture")
        server = ServerProcess("capture", [me, "serve", "--database-url", url, "--capture", str(capture)])
        token = asyncio.run(sign_in(server.url, fx.user, USER_PASSWORD))
        auth = {"Authorization": f"Bearer {token}"}
        capture.write_text("")
        # Warm up once (first-use reads), then capture the steady-state request.
        for _ in range(2):
            asyncio.run(post(server.url, "/production", record, auth, capture))
            asyncio.run(post(server.url, "/orders", order, auth, capture))
        server.stop()
        groups = requests(capture)
        capture.unlink()
        sql = {"orders": the_write(groups, "orders"), "production": the_write(groups, "production_records")}
        for name, statements in sql.items():
            print(f"-- POST /{name}: {len(statements)} statements per request", flush=True)
            for s in statements:
                print("   ", " ".join(s["sql"].split())[:150], flush=True)
        server = ServerProcess("app", [me, "serve", "--database-url", url], cpu=args.server_cpu)
        paths = {"orders": ("/orders", order), "production": ("/production", record)}
        app_rate: dict[str, list[float]] = {n: [] for n in sql}
        app_cpu: dict[str, list[float]] = {n: [] for n in sql}
        floor_rate: dict[str, list[float]] = {n: [] for n in sql}
        for n in sql:  # warm-up
            run_load(server.url + paths[n][0], connections=args.connections, seconds=1,
                     headers={**JSON, **auth}, method="POST", body=paths[n][1], cpu=args.load_cpu)
            asyncio.run(floor(url, sql[n], args.connections, 1))
        for _ in range(args.rounds):
            for n in sql:
                cpu0 = server.cpu_seconds()
                result = run_load(server.url + paths[n][0], connections=args.connections,
                                  seconds=args.seconds, headers={**JSON, **auth}, method="POST",
                                  body=paths[n][1], cpu=args.load_cpu)
                if result.errors:
                    raise RuntimeError(f"POST {paths[n][0]}: {result.errors} errors")
                app_rate[n].append(result.rps)
                app_cpu[n].append((server.cpu_seconds() - cpu0) / max(result.requests, 1) * 1e6)
                floor_rate[n].append(asyncio.run(floor(url, sql[n], args.connections, args.seconds)))
        rows = []
        print(f"\n{'workload':<22}{'app w/s':>10}{'floor w/s':>11}{'ratio':>8}{'app CPU µs/req':>16}")
        for n in sql:
            ratios = [a / f for a, f in zip(app_rate[n], floor_rate[n], strict=True)]
            a, f = statistics.median(app_rate[n]), statistics.median(floor_rate[n])
            r = statistics.median(ratios)
            cpu = statistics.median(app_cpu[n])
            print(f"POST {paths[n][0]:<17}{a:>10.1f}{f:>11.1f}{r:>8.3f}{cpu:>16.0f}")
            rows.append(Row(f"POST {paths[n][0]} vs aiomysql floor ({args.connections} conn)", round(a, 1),
                            "writes/s", "its SQL through aiomysql, one transaction each", round(r, 3),
                            "≥ 0.5× floor", r >= 0.5))
        write_rows(args.rows, rows)
    finally:
        if server is not None:
            server.stop()
        asyncio.run(run_sql(admin, f"DROP DATABASE IF EXISTS `{base.database}`"))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    s = sub.add_parser("serve")
    s.add_argument("--database-url", required=True)
    s.add_argument("--capture")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    add_load_arguments(parser, connections=8, seconds=3.0, rounds=3, generator=False)
    add_rows_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args))
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
