"""Products: CRUD where stock is set once at creation and then moves only through the ledger."""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UnitOfWork
from core.errors import not_found
from core.security import Principal
from models import OrderItem, Product, ProductionRecord, StockMovement
from schemas.product import ProductListQuery, ProductSchema, StockMovementListQuery, StockMovementSchema
from services.catalog.stock import emit_stock_events, move_stock
from services.common.crud import CrudService, Page, Reference, same_text


class ProductService(CrudService):
    name = "products"
    label = "Product"
    model = Product
    schema = ProductSchema
    list_query = ProductListQuery
    sort_fields = ("id", "sku", "name", "price", "stock_quantity", "reorder_level", "created_at",
                   "updated_at")
    archivable = True
    unique_fields = ("sku",)
    search_fields = ("name", "sku")
    immutable_fields = ("stock_quantity",)
    references = (Reference(OrderItem, "product_id", "order items"),
                  Reference(ProductionRecord, "product_id", "production records"))

    def immutable_message(self, name: str) -> str:
        return ("Stock changes only through production, shipping and "
                "POST /products/{id}/stock-adjustments.")

    def filter_low_stock(self, query, value: bool):
        low = Product.stock_quantity <= Product.reorder_level
        return query.where(low if value else ~low)

    def prepare_create(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("sku") is None:  # a placeholder until the id is known (after_create names it)
            return {**data, "sku": f"~{secrets.token_hex(12)}"}
        return data

    async def after_create(self, uow: UnitOfWork, row: Product, data: dict[str, Any],
                           actor: Principal | None) -> None:
        if data.get("sku") is None:
            row.sku = await self.sku_from_id(uow.session, row.id)
            await self.flush(uow)
        if row.stock_quantity:
            uow.session.add(StockMovement(product_id=row.id, delta=row.stock_quantity,
                                          balance_after=row.stock_quantity, reason="opening",
                                          note="Opening balance", user_id=actor and actor.user_id))
            emit_stock_events(uow, self.dump(row), row.stock_quantity, "opening")


    @staticmethod
    async def sku_from_id(session: AsyncSession, ident: int) -> str:
        """`SKU-000042` for product 42, or `SKU-000042-2`, … if another product already took it."""
        base = f"SKU-{ident:06d}"
        for suffix in ("", *(f"-{n}" for n in range(2, 100))):
            candidate = base + suffix
            taken = await session.scalar(select(Product.id).where(
                same_text(Product.sku, candidate, session.bind.dialect.name), Product.id != ident).limit(1))
            if taken is None:
                return candidate
        return f"{base}-{secrets.token_hex(4)}"


class StockMovementService(CrudService):
    name = "stock_movements"
    label = "Stock movement"
    model = StockMovement
    schema = StockMovementSchema
    list_query = StockMovementListQuery
    sort_fields = ("id", "created_at", "delta")
    reads = ("stock_movements", "products")

    async def list_for_product(self, session: AsyncSession, product_id: int, params: dict[str, Any],
                               position: tuple[Any, int, bool] | None = None) -> Page:
        """One page of a product's ledger (after a cursor's `position`, if given); NotFound when the
        product does not exist."""
        await self.check_product(session, product_id)
        params = {**params, "product_id": product_id}
        if position is not None:
            return await self.list_from(session, params, position)
        return await self.list(session, params)

    async def check_product(self, session: AsyncSession, product_id: int) -> None:
        """NotFound unless the product exists."""
        if await session.scalar(select(Product.id).where(Product.id == product_id)) is None:
            raise not_found("Product", product_id)

    async def adjust(self, uow: UnitOfWork, product_id: int, delta: int, note: str,
                     actor: Principal | None) -> StockMovement:
        """A counted correction: one `adjustment` movement; Conflict if stock would leave its range."""
        await move_stock(uow, product_id, delta, "adjustment", note=note, user_id=actor and actor.user_id)
        # This transaction holds the product's row lock, so its newest movement is ours.
        return (await uow.session.execute(
            select(StockMovement).where(StockMovement.product_id == product_id)
            .order_by(StockMovement.id.desc()).limit(1)
        )).scalar_one()
