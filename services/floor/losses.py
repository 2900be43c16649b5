"""Downtime analysis and the OEE loss waterfall: the stops and the shift instances of a range.

Stops are clipped to the range (plant-local dates `from` … `to`, up to now) and, for the
waterfall, to each shift instance. Every instance's planned time comes from
`shift_time.instance_time`, the same accounting the other shift figures use.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.errors import bad_query
from models import Line, Shift
from services.analytics.downtime import Output, StopRow, instance_output, stops_overlapping
from services.common.crud import Page
from services.floor.shift_time import ShiftInstance, StopSpan, instance_time, instances_between
from services.floor.shifts import all_shifts

MAX_DAYS = 92
SECONDS = 3  # seconds are rounded to milliseconds
PLACES = 4  # shares and ratios to four decimals
UNCLASSIFIED = "unclassified"  # the category of a reason nobody has classified yet
# Logged stops the standard counts as performance loss, not availability loss.
SPEED_CATEGORIES = ("small_stop", "reduced_speed")
GROUP_COLUMNS = {
    "reason": ("reason", "label", "planned", "category"),
    "category": ("category",),
    "line": ("line",),
    "shift": ("shift",),
}
MEASURES = ("stops", "total_seconds", "mean_seconds", "unplanned_stops", "unplanned_seconds",
            "unplanned_share", "cumulative_share")
LINE_MEASURES = ("run_seconds", "mttr_seconds", "mtbf_seconds")
STEPS = ("shift_time", "planned_production_time", "run_time", "net_run_time", "fully_productive_time")
WATERFALL_COLUMNS = ("step", "seconds", "lost_seconds", "category", "category_seconds")


def downtime_columns(group_by: str) -> tuple[str, ...]:
    return (*GROUP_COLUMNS[group_by], *MEASURES, *(LINE_MEASURES if group_by == "line" else ()))


@dataclass
class Scope:
    """A report's lines, shift instances and window [start, end) (aware UTC; end ≤ now)."""

    first: date
    last: date
    lines: list[str]
    instances: list[ShiftInstance]
    start: datetime
    end: datetime


async def scope_of(session: AsyncSession, clock: Clock, params: dict[str, Any]) -> Scope:
    """Validate the range, line and shift of a query (400 naming the parameter) and resolve them."""
    today = clock.today()
    first = params.get("from_") or params.get("to") or today
    last = params.get("to") or max(first, today)
    if (last - first).days >= MAX_DAYS:
        raise bad_query({"to": [f"At most {MAX_DAYS} days from 'from'."]})
    query = select(Line.code).order_by(Line.code)
    line = params.get("line")
    query = query.where(Line.code == line) if line else query.where(Line.active.is_(True))
    lines = list((await session.execute(query)).scalars())
    if line and not lines:
        raise bad_query({"line": [f"No line has the code {line!r}."]})
    shifts = await all_shifts(session)
    if params.get("shift"):
        shifts = [s for s in shifts if s.name == params["shift"]]
        if not shifts:
            raise bad_query({"shift": [f"No shift is named {params['shift']!r}."]})
    start = midnight(first, clock)
    end = min(midnight(last + timedelta(days=1), clock), clock.now())
    return Scope(first, last, lines, instances_in(shifts, first, last, clock), start, end)


def instances_in(shifts: list[Shift], first: date, last: date, clock: Clock) -> list[ShiftInstance]:
    # The day before too: a night shift that started then runs into `first`.
    return instances_between(shifts, first - timedelta(days=1), last, clock.zone)


def midnight(day: date, clock: Clock) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.zone).astimezone(UTC)


def span(stop: StopRow, now: datetime) -> StopSpan:
    return StopSpan(stop.started_at, stop.ended_at or max(now, stop.started_at), stop.planned)


class LineStops:
    """One line's stops in start order. Stops of a line never overlap, so their ends are in order
    too, and the stops overlapping a window are one slice found by two binary searches."""

    def __init__(self, stops: list[StopRow], now: datetime) -> None:
        self.stops = stops
        self.spans = [span(stop, now) for stop in stops]
        self.starts = [s.started_at for s in self.spans]
        self.ends = [s.ended_at for s in self.spans]

    def within(self, start: datetime, end: datetime) -> slice:
        """The stops that overlap [start, end)."""
        return slice(bisect_right(self.ends, start), bisect_left(self.starts, end))


