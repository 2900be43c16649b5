"""Checks events against the AsyncAPI document's payload schemas: the document cannot drift from them."""
from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from core.db import Change
from realtime.hub import encode_frame
from services.integrations.asyncapi import build_asyncapi


@functools.cache
def envelope_validators() -> dict[str, jsonschema.Draft7Validator]:
    schemas = build_asyncapi("localhost")["components"]["schemas"]
    return {name: jsonschema.Draft7Validator(schema) for name, schema in schemas.items()}


def violations(envelope: dict[str, Any]) -> list[str]:
    """What is wrong with one event envelope (a frame or a webhook body); empty when it conforms."""
    name = envelope.get("event") if envelope.get("type") == "event" else f"webhook.{envelope.get('event')}"
    validator = envelope_validators().get(name)
    if validator is None:
        return [f"{envelope.get('event')!r} is not in the AsyncAPI document (services/common/events.py)"]
    return [f"{envelope['event']} {list(error.path)}: {error.message[:200]}"
            for error in validator.iter_errors(envelope)]


class EventContract:
    """A commit listener that checks every event an application commits; `problems` lists failures."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    def __call__(self, change: Change) -> None:
        for topic, name, data in change.events:
            envelope = {"type": "event", "id": 1, "topic": topic, "event": name,
                        "at": "2026-11-27T12:00:00.000Z", "data": json.loads(encode_frame(data))}
            self.problems.extend(violations(envelope))
            self.checked += 1
