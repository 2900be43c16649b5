"""Buyers who place orders."""
from __future__ import annotations

from sqlalchemy import Boolean, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity


class Customer(Entity):
    __tablename__ = "customers"
    # Keyset paging by time over a large table (name and email have their own indexes).
    __table_args__ = (
        Index("ix_customers_created_at_id", "created_at", "id"),
        Index("ix_customers_updated_at_id", "updated_at", "id"),
        Index("ix_customers_phone_id", "phone", "id"),  # the phone sort (clients of the old system)
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    address: Mapped[str | None] = mapped_column(String(500))
    # Archived (false): out of the lists and of new orders and production; kept in history.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("1"))
