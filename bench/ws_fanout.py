"""Live-feed fan-out: event-to-client latency at N subscribers and R events/s, and memory per idle link.

Three servers, one at a time, each one process pinned to one core, with the clients in separate
processes on the other core:

- bare-loop:  a plain tornado WebSocketHandler; each event is `write_message` to every client in a loop;
- bare-once:  the same, but each event's frame is built once and written to every stream;
- app /ws:    the application, as configured in production: first-message auth, subscribe, the hub's
              bounded per-client queues written by one flush per loop turn; events enter through the
              commit listeners (`Database.announce`, exactly what a committed write triggers), so cache
              invalidation and the publisher are on the path, the database round trip is not. The
              events name a real line with shifts round the clock, so the coalesced `line.status`
              (one status read of that line a second, as in a hall) runs beside the fan-out.

Each event carries its *scheduled* send time (wall clock); a client's latency is its receive time
minus that, so a server that falls behind shows it as latency instead of hiding it (no coordinated
omission). Memory per idle connection is the server's RSS growth from `--warm` connections to all
of them, divided by the difference (app clients are signed in and subscribed: a wall screen at rest).

    .venv/bin/python bench/ws_fanout.py                      # 1,000 clients, 100 events/s, 10 s
    .venv/bin/python bench/ws_fanout.py --quick --rows rows.jsonl   # the same in 3 s (about 2 minutes)
    .venv/bin/python bench/ws_fanout.py --clients 2000 --rate 50 --seconds 20 --targets app
    .venv/bin/python bench/ws_fanout.py cpu                  # the hub's CPU per delivery vs a bare send()
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import bootstrap_admin, make_app  # noqa: E402
from bench.common import Row, add_rows_argument, write_rows  # noqa: E402
from core import migrate  # noqa: E402
from core.config import Settings  # noqa: E402
from core.db import Change  # noqa: E402
from realtime.frames import StreamFrames  # noqa: E402
from realtime.hub import EventHub  # noqa: E402

PYTHON = sys.executable
ME = str(Path(__file__).resolve())
PASSWORD = "bench-admin-password"
SECRET = "bench-secret-" + "x" * 40
UNLIMITED = "login=1000/60,read=1000000000/60,write=1000000000/60,analytics=1000000000/60"
SERVER_CPU, CLIENT_CPU = 0, 1
TARGETS = ("bare-loop", "bare-once", "app")
BUCKET_US = 10  # latency histogram resolution
P99_TARGET_MS, KB_TARGET = 20.0, 30.0  # the targets BENCHMARKS.md checks
# --quick: 3 s of events instead of 10, and at most 30 s for bare Tornado to catch up (it needs ~16).
QUICK_SECONDS, QUICK_DRAIN = 3.0, 30.0


LINE = "ASM-2"  # a real line with shifts round the clock, so each event's line.status is a full read
SHIFTS = (("early", "06:00", "14:00"), ("late", "14:00", "22:00"), ("night", "22:00", "06:00"))


def event_data(n: int, sent: float) -> dict[str, Any]:
    """A production record as the API returns it (about 300 bytes framed), stamped with its send time."""
    return {"id": n, "product_id": 1 + n % 20, "employee_id": 3, "quantity_produced": 120,
            "quantity_defective": 2, "date_produced": "2026-11-26", "line": LINE, "shift": "morning",
            "planned_minutes": 480, "downtime_minutes": 20, "created_at": "2026-11-26T16:00:00Z",
            "updated_at": "2026-11-26T16:00:00Z", "sent": sent}


# -- servers (child processes: `ws_fanout.py serve TARGET`) ----------------------------------------

class BareFeedHandler(tornado.websocket.WebSocketHandler):
    """Tornado with nothing of ours: every connection is a subscriber."""

    clients: set[BareFeedHandler] = set()

    def open(self) -> None:
        self.set_nodelay(True)
        self.clients.add(self)

    def on_close(self) -> None:
        self.clients.discard(self)


def bare_emitter(once: bool):
    async def emit(n: int, sent: float) -> None:
        text = json.dumps({"type": "event", "id": n, "topic": "production", "event": "production.recorded",
                           "at": "2026-11-26T16:00:00.000Z", "data": event_data(n, sent)},
                          separators=(",", ":"))
        if once:  # one frame, built once, written to every stream
            payload = text.encode()
            frame = struct.pack("!BBH", 0x81, 126, len(payload)) + payload if len(payload) > 125 else \
                bytes((0x81, len(payload))) + payload
            for client in BareFeedHandler.clients:
                client.ws_connection.stream.write(frame)
        else:
            for client in BareFeedHandler.clients:
                client.write_message(text)
    return emit


async def serve(target: str, database_url: str | None) -> None:
    if target == "app":
        settings = Settings(database_url=database_url, jwt_secret=SECRET, admin_password=PASSWORD,
                            rate_limits=UNLIMITED, ws_max_per_user=1_000_000, ws_max_per_address=1_000_000,
                            log_dir=str(Path(tempfile.gettempdir()) / "bench-logs"))
        app: Any = make_app(settings)
        await bootstrap_admin(app.ctx)
        await app.start()
        db = app.ctx.db

        async def emit(n: int, sent: float) -> None:
            await db.announce(Change({"production_records"},
                                     [("production", "production.recorded", event_data(n, sent))]))
    else:
        app = tornado.web.Application([(r"/ws", BareFeedHandler)], websocket_ping_interval=20,
                                      websocket_max_message_size=64 * 1024)
        emit = bare_emitter(once=target == "bare-once")
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=2048)
    tornado.httpserver.HTTPServer(app).add_sockets(sockets)
    print(f"PORT {sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "publish":
            published = await publish(emit, float(line[1]), float(line[2]))
            print(f"PUBLISHED {published}", flush=True)


async def publish(emit, rate: float, seconds: float) -> int:
    """Emit `rate` events a second for `seconds`, each stamped with the wall time it was due."""
    loop = asyncio.get_running_loop()
    interval, count = 1.0 / rate, int(rate * seconds)
    start, wall = loop.time() + 0.05, time.time() + 0.05
    for n in range(count):
        delay = start + n * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await emit(n, wall + n * interval)
    return count


# -- clients (child processes: `ws_fanout.py clients …`) -------------------------------------------

def client_frame(message: dict[str, Any], opcode: int = 0x1) -> bytes:
    payload, mask = json.dumps(message).encode() if opcode == 0x1 else message["raw"], os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    head = (bytes((0x80 | opcode, 0x80 | size)) if size < 126
            else struct.pack("!BBH", 0x80 | opcode, 0xFE, size))
    return head + mask + masked


class Link:
    """One client connection: a socket and the bytes of a frame not yet complete."""

    __slots__ = ("buffer", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()


def frames(link: Link):
    """Complete server frames (opcode, payload) in the link's buffer."""
    buf = link.buffer
    at = 0
    while len(buf) - at >= 2:
        size, head = buf[at + 1] & 0x7F, 2
        if size == 126:
            if len(buf) - at < 4:
                break
            size, head = struct.unpack_from("!H", buf, at + 2)[0], 4
        elif size == 127:
            if len(buf) - at < 10:
                break
            size, head = struct.unpack_from("!Q", buf, at + 2)[0], 10
        if len(buf) - at < head + size:
            break
        yield buf[at] & 0x0F, bytes(buf[at + head:at + head + size])
        at += head + size
    del buf[:at]


