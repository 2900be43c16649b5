"""Customer orders, their lines (prices snapshotted at placement) and lifecycle."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Entity

ORDER_STATUSES = ("pending", "confirmed", "in_production", "shipped", "delivered", "cancelled")


class Order(Entity):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'confirmed', 'in_production', 'shipped', 'delivered', 'cancelled')",
            name="status",
        ),
        # Covering for the sales analytics: a date range reads status, customer and total from the index.
        Index("ix_orders_created_at_status_customer_id_total_price", "created_at", "status", "customer_id",
              "total_price"),
        Index("ix_orders_status_created_at", "status", "created_at"),
        Index("ix_orders_customer_id_created_at", "customer_id", "created_at"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    total_price: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)

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
