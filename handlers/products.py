"""Product stock: admin adjustments, and the ledger of every movement."""
from __future__ import annotations

from handlers.base import BaseHandler
from handlers.exports import stream_csv, wants_csv
from schemas.openapi import page_of
from schemas.product import StockAdjustmentSchema, StockMovementListQuery, StockMovementSchema
from services.catalog.products import StockMovementService
from services.common.crud import Page

MOVEMENTS = StockMovementService()


class StockAdjustmentHandler(BaseHandler):
    """`POST /products/{id}/stock-adjustments {"delta", "reason"}`: a counted correction (admin)."""

    idempotent = frozenset({"POST"})

    docs = {"POST": {
        "summary": "Adjust a product's stock", "tags": ["products"], "body": StockAdjustmentSchema,
        "responses": {201: StockMovementSchema}, "errors": (409,),
        "description": "Writes an `adjustment` row in the stock ledger; 409 if stock would go below zero.",
    }}

    async def post(self, ident: str) -> None:
        data = self.load_body(StockAdjustmentSchema())
        product_id = int(ident)
        async with self.ctx.db.write() as uow:
            movement = await MOVEMENTS.adjust(uow, product_id, data["delta"], data["reason"], self.principal)
            payload = MOVEMENTS.dump(movement)
        self.created(payload, f"/products/{product_id}/stock-movements")


class StockMovementListHandler(BaseHandler):
    """`GET /products/{id}/stock-movements`: the product's ledger, paged."""

    cache_tags = ("stock_movements", "products")
    docs = {"GET": {
        "summary": "List a product's stock movements", "tags": ["products"], "query": StockMovementListQuery,
        "sort_fields": StockMovementService.sort_fields, "cached": True,
        "responses": {200: page_of(StockMovementSchema)},
        "description": "Every change of the product's stock; their deltas sum to its stock_quantity.",
    }}

    async def get(self, ident: str) -> None:
        product_id = int(ident)
        params = self.load_query(StockMovementListQuery())
        position = self.list_position(MOVEMENTS, params)  # a bad sort or cursor: 400 before any work
        if wants_csv(self.request.headers.get("Accept", "")):
            async with self.ctx.db.session() as session:
                await MOVEMENTS.check_product(session, product_id)
            await stream_csv(self, MOVEMENTS, {**params, "product_id": product_id},
                             f"product-{product_id}-stock-movements")
            return

        async def compute() -> Page:
            async with self.ctx.db.session() as session:
                return await MOVEMENTS.list_for_product(session, product_id, params, position)

        await self.send_list(compute)
