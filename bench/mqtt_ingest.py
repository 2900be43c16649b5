"""Machine counts over MQTT into one server process on MariaDB, beside the broker's own rate.

Three figures from one run, on one Mosquitto (FACTORY_TEST_MQTT_URL, default mqtt://127.0.0.1:1883):
1. the broker's publish → subscribe rate for QoS 1 JSON count messages, to two bare subscribers
   connected as the server connects (MQTT 5, the same Receive Maximum, QoS 1): Mosquitto's own C
   `mosquitto_sub` (the broker's own rate: the reference of the target) and aiomqtt (the client
   library the server uses);
2. the server's ingest rate: the same messages from the same publisher, until every count is in
   /production (each message's effect committed, batched per transaction), and its ratio to 1;
3. latency, one message at a time: publish → the `production` event, and → `line.status`, on /ws.

Both rates use one publisher: Mosquitto's own C client (`mosquitto_pub -l`, Debian package
`mosquitto-clients`), QoS 1, up to 1,000 publishes awaiting their PUBACK, fed one line per
message (a Python publisher was the slowest part: paho topped out near 3,000 msg/s here). It is
never fed more than WINDOW messages ahead of what the receiver has taken (the subscriber's count,
or the server's recorded counts): Mosquitto keeps at most `max_queued_messages` (1,000 by
default) beyond a client's in-flight window and drops the rest, so an unbounded publisher would
measure the broker's drops, not the receiver.

    python bench/mqtt_ingest.py [--messages 20000] [--samples 200]

Needs FACTORY_TEST_MYSQL_URL (a MariaDB server; a database of its own is made and dropped).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiomqtt  # noqa: E402
import tornado.httpclient  # noqa: E402
import tornado.websocket  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from bench.common import mariadb_server  # noqa: E402
from services.floor.mqtt_consumer import IN_FLIGHT, broker_address  # noqa: E402
from tests.brokers import forget_session as forget_from  # noqa: E402
from tests.databases import mariadb_database  # noqa: E402
from tests.servers import ServerProcess, server_env  # noqa: E402

BROKER = os.environ.get("FACTORY_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
UNLIMITED = "login=100000/60,read=1000000/60,write=1000000/60,analytics=100000/60"


WINDOW = 3000  # messages the publisher may be ahead of the receiver (under in-flight + queue)


async def broker_rate(messages: int) -> float:
    """Messages per second from publish to a QoS 1 subscriber, the broker alone."""
    topic = f"bench-{uuid.uuid4().hex[:8]}/L1/count"
    address = broker_address(BROKER)
    connect = Properties(PacketTypes.CONNECT)
    connect.ReceiveMaximum = IN_FLIGHT
    async with aiomqtt.Client(**address, identifier=f"bench-sub-{uuid.uuid4().hex[:6]}",
                              protocol=aiomqtt.ProtocolVersion.V5, properties=connect) as sub:
        await sub.subscribe(topic, qos=1)
        received = 0

        async def take() -> None:
            nonlocal received
            async for _ in sub.messages:
                received += 1
                if received == messages:
                    return

        taking = asyncio.ensure_future(take())
        started = time.perf_counter()
        publishing = asyncio.ensure_future(publish_counts(topic, messages, lambda: received))
        await asyncio.wait_for(taking, 300)
        rate = messages / (time.perf_counter() - started)
        await publishing
        return rate


async def broker_rate_c(messages: int) -> float:
    """The same, to Mosquitto's own C subscriber (`mosquitto_sub`, MQTT 5, the same Receive
    Maximum, QoS 1): the broker's rate with no Python client on either side."""
    topic = f"bench-{uuid.uuid4().hex[:8]}/L1/count"
    address = broker_address(BROKER)
    command = ["mosquitto_sub", "-h", address["hostname"], "-p", str(address["port"]), "-t", topic, "-q", "1",
               "-V", "mqttv5", "-D", "connect", "receive-maximum", str(IN_FLIGHT), "-C", str(messages),
               "-i", f"bench-csub-{uuid.uuid4().hex[:6]}"]
    if address.get("username"):
        command += ["-u", address["username"], "-P", address.get("password") or ""]
    subscriber = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert subscriber.stdout is not None
    await asyncio.sleep(1)  # subscribed by then
    received = 0
    started = time.perf_counter()
    publishing = asyncio.ensure_future(publish_counts(topic, messages, lambda: received))
    while received < messages:
        chunk = await asyncio.wait_for(subscriber.stdout.read(1 << 16), 300)
        if not chunk:
            raise RuntimeError(f"mosquitto_sub ended after {received} of {messages} messages")
        received += chunk.count(b"\n")
    rate = messages / (time.perf_counter() - started)
    await publishing
    await subscriber.wait()
    return rate


