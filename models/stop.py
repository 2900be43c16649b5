"""Stops (downtime as events, the andon) and the reasons a line stops for."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Entity, Timestamp

# The reasons every plant starts with: code, label, planned.
DEFAULT_STOP_REASONS = (
    ("breakdown", "Breakdown", False),
    ("changeover", "Changeover", False),
    ("no_material", "No material", False),
    ("quality", "Quality problem", False),
    ("no_operator", "No operator", False),
    ("planned_maintenance", "Planned maintenance", True),
    ("break", "Break", True),
    # A machine stopped and nobody has said why yet (any user may classify it).
    ("unassigned", "Unassigned", False),
)

# The six big losses (Nakajima's TPM, in the names Vorne uses) and `planned`. Availability loses to
# `breakdown` and `setup` (changeovers, waiting for material or an operator); performance to
# `small_stop` and `reduced_speed`; quality to `startup_reject` and `production_reject`. Planned
# reasons are always `planned`.
LOSS_CATEGORIES = ("breakdown", "setup", "small_stop", "reduced_speed", "startup_reject",
                   "production_reject")
STOP_CATEGORIES = (*LOSS_CATEGORIES, "planned")
# The standard reasons' categories (a reason not named here has none: unclassified).
DEFAULT_REASON_CATEGORIES = {
    "breakdown": "breakdown", "changeover": "setup", "no_material": "setup", "no_operator": "setup",
    "quality": "production_reject", "planned_maintenance": "planned", "break": "planned",
}


class StopReason(Entity):
    __tablename__ = "stop_reasons"

    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    label: Mapped[str] = mapped_column(String(120), nullable=False)
    planned: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # One of STOP_CATEGORIES; null only for a reason nobody has classified (counted "unclassified").
    category: Mapped[str | None] = mapped_column(String(32))


class Stop(Entity):
    """One stop of one line; `open_line` holds the line's code while the stop is open, so the
    database itself refuses a second open stop on a line (a unique key; NULLs never collide)."""

    __tablename__ = "stops"
    __table_args__ = (Index("ix_stops_line_started_at", "line", "started_at"),
                      Index("ix_stops_started_at", "started_at"))

    line: Mapped[str] = mapped_column(ForeignKey("lines.code", ondelete="RESTRICT"), nullable=False)
    reason: Mapped[str] = mapped_column(ForeignKey("stop_reasons.code", ondelete="RESTRICT"),
                                        nullable=False, index=True)
    started_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp)
    open_line: Mapped[str | None] = mapped_column(String(32), unique=True)
    note: Mapped[str | None] = mapped_column(String(500))
    reported_by: Mapped[str | None] = mapped_column(String(64))

    # The reason's label and planned flag travel with every stop the API returns.
    reason_info: Mapped[StopReason] = relationship(lazy="joined", foreign_keys=[reason])
