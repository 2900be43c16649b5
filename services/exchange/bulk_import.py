"""The write of a plain orders or production import, a chunk at a time: what `OrderService.create`
and `ProductionService.create` do row by row, with the same rules and results, in a handful of
statements per chunk.

Per chunk: one read of the customers or employees it names, one of its products (locked by the
import beforehand, in id order, as every writer locks them) and, for production, one of its lines
and every shift's versions (each record is placed in its shift instance by its time with the
production service's own `check_record`, the rules `create` applies); one multi-row INSERT of its
orders or records (their ids are consecutive: see `insert_rows`), one of the order lines or stock
movements, one UPDATE per product whose stock moved, and the summary-table deltas summed per key
and added once per key (`rollups.add_all`). The rows, prices, totals, stock, ledger (each
movement's `balance_after` as the one-at-a-time path leaves it), summary tables and row counts
come out the same; only the per-row live events are not made (an import announces itself once).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Table, bindparam, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db import UnitOfWork
from core.errors import DomainError, invalid
from core.multirow import insert_many, with_defaults
from models import (
    Customer,
    Order,
    OrderItem,
    Product,
    ProductionDay,
    ProductionEmployee,
    ProductionRecord,
    ProductionTotal,
    RowCount,
    SalesDay,
    SalesProduct,
    StockMovement,
    utcnow,
)
from models import CustomerValue as CustomerValueRow
from schemas.common import MAX_INT, money
from services.analytics.rollups import NO_LINE, add_all, cents, earlier, later, production_sums
from services.catalog.stock import over_the_limit
from services.common.crud import archived_message
from services.floor.production import Known, check_record, good_units
from services.sales.orders import MAX_TOTAL, OrderService

_orders, _items, _records = Order.__table__, OrderItem.__table__, ProductionRecord.__table__
_movements, _products = StockMovement.__table__, Product.__table__
_ROW_COUNTS = RowCount.__table__
_INSERT_ITEMS, _INSERT_MOVEMENTS = insert(_items), insert(_movements)


class RowRefused(DomainError):
    """A row the services would refuse at write time: `index` is its place in the chunk."""

    def __init__(self, index: int, error: DomainError) -> None:
        super().__init__(error.detail, error.errors)
        self.index, self.error = index, error


# -- ids of a multi-row INSERT ---------------------------------------------------------------

_consecutive: WeakKeyDictionary = WeakKeyDictionary()


async def _id_step(session: AsyncSession) -> int | None:
    """The step between the ids of one multi-row INSERT, or None when they may not be consecutive.

    SQLite has one writer: a statement's rows take consecutive ids. InnoDB gives a multi-row
    INSERT consecutive ids (`auto_increment_increment` apart) in lock modes 0 and 1; mode 2
    ("interleaved") may mix in another session's, so rows then go one INSERT each.
    """
    if session.bind.dialect.name == "sqlite":
        return 1
    engine = session.bind.sync_engine
    if engine not in _consecutive:
        mode, step = (await session.execute(
            select(literal_column("@@innodb_autoinc_lock_mode"),
                   literal_column("@@auto_increment_increment")))).one()
        _consecutive[engine] = int(step) if int(mode) in (0, 1) else None
    return _consecutive[engine]


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` (dicts with the same keys) in the session's transaction; their new ids, in order."""
    step = await _id_step(session)
    statement = insert(table)
    rows = with_defaults(statement, rows)  # the one-by-one path below needs them as insert_many does
    if step is None:
        connection = await session.connection()
        return [(await connection.execute(statement, row)).inserted_primary_key[0] for row in rows]
    written = await insert_many(session, statement, rows)
    if written.rowcount != len(rows) or written.first_id is None:
        raise RuntimeError(f"{table.name}: {written.rowcount} of {len(rows)} rows inserted")
    return [written.first_id + step * n for n in range(len(rows))]


# -- orders ------------------------------------------------------------------------------------

