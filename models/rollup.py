"""Summary tables: sums the reports read instead of a million raw rows, kept current by every write.

Each is a pure function of the raw rows (services/analytics/rollups.py rebuilds them from scratch). Sales are
keyed by the UTC date of `orders.placed_at` (the date filters' days are UTC days); production by
`date_produced`. A production record without a line is filed under line "" (a real line name has
at least one character). Rows whose count drops to zero stay at zero (so writers only ever update
rows that exist) and every report skips them.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamp


class SalesDay(Base):
    """Units and revenue per product per UTC day, from order lines of orders not cancelled."""

    __tablename__ = "rollup_sales_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    revenue_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SalesProduct(Base):
    """Units and revenue per product over all history."""

    __tablename__ = "rollup_sales_product"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    revenue_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CustomerValue(Base):
    """Orders, value and first/last placement per customer over all history (not cancelled)."""

    __tablename__ = "rollup_customer_value"

    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    orders: Mapped[int] = mapped_column(BigInteger, nullable=False)
    value_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # NULL while the customer has no counted order (a row at zero).
    first_order_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_order_at: Mapped[datetime | None] = mapped_column(Timestamp)

    # The report's order (highest value first, then customer id): a page is one index range, and
    # the rows above a threshold are counted from the index alone.
    __table_args__ = (Index("ix_rollup_customer_value_value_cents_desc_customer_id",
                            value_cents.desc(), customer_id),)


class _ProductionSums:
    """What OEE and the performance report sum; `no_time` counts records lacking planned or downtime."""

    records: Mapped[int] = mapped_column(BigInteger, nullable=False)
    produced: Mapped[int] = mapped_column(BigInteger, nullable=False)
    defective: Mapped[int] = mapped_column(BigInteger, nullable=False)
    planned: Mapped[int] = mapped_column(BigInteger, nullable=False)
    running: Mapped[int] = mapped_column(BigInteger, nullable=False)
    no_time: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ProductionDay(_ProductionSums, Base):
    """Production per day, product and line (product/line/day reports over a range or all history)."""

    __tablename__ = "rollup_production_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    line: Mapped[str] = mapped_column(String(32), primary_key=True)


class ProductionTotal(_ProductionSums, Base):
    """Production per product and line over all history."""

    __tablename__ = "rollup_production_total"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    line: Mapped[str] = mapped_column(String(32), primary_key=True)


class ProductionEmployee(_ProductionSums, Base):
    """Production per employee and product over all history (the employee reports)."""

    __tablename__ = "rollup_production_employee"

    employee_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class RowCount(Base):
    """Exact row counts a list's total can read instead of counting: orders per status, records."""

    __tablename__ = "rollup_counts"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, nullable=False)


ROLLUP_TABLES = ("rollup_sales_day", "rollup_sales_product", "rollup_customer_value",
                 "rollup_production_day", "rollup_production_total", "rollup_production_employee",
                 "rollup_counts")
