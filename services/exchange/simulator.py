"""`server.py simulate`: a plant of Sparkplug B machines for the seeded lines, so the board runs by
itself. One edge node per line (`spBv1.0/factory-sim/…/{line}`) with one device, `machine`, whose
absolute counters `good` and `reject` grow around the line's product's ideal cycle (with jitter),
with rejects, micro-stops, faults with codes (mapped to the seeded stop reasons), and now and then
a dropped connection (the broker sends the node's last will, NDEATH) and a rebirth. The node
answers a server's `Node Control/Rebirth` request. Missing machines are registered first.
"""
from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from typing import Any

import aiomqtt
from sqlalchemy import select

from core.clock import Clock
from core.config import ConfigError, Settings, check_mqtt_url
from core.db import Database
from models import Line, Machine, Product, WorkOrder
from services.floor import sparkplug
from services.floor.machines import MachineService
from services.floor.mqtt_consumer import broker_address, safe_url

log = logging.getLogger("factory.simulator")

GROUP = "factory-sim"
DEVICE = "machine"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
FAULTS = {"E101": "breakdown", "E204": "no_material", "E305": "quality"}
REJECT_RATE = 0.03
MICRO_STOP_RATE = 0.04
FAULT_RATE = 0.004
DISCONNECT_RATE = 0.001


async def register(db: Database, clock: Clock, codes: list[str] | None) -> list[dict[str, Any]]:
    """The simulated machine of every chosen active line, registered if missing; (line, ideal)."""
    service = MachineService()
    today = clock.now().astimezone(clock.zone).date()
    machines = []
    async with db.write() as uow:
        session = uow.session
        query = select(Line).where(Line.active.is_(True)).order_by(Line.code)
        lines = [line for line in (await session.execute(query)).scalars()
                 if codes is None or line.code in codes]
        for line in lines:
            product_id = await session.scalar(select(WorkOrder.product_id).where(
                WorkOrder.line == line.code, WorkOrder.date == today).order_by(WorkOrder.id).limit(1))
            if product_id is None:
                product_id = await session.scalar(select(Product.id).where(Product.active.is_(True))
                                                  .order_by(Product.id).limit(1))
            ideal = await session.scalar(select(Product.ideal_cycle_seconds).where(Product.id == product_id))
            existing = await session.scalar(select(Machine.id).where(
                Machine.protocol == "sparkplug", Machine.group_id == GROUP, Machine.node_id == line.code))
            if existing is None:
                await service.create(uow, {
                    "name": f"{line.code} simulated", "line": line.code, "protocol": "sparkplug",
                    "group_id": GROUP, "node_id": line.code, "device_id": DEVICE, "good_metric": "good",
                    "reject_metric": "reject", "state_metric": "state", "fault_metric": "fault",
                    "fault_reasons": FAULTS, "product_id": product_id, "active": True})
            machines.append({"line": line.code, "ideal": float(ideal or 10.0)})
    return machines


