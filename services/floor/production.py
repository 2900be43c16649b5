"""Production records: good units go into stock through the ledger, and come out again on change."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db import UnitOfWork
from core.errors import Conflict, conflict, invalid
from core.security import Principal
from core.statements import run
from models import Employee, Line, Product, ProductionRecord, RowCount, WorkOrder, utcnow
from schemas.production import ProductionListQuery, ProductionRecordSchema
from services.analytics.rollups import production_counts
from services.catalog.stock import move_stock
from services.common.crud import PAGING, CrudService, archived_message
from services.floor.lines import active_line, usable_line
from services.floor.production_time import ShiftBook, place, place_in
from services.floor.shifts import all_shifts, known_shift, no_shift
from services.floor.work_orders import WorkOrderService, after_record, record_against

# Statements of the hot write path, built once (only their parameters change).
_products, _employees = Product.__table__, Employee.__table__
_actives = select(_products.c.id, _products.c.active).order_by(_products.c.id)
LOCK_PRODUCTS = _actives.where(_products.c.id.in_(bindparam("ids", expanding=True))).with_for_update()
LOCK_PRODUCT = _actives.where(_products.c.id == bindparam("id")).with_for_update()  # the usual one
EMPLOYEE_ACTIVE = select(_employees.c.active).where(_employees.c.id == bindparam("id"))
INSERT_RECORD = insert(ProductionRecord.__table__)

RANGE_FIELDS = ("quantity_produced", "quantity_defective", "planned_minutes", "downtime_minutes")
# What the summary tables sum and group a record by.
COUNTED_FIELDS = ("product_id", "employee_id", "date_produced", "line", *RANGE_FIELDS)


def counted(record: ProductionRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in COUNTED_FIELDS}


def good_units(values: dict[str, Any]) -> int:
    return values["quantity_produced"] - values["quantity_defective"]


def check_ranges(values: dict[str, Any]) -> None:
    """Rules across fields, on the record as it will be stored (422 naming the field)."""
    errors: dict[str, list[str]] = {}
    if values["quantity_defective"] > values["quantity_produced"]:
        errors["quantity_defective"] = [
            f"Must not exceed quantity_produced ({values['quantity_produced']})."]
    planned, downtime = values.get("planned_minutes"), values.get("downtime_minutes")
    if downtime is not None and planned is None:
        errors["downtime_minutes"] = ["Needs planned_minutes: downtime is part of the planned time."]
    elif downtime is not None and downtime > planned:
        errors["downtime_minutes"] = [f"Must not exceed planned_minutes ({planned})."]
    if errors:
        raise invalid(errors)


class ProductionService(CrudService):
    name = "production"
    label = "Production record"
    model = ProductionRecord
    schema = ProductionRecordSchema
    list_query = ProductionListQuery
    sort_fields = ("id", "date_produced", "quantity_produced", "quantity_defective", "created_at",
                   "updated_at")
    default_sort = "id"
    uses_clock = True  # "now" places a record in its shift instance

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock or Clock()

    # -- lists ----------------------------------------------------------------------------

    def filter_from_(self, query: Select, value: Any) -> Select:
        return query.where(ProductionRecord.date_produced >= value)

    def filter_to(self, query: Select, value: Any) -> Select:
        return query.where(ProductionRecord.date_produced <= value)

    async def count(self, session: AsyncSession, params: dict[str, Any]) -> int:
        """Unfiltered, the kept count answers without counting a million records."""
        if all(value is None for key, value in params.items() if key not in PAGING):
            return int(await session.scalar(select(RowCount.n).where(
                RowCount.name == "production_records", RowCount.key == "")) or 0)
        return await super().count(session, params)

    # -- writes ---------------------------------------------------------------------------

    async def create(self, uow: UnitOfWork, data: dict[str, Any],
                     actor: Principal | None = None) -> ProductionRecord:
        """Record production; the record as a model object, not in the session."""
        row, _ = await self._record(uow, data, actor)
        return ProductionRecord(**row)

    async def create_dumped(self, uow: UnitOfWork, data: dict[str, Any],
                            actor: Principal | None = None) -> dict[str, Any]:
        return (await self._record(uow, data, actor))[1]

    async def _record(self, uow: UnitOfWork, data: dict[str, Any],
                      actor: Principal | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The record's row and its API form (also the `production.recorded` event's data)."""
        check_ranges(data)
        given = set(data)
        await self.check_places(uow, data)
        work_order = await record_against(uow, data)
        await place(uow.session, self.clock, data, given, work_order)
        await self.lock_references(uow, [data["product_id"]], data["employee_id"],
                                   usable=(data["product_id"], data["employee_id"]))
        # Prepared statements on the transaction's connection: recording is a hot write, and the
        # ORM's unit of work cost a third of its CPU (see BENCHMARKS.md, "Write path").
        now = utcnow()
        row = {"source": "api", "machine_id": None, **data, "created_at": now, "updated_at": now}
        row["id"] = (await run(uow.session, INSERT_RECORD, row)).lastrowid
        uow.touch("production_records")
        await production_counts(uow.session, {name: row.get(name) for name in COUNTED_FIELDS}, +1)
        if good_units(data):
            await move_stock(uow, row["product_id"], good_units(data), "production",
                             production_record_id=row["id"], user_id=_user_id(actor),
                             note=f"Production record {row['id']}")
        payload = self.out.dump(row)
        uow.emit("production", "production.recorded", payload)
        await after_record(uow, [work_order], _work_orders.dump)
        return row, payload

    async def update(self, uow: UnitOfWork, ident: int, data: dict[str, Any],
                     actor: Principal | None = None) -> ProductionRecord:
        record = await self.get(uow.session, ident, for_update=True)
        if record.line:  # the event names the line it is on now: the one it leaves moves too
            uow.change.lines.add(record.line)
        before = {name: getattr(record, name) for name in ("product_id", *RANGE_FIELDS)}
        after = {**before, **{k: v for k, v in data.items() if k in before}}
        check_ranges(after)
        await self.check_places(uow, data)
        previous_order = record.work_order_id
        placed = {name: data.get(name, getattr(record, name)) for name in
                  ("product_id", "line", "shift", "work_order_id", "date_produced", "produced_at")}
        work_order = await record_against(uow, placed)
        moved = set(data) & {"produced_at", "date_produced", "shift", "line", "work_order_id"}
        if moved:
            # Placed again in time: the old form when it names a day or shift, else by produced_at.
            given = ({"date_produced"} if moved & {"date_produced", "shift"} and "produced_at" not in moved
                     else {"produced_at"})
            if "produced_at" in given and placed["produced_at"] is None:
                given = {"date_produced"}  # a record never placed in time: its day and shift hold
            await place(uow.session, self.clock, placed, given | (moved & {"shift", "date_produced"}),
                        work_order)
        data.update({name: placed[name] for name in ("line", "shift", "date_produced", "produced_at")
                     if placed[name] != getattr(record, name)})
        # Only a newly named product or employee must be active: an archived one stays in history.
        changed_product = after["product_id"] if after["product_id"] != before["product_id"] else None
        changed_employee = data.get("employee_id") if data.get("employee_id") != record.employee_id else None
        await self.lock_references(uow, sorted({before["product_id"], after["product_id"]}),
                                   data.get("employee_id"), usable=(changed_product, changed_employee))
        await self.move_difference(uow, record.id, before, after, actor)
        was = counted(record)
        for key, value in data.items():
            setattr(record, key, value)
        await uow.session.flush()
        if counted(record) != was:
            await production_counts(uow.session, was, -1)
            await production_counts(uow.session, counted(record), +1)
        uow.emit("production", "production.updated", self.dump(record))
        left = None
        if previous_order is not None and previous_order != record.work_order_id:
            left = await uow.session.get(WorkOrder, previous_order)
        await after_record(uow, [left, work_order], _work_orders.dump)
        return record

    async def delete(self, uow: UnitOfWork, ident: int, actor: Principal | None = None) -> ProductionRecord:
        record = await self.get(uow.session, ident, for_update=True)
        payload = self.dump(record)
        units = good_units(payload)
        if units:
            await self.take_back(uow, record.product_id, units, record.id, actor,
                                 f"Production record {record.id} deleted")
        await uow.session.delete(record)
        await uow.session.flush()
        await production_counts(uow.session, counted(record), -1)
        uow.emit("production", "production.deleted", payload)
        if record.work_order_id is not None:
            await after_record(uow, [await uow.session.get(WorkOrder, record.work_order_id)],
                               _work_orders.dump)
        return record

    async def add_machine_count(self, uow: UnitOfWork, machine: Any, place: dict[str, Any],
                                produced: int, defective: int) -> dict[str, Any]:
        """A machine counted `produced` units (`defective` of them rejects) in one shift instance:
        its one record there for the work order (or product) grows, or is made; the same stock
        ledger, summary tables, work-order progress and events as a typed record."""
        session = uow.session
        record = (await session.execute(select(ProductionRecord).where(
            ProductionRecord.machine_id == machine.id,
            ProductionRecord.date_produced == place["date_produced"],
            _same(ProductionRecord.shift, place["shift"]),
            _same(ProductionRecord.work_order_id, place["work_order_id"]),
            ProductionRecord.product_id == place["product_id"]).with_for_update())).scalar()
        if record is None:
            data = {**place, "employee_id": None, "quantity_produced": produced,
                    "quantity_defective": defective, "line": machine.line, "planned_minutes": None,
                    "downtime_minutes": None, "source": "machine", "machine_id": machine.id}
            return (await self._record(uow, data, None))[1]
        work_order = await record_against(uow, {"work_order_id": record.work_order_id,
                                                "product_id": record.product_id, "line": record.line,
                                                "shift": record.shift})
        await self.lock_references(uow, [record.product_id], None)
        was = counted(record)
        good_before = good_units(was)
        record.quantity_produced += produced
        record.quantity_defective += defective
        await session.flush()
        await production_counts(session, was, -1)
        await production_counts(session, counted(record), +1)
        more = good_units(counted(record)) - good_before
        if more:
            await move_stock(uow, record.product_id, more, "production", production_record_id=record.id,
                             note=f"Production record {record.id} (machine {machine.name})")
        payload = self.dump(record)
        uow.emit("production", "production.updated", payload)
        await after_record(uow, [work_order], _work_orders.dump)
        return payload

    async def move_difference(self, uow: UnitOfWork, record_id: int, before: dict[str, Any],
                              after: dict[str, Any], actor: Principal | None) -> None:
        """Move stock by what the change adds or removes; reversals first so a 409 changes nothing."""
        old, new = good_units(before), good_units(after)
        note = f"Production record {record_id} changed"
        if before["product_id"] != after["product_id"]:
            if old:
                await self.take_back(uow, before["product_id"], old, record_id, actor, note)
            if new:
                await move_stock(uow, after["product_id"], new, "production", note=note,
                                 production_record_id=record_id, user_id=_user_id(actor))
        elif new < old:
            await self.take_back(uow, before["product_id"], old - new, record_id, actor, note)
        elif new > old:
            await move_stock(uow, before["product_id"], new - old, "production", note=note,
                             production_record_id=record_id, user_id=_user_id(actor))

    async def take_back(self, uow: UnitOfWork, product_id: int, units: int, record_id: int,
                        actor: Principal | None, note: str) -> None:
        try:
            await move_stock(uow, product_id, -units, "reversal", note=note,
                             production_record_id=record_id, user_id=_user_id(actor))
        except Conflict as exc:
            raise conflict(f"Production record {record_id}: {units} good units of product "
                           f"{product_id} cannot be taken back out of stock. {exc.detail}",
                           errors=exc.errors) from None

    async def check_places(self, uow: UnitOfWork, data: dict[str, Any]) -> None:
        """A given `line` must be an active line's code and `shift` a shift's name (422 otherwise);
        both are stored as the line and shift spell them."""
        if data.get("line") is not None:
            data["line"] = (await active_line(uow.session, data["line"])).code
        if data.get("shift") is not None:
            data["shift"] = (await known_shift(uow.session, data["shift"])).name

    async def lock_references(self, uow: UnitOfWork, product_ids: list[int], employee_id: int | None,
                              usable: tuple[int | None, int | None] = (None, None)) -> None:
        """Check the product and employee exist (422 naming the field) and lock the products first;
        `usable` names the (product, employee) that must also be active (not archived).

        Locking the product row before the insert keeps InnoDB from upgrading the foreign-key
        check's shared lock later, which deadlocks two writers of the same product.
        """
        ids = sorted(set(product_ids))
        found = dict((await (run(uow.session, LOCK_PRODUCT, {"id": ids[0]}) if len(ids) == 1
                             else run(uow.session, LOCK_PRODUCTS, {"ids": ids}))).rows)
        active = (None if employee_id is None else
                  (await run(uow.session, EMPLOYEE_ACTIVE, {"id": employee_id})).scalar())
        check_references(found, product_ids, employee_id, active, usable)


