"""Talking to the test broker as machines do: a real MQTT client publishing Sparkplug B and JSON."""
from __future__ import annotations

from typing import Any

import aiomqtt
import orjson

from services.floor import sparkplug
from services.floor.mqtt_consumer import broker_address
from tests.conftest import MQTT_URL, MqttNames


class Plant:
    """One test's machines: publishes under its own Sparkplug group and JSON prefix (QoS 1)."""

    def __init__(self, names: MqttNames, suffix: str = "pub") -> None:
        self.names = names
        self.client = aiomqtt.Client(**broker_address(MQTT_URL or ""),
                                     identifier=f"{names.client_id}-{suffix}")
        self.seq: dict[str, int] = {}

    async def __aenter__(self) -> Plant:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.client.__aexit__(*exc)

    def next_seq(self, node: str, birth: bool = False) -> int:
        self.seq[node] = 0 if birth else (self.seq.get(node, -1) + 1) % 256
        return self.seq[node]

    async def spb(self, kind: str, node: str, device: str | None = None, metrics: list[dict] | None = None,
                  *, seq: int | None = None, raw: bytes | None = None) -> None:
        """One Sparkplug message; `seq` counts on per node unless given."""
        if raw is None:
            if seq is None and kind != "NDEATH":
                seq = self.next_seq(node, birth=kind == "NBIRTH")
            raw = sparkplug.encode(metrics or [], seq=seq, timestamp=1)
        await self.client.publish(sparkplug.topic(self.names.group, kind, node, device), raw, qos=1)

    async def birth(self, node: str, device: str, **values: Any) -> None:
        await self.spb("NBIRTH", node, metrics=[{"name": "bdSeq", "value": 0}])
        await self.spb("DBIRTH", node, device, [{"name": k, "value": v} for k, v in values.items()])

    async def data(self, node: str, device: str, **values: Any) -> None:
        await self.spb("DDATA", node, device, [{"name": k, "value": v} for k, v in values.items()])

    async def json(self, line: str, what: str, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await self.client.publish(f"{self.names.prefix}/{line}/{what}", body, qos=1)


async def mqtt_results(api: Any) -> dict[str, float]:
    """factory_mqtt_messages_total by result, from /metrics."""
    text = (await api.get("/metrics")).body.decode()
    results: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("factory_mqtt_messages_total{"):
            label, value = line.split("} ")
            results[label.split('result="')[1].rstrip('"')] = float(value)
    return results
