"""The MQTT consumer: machines' Sparkplug B and plain-JSON messages → `MachineFloor.apply`.

One persistent MQTT 5 session (a stable client id, clean start off, a session that never expires,
QoS 1): what machines publish while the server is away waits in the broker. A message is
acknowledged (PUBACK) only after the transaction applying it has committed, so a crash between the
two redelivers it, and the absolute counters make a redelivery count nothing twice. The messages
that arrived while a batch was being written make the next batch (up to MAX_BATCH), applied in one
transaction and acknowledged together after its commit: a batch takes as long as its write
(~10-100 ms), and a lone message goes at once. MQTT 5's Receive Maximum lets the broker have
IN_FLIGHT messages unacknowledged with this client (MQTT 3.1.1 leaves that to the broker's
`max_inflight_messages`, 20 on Mosquitto, which would cap a batch at 20). aiomqtt has no
manual-ack switch of its own: the paho client under it (`Client._client`) has `manual_ack_set`
and `ack`, which is what is used.
While the database is away nothing is acknowledged: the session is dropped and resumed with
backoff, and the broker redelivers. Bad input (oversized, undecodable, unknown machines, counters
going backwards) is acknowledged and counted by result, and logged at most once a minute per
machine and result. In cluster mode one process at a time holds a Redis lease and consumes.
"""
from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.config import Settings
from core.db import is_unavailable
from core.errors import DomainError
from core.tasks import stop_if_cancelled
from services.floor import sparkplug
from services.floor.machine_ingest import MachineFloor, Reading, Report

log = logging.getLogger("factory.mqtt")

MAX_PAYLOAD = 64 * 1024
MAX_METRICS = 500
# Messages already waiting are applied in one transaction (then acknowledged together): a
# transaction per message would cap the rate at the database's commits per second.
MAX_BATCH = 2000
IN_FLIGHT = 4000  # unacknowledged messages the broker may send (MQTT 5 Receive Maximum)
SESSION_EXPIRY = 0xFFFFFFFF  # the session outlives any restart (MQTT 5: "never expires")
LOG_EVERY = 60.0
REBIRTH_EVERY = 10.0
SWEEP_EVERY = 1.0
BACKOFF_CAP = 30.0
LEASE_SECONDS = 15.0
_LINE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(slots=True)
class Received:
    """One PUBLISH as it came: what the consumer needs of it, and what acknowledges it."""

    topic: str
    payload: bytes
    qos: int
    mid: int


def tap(paho_client: Any, inbox: deque[Received], arrived: asyncio.Event) -> None:
    """Incoming QoS 0 and 1 PUBLISH packets go straight into `inbox` (then `arrived` is set).

    paho's own way costs more than the rest of a count's way into the database: a Properties object
    built and parsed per MQTT 5 packet, an MQTTMessage with a threading.Condition, then aiomqtt's
    Message and a task per message on its queue. The consumer reads none of the PUBLISH properties,
    so this reads the packet's topic, packet id and payload and skips the properties (MQTT 5,
    3.3.2). It takes the place of paho's `_handle_publish` on this one client (QoS 2 still goes
    paho's way); the acknowledgement stays paho's public `ack`, sent after the commit.
    """
    original = getattr(paho_client, "_handle_publish", None)
    if original is None or not hasattr(paho_client, "_in_packet"):
        return  # a paho without these internals: messages take paho's own (slower) way

    def handle_publish() -> int:
        packet = paho_client._in_packet  # noqa: SLF001
        qos = (packet["command"] & 0x06) >> 1
        if qos == 2:
            return original()
        data = packet["packet"]
        try:
            at = 2 + int.from_bytes(data[0:2], "big")
            topic = bytes(data[2:at]).decode("utf-8", "replace")
            mid = 0
            if qos:
                mid, at = int.from_bytes(data[at:at + 2], "big"), at + 2
            size, shift = 0, 0
            while True:  # the properties' length: a variable byte integer
                byte, at = data[at], at + 1
                size |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    break
                shift += 7
        except IndexError:  # a malformed packet: paho's own parser refuses it as it would
            return original()
        inbox.append(Received(topic, bytes(data[at + size:]), qos, mid))
        arrived.set()
        return 0  # MQTT_ERR_SUCCESS

    paho_client._handle_publish = handle_publish  # noqa: SLF001


class BadMessage(Exception):
    """A message that means nothing: its result name is the message."""


def broker_address(url: str) -> dict[str, Any]:
    """aiomqtt's connection arguments from mqtt(s)://user:pass@host:port."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    options: dict[str, Any] = {"hostname": parts.hostname, "port": parts.port or (8883 if tls else 1883)}
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password) if parts.password is not None else None
    if tls:
        options["tls_context"] = ssl.create_default_context()
    return options


def safe_url(url: str) -> str:
    """The broker's address for logs and /readyz: never the user or password."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or (8883 if parts.scheme == 'mqtts' else 1883)}"