async def write_orders(uow: UnitOfWork, chunk: Sequence[dict[str, Any]], actor: Any,
                       now: datetime | None = None) -> list[int]:
    """Place a chunk of orders (each `OrderSchema().load` output) as `OrderService.create` would."""
    session = uow.session
    now = now or utcnow()
    customers = dict((await session.execute(
        select(Customer.id, Customer.active).where(Customer.id.in_({data["customer_id"] for data in chunk}))
    )).all())
    products = {row.id: row for row in (await session.execute(
        select(Product.id, Product.price, Product.active)
        .where(Product.id.in_({item["product_id"] for data in chunk for item in data["items"]}))
    )).all()}  # share-locked by the import before its first chunk
    stamp = utcnow()
    orders, lines = [], []
    for index, data in enumerate(chunk):
        try:  # in the order the service checks: placed_at, the customer, the products, the total
            placed = OrderService.placed_at(data, actor, now)
        except DomainError as exc:
            raise RowRefused(index, exc) from None
        errors: dict[str, Any] = {}
        active = customers.get(data["customer_id"])
        if active is None:
            errors["customer_id"] = [f"Customer {data['customer_id']} does not exist."]
        elif not active:
            errors["customer_id"] = [archived_message("Customer", data["customer_id"])]
        mine = []
        for position, item in enumerate(data["items"]):
            product = products.get(item["product_id"])
            if product is None or not product.active:
                message = [f"Product {item['product_id']} does not exist." if product is None
                           else archived_message("Product", item["product_id"])]
                if data.get("one_line"):
                    errors["product_id"] = message
                else:
                    errors.setdefault("items", {})[position] = {"product_id": message}
                continue
            mine.append({"product_id": item["product_id"], "quantity": item["quantity"],
                         "unit_price": money(product.price),
                         "line_total": money(product.price * item["quantity"]),
                         "created_at": stamp, "updated_at": stamp})
        if errors:
            raise RowRefused(index, invalid(errors))
        total = sum((line["line_total"] for line in mine), Decimal("0.00"))
        if total > MAX_TOTAL:
            raise RowRefused(index, invalid({"items": [f"The order total {total} is over the limit of "
                                                       f"{MAX_TOTAL}."]}))
        orders.append({"customer_id": data["customer_id"], "status": "pending", "total_price": total,
                       "placed_at": placed, "created_at": stamp, "updated_at": stamp})
        lines.append(mine)
    ids = await insert_rows(session, _orders, orders)
    rows = []
    for order_id, mine in zip(ids, lines, strict=True):
        for line in mine:
            line["order_id"] = order_id
            rows.append(line)
    await insert_many(session, _INSERT_ITEMS, rows)
    uow.touch("orders", "order_items")
    await count_sales(session, orders, lines)
    return ids


async def write_history_orders(uow: UnitOfWork, orders: list[dict[str, Any]],
                               lines: list[list[dict[str, Any]]]) -> list[int]:
    """Orders written as they were (a legacy import: status, prices and times kept), with their lines,
    summary tables and counts as `order_written` keeps them; their new ids."""
    ids = await insert_rows(uow.session, _orders, orders)
    rows = []
    for order_id, mine in zip(ids, lines, strict=True):
        for line in mine:
            rows.append({**line, "order_id": order_id})
    await insert_many(uow.session, _INSERT_ITEMS, rows)
    uow.touch("orders", "order_items")
    await count_sales(uow.session, orders, lines)
    return ids


async def write_history_records(uow: UnitOfWork, records: list[dict[str, Any]]) -> list[int]:
    """Production records written as they were (history: no stock moves), counted as
    `record_written` counts them; their new ids."""
    ids = await insert_rows(uow.session, _records, records)
    uow.touch("production_records")
    await count_production(uow.session, records)
    return ids


async def count_sales(session: AsyncSession, orders: list[dict[str, Any]],
                      lines: list[list[dict[str, Any]]]) -> None:
    """`order_counts(+1)` and the per-status counts of every order of a chunk, summed per key
    (a cancelled order is counted, not sold)."""
    day: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: {"units": 0, "revenue_cents": 0})
    product: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: {"units": 0, "revenue_cents": 0})
    value: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: {"orders": 0, "value_cents": 0})
    times: dict[tuple[Any, ...], list[datetime]] = {}
    statuses: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: {"n": 0})
    for order, mine in zip(orders, lines, strict=True):
        statuses[("orders", order["status"])]["n"] += 1
        if order["status"] == "cancelled":
            continue
        placed = order["placed_at"]
        for line in mine:
            revenue = cents(line["line_total"])
            for sums in (day[(placed.date(), line["product_id"])], product[(line["product_id"],)]):
                sums["units"] += line["quantity"]
                sums["revenue_cents"] += revenue
        key = (order["customer_id"],)
        value[key]["orders"] += 1
        value[key]["value_cents"] += cents(order["total_price"])
        first_last = times.setdefault(key, [placed, placed])
        first_last[0], first_last[1] = min(first_last[0], placed), max(first_last[1], placed)
    await add_all(session, SalesDay.__table__, ("day", "product_id"), day)
    await add_all(session, SalesProduct.__table__, ("product_id",), product)
    await add_all(session, CustomerValueRow.__table__, ("customer_id",), value, extra={
        key: {"first_order_at": (first, earlier), "last_order_at": (last, later)}
        for key, (first, last) in times.items()})
    await add_all(session, _ROW_COUNTS, ("name", "key"), statuses)


