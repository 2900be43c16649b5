"""Where a production record falls in time: `produced_at`, its shift instance and production day.

A record made during a shift instance of its line's calendar belongs to that instance: `shift` is
its name and `date_produced` the plant-local date it started (a night shift belongs wholly to the
day it started). Between shifts a record has no shift and the plant day of its time. The old form
(`date_produced` + `shift`) must name an instance that has started; the record is placed at
min(now, the instance's end).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import invalid
from models import Line, WorkOrder
from services.floor.shift_time import ShiftInstance, ShiftPlan, instance_on, instances_between
from services.floor.shifts import all_shifts

_CALENDAR = select(Line.shifts).where(Line.code == bindparam("code"))


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def instance_at(shifts: list[ShiftPlan], moment: datetime, zone: Any) -> ShiftInstance | None:
    """The instance whose window holds `moment` (aware), if any."""
    day = moment.astimezone(zone).date()
    for instance in instances_between(shifts, day - timedelta(days=1), day, zone):
        if instance.starts_at <= moment < instance.ends_at:
            return instance
    return None


@dataclass(frozen=True)
class ShiftBook:
    """What placing records in time reads: every shift with its versions, and the calendars of the
    lines named (a line's comma-separated shift names; a line without one runs every shift)."""

    shifts: list[ShiftPlan]
    calendars: dict[str, str | None] = field(default_factory=dict)

    def of_line(self, line: str | None) -> list[ShiftPlan]:
        """The shifts the line runs (its calendar; every shift without a line or calendar)."""
        calendar = None if line is None else self.calendars.get(line)
        if calendar is None:
            return self.shifts
        names = calendar.split(",")
        return [shift for shift in self.shifts if shift.name in names]

    def named(self, name: str) -> list[ShiftPlan]:
        return [shift for shift in self.shifts if shift.name == name]


def placed_by(values: dict[str, Any], given: set[str]) -> str:
    """How a record is placed: by its `moment` (produced_at), its `day` (date_produced, with or
    without shift), or `now`."""
    if "produced_at" in given:
        return "moment"
    if values.get("date_produced") is not None and "date_produced" in given:
        return "day"
    return "now"


async def shift_book(session: AsyncSession, values: dict[str, Any], given: set[str],
                     work_order: WorkOrder | None = None) -> ShiftBook:
    """The part of the book that placing this one record reads: nothing for a day without a shift;
    every shift for a day with one; every shift and the line's calendar for a moment."""
    form = placed_by(values, given)
    if form == "day" and values.get("shift") is None and work_order is None:
        return ShiftBook([])
    shifts = await all_shifts(session)
    line = values.get("line")
    if form == "day" or line is None:
        return ShiftBook(shifts)
    return ShiftBook(shifts, {line: await session.scalar(_CALENDAR, {"code": line})})


async def place(session: AsyncSession, clock: Clock, values: dict[str, Any],
                given: set[str], work_order: WorkOrder | None = None) -> None:
    """Set `produced_at`, `shift` and `date_produced` of a record from what the client gave
    (`given`: the field names it sent); 422 naming the field for a time or instance not yet come."""
    place_in(await shift_book(session, values, given, work_order), clock, values, given, work_order)


def place_in(book: ShiftBook, clock: Clock, values: dict[str, Any], given: set[str],
             work_order: WorkOrder | None = None) -> None:
    """`place` with the shifts already read: the one set of placement rules, for one record
    (`place`) or a chunk of an import read once (`book` holding every line it names)."""
    now = clock.now()
    form = placed_by(values, given)
    if form == "moment":
        moment = aware(values["produced_at"])
        if moment > now:
            raise invalid({"produced_at": ["Must not be in the future."]})
        derived = derive(book.of_line(values.get("line")), moment, clock)
        for name in ("shift", "date_produced"):
            if name in given and values.get(name) is not None and values[name] != derived[name]:
                raise invalid({name: [f"Differs from what produced_at gives ({derived[name]})."]})
        values.update(derived, produced_at=naive(moment))
    elif form == "day":
        if values.get("shift") is None and work_order is not None:
            values["shift"] = work_order.shift
        day = values["date_produced"]
        if values.get("shift") is not None:
            shifts = book.named(values["shift"])
            instance = instance_on(shifts[0], day, clock.zone) if shifts else None
            if instance is None:
                raise invalid({"date_produced": [f"Shift {values['shift']} does not run on {day}."]})
            if instance.starts_at > now:
                raise invalid({"shift": [f"Shift {values['shift']} of {day} has not started "
                                         f"(it starts at {instance.starts_at:%Y-%m-%dT%H:%M:%SZ})."]})
            values["produced_at"] = naive(min(now, instance.ends_at))
        else:
            if day > clock.today():
                raise invalid({"date_produced": ["Must not be in the future."]})
            values["produced_at"] = naive(noon_of(day, clock.zone, now))
    else:
        if "shift" in given and values.get("shift") is not None:
            raise invalid({"date_produced": ["Needed with shift (or send produced_at)."]})
        values.update(derive(book.of_line(values.get("line")), now, clock), produced_at=naive(now))
    if work_order is not None and (values.get("shift"), values["date_produced"]) != (
            work_order.shift, work_order.date):
        raise invalid({"work_order_id": [
            f"The record falls in {values.get('shift') or 'no shift'} of {values['date_produced']}, "
            f"outside work order {work_order.id}'s instance ({work_order.shift} of {work_order.date})."]})


def noon_of(day: date, zone: Any, now: datetime) -> datetime:
    """Where a record known only by its plant day (no shift) is placed: noon of that day on the
    plant's clock, or `now` while that noon is still to come (aware UTC). The records that existed
    before `produced_at` (migration 0010), the seed's and the legacy import's are placed so too."""
    return min(now, datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC))


def derive(shifts: list[ShiftPlan], moment: datetime, clock: Clock) -> dict[str, Any]:
    """`shift` and `date_produced` of a record made at `moment` on a line running `shifts`."""
    instance = instance_at(shifts, moment, clock.zone)
    if instance is None:
        return {"shift": None, "date_produced": moment.astimezone(clock.zone).date()}
    return {"shift": instance.shift, "date_produced": instance.date}


def production_day(shifts: list[ShiftPlan], now: datetime, clock: Clock) -> date:
    """The production day now: the day of the running instance, else of the last one that ran
    (within a week), else the plant's calendar day."""
    running = instance_at(shifts, now, clock.zone)
    if running is not None:
        return running.date
    today = now.astimezone(clock.zone).date()
    ended = [i for i in instances_between(shifts, today - timedelta(days=8), today, clock.zone)
             if i.ends_at <= now]
    return max(ended, key=lambda i: i.ends_at).date if ended else today
