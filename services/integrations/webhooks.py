"""Webhook endpoints (admin): their secret, topics, state, and the ledger of delivery attempts."""
from __future__ import annotations

import base64
import secrets
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UnitOfWork
from core.errors import invalid
from models import OutboxEvent, Webhook, WebhookDelivery
from realtime.hub import TOPICS
from schemas.webhook import (
    CreatedWebhookSchema,
    WebhookDeliveryListQuery,
    WebhookDeliverySchema,
    WebhookListQuery,
    WebhookSchema,
)
from services.common.crud import CrudService

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


async def newest_event_id(session: AsyncSession) -> int:
    """The last outbox id handed out so far (MariaDB keeps counting past deleted rows)."""
    newest = await session.scalar(select(func.coalesce(func.max(OutboxEvent.id), 0))) or 0
    if session.bind.dialect.name in ("mysql", "mariadb"):
        counter = await session.scalar(text(
            "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'outbox_events'"))
        if counter:
            newest = max(newest, int(counter) - 1)
    return newest


def check_topics(data: dict[str, Any]) -> None:
    """Only topics the live feed has (the schema checks the form, this the names)."""
    unknown = sorted(set((data.get("topics") or "").split(",")) - TOPICS - {""})
    if unknown:
        raise invalid({"topics": [f"Unknown topic {unknown[0]!r}; topics are: {', '.join(sorted(TOPICS))}."]})


class WebhookService(CrudService):
    name = "webhooks"
    label = "Webhook"
    model = Webhook
    schema = WebhookSchema
    list_query = WebhookListQuery
    sort_fields = ("id", "created_at", "updated_at", "state")

    def dump_created(self, row: Webhook) -> dict[str, Any]:
        """The creation answer: the only one that shows the secret."""
        return CreatedWebhookSchema().dump(row)

    def prepare_create(self, data: dict[str, Any]) -> dict[str, Any]:
        check_topics(data)
        return {**data, "secret": new_secret(), "state": "healthy", "attempts": 0}

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Any = None) -> Webhook:
        row = await super().create(uow, data, actor)
        # Events from now on: an endpoint does not receive the history before it existed.
        row.last_event_id = await newest_event_id(uow.session)
        await uow.session.flush()
        return row

    async def before_update(self, uow: UnitOfWork, row: Webhook, data: dict[str, Any], actor: Any) -> None:
        check_topics(data)
        if data.get("active") is True and (not row.active or row.state == "failing"):
            # Re-enabled: start again at the event that failed, with a fresh retry window.
            row.state, row.attempts = "healthy", 0
            row.first_failure_at = row.next_attempt_at = row.disabled_reason = None


class WebhookDeliveryService(CrudService):
    """The attempts of one endpoint (`sort_order=desc` for the newest first)."""

    name = "webhook_deliveries"
    label = "Webhook delivery"
    model = WebhookDelivery
    schema = WebhookDeliverySchema
    list_query = WebhookDeliveryListQuery
    sort_fields = ("id", "attempted_at")

    def __init__(self, webhook_id: int) -> None:
        super().__init__()
        self.webhook_id = webhook_id

    def scope(self, query: Select) -> Select:
        """Every read (the page, its count, the lean rows) sees this endpoint's attempts only."""
        return query.where(WebhookDelivery.webhook_id == self.webhook_id)

    def base_query(self) -> Select:
        return self.scope(select(WebhookDelivery))
