"""The AsyncAPI 3.0 document of the live feed (/ws) and the webhooks, built from the event schemas."""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from schemas.common import Money, StrictInteger, Text
from schemas.openapi import _plain, input_rules
from services.common.events import CLIENT_MESSAGES, EVENTS, SERVER_MESSAGES, WEBHOOK_PING, EventKind

ASYNCAPI_VERSION = "3.0.0"
SIGNATURE_HEADERS = {
    "type": "object",
    "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
    "properties": {
        "webhook-id": {"type": "string", "description": "`evt_<event id>`: the same on every retry; "
                                                        "deduplicate on it.", "examples": ["evt_42"]},
        "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$",
                              "description": "Unix seconds when this attempt was signed."},
        "webhook-signature": {"type": "string", "description": "`v1,<base64 HMAC-SHA256>` of "
                              "`<webhook-id>.<webhook-timestamp>.<body>` with the endpoint's secret "
                              "(Standard Webhooks)."},
    },
}
# How a live-feed link ends, by WebSocket close code (RFC 6455 §7.4; 4xxx are this server's own).
CLOSE_CODES: dict[int, str] = {
    1000: "Normal closure (the client closed).",
    1001: "The server is shutting down; reconnect with `since` to resume.",
    1009: "A message over 64 KiB.",
    1013: "The client fell too far behind (its queue overflowed); reconnect with `since`.",
    4401: "No token within 5 s, or a missing, bad, expired or revoked one (also when it stops being "
          "valid later).",
    4403: "A topic the token may not read.",
    4429: "Too many live-feed connections for the user (per display token) or the address.",
}
SECURITY_SCHEMES = {
    "tokenQuery": {"type": "httpApiKey", "name": "token", "in": "query",
                   "description": "`/ws?token=<access or display token>`, for clients that cannot send "
                                  "headers (redacted in the server's logs)."},
    "bearerHeader": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                     "description": "`Authorization: Bearer <token>` on the upgrade request."},
}  # or neither: the `auth` message, first within 5 s (AsyncAPI has no scheme for a token in a message)
WS_BINDINGS = {"ws": {
    "method": "GET",
    "query": {"type": "object", "properties": {"token": {
        "type": "string", "description": "An access or display token (instead of the auth message)."}}},
    "headers": {"type": "object", "properties": {"Authorization": {
        "type": "string", "pattern": "^Bearer .+$",
        "description": "`Bearer <token>` (instead of the auth message)."}}},
    "bindingVersion": "0.1.0",
}}
DESCRIPTION = (
    "Live events of the Factory Management System. **WebSocket** `/ws`: send `auth` first (within "
    "5 s), then `subscribe` to topics; each committed change arrives as an `event` frame, in id order, "
    "with its row as the REST API returns it. **Webhooks**: the same event envelopes are POSTed to every "
    "endpoint registered with `POST /webhooks` for their topic, signed per Standard Webhooks, with "
    "`type` (the event's name) and `timestamp` as that spec recommends. "
    "The REST API is described at /openapi.json."
)


def json_schema_converter() -> Any:
    """apispec's marshmallow converter set for JSON Schema (OpenAPI 3.1 style: nullable as a type)."""
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)  # nested schemas inline
    APISpec(title="events", version="1", openapi_version="3.1.0", plugins=[plugin])
    plugin.map_to_openapi_type(Text, "string", None)
    plugin.map_to_openapi_type(StrictInteger, "integer", None)
    plugin.map_to_openapi_type(Money, "string", "decimal")
    plugin.converter.add_attribute_function(input_rules)
    return plugin.converter


def payload_schema(converter: Any, schema: type[Schema], *, complete: bool = True) -> dict[str, Any]:
    """A JSON schema for `schema`; `complete`: what the server sends, every field present and no others."""
    converted = _plain(converter.schema2jsonschema(schema))
    if complete:
        dumped = schema().dump_fields
        converted["required"] = sorted(field.data_key or name for name, field in dumped.items())
        converted["additionalProperties"] = False
    return converted


def envelope_schema(converter: Any, name: str, kind: EventKind) -> dict[str, Any]:
    """The `event` frame of one event on /ws."""
    return {
        "type": "object", "additionalProperties": False,
        "required": ["type", "id", "topic", "event", "at", "data"],
        "properties": {
            "type": {"type": "string", "enum": ["event"]},
            "id": {"type": "integer", "minimum": 0,
                   "description": "Increasing event id (per feed on /ws; the outbox id for webhooks)."},
            "topic": {"type": "string", "enum": [kind.topic]},
            "event": {"type": "string", "enum": [name]},
            "at": {"type": "string", "format": "date-time", "description": "When it was committed (UTC)."},
            "data": payload_schema(converter, kind.schema),
        },
    }


