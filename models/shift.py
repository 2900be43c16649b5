"""Shifts: a daily window of plant-local wall time, with a break and the weekdays it runs."""
from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Shift(Entity):
    __tablename__ = "shifts"
    __table_args__ = (CheckConstraint("break_minutes >= 0", name="break_not_negative"),)

    name: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    starts_at: Mapped[str] = mapped_column(String(5), nullable=False)  # "HH:MM", plant-local
    ends_at: Mapped[str] = mapped_column(String(5), nullable=False)  # ≤ starts_at: ends the next day
    break_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    days: Mapped[str] = mapped_column(String(27), nullable=False, default=",".join(WEEKDAYS))
    # Breaks at their times, "HH:MM/minutes" comma-separated in start order; NULL: `break_minutes`
    # has no time and is spread evenly over the shift.
    breaks: Mapped[str | None] = mapped_column(String(255))


class ShiftVersion(Entity):
    """A shift's definition from `effective_from` on (plant-local date of an instance's start) until
    the next version's: past instances keep the definition they ran under."""

    __tablename__ = "shift_versions"
    __table_args__ = (UniqueConstraint("shift_id", "effective_from"),
                      CheckConstraint("break_minutes >= 0", name="break_not_negative"))

    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"), nullable=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    starts_at: Mapped[str] = mapped_column(String(5), nullable=False)
    ends_at: Mapped[str] = mapped_column(String(5), nullable=False)
    break_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    days: Mapped[str] = mapped_column(String(27), nullable=False)
    breaks: Mapped[str | None] = mapped_column(String(255))


def clock_minutes(value: str) -> int:
    """"HH:MM" as minutes after midnight."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def window_minutes(starts_at: str, ends_at: str) -> int:
    """The window's length on the wall clock; an end at or before the start is the next day."""
    return (clock_minutes(ends_at) - clock_minutes(starts_at)) % (24 * 60) or 24 * 60


def parse_breaks(text: str | None) -> list[tuple[str, int]]:
    """Stored breaks ("HH:MM/minutes,…") as [(starts_at, minutes)]."""
    if not text:
        return []
    return [(start, int(minutes)) for start, minutes in (item.split("/") for item in text.split(","))]


def format_breaks(breaks: list[tuple[str, int]] | None) -> str | None:
    return ",".join(f"{start}/{minutes}" for start, minutes in breaks) if breaks else None
