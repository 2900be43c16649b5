"""Production lines, keyed by a code that never changes."""
from __future__ import annotations

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity


class Line(Entity):
    __tablename__ = "lines"

    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The line's calendar: the names of the shifts it runs, comma-separated; NULL: every shift.
    shifts: Mapped[str | None] = mapped_column(String(255))