def by_line(stops: list[StopRow], lines: list[str], now: datetime) -> dict[str, LineStops]:
    grouped: dict[str, list[StopRow]] = {line: [] for line in lines}
    for stop in stops:  # in (line, start) order from the query
        grouped[stop.line].append(stop)
    return {line: LineStops(found, now) for line, found in grouped.items()}


# -- downtime -------------------------------------------------------------------------------


@dataclass
class Group:
    key: dict[str, Any]
    stops: int = 0
    total: float = 0.0
    unplanned_stops: int = 0
    unplanned: float = 0.0


async def downtime(session: AsyncSession, clock: Clock, params: dict[str, Any]) -> Page:
    """Stops of a range grouped by reason, category, line or shift, in Pareto order (a page)."""
    scope = await scope_of(session, clock, params)
    group_by = params["group_by"]
    now = clock.now()
    stops = (await stops_overlapping(session, scope.start, scope.end, scope.lines)
             if scope.lines and scope.end > scope.start else [])
    instances = [i for i in scope.instances if i.starts_at < scope.end and i.ends_at > scope.start]
    starts = [i.starts_at for i in instances]
    groups: dict[Any, Group] = {}
    if group_by == "line":  # every line of the scope has a row, stopped or not
        groups = {(line,): Group({"line": line}) for line in scope.lines}
    for stop in stops:
        if params.get("planned") is not None and stop.planned != params["planned"]:
            continue
        begins = max(stop.started_at, scope.start)
        seconds = (min(stop.ended_at or now, scope.end) - begins).total_seconds()
        if seconds <= 0:
            continue
        at = bisect_right(starts, begins) - 1
        shift = instances[at].shift if at >= 0 and begins < instances[at].ends_at else None
        if params.get("shift") and shift is None:
            continue  # the shift filter keeps the stops that began in one of its instances
        key = {"reason": {"reason": stop.reason, "label": stop.label, "planned": stop.planned,
                          "category": stop.category},
               "category": {"category": stop.category or UNCLASSIFIED},
               "line": {"line": stop.line}, "shift": {"shift": shift}}[group_by]
        group = groups.setdefault(tuple(key.values()), Group(key))
        group.stops += 1
        group.total += seconds
        if not stop.planned:
            group.unplanned_stops += 1
            group.unplanned += seconds
    rows = pareto(list(groups.values()))
    if group_by == "line":
        run = run_seconds(instances, stops, scope, now)
        for row in rows:
            count = row["unplanned_stops"]
            row["run_seconds"] = round(run.get(row["line"], 0.0), SECONDS)
            row["mttr_seconds"] = round(row["unplanned_seconds"] / count, SECONDS) if count else None
            row["mtbf_seconds"] = round(row["run_seconds"] / count, SECONDS) if count else None
    limit, page = params["limit"], params["page"]
    return Page(rows[(page - 1) * limit:page * limit], page, limit, len(rows))


def pareto(groups: list[Group]) -> list[dict[str, Any]]:
    """Largest total first (ties by key), each with its share of the unplanned time and the
    cumulative share of the total."""
    total = sum(group.total for group in groups)
    unplanned = sum(group.unplanned for group in groups)
    groups.sort(key=lambda g: (-round(g.total, SECONDS), [str(v) for v in g.key.values()]))
    rows, running = [], 0.0
    for group in groups:
        running += group.total
        rows.append({**group.key, "stops": group.stops, "total_seconds": round(group.total, SECONDS),
                     "mean_seconds": round(group.total / group.stops, SECONDS) if group.stops else None,
                     "unplanned_stops": group.unplanned_stops,
                     "unplanned_seconds": round(group.unplanned, SECONDS),
                     "unplanned_share": round(group.unplanned / unplanned, PLACES) if unplanned else None,
                     "cumulative_share": round(running / total, PLACES) if total else None})
    return rows


def run_seconds(instances: list[ShiftInstance], stops: list[StopRow], scope: Scope,
                now: datetime) -> dict[str, float]:
    """Run time per line in the window: Σ over its instances of planned time − unplanned stops."""
    run: dict[str, float] = {}
    for line, own in by_line(stops, scope.lines, now).items():
        run[line] = 0.0
        for instance in instances:
            start, end = max(scope.start, instance.starts_at), min(scope.end, instance.ends_at)
            run[line] += instance_time(instance, start, end, own.spans[own.within(start, end)]).run_seconds
    return run


# -- the loss waterfall ----------------------------------------------------------------------


@dataclass
class Waterfall:
    shift: float = 0.0
    planned: float = 0.0
    run: float = 0.0
    ideal: float = 0.0  # net run time: the ideal time of every unit made
    ideal_good: float = 0.0  # fully productive time: the ideal time of the good units
    lacking_ideal: bool = False
    # step → category → seconds lost
    losses: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(_by_category))


