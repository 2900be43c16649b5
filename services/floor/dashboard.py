"""The wall display's state: the plant's day, today's production, orders today and low stock, in SQL."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from models import Order, Product, ProductionRecord, RowCount, StockMovement
from schemas.common import iso_utc
from services.floor.production_time import production_day
from services.floor.shifts import all_shifts

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
    "Today's production" is the production day's: the day of the running (or last) shift instance,
    so a night shift counts wholly on the day it started.
    Four statements, each built once: today's production by product and by line, the four
    counts, and the products lowest in stock.
    """
    now, today = clock.now(), clock.today()
    start, end = plant_day_utc(clock, today)
    day = production_day(await all_shifts(session), now, clock)
    counts = (await session.execute(COUNTS, {"start": start, "end": end})).one()
    return {
        "date": today.isoformat(),
        "production_day": day.isoformat(),
        "timezone": clock.zone.key,
        "day_starts_at": iso_utc(start),
        "day_ends_at": iso_utc(end),
        "generated_at": iso_utc(now),
        "last_event_id": last_event_id,
        "production_today": {
            "by_product": await production_by_product(session, day, lines),
            "by_line": await production_by_line(session, day, lines),
        },
        "orders_today": {"placed": int(counts.placed or 0), "shipped": int(counts.shipped or 0),
                         "open": int(counts.waiting or 0)},
        "low_stock": await low_stock(session, int(counts.low or 0)),
    }


def _totals() -> tuple[Any, Any]:
    produced = func.coalesce(func.sum(ProductionRecord.quantity_produced), 0)
    defective = func.coalesce(func.sum(ProductionRecord.quantity_defective), 0)
    return produced.label("produced"), defective.label("defective")


def _counts(row: Any) -> dict[str, int]:
    produced, defective = int(row.produced), int(row.defective)
    return {"produced": produced, "defective": defective, "good": produced - defective}


def _on_day(lines: bool) -> list[Any]:
    conditions = [ProductionRecord.date_produced == bindparam("day")]
    if lines:
        conditions.append(ProductionRecord.line.in_(bindparam("lines", expanding=True)))
    return conditions


def _by_product(lines: bool) -> Select:
    produced, defective = _totals()
    return (select(ProductionRecord.product_id, Product.name, produced, defective)
            .join(Product, Product.id == ProductionRecord.product_id)
            .where(*_on_day(lines))
            .group_by(ProductionRecord.product_id, Product.name)
            .order_by(produced.desc(), ProductionRecord.product_id))


def _by_line(lines: bool) -> Select:
    produced, defective = _totals()
    return (select(ProductionRecord.line, produced, defective)
            .where(*_on_day(lines))
            .group_by(ProductionRecord.line)
            .order_by(produced.desc(), ProductionRecord.line))


# The state's statements, built once (by whether today's production is limited to some lines).
BY_PRODUCT = {lines: _by_product(lines) for lines in (False, True)}
BY_LINE = {lines: _by_line(lines) for lines in (False, True)}
_LOW = Product.stock_quantity <= Product.reorder_level
# Orders placed and shipped in [start, end), those still waiting to ship, and how many products are
# low, in one statement. An order ships when its stock leaves: the shipment movements date it
# (status rows keep no history). The waiting ones are kept per status in the writes' own
# transactions: no count over every order on each read.
COUNTS = select(
    select(func.count(Order.id))
    .where(Order.placed_at >= bindparam("start"), Order.placed_at < bindparam("end"))
    .scalar_subquery().label("placed"),
    select(func.count(func.distinct(StockMovement.order_id)))
    .where(StockMovement.reason == "shipment", StockMovement.created_at >= bindparam("start"),
           StockMovement.created_at < bindparam("end")).scalar_subquery().label("shipped"),
    select(func.sum(RowCount.n)).where(RowCount.name == "orders", RowCount.key.in_(OPEN_STATUSES))
    .scalar_subquery().label("waiting"),
    select(func.count(Product.id)).where(_LOW).scalar_subquery().label("low"))
LOW_STOCK = (select(Product.id, Product.sku, Product.name, Product.stock_quantity, Product.reorder_level)
             .where(_LOW).order_by((Product.reorder_level - Product.stock_quantity).desc(), Product.name,
                                   Product.id).limit(LOW_STOCK_LIMIT))


def _day_values(day: date, lines: Sequence[str] | None) -> dict[str, Any]:
    return {"day": day} if lines is None else {"day": day, "lines": list(lines)}


async def production_by_product(session: AsyncSession, day: date,
                                lines: Sequence[str] | None = None) -> list[dict[str, Any]]:
    rows = await session.execute(BY_PRODUCT[lines is not None], _day_values(day, lines))
    return [{"product_id": row.product_id, "product_name": row.name, **_counts(row)} for row in rows]


async def production_by_line(session: AsyncSession, day: date,
                             lines: Sequence[str] | None = None) -> list[dict[str, Any]]:
    rows = await session.execute(BY_LINE[lines is not None], _day_values(day, lines))
    return [{"line": row.line, **_counts(row)} for row in rows]


async def low_stock(session: AsyncSession, total: int) -> dict[str, Any]:
    """Products at or below their reorder level (`total` of them), the furthest below first."""
    rows = await session.execute(LOW_STOCK)
    return {"total": total, "items": [
        {"id": row.id, "sku": row.sku, "name": row.name, "stock_quantity": row.stock_quantity,
         "reorder_level": row.reorder_level} for row in rows]}
