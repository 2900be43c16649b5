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
from services.floor.shift_time import ShiftInstance, StopSpan, current_instance, instance_time, last_instance
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
    """The plan and OEE of one line in `instance` up to `now` (aware UTC), by the standard:

    planned production time = shift time so far − planned downtime (the scheduled breaks whose time
    has come, planned stops); run time = planned production time − unplanned stop time;
    availability = run / planned; performance = Σ(ideal cycle × produced) / run; quality = good /
    produced; OEE = A × P × Q. Every moment counts once: where breaks, planned and unplanned stops
    overlap, the overlap is planned downtime. A break with no time is spread evenly over the shift.
    """
    start = instance.starts_at
    end = min(max(now, start), instance.ends_at)
    elapsed_us = int((end - start).total_seconds() * 1_000_000)
    duration_us = int(instance.duration_seconds * 1_000_000)
    elapsed = elapsed_us / duration_us if duration_us else 1.0
    counted = instance_time(instance, start, end, [
        StopSpan(aware(stop.started_at), aware(stop.ended_at) if stop.ended_at else now,
                 stop.reason_info.planned) for stop in stops])
    planned, unplanned, running = counted.planned_seconds, counted.unplanned_stop_seconds, counted.run_seconds
    availability = None if planned <= 0 else min(1.0, max(0.0, running / planned))
    performance = None if totals.lacking_ideal or running <= 0 else totals.ideal_seconds / running
    quality = totals.good / totals.produced if totals.produced else None
    factors = (availability, performance, quality)
    oee = None if None in factors else availability * performance * quality
    if planned > 0 and running > 0 and not totals.produced:
        oee = 0.0  # the line had time to make something and made nothing: 0 %, not "—"
    shown = {name: None if value is None else round(value, PLACES) for name, value in
             (("availability", availability), ("performance", performance), ("quality", quality),
              ("oee", oee))}
    # Expected by now: the planned quantity × the share of the shift's planned time gone by
    # (scheduled breaks only: a stop does not lower what the plan expects).
    planned_us = duration_us - int(instance.break_seconds * 1_000_000)
    gone_us = max(0, elapsed_us - round(counted.break_seconds * 1_000_000))
    expected = planned_quantity * gone_us // planned_us if planned_us > 0 else planned_quantity
    on_break = next(((b_start, b_end) for b_start, b_end in instance.breaks if b_start <= now < b_end), None)
    return {
        "plan": {"planned_quantity": planned_quantity, "good": totals.good, "defective": totals.defective,
                 "expected_by_now": expected, "pace": ratio(totals.good, expected)},
        "oee": shown,
        "factors": {"availability": availability, "performance": performance, "quality": quality, "oee": oee},
        "warnings": ["performance_over_100"] if (shown["performance"] or 0) > 1.0 else [],
        "elapsed": round(elapsed, PLACES),
        "on_break": on_break is not None,
        "break_ends_at": on_break and on_break[1],
        "planned_seconds": round(planned, 3),
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


def runs(calendar: str | None, shift: str) -> bool:
    """Whether a line with this calendar (comma-separated shift names; None: all) runs `shift`."""
    return calendar is None or shift in calendar.split(",")


def scheduled(key: tuple[date, str, str], totals: dict[Any, Totals], plans: dict[Any, int],
              stops: list[Stop]) -> bool:
    """An instance of a line with no work order, no production and no stop was not scheduled."""
    return key in totals or key in plans or bool(stops)


def weighted(statuses: list[tuple[dict[str, Any], float]]) -> dict[str, float | None]:
    """Each factor as the mean of the lines' values (unrounded) weighted by their planned production
    time (lines where it is unknown left out); null when no line has it."""
    result: dict[str, float | None] = {}
    for name in ("availability", "performance", "quality", "oee"):
        known = [(oee[name], weight) for oee, weight in statuses if oee[name] is not None and weight > 0]
        total = sum(weight for _, weight in known)
        result[name] = (round(sum(value * weight for value, weight in known) / total, PLACES)
                        if total else None)
    return result


_LINES = (select(Line.code, Line.name, Line.shifts).where(Line.active.is_(True)).order_by(Line.code))
_SOME_LINES = _LINES.where(Line.code.in_(bindparam("codes", expanding=True)))
_OPEN_STOPS = select(Stop).where(Stop.open_line.in_(bindparam("lines", expanding=True)))


async def line_statuses(session: AsyncSession, clock: Clock, codes: Iterable[str] | None = None,
                        ) -> list[dict[str, Any]]:
    """The status of every active line (or of those in `codes`), ordered by code."""
    return (await plant_status(session, clock, codes))["items"]


async def plant_status(session: AsyncSession, clock: Clock, codes: Iterable[str] | None = None,
                       ) -> dict[str, Any]:
    """Every active line's status (or those in `codes`'), and the plant's: lines by state, and
    A, P, Q and OEE weighted by the lines' planned production time in the running instance."""
    now = clock.now()
    # Three columns, not entities: the status needs no more, and rows skip the identity map.
    lines = (await session.execute(_LINES if codes is None else _SOME_LINES,
                                   {} if codes is None else {"codes": list(codes)})).all()
    if not lines:
        return {"items": [], "plant": plant_figures([], [])}
    names = [line.code for line in lines]
    shifts = await all_shifts(session)
    instance = current_instance(shifts, now, clock.zone)
    # By code: a result row's == compares every column.
    running = {line.code for line in lines if instance is not None and runs(line.shifts, instance.shift)}
    working = [line for line in lines if line.code in running]
    idle = [line for line in lines if line.code not in running]
    totals: dict[Any, Totals] = {}
    plans: dict[Any, int] = {}
    by_line: dict[str, list[Stop]] = {}
    open_stops: dict[str, Stop] = {}
    if working:
        assert instance is not None
        codes_working = [line.code for line in working]
        totals = await instance_totals(session, instance.date, instance.date, codes_working, instance.shift)
        plans = await planned_quantities(session, instance.date, instance.date, codes_working, instance.shift)
        window = await stops_between(session, instance.starts_at, now, names)
        for stop in window:  # grouped once, not scanned once per line
            by_line.setdefault(stop.line, []).append(stop)
        # An open stop began before now and has not ended: the window's query has it already.
        open_stops = {stop.line: stop for stop in window if stop.ended_at is None}
    if idle:
        open_stops.update({stop.line: stop for stop in (await session.execute(
            _OPEN_STOPS, {"lines": [line.code for line in idle]})).scalars()})
    last = await last_results(session, shifts, idle, now, clock) if idle else {}
    machines = await machine_figures(session, names, instance.starts_at if instance else None)
    as_of = iso_utc(now)
    if instance is not None:  # every working line's shift is this one: its texts made once
        day, starts_at, ends_at = (instance.date.isoformat(), iso_utc(instance.starts_at),
                                   iso_utc(instance.ends_at))
    result = []
    weights: list[tuple[dict[str, Any], float]] = []
    for line in lines:
        stop = open_stops.get(line.code)
        status: dict[str, Any] = {
            "line": line.code, "name": line.name,
            "state": "stopped" if stop else "idle",
            "stop": stop and {"id": stop.id, "reason": stop.reason, "label": stop.reason_info.label,
                              "planned": stop.reason_info.planned, "category": stop.reason_info.category,
                              "started_at": iso_utc(stop.started_at), "note": stop.note},
            "shift": None,
            "plan": {"planned_quantity": 0, "good": 0, "defective": 0, "expected_by_now": 0, "pace": None},
            "oee": {"availability": None, "performance": None, "quality": None, "oee": None},
            "warnings": [],
            "scheduled": False,
            "last_shift": None,
            "as_of": as_of,
        }
        own_machines = machines.get(line.code)  # a line whose machines report over MQTT
        if line.code in running:
            assert instance is not None
            key = (instance.date, instance.shift, line.code)
            stops = by_line.get(line.code, [])
            own = figures(instance, now, stops, totals.get(key, Totals()), plans.get(key, 0))
            status["shift"] = {"name": instance.shift, "date": day, "starts_at": starts_at,
                               "ends_at": ends_at, "elapsed": own["elapsed"], "on_break": own["on_break"],
                               "break_ends_at": own["break_ends_at"] and iso_utc(own["break_ends_at"])}
            # A machine online on the line says it runs, before anything is counted or planned.
            status["scheduled"] = scheduled(key, totals, plans, stops) or bool(
                own_machines and not own_machines["offline"])
            if status["scheduled"]:
                status["state"] = "stopped" if stop else "running"
                status["plan"], status["oee"], status["warnings"] = own["plan"], own["oee"], own["warnings"]
                weights.append((own["factors"], own["planned_seconds"]))
        else:
            status["last_shift"] = last.get(line.code)
        status["micro_stops"] = own_machines["micro_stops"] if own_machines else {"count": 0, "seconds": 0.0}
        status["offline_since"] = own_machines["offline_since"] if own_machines else None
        if own_machines and own_machines["offline"]:
            status["state"] = "offline"
        result.append(status)
    return {"items": result, "plant": plant_figures(result, weights)}


def plant_figures(items: list[dict[str, Any]], weights: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    counts = {state: 0 for state in ("running", "stopped", "idle", "offline")}
    for item in items:
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    return {**counts, **weighted(weights)}


async def last_results(session: AsyncSession, shifts: list[Any], lines: list[Any], now: datetime,
                       clock: Clock) -> dict[str, dict[str, Any]]:
    """Per idle line, the result of its last finished instance (its calendar's), if it ran."""
    last_of: dict[str, ShiftInstance] = {}
    for calendar in {line.shifts for line in lines}:
        instance = last_instance([s for s in shifts if runs(calendar, s.name)], now, clock.zone)
        if instance is not None:
            for line in lines:
                if line.shifts == calendar:
                    last_of[line.code] = instance
    if not last_of:
        return {}
    instances = list(last_of.values())
    first, final = min(i.date for i in instances), max(i.date for i in instances)
    codes = list(last_of)
    totals = await instance_totals(session, first, final, codes)
    plans = await planned_quantities(session, first, final, codes)
    stops = await stops_between(session, min(i.starts_at for i in instances),
                                max(i.ends_at for i in instances), codes)
    results = {}
    for code, instance in last_of.items():
        key = (instance.date, instance.shift, code)
        own_stops = [stop for stop in stops if stop.line == code and aware(stop.started_at) < instance.ends_at
                     and (stop.ended_at is None or aware(stop.ended_at) > instance.starts_at)]
        if not scheduled(key, totals, plans, own_stops):
            continue
        own = figures(instance, instance.ends_at, own_stops, totals.get(key, Totals()), plans.get(key, 0))
        results[code] = {"name": instance.shift, "date": instance.date.isoformat(),
                         "starts_at": iso_utc(instance.starts_at), "ends_at": iso_utc(instance.ends_at),
                         "plan": own["plan"], "oee": own["oee"], "warnings": own["warnings"]}
    return results