def connect(port: int, token: str | None) -> Link:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  ).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    answer, _, rest = head.partition(b"\r\n\r\n")
    if not answer.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(answer.decode(errors="replace"))
    link = Link(sock)
    link.buffer += rest
    if token is not None:  # the app: sign in, subscribe, and wait for `subscribed`
        sock.sendall(client_frame({"type": "auth", "token": token})
                     + client_frame({"type": "subscribe", "topics": ["production"]}))
        while not [payload for opcode, payload in frames(link) if b'"subscribed"' in payload]:
            link.buffer += sock.recv(65536)
    sock.setblocking(False)
    return link


_SENT = re.compile(rb'"sent":([0-9.]+)')


def timed(link: Link, now: float, histogram: dict[int, int]) -> int:
    """Count the complete frames in the link's buffer into the histogram (received at `now`), answer
    pings, keep what is incomplete; the number of events. The client's cost per frame is kept low
    (no payload copied, no generator): on one core with 500 links at 100 events/s, a costly client
    would add its own queueing to the latency it measures."""
    buf, at, events = link.buffer, 0, 0
    end = len(buf)
    while end - at >= 2:
        size, head = buf[at + 1] & 0x7F, 2
        if size == 126:
            if end - at < 4:
                break
            size, head = (buf[at + 2] << 8) | buf[at + 3], 4
        elif size == 127:
            if end - at < 10:
                break
            size, head = struct.unpack_from("!Q", buf, at + 2)[0], 10
        stop = at + head + size
        if stop > end:
            break
        opcode = buf[at] & 0x0F
        if opcode == 0x1:
            match = _SENT.search(buf, at + head, stop)
            if match:
                bucket = max(0, int((now - float(match.group(1))) * 1e6) // BUCKET_US)
                histogram[bucket] = histogram.get(bucket, 0) + 1
                events += 1
        elif opcode == 0x9:  # protocol ping: answer, or the server drops us as dead
            link.sock.sendall(client_frame({"raw": bytes(buf[at + head:stop])}, opcode=0xA))
        at = stop
    del buf[:at]
    return events


def run_clients(port: int, token: str | None) -> None:
    """Hold connections and time every event; commands arrive on stdin, one per line."""
    poller = select.epoll()
    links: dict[int, Link] = {}
    histogram: dict[int, int] = {}
    received = 0
    stdin = sys.stdin.fileno()
    os.set_blocking(stdin, False)
    poller.register(stdin, select.EPOLLIN)
    pending = b""
    while True:
        for fd, _ in poller.poll(0.5):
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:  # the driver is gone
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    command = line.decode().split()
                    if command[0] == "open":
                        for _ in range(int(command[1])):
                            link = connect(port, token)
                            links[link.sock.fileno()] = link
                            poller.register(link.sock.fileno(), select.EPOLLIN)
                        reply = f"READY {len(links)}"
                    elif command[0] == "measure":
                        histogram, received = {}, 0
                        reply = "MEASURING"
                    elif command[0] == "count":
                        reply = f"COUNT {received}"
                    elif command[0] == "report":
                        reply = "REPORT " + json.dumps({"received": received, "histogram": histogram})
                    else:
                        return
                    print(reply, flush=True)
                continue
            link = links[fd]
            try:
                data = link.sock.recv(262144)
            except BlockingIOError:
                continue
            if not data:
                poller.unregister(fd)
                del links[fd]
                continue
            link.buffer += data
            received += timed(link, time.time(), histogram)


# -- CPU per delivery, in one process (`ws_fanout.py cpu`) ----------------------------------------

def cpu_per_delivery(clients: int, events: int, pin: bool) -> None:
    """The hub's fan-out to real loopback sockets against a bare `send` loop, in CPU µs per frame.

    Process CPU time, so a busy neighbour cannot inflate it. Nobody reads during a phase (the frames
    fit the receive buffers); the receiving ends are drained between phases.
    """
    if pin:
        os.sched_setaffinity(0, {SERVER_CPU})
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    pairs = []
    for _ in range(clients):
        reader = socket.create_connection(listener.getsockname())
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        reader.setblocking(False)
        writer, _ = listener.accept()
        writer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * 1024)  # as handlers/live_feed.py
        writer.setblocking(False)
        pairs.append((writer, reader))

    def drain() -> None:
        for _, reader in pairs:
            try:
                while reader.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass

    frame = json.dumps({"type": "event", "id": 1, "topic": "production", "event": "production.recorded",
                        "at": "2026-11-26T16:00:00.000Z", "data": event_data(1, time.time())},
                       separators=(",", ":")).encode()
    start = time.process_time()
    for _ in range(events):
        for writer, _ in pairs:
            writer.send(frame)
    bare = (time.process_time() - start) * 1e6 / (events * clients)
    drain()

    async def hub_fanout(per_turn: int) -> float:
        hub = EventHub()
        for writer, _ in pairs:
            stream = tornado.iostream.IOStream(writer)
            hub.attach(StreamFrames(stream, lambda code, reason: None)).subscribe(["production"])
        await asyncio.sleep(0)
        hub.delivered = 0
        start = time.process_time()
        for n in range(0, events, per_turn):
            for k in range(n, n + per_turn):
                hub.publish("production", "production.recorded", event_data(k, time.time()))
            await asyncio.sleep(0)  # the flush
        elapsed = time.process_time() - start
        if hub.delivered != events * clients:
            raise RuntimeError(f"delivered {hub.delivered} of {events * clients}")
        return elapsed * 1e6 / hub.delivered

    results = {}
    for per_turn in (1, 5):
        results[per_turn] = asyncio.run(hub_fanout(per_turn))
        drain()
    print(f"{clients} sockets, {events} events of {len(frame)} bytes; CPU µs per delivered frame")
    print(f"  bare socket.send loop        {bare:6.2f}")
    print(f"  hub, 1 event per loop turn   {results[1]:6.2f}  ({results[1] - bare:+.2f} over the bare send)")
    print(f"  hub, 5 events per loop turn  {results[5]:6.2f}  (one send per socket per turn)")


