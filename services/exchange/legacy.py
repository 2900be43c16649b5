"""`server.py import-legacy URL`: load the Flask Factory Management System's database, idempotently.

Its tables (users, employees, products, customers, orders, production) are read a batch at a time;
each row is validated by this API's schemas and written with its legacy id recorded in
`legacy_ids`, in the same transaction, so a second run skips every row the first one took.
Customers, employees and products are checked and written a batch at a time
(`write_entities`), orders and production too (`write_history`); users one row at a time.
Soft-deleted rows (`deleted_at` set) become archived rows; float money is rounded to cents;
products get SKU `LEGACY-<id>`; production without an employee goes to one archived employee,
"Unassigned (imported)". A production record has no line or shift: it is placed (`produced_at`) at
noon of its day on the plant's clock (FACTORY_TIMEZONE), as records that predate `produced_at` were;
one dated after today is skipped. Orders and production are history: products arrive with their current
`stock_quantity` as an opening balance in the ledger, so the history moves no stock again.
"""
from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from tqdm import tqdm

from core.clock import Clock
from core.config import Settings
from core.db import Database, UnitOfWork
from core.errors import DomainError
from core.multirow import insert_many
from core.security import normalize_username
from models import ORDER_STATUSES, Employee, LegacyId, Product, StockMovement, User, utcnow
from schemas.customer import CustomerSchema
from schemas.employee import EmployeeSchema
from schemas.product import ProductSchema
from schemas.user import USERNAME
from services.catalog.customers import CustomerService
from services.catalog.employees import EmployeeService
from services.catalog.products import ProductService
from services.common.crud import same_text
from services.exchange.bulk_import import insert_rows, write_history_orders, write_history_records
from services.floor.production_time import noon_of

TABLES = ("users", "employees", "products", "customers", "orders", "production")
# Tables written a batch at a time (`write_entities`), by their service and `LegacyImport.<entity>_of`.
ENTITIES = {"employees": EmployeeService, "products": ProductService, "customers": CustomerService}
ENTITY_OF = {"employees": "employee_of", "products": "product_of", "customers": "customer_of"}
EMPLOYEE, CUSTOMER, PRODUCT = EmployeeSchema(), CustomerSchema(), ProductSchema()
INSERT_MOVEMENT = insert(StockMovement.__table__)
BATCH = 1000
CENT = Decimal("0.01")
UNASSIGNED = ("unassigned", 0)  # its legacy_ids key: one per database, re-used by every run
INSERT_LEGACY_ID = insert(LegacyId.__table__)
ROLES = {"user": "user", "admin": "admin", "super_admin": "super_admin", "superadmin": "super_admin"}


class Skip(Exception):
    """A legacy row that is not imported; the message says why (counted in the summary)."""


