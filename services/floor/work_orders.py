"""Work orders: the plan per product × line × shift instance, its lifecycle, and what records add."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UnitOfWork
from core.errors import Invalid, conflict, invalid
from models import Order, Product, ProductionRecord, WorkOrder
from schemas.work_order import WorkOrderListQuery, WorkOrderSchema
from services.common.crud import CrudService, archived_message
from services.floor.lines import active_line
from services.floor.shifts import known_shift

# One step at a time; the first production record may also move planned straight to in_progress.
NEXT_STATUSES: dict[str, tuple[str, ...]] = {
    "planned": ("released", "cancelled"),
    "released": ("in_progress", "cancelled"),
    "in_progress": ("completed", "cancelled"),
    "completed": (),
    "cancelled": (),
}
PLACE_FIELDS = ("product_id", "line", "shift", "date")


class WorkOrderService(CrudService):
    name = "work_orders"
    label = "Work order"
    model = WorkOrder
    schema = WorkOrderSchema
    list_query = WorkOrderListQuery
    sort_fields = ("id", "date", "line", "shift", "status", "planned_quantity", "created_at", "updated_at")
    default_sort = "id"
    reads = ("work_orders", "production_records")
    lean = False  # good and defective are summed from the records

    # -- reading: good and defective are summed from the records ---------------------------

    async def get(self, session: AsyncSession, ident: int, *, for_update: bool = False) -> WorkOrder:
        row = await super().get(session, ident, for_update=for_update)
        await attach_totals(session, [row])
        return row

    async def complete(self, session: AsyncSession, rows: list[Any]) -> None:
        await attach_totals(session, rows)

    def filter_from_(self, query: Select, value: Any) -> Select:
        return query.where(WorkOrder.date >= value)

    def filter_to(self, query: Select, value: Any) -> Select:
        return query.where(WorkOrder.date <= value)

    # -- writing --------------------------------------------------------------------------

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Any = None) -> WorkOrder:
        status = data.setdefault("status", "planned")
        if status not in ("planned", "released"):
            raise invalid({"status": ["A new work order is planned or released."]})
        await check_places(uow.session, data)
        row = WorkOrder(**data)
        uow.session.add(row)
        await uow.session.flush()
        row.good = row.defective = 0
        uow.emit("lines", "work_order.created", self.dump(row))
        return row

    async def update(self, uow: UnitOfWork, ident: int, data: dict[str, Any], actor: Any = None) -> WorkOrder:
        session = uow.session
        row = await self.get(session, ident, for_update=True)
        if row.status in ("completed", "cancelled"):
            raise conflict(f"Work order {ident} is {row.status}; it no longer changes.",
                           errors={"status": [f"{row.status} is final."]})
        status = data.get("status", row.status)
        if status != row.status and status not in NEXT_STATUSES[row.status]:
            allowed = " or ".join(NEXT_STATUSES[row.status])
            raise conflict(f"Work order {ident} cannot change from {row.status} to {status}; "
                           f"from {row.status} it can change to {allowed}.",
                           errors={"status": [f"{row.status} → {status} is not allowed."]})
        moved = [name for name in PLACE_FIELDS if name in data and data[name] != getattr(row, name)]
        if moved and (row.good or row.defective or await has_records(session, row.id)):
            raise conflict(f"Work order {ident} has production records; its {', '.join(moved)} "
                           "cannot change.", errors={name: ["Fixed once production is recorded."]
                                                      for name in moved})
        merged = {**{name: getattr(row, name) for name in (*PLACE_FIELDS, "order_id")}, **data}
        await check_places(session, merged)
        data.update({name: merged[name] for name in data if name in merged})
        for key, value in data.items():
            setattr(row, key, value)
        await session.flush()
        uow.emit("lines", "work_order.updated", self.dump(row))
        return row

    async def delete(self, uow: UnitOfWork, ident: int, actor: Any = None) -> WorkOrder:
        row = await self.get(uow.session, ident, for_update=True)
        if await has_records(uow.session, row.id):
            raise conflict(f"Work order {ident} has production records; cancel it instead.")
        await uow.session.delete(row)
        await uow.session.flush()
        return row


async def check_places(session: AsyncSession, data: dict[str, Any]) -> None:
    """Product, active line, shift and order must exist (422 naming the field); names as stored."""
    errors: dict[str, list[str]] = {}
    product = await session.get(Product, data["product_id"])
    if product is None:
        errors["product_id"] = [f"Product {data['product_id']} does not exist."]
    elif not product.active:
        errors["product_id"] = [archived_message("Product", product.id)]
    if data.get("order_id") is not None and await session.get(Order, data["order_id"]) is None:
        errors["order_id"] = [f"Order {data['order_id']} does not exist."]
    for field, find in (("line", active_line), ("shift", known_shift)):
        try:
            found = await find(session, data[field])
            data[field] = found.code if field == "line" else found.name
        except Invalid as exc:  # naming the field: collect them all
            errors.update(exc.errors or {field: [exc.detail]})
    if errors:
        raise invalid(errors)


async def has_records(session: AsyncSession, work_order_id: int) -> bool:
    return await session.scalar(select(ProductionRecord.id).where(
        ProductionRecord.work_order_id == work_order_id).limit(1)) is not None


async def attach_totals(session: AsyncSession, rows: Iterable[WorkOrder]) -> None:
    """Set `good` and `defective` on each work order from its records (one grouped query)."""
    rows = list(rows)
    if not rows:
        return
    sums = {wid: (produced - defective, defective) for wid, produced, defective in (await session.execute(
        select(ProductionRecord.work_order_id, func.sum(ProductionRecord.quantity_produced),
               func.sum(ProductionRecord.quantity_defective))
        .where(ProductionRecord.work_order_id.in_([row.id for row in rows]))
        .group_by(ProductionRecord.work_order_id))).all()}
    for row in rows:
        row.good, row.defective = (int(value) for value in sums.get(row.id, (0, 0)))


async def record_against(uow: UnitOfWork, values: dict[str, Any]) -> WorkOrder | None:
    """Check a record's work order (422 if missing or its product, line or a given shift differ,
    409 if cancelled), fill the record's line from it when left out, and lock it until the commit.
    Whether the record falls in the order's instance is checked where it is placed in time."""
    ident = values.get("work_order_id")
    if ident is None:
        return None
    order = (await uow.session.execute(
        select(WorkOrder).where(WorkOrder.id == ident).with_for_update())).scalar()
    if order is None:
        raise invalid({"work_order_id": [f"Work order {ident} does not exist."]})
    if order.status == "cancelled":
        raise conflict(f"Work order {ident} is cancelled; record against another one.",
                       errors={"work_order_id": ["Cancelled."]})
    values["line"] = values.get("line") or order.line
    errors = {field: [f"Differs from work order {ident}'s {field} ({getattr(order, field)})."]
              for field in ("product_id", "line", "shift")
              if values.get(field) is not None and values[field] != getattr(order, field)}
    if errors:
        raise invalid(errors)
    return order


async def after_record(uow: UnitOfWork, orders: Iterable[WorkOrder | None], dump: Any) -> None:
    """A record landed on (or left) these work orders: the first moves one to in_progress; each
    is announced with its new totals."""
    seen: set[int] = set()
    for order in orders:
        if order is None or order.id in seen:
            continue
        seen.add(order.id)
        if order.status in ("planned", "released") and await has_records(uow.session, order.id):
            order.status = "in_progress"
        await uow.session.flush()
        await attach_totals(uow.session, [order])
        uow.emit("lines", "work_order.updated", dump(order))
