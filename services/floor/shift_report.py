"""The shift report: the line-status figures for whole past shift instances, per (date, shift, line)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import bad_query
from models import Line
from schemas.common import iso_utc
from services.common.crud import Page
from services.floor.line_status import (
    Totals,
    aware,
    figures,
    instance_totals,
    planned_quantities,
    runs,
    scheduled,
    stops_between,
)
from services.floor.shift_time import instances_between
from services.floor.shifts import all_shifts

MAX_DAYS = 92
COLUMNS = ("date", "shift", "line", "starts_at", "ends_at", "scheduled", "planned_quantity", "good",
           "defective", "pace", "planned_seconds", "unplanned_stop_seconds", "availability", "performance",
           "quality", "oee", "warnings")


class ShiftReport(NamedTuple):
    """A page of rows, and the moment (aware UTC) until which it holds without a write: the next
    end of an instance in the range, or the next plant-local midnight (when "yesterday" moves on),
    whichever comes first."""

    page: Page
    valid_until: datetime


async def shift_report(session: AsyncSession, clock: Clock, params: dict[str, Any]) -> ShiftReport:
    """Rows for instances starting `from` … `to` (default: yesterday) that have ended, by start and line."""
    yesterday = clock.today() - timedelta(days=1)
    first, last = params.get("from_") or params.get("to") or yesterday, params.get("to")
    last = last or max(first, yesterday)
    if (last - first).days >= MAX_DAYS:
        raise bad_query({"to": [f"At most {MAX_DAYS} days from 'from'."]})
    query = select(Line.code, Line.shifts).order_by(Line.code)
    if params.get("line"):
        query = query.where(Line.code == params["line"])
    else:
        query = query.where(Line.active.is_(True))
    calendars = dict((await session.execute(query)).all())
    lines = list(calendars)
    if params.get("line") and not lines:
        raise bad_query({"line": [f"No line has the code {params['line']!r}."]})
    now = clock.now()
    in_range = instances_between(await all_shifts(session), first, last, clock.zone)
    instances = [i for i in in_range if i.ends_at <= now]
    midnight = datetime.combine(clock.today() + timedelta(days=1), time.min, tzinfo=clock.zone)
    valid_until = min([midnight.astimezone(UTC), *(i.ends_at for i in in_range if i.ends_at > now)])
    rows: list[dict[str, Any]] = []
    if instances and lines:
        totals = await instance_totals(session, first, last, lines)
        plans = await planned_quantities(session, first, last, lines)
        stops = await stops_between(session, instances[0].starts_at, max(i.ends_at for i in instances), lines)
        for instance in instances:
            for line in lines:
                if not runs(calendars[line], instance.shift):
                    continue  # not in the line's calendar: no instance of this line
                key = (instance.date, instance.shift, line)
                own_stops = [stop for stop in stops if stop.line == line
                             and aware(stop.started_at) < instance.ends_at
                             and (stop.ended_at is None or aware(stop.ended_at) > instance.starts_at)]
                own = figures(instance, instance.ends_at, own_stops, totals.get(key, Totals()),
                              plans.get(key, 0))
                planned = scheduled(key, totals, plans, own_stops)
                rows.append({"date": instance.date.isoformat(), "shift": instance.shift, "line": line,
                             "starts_at": iso_utc(instance.starts_at), "ends_at": iso_utc(instance.ends_at),
                             "scheduled": planned,
                             "planned_quantity": own["plan"]["planned_quantity"], "good": own["plan"]["good"],
                             "defective": own["plan"]["defective"], "pace": own["plan"]["pace"],
                             "planned_seconds": own["planned_seconds"],
                             "unplanned_stop_seconds": own["unplanned_stop_seconds"], **own["oee"],
                             "warnings": own["warnings"]})
    limit, page = params["limit"], params["page"]
    return ShiftReport(Page(rows[(page - 1) * limit:page * limit], page, limit, len(rows)), valid_until)