def webhook_schema(converter: Any, name: str, kind: EventKind) -> dict[str, Any]:
    """The webhook body of one event: the feed's fields, with `type` (the event's name) and
    `timestamp` as Standard Webhooks recommends."""
    schema = envelope_schema(converter, name, kind)
    schema["required"] = ["type", "timestamp", *schema["required"][1:]]
    schema["properties"] = {
        "type": {"type": "string", "enum": [name], "description": "The event's name (as `event`)."},
        "timestamp": {"type": "string", "format": "date-time",
                      "description": "When the event happened (UTC; as `at`)."},
        **{key: value for key, value in schema["properties"].items() if key != "type"},
    }
    return schema


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _operation(action: str, channel: str, title: str, summary: str, names: list[str]) -> dict[str, Any]:
    return {"action": action, "title": title, "summary": summary, "channel": _ref("channels", channel),
            "messages": [_ref("channels", channel, "messages", name) for name in names]}


def close_codes_text() -> str:
    rows = "\n".join(f"| {code} | {text} |" for code, text in CLOSE_CODES.items())
    return ("JSON text frames both ways. The server closes the link with one of these codes:\n\n"
            f"| code | meaning |\n| --- | --- |\n{rows}\n\nAn unknown topic, bad JSON or an unknown "
            "message type gets an `error` frame and the link stays open.")


def build_asyncapi(host: str, secure: bool = False) -> dict[str, Any]:
    """The document for a server reached at `host` (the request's Host)."""
    converter = json_schema_converter()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, (schema, summary) in CLIENT_MESSAGES.items():
        messages[name] = {"name": name, "summary": summary,
                          "payload": payload_schema(converter, schema, complete=False)}
    for name, (schema, summary) in SERVER_MESSAGES.items():
        messages[name] = {"name": name, "summary": summary, "payload": payload_schema(converter, schema)}
    webhook_events = {**EVENTS, "webhook.ping": WEBHOOK_PING}
    for name, kind in webhook_events.items():
        meaning = {"name": name, "summary": kind.summary, "tags": [{"name": kind.topic}]}
        if name in EVENTS:
            schemas[name] = envelope_schema(converter, name, kind)
            messages[name] = {**meaning, "payload": _ref("components", "schemas", name)}
        schemas[f"webhook.{name}"] = webhook_schema(converter, name, kind)
        messages[f"webhook.{name}"] = {**meaning, "name": f"webhook.{name}", "headers": SIGNATURE_HEADERS,
                                       "payload": _ref("components", "schemas", f"webhook.{name}")}
    feed = [*CLIENT_MESSAGES, *SERVER_MESSAGES, *EVENTS]
    hooks = [f"webhook.{name}" for name in webhook_events]
    operations = {
        **{f"receive_{name}": _operation("receive", "liveFeed", f"The client sends {name}", summary, [name])
           for name, (_, summary) in CLIENT_MESSAGES.items()},
        **{f"send_{name}": _operation("send", "liveFeed", f"The server sends {name}", summary, [name])
           for name, (_, summary) in SERVER_MESSAGES.items()},
        "send_events": _operation("send", "liveFeed", "The server sends events",
                                  "Every committed event of the subscribed topics, in id order.",
                                  list(EVENTS)),
        "deliver_webhooks": {**_operation("send", "webhooks", "The server POSTs events to endpoints",
                                          "Per endpoint in id order; retried with backoff for 24 h.", hooks),
                             "bindings": {"http": {"method": "POST"}}},
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "Factory Management System live events", "version": "1.0.0",
                 "description": DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {
            "live": {"host": host, "protocol": "wss" if secure else "ws",
                     "description": "This server. The live feed is its channel `/ws`: authenticate with "
                                    "the first message, `?token=`, or an `Authorization: Bearer` header.",
                     "security": [_ref("components", "securitySchemes", name) for name in SECURITY_SCHEMES]},
            "webhookReceiver": {"host": "{receiver}", "protocol": "https",
                                "description": "Your endpoint, registered with POST /webhooks.",
                                "variables": {"receiver": {"description": "The endpoint's host."}}},
        },
        "channels": {
            "liveFeed": {"address": "/ws", "title": "Live feed", "servers": [_ref("servers", "live")],
                         "description": close_codes_text(), "bindings": WS_BINDINGS,
                         "x-close-codes": {str(code): text for code, text in CLOSE_CODES.items()},
                         "messages": {name: _ref("components", "messages", name) for name in feed}},
            "webhooks": {"address": None, "title": "Webhook deliveries",
                         "description": "HTTP POSTs to each registered endpoint URL; a 2xx answer within "
                                        "10 s accepts the event, anything else is retried.",
                         "servers": [_ref("servers", "webhookReceiver")],
                         "messages": {name: _ref("components", "messages", name) for name in hooks}},
        },
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages, "securitySchemes": SECURITY_SCHEMES},
    }
