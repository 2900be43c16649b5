"""The stock ledger: every change of a product's stock is a movement row in the same transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from core.db import UnitOfWork
from core.errors import conflict, not_found
from models import Product, StockMovement
from schemas.common import MAX_INT
from schemas.product import ProductSchema

_product_schema = ProductSchema()


async def move_stock(uow: UnitOfWork, product_id: int, delta: int, reason: str, *,
                     note: str | None = None, order_id: int | None = None,
                     production_record_id: int | None = None, user_id: int | None = None,
                     ) -> Product:
    """Change stock by `delta` atomically; refuse (409) to leave 0 … MAX_INT; record the movement."""
    session = uow.session
    # A conditional UPDATE is atomic on both backends: no check-then-write race. The upper bound
    # keeps the INT column from overflowing (MariaDB refuses, SQLite would store it silently).
    result = await session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock_quantity + delta >= 0,
               Product.stock_quantity + delta <= MAX_INT)
        .values(stock_quantity=Product.stock_quantity + delta)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        product = await session.get(Product, product_id)
        if product is None:
            raise not_found("Product", product_id)
        await session.refresh(product)
        if delta > 0:
            raise conflict(f"Stock of product {product_id} ({product.sku}) cannot exceed {MAX_INT}: "
                           f"{product.stock_quantity} in stock, {delta} more.",
                           errors={"stock_quantity": [f"Would exceed {MAX_INT}."]})
        raise conflict(f"Not enough stock of product {product_id} ({product.sku}): "
                       f"{product.stock_quantity} in stock, {-delta} needed.",
                       errors={"stock_quantity": ["Insufficient stock."]})
    product = (await session.execute(
        select(Product).where(Product.id == product_id).execution_options(populate_existing=True)
    )).scalar_one()
    session.add(StockMovement(product_id=product_id, delta=delta, balance_after=product.stock_quantity,
                              reason=reason, note=note, order_id=order_id,
                              production_record_id=production_record_id, user_id=user_id))
    uow.touch("products", "stock_movements")
    emit_stock_events(uow, product, delta, reason)
    return product


def emit_stock_events(uow: UnitOfWork, product: Product, delta: int, reason: str) -> None:
    data: dict[str, Any] = _product_schema.dump(product)
    uow.emit("inventory", "stock.changed", {**data, "delta": delta, "reason": reason})
    if delta < 0 and product.stock_quantity <= product.reorder_level:
        uow.emit("inventory", "stock.low", data)
