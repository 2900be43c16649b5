"""Production records: what was made, by whom, on which line and shift, and how well."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity, Timestamp


class ProductionRecord(Entity):
    __tablename__ = "production_records"
    __table_args__ = (
        CheckConstraint("quantity_produced >= 1", name="produced_positive"),
        CheckConstraint(
            "quantity_defective >= 0 AND quantity_defective <= quantity_produced",
            name="defective_range",
        ),
        CheckConstraint("planned_minutes IS NULL OR planned_minutes >= 0", name="planned"),
        CheckConstraint(
            "downtime_minutes IS NULL OR downtime_minutes >= 0", name="downtime_not_negative"
        ),
        # Covering for every OEE report: a date range is read from this index alone.
        Index("ix_production_records_date_produced_covering", "date_produced", "product_id", "employee_id",
              "line", "quantity_produced", "quantity_defective", "planned_minutes", "downtime_minutes"),
        Index("ix_production_records_product_id_date_produced", "product_id", "date_produced"),
        Index("ix_production_records_employee_id_date_produced", "employee_id", "date_produced"),
        Index("ix_production_records_line_date_produced", "line", "date_produced"),
        # A shift instance's figures: one line, one date, one shift.
        Index("ix_production_records_date_produced_shift_line", "date_produced", "shift", "line"),
        # A machine's growing record of a shift instance.
        Index("ix_production_records_machine_id_date_produced", "machine_id", "date_produced"),
        # Keyset paging: one (sort column, id) index per sort.
        Index("ix_production_records_date_produced_id", "date_produced", "id"),
        Index("ix_production_records_quantity_produced_id", "quantity_produced", "id"),
        Index("ix_production_records_quantity_defective_id", "quantity_defective", "id"),
        Index("ix_production_records_created_at_id", "created_at", "id"),
        Index("ix_production_records_updated_at_id", "updated_at", "id"),
    )

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), nullable=False
    )
    # Optional for machine records (`source` "machine"): nobody typed them.
    employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="RESTRICT"), nullable=True
    )
    quantity_produced: Mapped[int] = mapped_column(Integer, nullable=False)
    quantity_defective: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    date_produced: Mapped[date] = mapped_column(Date, nullable=False)
    # When it was made (naive UTC); `shift` and `date_produced` (the production day) follow from it.
    produced_at: Mapped[datetime | None] = mapped_column(Timestamp)
    line: Mapped[str | None] = mapped_column(String(32))
    shift: Mapped[str | None] = mapped_column(String(32))
    planned_minutes: Mapped[int | None] = mapped_column(Integer)
    downtime_minutes: Mapped[int | None] = mapped_column(Integer)
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="RESTRICT"), index=True
    )
    # "api" (typed) or "machine" (counted over MQTT: one record per machine, shift instance and
    # work order or product, growing as counts arrive).
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api", server_default="api")
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="RESTRICT"))