class SimulatedNode:
    """One line's edge node and its machine."""

    def __init__(self, broker: str, line: str, ideal: float, speed: float) -> None:
        self.broker = broker
        self.line = line
        self.ideal = ideal
        self.speed = speed
        self.good = self.reject = 0
        self.bdseq = 0
        self.seq = 0
        self.state = "running"
        self.fault: str | None = None

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    async def run(self) -> None:
        while True:
            will = aiomqtt.Will(sparkplug.topic(GROUP, "NDEATH", self.line),
                                sparkplug.encode([{"name": sparkplug.BDSEQ, "value": self.bdseq}]), qos=1)
            try:
                identifier = f"factory-sim-{self.line}-{random.getrandbits(32):08x}"
                async with aiomqtt.Client(**broker_address(self.broker), will=will,
                                          identifier=identifier) as client:
                    await client.subscribe(sparkplug.topic(GROUP, "NCMD", self.line), qos=1)
                    await self.birth(client)
                    listener = asyncio.ensure_future(self.listen(client))
                    try:
                        await self.produce(client)
                    finally:
                        listener.cancel()
            except aiomqtt.MqttError as exc:
                log.warning("line %s: broker %s: %s", self.line, safe_url(self.broker), exc)
            self.bdseq = (self.bdseq + 1) % 256
            await asyncio.sleep(10 / self.speed)

    async def birth(self, client: aiomqtt.Client) -> None:
        self.seq = 0
        now = int(time.time() * 1000)
        await client.publish(sparkplug.topic(GROUP, "NBIRTH", self.line), sparkplug.encode(
            [{"name": sparkplug.BDSEQ, "value": self.bdseq}, {"name": sparkplug.REBIRTH, "value": False}],
            seq=0, timestamp=now), qos=1)
        await client.publish(sparkplug.topic(GROUP, "DBIRTH", self.line, DEVICE), sparkplug.encode(
            self.metrics(), seq=self.next_seq(), timestamp=now), qos=1)

    def metrics(self) -> list[dict[str, Any]]:
        return [{"name": "good", "value": self.good}, {"name": "reject", "value": self.reject},
                {"name": "state", "value": self.state}, {"name": "fault", "value": self.fault or ""}]

    async def data(self, client: aiomqtt.Client, metrics: list[dict[str, Any]]) -> None:
        await client.publish(sparkplug.topic(GROUP, "DDATA", self.line, DEVICE), sparkplug.encode(
            metrics, seq=self.next_seq(), timestamp=int(time.time() * 1000)), qos=1)

    async def listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                payload = sparkplug.decode(message.payload)
            except sparkplug.Undecodable:
                continue
            if any(m.name == sparkplug.REBIRTH and sparkplug.metric_value(m) for m in payload.metrics):
                log.info("line %s: rebirth asked", self.line)
                await self.birth(client)

    async def produce(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.ideal * random.uniform(0.9, 1.25) / self.speed)
            roll = random.random()
            if roll < DISCONNECT_RATE:
                log.info("line %s: connection dropped", self.line)
                client._client.socket().close()  # noqa: SLF001 - an unclean drop: the broker sends the will
                return
            if roll < DISCONNECT_RATE + FAULT_RATE:
                self.state, self.fault = "fault", random.choice(list(FAULTS))
                await self.data(client, [{"name": "state", "value": "fault"},
                                         {"name": "fault", "value": self.fault}])
                await asyncio.sleep(random.uniform(30, 120) / self.speed)
                self.state, self.fault = "running", None
                await self.data(client, [{"name": "state", "value": "running"},
                                         {"name": "fault", "value": ""}])
                continue
            if roll < DISCONNECT_RATE + FAULT_RATE + MICRO_STOP_RATE:
                await asyncio.sleep(self.ideal * random.uniform(3, 6) / self.speed)
            if random.random() < REJECT_RATE:
                self.reject += 1
            else:
                self.good += 1
            await self.data(client, [{"name": "good", "value": self.good},
                                     {"name": "reject", "value": self.reject}])


async def simulate(settings: Settings, broker: str, codes: list[str] | None, speed: float) -> int:
    db = Database(settings.database_url, timeout=max(settings.db_timeout, 10.0))
    try:
        machines = await register(db, Clock(settings.timezone), codes)
    finally:
        await db.dispose()
    if not machines:
        print("error: no active lines to simulate (run 'python server.py seed' first)", file=sys.stderr)
        return 1
    print(f"Simulating {len(machines)} machines ({', '.join(m['line'] for m in machines)}) on "
          f"{safe_url(broker)} at {speed:g}x; Ctrl-C stops.", flush=True)
    nodes = [SimulatedNode(broker, m["line"], m["ideal"], speed) for m in machines]
    await asyncio.gather(*(node.run() for node in nodes))
    return 0


def run_simulator(settings: Settings, broker: str | None, lines: str | None, speed: float) -> int:
    broker = broker or settings.mqtt_url or DEFAULT_BROKER
    try:
        check_mqtt_url(broker)
    except ConfigError:
        print("error: --broker must look like mqtt://user:pass@host:1883", file=sys.stderr)
        return 2
    if not speed > 0:
        print("error: --speed must be above 0", file=sys.stderr)
        return 2
    codes = [code.strip() for code in lines.split(",") if code.strip()] if lines else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        return asyncio.run(simulate(settings, broker, codes, speed))
    except KeyboardInterrupt:
        return 0
