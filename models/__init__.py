"""SQLAlchemy models, one module per resource; importing this registers every table."""
from models.base import Base, Entity, utcnow
from models.customer import Customer
from models.employee import Employee
from models.integration import IdempotencyKey, OutboxEvent, OutboxRelay, Webhook, WebhookDelivery
from models.legacy import LegacyId
from models.line import Line
from models.order import ORDER_STATUSES, Order, OrderItem
from models.product import STOCK_REASONS, Product, StockMovement
from models.production import ProductionRecord
from models.rollup import (
    ROLLUP_TABLES,
    CustomerValue,
    ProductionDay,
    ProductionEmployee,
    ProductionTotal,
    RowCount,
    SalesDay,
    SalesProduct,
)
from models.shift import WEEKDAYS, Shift
from models.stop import DEFAULT_STOP_REASONS, Stop, StopReason
from models.user import ROLES, AuthSession, User
from models.work_order import WORK_ORDER_STATUSES, WorkOrder

__all__ = [
    "Base", "Entity", "utcnow", "Customer", "Employee", "LegacyId", "ORDER_STATUSES", "Order",
    "OrderItem",
    "STOCK_REASONS", "Product", "StockMovement", "ProductionRecord", "ROLES", "AuthSession", "User",
    "IdempotencyKey", "OutboxEvent", "OutboxRelay", "Webhook", "WebhookDelivery",
    "Line", "WEEKDAYS", "Shift", "DEFAULT_STOP_REASONS", "Stop", "StopReason", "WORK_ORDER_STATUSES",
    "WorkOrder",
    "ROLLUP_TABLES", "CustomerValue", "ProductionDay", "ProductionEmployee", "ProductionTotal", "RowCount",
    "SalesDay", "SalesProduct",
]
