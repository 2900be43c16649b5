"""The shop-floor dashboard's state: today's production, recent records, orders and stock, in SQL."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import ORDER_STATUSES, Product, ProductionDay, ProductionRecord, RowCount
from schemas.common import iso_utc
from schemas.production import ProductionRecordSchema
from services.listing import Serializer
from services.rollups import NO_LINE

RECENT_LIMIT = 20
# Low stock first, then by name: a wall screen shows the products that need attention.
STOCK_LIMIT = 200

_records = Serializer(ProductionRecordSchema)


async def dashboard_state(session: AsyncSession, *, today: date, now: datetime,
                          last_event_id: int) -> dict[str, Any]:
    """Everything the dashboard shows, as of `last_event_id` (read before these queries run)."""
    return {
        "date": today.isoformat(),
        "generated_at": iso_utc(now),
        "last_event_id": last_event_id,
        "production_today": {
            "by_product": await production_by_product(session, today),
            "by_line": await production_by_line(session, today),
        },
        "recent_production": await recent_production(session),
        "orders_by_status": await orders_by_status(session),
        "stock": await stock_levels(session),
    }


def _totals() -> tuple[Any, Any]:
    """Sums over the day's summary rows (rollup_production_day), not over the day's records."""
    produced = func.coalesce(func.sum(ProductionDay.produced), 0)
    defective = func.coalesce(func.sum(ProductionDay.defective), 0)
    return produced.label("produced"), defective.label("defective")


def _counts(row: Any) -> dict[str, int]:
    produced, defective = int(row.produced), int(row.defective)
    return {"produced": produced, "defective": defective, "good": produced - defective}


async def production_by_product(session: AsyncSession, day: date) -> list[dict[str, Any]]:
    produced, defective = _totals()
    rows = await session.execute(
        select(ProductionDay.product_id, Product.name, produced, defective)
        .join(Product, Product.id == ProductionDay.product_id)
        .where(ProductionDay.day == day, ProductionDay.records > 0)
        .group_by(ProductionDay.product_id, Product.name)
        .order_by(produced.desc(), ProductionDay.product_id)
    )
    return [{"product_id": row.product_id, "product_name": row.name, **_counts(row)} for row in rows]


async def production_by_line(session: AsyncSession, day: date) -> list[dict[str, Any]]:
    produced, defective = _totals()
    line = func.nullif(ProductionDay.line, NO_LINE).label("line")
    rows = await session.execute(
        select(line, produced, defective)
        .where(ProductionDay.day == day, ProductionDay.records > 0)
        .group_by(line)
        .order_by(produced.desc(), line)
    )
    return [{"line": row.line, **_counts(row)} for row in rows]


async def recent_production(session: AsyncSession) -> list[dict[str, Any]]:
    """The newest production records, as `GET /production/{id}` returns them."""
    table = ProductionRecord.__table__
    records = await session.execute(select(*table.c).order_by(table.c.id.desc()).limit(RECENT_LIMIT))
    return [_records.dump(record) for record in records.mappings()]


async def orders_by_status(session: AsyncSession) -> dict[str, int]:
    counts = dict((await session.execute(
        select(RowCount.key, RowCount.n).where(RowCount.name == "orders"))).all())
    return {status: int(counts.get(status, 0)) for status in ORDER_STATUSES}


async def stock_levels(session: AsyncSession) -> list[dict[str, Any]]:
    low = Product.stock_quantity <= Product.reorder_level
    rows = await session.execute(
        select(Product.id, Product.sku, Product.name, Product.stock_quantity, Product.reorder_level)
        .order_by(case((low, 0), else_=1), Product.name, Product.id)
        .limit(STOCK_LIMIT)
    )
    return [{"id": row.id, "sku": row.sku, "name": row.name, "stock_quantity": row.stock_quantity,
             "reorder_level": row.reorder_level, "low": row.stock_quantity <= row.reorder_level}
            for row in rows]
