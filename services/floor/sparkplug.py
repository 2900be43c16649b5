"""Sparkplug B payloads: the Eclipse Tahu protobuf schema (`sparkplug_b.proto`, package
`org.eclipse.tahu.protobuf`), built with protobuf's descriptor API, and the topic names.

Only the parts a consumer of counters and states reads are declared — `Payload` (timestamp,
metrics, seq, uuid, body) and `Metric` (name, alias, timestamp, datatype, is_historical,
is_transient, is_null and the scalar values) — with the field numbers and types of the published
schema, so the bytes are the Tahu wire format. Fields left out (metadata, properties, data sets,
templates) are skipped by the parser as unknown fields, not errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

NAMESPACE = "spBv1.0"
PACKAGE = "org.eclipse.tahu.protobuf"
MESSAGE_TYPES = frozenset({"NBIRTH", "NDEATH", "DBIRTH", "DDEATH", "NDATA", "DDATA", "NCMD", "DCMD",
                           "STATE"})
REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"

# Sparkplug B data types (the `datatype` of a metric) used here.
INT64, UINT64, BOOLEAN, STRING = 4, 8, 11, 12

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# (name, number, type, label, message type, oneof index) as in the published schema.
_METRIC_FIELDS = (
    ("name", 1, _F.TYPE_STRING, _OPTIONAL, None, None),
    ("alias", 2, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("timestamp", 3, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("datatype", 4, _F.TYPE_UINT32, _OPTIONAL, None, None),
    ("is_historical", 5, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("is_transient", 6, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("is_null", 7, _F.TYPE_BOOL, _OPTIONAL, None, None),
    ("int_value", 10, _F.TYPE_UINT32, _OPTIONAL, None, 0),
    ("long_value", 11, _F.TYPE_UINT64, _OPTIONAL, None, 0),
    ("float_value", 12, _F.TYPE_FLOAT, _OPTIONAL, None, 0),
    ("double_value", 13, _F.TYPE_DOUBLE, _OPTIONAL, None, 0),
    ("boolean_value", 14, _F.TYPE_BOOL, _OPTIONAL, None, 0),
    ("string_value", 15, _F.TYPE_STRING, _OPTIONAL, None, 0),
    ("bytes_value", 16, _F.TYPE_BYTES, _OPTIONAL, None, 0),
)
_PAYLOAD_FIELDS = (
    ("timestamp", 1, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("metrics", 2, _F.TYPE_MESSAGE, _REPEATED, f".{PACKAGE}.Payload.Metric", None),
    ("seq", 3, _F.TYPE_UINT64, _OPTIONAL, None, None),
    ("uuid", 4, _F.TYPE_STRING, _OPTIONAL, None, None),
    ("body", 5, _F.TYPE_BYTES, _OPTIONAL, None, None),
)


def _message(name: str, fields: tuple[Any, ...], oneof: str | None = None) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name)
    if oneof:
        message.oneof_decl.add(name=oneof)
    for field_name, number, kind, label, type_name, oneof_index in fields:
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
        if oneof_index is not None:
            field.oneof_index = oneof_index
    return message


def _build() -> type:
    schema = descriptor_pb2.FileDescriptorProto(name="factory/sparkplug_b.proto", package=PACKAGE,
                                                syntax="proto2")
    payload = _message("Payload", _PAYLOAD_FIELDS)
    payload.nested_type.append(_message("Metric", _METRIC_FIELDS, oneof="value"))
    schema.message_type.append(payload)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Payload"))


Payload = _build()


class Undecodable(ValueError):
    """Bytes that are not a Sparkplug B payload."""


@dataclass(frozen=True, slots=True)
class Topic:
    """`spBv1.0/{group}/{type}/{node}[/{device}]`."""

    group: str
    kind: str
    node: str
    device: str | None

    @property
    def is_birth(self) -> bool:
        return self.kind in ("NBIRTH", "DBIRTH")

    @property
    def is_death(self) -> bool:
        return self.kind in ("NDEATH", "DDEATH")

    @property
    def of_node(self) -> bool:
        return self.kind.startswith("N")


def parse_topic(topic: str) -> Topic | None:
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or parts[2] not in MESSAGE_TYPES:
        return None
    if parts[2].startswith("N") and len(parts) != 4 or parts[2].startswith("D") and len(parts) != 5:
        return None
    if not all(parts):
        return None
    return Topic(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None)


def topic(group: str, kind: str, node: str, device: str | None = None) -> str:
    return "/".join(part for part in (NAMESPACE, group, kind, node, device) if part is not None)


def decode(data: bytes) -> Any:
    payload = Payload()
    try:
        payload.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError, or a RuntimeWarning turned error
        raise Undecodable(str(exc) or "not a Sparkplug B payload") from None
    return payload


def metric_value(metric: Any) -> Any:
    """The metric's value (int, float, bool, str or bytes); None when null or absent."""
    if metric.is_null:
        return None
    which = metric.WhichOneof("value")
    return None if which is None else getattr(metric, which)


def encode(metrics: list[dict[str, Any]], *, seq: int | None = None, timestamp: int | None = None) -> bytes:
    """A payload of metrics given as dicts: name or alias, value, datatype, timestamp, is_historical."""
    payload = Payload()
    if timestamp is not None:
        payload.timestamp = timestamp
    if seq is not None:
        payload.seq = seq
    for spec in metrics:
        metric = payload.metrics.add()
        for key in ("name", "alias", "timestamp", "is_historical"):
            if spec.get(key) is not None:
                setattr(metric, key, spec[key])
        value = spec.get("value")
        if value is None:
            metric.is_null = True
            metric.datatype = spec.get("datatype", UINT64)
        elif isinstance(value, bool):
            metric.datatype, metric.boolean_value = BOOLEAN, value
        elif isinstance(value, int):
            metric.datatype = spec.get("datatype", UINT64 if value >= 0 else INT64)
            metric.long_value = value & 0xFFFFFFFFFFFFFFFF
        elif isinstance(value, float):
            metric.datatype, metric.double_value = 10, value
        else:
            metric.datatype, metric.string_value = STRING, str(value)
    return payload.SerializeToString()
