"""Live line status: state, open stop, the running shift instance, plan vs. pace, and OEE so far."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from models import Line, Product, ProductionRecord, Stop, WorkOrder
from schemas.common import iso_utc
from services.floor.machine_counts import machine_figures
from services.floor.shift_time import ShiftInstance, current_instance, overlap_seconds
from services.floor.shifts import all_shifts

PLACES = 4  # ratios are rounded to four decimals


@dataclass
class Totals:
    """What an instance's records add up to on one line."""

    produced: int = 0
    defective: int = 0
    ideal_seconds: float = 0.0  # Σ ideal_cycle_seconds × produced
    lacking_ideal: int = 0  # records whose product has no ideal_cycle_seconds

    @property
    def good(self) -> int:
        return self.produced - self.defective


def ratio(part: float, whole: float) -> float | None:
    return None if not whole else round(part / whole, PLACES)


def figures(instance: ShiftInstance, now: datetime, stops: Iterable[Stop], totals: Totals,
            planned_quantity: int) -> dict[str, Any]:
    """The plan and OEE of one line in `instance` up to `now` (aware UTC)."""
    end = min(max(now, instance.starts_at), instance.ends_at)
    elapsed_us = int((end - instance.starts_at).total_seconds() * 1_000_000)
    duration_us = int(instance.duration_seconds * 1_000_000)
    elapsed = elapsed_us / duration_us if duration_us else 1.0
    planned_stop = unplanned = 0.0
    for stop in stops:
        stop_end = aware(stop.ended_at) if stop.ended_at else now
        seconds = overlap_seconds(aware(stop.started_at), stop_end, instance.starts_at, end)
        if stop.reason_info.planned:
            planned_stop += seconds
        else:
            unplanned += seconds
    # Elapsed planned time: the elapsed share of the window's planned time (duration − break).
    planned = elapsed * instance.planned_seconds - planned_stop
    running = planned - unplanned
    availability = None if planned <= 0 else min(1.0, max(0.0, running / planned))
    performance = None if totals.lacking_ideal or running <= 0 else totals.ideal_seconds / running
    quality = totals.good / totals.produced if totals.produced else None
    factors = (availability, performance, quality)
    oee = None if None in factors else availability * performance * quality
    expected = planned_quantity * elapsed_us // duration_us if duration_us else planned_quantity
    return {
        "plan": {"planned_quantity": planned_quantity, "good": totals.good, "defective": totals.defective,
                 "expected_by_now": expected, "pace": ratio(totals.good, expected)},
        "oee": {name: None if value is None else round(value, PLACES) for name, value in
                (("availability", availability), ("performance", performance), ("quality", quality),
                 ("oee", oee))},
        "elapsed": round(elapsed, PLACES),
        "planned_seconds": round(max(planned, 0.0), 3),
        "unplanned_stop_seconds": round(unplanned, 3),
    }


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


# The statements are built once, with bound parameters: building them took more of a status call's
# time than running them.
_TOTALS = (select(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line,
                  func.sum(ProductionRecord.quantity_produced),
                  func.sum(ProductionRecord.quantity_defective),
                  func.sum(Product.ideal_cycle_seconds * ProductionRecord.quantity_produced),
                  func.sum(case((Product.ideal_cycle_seconds.is_(None), 1), else_=0)))
           .join(Product, Product.id == ProductionRecord.product_id)
           .where(ProductionRecord.date_produced.between(bindparam("first"), bindparam("last")),
                  ProductionRecord.line.in_(bindparam("lines", expanding=True)))
           .group_by(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line))
_SHIFT_TOTALS = _TOTALS.where(ProductionRecord.shift == bindparam("shift"))
_PLANS = (select(WorkOrder.date, WorkOrder.shift, WorkOrder.line, func.sum(WorkOrder.planned_quantity))
          .where(WorkOrder.date.between(bindparam("first"), bindparam("last")),
                 WorkOrder.line.in_(bindparam("lines", expanding=True)), WorkOrder.status != "cancelled")
          .group_by(WorkOrder.date, WorkOrder.shift, WorkOrder.line))
_SHIFT_PLANS = _PLANS.where(WorkOrder.shift == bindparam("shift"))
_STOPS = (select(Stop).where(Stop.line.in_(bindparam("lines", expanding=True)),
                             Stop.started_at <= bindparam("end"),
                             (Stop.ended_at.is_(None)) | (Stop.ended_at > bindparam("start")))
          .order_by(Stop.started_at))