async def publish_counts(topic: str, messages: int, taken: Callable[[], int]) -> None:
    """Counts 1…messages in order at QoS 1, never more than WINDOW ahead of `taken()`; returns once
    the publisher has every PUBACK."""
    address = broker_address(BROKER)
    command = ["mosquitto_pub", "-h", address["hostname"], "-p", str(address["port"]), "-t", topic, "-q", "1",
               "-l", "-M", "1000", "-i", f"bench-pub-{uuid.uuid4().hex[:6]}"]
    if address.get("username"):
        command += ["-u", address["username"], "-P", address.get("password") or ""]
    publisher = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE)
    assert publisher.stdin is not None
    for first in range(1, messages + 1, 250):
        while first - taken() > WINDOW:
            await asyncio.sleep(0.002)
        publisher.stdin.write("".join(json.dumps({"good": good, "reject": 0}) + "\n"
                                      for good in range(first, min(first + 250, messages + 1))).encode())
        await publisher.stdin.drain()
    publisher.stdin.close()
    if await publisher.wait() != 0:
        raise RuntimeError(f"mosquitto_pub failed ({publisher.returncode})")


async def api(url: str, path: str, token: str | None = None, body: object = None) -> dict:
    client = tornado.httpclient.AsyncHTTPClient()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.fetch(url + path, method="GET" if body is None else "POST", headers=headers,
                                  body=None if body is None else json.dumps(body))
    return json.loads(response.body)


async def recorded(url: str, token: str, line: str) -> int:
    page = await api(url, f"/production?line={line}&per_page=100", token)
    return sum(item["quantity_produced"] for item in page["items"])


def forget_session(client_id: str) -> None:
    """The stopped server's persistent session dropped from the bench's broker."""
    forget_from(BROKER, client_id)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def born(server: ServerProcess, token: str) -> bool:
    """The L1 machine has its baseline (the BIRTH is applied)."""
    machines = await api(server.base_url, "/machines?line=L1", token)
    return any(item.get("last_message_at") for item in machines["items"])


async def measure(database_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench-{tag}"
    env = server_env(workdir, database_url, FACTORY_MQTT_URL=BROKER, FACTORY_MQTT_PREFIX=prefix,
                     FACTORY_MQTT_CLIENT_ID=f"bench-server-{tag}", FACTORY_RATE_LIMITS=UNLIMITED)
    server = await ServerProcess(workdir / "server", env).wait_ready()
    try:
        status, login = server.login("admin", env["FACTORY_ADMIN_PASSWORD"])
        token = login["access_token"]
        now = datetime.now(UTC)
        await api(server.base_url, "/shifts", token, {
            "name": "bench", "starts_at": (now - timedelta(hours=1)).strftime("%H:%M"),
            "ends_at": (now + timedelta(hours=3)).strftime("%H:%M")})
        product = await api(server.base_url, "/products", token, {
            "sku": f"B-{tag}", "name": "Bench", "price": "1.00", "stock_quantity": 0,
            "ideal_cycle_seconds": 1})
        for line in ("L1", "L2"):
            await api(server.base_url, "/lines", token, {"code": line, "name": line})
            await api(server.base_url, "/machines", token, {"name": f"M-{line}", "line": line,
                                                            "protocol": "json", "product_id": product["id"]})
        while (await api(server.base_url, "/readyz")).get("mqtt", {}).get("state") != "connected":
            await asyncio.sleep(0.1)
        async with aiomqtt.Client(**broker_address(BROKER), identifier=f"bench-pub-{tag}") as pub:
            birth = json.dumps({"good": 0, "reject": 0, "birth": True})
            await pub.publish(f"{prefix}/L1/count", birth, qos=1)
            while await recorded(server.base_url, token, "L1") != 0 or not await born(server, token):
                await asyncio.sleep(0.05)
            done = 0
            cpu_before = cpu_seconds(server.proc.pid)
            started = time.perf_counter()
            publishing = asyncio.ensure_future(publish_counts(f"{prefix}/L1/count", args.messages,
                                                              lambda: done))
            deadline = time.perf_counter() + 600
            while (done := await recorded(server.base_url, token, "L1")) < args.messages:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"only {done} of {args.messages} counts recorded after 600 s")
                await asyncio.sleep(0.05)
            ingest = args.messages / (time.perf_counter() - started)
            cpu_us = (cpu_seconds(server.proc.pid) - cpu_before) / args.messages * 1e6
            await publishing
            print(f"server: {ingest:,.0f} msg/s; now latency", file=sys.stderr, flush=True)
            event_ms, status_ms = await latencies(server, token, pub, prefix, args.samples)
    finally:
        server.stop()
        forget_session(env["FACTORY_MQTT_CLIENT_ID"])
    return {"ingest": ingest, "cpu_us": cpu_us,
            "event_p50": statistics.median(event_ms), "event_p99": quantile(event_ms, 0.99),
            "status_p50": statistics.median(status_ms), "status_p99": quantile(status_ms, 0.99)}


