"""Shop floor: uncached GET /lines/status on 20 lines and 1M production records, and line.status latency.

- status: `GET /lines/status` with the response cache off (FACTORY_CACHE_TTL=0), one request at a
  time over a kept-alive connection, on a MariaDB database of 20 lines, three 8-hour shifts, a
  year of production records (1,000,000 by default), today's plan and stops. Target: < 30 ms.
- event: 1,000 idle subscribers hold the `lines` topic (filtered to a line that never changes)
  while one more subscribes to every line; each sample posts a production record on one line (at
  least 1.1 s after that line's last, so coalescing never delays it) and times, from just before
  the POST is sent, the arrival of that line's `line.status` showing the record. Target: p99 < 50 ms.

    .venv/bin/python bench/line_status.py                   # about 3-5 minutes at 1M rows
    .venv/bin/python bench/line_status.py --records 100000 --samples 60 --requests 100

The server is `python server.py` as an operator runs it. The bench creates a database of its own
next to `--database-url` and drops it at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tornado.httpclient
import tornado.websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench.cluster import PASSWORD, SECRET, UNLIMITED, Server  # noqa: E402
from bench.common import Row, add_rows_argument, write_rows  # noqa: E402
from core.db import Database  # noqa: E402
from services.exchange.bulk import BulkWriter  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402

LINES = 20
SHIFTS = (("early", 6), ("late", 14), ("night", 22))
PRODUCTS = 40
EMPLOYEES = 60
RECORD_COLUMNS = ("id", "product_id", "employee_id", "quantity_produced", "quantity_defective",
                  "date_produced", "line", "shift", "planned_minutes", "downtime_minutes", "created_at",
                  "updated_at")
COLUMNS = {"production_records": RECORD_COLUMNS}
TEXT_COLUMNS = {"date_produced", "line", "shift", "created_at", "updated_at"}
IDLE_LINE = "IDLE"  # the idle subscribers' filter: a line no event names


def line_code(n: int) -> str:
    return f"L{n + 1:02d}"


async def fill(url: str, rows: int) -> None:
    """Lines, shifts, products, employees, `rows` production records over a year, today's plan, stops."""
    db = Database(url, timeout=30)
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    today = now.date()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO `lines` (code, name, active, created_at, updated_at) VALUES " + ", ".join(
                    f"('{line_code(n)}', 'Line {n + 1}', 1, '{stamp}', '{stamp}')" for n in range(LINES))))
            await conn.execute(text(
                "INSERT INTO shifts (name, starts_at, ends_at, break_minutes, days, created_at, updated_at) "
                "VALUES " + ", ".join(
                    f"('{name}', '{hour:02d}:00', '{(hour + 8) % 24:02d}:00', 30, "
                    f"'mon,tue,wed,thu,fri,sat,sun', '{stamp}', '{stamp}')" for name, hour in SHIFTS)))
            await conn.execute(text(
                "INSERT INTO products (id, sku, name, price, stock_quantity, reorder_level, "
                "ideal_cycle_seconds, created_at, updated_at) VALUES " + ", ".join(
                    f"({n + 1}, 'B-{n + 1}', 'Part {n + 1}', 10.00, 0, 0, {20 + n}, '{stamp}', '{stamp}')"
                    for n in range(PRODUCTS))))
            await conn.execute(text(
                "INSERT INTO employees (id, name, position, email, phone, created_at, updated_at) VALUES "
                + ", ".join(f"({n + 1}, 'Op {n + 1}', 'Operator', 'op{n + 1}@example.com', "
                            f"'+4930{1000000 + n}', '{stamp}', '{stamp}')" for n in range(EMPLOYEES))))
            for n in range(LINES):
                for name, _ in SHIFTS:
                    await conn.execute(text(
                        "INSERT INTO work_orders (product_id, line, shift, date, planned_quantity, status, "
                        f"created_at, updated_at) VALUES ({n % PRODUCTS + 1}, '{line_code(n)}', '{name}', "
                        f"'{today}', 900, 'released', '{stamp}', '{stamp}')"))
            for n in range(0, LINES, 4):  # a closed stop an hour ago on every fourth line
                begun = now - timedelta(minutes=70)
                await conn.execute(text(
                    "INSERT INTO stops (line, reason, started_at, ended_at, note, reported_by, created_at, "
                    f"updated_at) VALUES ('{line_code(n)}', 'changeover', '{begun}', "
                    f"'{begun + timedelta(minutes=15)}', NULL, 'bench', '{stamp}', '{stamp}')"))
        rng = random.Random(14)
        days = 365
        async with BulkWriter(db, COLUMNS, TEXT_COLUMNS) as writer:
            batch: list[tuple] = []
            for record_id in range(1, rows + 1):
                day = today - timedelta(days=int(rng.random() * days))
                line = int(rng.random() * LINES)
                produced = 20 + int(rng.random() * 200)
                batch.append((record_id, line % PRODUCTS + 1, int(rng.random() * EMPLOYEES) + 1, produced,
                              int(produced * rng.random() * 0.05), str(day), line_code(line),
                              SHIFTS[int(rng.random() * 3)][0], 480, int(rng.random() * 60), stamp, stamp))
                if len(batch) >= 20000:
                    await writer.insert("production_records", batch)
                    batch = []
            if batch:
                await writer.insert("production_records", batch)
    finally:
        await db.dispose()


