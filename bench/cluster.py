"""Cluster mode: read throughput with 1 vs 2 worker processes, and cross-process live-event latency.

Every server here is `python server.py` exactly as an operator runs it, in cluster mode
(FACTORY_REDIS_URL set: every request's rate-limit bucket lives in Redis) on one MariaDB database.

- throughput: `GET /products?per_page=20` from wrk (or bench/common.py's generator) against
  `--processes 1` and `--processes 2`, cached (TTL 30 s) and uncached (TTL 0: every request
  reads MariaDB); the servers run side by side and are measured in interleaved rounds, and each
  ratio is the median of the per-round ratios. On a 2-core machine the load generator shares the
  cores with the workers, so 2 processes can't reach 2×; the CPU each request costs is printed too.
- latency: processes A and B (two ports); one WebSocket subscriber on each. The bench posts a
  stock adjustment to A and times the event's arrival at A's and at B's subscriber from the
  moment the POST was sent. For reference the same is measured against one server without Redis
  (the hub publishes in-process).

    .venv/bin/python bench/cluster.py
    .venv/bin/python bench/cluster.py --rounds 5 --seconds 8 --connections 64 --events 500

The bench creates a database of its own next to `--database-url` and drops it at the end, and
uses a Redis key prefix of its own (deleted at the end).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import tornado.httpclient
import tornado.websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import LoadResult, Row, add_rows_argument, have_wrk, run_load, write_rows  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-admin-password"
SECRET = "bench-secret-" + "x" * 40
UNLIMITED = "login=1000/60,read=1000000000/60,write=1000000000/60,analytics=1000000000/60"
READ_PATH = "/products?per_page=20"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python server.py --port N [--processes P]` with its own environment; output to a file."""

    def __init__(self, name: str, folder: Path, env: dict[str, str], processes: int = 1) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        logs = folder / name
        logs.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PROMETHEUS_"))}
        environ.update(env, FACTORY_LOG_DIR=str(logs), PYTHONUNBUFFERED="1")
        self._out = open(logs / "server.out", "w")  # noqa: SIM115 - closed in stop()
        argv = [sys.executable, str(ROOT / "server.py"), "--port", str(self.port),
                "--processes", str(processes)]
        self.process = subprocess.Popen(
            argv, cwd=logs, env=environ, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    async def ready(self) -> Server:
        client = tornado.httpclient.AsyncHTTPClient()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                if (await client.fetch(self.url + "/readyz", raise_error=False)).code == 200:
                    return self
            except OSError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its workers (children are read from /proc)."""
        total = 0.0
        for pid in (self.process.pid, *_children(self.process.pid)):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


async def api(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await tornado.httpclient.AsyncHTTPClient().fetch(
        url, method=method, body=None if body is None else json.dumps(body), headers=headers)
    return json.loads(response.body) if response.body else None


async def sign_in(url: str) -> str:
    answer = await api(url + "/auth/login", "POST", {"username": "admin", "password": PASSWORD})
    return answer["access_token"]


# -- throughput ---------------------------------------------------------------------------------

async def throughput(args: argparse.Namespace, env: dict[str, str], folder: Path) -> dict[str, list[Any]]:
    servers = {}
    for ttl in ("30", "0"):
        for processes in (1, 2):
            name = f"{'cached' if ttl != '0' else 'uncached'}-{processes}p"
            servers[name] = Server(name, folder, {**env, "FACTORY_CACHE_TTL": ttl}, processes)
    results: dict[str, list[Any]] = {name: [] for name in servers}
    try:
        for server in servers.values():
            await server.ready()
        token = await sign_in(next(iter(servers.values())).url)
        headers = {"Authorization": f"Bearer {token}"}
        names = list(servers)
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                server = servers[name]
                run_load(server.url + READ_PATH, connections=args.connections, seconds=1, headers=headers,
                         tool=args.load)  # warm: every worker has its pool and cache filled
                cpu, (busy, total) = server.cpu_seconds(), machine_busy()
                result = run_load(server.url + READ_PATH, connections=args.connections, seconds=args.seconds,
                                  headers=headers, tool=args.load)
                cpu_us = 1e6 * (server.cpu_seconds() - cpu) / max(1, result.requests)
                busy_after, total_after = machine_busy()
                machine = 100 * (busy_after - busy) / max(1e-9, total_after - total)
                results[name].append((result, cpu_us, machine))
                print(f"  round {round_number + 1} {name:<12} {result.rps:8.0f} req/s  "
                      f"p99 {result.p99_ms:6.1f} ms  {cpu_us:5.0f} µs CPU/req  machine {machine:3.0f}% busy  "
                      f"errors {result.errors}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return results


def report_throughput(results: dict[str, list[tuple[LoadResult, float, float]]],
                      args: argparse.Namespace) -> list[Row]:
    tool = args.load if args.load != "auto" else ("wrk" if have_wrk() else "python")
    print(f"\nGET {READ_PATH}, cluster mode on MariaDB + Redis, {args.connections} connections, "
          f"{args.rounds} rounds × {args.seconds:g} s, load: {tool}, {os.cpu_count()} cores\n")
    print(f"{'server':<13} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10} {'machine':>7} "
          f"{'errors':>6}")
    for name, runs in results.items():
        print(f"{name:<13} {statistics.median(r.rps for r, _, _ in runs):>7.0f} "
              f"{statistics.median(r.p50_ms for r, _, _ in runs):>7.2f} "
              f"{statistics.median(r.p99_ms for r, _, _ in runs):>7.2f} "
              f"{statistics.median(c for _, c, _ in runs):>10.0f} "
              f"{statistics.median(m for _, _, m in runs):>6.0f}% {sum(r.errors for r, _, _ in runs):>6}")
    rows = []
    for kind in ("cached", "uncached"):
        one, two = results[f"{kind}-1p"], results[f"{kind}-2p"]
        ratio = statistics.median(b[0].rps / a[0].rps for a, b in zip(one, two, strict=True))
        print(f"{kind}: 2 processes give {ratio:.2f}× the throughput of 1")
        rps = statistics.median(r.rps for r, _, _ in two)
        rows.append(Row(f"cluster: {kind} GET /products, 2 processes", rps, "req/s", reference="1 process",
                        ratio=ratio, target="≥ 1.6×", met=ratio >= 1.6))
    return rows


# -- cross-process latency ----------------------------------------------------------------------

class Subscriber:
    """A live-feed client that notes when each stock event (by delta) arrives."""

    def __init__(self, conn: tornado.websocket.WebSocketClientConnection) -> None:
        self.conn = conn
        self.arrivals: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[None]] = {}
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, base_url: str, token: str) -> Subscriber:
        conn = await tornado.websocket.websocket_connect(base_url.replace("http", "ws", 1) + "/ws")
        conn.write_message(json.dumps({"type": "auth", "token": token}))
        conn.write_message(json.dumps({"type": "subscribe", "topics": ["inventory"]}))
        while json.loads(await conn.read_message())["type"] != "subscribed":
            pass
        return cls(conn)

    async def _read(self) -> None:
        while (message := await self.conn.read_message()) is not None:
            received = time.perf_counter()
            frame = json.loads(message)
            if frame.get("event") == "stock.changed":
                marker = frame["data"]["delta"]
                self.arrivals[marker] = received
                waiter = self.waiters.pop(marker, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)

    async def wait(self, marker: int) -> None:
        if marker not in self.arrivals:
            self.waiters[marker] = asyncio.get_running_loop().create_future()
            await asyncio.wait_for(self.waiters[marker], 10)

    def close(self) -> None:
        self.conn.close()
        self.reader.cancel()


class LatencyProbe:
    """Posts stock adjustments to one server and notes when each event reaches each subscriber."""

    RESPONSE = "(the POST's own response)"

    def __init__(self, writer_url: str, subscriber_urls: dict[str, str]) -> None:
        self.writer_url = writer_url
        self.subscriber_urls = subscriber_urls
        self.subscribers: dict[str, Subscriber] = {}
        self.latencies: dict[str, list[float]] = {self.RESPONSE: [], **{name: [] for name in subscriber_urls}}

    async def open(self) -> LatencyProbe:
        token = await sign_in(self.writer_url)
        product = await api(self.writer_url + "/products", "POST",
                            {"sku": f"LAT-{uuid.uuid4().hex[:8]}", "name": "Latency", "price": "1.00",
                             "stock_quantity": 10_000_000, "reorder_level": 0}, token)
        self.target = f"{self.writer_url}/products/{product['id']}/stock-adjustments"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        for name, url in self.subscriber_urls.items():
            self.subscribers[name] = await Subscriber.open(url, token)
        return self

    async def one(self, n: int) -> None:
        sent = time.perf_counter()
        body = json.dumps({"delta": n, "reason": "latency"})
        await tornado.httpclient.AsyncHTTPClient().fetch(self.target, method="POST", body=body,
                                                         headers=self.headers)
        self.latencies[self.RESPONSE].append(1000 * (time.perf_counter() - sent))
        for name, subscriber in self.subscribers.items():
            await subscriber.wait(n)
            self.latencies[name].append(1000 * (subscriber.arrivals[n] - sent))

    def close(self) -> None:
        for subscriber in self.subscribers.values():
            subscriber.close()


async def event_latency(probes: dict[str, LatencyProbe], events: int) -> None:
    """Alternate the probes event by event, so load from neighbours falls on all of them alike."""
    for probe in probes.values():
        await probe.open()
    try:
        for n in range(1, events + 1):
            for probe in probes.values():
                await probe.one(n)
                await asyncio.sleep(0.005)
    finally:
        for probe in probes.values():
            probe.close()


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def report_latency(rows: dict[str, list[float]]) -> None:
    print(f"\n{'POST sent → frame received at':<50} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}")
    for name, values in rows.items():
        print(f"{name:<50} {quantile(values, 50):>7.2f} {quantile(values, 90):>7.2f} "
              f"{quantile(values, 99):>7.2f}")


# -- the run ------------------------------------------------------------------------------------

async def drive(args: argparse.Namespace, database_url: str, folder: Path) -> None:
    prefix = f"factory-bench-{uuid.uuid4().hex[:8]}"
    env = {"FACTORY_DATABASE_URL": database_url, "FACTORY_JWT_SECRET": SECRET,
           "FACTORY_ADMIN_PASSWORD": PASSWORD, "FACTORY_RATE_LIMITS": UNLIMITED,
           "FACTORY_REDIS_URL": args.redis_url, "FACTORY_REDIS_PREFIX": prefix}
    try:
        seeder = await Server("seed", folder, env).ready()  # creates admin on the empty database
        try:
            token = await sign_in(seeder.url)
            for n in range(40):
                await api(seeder.url + "/products", "POST", {"sku": f"BENCH-{n:03d}", "name": f"Bench {n}",
                                                             "price": "9.99", "stock_quantity": 100}, token)
        finally:
            seeder.stop()

        rows: list[Row] = []
        if not args.skip_throughput:
            print("throughput (interleaved rounds):")
            rows += report_throughput(await throughput(args, env, folder), args)

        a = await Server("node-a", folder, env).ready()
        b = await Server("node-b", folder, env).ready()
        local_env = {k: v for k, v in env.items() if k not in ("FACTORY_REDIS_URL", "FACTORY_REDIS_PREFIX")}
        local = await Server("no-redis", folder, local_env).ready()
        try:
            probes = {"cluster": LatencyProbe(a.url, {"A (same process, via the stream)": a.url,
                                                      "B (the other process)": b.url}),
                      "no Redis": LatencyProbe(local.url, {"one process without Redis": local.url})}
            await event_latency(probes, args.events)
        finally:
            for server in (a, b, local):
                server.stop()
        print(f"\nlive-event latency, {args.events} sequential stock adjustments "
              "(POST sent → frame received):")
        report_latency({f"{kind}: {name}": rows for kind, probe in probes.items()
                        for name, rows in probe.latencies.items()})
        cluster_rows = list(probes["cluster"].latencies.values())
        gaps = [bv - av for av, bv in zip(cluster_rows[1], cluster_rows[2], strict=True)]
        print(f"B − A for the same event: p50 {quantile(gaps, 50):.2f} ms, p99 {quantile(gaps, 99):.2f} ms")
        alone = probes["no Redis"].latencies["one process without Redis"]
        for q in (50, 99):
            other = quantile(probes["cluster"].latencies["B (the other process)"], q)
            rows.append(Row(f"cluster: live event POST on A → client on B, p{q}", other, "ms",
                            reference="one process without Redis", ratio=other / quantile(alone, q)))
        write_rows(args.rows, rows)
    finally:
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="mysql+aiomysql://root@127.0.0.1:3306/factory_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per throughput run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--events", type=int, default=300, help="events for the latency part (default 300)")
    parser.add_argument("--skip-throughput", action="store_true")
    add_rows_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with mariadb_database(args.database_url) as url, \
            tempfile.TemporaryDirectory(prefix="factory-bench-") as folder:
        asyncio.run(drive(args, url, Path(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
