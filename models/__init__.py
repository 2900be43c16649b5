"""SQLAlchemy models, one module per resource; importing this registers every table."""
from models.base import Base, Entity, utcnow
from models.call import CALL_KINDS, Call
from models.customer import Customer
from models.employee import Employee
from models.integration import IdempotencyKey, OutboxEvent, OutboxRelay, Webhook, WebhookDelivery
from models.legacy import LegacyId
from models.line import Line
from models.machine import MACHINE_PROTOCOLS, MACHINE_STATES, Machine, MachineCount
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
from models.shift import WEEKDAYS, Shift, ShiftVersion
from models.stop import (
    DEFAULT_REASON_CATEGORIES,
    DEFAULT_STOP_REASONS,
    LOSS_CATEGORIES,
    STOP_CATEGORIES,
    Stop,
    StopReason,
)
from models.user import ROLES, AuthSession, User
from models.work_order import WORK_ORDER_STATUSES, WorkOrder

__all__ = [
    "Base", "Entity", "utcnow", "Customer", "Employee", "LegacyId", "ORDER_STATUSES", "Order",
    "OrderItem",
    "STOCK_REASONS", "Product", "StockMovement", "ProductionRecord", "ROLES", "AuthSession", "User",
    "IdempotencyKey", "OutboxEvent", "OutboxRelay", "Webhook", "WebhookDelivery",
    "Line", "WEEKDAYS", "Shift", "ShiftVersion", "DEFAULT_STOP_REASONS", "Stop", "StopReason",
    "DEFAULT_REASON_CATEGORIES", "LOSS_CATEGORIES", "STOP_CATEGORIES", "WORK_ORDER_STATUSES",
    "WorkOrder", "MACHINE_PROTOCOLS", "MACHINE_STATES", "Machine", "MachineCount",
    "ROLLUP_TABLES", "CustomerValue", "ProductionDay", "ProductionEmployee", "ProductionTotal", "RowCount",
    "SalesDay", "SalesProduct", "CALL_KINDS", "Call",
]