async def instance_totals(session: AsyncSession, first: date, last: date, lines: list[str],
                          shift: str | None = None) -> dict[tuple[date, str, str], Totals]:
    """Records summed per (date, shift, line) in SQL, for dates first … last."""
    params: dict[str, Any] = {"first": first, "last": last, "lines": lines}
    if shift is not None:
        params["shift"] = shift
    rows = await session.execute(_TOTALS if shift is None else _SHIFT_TOTALS, params)
    return {(day, shift_name, line): Totals(int(produced or 0), int(defective or 0), float(ideal or 0),
                                            int(lacking or 0))
            for day, shift_name, line, produced, defective, ideal, lacking in rows}


async def planned_quantities(session: AsyncSession, first: date, last: date, lines: list[str],
                             shift: str | None = None) -> dict[tuple[date, str, str], int]:
    """Σ planned_quantity of the work orders not cancelled, per (date, shift, line)."""
    params: dict[str, Any] = {"first": first, "last": last, "lines": lines}
    if shift is not None:
        params["shift"] = shift
    rows = await session.execute(_PLANS if shift is None else _SHIFT_PLANS, params)
    return {(day, shift_name, line): int(total or 0) for day, shift_name, line, total in rows}


async def stops_between(session: AsyncSession, start: datetime, end: datetime,
                        lines: list[str]) -> list[Stop]:
    """Stops of these lines overlapping [start, end] (aware UTC; one begun at `end` too), oldest first."""
    params = {"lines": lines, "start": naive(start), "end": naive(end)}
    return list((await session.execute(_STOPS, params)).scalars())


async def line_statuses(session: AsyncSession, clock: Clock, codes: Iterable[str] | None = None,
                        ) -> list[dict[str, Any]]:
    """The status of every active line (or of those in `codes`), ordered by code."""
    now = clock.now()
    # Two columns, not entities: the status needs no more, and rows skip the identity map.
    query = select(Line.code, Line.name).where(Line.active.is_(True)).order_by(Line.code)
    if codes is not None:
        query = query.where(Line.code.in_(list(codes)))
    lines = (await session.execute(query)).all()
    if not lines:
        return []
    names = [line.code for line in lines]
    instance = current_instance(await all_shifts(session), now, clock.zone)
    totals: dict[Any, Totals] = {}
    plans: dict[Any, int] = {}
    window: list[Stop] = []
    by_line: dict[str, list[Stop]] = {}
    if instance is not None:
        totals = await instance_totals(session, instance.date, instance.date, names, instance.shift)
        plans = await planned_quantities(session, instance.date, instance.date, names, instance.shift)
        window = await stops_between(session, instance.starts_at, now, names)
        # An open stop began before now and has not ended: the window's query has it already.
        open_stops = {stop.line: stop for stop in window if stop.ended_at is None}
        for stop in window:  # grouped once, not scanned once per line
            by_line.setdefault(stop.line, []).append(stop)
    else:
        open_stops = {stop.line: stop for stop in (await session.execute(
            select(Stop).where(Stop.open_line.in_(names)))).scalars()}
    machines = await machine_figures(session, names, instance.starts_at if instance else None)
    as_of = iso_utc(now)
    result = []
    for line in lines:
        stop = open_stops.get(line.code)
        status: dict[str, Any] = {
            "line": line.code, "name": line.name,
            "state": "stopped" if stop else ("idle" if instance is None else "running"),
            "stop": stop and {"id": stop.id, "reason": stop.reason, "label": stop.reason_info.label,
                              "planned": stop.reason_info.planned, "started_at": iso_utc(stop.started_at)},
            "shift": None,
            "plan": {"planned_quantity": 0, "good": 0, "defective": 0, "expected_by_now": 0, "pace": None},
            "oee": {"availability": None, "performance": None, "quality": None, "oee": None},
            "as_of": as_of,
        }
        if instance is not None:
            key = (instance.date, instance.shift, line.code)
            own = figures(instance, now, by_line.get(line.code, []),
                          totals.get(key, Totals()), plans.get(key, 0))
            status["shift"] = {"name": instance.shift, "date": instance.date.isoformat(),
                               "starts_at": iso_utc(instance.starts_at), "ends_at": iso_utc(instance.ends_at),
                               "elapsed": own["elapsed"]}
            status["plan"], status["oee"] = own["plan"], own["oee"]
        own_machines = machines.get(line.code)  # a line whose machines report over MQTT
        status["micro_stops"] = own_machines["micro_stops"] if own_machines else {"count": 0, "seconds": 0.0}
        status["offline_since"] = own_machines["offline_since"] if own_machines else None
        if own_machines and own_machines["offline"]:
            status["state"] = "offline"
        result.append(status)
    return result