async def time_status(url: str, token: str, requests: int) -> list[float]:
    """Milliseconds per GET /lines/status, one at a time (after 10 to warm up)."""
    client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
    headers = {"Authorization": f"Bearer {token}"}
    timings = []
    try:
        for n in range(requests + 10):
            started = time.perf_counter()
            response = await client.fetch(url + "/lines/status", headers=headers)
            took = (time.perf_counter() - started) * 1000
            assert response.code == 200 and len(json.loads(response.body)["items"]) == LINES
            assert response.headers.get("X-Cache") in (None, "miss")
            if n >= 10:
                timings.append(took)
    finally:
        client.close()
    return timings


async def subscriber(ws_url: str, token: str, filters: dict[str, Any] | None) -> Any:
    conn = await tornado.websocket.websocket_connect(f"{ws_url}?token={token}")
    message: dict[str, Any] = {"type": "subscribe", "topics": ["lines"]}
    if filters:
        message["filters"] = filters
    await conn.write_message(json.dumps(message))
    reply = json.loads(await conn.read_message())
    assert reply["type"] == "subscribed", reply
    return conn


async def time_events(url: str, token: str, idle: int, samples: int) -> list[float]:
    """Milliseconds from sending a record's POST to its line's line.status arriving."""
    ws_url = url.replace("http://", "ws://") + "/ws"
    idlers = [await subscriber(ws_url, token, {"line": IDLE_LINE}) for _ in range(idle)]
    watcher = await subscriber(ws_url, token, None)
    arrivals: dict[tuple[str, int], float] = {}

    async def listen() -> None:
        while (text := await watcher.read_message()) is not None:
            message = json.loads(text)
            if message.get("event") == "line.status":
                data = message["data"]
                arrivals.setdefault((data["line"], data["plan"]["good"]), time.perf_counter())

    listening = asyncio.ensure_future(listen())
    good = {line_code(n): (await current_good(url, token, line_code(n))) for n in range(LINES)}
    last_post: dict[str, float] = {}
    current = await fetch_json(url, "/shifts/current", token)
    latencies = []
    try:
        for n in range(samples):
            code = line_code(n % LINES)
            wait = last_post.get(code, 0) + 1.1 - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            body = {"product_id": n % LINES % PRODUCTS + 1, "employee_id": 1, "line": code,
                    "shift": current["current"]["shift"], "date_produced": current["current"]["date"],
                    "quantity_produced": 3, "quantity_defective": 0}
            good[code] += 3
            sent = time.perf_counter()
            last_post[code] = sent
            await fetch_json(url, "/production", token, body)
            deadline = sent + 10
            while (code, good[code]) not in arrivals and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if (code, good[code]) not in arrivals:
                raise RuntimeError(f"no line.status for {code} with good {good[code]}")
            latencies.append((arrivals[(code, good[code])] - sent) * 1000)
    finally:
        listening.cancel()
        watcher.close()
        for conn in idlers:
            conn.close()
    return latencies


