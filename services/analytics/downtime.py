"""The stop and output data the downtime analysis and the loss waterfall are built from.

Two statements, built once with bound parameters: the stops of some lines overlapping a window,
each with its reason's label, planned flag and loss category (one join), and the production of
some lines summed per shift instance (date, shift, line) with the ideal time of the units made and
of the defective ones (one GROUP BY). The time arithmetic per shift instance is the floor's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Product, ProductionRecord, Stop, StopReason

STOP_TABLES = ("stops", "stop_reasons", "lines")


@dataclass(frozen=True)
class StopRow:
    """One stop with its reason's facts; `ended_at` is None while open (times aware UTC)."""

    line: str
    reason: str
    label: str
    planned: bool
    category: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class Output:
    """What one line made in one shift instance, in units and in ideal seconds."""

    produced: int = 0
    defective: int = 0
    ideal_seconds: float = 0.0  # Σ ideal_cycle_seconds × produced
    ideal_defective_seconds: float = 0.0  # Σ ideal_cycle_seconds × defective
    lacking_ideal: int = 0  # records whose product has no ideal_cycle_seconds


_STOPS = (select(Stop.line, Stop.reason, StopReason.label, StopReason.planned, StopReason.category,
                 Stop.started_at, Stop.ended_at)
          .join(StopReason, StopReason.code == Stop.reason)
          .where(Stop.line.in_(bindparam("lines", expanding=True)), Stop.started_at < bindparam("end"),
                 or_(Stop.ended_at.is_(None), Stop.ended_at > bindparam("start")))
          .order_by(Stop.line, Stop.started_at))
_OUTPUT = (select(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line,
                  func.sum(ProductionRecord.quantity_produced),
                  func.sum(ProductionRecord.quantity_defective),
                  func.sum(Product.ideal_cycle_seconds * ProductionRecord.quantity_produced),
                  func.sum(Product.ideal_cycle_seconds * ProductionRecord.quantity_defective),
                  func.sum(case((Product.ideal_cycle_seconds.is_(None), 1), else_=0)))
           .join(Product, Product.id == ProductionRecord.product_id)
           .where(ProductionRecord.date_produced.between(bindparam("first"), bindparam("last")),
                  ProductionRecord.line.in_(bindparam("lines", expanding=True)),
                  ProductionRecord.shift.is_not(None))
           .group_by(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line))


async def stops_overlapping(session: AsyncSession, start: datetime, end: datetime,
                            lines: list[str]) -> list[StopRow]:
    """Stops of these lines that overlap [start, end) (aware UTC), by line and start."""
    params = {"lines": lines, "start": _naive(start), "end": _naive(end)}
    return [StopRow(line, reason, label, bool(planned), category, _aware(started),
                    None if ended is None else _aware(ended))
            for line, reason, label, planned, category, started, ended
            in await session.execute(_STOPS, params)]


async def instance_output(session: AsyncSession, first: date, last: date,
                          lines: list[str]) -> dict[tuple[date, str, str], Output]:
    """Production per (date, shift, line) for instances dated first … last, summed in SQL."""
    params: dict[str, Any] = {"first": first, "last": last, "lines": lines}
    return {(day, shift, line): Output(int(produced or 0), int(defective or 0), float(ideal or 0),
                                       float(ideal_defective or 0), int(lacking or 0))
            for day, shift, line, produced, defective, ideal, ideal_defective, lacking
            in await session.execute(_OUTPUT, params)}


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
