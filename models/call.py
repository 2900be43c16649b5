"""Andon calls: someone at a line calls for maintenance, quality, material or a supervisor."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity, Timestamp

CALL_KINDS = ("maintenance", "quality", "material", "supervisor")


class Call(Entity):
    """One call: opened, then acknowledged (someone is coming), then resolved. `escalated_at` is set
    once, when the call stayed unacknowledged past the escalation time."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("kind IN ('maintenance', 'quality', 'material', 'supervisor')", name="kind"),
        Index("ix_calls_line_opened_at", "line", "opened_at"),
        Index("ix_calls_opened_at", "opened_at"),
        Index("ix_calls_resolved_at", "resolved_at"),
    )

    line: Mapped[str] = mapped_column(ForeignKey("lines.code", ondelete="RESTRICT"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    opened_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None] = mapped_column(Timestamp)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    escalated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Kept when the step happens: opened → acknowledged, and opened → resolved, in whole seconds.
    response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