async def latencies(server: ServerProcess, token: str, pub: aiomqtt.Client, prefix: str,
                    samples: int) -> tuple[list[float], list[float]]:
    """Publish one count at a time on L2: ms until its production event, and its line.status."""
    feed = await tornado.websocket.websocket_connect(f"{server.ws_url}?token={token}")
    await feed.write_message(json.dumps({"type": "subscribe", "topics": ["production", "lines"]}))
    assert json.loads(await feed.read_message())["type"] == "subscribed"
    seen_event: dict[int, float] = {}
    seen_status: dict[int, float] = {}

    async def listen() -> None:
        while (text := await feed.read_message()) is not None:
            message = json.loads(text)
            data, name, now = message.get("data") or {}, message.get("event"), time.perf_counter()
            if name in ("production.recorded", "production.updated") and data.get("line") == "L2":
                seen_event.setdefault(data["quantity_produced"], now)
            elif name == "line.status" and data.get("line") == "L2":
                seen_status.setdefault(data["plan"]["good"], now)

    listening = asyncio.ensure_future(listen())
    await pub.publish(f"{prefix}/L2/count", json.dumps({"good": 0, "reject": 0, "birth": True}), qos=1)
    event_ms, status_ms = [], []
    try:
        for good in range(1, samples + 1):
            sent = time.perf_counter()
            await pub.publish(f"{prefix}/L2/count", json.dumps({"good": good, "reject": 0}), qos=1)
            deadline = sent + 10
            while (good not in seen_event or not any(g >= good for g in seen_status)) \
                    and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if good not in seen_event:
                raise RuntimeError(f"no production event for count {good}")
            event_ms.append((seen_event[good] - sent) * 1000)
            status_at = min(at for g, at in seen_status.items() if g >= good)
            status_ms.append((status_at - sent) * 1000)
            await asyncio.sleep(0.05)
    finally:
        listening.cancel()
        feed.close()
    return event_ms, status_ms


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    mysql = mariadb_server()
    if not mysql:
        return 2
    load = os.getloadavg()
    bare_c = asyncio.run(broker_rate_c(args.messages))
    bare = asyncio.run(broker_rate(args.messages))
    print(f"broker: {bare_c:,.0f} msg/s to a C subscriber, {bare:,.0f} msg/s to aiomqtt; now the server",
          file=sys.stderr, flush=True)
    import tempfile
    with mariadb_database(mysql, "factory_bench_mqtt") as url, tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(url, args, Path(folder)))
    ratio, ratio_c = figures["ingest"] / bare, figures["ingest"] / bare_c
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"broker publish->subscribe (QoS 1): {bare_c:,.0f} msg/s to mosquitto_sub (the broker's own), "
          f"{bare:,.0f} msg/s to a bare aiomqtt subscriber")
    met = figures["ingest"] >= 5000 and ratio_c >= 0.5
    print(f"server ingest into MariaDB:        {figures['ingest']:,.0f} msg/s  "
          f"({ratio_c:.2f}x the broker's own, {ratio:.2f}x bare aiomqtt; "
          f"target >= 5,000 msg/s and >= 0.5x the broker's own: {'met' if met else 'missed'})")
    print(f"server CPU per message:            {figures['cpu_us']:.0f} us "
          f"({1e6 / figures['cpu_us']:,.0f} msg per CPU-second of the server process)")
    print(f"message -> production event: p50 {figures['event_p50']:.1f} ms, p99 {figures['event_p99']:.1f} "
          f"ms (target p99 < 200 ms: {'met' if figures['event_p99'] < 200 else 'missed'})")
    print(f"message -> line.status:      p50 {figures['status_p50']:.1f} ms, p99 {figures['status_p99']:.1f} "
          f"ms (target p99 < 1200 ms: {'met' if figures['status_p99'] < 1200 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
