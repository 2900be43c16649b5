"""Shifts: a daily window of plant-local wall time, with a break and the weekdays it runs."""
from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, String
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


def clock_minutes(value: str) -> int:
    """"HH:MM" as minutes after midnight."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def window_minutes(starts_at: str, ends_at: str) -> int:
    """The window's length on the wall clock; an end at or before the start is the next day."""
    return (clock_minutes(ends_at) - clock_minutes(starts_at)) % (24 * 60) or 24 * 60
