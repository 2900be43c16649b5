"""Webhook endpoints and their delivery attempts as the API reads and writes them."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from schemas.common import ApiSchema, ListQuerySchema, StrictBoolean, Text, UtcDateTime

TOPIC_NAME = validate.Regexp(r"^[a-z][a-z_]{0,31}$", error="Not a topic name.")


class TopicList(fields.List):
    """A list of live-feed topic names in JSON; a comma-separated column in the database (the service
    checks they are topics the feed has)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.String(validate=TOPIC_NAME), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[str] | None:
        if isinstance(value, str):
            return [topic for topic in value.split(",") if topic]
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        topics = super()._deserialize(value, attr, data, **kwargs)
        if not topics:
            raise ValidationError("Name at least one topic.")
        if len(set(topics)) != len(topics):
            raise ValidationError("Each topic at most once.")
        return ",".join(sorted(topics))


class WebhookSchema(ApiSchema):
    url = Text(required=True, validate=validate.Length(min=1, max=2048),
               metadata={"description": "http(s) URL the events are POSTed to; it must resolve to a public "
                                        "address unless the server allows private receivers.",
                         "example": "https://erp.example.com/hooks/factory"})
    topics = TopicList(required=True, metadata={"description": "Live-feed topics whose events it receives.",
                                                "example": ["orders", "inventory"]})
    description = Text(load_default=None, allow_none=True, validate=validate.Length(max=255))
    active = StrictBoolean(load_default=True, metadata={
        "description": "Set false to pause; true re-enables an endpoint that was marked failing."})
    state = fields.String(dump_only=True, metadata={
        "description": "healthy, retrying (the next event failed and is being retried) or failing "
                       "(gave up after the retry window; needs re-enabling)."})
    last_event_id = fields.Integer(dump_only=True, metadata={"description": "Last event id delivered."})
    attempts = fields.Integer(dump_only=True, metadata={"description": "Failed attempts of the next event."})
    next_attempt_at = UtcDateTime(dump_only=True, allow_none=True)
    disabled_reason = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "Why the server switched the endpoint off (`active` false): the receiver answered "
                       "410 Gone, or its retry window ran out. Null otherwise (also when an admin paused "
                       "it); re-enabling clears it."})


class CreatedWebhookSchema(WebhookSchema):
    secret = fields.String(dump_only=True, metadata={
        "description": "The signing secret (Standard Webhooks, `whsec_` + base64). Shown only in this "
                       "answer: keep it to verify `webhook-signature`."})


class WebhookListQuery(ListQuerySchema):
    active = fields.Boolean()
    state = fields.String(validate=validate.OneOf(["healthy", "retrying", "failing"]))


class WebhookDeliverySchema(Schema):
    """One attempt; attempts are written once and never change."""

    id = fields.Integer(dump_only=True)
    webhook_id = fields.Integer(dump_only=True)
    event_id = fields.Integer(dump_only=True, allow_none=True,
                              metadata={"description": "The outbox event id; null for a ping."})
    event = fields.String(dump_only=True)
    attempt = fields.Integer(dump_only=True, metadata={"description": "1 for the first try of this event."})
    status = fields.String(dump_only=True, metadata={"description": "delivered or failed"})
    response_code = fields.Integer(dump_only=True, allow_none=True)
    error = fields.String(dump_only=True, allow_none=True)
    duration_ms = fields.Integer(dump_only=True)
    attempted_at = UtcDateTime(dump_only=True)
    next_retry_at = UtcDateTime(dump_only=True, allow_none=True,
                                metadata={"description": "When this event is tried again (failed attempts)."})


class WebhookDeliveryListQuery(ListQuerySchema):
    status = fields.String(validate=validate.OneOf(["delivered", "failed"]))
