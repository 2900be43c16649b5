"""The stock ledger: every change of a product's stock is a movement row in the same transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm.util import identity_key

from core.db import UnitOfWork
from core.errors import Conflict, conflict, not_found
from core.statements import run
from models import Product, StockMovement, utcnow
from schemas.common import MAX_INT
from schemas.product import ProductSchema
from services.common.listing import Serializer

_product_out = Serializer(ProductSchema)

# A movement's statements, built once (every shipment, production record and adjustment runs them).
_products = Product.__table__
_delta = bindparam("delta")
# A conditional UPDATE is atomic on both backends: no check-then-write race. The upper bound keeps
# the INT column from overflowing (MariaDB refuses, SQLite would store it silently).
MOVE = (update(_products)
        .where(_products.c.id == bindparam("product_id"), _products.c.stock_quantity + _delta >= 0,
               _products.c.stock_quantity + _delta <= MAX_INT)
        .values(stock_quantity=_products.c.stock_quantity + _delta, updated_at=bindparam("now")))
PRODUCT = select(*_products.c).where(_products.c.id == bindparam("product_id"))
INSERT_MOVEMENT = insert(StockMovement.__table__)


async def move_stock(uow: UnitOfWork, product_id: int, delta: int, reason: str, *,
                     note: str | None = None, order_id: int | None = None,
                     production_record_id: int | None = None, user_id: int | None = None,
                     ) -> dict[str, Any]:
    """Change stock by `delta` atomically; refuse (409) to leave 0 … MAX_INT; record the movement.

    Returns the product's row as it now is.
    """
    session = uow.session
    now = utcnow()
    result = await run(session, MOVE, {"product_id": product_id, "delta": delta, "now": now})
    if result.rowcount != 1:
        product = await session.get(Product, product_id)
        if product is None:
            raise not_found("Product", product_id)
        await session.refresh(product)
        if delta > 0:
            raise over_the_limit(product_id, product.sku, product.stock_quantity, delta)
        raise conflict(f"Not enough stock of product {product_id} ({product.sku}): "
                       f"{product.stock_quantity} in stock, {-delta} needed.",
                       errors={"stock_quantity": ["Insufficient stock."]})
    stale = session.identity_map.get(identity_key(Product, product_id))
    if stale is not None:  # a Product this transaction loaded earlier: read it again when used
        session.expire(stale)
    product = next((await run(session, PRODUCT, {"product_id": product_id})).mappings())
    await run(session, INSERT_MOVEMENT, {
        "product_id": product_id, "delta": delta, "balance_after": product["stock_quantity"],
        "reason": reason, "note": note, "order_id": order_id,
        "production_record_id": production_record_id, "user_id": user_id,
        "created_at": now, "updated_at": now})
    uow.touch("products", "stock_movements")
    emit_stock_events(uow, _product_out.dump(product), delta, reason)
    return product


def over_the_limit(product_id: int, sku: str, stock: int, delta: int) -> Conflict:
    """The 409 for `delta` more units of a product that has `stock`, past the INT column's limit."""
    return conflict(f"Stock of product {product_id} ({sku}) cannot exceed {MAX_INT}: {stock} in stock, "
                    f"{delta} more.", errors={"stock_quantity": [f"Would exceed {MAX_INT}."]})


def emit_stock_events(uow: UnitOfWork, product: dict[str, Any], delta: int, reason: str) -> None:
    """`product` in its API form, with its new stock."""
    uow.emit("inventory", "stock.changed", {**product, "delta": delta, "reason": reason})
    if delta < 0 and product["stock_quantity"] <= product["reorder_level"]:
        uow.emit("inventory", "stock.low", product)