def async_url(url: str) -> str:
    """The legacy URL with this project's async driver (sqlite → aiosqlite, mysql → aiomysql)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    drivers = {"sqlite": "sqlite+aiosqlite", "mysql": "mysql+aiomysql", "mariadb": "mysql+aiomysql"}
    driver = drivers.get(backend)
    if driver is None:
        raise ArgumentError(f"unsupported database {backend!r}: use SQLite or MySQL/MariaDB")
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def cents(value: Any) -> Decimal:
    """Float money from the old database, rounded half-up to cents (19.989999 → 19.99)."""
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError, ValueError):
        raise Skip(f"money {value!r} is not a number") from None


def timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise Skip(f"date_produced {value!r} is not a date") from None


def validated(schema: Any, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        field, messages = next(iter(exc.normalized_messages().items()))
        message = messages[0] if isinstance(messages, list) else messages
        raise Skip(f"{field}: {message}") from None


class LegacyImport:
    """One run: reads each legacy table in id order and writes what isn't mapped yet."""

    def __init__(self, db: Database, source: AsyncConnection, progress: bool = True,
                 clock: Clock | None = None) -> None:
        self.db = db
        self.source = source
        self.clock = clock or Clock()
        self.progress = progress
        self.imported: Counter[str] = Counter()
        self.skipped: dict[str, Counter[str]] = {table: Counter() for table in TABLES}
        self.mapped: dict[str, dict[int, int]] = {}
        self.row_by_row: Counter[str] = Counter()  # entity batches a unique index sent down the row path

    async def run(self) -> None:
        async with self.db.session() as session:
            known = select(LegacyId.source_table, LegacyId.legacy_id, LegacyId.new_id)
            for (table, legacy, new) in (await session.execute(known)).all():
                self.mapped.setdefault(table, {})[legacy] = new
        for table in TABLES:
            await self.load_table(table)

    async def load_table(self, table: str) -> None:
        try:
            count = (await self.source.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar() or 0
        except SQLAlchemyError:
            self.skipped[table]["table not found in the legacy database"] += 1
            await self.source.rollback()
            return
        bar = tqdm(total=count, desc=table, unit=" rows", file=sys.stderr, disable=not self.progress)
        last = None
        with bar:
            while True:
                query = f"SELECT * FROM {table}" + (" WHERE id > :last" if last is not None else "")
                params = {"last": last} if last is not None else {}
                rows = [dict(row._mapping) for row in (await self.source.execute(
                    text(query + f" ORDER BY id LIMIT {BATCH}"), params)).all()]
                if not rows:
                    return
                await self.write_batch(table, rows)
                bar.update(len(rows))
                last = rows[-1]["id"]

    async def write_batch(self, table: str, rows: list[dict[str, Any]]) -> None:
        """One transaction per batch: the rows and their legacy ids together, so a re-run resumes."""
        done = self.mapped.setdefault(table, {})
        fresh = [row for row in rows if row["id"] not in done]
        if len(fresh) < len(rows):  # (a zero would print as "0 × already imported")
            self.skipped[table]["already imported"] += len(rows) - len(fresh)
        if not fresh:
            return
        added: dict[int, int] = {}
        if table in ("orders", "production"):
            await self.write_history(table, fresh, added)
            done.update(added)
            self.imported[table] += len(added)
            return
        if table in ENTITIES:
            try:
                await self.write_entities(table, fresh, added)
            except IntegrityError:  # a value MariaDB's collation equates and Python's lower() didn't
                added.clear()       # nothing of the batch was written: take it row by row
                self.row_by_row[table] += 1
            else:
                done.update(added)
                self.imported[table] += len(added)
                return
        async with self.db.write() as uow:
            for row in fresh:
                try:
                    async with uow.session.begin_nested():  # a refused row undoes only itself
                        new_id = await getattr(self, f"load_{table}")(uow, row)
                        uow.session.add(LegacyId(source_table=table, legacy_id=row["id"], new_id=new_id))
                except Skip as why:
                    self.skipped[table][str(why)] += 1
                    continue
                except DomainError as exc:
                    self.skipped[table][exc.detail] += 1
                    continue
                added[row["id"]] = new_id
            uow.change.events.clear()  # history, not live news
        done.update(added)
        self.imported[table] += len(added)

    def new_id(self, table: str, legacy_id: Any, what: str) -> int:
        if legacy_id is None or legacy_id not in self.mapped.get(table, {}):
            raise Skip(f"{what} {legacy_id} was not imported")
        return self.mapped[table][legacy_id]

    @staticmethod
    def times(row: dict[str, Any]) -> dict[str, datetime]:
        kept = {name: timestamp(row.get(name)) for name in ("created_at", "updated_at")}
        return {name: value for name, value in kept.items() if value is not None}

    # -- one loader per table -------------------------------------------------------------

    async def load_users(self, uow: UnitOfWork, row: dict[str, Any]) -> int:
        username = normalize_username(str(row.get("username") or ""))  # the one form sign-in matches
        if not USERNAME.regex.match(username):
            raise Skip(f"username {username!r} is not valid here")
        taken = same_text(User.username, username, uow.session.bind.dialect.name)
        if await uow.session.scalar(select(User.id).where(taken)) is not None:
            raise Skip("a user with this username already exists")
        password = str(row.get("password") or row.get("password_hash") or "")
        if not password.startswith(("pbkdf2:", "scrypt:")):
            raise Skip("password is not a Werkzeug pbkdf2 or scrypt hash")
        user = User(username=username, password_hash=password, role=ROLES.get(str(row.get("role")), "user"),
                    is_active=bool(row.get("is_active", True)) and row.get("deleted_at") is None,
                    **self.times(row))
        uow.session.add(user)
        await uow.session.flush()
        return user.id

    async def load_employees(self, uow: UnitOfWork, row: dict[str, Any]) -> int:
        return (await EmployeeService().create(uow, self.employee_of(row))).id

    async def load_customers(self, uow: UnitOfWork, row: dict[str, Any]) -> int:
        return (await CustomerService().create(uow, self.customer_of(row))).id

    async def load_products(self, uow: UnitOfWork, row: dict[str, Any]) -> int:
        return (await ProductService().create(uow, self.product_of(row))).id

    def employee_of(self, row: dict[str, Any]) -> dict[str, Any]:
        """A legacy employee as `EmployeeService.create` takes it (Skip when the schema refuses it)."""
        data = validated(EMPLOYEE, {"name": row.get("name") or "", "email": row.get("email") or "",
                                    "position": row.get("position") or "Unknown",
                                    "phone": row.get("phone") or ""})
        return {**data, **self.archived(row), **self.times(row)}

    def customer_of(self, row: dict[str, Any]) -> dict[str, Any]:
        data = validated(CUSTOMER, {
            "name": row.get("name") or "", "email": row.get("email") or "", "phone": row.get("phone") or "",
            **({"address": row["address"]} if row.get("address") else {})})
        return {**data, **self.archived(row), **self.times(row)}

    def product_of(self, row: dict[str, Any]) -> dict[str, Any]:
        stock = row.get("stock_quantity") or 0
        data = validated(PRODUCT, {
            "sku": f"LEGACY-{row['id']}", "name": row.get("name") or f"Product {row['id']}",
            "price": str(cents(row.get("price"))),
            "stock_quantity": int(stock) if isinstance(stock, int | float) and stock >= 0 else -1,
            **({"description": row["description"]} if row.get("description") else {})})
        return {**data, **self.archived(row), **self.times(row)}

    async def write_entities(self, table: str, rows: list[dict[str, Any]], added: dict[int, int]) -> None:
        """Customers, employees or products, a batch in a few statements, as `load_<table>` leaves them
        row by row: each row validated (`<entity>_of`), each unique field checked for the whole batch
        in one query and against the rows kept before it (the first wins; later ones get the
        service's conflict), the kept rows and their legacy ids written with multi-row INSERTs, and
        for products the opening balance `ProductService.after_create` writes. IntegrityError (the
        batch rolled back, nothing counted) if a unique index refuses a value the check let through:
        MariaDB's collation equates more than `lower()` does (accents)."""
        service = ENTITIES[table]()
        make = getattr(self, ENTITY_OF[table])
        skipped: Counter[str] = Counter()
        made: list[tuple[int, dict[str, Any]]] = []
        for row in rows:
            try:
                made.append((row["id"], make(row)))
            except Skip as why:
                skipped[str(why)] += 1
        async with self.db.write() as uow:
            taken = {name: await service.taken(uow.session, name, {data[name] for _, data in made})
                     for name in service.unique_fields}
            kept: list[tuple[int, dict[str, Any]]] = []
            for legacy, data in made:
                clash = next((name for name in service.unique_fields if data[name].lower() in taken[name]),
                             None)
                if clash is not None:
                    skipped[service.unique_conflict(clash).detail] += 1
                    continue
                for name in service.unique_fields:
                    taken[name].add(data[name].lower())
                kept.append((legacy, data))
            if kept:
                ids = await self.insert_entities(uow, service, [data for _, data in kept])
                await insert_many(uow.session, INSERT_LEGACY_ID, [
                    {"source_table": table, "legacy_id": legacy, "new_id": new}
                    for (legacy, _), new in zip(kept, ids, strict=True)])
                added.update((legacy, new) for (legacy, _), new in zip(kept, ids, strict=True))
        self.skipped[table].update(skipped)

    @staticmethod
    async def insert_entities(uow: UnitOfWork, service: Any, made: list[dict[str, Any]]) -> list[int]:
        """`made` (service create data) as new rows of the service's table; their ids. Every row gets
        the same columns: a column a row leaves out takes its fixed default, or NULL, as the ORM's."""
        table = service.table
        now = utcnow()
        rows = [{"created_at": now, "updated_at": now, **data} for data in made]
        names = {name for row in rows for name in row}
        fill = {column.key: column.default.arg if column.default is not None and column.default.is_scalar
                else None for column in table.c if column.key in names}
        ids = await insert_rows(uow.session, table, [{**fill, **row} for row in rows])
        uow.touch(table.name)
        if table is Product.__table__:  # ProductService.after_create: the opening balance
            await insert_many(uow.session, INSERT_MOVEMENT, [
                {"product_id": ident, "delta": row["stock_quantity"], "balance_after": row["stock_quantity"],
                 "reason": "opening", "note": "Opening balance", "order_id": None,
                 "production_record_id": None, "user_id": None, "created_at": now, "updated_at": now}
                for ident, row in zip(ids, rows, strict=True) if row.get("stock_quantity")])
            uow.touch(StockMovement.__tablename__)
        return ids

    async def write_history(self, table: str, rows: list[dict[str, Any]], added: dict[int, int]) -> None:
        """Orders or production, a batch in a few statements (history is most of the old database):
        each row checked in Python (`order_of`, `record_of`), then the batch written with multi-row
        INSERTs, its summary-table deltas summed per key (bulk_import)."""
        async with self.db.write() as uow:
            kept, made = [], []
            for row in rows:
                try:
                    made.append(await (self.order_of(row) if table == "orders" else self.record_of(uow, row)))
                except Skip as why:
                    self.skipped[table][str(why)] += 1
                    continue
                kept.append(row["id"])
            if not made:
                return
            if table == "orders":
                ids = await write_history_orders(uow, [order for order, _ in made],
                                                 [[line] for _, line in made])
            else:
                ids = await write_history_records(uow, made)
            await insert_many(uow.session, INSERT_LEGACY_ID, [
                {"source_table": table, "legacy_id": legacy, "new_id": new}
                for legacy, new in zip(kept, ids, strict=True)])
            uow.change.events.clear()
        added.update(zip(kept, ids, strict=True))

    async def order_of(self, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A legacy order as this API's order row and its one line (Skip when it can't be one)."""
        quantity = row.get("quantity")
        if not isinstance(quantity, int) or quantity < 1:
            raise Skip(f"quantity {quantity!r} is not a positive whole number")
        total = cents(row.get("total_price"))
        if total <= 0:
            raise Skip("total_price is not positive")
        status = row.get("status") if row.get("status") in ORDER_STATUSES else "delivered"
        if row.get("deleted_at") is not None:
            status = "cancelled"
        product_id = self.new_id("products", row.get("product_id"), "product")
        customer_id = self.new_id("customers", row.get("customer_id"), "customer")
        now = utcnow()
        times = {"created_at": now, "updated_at": now, **self.times(row)}
        line = {"product_id": product_id, "quantity": quantity,
                "unit_price": (total / quantity).quantize(CENT, ROUND_HALF_UP), "line_total": total, **times}
        order = {"customer_id": customer_id, "status": status, "total_price": total,
                 "placed_at": self.times(row).get("created_at", now), **times}
        return order, line

    async def record_of(self, uow: UnitOfWork, row: dict[str, Any]) -> dict[str, Any]:
        """A legacy production row as this API's record (Skip when it can't be one)."""
        if row.get("deleted_at") is not None:
            raise Skip("deleted in the legacy system (production records have no archive)")
        produced, defective = row.get("quantity_produced"), row.get("quantity_defective") or 0
        if not isinstance(produced, int) or produced < 1 or not 0 <= defective <= produced:
            raise Skip(f"quantity_produced {produced!r} / quantity_defective {defective!r} out of range")
        employee = row.get("employee_id")
        product_id = self.new_id("products", row.get("product_id"), "product")
        employee_id = (self.new_id("employees", employee, "employee") if employee is not None
                       else await self.unassigned(uow))
        now = utcnow()
        return {"product_id": product_id, "employee_id": employee_id, "quantity_produced": produced,
                "quantity_defective": defective, **self.placed(row),
                "line": None, "shift": None, "planned_minutes": None, "downtime_minutes": None,
                "work_order_id": None, "created_at": now, "updated_at": now, **self.times(row)}

    def placed(self, row: dict[str, Any]) -> dict[str, Any]:
        """`date_produced` and `produced_at` of a legacy record: noon of its plant day (Skip after today)."""
        produced_on = day(row.get("date_produced"))
        if produced_on > self.clock.today():
            raise Skip("date_produced is in the future")
        moment = noon_of(produced_on, self.clock.zone, self.clock.now())
        return {"date_produced": produced_on, "produced_at": moment.replace(tzinfo=None)}

    async def unassigned(self, uow: UnitOfWork) -> int:
        """The one archived employee that production without an employee is recorded against."""
        table, key = UNASSIGNED
        known = self.mapped.setdefault(table, {})
        if key not in known:
            employee = Employee(name="Unassigned (imported)", position="Unassigned", active=False,
                                email="unassigned@legacy-import.invalid", phone="+10000000000")
            uow.session.add(employee)
            await uow.session.flush()
            uow.session.add(LegacyId(source_table=table, legacy_id=key, new_id=employee.id))
            known[key] = employee.id
        return known[key]

    @staticmethod
    def archived(row: dict[str, Any]) -> dict[str, bool]:
        return {"active": row.get("deleted_at") is None}

    def summary(self) -> Iterable[str]:
        for table in TABLES:
            yield f"{table}: {self.imported[table]} imported, {sum(self.skipped[table].values())} skipped"
            for why, count in self.skipped[table].most_common():
                yield f"    {count} × {why}"


async def import_legacy(settings: Settings, url: str, *, progress: bool = True,
                        report: Callable[[str], None] = print) -> LegacyImport:
    db = Database(settings.database_url, timeout=max(settings.db_timeout, 10.0))
    source = create_async_engine(async_url(url))
    try:
        async with source.connect() as conn:
            run = LegacyImport(db, conn, progress, Clock(settings.timezone))
            await run.run()
    finally:
        await source.dispose()
        await db.dispose()
    for line in run.summary():
        report(line)
    return run


def run_legacy_import(settings: Settings, url: str) -> int:
    """The command; returns its exit code."""
    try:
        asyncio.run(import_legacy(settings, url))
    except ArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (SQLAlchemyError, OSError) as exc:
        print(f"error: cannot read the legacy database ({exc.__class__.__name__})", file=sys.stderr)
        return 1
    return 0
