"""Machines that report over MQTT, as the API reads and writes them."""
from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from models import MACHINE_PROTOCOLS, MACHINE_STATES
from schemas.common import (
    MAX_INT,
    ApiSchema,
    ListQuerySchema,
    StrictBoolean,
    StrictInteger,
    Text,
    UtcDateTime,
)
from schemas.line import CODE

# A Sparkplug id (group, edge node, device) is one topic level: no "/", "#" or "+".
SPARKPLUG_ID = validate.Regexp(r"^[^/#+\s]{1,64}$", error="1-64 characters, none of / # + or spaces.")
METRIC = validate.Length(min=1, max=120)
SECONDS = validate.Range(min=1, max=86_400, error="Must be between {min} and {max} seconds.")
MAX_FAULT_CODES = 500


def optional_text(validator: Any, description: str) -> Text:
    return Text(load_default=None, allow_none=True, validate=validator, metadata={"description": description})


class MachineSchema(ApiSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=120), metadata={"description": "Unique"})
    line = Text(required=True, validate=CODE, metadata={"description": "An active line's code"})
    protocol = Text(required=True, validate=validate.OneOf(MACHINE_PROTOCOLS), metadata={
        "description": "sparkplug: spBv1.0/{group_id}/…/{node_id}[/{device_id}]; json: "
                       "{FACTORY_MQTT_PREFIX}/{line}/count and …/state"})
    group_id = optional_text(SPARKPLUG_ID, "Sparkplug group id (sparkplug: required)")
    node_id = optional_text(SPARKPLUG_ID, "Sparkplug edge node id (sparkplug: required)")
    device_id = optional_text(SPARKPLUG_ID, "Sparkplug device id; null when the node is the machine")
    good_metric = optional_text(METRIC, "Metric of the absolute good count (json default: good)")
    reject_metric = optional_text(METRIC, "Metric of the absolute reject count (json default: reject)")
    total_metric = optional_text(METRIC, "Instead of reject_metric: the absolute total count")
    state_metric = optional_text(METRIC, "Metric of the state: running | stopped | fault (json: state)")
    fault_metric = optional_text(METRIC, "Metric of the fault code (json: code)")
    fault_reasons = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                                values=fields.String(validate=validate.Length(min=1, max=32)),
                                load_default=dict, metadata={
                                    "description": "Machine fault code → stop reason code; others stop "
                                                   "as `unassigned`"})
    product_id = StrictInteger(load_default=None, allow_none=True,
                               validate=validate.Range(min=1, max=MAX_INT), metadata={
                                   "description": "What it makes when its line has no work order running"})
    no_count_stop_seconds = StrictInteger(load_default=None, allow_none=True, validate=SECONDS, metadata={
        "description": "No count this long while running opens an `unassigned` stop; null: "
                       "max(60, 5 × the product's ideal cycle)"})
    micro_stop_seconds = StrictInteger(load_default=None, allow_none=True, validate=SECONDS, metadata={
        "description": "Gaps between counts longer than this (and shorter than a stop) are micro-stops; "
                       "null: 2 × the product's ideal cycle (5 s without one)"})
    active = StrictBoolean(load_default=True)
    status = fields.String(dump_only=True, metadata={"enum": ["online", "offline"]})
    state = fields.String(dump_only=True, allow_none=True, metadata={"enum": [*MACHINE_STATES, None]})
    fault_code = fields.String(dump_only=True, allow_none=True)
    last_message_at = UtcDateTime(dump_only=True, allow_none=True)
    offline_since = UtcDateTime(dump_only=True, allow_none=True)

    @validates_schema
    def ids_and_metrics(self, data: dict[str, Any], partial: Any = None, **kwargs: Any) -> None:
        if partial:
            return  # checked on the merged row by the service
        check_machine(data)

    @validates_schema
    def fault_codes(self, data: dict[str, Any], **kwargs: Any) -> None:
        if len(data.get("fault_reasons") or {}) > MAX_FAULT_CODES:
            raise ValidationError(f"At most {MAX_FAULT_CODES} fault codes.", "fault_reasons")


def check_machine(data: dict[str, Any]) -> None:
    """Rules across fields, on the machine as it will be stored."""
    errors: dict[str, list[str]] = {}
    if data.get("protocol") == "sparkplug":
        for name in ("group_id", "node_id", "good_metric"):
            if not data.get(name):
                errors[name] = ["Required for a sparkplug machine."]
    if data.get("reject_metric") and data.get("total_metric"):
        errors["total_metric"] = ["Give reject_metric or total_metric, not both."]
    if errors:
        raise ValidationError(errors)


class MachineListQuery(ListQuerySchema):
    line = Text(validate=CODE)
    protocol = Text(validate=validate.OneOf(MACHINE_PROTOCOLS))
    online = fields.Boolean()
    active = fields.Boolean()


BUCKETS = {"1m": 60, "5m": 300, "1h": 3600}
MAX_BUCKETS = 2000


class LineCountsQuery(Schema):
    """`GET /lines/{code}/counts?from&to&bucket`: what the line's machines counted, per bucket."""

    class Meta:
        unknown = RAISE

    from_ = UtcDateTime(data_key="from", required=True, metadata={"description": "UTC, inclusive"})
    to = UtcDateTime(required=True, metadata={"description": "UTC, exclusive"})
    bucket = fields.String(load_default="5m", validate=validate.OneOf(list(BUCKETS)))

    @validates_schema
    def window(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["to"] <= data["from_"]:
            raise ValidationError("Must be after from.", "to")
        if (data["to"] - data["from_"]).total_seconds() / BUCKETS[data["bucket"]] > MAX_BUCKETS:
            raise ValidationError(f"At most {MAX_BUCKETS} buckets: a wider bucket or a shorter window.", "to")


class CountBucketSchema(Schema):
    at = fields.String(metadata={"format": "date-time", "description": "The bucket's start (UTC)"})
    good = fields.Integer()
    reject = fields.Integer()
    micro_stops = fields.Integer()
    micro_stop_seconds = fields.Float()


class LineCountsSchema(Schema):
    line = fields.String()
    bucket = fields.String()
    items = fields.List(fields.Nested(CountBucketSchema))