def _bdseq(decoded: Any) -> Any:
    return next((sparkplug.metric_value(m) for m in decoded.metrics if m.name == sparkplug.BDSEQ), None)


def metric_time(millis: int, now: datetime) -> datetime:
    """A Sparkplug timestamp (ms since the epoch) as naive UTC, never after `now`."""
    try:
        moment = datetime.fromtimestamp(millis / 1000, UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return now
    return min(moment, now)


class MachineConsumer:
    """Subscribes, decodes, applies, acknowledges; `state` and `results` for /readyz and /metrics."""

    def __init__(self, settings: Settings, floor: MachineFloor, lease: Any = None) -> None:
        self.settings = settings
        self.floor = floor
        self.lease = lease  # cluster mode: a RedisLease
        self.address = broker_address(settings.mqtt_url or "")
        self.where = safe_url(settings.mqtt_url or "")
        self.prefix = settings.mqtt_prefix
        self.state = "starting"
        self.connected_since: float | None = None
        self.results: Counter[str] = Counter()
        self.rebirths = 0
        self.client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged: dict[tuple[str, str], float] = {}
        self._seq: dict[tuple[str, str], int] = {}
        self._bdseq: dict[tuple[str, str], int] = {}
        self._aliases: dict[tuple[str, str, str | None], dict[int, str]] = {}
        self._rebirth_asked: dict[tuple[str, str], float] = {}

    # -- lifetime -------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self.lease is not None:
            await self.lease.release()
        self.state = "stopped"

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "broker": self.where, "messages": sum(self.results.values())}

    async def _run(self) -> None:
        delay = 1.0
        while True:
            stop_if_cancelled()
            try:
                if self.lease is not None:
                    self.state = "standby"
                    await self.lease.acquire()
                await self._session()
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except aiomqtt.MqttError as exc:
                stop_if_cancelled()
                self._warn("broker", "session", f"MQTT broker {self.where}: {exc}; retrying in {delay:.0f} s")
            except Exception as exc:
                # Cancelled mid-statement, a clean-up error can replace the CancelledError: stopping
                # must still stop (else app.close() waits for this loop for ever).
                stop_if_cancelled()
                self._warn("consumer", "session", f"MQTT consumer stopped ({exc.__class__.__name__}: "
                                                  f"{exc}); retrying in {delay:.0f} s")
            self.state, self.client, self.connected_since = "disconnected", None, None
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_CAP)

    async def _session(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY
        properties.ReceiveMaximum = IN_FLIGHT
        client = aiomqtt.Client(**self.address, identifier=self.settings.mqtt_client_id,
                                protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=properties,
                                keepalive=30, timeout=10)
        # Acknowledge after the commit, not on arrival (paho's switch; aiomqtt has none of its own).
        client._client.manual_ack_set(True)  # noqa: SLF001
        inbox: deque[Received] = deque()
        arrived = asyncio.Event()
        tap(client._client, inbox, arrived)  # noqa: SLF001
        self.state = "connecting"
        async with client:
            self.client = client
            await client.subscribe([(f"{sparkplug.NAMESPACE}/#", 1), (f"{self.prefix}/+/count", 1),
                                    (f"{self.prefix}/+/state", 1)])
            self.state, self.connected_since = "connected", time.monotonic()
            log.info("MQTT consumer connected to %s as %s", self.where, self.settings.mqtt_client_id)
            # The sweep runs between batches, never beside one: one writer of machine rows at a time.
            background = [asyncio.ensure_future(self.lease.keep())] if self.lease is not None else []
            disconnected = client._disconnected  # noqa: SLF001
            waiting: asyncio.Future[Any] | None = None
            swept = time.monotonic()
            try:
                while True:
                    stop_if_cancelled()  # a cancellation swallowed below still ends the session
                    if not inbox:
                        arrived.clear()
                        waiting = asyncio.ensure_future(arrived.wait())
                        await asyncio.wait([waiting, disconnected, *background], timeout=SWEEP_EVERY,
                                           return_when=asyncio.FIRST_COMPLETED)
                        waiting.cancel()
                    if time.monotonic() - swept >= SWEEP_EVERY:
                        await self._sweep()
                        swept = time.monotonic()
                    if any(task.done() for task in background):  # the lease was lost
                        return
                    if disconnected.done():
                        raise aiomqtt.MqttError("Disconnected during message iteration")
                    # What arrived while the last batch was being written is the next batch.
                    batch = [inbox.popleft() for _ in range(min(len(inbox), MAX_BATCH))]
                    if not batch:
                        continue
                    await self.handle_batch(batch)
                    for message in batch:  # in arrival order, as MQTT wants PUBACKs
                        if message.qos > 0:
                            client._client.ack(message.mid, message.qos)  # noqa: SLF001
            finally:
                for task in (*background, waiting):
                    if task is not None and not task.done():
                        task.cancel()
                    elif task is not None and not task.cancelled():
                        task.exception()  # retrieved: a disconnect ends the session, not a log line

    async def _sweep(self) -> None:
        try:
            await self.floor.sweep()
        except Exception as exc:
            stop_if_cancelled()
            if is_unavailable(exc):
                raise
            self._warn("sweep", "error", f"machine sweep failed: {exc.__class__.__name__}")

    # -- one message ----------------------------------------------------------------------

    async def handle_batch(self, batch: list[Any]) -> list[str]:
        """Apply messages in one transaction; if one of them fails, each on its own."""
        if len(batch) == 1:
            return [await self.handle(batch[0])]
        decoded = [await self.decode(message) for message in batch]
        reports = [report for report, _ in decoded if isinstance(report, Report)]
        try:
            applied = iter(await self.floor.apply_all(reports))
        except Exception as exc:
            stop_if_cancelled()
            if is_unavailable(exc):
                raise
            return [await self.handle(message, decoded=entry) for message, entry in zip(batch, decoded,
                                                                                        strict=True)]
        results = []
        for message, (report, who) in zip(batch, decoded, strict=True):
            result = next(applied) if isinstance(report, Report) else report
            results.append(self.count(str(message.topic), who, result))
        return results

    async def decode(self, message: Any) -> tuple[Report | str, str]:
        """(the report, or the result of a message that means nothing; who sent it, for logs)."""
        topic = str(message.topic)
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        try:
            if len(payload) > MAX_PAYLOAD:
                raise BadMessage("too_large")
            if topic.startswith(sparkplug.NAMESPACE + "/"):
                report = await self._sparkplug(topic, bytes(payload))
            else:
                report = self._json(topic, bytes(payload))
        except BadMessage as exc:
            return str(exc), topic
        if report is None:
            return "ignored", topic
        return report, "/".join(str(part) for part in (report.group, report.node, report.device, report.line)
                                if part)

    def count(self, topic: str, who: str, result: str) -> str:
        self.results[result] += 1
        if result not in ("applied", "unchanged", "ignored", "error", "rejected"):
            self._warn(who, result, f"machine message on {topic}: {result}")
        return result

    async def handle(self, message: Any, decoded: tuple[Report | str, str] | None = None) -> str:
        """Apply one message; its result. Raises only while the database is unavailable."""
        topic = str(message.topic)
        report, who = decoded or await self.decode(message)
        try:
            result = await self.floor.apply(report) if isinstance(report, Report) else report
        except DomainError as exc:
            result = "rejected"
            self._warn(who, result, f"machine message on {topic} rejected: {exc}")
        except Exception as exc:
            stop_if_cancelled()
            if is_unavailable(exc):
                raise  # not acknowledged: the session resumes when the database is back
            result = "error"
            self._warn(who, result, f"machine message on {topic} failed: {exc.__class__.__name__}")
        return self.count(topic, who, result)

    async def _sparkplug(self, topic: str, payload: bytes) -> Report | None:
        where = sparkplug.parse_topic(topic)
        if where is None:
            raise BadMessage("bad_topic")
        if where.kind in ("NCMD", "DCMD", "STATE"):
            return None
        try:
            decoded = sparkplug.decode(payload)
        except sparkplug.Undecodable:
            raise BadMessage("undecodable") from None
        if len(decoded.metrics) > MAX_METRICS:
            raise BadMessage("too_many_metrics")
        node = (where.group, where.node)
        if where.kind == "NDEATH":
            bdseq = _bdseq(decoded)
            if bdseq is not None and node in self._bdseq and self._bdseq[node] != bdseq:
                raise BadMessage("stale")  # the will of a session that has been reborn since
            return Report("death", protocol="sparkplug", group=where.group, node=where.node, node_wide=True)
        await self._check_seq(where, decoded)
        aliases = self._aliases.setdefault((where.group, where.node, where.device), {})
        if where.is_birth:
            if where.kind == "NBIRTH":
                for key in [key for key in self._aliases if key[:2] == node and key[2] is not None]:
                    del self._aliases[key]
            aliases.clear()
            bdseq = _bdseq(decoded)
            if where.kind == "NBIRTH" and isinstance(bdseq, int):
                self._bdseq[node] = bdseq
        now = self.floor.now()
        live: dict[str, Any] = {}
        history: dict[datetime, dict[str, Any]] = {}
        for metric in decoded.metrics:
            name = metric.name if metric.HasField("name") else None
            if metric.HasField("alias"):
                if name:
                    aliases[metric.alias] = name
                else:
                    name = aliases.get(metric.alias)
            if name is None:
                await self.ask_rebirth(where.group, where.node)  # an alias this process never saw born
                continue
            value = sparkplug.metric_value(metric)
            if metric.is_historical and metric.HasField("timestamp"):
                history.setdefault(metric_time(metric.timestamp, now), {})[name] = value
            else:
                live[name] = value
        readings = [Reading(at, values, historical=True) for at, values in sorted(history.items())]
        if live:
            readings.append(Reading(now, live))
        kind = "death" if where.kind == "DDEATH" else "birth" if where.is_birth else "data"
        return Report(kind, readings if kind != "death" else [], protocol="sparkplug", group=where.group,
                      node=where.node, device=where.device)

    async def _check_seq(self, where: sparkplug.Topic, decoded: Any) -> None:
        """A gap in the node's `seq` (0…255) asks the node for a rebirth, as the spec says."""
        if not decoded.HasField("seq"):
            return
        node, seq = (where.group, where.node), decoded.seq % 256
        last = self._seq.get(node)
        self._seq[node] = seq
        if where.kind == "NBIRTH" or last is None:
            return
        if seq not in (last, (last + 1) % 256):  # the same again is a redelivery, not a gap
            await self.ask_rebirth(*node)

    async def ask_rebirth(self, group: str, node: str) -> None:
        """NCMD `Node Control/Rebirth`, at most once every 10 s per node."""
        key, now = (group, node), time.monotonic()
        if self.client is None or now - self._rebirth_asked.get(key, -REBIRTH_EVERY) < REBIRTH_EVERY:
            return
        self._rebirth_asked[key] = now
        self.rebirths += 1
        payload = sparkplug.encode([{"name": sparkplug.REBIRTH, "value": True}],
                                   timestamp=int(time.time() * 1000))
        try:
            await self.client.publish(sparkplug.topic(group, "NCMD", node), payload, qos=0)
        except aiomqtt.MqttError as exc:
            self._warn(f"{group}/{node}", "rebirth", f"rebirth request not sent: {exc}")

    def _json(self, topic: str, payload: bytes) -> Report:
        parts = topic.split("/")
        if (len(parts) != 3 or parts[0] != self.prefix or parts[2] not in ("count", "state")
                or not _LINE.match(parts[1])):
            raise BadMessage("bad_topic")
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise BadMessage("undecodable") from None
        if not isinstance(data, dict):
            raise BadMessage("undecodable")
        if len(data) > MAX_METRICS:
            raise BadMessage("too_many_metrics")
        now = self.floor.now()
        at, historical = now, False
        if data.get("at") is not None:
            try:
                moment = datetime.fromisoformat(str(data.pop("at")).replace("Z", "+00:00"))
            except ValueError:
                raise BadMessage("undecodable") from None
            moment = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
            at, historical = min(moment, now), moment < now
        kind = "birth" if data.pop("birth", False) is True else "data"
        return Report(kind, [Reading(at, data, historical=historical)], protocol="json", line=parts[1])

    # -- logs -----------------------------------------------------------------------------

    def _warn(self, who: str, result: str, text: str) -> None:
        """At most once a minute per machine (or topic) and result: a flood is one line a minute."""
        key, now = (who[:200], result), time.monotonic()
        if now - self._logged.get(key, -LOG_EVERY) < LOG_EVERY:
            return
        if len(self._logged) > 10_000:
            self._logged.clear()
        self._logged[key] = now
        log.warning("%s", text)


_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
          "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisLease:
    """Cluster mode: one process at a time consumes (the session's single reader). Others wait;
    a holder that cannot renew stops consuming, and the lease expires to the next one."""

    def __init__(self, redis: Any, key: str, token: str) -> None:
        self.redis = redis
        self.key = key
        self.token = token
        self.held = False

    async def acquire(self) -> None:
        while True:
            try:
                if await self.redis.set(self.key, self.token, nx=True, px=int(LEASE_SECONDS * 1000)):
                    self.held = True
                    return
            except Exception as exc:  # Redis away: nobody can hold it; try again
                log.debug("MQTT lease not taken: %s", exc.__class__.__name__)
            await asyncio.sleep(LEASE_SECONDS / 5)

    async def keep(self) -> None:
        """Renew every third of the lease; returns when it is lost (the session then ends)."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                renewed = await self.redis.eval(_RENEW, 1, self.key, self.token, int(LEASE_SECONDS * 1000))
            except Exception:
                renewed = 0
            if not renewed:
                self.held = False
                log.warning("MQTT lease lost: this process stops consuming machine messages")
                return

    async def release(self) -> None:
        if self.held:
            self.held = False
            try:
                await self.redis.eval(_RELEASE, 1, self.key, self.token)
            except Exception:
                pass