def _by_category() -> dict[str, float]:
    return defaultdict(float)


async def oee_losses(session: AsyncSession, clock: Clock, params: dict[str, Any]) -> dict[str, Any]:
    """The loss waterfall of the shift instances starting `from` … `to` (up to now), per line summed."""
    scope = await scope_of(session, clock, params)
    now = clock.now()
    instances = [i for i in scope.instances if scope.first <= i.date <= scope.last and i.starts_at < now]
    total = Waterfall()
    if instances and scope.lines:
        window_end = min(max(i.ends_at for i in instances), now)
        stops = await stops_overlapping(session, instances[0].starts_at, window_end, scope.lines)
        output = await instance_output(session, scope.first, scope.last, scope.lines)
        lines = by_line(stops, scope.lines, now)
        for instance in instances:
            for line, own in lines.items():
                add_instance(total, instance, min(instance.ends_at, now), own,
                             output.get((instance.date, instance.shift, line), Output()))
    line = scope.lines[0] if params.get("line") else None  # as the line spells its code
    return {"from": scope.first.isoformat(), "to": scope.last.isoformat(), "line": line,
            "lines": scope.lines, "instances": len(instances), "steps": steps(total),
            "oee": None if total.lacking_ideal or total.planned <= 0
            else round(total.ideal_good / total.planned, PLACES)}


def add_instance(total: Waterfall, instance: ShiftInstance, end: datetime, line: LineStops,
                 output: Output) -> None:
    """One line's instance up to `end` into the sums, each stop's seconds by its category."""
    within = line.within(instance.starts_at, end)
    stops = line.stops[within]
    counted = instance_time(instance, instance.starts_at, end, line.spans[within])
    total.shift += counted.shift_seconds
    total.planned += counted.planned_seconds
    total.losses["planned_production_time"]["planned"] += counted.shift_seconds - counted.planned_seconds
    availability = logged_speed = 0.0
    for stop, seconds in zip(stops, counted.stop_seconds, strict=True):
        if stop.planned or seconds <= 0:
            continue
        category = stop.category or UNCLASSIFIED
        if category in SPEED_CATEGORIES:  # logged small stops stay in run time: a speed loss
            total.losses["net_run_time"][category] += seconds
            logged_speed += seconds
        else:
            total.losses["run_time"][category] += seconds
            availability += seconds
    run = counted.planned_seconds - availability
    total.run += run
    total.ideal += output.ideal_seconds
    total.ideal_good += output.ideal_seconds - output.ideal_defective_seconds
    total.lacking_ideal = total.lacking_ideal or output.lacking_ideal > 0
    # What the logged slow and small stops do not explain is running below the ideal rate.
    total.losses["net_run_time"]["reduced_speed"] += run - output.ideal_seconds - logged_speed
    total.losses["fully_productive_time"]["production_reject"] += output.ideal_defective_seconds


def steps(total: Waterfall) -> list[dict[str, Any]]:
    """The five steps, each with what is left, what it lost and the loss by category (largest first)."""
    unknown = total.lacking_ideal
    seconds = {"shift_time": total.shift, "planned_production_time": total.planned, "run_time": total.run,
               "net_run_time": None if unknown else total.ideal,
               "fully_productive_time": None if unknown else total.ideal_good}
    result: list[dict[str, Any]] = [{"step": "shift_time", "seconds": round(total.shift, SECONDS),
                                     "lost_seconds": 0.0, "losses": []}]
    for before, step in zip(STEPS, STEPS[1:], strict=False):
        left, came = seconds[step], seconds[before]
        known = left is not None and came is not None
        losses = sorted(total.losses.get(step, {}).items(),
                        key=lambda item: (-round(item[1], SECONDS), item[0]))
        result.append({"step": step, "seconds": None if left is None else round(left, SECONDS),
                       "lost_seconds": round(came - left, SECONDS) if known else None,
                       "losses": [{"category": category, "seconds": round(value, SECONDS)}
                                  for category, value in losses] if known else []})
    return result


def waterfall_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The waterfall as CSV rows: one per step and category (a step without losses: one row)."""
    rows = []
    for step in report["steps"]:
        base = {"step": step["step"], "seconds": step["seconds"], "lost_seconds": step["lost_seconds"]}
        rows += [{**base, "category": loss["category"], "category_seconds": loss["seconds"]}
                 for loss in step["losses"]] or [base]
    return rows
