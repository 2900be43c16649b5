"""Product stock: admin adjustments, and the ledger of every movement."""
from __future__ import annotations

from sqlalchemy import select

from core.errors import not_found
from core.openapi import page_of
from handlers.base import BaseHandler
from models import Product, StockMovement
from schemas.product import StockAdjustmentSchema, StockMovementListQuery, StockMovementSchema
from services.crud import Page
from services.products import StockMovementService
from services.stock import move_stock


class ProductMovements(StockMovementService):
    """The ledger of one product."""

    def __init__(self, product_id: int) -> None:
        super().__init__()
        self.product_id = product_id

    def base_query(self):
        return self.for_product(self.product_id)


class StockAdjustmentHandler(BaseHandler):
    """`POST /products/{id}/stock-adjustments {"delta", "reason"}`: a counted correction (admin)."""

    docs = {"POST": {
        "summary": "Adjust a product's stock", "tags": ["products"], "body": StockAdjustmentSchema,
        "responses": {201: StockMovementSchema}, "errors": (409,),
        "description": "Writes an `adjustment` row in the stock ledger; 409 if stock would go below zero.",
    }}

    async def post(self, ident: str) -> None:
        data = self.load_body(StockAdjustmentSchema())
        product_id = int(ident)
        async with self.ctx.db.write() as uow:
            await move_stock(uow, product_id, data["delta"], "adjustment", note=data["reason"],
                             user_id=self.principal.user_id)
            # This transaction holds the product's row lock, so its newest movement is ours.
            movement = (await uow.session.execute(
                select(StockMovement).where(StockMovement.product_id == product_id)
                .order_by(StockMovement.id.desc()).limit(1)
            )).scalar_one()
            payload = StockMovementSchema().dump(movement)
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
        service = ProductMovements(int(ident))
        params = self.load_query(StockMovementListQuery())
        service.sort_clause(params)

        async def compute() -> Page:
            async with self.ctx.db.session() as session:
                if await session.scalar(select(Product.id).where(Product.id == service.product_id)) is None:
                    raise not_found("Product", service.product_id)
                return await service.list(session, params)

        await self.send_list(compute)
