"""Webhooks: outbox delivery throughput to a local receiver, and what two endpoints add to a write.

Starts `python server.py` (SQLite in a temporary folder, or --database-url) with
FACTORY_WEBHOOK_ALLOW_PRIVATE=1, and a receiver process (a bare Tornado app answering 200 and
counting). Then:

- write cost: POST /orders under load (bench/common.py's load generator) in interleaved rounds with
  both endpoints paused and with both active — requests/s, p50, and the server's CPU per write
  (process CPU time, which busy neighbours do not inflate). With endpoints active the same server
  process also delivers every order twice, so its CPU per write includes the deliveries;
- delivery throughput: with the endpoints paused, `--events` order events are written into the
  outbox (straight into the table, one transaction: as committed orders leave them); one endpoint
  is re-enabled and the time until the receiver has them all gives events per second (one
  endpoint is delivered in order, one POST at a time);
- the reference beside it: the receiver's raw rate, the same number of POSTs of a body of the same
  size sent one at a time, in order, over one kept-alive connection (aiohttp) from this process,
  just before and just after the delivery run — what an endpoint could take at most; the ratio
  says how much of it delivery reaches.

    .venv/bin/python bench/webhooks.py
    .venv/bin/python bench/webhooks.py --database-url mysql+aiomysql://root@127.0.0.1:3306/factory
    (on MariaDB it works in a new database beside the one named, and drops it at the end)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import ServerProcess as Child  # noqa: E402
from bench.common import announce_port, run_load  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402
from tests.servers import ServerProcess, free_port, server_env  # noqa: E402

PASSWORD = "bench-admin-pass-123"
NO_LIMITS = "login=1000/60,read=10000000/60,write=10000000/60,analytics=1000000/60"


def serve_receiver() -> None:
    """The receiver child: 200 to every POST, GET /count says how many arrived."""
    import tornado.ioloop
    import tornado.web

    count = [0]

    class Hook(tornado.web.RequestHandler):
        def post(self) -> None:
            count[0] += 1
            self.finish("ok")

        def get(self) -> None:
            self.finish(str(count[0]))

    port = free_port()
    tornado.web.Application([(r"/hook", Hook)]).listen(port, "127.0.0.1")
    announce_port(port)
    tornado.ioloop.IOLoop.current().start()


def call(base: str, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
    return json.loads(text) if text else None


def received(receiver: Child) -> int:
    with urllib.request.urlopen(f"{receiver.url}/hook", timeout=10) as response:
        return int(response.read())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def set_active(base: str, token: str, hooks: list[int], active: bool) -> None:
    for ident in hooks:
        call(base, "PATCH", f"/webhooks/{ident}", token, {"active": active})


def wait_drained(receiver: Child, target: int, timeout: float = 600) -> float:
    """Seconds until the receiver has `target` deliveries."""
    started = time.monotonic()
    while received(receiver) < target:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {received(receiver)} of {target} delivered")
        time.sleep(0.05)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--events", type=int, default=5000,
                        help="outbox events piled up for the throughput run")
    args = parser.parse_args(argv)

    receiver = Child("receiver", [str(Path(__file__).resolve()), "receiver"])
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        work = Path(folder)
        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        if args.database_url:  # a throwaway database beside the one named, dropped at the end
            url = stack.enter_context(mariadb_database(args.database_url, "factory_webhook_bench"))
        env = server_env(work, url, FACTORY_WEBHOOK_ALLOW_PRIVATE="1", FACTORY_RATE_LIMITS=NO_LIMITS,
                         FACTORY_ADMIN_PASSWORD=PASSWORD, FACTORY_LOG_DIR=str(work / "logs"))
        server = ServerProcess(work, env)
        try:
            import asyncio
            asyncio.run(server.wait_ready())
            report = measure(server.base_url, server.proc.pid, receiver, args, url)
        finally:
            server.stop()
            receiver.stop()
    print(json.dumps(report, indent=2))
    return 0


def measure(base: str, pid: int, receiver: Child, args: argparse.Namespace, url: str) -> dict[str, Any]:
    login = call(base, "POST", "/auth/login", body={"username": "admin", "password": PASSWORD})
    token = login["access_token"]
    customer = call(base, "POST", "/customers", token, {"name": "Bench", "email": "bench@example.com",
                                                        "phone": "+4930999999"})
    product = call(base, "POST", "/products", token, {"sku": "BENCH-1", "name": "Bench", "price": "1.00",
                                                      "stock_quantity": 0, "reorder_level": 0})
    hooks = [call(base, "POST", "/webhooks", token, {"url": f"{receiver.url}/hook", "topics": ["orders"],
                                                     "active": False})["id"] for _ in range(2)]
    body = json.dumps({"customer_id": customer["id"], "product_id": product["id"], "quantity": 1})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def write(active: bool) -> tuple[float, float, float]:
        set_active(base, token, hooks, active)
        before_cpu, before = cpu_seconds(pid), received(receiver)
        result = run_load(f"{base}/orders", connections=args.connections, seconds=args.seconds,
                          headers=headers, method="POST", body=body)
        if active:  # the deliveries of these writes are part of their cost
            wait_drained(receiver, before + 2 * result.requests)
        cpu_ms = (cpu_seconds(pid) - before_cpu) * 1000 / max(1, result.requests)
        return result.rps, result.p50_ms, cpu_ms

    runs: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for n in range(args.rounds):
        for active in ((False, True) if n % 2 == 0 else (True, False)):
            runs[active].append(write(active))

    set_active(base, token, hooks, False)
    body = sample_body(base, token)
    events = backlog(url, args.events, json.loads(body)["data"])
    import asyncio
    raw_before = asyncio.run(raw_rate(f"{receiver.url}/hook", args.events, body))
    start = received(receiver)
    set_active(base, token, hooks[:1], True)
    seconds = wait_drained(receiver, start + events)
    raw_after = asyncio.run(raw_rate(f"{receiver.url}/hook", args.events, body))
    raw = (raw_before + raw_after) / 2

    def median(active: bool, index: int) -> float:
        return round(statistics.median(run[index] for run in runs[active]), 3)

    return {
        "database": "MariaDB" if "mysql" in (args.database_url or "") else "SQLite",
        "write": {
            "no_webhooks": {"rps": median(False, 0), "p50_ms": median(False, 1), "cpu_ms": median(False, 2)},
            "two_webhooks": {"rps": median(True, 0), "p50_ms": median(True, 1), "cpu_ms": median(True, 2)},
            "rps_ratio": round(statistics.median(
                on[0] / off[0] for on, off in zip(runs[True], runs[False], strict=True)), 3),
        },
        "delivery": {"events": events, "seconds": round(seconds, 2),
                     "events_per_second": round(events / seconds, 1),
                     "receiver_raw_per_second": [round(raw_before, 1), round(raw_after, 1)],
                     "ratio_to_raw": round(events / seconds / raw, 3)},
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def backlog(url: str, count: int, order: dict[str, Any]) -> int:
    """`count` order events written straight into the outbox (as committed writes leave them), so the
    throughput run measures delivery, not how fast this machine takes orders."""
    import asyncio

    from sqlalchemy import insert
    from sqlalchemy.ext.asyncio import create_async_engine

    from models import OutboxEvent, utcnow

    async def write() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                rows = [{"topic": "orders", "event": "order.created", "at": utcnow(),
                         "data": json.dumps({**order, "id": n}, separators=(",", ":"))}
                        for n in range(1, count + 1)]
                for start in range(0, count, 1000):
                    await connection.execute(insert(OutboxEvent.__table__), rows[start:start + 1000])
        finally:
            await engine.dispose()

    asyncio.run(write())
    return count


def sample_body(base: str, token: str) -> bytes:
    """A body the size of an order webhook: the newest order as a webhook would carry it."""
    order = call(base, "GET", "/orders?per_page=1&sort_order=desc", token)["items"][0]
    at = "2026-12-05T01:00:00.000Z"
    return json.dumps({"type": "order.created", "timestamp": at, "id": 1, "topic": "orders",
                       "event": "order.created", "at": at, "data": order}, separators=(",", ":")).encode()


async def raw_rate(url: str, count: int, body: bytes) -> float:
    """POSTs per second to the receiver, one at a time over one kept-alive connection."""
    import aiohttp

    headers = {"Content-Type": "application/json", "webhook-id": "evt_1", "webhook-timestamp": "1",
               "webhook-signature": "v1," + "A" * 44}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as client:
        started = time.monotonic()
        for _ in range(count):
            async with client.post(url, data=body, headers=headers) as response:
                await response.read()
        return count / (time.monotonic() - started)


if __name__ == "__main__":
    if sys.argv[1:2] == ["receiver"]:
        serve_receiver()
    else:
        sys.exit(main())