async def fetch_json(url: str, path: str, token: str, body: Any = None) -> Any:
    client = tornado.httpclient.AsyncHTTPClient()
    response = await client.fetch(url + path, method="POST" if body is not None else "GET",
                                  body=json.dumps(body) if body is not None else None,
                                  headers={"Authorization": f"Bearer {token}",
                                           "Content-Type": "application/json"})
    return json.loads(response.body)


async def current_good(url: str, token: str, code: str) -> int:
    items = (await fetch_json(url, "/lines/status", token))["items"]
    return next(item["plan"]["good"] for item in items if item["line"] == code)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(database_url: str, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="factory-line-status-") as folder:
        env = {"FACTORY_DATABASE_URL": database_url, "FACTORY_JWT_SECRET": SECRET,
               "FACTORY_ADMIN_PASSWORD": PASSWORD, "FACTORY_RATE_LIMITS": UNLIMITED, "FACTORY_CACHE_TTL": "0",
               # 1,000 idle subscribers from one user and address: past the default link caps.
               "FACTORY_WS_MAX_PER_USER": "1000000", "FACTORY_WS_MAX_PER_ADDRESS": "1000000"}
        server = Server("app", Path(folder), env)
        try:
            await server.ready()
            login = await fetch_json_public(server.url, {"username": "admin", "password": PASSWORD})
            token = login["access_token"]
            status = await time_status(server.url, token, args.requests)
            events = await time_events(server.url, token, args.idle, args.samples)
        finally:
            server.stop()
    return {"status_p50": statistics.median(status), "status_p99": quantile(status, 0.99),
            "event_p50": statistics.median(events), "event_p99": quantile(events, 0.99),
            "event_max": max(events)}


async def fetch_json_public(url: str, body: Any) -> Any:
    client = tornado.httpclient.AsyncHTTPClient()
    response = await client.fetch(url + "/auth/login", method="POST", body=json.dumps(body),
                                  headers={"Content-Type": "application/json"})
    return json.loads(response.body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/factory_bench")
    parser.add_argument("--records", type=int, default=1_000_000, help="production records (default 1M)")
    parser.add_argument("--requests", type=int, default=300, help="timed GET /lines/status requests")
    parser.add_argument("--idle", type=int, default=1000, help="idle subscribers on topic lines")
    parser.add_argument("--samples", type=int, default=200, help="timed line.status events")
    add_rows_argument(parser)
    args = parser.parse_args(argv)
    with mariadb_database(args.database_url, "factory_bench_lines") as url:
        started = time.perf_counter()
        asyncio.run(fill(url, args.records))
        took = time.perf_counter() - started
        print(f"filled {args.records:,} production records on {LINES} lines in {took:.1f} s", flush=True)
        result = asyncio.run(measure(url, args))
    print(f"GET /lines/status uncached ({LINES} lines, {args.records:,} records): "
          f"p50 {result['status_p50']:.1f} ms, p99 {result['status_p99']:.1f} ms (target < 30 ms)")
    print(f"line.status after a record, beside {args.idle:,} idle subscribers: "
          f"p50 {result['event_p50']:.1f} ms, p99 {result['event_p99']:.1f} ms, "
          f"max {result['event_max']:.1f} ms (target p99 < 50 ms)")
    rows = [Row(f"GET /lines/status, uncached, {LINES} lines, {args.records:,} records",
                result["status_p50"], "ms p50", target="< 30 ms", met=result["status_p50"] < 30),
            Row(f"line.status after a record, {args.idle:,} idle subscribers", result["event_p99"], "ms p99",
                target="< 50 ms", met=result["event_p99"] < 50)]
    write_rows(args.rows, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
