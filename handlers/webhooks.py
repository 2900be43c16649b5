"""`/webhooks` (admin): endpoints that receive signed events, their delivery attempts, and a ping."""
from __future__ import annotations

from typing import Any

from core.errors import conflict, not_found
from handlers.base import BaseHandler
from handlers.exports import stream_csv, wants_csv
from handlers.resources import CollectionHandler, ItemHandler
from models import Webhook
from schemas.openapi import page_of
from schemas.webhook import CreatedWebhookSchema, WebhookDeliveryListQuery, WebhookDeliverySchema
from services.common.crud import Page
from services.integrations.webhook_urls import check_url
from services.integrations.webhooks import WebhookDeliveryService, WebhookService

WEBHOOKS = WebhookService()


class WebhookCollectionHandler(CollectionHandler):
    """`GET /webhooks`, and `POST /webhooks`, whose answer is the only one that shows the secret."""

    docs = {"POST": {
        "summary": "Register a webhook endpoint", "tags": ["webhooks"], "body": WEBHOOKS.schema,
        "responses": {201: CreatedWebhookSchema}, "errors": (409,),
        "description": "The answer carries the signing `secret` (`whsec_…`), shown this once. Events of the "
                       "endpoint's topics committed from now on are POSTed to it, signed per Standard "
                       "Webhooks. A URL resolving to a loopback, private or link-local address is a 422.",
    }}

    async def post(self) -> None:
        data = self.load_body(self.service.validator)
        await check_url(data["url"], allow_private=self.ctx.settings.webhook_allow_private)
        async with self.ctx.db.write() as uow:
            row = await self.service.create(uow, data, self.principal)
            payload = WEBHOOKS.dump_created(row)
        self.created(payload, self.location(payload["id"]))


class WebhookItemHandler(ItemHandler):
    """`GET|PATCH|PUT|DELETE /webhooks/{id}`; `active: true` re-enables a failing endpoint."""

    async def _update(self, ident: int, *, partial: bool) -> None:
        data = self.load_body(self.service.validator, partial=partial)
        if "url" in data:
            await check_url(data["url"], allow_private=self.ctx.settings.webhook_allow_private)
        async with self.ctx.db.write() as uow:
            row = await self.service.update(uow, ident, data, self.principal)
            payload = self.service.dump(row)
        self.ctx.integrations.worker.wake()
        self.send_json(payload)


async def known_webhook(session: Any, ident: int) -> None:
    """404 unless endpoint `ident` exists."""
    if await session.get(Webhook, ident) is None:
        raise not_found("Webhook", ident)


class WebhookDeliveryListHandler(BaseHandler):
    """`GET /webhooks/{id}/deliveries`: every attempt, with its outcome and the next retry."""

    cache_tags = ("webhook_deliveries", "webhooks")

    docs = {"GET": {
        "summary": "List a webhook's delivery attempts", "tags": ["webhooks"],
        "query": WebhookDeliveryListQuery, "sort_fields": WebhookDeliveryService.sort_fields, "cached": True,
        "responses": {200: page_of(WebhookDeliverySchema)},
        "description": "Each attempt: status, response code, duration and, for a failure, the next retry. "
                       "`Accept: text/csv` answers every attempt as CSV instead.",
    }}

    async def get(self, ident: str) -> None:
        service = WebhookDeliveryService(int(ident))
        params = self.load_query(WebhookDeliveryListQuery())
        position = self.list_position(service, params)  # a bad sort or cursor: 400 before any work
        if wants_csv(self.request.headers.get("Accept", "")):
            async with self.ctx.db.session() as session:
                await known_webhook(session, service.webhook_id)
            await stream_csv(self, service, params, f"webhook-{service.webhook_id}-deliveries")
            return

        async def compute() -> Page:
            async with self.ctx.db.session() as session:
                await known_webhook(session, service.webhook_id)
                if position is not None:
                    return await service.list_from(session, params, position)
                return await service.list(session, params)

        await self.send_list(compute)


class WebhookTestHandler(BaseHandler):
    """`POST /webhooks/{id}/test`: send a signed `webhook.ping` now and answer with the attempt."""

    docs = {"POST": {
        "summary": "Ping a webhook endpoint", "tags": ["webhooks"],
        "responses": {200: WebhookDeliverySchema}, "errors": (409,),
        "description": "Sends `webhook.ping` at once (even to a paused or failing endpoint) and answers "
                       "with the attempt; it is logged with the deliveries. 409 on a server that "
                       "delivers no webhooks (FACTORY_WEBHOOK_DELIVERY=0).",
    }}

    async def post(self, ident: str) -> None:
        if not self.ctx.settings.webhook_delivery:
            raise conflict("This server does not deliver webhooks (FACTORY_WEBHOOK_DELIVERY=0).")
        async with self.ctx.db.session() as session:
            hook = await WEBHOOKS.get(session, int(ident))
        delivery = await self.ctx.integrations.worker.ping(hook)
        self.send_json(WebhookDeliverySchema().dump(delivery))

    def parse_body(self) -> Any:
        """The ping takes no body; one that is sent must still be acceptable JSON (400 otherwise)."""
        return super().parse_body() if self.request.body else None
