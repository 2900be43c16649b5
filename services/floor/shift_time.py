"""Shift instances in time: windows on plant-local dates as UTC moments, the running one, overlaps."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from models import WEEKDAYS
from models.shift import clock_minutes, parse_breaks, window_minutes

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES


BEGINNING = date(1970, 1, 1)  # the first version of a shift counts from here


@dataclass(frozen=True)
class Definition:
    """One version of a shift: its window, breaks and days, for instances starting on or after
    `effective_from` (until the next version's)."""

    effective_from: date
    starts_at: str
    ends_at: str
    break_minutes: int
    days: str
    breaks: tuple[tuple[str, int], ...] = ()


@dataclass
class ShiftPlan:
    """A shift by name with its versions, oldest first (complete before its first instance is
    asked for: `instance_on` keeps what it works out, per date and zone)."""

    name: str
    versions: list[Definition] = field(default_factory=list)
    instances: dict[tuple[date, ZoneInfo], ShiftInstance | None] = field(
        default_factory=dict, repr=False, compare=False)

    def on(self, day: date) -> Definition | None:
        """The definition an instance starting on `day` runs under."""
        found = None
        for version in self.versions:
            if version.effective_from <= day:
                found = version
            else:
                break
        return found


def plan_of(row: object, effective_from: date = BEGINNING) -> ShiftPlan:
    """A shift row (or anything with its columns) as a plan of one version."""
    return ShiftPlan(row.name, [definition_of(row, effective_from)])  # type: ignore[attr-defined]


def definition_of(row: object, effective_from: date) -> Definition:
    return Definition(effective_from, row.starts_at, row.ends_at, row.break_minutes,  # type: ignore
                      row.days, tuple(parse_breaks(getattr(row, "breaks", None))))


@dataclass(frozen=True)
class ShiftInstance:
    """A shift on the plant-local date it starts; `starts_at`/`ends_at` and the scheduled breaks'
    windows are aware UTC. Breaks without a time (`break_minutes` only) have no windows: they are
    spread evenly over the shift."""

    shift: str
    date: date
    starts_at: datetime
    ends_at: datetime
    break_minutes: int
    breaks: tuple[tuple[datetime, datetime], ...] = ()

    @property
    def spread(self) -> bool:
        """True when the break has no time and is spread evenly over the shift."""
        return bool(self.break_minutes) and not self.breaks

    @property
    def break_seconds(self) -> float:
        if self.breaks:
            return sum((end - start).total_seconds() for start, end in self.breaks)
        return self.break_minutes * 60.0

    @property
    def duration_seconds(self) -> float:
        """Real elapsed time: a DST change inside the window makes it an hour longer or shorter."""
        return (self.ends_at - self.starts_at).total_seconds()

    @property
    def planned_seconds(self) -> float:
        """Planned production time: duration − break."""
        return max(0.0, self.duration_seconds - self.break_seconds)

    def elapsed(self, now: datetime) -> float:
        """The fraction 0…1 of the window's wall time gone by at `now`."""
        if self.duration_seconds <= 0:
            return 1.0
        gone = (min(max(now, self.starts_at), self.ends_at) - self.starts_at).total_seconds()
        return gone / self.duration_seconds

    def as_dict(self) -> dict[str, object]:
        return {"shift": self.shift, "date": self.date, "starts_at": self.starts_at, "ends_at": self.ends_at}


def local_moment(day: date, clock: str, zone: ZoneInfo) -> datetime:
    """`clock` on `day` on the plant's wall clock, as aware UTC (a time skipped by DST moves forward)."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=zone).astimezone(UTC)


def instance_on(shift: ShiftPlan, day: date, zone: ZoneInfo) -> ShiftInstance | None:
    """The shift's instance starting on `day` under the definition of that day, or None when it
    does not run that weekday. Worked out once per plan, date and zone (an import places thousands
    of records on a few hundred days)."""
    key = (day, zone)
    if key not in shift.instances:
        shift.instances[key] = _instance_on(shift, day, zone)
    return shift.instances[key]


def _instance_on(shift: ShiftPlan, day: date, zone: ZoneInfo) -> ShiftInstance | None:
    definition = shift.on(day)
    if definition is None or WEEKDAYS[day.weekday()] not in definition.days.split(","):
        return None
    start = clock_minutes(definition.starts_at)
    minutes = window_minutes(definition.starts_at, definition.ends_at)
    end_day = day + timedelta(days=(start + minutes) // DAY_MINUTES)
    windows = []
    for clock, length in definition.breaks:
        offset = (clock_minutes(clock) - start) % DAY_MINUTES
        begins = local_moment(day + timedelta(days=(start + offset) // DAY_MINUTES), clock, zone)
        windows.append((begins, begins + timedelta(minutes=length)))
    return ShiftInstance(shift.name, day, local_moment(day, definition.starts_at, zone),
                         local_moment(end_day, definition.ends_at, zone), definition.break_minutes,
                         tuple(windows))


def break_offsets(starts_at: str, ends_at: str, breaks: Sequence[tuple[str, int]]) -> list[str]:
    """What is wrong with `breaks` in the window starting `starts_at`: outside it, or overlapping."""
    start, length = clock_minutes(starts_at), window_minutes(starts_at, ends_at)
    problems, last_end = [], 0
    for clock, minutes in sorted(breaks, key=lambda b: (clock_minutes(b[0]) - start) % DAY_MINUTES):
        offset = (clock_minutes(clock) - start) % DAY_MINUTES
        if offset + minutes > length:
            problems.append(f"The break at {clock} ({minutes} min) is not inside the shift "
                            f"{starts_at}-{ends_at}.")
        elif offset < last_end:
            problems.append(f"The break at {clock} overlaps the one before it.")
        last_end = max(last_end, offset + minutes)
    return problems


def instances_between(shifts: Iterable[ShiftPlan], first: date, last: date,
                      zone: ZoneInfo) -> list[ShiftInstance]:
    """Every instance starting on a plant-local date first … last, in start order."""
    found = []
    shifts = list(shifts)
    day = first
    while day <= last:
        for shift in shifts:
            instance = instance_on(shift, day, zone)
            if instance is not None:
                found.append(instance)
        day += timedelta(days=1)
    return sorted(found, key=lambda i: i.starts_at)


def current_instance(shifts: Iterable[ShiftPlan], now: datetime, zone: ZoneInfo) -> ShiftInstance | None:
    """The instance running at `now` (its start ≤ now < its end), if any."""
    today = now.astimezone(zone).date()
    for instance in instances_between(shifts, today - timedelta(days=1), today, zone):
        if instance.starts_at <= now < instance.ends_at:
            return instance
    return None


def next_instance(shifts: Iterable[ShiftPlan], now: datetime, zone: ZoneInfo) -> ShiftInstance | None:
    """The first instance starting after `now`, within a week."""
    today = now.astimezone(zone).date()
    for instance in instances_between(shifts, today, today + timedelta(days=8), zone):
        if instance.starts_at > now:
            return instance
    return None


def last_instance(shifts: Iterable[ShiftPlan], now: datetime, zone: ZoneInfo) -> ShiftInstance | None:
    """The instance that ended last at or before `now`, within a week."""
    today = now.astimezone(zone).date()
    ended = [i for i in instances_between(shifts, today - timedelta(days=8), today, zone) if i.ends_at <= now]
    return max(ended, key=lambda i: i.ends_at) if ended else None


def week_windows(starts_at: str, ends_at: str, days: str) -> list[tuple[int, int]]:
    """The shift's windows in minutes of a Monday-based week (wall clock), for overlap checks."""
    start, length = clock_minutes(starts_at), window_minutes(starts_at, ends_at)
    return [(WEEKDAYS.index(day) * DAY_MINUTES + start, WEEKDAYS.index(day) * DAY_MINUTES + start + length)
            for day in days.split(",")]


def windows_overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    """True when any window of `a` overlaps one of `b`, Sunday night running into Monday too."""
    for a_start, a_end in a:
        for b_start, b_end in b:
            for shift in (-WEEK_MINUTES, 0, WEEK_MINUTES):
                if a_start < b_end + shift and b_start + shift < a_end:
                    return True
    return False


def overlap_seconds(start: datetime, end: datetime, window_start: datetime, window_end: datetime) -> float:
    """Seconds of [start, end) inside [window_start, window_end)."""
    return max(0.0, (min(end, window_end) - max(start, window_start)).total_seconds())


class StopSpan(NamedTuple):
    """A stop as time accounting sees it: its window (aware UTC; an open stop ends now) and kind."""

    started_at: datetime
    ended_at: datetime
    planned: bool


@dataclass(frozen=True)
class InstanceTime:
    """One line's time in (part of) a shift instance, by the OEE standard's steps."""

    shift_seconds: float  # wall time of the window
    break_seconds: float  # scheduled break time in it
    stop_seconds: tuple[float, ...]  # each stop's seconds counted in it, in the order given
    planned_stop_seconds: float
    unplanned_stop_seconds: float

    @property
    def planned_seconds(self) -> float:
        """Planned production time: shift time − breaks − planned stops."""
        return max(0.0, self.shift_seconds - self.break_seconds - self.planned_stop_seconds)

    @property
    def run_seconds(self) -> float:
        """Run time: planned production time − unplanned stops."""
        return self.planned_seconds - self.unplanned_stop_seconds


def instance_time(instance: ShiftInstance, start: datetime, end: datetime,
                  stops: Sequence[StopSpan]) -> InstanceTime:
    """How the instance's time within [start, end) (aware UTC) divides into breaks, planned and
    unplanned stops: the one place shift time is counted, for the line status, the shift report,
    the downtime analysis and the loss waterfall alike.

    Every moment counts once: scheduled breaks first (those whose time has come by `end`), then
    planned stops outside them, then unplanned stops outside both (a line's stops never overlap
    one another). A break with no time of day (`break_minutes` only) is spread evenly over the
    window, and the stops then count whole.
    """
    start, end = max(start, instance.starts_at), min(end, instance.ends_at)
    wall = max(0.0, (end - start).total_seconds())
    clipped = [(max(a, start), min(b, end)) for a, b in ((s.started_at, s.ended_at) for s in stops)]
    if instance.spread:
        duration = instance.duration_seconds
        breaks = wall * instance.break_minutes * 60 / duration if duration > 0 else 0.0
        break_spans: list[tuple[datetime, datetime]] = []
    else:
        break_spans = union((max(a, start), min(b, end)) for a, b in instance.breaks)
        breaks = span_seconds(break_spans)
    planned_down = union(break_spans + [span for span, stop in zip(clipped, stops, strict=True)
                                        if stop.planned])

    def outside(span: tuple[datetime, datetime], down: list[tuple[datetime, datetime]]) -> float:
        if span[1] <= span[0]:
            return 0.0
        inside = union((max(span[0], a), min(span[1], b)) for a, b in down)
        return (span[1] - span[0]).total_seconds() - span_seconds(inside)

    seconds = tuple(outside(span, break_spans if stop.planned else planned_down)
                    for span, stop in zip(clipped, stops, strict=True))
    planned = sum(part for part, stop in zip(seconds, stops, strict=True) if stop.planned)
    return InstanceTime(wall, breaks, seconds, planned, sum(seconds) - planned)


def union(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Spans merged where they overlap or touch, in order: each moment once."""
    merged: list[list[datetime]] = []
    for start, end in sorted(span for span in spans if span[1] > span[0]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def span_seconds(spans: Iterable[tuple[datetime, datetime]]) -> float:
    return sum((end - start).total_seconds() for start, end in spans)
