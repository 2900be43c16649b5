"""What the factory makes, with its stock and the ledger that explains it."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Entity

STOCK_REASONS = ("opening", "production", "shipment", "adjustment", "reversal")


class Product(Entity):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        CheckConstraint("reorder_level >= 0", name="reorder_not_negative"),
    )

    sku: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    stock_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reorder_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ideal_cycle_seconds: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    # Archived (false): out of the lists and of new orders and production; kept in history.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=text("1"))


class StockMovement(Entity):
    """One change of a product's stock; their sum is the product's stock_quantity."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint(
            "reason IN ('opening', 'production', 'shipment', 'adjustment', 'reversal')",
            name="reason",
        ),
        # The wall display counts today's shipments by time: a range scan, not a table scan.
        Index("ix_stock_movements_reason_created_at_order_id", "reason", "created_at", "order_id"),
    )

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True
    )
    delta: Mapped[int] = mapped_column(Integer, nullable=False)
    balance_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(String(255))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    production_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("production_records.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
