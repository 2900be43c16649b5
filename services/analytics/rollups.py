"""Summary tables kept current in the writer's own transaction, and rebuilt from raw rows on demand.

Every change is a signed delta added to one summary row (`x = x + delta` under the row's lock, so
concurrent writers never lose each other's counts); a row whose count reaches zero stays, at zero,
and the reports skip it. The only values a delta cannot take back are a customer's first and last
order time: after an order stops counting they are read again from the customer's remaining orders.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from cachetools import LRUCache
from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from core.multirow import insert_many
from core.statements import run
from models import (
    CustomerValue,
    Order,
    OrderItem,
    ProductionDay,
    ProductionEmployee,
    ProductionRecord,
    ProductionTotal,
    RowCount,
    SalesDay,
    SalesProduct,
)

NO_LINE = ""  # a record without a line, in the summary tables' keys (real lines are never empty)
PRODUCTION_SUMS = ("records", "produced", "defective", "planned", "running", "no_time")


def cents(amount: Decimal) -> int:
    return int((Decimal(amount) * 100).to_integral_value())


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name


# Keys known to have a summary row, per engine: MariaDB writers only ever UPDATE existing rows.
_known_rows: WeakKeyDictionary = WeakKeyDictionary()


Extra = dict[str, tuple[Any, Callable[[Any, Any], Any]]]


def earlier(column: Any, new: Any) -> Any:
    """The earlier of a stored time and a new one (a zero row's NULL gives way): portable SQL."""
    return case((or_(column.is_(None), new < column), new), else_=column)


def later(column: Any, new: Any) -> Any:
    return case((or_(column.is_(None), new > column), new), else_=column)


def kept(column: Any, new: Any) -> Any:
    return column


async def add(session: AsyncSession, table: Table, keys: dict[str, Any], deltas: dict[str, int],
              *, extra: Extra | None = None) -> None:
    """Add `deltas` to the summary row at `keys`, creating it (with zeros) when it is new.

    `extra` maps a column to (its value on insert, a module-level function of (the column, the new
    value) giving its update: `earlier`, `later`, `kept`).
    On MariaDB an upsert of a missing key takes gap locks that deadlock concurrent writers of
    neighbouring keys; so a new key's zero row is first inserted and committed on a connection of
    its own (INSERT IGNORE, once per key and process), and the transaction then only updates
    existing rows: record locks, taken in one order by every writer.
    """
    extra = extra or {}
    if _dialect(session) != "sqlite":
        engine = session.bind
        _known = _known_rows.setdefault(engine.sync_engine, LRUCache(maxsize=200_000))
        known = (table.name, *keys.values())
        if known not in _known:
            where = [table.c[name] == value for name, value in keys.items()]
            zero = {**keys, **{name: 0 for name in deltas}, **{name: None for name in extra}}
            await _ensure_row(_side_engine(engine), table, where, zero)
            _known[known] = True
        # One statement built once per shape, only its parameters change (saves CPU per write).
        statement = _adder(table, tuple(keys), tuple(deltas),
                           tuple((name, update_of) for name, (_, update_of) in extra.items()))
        params = {**{f"k_{name}": value for name, value in keys.items()},
                  **{f"d_{name}": delta for name, delta in deltas.items()},
                  **{f"x_{name}": value for name, (value, _) in extra.items()}}
        if (await run(session, statement, params)).rowcount:
            return
        _known.pop(known, None)  # rebuilt meanwhile: fall back to the upsert below
    values = {**keys, **deltas, **{name: value for name, (value, _) in extra.items()}}
    on_sqlite = _dialect(session) == "sqlite"
    statement = (sqlite.insert if on_sqlite else mysql.insert)(table).values(values)
    new = statement.excluded if on_sqlite else statement.inserted
    changes = {name: table.c[name] + new[name] for name in deltas}
    changes.update({name: update_of(table.c[name], new[name]) for name, (_, update_of) in extra.items()})
    if on_sqlite:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        statement = statement.on_duplicate_key_update(changes)
    await session.execute(statement)


async def add_all(session: AsyncSession, table: Table, key_names: tuple[str, ...],
                  sums: dict[tuple[Any, ...], dict[str, int]],
                  extra: dict[tuple[Any, ...], Extra] | None = None) -> None:
    """`add` for many keys at once (a bulk write's deltas, summed per key first): the same rows
    and the same values, in a few multi-row statements instead of one per key and row.

    On MariaDB the missing keys' zero rows are made first, committed on the side pool (as `add`
    does, without waiting for a lock: see `_ensure_rows`), and then one `INSERT … ON DUPLICATE KEY
    UPDATE x = x + new.x` per few hundred keys, in key order, meets existing primary keys: it takes
    their record locks, as an UPDATE would (and, where a duplicate ends an index page, the gap
    after it). SQLite takes the same statement as ON CONFLICT DO UPDATE.
    """
    if not sums:
        return
    extra = extra or {}
    keys = sorted(sums)  # every writer locks summary rows in key order
    on_sqlite = _dialect(session) == "sqlite"
    sample = sums[keys[0]]
    extra_names = tuple(extra[keys[0]]) if extra else ()
    if not on_sqlite:
        await _ensure_rows(session, table, key_names, keys, tuple(sample), extra_names)
    statement = _bulk_adder(table, key_names, tuple(sample),
                            tuple((name, extra[keys[0]][name][1]) for name in extra_names), on_sqlite)
    for start in range(0, len(keys), BULK_KEYS):
        rows = []
        for key in keys[start:start + BULK_KEYS]:
            row = dict(zip(key_names, key, strict=True))
            row.update(sums[key])
            for name in extra_names:
                row[name] = extra[key][name][0]
            rows.append(row)
        await insert_many(session, statement, rows)


BULK_KEYS = 500


async def _ensure_rows(session: AsyncSession, table: Table, key_names: tuple[str, ...],
                       keys: list[tuple[Any, ...]], delta_names: tuple[str, ...],
                       extra_names: tuple[str, ...]) -> None:
    """`_ensure_row` for many keys: the unknown ones' zero rows, inserted and committed aside."""
    engine = session.bind
    known = _known_rows.setdefault(engine.sync_engine, LRUCache(maxsize=200_000))
    missing = [key for key in keys if (table.name, *key) not in known]
    if not missing:
        return
    side = _side_engine(engine)
    columns = [table.c[name] for name in key_names]
    async with side.connect() as conn:
        # Never wait for a lock here: the caller's own transaction may hold the gap a new row goes
        # into (MariaDB's ON DUPLICATE KEY UPDATE locks the gap after a duplicate that ends a page:
        # an import's earlier chunks do), and waiting on it only times out (1 s per batch, measured);
        # the caller's upsert makes what is not made here, as it does after any lock wait.
        await conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 0")
        try:
            for start in range(0, len(missing), BULK_KEYS):
                batch = missing[start:start + BULK_KEYS]
                # A plain read of which exist (it waits on no lock): one, by the primary key.
                query = select(*columns).where(tuple_(*columns).in_(batch))
                found = {tuple(row) for row in (await conn.execute(query)).all()}
                zero = {**{name: 0 for name in delta_names}, **{name: None for name in extra_names}}
                new = [{**dict(zip(key_names, key, strict=True)), **zero} for key in batch
                       if key not in found]
                if new:
                    try:
                        await conn.execute(mysql.insert(table).prefix_with("IGNORE"), new)
                    except OperationalError as exc:  # a writer holds one of them: it exists then
                        if getattr(exc.orig, "args", (None,))[0] != LOCK_WAIT_TIMEOUT:
                            raise
                await conn.commit()
        finally:
            await conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
    for key in missing:
        known[(table.name, *key)] = True


@lru_cache(maxsize=64)
def _bulk_adder(table: Table, key_names: tuple[str, ...], delta_names: tuple[str, ...],
                extras: tuple[tuple[str, Callable[[Any, Any], Any]], ...], on_sqlite: bool) -> Executable:
    """INSERT … ON DUPLICATE KEY UPDATE (ON CONFLICT DO UPDATE) d = d + new.d, x = f(x, new.x)."""
    statement = (sqlite.insert if on_sqlite else mysql.insert)(table)
    new = statement.excluded if on_sqlite else statement.inserted
    changes = {name: table.c[name] + new[name] for name in delta_names}
    changes.update({name: update_of(table.c[name], new[name]) for name, update_of in extras})
    if on_sqlite:
        return statement.on_conflict_do_update(index_elements=list(key_names), set_=changes)
    return statement.on_duplicate_key_update(changes)


@lru_cache(maxsize=64)
def _adder(table: Table, key_names: tuple[str, ...], delta_names: tuple[str, ...],
           extras: tuple[tuple[str, Callable[[Any, Any], Any]], ...]) -> Executable:
    """UPDATE table SET d = d + :d_d, x = f(x, :x_x) … WHERE k = :k_k …, built once per shape."""
    changes = {name: table.c[name] + bindparam(f"d_{name}") for name in delta_names}
    changes.update({name: update_of(table.c[name], bindparam(f"x_{name}", type_=table.c[name].type))
                    for name, update_of in extras})
    where = [table.c[name] == bindparam(f"k_{name}") for name in key_names]
    return update(table).where(*where).values(changes)


_side_engines: WeakKeyDictionary = WeakKeyDictionary()
LOCK_WAIT_TIMEOUT = 1205


async def _ensure_row(side: AsyncEngine, table: Table, where: list[Any], zero: dict[str, Any]) -> None:
    """Make the summary row exist, committed, without ever waiting on a writer's row lock.

    A plain read sees a committed row without locking; only a missing one is inserted. If that
    insert meets a row another writer has just created and now holds, it waits at most a second
    (the side connections' lock wait) and moves on: the row exists.
    """
    async with side.connect() as conn:
        if await conn.scalar(select(literal(1)).select_from(table).where(*where).limit(1)) is None:
            try:
                await conn.execute(mysql.insert(table).values(zero).prefix_with("IGNORE"))
            except OperationalError as exc:
                if getattr(exc.orig, "args", (None,))[0] != LOCK_WAIT_TIMEOUT:
                    raise
        await conn.commit()


def _side_engine(engine: AsyncEngine) -> AsyncEngine:
    """A small pool of its own for creating summary rows, beside the writers' pool.

    A writer holds its pool connection while it asks for this one: from the same pool, writers at
    the pool's limit would wait on each other forever. Disposed with the main engine.
    """
    side = _side_engines.get(engine.sync_engine)
    if side is None:
        side = create_async_engine(engine.url, pool_size=2, max_overflow=6, pool_timeout=10,
                                   pool_pre_ping=True, pool_recycle=1800, hide_parameters=True)
        _side_engines[engine.sync_engine] = side
        event.listen(side.sync_engine, "connect", _short_lock_wait)
        # AsyncEngine.dispose runs the sync dispose in a greenlet, where the side pool can close too.
        event.listen(engine.sync_engine, "engine_disposed", lambda _: side.sync_engine.dispose())
    return side


def _short_lock_wait(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    cursor.close()


def forget_known_rows() -> None:
    """After a rebuild in this process: summary rows may be gone."""
    _known_rows.clear()


async def count_rows(session: AsyncSession, name: str, key: str, delta: int) -> None:
    await add(session, RowCount.__table__, {"name": name, "key": key}, {"n": delta})


async def move_count(session: AsyncSession, name: str, before: str, after: str) -> None:
    """One row moves from key `before` to `after` (an order's status); rows locked in key order."""
    for key, delta in sorted(((before, -1), (after, +1))):
        await count_rows(session, name, key, delta)


# -- orders -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Sale:
    """What the sales summaries count of an order: its customer, time, total and lines."""

    customer_id: int
    placed_at: datetime
    total_price: Decimal
    lines: tuple[tuple[int, int, Decimal], ...]  # (product_id, quantity, line_total)

    @classmethod
    def of(cls, order: Order) -> Sale:
        return cls(order.customer_id, order.placed_at, order.total_price,
                   tuple((item.product_id, item.quantity, item.line_total) for item in order.items))


async def order_counts(session: AsyncSession, order: Sale, sign: int) -> None:
    """An order starts (+1) or stops (-1) counting as a sale: placed, or cancelled/deleted.

    Summary rows are kept at zero rather than deleted (the reports skip them), so a key's row
    exists from its first use on.
    """
    day = order.placed_at.date()
    units: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for product_id, quantity, line_total in order.lines:
        units[product_id][0] += quantity
        units[product_id][1] += cents(line_total)
    for product_id in sorted(units):  # every writer locks summary rows in one order
        quantity, revenue = units[product_id]
        deltas = {"units": sign * quantity, "revenue_cents": sign * revenue}
        await add(session, SalesDay.__table__, {"day": day, "product_id": product_id}, deltas)
    for product_id in sorted(units):
        quantity, revenue = units[product_id]
        deltas = {"units": sign * quantity, "revenue_cents": sign * revenue}
        await add(session, SalesProduct.__table__, {"product_id": product_id}, deltas)
    table = CustomerValue.__table__
    # A counted order's customer has a row when it stops counting: then its insert values never land.
    extra: Extra = {"first_order_at": (order.placed_at, earlier if sign > 0 else kept),
                    "last_order_at": (order.placed_at, later if sign > 0 else kept)}
    await add(session, table, {"customer_id": order.customer_id},
              {"orders": sign, "value_cents": sign * cents(order.total_price)}, extra=extra)
    if sign < 0:
        # Read from the latest committed rows (an UPDATE's subquery is a locking read in InnoDB).
        counted = and_(Order.customer_id == order.customer_id, Order.status != "cancelled")
        await session.execute(
            update(table).where(table.c.customer_id == order.customer_id).values(
                first_order_at=select(func.min(Order.placed_at)).where(counted).scalar_subquery(),
                last_order_at=select(func.max(Order.placed_at)).where(counted).scalar_subquery()))


async def order_written(session: AsyncSession, order: Order) -> None:
    """An order written straight to the table (a restore or legacy import): count it as placed."""
    await count_rows(session, "orders", order.status, +1)
    if order.status != "cancelled":
        await order_counts(session, Sale.of(order), +1)


# -- production -------------------------------------------------------------------------------

def production_sums(values: dict[str, Any], sign: int) -> dict[str, int]:
    planned, downtime = values.get("planned_minutes"), values.get("downtime_minutes")
    timed = planned is not None and downtime is not None
    return {"records": sign, "produced": sign * values["quantity_produced"],
            "defective": sign * values["quantity_defective"], "planned": sign * (planned or 0),
            "running": sign * (planned - downtime if timed else 0), "no_time": 0 if timed else sign}


async def production_counts(session: AsyncSession, values: dict[str, Any], sign: int) -> None:
    """A production record (its values as stored) starts (+1) or stops (-1) counting."""
    sums = production_sums(values, sign)
    line = values.get("line") or NO_LINE
    product = values["product_id"]
    await add(session, ProductionDay.__table__,
              {"day": values["date_produced"], "product_id": product, "line": line}, sums)
    await add(session, ProductionTotal.__table__, {"product_id": product, "line": line}, sums)
    if values["employee_id"] is not None:  # a machine's record names nobody
        await add(session, ProductionEmployee.__table__,
                  {"employee_id": values["employee_id"], "product_id": product}, sums)
    await count_rows(session, "production_records", "", sign)


async def record_written(session: AsyncSession, record: ProductionRecord) -> None:
    """A production record written straight to the table (a restore or legacy import)."""
    fields = ("product_id", "employee_id", "date_produced", "line", "quantity_produced",
              "quantity_defective", "planned_minutes", "downtime_minutes")
    await production_counts(session, {name: getattr(record, name) for name in fields}, +1)


# -- rebuilding from raw rows -----------------------------------------------------------------

def _production_select(*keys: ColumnElement) -> Any:
    pr = ProductionRecord
    timed = and_(pr.planned_minutes.is_not(None), pr.downtime_minutes.is_not(None))
    return select(*keys, func.count(), func.sum(pr.quantity_produced), func.sum(pr.quantity_defective),
                  func.sum(func.coalesce(pr.planned_minutes, 0)),
                  func.sum(case((timed, pr.planned_minutes - pr.downtime_minutes), else_=0)),
                  func.sum(case((timed, 0), else_=1))).group_by(*keys)


def rebuild_statements(dialect: str) -> list[tuple[str, Executable]]:
    """(label, statement) pairs that refill every summary table from the raw rows, in order."""
    pr = ProductionRecord
    line = func.coalesce(pr.line, literal(NO_LINE))
    placed_day = func.date(Order.placed_at)
    counted = Order.status != "cancelled"

    def sales(*keys: ColumnElement) -> Any:
        return (select(*keys, func.sum(OrderItem.quantity), func.sum(func.round(OrderItem.line_total * 100)))
                .select_from(Order).join(OrderItem, OrderItem.order_id == Order.id)
                .where(counted).group_by(*keys))

    statements: list[tuple[str, Executable]] = [
        (f"clear {table.__tablename__}", delete(table)) for table in
        (SalesDay, SalesProduct, CustomerValue, ProductionDay, ProductionTotal, ProductionEmployee, RowCount)]
    statements += [
        ("sales per day", insert(SalesDay).from_select(
            ["day", "product_id", "units", "revenue_cents"], sales(placed_day, OrderItem.product_id))),
        ("sales per product", insert(SalesProduct).from_select(
            ["product_id", "units", "revenue_cents"], sales(OrderItem.product_id))),
        ("customer value", insert(CustomerValue).from_select(
            ["customer_id", "orders", "value_cents", "first_order_at", "last_order_at"],
            select(Order.customer_id, func.count(), func.sum(func.round(Order.total_price * 100)),
                   func.min(Order.placed_at), func.max(Order.placed_at))
            .where(counted).group_by(Order.customer_id))),
        ("production per day", insert(ProductionDay).from_select(
            ["day", "product_id", "line", *PRODUCTION_SUMS],
            _production_select(pr.date_produced, pr.product_id, line))),
        ("production per product and line", insert(ProductionTotal).from_select(
            ["product_id", "line", *PRODUCTION_SUMS], _production_select(pr.product_id, line))),
        ("production per employee", insert(ProductionEmployee).from_select(
            ["employee_id", "product_id", *PRODUCTION_SUMS],
            _production_select(pr.employee_id, pr.product_id).where(pr.employee_id.is_not(None)))),
        ("order counts", insert(RowCount).from_select(
            ["name", "key", "n"],
            select(literal("orders"), Order.status, func.count()).group_by(Order.status))),
        ("production count", insert(RowCount).from_select(
            ["name", "key", "n"],
            select(literal("production_records"), literal(""), func.count()).select_from(pr))),
    ]
    return statements


async def rebuild(session: AsyncSession, progress: Iterable[Any] | None = None) -> None:
    """Refill every summary table in the caller's transaction; `progress` wraps the steps (tqdm)."""
    steps = rebuild_statements(_dialect(session))
    for _, statement in (progress(steps) if callable(progress) else steps):
        await session.execute(statement)
    forget_known_rows()


async def rebuild_rollups(db: Any, *, show_progress: bool = True) -> None:
    """Refill the summary tables of `db` (a core.db.Database) in one transaction, with a progress bar."""
    from tqdm import tqdm

    def progress(steps: list[Any]) -> Any:
        return tqdm(steps, desc="rebuilding summary tables", unit=" steps", file=sys.stderr,
                    disable=not show_progress)

    async with db.write() as uow:
        await rebuild(uow.session, progress)