@dataclass
class Known:
    """What recording a chunk of records (an import's) reads once: the lines, every shift with its
    versions, the products and the employees they name."""

    lines: dict[str, Any]  # code → (code, active, shifts)
    book: ShiftBook
    products: dict[int, Any]  # id → (id, sku, active, stock_quantity)
    employees: dict[int, bool]  # id → active

    @classmethod
    async def read(cls, session: AsyncSession, chunk: Sequence[dict[str, Any]]) -> Known:
        codes = {data["line"] for data in chunk if data.get("line") is not None}
        lines = {row.code: row for row in (await session.execute(
            select(Line.code, Line.active, Line.shifts).where(Line.code.in_(codes)))).all()} if codes else {}
        products = {row.id: row for row in (await session.execute(
            select(Product.id, Product.sku, Product.active, Product.stock_quantity)
            .where(Product.id.in_({data["product_id"] for data in chunk})))).all()}
        employees = dict((await session.execute(select(Employee.id, Employee.active).where(
            Employee.id.in_({data["employee_id"] for data in chunk if data["employee_id"] is not None}))
        )).all())
        book = ShiftBook(await all_shifts(session), {code: row.shifts for code, row in lines.items()})
        return cls(lines, book, products, employees)


def check_record(known: Known, clock: Clock, data: dict[str, Any]) -> None:
    """What `ProductionService.create` checks and sets before it writes a record without a work
    order, in the same order and with the same refusals, from what `known` holds: its ranges, its
    line and shift, its place in time (`place_in`, the one set of placement rules), its product and
    employee. Stock is the caller's: it moves a chunk's records together."""
    check_ranges(data)
    given = set(data)
    if data.get("line") is not None:
        data["line"] = usable_line(known.lines.get(data["line"]), data["line"]).code
    if data.get("shift") is not None and not known.book.named(data["shift"]):
        raise no_shift(data["shift"])
    if data.get("work_order_id") is not None:
        raise invalid({"work_order_id": ["Record against a work order through POST /production."]})
    place_in(known.book, clock, data, given)
    product = known.products.get(data["product_id"])
    check_references({} if product is None else {product.id: product.active}, [data["product_id"]],
                     data["employee_id"], known.employees.get(data["employee_id"]),
                     usable=(data["product_id"], data["employee_id"]))


def check_references(products: dict[int, Any], product_ids: list[int], employee_id: int | None,
                     employee_active: bool | None, usable: tuple[int | None, int | None]) -> None:
    """422 naming the field for a product not among `products` (id → whether active) or an
    employee not found (`employee_active` None); `usable` names the (product, employee) that must
    also be active."""
    errors: dict[str, list[str]] = {}
    missing = [pid for pid in product_ids if pid not in products]
    product_id, usable_employee = usable
    if missing:
        errors["product_id"] = [f"Product {missing[0]} does not exist."]
    elif product_id is not None and not products[product_id]:
        errors["product_id"] = [archived_message("Product", product_id)]
    if employee_id is not None and employee_active is None:
        errors["employee_id"] = [f"Employee {employee_id} does not exist."]
    elif employee_id is not None and employee_id == usable_employee and not employee_active:
        errors["employee_id"] = [archived_message("Employee", employee_id)]
    if errors:
        raise invalid(errors)


_work_orders = WorkOrderService()


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _user_id(actor: Principal | None) -> int | None:
    return actor.user_id if actor is not None else None
