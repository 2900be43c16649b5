"""Shift instances in time: windows on plant-local dates as UTC moments, the running one, overlaps."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from models import WEEKDAYS, Shift
from models.shift import clock_minutes, window_minutes

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES


@dataclass(frozen=True)
class ShiftInstance:
    """A shift on the plant-local date it starts; `starts_at`/`ends_at` are aware UTC."""

    shift: str
    date: date
    starts_at: datetime
    ends_at: datetime
    break_minutes: int

    @property
    def duration_seconds(self) -> float:
        """Real elapsed time: a DST change inside the window makes it an hour longer or shorter."""
        return (self.ends_at - self.starts_at).total_seconds()

    @property
    def planned_seconds(self) -> float:
        """Planned production time: duration − break."""
        return max(0.0, self.duration_seconds - self.break_minutes * 60)

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


def instance_on(shift: Shift, day: date, zone: ZoneInfo) -> ShiftInstance | None:
    """The shift's instance starting on `day`, or None when it does not run that weekday."""
    if WEEKDAYS[day.weekday()] not in shift.days.split(","):
        return None
    minutes = window_minutes(shift.starts_at, shift.ends_at)
    end_day = day + timedelta(days=(clock_minutes(shift.starts_at) + minutes) // DAY_MINUTES)
    return ShiftInstance(shift.name, day, local_moment(day, shift.starts_at, zone),
                         local_moment(end_day, shift.ends_at, zone), shift.break_minutes)


def instances_between(shifts: Iterable[Shift], first: date, last: date,
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


def current_instance(shifts: Iterable[Shift], now: datetime, zone: ZoneInfo) -> ShiftInstance | None:
    """The instance running at `now` (its start ≤ now < its end), if any."""
    today = now.astimezone(zone).date()
    for instance in instances_between(shifts, today - timedelta(days=1), today, zone):
        if instance.starts_at <= now < instance.ends_at:
            return instance
    return None


def next_instance(shifts: Iterable[Shift], now: datetime, zone: ZoneInfo) -> ShiftInstance | None:
    """The first instance starting after `now`, within a week."""
    today = now.astimezone(zone).date()
    for instance in instances_between(shifts, today, today + timedelta(days=8), zone):
        if instance.starts_at > now:
            return instance
    return None


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
    unplanned stops: the one place the reports (downtime, loss waterfall) count planned time.

    A break has no time of day: `break_minutes` is spread evenly over the window, so a part of the
    window holds the same share of the break as of the wall time. Each stop counts its overlap with
    the window.
    """
    start, end = max(start, instance.starts_at), min(end, instance.ends_at)
    wall = max(0.0, (end - start).total_seconds())
    duration = instance.duration_seconds
    breaks = wall / duration * instance.break_minutes * 60 if duration > 0 else 0.0
    seconds = tuple(overlap_seconds(stop.started_at, stop.ended_at, start, end) for stop in stops)
    planned = sum(part for part, stop in zip(seconds, stops, strict=True) if stop.planned)
    return InstanceTime(wall, breaks, seconds, planned, sum(seconds) - planned)
