"""Orders: placement with snapshotted prices, the status lifecycle, and shipping that takes stock."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.db import UnitOfWork
from core.errors import Conflict, conflict, invalid
from core.security import Principal, role_at_least
from core.statements import run
from models import Customer, Order, OrderItem, Product, RowCount, utcnow
from schemas.common import money
from schemas.order import OrderListQuery, OrderSchema
from services.analytics.rollups import Sale, count_rows, move_count, order_counts
from services.catalog.stock import move_stock
from services.common.crud import PAGING, CrudService, archived_message

# The lifecycle: where each status may go next. Everything else is a 409.
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    "pending": ("confirmed", "cancelled"),
    "confirmed": ("in_production", "cancelled"),
    "in_production": ("shipped", "cancelled"),
    "shipped": ("delivered",),
    "delivered": (),
    "cancelled": (),
}
ITEMS = OrderItem.__table__
ITEM_PREFIX = "item_"  # the order lines' columns in a page's joined rows
ITEMS_KEY = "__items"  # an order row's dumped lines, when they came with the page
DELETABLE = ("pending", "cancelled")
MAX_TOTAL = Decimal("999999999999.99")

# Placing an order's statements, built once (only their parameters change per order).
_customers, _products = Customer.__table__, Product.__table__
CUSTOMER_ACTIVE = select(_customers.c.active).where(_customers.c.id == bindparam("id"))
# Share-locked in id order: the foreign-key checks of the inserts take the same locks, and taking
# them in one order everywhere keeps shipments from deadlocking a placement.
_prices = select(_products.c.id, _products.c.price, _products.c.active).order_by(_products.c.id)
LOCK_PRICES = _prices.where(_products.c.id.in_(bindparam("ids", expanding=True))).with_for_update(read=True)
LOCK_PRICE = _prices.where(_products.c.id == bindparam("id")).with_for_update(read=True)  # one product
INSERT_ORDER = insert(Order.__table__)
INSERT_LINE = insert(OrderItem.__table__)


class OrderService(CrudService):
    name = "orders"
    label = "Order"
    model = Order
    schema = OrderSchema
    list_query = OrderListQuery
    sort_fields = ("id", "placed_at", "created_at", "total_price", "status", "updated_at")
    reads = ("orders", "order_items")

    def base_query(self) -> Select:
        return select(Order).options(selectinload(Order.items))

    # -- lists ----------------------------------------------------------------------------

    def filter_from_(self, query: Select, value: Any) -> Select:
        return query.where(Order.placed_at >= datetime.combine(value, time.min))

    def filter_to(self, query: Select, value: Any) -> Select:
        # `to` is a whole (UTC) day, inclusive: everything placed before the next midnight.
        return query.where(Order.placed_at < datetime.combine(value, time.min) + timedelta(days=1))

    def filter_product_id(self, query: Select, value: int) -> Select:
        return query.where(exists().where(OrderItem.order_id == Order.id, OrderItem.product_id == value))

    def with_children(self, query: Select, params: dict[str, Any], *, reverse: bool) -> Select:
        """The page's orders joined to their lines: one statement for the page (not a second for
        the lines), each order's row repeated per line, in the page's order and then line id."""
        page = query.subquery("page")
        lines = (ITEMS.c[column].label(ITEM_PREFIX + column) for column in self.item_columns)
        return (select(*page.c, *lines)
                .select_from(page.outerjoin(ITEMS, ITEMS.c.order_id == page.c.id))
                .order_by(*self.sort_clause(params, reverse=reverse, columns=page.c), ITEMS.c.id))

    @cached_property
    def item_columns(self) -> tuple[str, ...]:
        """The order-line columns the API shows (not their timestamps): what the page selects."""
        return tuple(column for _, column, _ in self.out.nested["items"].plan)

    async def fetch(self, session: AsyncSession, query: Select, values: dict[str, Any]) -> list[Any]:
        """One dict per order, in the page's order, its dumped lines under ITEMS_KEY."""
        orders: list[dict[str, Any]] = []
        columns = [column.name for column in self.table.c]
        item_plan = [(key, ITEM_PREFIX + column, convert)
                     for key, column, convert in self.out.nested["items"].plan]
        last = None
        for row in (await session.execute(query, values)).mappings():
            if row["id"] != last:
                last = row["id"]
                order = {column: row[column] for column in columns}
                order[ITEMS_KEY] = []
                orders.append(order)
            if row[ITEM_PREFIX + "id"] is not None:  # an order without lines (outer join)
                order[ITEMS_KEY].append({key: convert(row[column]) for key, column, convert in item_plan})
        return orders

    async def dump_rows(self, session: AsyncSession, rows: list[Any]) -> list[dict[str, Any]]:
        """The orders with their lines: fetched with the page (`fetch`), else for all rows in one query."""
        dump = self.out.dump
        if rows and ITEMS_KEY in rows[0]:
            return [dump(row, {"items": row[ITEMS_KEY]}) for row in rows]
        lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if rows:
            dump_item = self.out.nested["items"].dump
            for item in (await session.execute(
                    select(*ITEMS.c).where(ITEMS.c.order_id.in_([row["id"] for row in rows]))
                    .order_by(ITEMS.c.id))).mappings():
                lines[item["order_id"]].append(dump_item(item))
        return [dump(row, {"items": lines[row["id"]]}) for row in rows]

    async def count(self, session: AsyncSession, params: dict[str, Any]) -> int:
        """With no filter but status, the kept per-status counts answer without counting a row."""
        filters = {key: value for key, value in params.items() if key not in PAGING and value is not None}
        if set(filters) <= {"status"}:
            query = select(func.coalesce(func.sum(RowCount.n), 0)).where(RowCount.name == "orders")
            if "status" in filters:
                query = query.where(RowCount.key == filters["status"])
            return int(await session.scalar(query) or 0)
        return await super().count(session, params)

    # -- placing --------------------------------------------------------------------------

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Principal | None = None, *,
                     now: datetime | None = None) -> Order:
        """Place an order (see `create_dumped`); the order as a model object, not in the session."""
        row, lines, _ = await self._place(uow, data, actor, now)
        return Order(**row, items=[OrderItem(**line) for line in lines])

    async def create_dumped(self, uow: UnitOfWork, data: dict[str, Any], actor: Principal | None = None,
                            *, now: datetime | None = None) -> dict[str, Any]:
        """Place an order: prices come from the products now, totals are computed here.

        `now` is the application clock's naive UTC time; `placed_at` defaults to it. Returns the
        order's API form, which is also the `order.created` event's data.
        """
        return (await self._place(uow, data, actor, now))[2]

    async def _place(self, uow: UnitOfWork, data: dict[str, Any], actor: Principal | None,
                     now: datetime | None) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        """The order's row, its lines' rows, and its API form."""
        items = data["items"]
        now = now or utcnow()
        placed_at = self.placed_at(data, actor, now)
        # Prepared statements on the transaction's connection: placing an order is the hottest
        # write, and the ORM's unit of work cost a third of its CPU (see BENCHMARKS.md, "Write path").
        session = uow.session
        errors: dict[str, Any] = {}
        active = (await run(session, CUSTOMER_ACTIVE, {"id": data["customer_id"]})).scalar()
        if active is None:
            errors["customer_id"] = [f"Customer {data['customer_id']} does not exist."]
        elif not active:
            errors["customer_id"] = [archived_message("Customer", data["customer_id"])]
        ids = sorted({item["product_id"] for item in items})
        locked = await (run(session, LOCK_PRICE, {"id": ids[0]}) if len(ids) == 1
                        else run(session, LOCK_PRICES, {"ids": ids}))
        products = {row["id"]: row for row in locked.mappings()}
        prices = {ident: row["price"] for ident, row in products.items()}
        for index, item in enumerate(items):
            product = products.get(item["product_id"])
            if product is None or not product["active"]:
                message = [f"Product {item['product_id']} does not exist." if product is None
                           else archived_message("Product", item["product_id"])]
                if data.get("one_line"):
                    errors["product_id"] = message
                else:
                    errors.setdefault("items", {})[index] = {"product_id": message}
        if errors:
            raise invalid(errors)
        stamp = utcnow()
        lines = [{"product_id": item["product_id"], "quantity": item["quantity"],
                  "unit_price": money(prices[item["product_id"]]),
                  "line_total": money(prices[item["product_id"]] * item["quantity"]),
                  "created_at": stamp, "updated_at": stamp}
                 for item in items]
        total = sum((line["line_total"] for line in lines), Decimal("0.00"))
        if total > MAX_TOTAL:
            raise invalid({"items": [f"The order total {total} is over the limit of {MAX_TOTAL}."]})
        row = {"customer_id": data["customer_id"], "status": "pending", "total_price": total,
               "placed_at": placed_at, "created_at": stamp, "updated_at": stamp}
        row["id"] = (await run(session, INSERT_ORDER, row)).lastrowid
        for line in lines:  # one INSERT each keeps every id known (a multi-row INSERT tells the first)
            line["order_id"] = row["id"]
            line["id"] = (await run(session, INSERT_LINE, line)).lastrowid
        uow.touch("orders", "order_items")
        sale = Sale(row["customer_id"], placed_at, total,
                    tuple((line["product_id"], line["quantity"], line["line_total"]) for line in lines))
        await order_counts(uow.session, sale, +1)
        await count_rows(uow.session, "orders", "pending", +1)
        dump_item = self.out.nested["items"].dump
        payload = self.out.dump(row, {"items": [dump_item(line) for line in lines]})
        uow.emit("orders", "order.created", payload)
        return row, lines, payload

    @staticmethod
    def placed_at(data: dict[str, Any], actor: Any, now: datetime) -> datetime:
        """When the order was placed: now, or what an admin says (back-dating), never the future."""
        if "placed_at" not in data:
            return now
        if actor is not None and not role_at_least(getattr(actor, "role", None), "admin"):
            raise invalid({"placed_at": ["Only an admin may set placed_at; leave it out to place the "
                                         "order now."]})
        if data["placed_at"] > now:
            raise invalid({"placed_at": ["Must not be in the future."]})
        return data["placed_at"]

    # -- the lifecycle --------------------------------------------------------------------

    async def update(self, uow: UnitOfWork, ident: int, data: dict[str, Any],
                     actor: Principal | None = None) -> Order:
        """Only the status changes, one step along the lifecycle; shipping takes the stock."""
        order = await self.get(uow.session, ident, for_update=True)
        previous, status = order.status, data["status"]
        if status not in NEXT_STATUSES[previous]:
            allowed = " or ".join(NEXT_STATUSES[previous]) or "nothing (it is final)"
            raise conflict(f"Order {ident} cannot change from {previous} to {status}; "
                           f"from {previous} it can change to {allowed}.",
                           errors={"status": [f"{previous} → {status} is not allowed."]})
        if status == "shipped":
            await self.take_stock(uow, order, actor)
        order.status = status
        await uow.session.flush()
        await move_count(uow.session, "orders", previous, status)
        if status == "cancelled":  # cancelled is final: it stops counting as a sale once
            await order_counts(uow.session, Sale.of(order), -1)
        uow.emit("orders", "order.status_changed", {**self.dump(order), "previous_status": previous})
        return order

    async def take_stock(self, uow: UnitOfWork, order: Order, actor: Principal | None) -> None:
        """Take every item's stock or none: a short product aborts the whole transaction."""
        needed: dict[int, int] = defaultdict(int)
        for item in order.items:
            needed[item.product_id] += item.quantity
        # One lock order (product id) for every shipment, so two shipments never deadlock.
        for product_id in sorted(needed):
            try:
                await move_stock(uow, product_id, -needed[product_id], "shipment", order_id=order.id,
                                 user_id=actor and actor.user_id, note=f"Order {order.id} shipped")
            except Conflict as exc:
                raise conflict(f"Order {order.id} cannot ship: {exc.detail} Nothing was changed.",
                               errors=exc.errors) from None

    async def delete(self, uow: UnitOfWork, ident: int, actor: Principal | None = None) -> Order:
        order = await self.get(uow.session, ident, for_update=True)
        if order.status not in DELETABLE:
            raise conflict(f"Order {ident} is {order.status}; only pending or cancelled orders can be "
                           "deleted (cancel it first if it has not shipped).")
        await uow.session.delete(order)
        await uow.session.flush()
        await count_rows(uow.session, "orders", order.status, -1)
        if order.status != "cancelled":
            await order_counts(uow.session, Sale.of(order), -1)
        return order
