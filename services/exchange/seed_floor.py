"""The seed's shop floor: lines, three shifts, a plan for every seeded day and today, and stops,
so a first look at GET /lines/status shows lines ahead of plan, behind it and stopped."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from core.clock import Clock
from core.db import Database
from models import Line, ProductionRecord, Shift, ShiftVersion, Stop, WorkOrder
from services.exchange.seed_data import LINES, SHIFTS
from services.floor.shift_time import BEGINNING, ShiftInstance, current_instance, instances_between, plan_of

SHIFT_HOURS = 8
BREAK_MINUTES = 30
# The pace each line keeps in the running shift: some ahead of plan, some behind.
PACE_TARGETS = (1.12, 0.82, 1.0, 0.68, 1.05, 0.9, 1.2, 0.75)
UNPLANNED = ("breakdown", "changeover", "no_material", "quality", "no_operator")
STOP_DAYS = 28  # history with stops: the last four weeks


def line_code(index: int) -> str:
    return f"L{index + 1}"


async def seed_shop_floor(db: Database, clock: Clock, lines: int, products_by_line: dict[int, int],
                          first_day: date, rng: random.Random,
                          made: dict[tuple[date, str, str], tuple[int, int]]) -> dict[str, int]:
    """Write the floor after the production records; returns the row counts.

    `made` is what the seeded records hold per instance, (date, shift, line): the lowest product
    id and the units made, summed by the seeder as it made them (not summed again from the rows)."""
    now, today = clock.now(), clock.today()
    stamp = clock.utcnow()
    codes = [line_code(n) for n in range(lines)]
    async with db.write() as uow:
        session = uow.session
        await session.execute(insert(Line), [{"code": code, "name": LINES[n], "active": True,
                                              "created_at": stamp, "updated_at": stamp}
                                             for n, code in enumerate(codes)])
        shifts = seed_shifts()
        session.add_all(shifts)
        await session.flush()
        session.add_all([ShiftVersion(shift_id=shift.id, effective_from=BEGINNING, starts_at=shift.starts_at,
                                      ends_at=shift.ends_at, break_minutes=shift.break_minutes,
                                      days=shift.days, breaks=shift.breaks) for shift in shifts])
        await session.flush()
        shifts = [plan_of(shift) for shift in shifts]
        # Past instances: what was made, plus a little — the plan is met now and then, not always.
        recent = today - timedelta(days=1)
        past = {key: sums for key, sums in made.items() if key[0] < recent}
        if past:
            await session.execute(insert(WorkOrder), [
                {"product_id": product_id, "line": line, "shift": shift, "date": day,
                 "planned_quantity": units + units // 20, "status": "completed", "created_at": stamp,
                 "updated_at": stamp} for (day, shift, line), (product_id, units) in sorted(past.items())])
        # Yesterday and today, instance by instance: finished, running (paced per line) or to come.
        running = current_instance(shifts, now, clock.zone)
        if running is not None:
            await gather_into(session, running, codes, now)
        made_by = await good_by_instance(session, recent, today)
        typical = 400
        orders = []
        for instance in instances_between(shifts, recent, today, clock.zone):
            for n, code in enumerate(codes):
                good = made_by.get((instance.date, instance.shift, code), 0)
                if instance.ends_at <= now and (instance.date, instance.shift, code) not in made_by:
                    continue  # nothing was made: the instance was not scheduled
                status, planned = plan_for(instance, running, now, good, PACE_TARGETS[n % len(PACE_TARGETS)],
                                           typical)
                orders.append({"product_id": products_by_line.get(n) or products_by_line[0], "line": code,
                               "shift": instance.shift, "date": instance.date, "planned_quantity": planned,
                               "status": status, "created_at": stamp, "updated_at": stamp})
        await session.execute(insert(WorkOrder), orders)
        ran = set(past) | set(made_by)  # the instances with production, as gathered above
        stops = make_stops(codes, shifts, first_day, clock, running, rng, ran)
        if stops:
            await session.execute(insert(Stop), stops)
        work_orders = await session.scalar(select(func.count()).select_from(WorkOrder))
    return {"lines": len(codes), "shifts": len(shifts), "work orders": work_orders or 0, "stops": len(stops)}


def seed_shifts() -> list[Shift]:
    """The seeded plant's three 8-hour shifts, every day, each with its break at its time four
    hours in (rows not yet added)."""
    return [Shift(name=name, starts_at=f"{hour:02d}:00", ends_at=f"{(hour + SHIFT_HOURS) % 24:02d}:00",
                  break_minutes=BREAK_MINUTES, breaks=f"{(hour + 4) % 24:02d}:00/{BREAK_MINUTES}",
                  days="mon,tue,wed,thu,fri,sat,sun") for name, hour in SHIFTS]


def placed_in(instance: ShiftInstance, now: datetime) -> datetime:
    """Where the seed places an instance's records (`produced_at`, aware UTC): the middle of the
    instance, or of its start and now while it runs."""
    end = min(instance.ends_at, now)
    return instance.starts_at + max(end - instance.starts_at, timedelta(0)) / 2


async def gather_into(session: Any, running: ShiftInstance, codes: list[str], now: datetime) -> None:
    """A small seed has few records a day: a line with none in the running shift gets that day's
    earlier ones, so the board has pace to show (shift and time only; stock is untouched)."""
    present = set((await session.execute(
        select(ProductionRecord.line).where(ProductionRecord.date_produced == running.date,
                                            ProductionRecord.shift == running.shift).distinct())).scalars())
    for code in codes:
        if code not in present:
            await session.execute(update(ProductionRecord).where(
                ProductionRecord.date_produced == running.date, ProductionRecord.line == code)
                .values(shift=running.shift, produced_at=placed_in(running, now).replace(tzinfo=None)))


async def good_by_instance(session: Any, first: date, last: date) -> dict[tuple[date, str, str], int]:
    rows = await session.execute(
        select(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line,
               func.sum(ProductionRecord.quantity_produced - ProductionRecord.quantity_defective))
        .where(and_(ProductionRecord.date_produced >= first, ProductionRecord.date_produced <= last))
        .group_by(ProductionRecord.date_produced, ProductionRecord.shift, ProductionRecord.line))
    return {(day, shift, line): int(good or 0) for day, shift, line, good in rows}


def plan_for(instance: ShiftInstance, running: ShiftInstance | None, now: datetime, good: int,
             pace: float, typical: int) -> tuple[str, int]:
    """The status and planned quantity of one line's work order in one instance."""
    if instance.ends_at <= now:
        return "completed", max(1, good + good // 20)
    if running is not None and (instance.date, instance.shift) == (running.date, running.shift):
        elapsed = instance.elapsed(now)
        if good and elapsed > 0:
            return "in_progress", max(1, round(good / (elapsed * pace)))
        return "released", typical
    return "released", typical


def make_stops(codes: list[str], shifts: list[Any], first_day: date, clock: Clock,
               running: ShiftInstance | None, rng: random.Random,
               ran: set[tuple[date, str, str]]) -> list[dict[str, Any]]:
    """A stop or two per line and day over the last four weeks in the instances that ran (`ran`:
    (date, shift, line) with production), and now: an open breakdown on the last line and a
    changeover earlier in the running shift on the second."""
    now = clock.utcnow()
    today = clock.today()
    start = max(first_day, today - timedelta(days=STOP_DAYS))
    rows: list[dict[str, Any]] = []

    def add(code: str, reason: str, began: datetime, minutes: float | None) -> None:
        ended = None if minutes is None else began + timedelta(minutes=minutes)
        rows.append({"line": code, "reason": reason, "started_at": began, "ended_at": ended,
                     "open_line": code if ended is None else None, "note": None, "reported_by": "seed",
                     "created_at": began, "updated_at": ended or began})

    for instance in instances_between(shifts, start, today - timedelta(days=1), clock.zone):
        if instance.ends_at > clock.now():
            continue  # last night's shift may still be running
        begin = instance.starts_at.replace(tzinfo=None)
        for code in codes:
            if (instance.date, instance.shift, code) not in ran:
                continue  # not scheduled: no stops either
            if rng.random() < 0.45:  # an unplanned stop in the first half of the shift
                add(code, UNPLANNED[int(rng.random() * len(UNPLANNED))],
                    begin + timedelta(minutes=30 + rng.random() * 180), 5 + rng.random() * 40)
            if instance.shift == shifts[0].name and instance.date.weekday() == 0:
                add(code, "planned_maintenance", begin + timedelta(hours=5), 45)  # Mondays, late morning
    if running is not None:
        begin = running.starts_at.replace(tzinfo=None)
        gone = (now - begin).total_seconds() / 60
        if len(codes) > 1 and gone > 50:
            add(codes[1], "changeover", begin + timedelta(minutes=gone / 3), min(20.0, gone / 4))
        if gone > 2:
            add(codes[-1], "breakdown", now - timedelta(minutes=min(25.0, gone / 2)), None)
    return rows