# -- production --------------------------------------------------------------------------------

async def write_production(uow: UnitOfWork, chunk: Sequence[dict[str, Any]], actor: Any,
                           clock: Clock) -> list[int]:
    """Record a chunk of production (each `ProductionRecordSchema().load` output) as
    `ProductionService.create` would: placed in time, good units into stock through the ledger."""
    session = uow.session
    known = await Known.read(session, chunk)  # the products locked by the import before its first chunk
    stock = {ident: row.stock_quantity for ident, row in known.products.items()}
    now = utcnow()
    records = []
    for index, data in enumerate(chunk):
        try:
            check_record(known, clock, data)
            units = good_units(data)
            if units and stock[data["product_id"]] + units > MAX_INT:
                product = known.products[data["product_id"]]
                raise over_the_limit(product.id, product.sku, stock[product.id], units)
        except DomainError as exc:
            raise RowRefused(index, exc) from None
        stock[data["product_id"]] += units
        record = {name: data.get(name) for name in _RECORD_FIELDS}  # one key set for the multi-row INSERT
        record.update(source="api", machine_id=None, created_at=now, updated_at=now)
        records.append(record)
    ids = await insert_rows(session, _records, records)
    user_id = getattr(actor, "user_id", None)
    balance = {ident: row.stock_quantity for ident, row in known.products.items()}
    movements = []
    for record_id, record in zip(ids, records, strict=True):
        units = good_units(record)
        if units:
            balance[record["product_id"]] += units
            movements.append({"product_id": record["product_id"], "delta": units,
                              "balance_after": balance[record["product_id"]], "reason": "production",
                              "note": f"Production record {record_id}", "order_id": None,
                              "production_record_id": record_id, "user_id": user_id,
                              "created_at": now, "updated_at": now})
    if movements:
        await insert_many(session, _INSERT_MOVEMENTS, movements)
        moved = [{"product_id": ident, "stock": balance[ident], "now": now}
                 for ident in sorted(balance) if balance[ident] != known.products[ident].stock_quantity]
        await session.execute(_SET_STOCK, moved)
        uow.touch("products", "stock_movements")
    uow.touch("production_records")
    uow.change.lines.update(record["line"] for record in records if record.get("line"))  # their status moved
    await count_production(session, records)
    return ids


_RECORD_FIELDS = ("product_id", "employee_id", "quantity_produced", "quantity_defective", "produced_at",
                  "date_produced", "line", "shift", "planned_minutes", "downtime_minutes", "work_order_id")
_SET_STOCK = (update(_products).where(_products.c.id == bindparam("product_id"))
              .values(stock_quantity=bindparam("stock"), updated_at=bindparam("now")))


async def count_production(session: AsyncSession, records: list[dict[str, Any]]) -> None:
    """`production_counts(+1)` for every record of a chunk, summed per key."""
    day: dict[tuple[Any, ...], dict[str, int]] = {}
    total: dict[tuple[Any, ...], dict[str, int]] = {}
    employee: dict[tuple[Any, ...], dict[str, int]] = {}
    for record in records:
        sums = production_sums(record, +1)
        line = record.get("line") or NO_LINE
        product = record["product_id"]
        for table, key in ((day, (record["date_produced"], product, line)), (total, (product, line)),
                           (employee, (record["employee_id"], product))):
            kept = table.get(key)
            if kept is None:
                table[key] = dict(sums)
            else:
                for name, delta in sums.items():
                    kept[name] += delta
    await add_all(session, ProductionDay.__table__, ("day", "product_id", "line"), day)
    await add_all(session, ProductionTotal.__table__, ("product_id", "line"), total)
    await add_all(session, ProductionEmployee.__table__, ("employee_id", "product_id"), employee)
    await add_all(session, _ROW_COUNTS, ("name", "key"), {("production_records", ""): {"n": len(records)}})