# -- the driver --------------------------------------------------------------------------------

class Child:
    """A child process driven by lines on stdin, answering with lines on stdout."""

    def __init__(self, argv: list[str], cpu: int | None) -> None:
        preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.process = subprocess.Popen([PYTHON, ME, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, cwd=Path(ME).parent.parent, preexec_fn=preexec)

    def ask(self, command: str | None = None) -> str:
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"child {self.process.args[2:]} exited")
        return line.strip()

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run_delay(self) -> float:
        """Seconds the process has spent runnable but waiting for a CPU (busy neighbours)."""
        return int(Path(f"/proc/{self.process.pid}/schedstat").read_text().split()[1]) / 1e9

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def post(port: int, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST",
                                     data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def sign_in(port: int) -> str:
    return post(port, "/auth/login", {"username": "admin", "password": PASSWORD})["access_token"]


def make_floor(port: int, token: str) -> None:
    """The line the events name, and shifts round the clock: the plant's status is read as in a hall."""
    for name, starts_at, ends_at in SHIFTS:
        post(port, "/shifts", {"name": name, "starts_at": starts_at, "ends_at": ends_at}, token)
    post(port, "/lines", {"code": LINE, "name": "Assembly 2"}, token)


def quantile(histogram: dict[int, int], q: float) -> float:
    """The q-quantile in milliseconds, to the histogram's 10 µs resolution."""
    total, seen = sum(histogram.values()), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= q * total:
            return (bucket + 1) * BUCKET_US / 1000
    return float("nan")


def measure(target: str, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    server_cpu, client_cpu = (SERVER_CPU, CLIENT_CPU) if args.pin else (None, None)
    server = Child(["serve", target, "--database-url", database_url], server_cpu)
    clients: list[Child] = []
    try:
        port = int(server.ask().split()[1])
        token = sign_in(port) if target == "app" else None
        if token is not None:
            make_floor(port, token)
        shares = [args.clients // args.client_processes + (i < args.clients % args.client_processes)
                  for i in range(args.client_processes)]
        for _ in shares:
            clients.append(Child(["clients", "--port", str(port)] + (["--token", token] if token else []),
                                 client_cpu))
        warm = [max(1, args.warm * share // args.clients) for share in shares]
        for client, count in zip(clients, warm, strict=True):
            client.ask(f"open {count}")
        time.sleep(2)
        rss_warm = server.rss_kb()
        for client, share, count in zip(clients, shares, warm, strict=True):
            client.ask(f"open {share - count}")
        time.sleep(3)  # idle: let allocations settle
        kb_per_link = (server.rss_kb() - rss_warm) / (args.clients - sum(warm))

        server.ask(f"publish {args.rate} 1")  # warm-up, not measured
        time.sleep(1)
        for client in clients:
            client.ask("measure")
        cpu_before, started, delay_before = server.cpu_seconds(), time.time(), server.run_delay()
        client_cpu_before = sum(c.cpu_seconds() for c in clients)
        published = int(server.ask(f"publish {args.rate} {args.seconds}").split()[1])
        elapsed = time.time() - started
        cpu = (server.cpu_seconds() - cpu_before) / elapsed
        starved = (server.run_delay() - delay_before) / elapsed
        client_cpu = (sum(c.cpu_seconds() for c in clients) - client_cpu_before) / elapsed
        expected = published * args.clients
        deadline = time.time() + args.drain
        while time.time() < deadline:  # a server that fell behind is still sending: wait for it
            if sum(int(c.ask("count").split()[1]) for c in clients) >= expected:
                break
            time.sleep(0.05)
        # CPU per delivery, publish to last delivery: what a busy neighbour can't inflate.
        us_per_delivery = (server.cpu_seconds() - cpu_before) * 1e6 / expected
        histogram: dict[int, int] = {}
        received = 0
        for client in clients:
            report = json.loads(client.ask("report").split(" ", 1)[1])
            received += report["received"]
            for bucket, count in report["histogram"].items():
                histogram[int(bucket)] = histogram.get(int(bucket), 0) + count
        return {"p50": quantile(histogram, 0.50), "p99": quantile(histogram, 0.99),
                "max": quantile(histogram, 1.0), "delivered": received / expected, "cpu": cpu,
                "client_cpu": client_cpu, "starved": starved, "us": us_per_delivery, "kb": kb_per_link}
    finally:
        for client in clients:
            client.stop()
        server.stop()


def drive(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(database_url)
        results = {target: measure(target, args, database_url) for target in args.targets}
    placement = f"server on core {SERVER_CPU}, clients on core {CLIENT_CPU}" if args.pin else "no pinning"
    print(f"\nlive feed fan-out: {args.clients} subscribers, {args.rate:g} events/s for {args.seconds:g} s, "
          f"~300-byte events; {args.client_processes} client processes; {placement}\n")
    print(f"{'target':<10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'delivered':>9} {'server CPU':>10} "
          f"{'CPU wait':>8} {'client CPU':>10} {'µs/delivery':>11} {'KB/idle link':>12}")
    for target, r in results.items():
        print(f"{target:<10} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['max']:>8.1f} {r['delivered']:>9.1%} "
              f"{r['cpu']:>10.0%} {r['starved']:>8.0%} {r['client_cpu']:>10.0%} {r['us']:>11.1f} "
              f"{r['kb']:>12.1f}")
    print("\n(server CPU: share of a core it used while publishing; CPU wait: share of that time it was "
          "runnable but waiting for a core; µs/delivery: server CPU from the first event to the last "
          "delivery, per delivered frame)")
    if "app" in results and "bare-loop" in results:
        app, bare = results["app"], results["bare-loop"]
        print(f"\napp ÷ bare loop: p50 {app['p50'] / bare['p50']:.2f}×, p99 {app['p99'] / bare['p99']:.2f}×, "
              f"CPU per delivery {app['us'] / bare['us']:.2f}×, "
              f"memory per idle link {app['kb'] / bare['kb']:.2f}×")
    if "app" in results:
        app = results["app"]
        print(f"targets: p99 < 20 ms — {'met' if p99_met(app) else 'MISSED'} ({app['p99']:.1f} ms, "
              f"{app['delivered']:.1%} delivered); "
              f"< 30 KB per idle link — {'met' if app['kb'] < KB_TARGET else 'MISSED'} ({app['kb']:.1f} KB)")
    write_rows(args.rows, rows(results, args))
    return 0


def p99_met(result: dict[str, Any]) -> bool:
    # Percentiles of what arrived say nothing about what did not: a lost event misses the target.
    return result["p99"] < P99_TARGET_MS and result["delivered"] >= 1.0


def rows(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[Row]:
    """The app's figures for bench/suite.py, each against bare Tornado's write_message loop when measured."""
    app, bare = results.get("app"), results.get("bare-loop")
    if app is None:
        return []
    load = f"{args.clients:,} subscribers × {args.rate:g} events/s, {args.seconds:g} s"
    reference = "bare Tornado write_message loop" if bare else None

    def ratio(key: str) -> float | None:
        return app[key] / bare[key] if bare and bare[key] else None

    return [
        Row(f"live feed: event-to-client p50, {load}", app["p50"], "ms", reference, ratio("p50")),
        Row(f"live feed: event-to-client p99, {load}", app["p99"], "ms", reference, ratio("p99"),
            target=f"< {P99_TARGET_MS:g} ms", met=p99_met(app)),
        Row("live feed: memory per idle connection (signed in, subscribed)", app["kb"], "KB", reference,
            ratio("kb"), target=f"< {KB_TARGET:g} KB", met=app["kb"] < KB_TARGET),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve")
    serve_cmd.add_argument("target", choices=TARGETS)
    serve_cmd.add_argument("--database-url")
    clients_cmd = sub.add_parser("clients")
    clients_cmd.add_argument("--port", type=int, required=True)
    clients_cmd.add_argument("--token")
    cpu_cmd = sub.add_parser("cpu", help="CPU per delivery: the hub's fan-out vs a bare send() loop")
    cpu_cmd.add_argument("--clients", type=int, default=1000)
    cpu_cmd.add_argument("--events", type=int, default=100)
    cpu_cmd.add_argument("--no-pin", dest="pin", action="store_false")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--warm", type=int, default=50, help="connections open before the memory baseline")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for a lagging server")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the OS place server and clients (on a busy machine pinning can hurt)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a suite-sized run (about 2 minutes): --seconds {QUICK_SECONDS:g} "
                             f"--drain {QUICK_DRAIN:g}")
    add_rows_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.drain = QUICK_SECONDS, QUICK_DRAIN
    if args.command == "serve":
        asyncio.run(serve(args.target, args.database_url))
        return 0
    if args.command == "clients":
        run_clients(args.port, args.token)
        return 0
    if args.command == "cpu":
        cpu_per_delivery(args.clients, args.events, args.pin)
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
