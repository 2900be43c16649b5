"""Work orders: the plan — how many of a product a line makes in one shift instance."""
from __future__ import annotations

from datetime import date

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity

WORK_ORDER_STATUSES = ("planned", "released", "in_progress", "completed", "cancelled")


class WorkOrder(Entity):
    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint("planned_quantity >= 1", name="planned_positive"),
        CheckConstraint(
            "status IN ('planned', 'released', 'in_progress', 'completed', 'cancelled')", name="status"),
        Index("ix_work_orders_date_shift_line", "date", "shift", "line"),
        Index("ix_work_orders_line_date", "line", "date"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), nullable=False,
                                            index=True)
    line: Mapped[str] = mapped_column(ForeignKey("lines.code", ondelete="RESTRICT"), nullable=False)
    shift: Mapped[str] = mapped_column(ForeignKey("shifts.name", ondelete="RESTRICT"), nullable=False)
    date: Mapped[date] = mapped_column(Date, nullable=False)
    planned_quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="planned")
