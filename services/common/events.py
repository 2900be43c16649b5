"""The live events and the live-feed protocol messages, as schemas: the AsyncAPI document is built
from these, and the services build each event's data with the same resource schemas."""
from __future__ import annotations

from dataclasses import dataclass

from marshmallow import RAISE, Schema, fields, validate

from models import ORDER_STATUSES, STOCK_REASONS
from realtime.hub import MAX_FILTER_LINES, TOPICS
from schemas.call import CallSchema
from schemas.line_status import LineStatusSchema
from schemas.machine import MachineSchema
from schemas.order import OrderSchema
from schemas.product import ProductSchema
from schemas.production import ProductionRecordSchema
from schemas.stop import StopSchema
from schemas.work_order import WorkOrderSchema


class OrderStatusChangedSchema(OrderSchema):
    previous_status = fields.String(validate=validate.OneOf(ORDER_STATUSES),
                                    metadata={"description": "The status before this change."})


class StockChangedSchema(ProductSchema):
    delta = fields.Integer(metadata={"description": "Units added (positive) or taken (negative)."})
    reason = fields.String(validate=validate.OneOf(STOCK_REASONS))


class ImportSummarySchema(Schema):
    resource = fields.String(metadata={"description": "What was imported: products, orders or production."})
    rows = fields.Integer(metadata={"description": "How many rows the import created."})
    restore = fields.Boolean(metadata={"description": "True for a restore (ids and history kept)."})
    by = fields.String(allow_none=True, metadata={"description": "Who imported (null: the command line)."})


class WebhookPingSchema(Schema):
    webhook_id = fields.Integer(metadata={"description": "The endpoint pinged."})


@dataclass(frozen=True)
class EventKind:
    """One event: its topic, the schema of its `data`, and what it means."""

    topic: str
    schema: type[Schema]
    summary: str


EVENTS: dict[str, EventKind] = {
    "production.recorded": EventKind("production", ProductionRecordSchema,
                                     "A production record was created; its good units went into stock."),
    "production.updated": EventKind("production", ProductionRecordSchema, "A production record was changed."),
    "production.deleted": EventKind("production", ProductionRecordSchema,
                                    "A production record was deleted (its last state)."),
    "order.created": EventKind("orders", OrderSchema, "An order was placed."),
    "order.status_changed": EventKind("orders", OrderStatusChangedSchema,
                                      "An order moved along its lifecycle."),
    "stock.changed": EventKind("inventory", StockChangedSchema, "A product's stock changed (ledger row)."),
    "stock.low": EventKind("inventory", ProductSchema, "Stock fell to or below the reorder level."),
    # One per import, instead of an event per row (POST /imports/…, server.py import).
    "products.imported": EventKind("inventory", ImportSummarySchema, "Products were imported."),
    "orders.imported": EventKind("orders", ImportSummarySchema, "Orders were imported."),
    "production.imported": EventKind("production", ImportSummarySchema, "Production records were imported."),
    "line.stopped": EventKind("lines", StopSchema, "A line stopped: its stop was opened."),
    "line.started": EventKind("lines", StopSchema, "A line runs again: its stop was closed."),
    "work_order.created": EventKind("lines", WorkOrderSchema, "A work order was planned."),
    "work_order.updated": EventKind("lines", WorkOrderSchema,
                                    "A work order changed: its plan, status, or the records against it."),
    "machine.status": EventKind("lines", MachineSchema,
                                "A machine came online, went offline, or changed state (running, stopped, "
                                "fault), as GET /machines shows it."),
    "line.status": EventKind("lines", LineStatusSchema,
                             "A line's figures moved (at most one a second per line), as GET /lines/status."),
    "call.opened": EventKind("lines", CallSchema, "Someone at a line called for help (andon call)."),
    "call.acknowledged": EventKind("lines", CallSchema, "Someone answered an andon call: help is coming."),
    "call.resolved": EventKind("lines", CallSchema, "An andon call was resolved."),
    "call.escalated": EventKind("lines", CallSchema,
                                "An andon call went unacknowledged past FACTORY_ANDON_ESCALATE_SECONDS "
                                "(sent once per call)."),
}
WEBHOOK_PING = EventKind("webhooks", WebhookPingSchema, "Sent by POST /webhooks/{id}/test.")


class _Message(Schema):
    class Meta:
        unknown = RAISE


def _type(name: str) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf([name]))


def _topics(**kwargs: object) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(sorted(TOPICS))), **kwargs)


class AuthMessage(_Message):
    type = _type("auth")
    token = fields.String(required=True, metadata={"description": "An access or display token."})


class SubscriptionFilters(_Message):
    product_id = fields.Integer(metadata={"description": "Only events about this product."})
    # One code or a list (checked by the hub); Raw, so the JSON schema says both through oneOf.
    line = fields.Raw(metadata={
        "description": f"Only events of this production line, or of these lines (1 to {MAX_FILTER_LINES}).",
        "oneOf": [{"type": "string", "maxLength": 64},
                  {"type": "array", "minItems": 1, "maxItems": MAX_FILTER_LINES,
                   "items": {"type": "string", "maxLength": 64}}]})


class SubscribeMessage(_Message):
    type = _type("subscribe")
    topics = _topics(required=True)
    since = fields.Integer(validate=validate.Range(min=0), metadata={
        "description": "The last event id seen: every later event is replayed first (or `resync`)."})
    filters = fields.Nested(SubscriptionFilters)


class UnsubscribeMessage(_Message):
    type = _type("unsubscribe")
    topics = _topics(required=True)


class PingMessage(_Message):
    type = _type("ping")


class SubscribedMessage(_Message):
    type = _type("subscribed")
    topics = _topics(required=True)
    last_id = fields.Integer(required=True, metadata={"description": "The newest event id so far."})


class UnsubscribedMessage(_Message):
    type = _type("unsubscribed")
    topics = _topics(required=True)


class ResyncMessage(_Message):
    type = _type("resync")
    reason = fields.String(required=True, metadata={
        "description": "`since` was older than the replay buffer: reload the state over HTTP."})


class PongMessage(_Message):
    type = _type("pong")


class ErrorMessage(_Message):
    type = _type("error")
    message = fields.String(required=True)


CLIENT_MESSAGES: dict[str, tuple[type[Schema], str]] = {
    "auth": (AuthMessage, "The first message: sign in (within 5 s); again later to renew the token."),
    "subscribe": (SubscribeMessage, "Add topics; with `since`, replay what was missed."),
    "unsubscribe": (UnsubscribeMessage, "Drop topics."),
    "ping": (PingMessage, "Answered with `pong`."),
}
SERVER_MESSAGES: dict[str, tuple[type[Schema], str]] = {
    "subscribed": (SubscribedMessage, "The subscription now in force."),
    "unsubscribed": (UnsubscribedMessage, "The topics still subscribed."),
    "resync": (ResyncMessage, "Events were missed beyond the replay buffer."),
    "pong": (PongMessage, "The answer to `ping`."),
    "error": (ErrorMessage, "A message was refused; the connection stays open."),
}
