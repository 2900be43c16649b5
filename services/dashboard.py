"""The wall display's state: the plant's day, today's production, orders today and low stock, in SQL."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from models import Order, Product, ProductionRecord, RowCount, StockMovement
from schemas.common import iso_utc

OPEN_STATUSES = ("pending", "confirmed", "in_production")
# A wall screen shows a page or two of shortages; the count says how many there are in all.
LOW_STOCK_LIMIT = 50


def plant_day_utc(clock: Clock, day: date) -> tuple[datetime, datetime]:
    """The plant-local day `day` as [start, end) in naive UTC, as timestamps are stored."""
    def utc(on: date) -> datetime:
        return datetime.combine(on, time(0), tzinfo=clock.zone).astimezone(UTC).replace(tzinfo=None)
    return utc(day), utc(day + timedelta(days=1))


async def dashboard_state(session: AsyncSession, *, clock: Clock, last_event_id: int,
                          lines: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything the wall display shows, as of `last_event_id` (read before these queries run).

    `lines` limits today's production to those line codes; orders and stock are plant-wide.
    """
    now, today = clock.now(), clock.today()
    start, end = plant_day_utc(clock, today)
    return {
        "date": today.isoformat(),
        "timezone": clock.zone.key,
        "day_starts_at": iso_utc(start),
        "day_ends_at": iso_utc(end),
        "generated_at": iso_utc(now),
        "last_event_id": last_event_id,
        "production_today": {
            "by_product": await production_by_product(session, today, lines),
            "by_line": await production_by_line(session, today, lines),
        },
        "orders_today": await orders_today(session, start, end),
        "low_stock": await low_stock(session),
    }


def _totals() -> tuple[Any, Any]:
    produced = func.coalesce(func.sum(ProductionRecord.quantity_produced), 0)
    defective = func.coalesce(func.sum(ProductionRecord.quantity_defective), 0)
    return produced.label("produced"), defective.label("defective")


def _counts(row: Any) -> dict[str, int]:
    produced, defective = int(row.produced), int(row.defective)
    return {"produced": produced, "defective": defective, "good": produced - defective}


def _on_day(day: date, lines: Sequence[str] | None) -> list[Any]:
    conditions = [ProductionRecord.date_produced == day]
    if lines is not None:
        conditions.append(ProductionRecord.line.in_(list(lines)))
    return conditions


async def production_by_product(session: AsyncSession, day: date,
                                lines: Sequence[str] | None = None) -> list[dict[str, Any]]:
    produced, defective = _totals()
    rows = await session.execute(
        select(ProductionRecord.product_id, Product.name, produced, defective)
        .join(Product, Product.id == ProductionRecord.product_id)
        .where(*_on_day(day, lines))
        .group_by(ProductionRecord.product_id, Product.name)
        .order_by(produced.desc(), ProductionRecord.product_id)
    )
    return [{"product_id": row.product_id, "product_name": row.name, **_counts(row)} for row in rows]


async def production_by_line(session: AsyncSession, day: date,
                             lines: Sequence[str] | None = None) -> list[dict[str, Any]]:
    produced, defective = _totals()
    rows = await session.execute(
        select(ProductionRecord.line, produced, defective)
        .where(*_on_day(day, lines))
        .group_by(ProductionRecord.line)
        .order_by(produced.desc(), ProductionRecord.line)
    )
    return [{"line": row.line, **_counts(row)} for row in rows]


async def orders_today(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    """Orders placed and shipped in [start, end), and those still waiting to ship."""
    placed = await session.scalar(
        select(func.count(Order.id)).where(Order.placed_at >= start, Order.placed_at < end))
    # An order ships when its stock leaves: the shipment movements date it (status rows keep no history).
    shipped = await session.scalar(
        select(func.count(func.distinct(StockMovement.order_id)))
        .where(StockMovement.reason == "shipment", StockMovement.created_at >= start,
               StockMovement.created_at < end))
    # Kept per status in the write's own transaction: no count over every order on each read.
    waiting = await session.scalar(select(func.sum(RowCount.n)).where(
        RowCount.name == "orders", RowCount.key.in_(OPEN_STATUSES)))
    return {"placed": int(placed or 0), "shipped": int(shipped or 0), "open": int(waiting or 0)}


async def low_stock(session: AsyncSession) -> dict[str, Any]:
    """Products at or below their reorder level, the furthest below first."""
    low = Product.stock_quantity <= Product.reorder_level
    shortfall = Product.reorder_level - Product.stock_quantity
    total = await session.scalar(select(func.count(Product.id)).where(low))
    rows = await session.execute(
        select(Product.id, Product.sku, Product.name, Product.stock_quantity, Product.reorder_level)
        .where(low).order_by(shortfall.desc(), Product.name, Product.id).limit(LOW_STOCK_LIMIT))
    return {"total": int(total or 0), "items": [
        {"id": row.id, "sku": row.sku, "name": row.name, "stock_quantity": row.stock_quantity,
         "reorder_level": row.reorder_level} for row in rows]}
