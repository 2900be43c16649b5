"""Shop-floor staff who record production."""
from __future__ import annotations

from sqlalchemy import Boolean, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity


class Employee(Entity):
    __tablename__ = "employees"

    name: Mapped[str] = mapped_column(String(120), nullable=False, index=True)
    position: Mapped[str] = mapped_column(String(120), nullable=False)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    phone: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    # Archived (false): out of the lists and of new orders and production; kept in history.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("1"))
