"""Customer orders, their lines (prices snapshotted at placement) and lifecycle."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Entity, Timestamp, utcnow

ORDER_STATUSES = ("pending", "confirmed", "in_production", "shipped", "delivered", "cancelled")


class Order(Entity):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'in_production', 'shipped', 'delivered', 'cancelled')",
            name="status",
        ),
        # Covering for the sales analytics: a date range reads status, customer and total from the index.
        Index("ix_orders_placed_at_status_customer_id_total_price", "placed_at", "status", "customer_id",
              "total_price"),
        Index("ix_orders_status_created_at", "status", "created_at"),
        Index("ix_orders_customer_id_placed_at", "customer_id", "placed_at"),
        # Keyset paging: one (sort column, id) index per sort, so a cursor page reads only its rows.
        Index("ix_orders_placed_at_id", "placed_at", "id"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_updated_at_id", "updated_at", "id"),
        Index("ix_orders_total_price_id", "total_price", "id"),
        Index("ix_orders_status_id", "status", "id"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    total_price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    # When the order was placed (reports and date filters key on it); created_at is when it was entered.
    placed_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", lazy="selectin", order_by="OrderItem.id", cascade="all, delete-orphan"
    )


class OrderItem(Entity):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_order_items_product_id_order_id", "product_id", "order_id"),
        # Also the foreign key's index; covering for top-products' join from orders.
        Index("ix_order_items_order_id_product_id_quantity_line_total", "order_id", "product_id", "quantity",
              "line_total"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), nullable=False)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="RESTRICT"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2), nullable=False)
    line_total: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)

    order: Mapped[Order] = relationship(back_populates="items")
