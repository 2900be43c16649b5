"""Clock: the one source of "now" and of the plant's time zone; a test hands the app a fixed one."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def system_now() -> datetime:
    return datetime.now(UTC)


def plant_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`; ValueError with a one-line reason when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


class Clock:
    """Tells the time in UTC and in the plant's zone; `now` is injectable, never patched."""

    def __init__(self, zone: ZoneInfo | str = "UTC", now: Callable[[], datetime] = system_now) -> None:
        self.zone = plant_zone(zone) if isinstance(zone, str) else zone
        self._now = now

    def now(self) -> datetime:
        """The current moment, timezone-aware UTC."""
        return self._now().astimezone(UTC)

    def utcnow(self) -> datetime:
        """The current moment as the database stores timestamps: naive UTC."""
        return self.now().replace(tzinfo=None)

    def local_now(self) -> datetime:
        """The current moment on the plant's wall clock (aware, in the plant's zone)."""
        return self.now().astimezone(self.zone)

    def today(self) -> date:
        """The plant-local date: what "today" means on the shop floor."""
        return self.local_now().date()

    def local(self, moment: datetime) -> datetime:
        """`moment` (aware, or naive UTC as stored) on the plant's wall clock."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone)
