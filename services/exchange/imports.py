"""Imports: rows from CSV or a JSON array, validated first by the API's schemas and rules, then
written in one transaction through the same services (stock through the ledger, totals computed).

Two modes. A plain import creates new rows exactly as `POST` would (the read-only columns of an
export — `id`, timestamps, an order's status and prices — are refused). `restore=True` brings back
rows as an export wrote them: their ids, timestamps, order status and snapshot prices are kept
(totals are still computed and must match), and history moves no stock, since the products'
`stock_quantity` (an opening balance in the ledger) already includes it. Export → restore into an
empty database → export again gives the same bytes.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from marshmallow import ValidationError, fields
from sqlalchemy import func, select

from core.clock import Clock
from core.db import UnitOfWork
from core.errors import DomainError, Invalid
from models import (
    ORDER_STATUSES,
    Customer,
    Employee,
    Line,
    Order,
    OrderItem,
    Product,
    ProductionRecord,
    Shift,
    StockMovement,
)
from schemas.common import Money, UtcDateTime
from services.analytics.rollups import order_written, record_written
from services.catalog.customers import CustomerService
from services.catalog.employees import EmployeeService
from services.catalog.products import ProductService
from services.common.crud import CrudService, archived_message
from services.exchange import csv_io
from services.exchange.bulk_import import RowRefused, write_orders, write_production
from services.exchange.row_loads import fast_loader
from services.floor.production import ProductionService, check_ranges
from services.sales.orders import MAX_TOTAL, OrderService

SERVICES: dict[str, type[CrudService]] = {
    "products": ProductService, "customers": CustomerService, "employees": EmployeeService,
    "orders": OrderService, "production": ProductionService,
}
# The live topic of each resource's one summary event (customers and employees have none).
SUMMARY_EVENTS = {"products": ("inventory", "products.imported"), "orders": ("orders", "orders.imported"),
                  "production": ("production", "production.imported")}
MAX_ERRORS = 100
CHUNK = 500  # ids per IN (...) lookup, rows per flush
BULK = 1000  # rows per chunk of a bulk-written import (orders, production): one multi-row INSERT each
READ_ONLY = ("id", "created_at", "updated_at")
ORDER_KEPT = ("status", "total_price")
LINE_KEPT = ("item_id", "unit_price", "line_total")
PRODUCTION_KEPT = ("source", "machine_id")  # who recorded it: a restore keeps it as exported
_INTEGER = re.compile(r"^[+-]?[0-9]{1,15}$")
_money, _time = Money(), UtcDateTime()


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class Prepared:
    """One valid row (one order, for order lines): what the service's create takes, and what a
    restore keeps."""

    row: int
    data: dict[str, Any]
    kept: dict[str, Any] = field(default_factory=dict)
    line_rows: list[int] = field(default_factory=list)


@dataclass
class Written:
    """What an import wrote: how many rows, and the first and last new id (not every id: a file
    may hold millions)."""

    count: int = 0
    first_id: int | None = None
    last_id: int | None = None

    def add(self, ids: list[int]) -> None:
        if ids:
            self.count += len(ids)
            self.first_id = min(ids) if self.first_id is None else min(self.first_id, *ids)
            self.last_id = max(ids) if self.last_id is None else max(self.last_id, *ids)


@dataclass
class Raw:
    """A row as read: the API's JSON shape; `line_rows` are the CSV rows of an order's lines."""

    row: int
    values: dict[str, Any]
    line_rows: list[int] = field(default_factory=list)


class ImportRejected(Invalid):
    """Rows failed validation, so nothing was written; `errors` lists the first 100 by row."""

    def __init__(self, rows: list[RowError], total: int) -> None:
        self.rows, self.total = sorted(rows, key=lambda e: e.row), total
        more = f" (the first {MAX_ERRORS} are listed)" if total > MAX_ERRORS else ""
        super().__init__(f"{total} problem(s) in the import; nothing was imported{more}.",
                         cast(Any, [error.as_dict() for error in self.rows[:MAX_ERRORS]]))


def flatten_messages(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested messages as (field path, message): `items[1].product_id`."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key)
            if name.isdigit() or isinstance(key, int):
                path = f"{prefix}[{name}]"
            else:
                path = f"{prefix}.{name}" if prefix else name
            yield from flatten_messages(value, path)
    elif isinstance(messages, list | tuple):
        for message in messages:
            if isinstance(message, dict | list):
                yield from flatten_messages(message, prefix)
            else:
                yield prefix or "_row", str(message)
    else:
        yield prefix or "_row", str(messages)


class Importer:
    """Reads, validates and writes one resource's rows."""

    def __init__(self, resource: str, *, restore: bool = False, clock: Clock | None = None) -> None:
        self.resource = resource
        self.service = SERVICES[resource]()
        if clock is not None and getattr(self.service, "uses_clock", False):
            self.service.clock = clock  # the app's: "now" and the plant's zone place a production record
        self.schema = self.service.schema()
        self.restore = restore
        self.is_orders = resource == "orders"
        self.kinds = {"id": "int", **{name: kind(f) for name, f in self.schema.load_fields.items()}}
        nested = csv_io.nested_list(self.schema)
        self.line_kinds = ({name: kind(f) for name, f in nested[1].load_fields.items()} if nested else {})
        self.errors: list[RowError] = []
        self.error_count = 0
        # Plain orders and production are written a chunk at a time (bulk_import), clean rows
        # loaded without marshmallow's per-row cost (row_loads); a restore goes row by row.
        self.fast_load = None if restore else fast_loader(resource, self.schema)
        self.bulk = not restore and resource in ("orders", "production")
        # What the rules have seen so far, across the chunks of a file: unique values and ids (by
        # their first row), and the products named (locked in id order before the first write).
        self.seen: dict[str, dict[Any, int]] = {}
        self.product_ids: set[int] = set()

    # -- reading --------------------------------------------------------------------------

    def allowed_columns(self) -> set[str]:
        names = set(self.kinds)
        if self.is_orders:
            names |= {"product_id", "quantity"}
        if self.restore:
            names |= set(READ_ONLY)
            if self.is_orders:
                names |= set(ORDER_KEPT) | set(LINE_KEPT)
            if self.resource == "production":
                names |= set(PRODUCTION_KEPT)
        return names

    def read_csv(self, text: Iterable[str]) -> Iterator[Raw]:
        """CSV rows (header = API field names) as JSON-shaped rows; restored order lines regrouped."""
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ImportRejected([RowError(0, "_header", f"Not valid CSV: {exc}.")], 1) from None
        if not header:
            raise ImportRejected([RowError(0, "_header", "The file is empty: a header row is needed.")], 1)
        header = [name.strip().lstrip("\ufeff") for name in header]
        self.check_header(header)
        group: Raw | None = None
        group_id: str | None = None
        number = 0
        while True:
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                self.fail(number + 1, "_row", f"Not valid CSV: {exc}.")
                return
            if cells is None:
                break
            number += 1
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (a trailing newline in a spreadsheet export) are not rows
            if len(cells) > len(header):
                self.fail(number, "_row", f"{len(cells)} cells but {len(header)} columns.")
                continue
            values = {name: uncell for name, raw in zip(header, cells, strict=False)
                      if (uncell := csv_io.uncell(raw)) != ""}
            if self.is_orders and self.restore:
                # An order's lines are consecutive rows with its id.
                if group is not None and "id" in values and values["id"] == group_id:
                    group.values["items"].append(self.line(values))
                    group.line_rows.append(number)
                    continue
                if group is not None:
                    yield group
                group_id = values.get("id")
                group = Raw(number, {**self.order_part(values), "items": [self.line(values)]}, [number])
                continue
            yield Raw(number, self.typed(values, self.kinds))
        if group is not None:
            yield group

    def check_header(self, header: list[str]) -> None:
        allowed, errors = self.allowed_columns(), []
        for name in header:
            if name not in allowed:
                hint = (" (an export's read-only column: import with restore=true to keep it)"
                        if name in (*READ_ONLY, *ORDER_KEPT, *LINE_KEPT, *PRODUCTION_KEPT) else "")
                errors.append(RowError(0, name, f"Unknown column{hint}; columns are: "
                                                f"{', '.join(sorted(allowed))}."))
        duplicates = sorted({name for name in header if header.count(name) > 1})
        errors += [RowError(0, name, "The column appears twice.") for name in duplicates]
        if errors:
            raise ImportRejected(errors, len(errors))

    def order_part(self, values: dict[str, str]) -> dict[str, Any]:
        keep = {name: values[name] for name in (*READ_ONLY, *ORDER_KEPT, "customer_id", "placed_at")
                if name in values}
        return self.typed(keep, {**self.kinds, "id": "int"})

    def line(self, values: dict[str, str]) -> dict[str, Any]:
        names = ("item_id", "product_id", "quantity", "unit_price", "line_total")
        line = self.typed({name: values[name] for name in names if name in values},
                          {**self.line_kinds, "item_id": "int"})
        if "item_id" in line:
            line["id"] = line.pop("item_id")
        return line

    def read_json(self, rows: Any) -> Iterator[Raw]:
        if not isinstance(rows, list):
            raise ImportRejected([RowError(0, "_body", "Send a JSON array of rows.")], 1)
        for index, values in enumerate(rows, start=1):
            if not isinstance(values, dict):
                self.fail(index, "_row", "Each row must be a JSON object.")
                continue
            yield Raw(index, dict(values))

    @staticmethod
    def typed(values: dict[str, str], kinds: dict[str, str]) -> dict[str, Any]:
        """CSV text to the JSON types the schemas expect; a cell that doesn't fit stays text, so
        the schema's own message names it."""
        out: dict[str, Any] = {}
        for name, text in values.items():
            kind_of = kinds.get(name, "str")
            if kind_of == "int" and _INTEGER.match(text.strip()):
                out[name] = int(text)
            elif kind_of == "bool" and text.strip().lower() in ("true", "false"):
                out[name] = text.strip().lower() == "true"
            else:
                out[name] = text
        return out

    # -- validating -----------------------------------------------------------------------

    def fail(self, row: int, name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS * 2:  # enough to sort the first 100 by row
            self.errors.append(RowError(row, name, message))

    def prepare(self, raw: Raw) -> Prepared | None:
        """Schema-validate one row; None (and errors noted) when it fails."""
        values, kept, ok = dict(raw.values), {}, True
        read_only = ((*READ_ONLY, *ORDER_KEPT) if self.is_orders else
                     (*READ_ONLY, *PRODUCTION_KEPT) if self.resource == "production" else READ_ONLY)
        for name in read_only:
            if name in values:
                if not self.restore:
                    self.fail(raw.row, name, "Read-only: leave it out, or import with restore=true.")
                    ok = False
                kept[name] = values.pop(name)
        lines: list[dict[str, Any]] = []
        if self.is_orders and isinstance(values.get("items"), list):
            for index, item in enumerate(values["items"]):
                if isinstance(item, dict):
                    extra = {name: item.pop(name) for name in ("id", "unit_price", "line_total")
                             if name in item}
                    if extra and not self.restore:
                        for name in extra:
                            self.fail(self.line_row(raw, index), f"items[{index}].{name}",
                                      "Read-only: leave it out, or import with restore=true.")
                        ok = False
                    lines.append(extra)
        try:
            data = self.fast_load(values) if self.fast_load is not None else None
            if data is None:
                data = self.schema.load(values)
        except ValidationError as exc:
            for path, message in flatten_messages(exc.normalized_messages()):
                self.fail(self.row_of(raw, path), path, message)
            return None
        if self.restore:
            ok = self.check_kept(raw, kept, lines, data) and ok
            kept["lines"] = lines
        if self.resource == "production":
            try:
                check_ranges(data)
            except DomainError as exc:
                for path, message in flatten_messages(exc.errors):
                    self.fail(raw.row, path, message)
                ok = False
        return Prepared(raw.row, data, kept, raw.line_rows) if ok else None

    def line_row(self, raw: Raw, index: int) -> int:
        return raw.line_rows[index] if index < len(raw.line_rows) else raw.row

    def row_of(self, raw: Raw, path: str) -> int:
        """The CSV row an error is in: an order line's own row for `items[i]...`."""
        match = re.match(r"^items\[(\d+)\]", path)
        return self.line_row(raw, int(match.group(1))) if match else raw.row

    def check_kept(self, raw: Raw, kept: dict[str, Any], lines: list[dict[str, Any]],
                   data: dict[str, Any]) -> bool:
        """Restore: the kept columns are well formed, and an order's totals match its lines."""
        before = self.error_count
        ident = kept.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool) or not 1 <= ident <= 2**31 - 1:
            self.fail(raw.row, "id", "A restored row needs its id (a positive integer).")
        for name in ("created_at", "updated_at"):
            if name in kept:
                try:
                    kept[name] = _time.deserialize(kept[name]).replace(tzinfo=None)
                except ValidationError as exc:
                    self.fail(raw.row, name, " ".join(exc.messages))
        if self.resource == "production":
            self.check_source(raw, kept)
            if data.get("date_produced") is None:  # a restore writes the record as exported: not placed
                self.fail(raw.row, "date_produced",
                          "A restored record needs its date_produced (as exported).")
        if not self.is_orders:
            return self.error_count == before
        if kept.setdefault("status", "pending") not in ORDER_STATUSES:
            self.fail(raw.row, "status", f"Must be one of: {', '.join(ORDER_STATUSES)}.")
        total = Decimal("0.00")
        for index, line in enumerate(lines):
            row = self.line_row(raw, index)
            try:
                line["unit_price"] = _money.deserialize(line["unit_price"])
            except (KeyError, ValidationError):
                self.fail(row, f"items[{index}].unit_price", "A restored order line needs its unit_price.")
                continue
            computed = (line["unit_price"] * data["items"][index]["quantity"]).quantize(Decimal("0.01"))
            if "line_total" in line and str(line["line_total"]) != str(computed):
                self.fail(row, f"items[{index}].line_total",
                          f"Does not match unit_price × quantity ({computed}).")
            line["line_total"] = computed
            total += computed
        if "total_price" in kept and str(kept["total_price"]) != str(total):
            self.fail(raw.row, "total_price", f"Does not match the sum of the lines ({total}).")
        if total > MAX_TOTAL:
            self.fail(raw.row, "total_price", f"Over the limit of {MAX_TOTAL}.")
        kept["total_price"] = total
        return self.error_count == before

    async def check_rules(self, session: Any, rows: list[Prepared]) -> None:
        """The service's rules across all rows at once: unique values, ids, references, archive."""
        dialect = session.bind.dialect.name
        for name in self.service.unique_fields:
            seen = self.seen.setdefault(name, {})
            new: dict[str, int] = {}
            for prepared in rows:
                value = prepared.data.get(name)
                if isinstance(value, str):
                    key = value.lower()
                    if key in seen:
                        self.fail(prepared.row, name, f"Same {name} as row {seen[key]}.")
                    else:
                        new[key] = seen[key] = prepared.row
            column = getattr(self.service.model, name)
            probe = func.lower(column) if dialect == "sqlite" else column
            for chunk in chunks(list(new), CHUNK):
                for (taken,) in (await session.execute(select(column).where(probe.in_(chunk)))).all():
                    # A collation may match what lower() does not (MariaDB: ß = ss): name the first row then.
                    self.fail(new.get(taken.lower(), min(new.values())), name, "Already in use.")
        if self.restore:
            await self.check_ids(session, rows)
        await self.check_references(session, rows)

    async def check_ids(self, session: Any, rows: list[Prepared]) -> None:
        model = self.service.model
        seen = self.seen.setdefault("id", {})
        new: dict[int, int] = {}
        for prepared in rows:
            ident = prepared.kept.get("id")
            if ident in seen:
                self.fail(prepared.row, "id", f"Same id as row {seen[ident]}.")
            else:
                new[ident] = seen[ident] = prepared.row
        for chunk in chunks(list(new), CHUNK):
            for (taken,) in (await session.execute(select(model.id).where(model.id.in_(chunk)))).all():
                self.fail(new[taken], "id", f"{self.service.label} {taken} already exists.")
        if self.is_orders:
            lines = {line["id"]: prepared.row for prepared in rows for line in prepared.kept["lines"]
                     if "id" in line}
            for chunk in chunks(list(lines), CHUNK):
                query = select(OrderItem.id).where(OrderItem.id.in_(chunk))
                for (taken,) in (await session.execute(query)).all():
                    self.fail(lines[taken], "item_id", f"Order line {taken} already exists.")

    async def check_references(self, session: Any, rows: list[Prepared]) -> None:
        """Referenced rows exist, and (for new rows) are not archived."""
        wanted: list[tuple[Any, str, str]] = []
        if self.resource == "orders":
            wanted = [(Customer, "customer_id", "Customer"), (Product, "product_id", "Product")]
        elif self.resource == "production":
            wanted = [(Product, "product_id", "Product"), (Employee, "employee_id", "Employee")]
        for model, name, label in wanted:
            uses = list(self.references(rows, name))
            if name == "product_id":
                self.product_ids.update(ident for _, _, ident in uses)
            states: dict[int, bool] = {}
            for chunk in chunks(sorted({ident for _, _, ident in uses}), CHUNK):
                states.update((await session.execute(select(model.id, model.active)
                                                     .where(model.id.in_(chunk)))).all())
            for row, path, ident in uses:
                if ident not in states:
                    self.fail(row, path, f"{label} {ident} does not exist.")
                elif not states[ident] and not self.restore:
                    self.fail(row, path, archived_message(label, ident))
        if self.resource == "production":
            await self.check_places(session, rows)

    async def check_places(self, session: Any, rows: list[Prepared]) -> None:
        """A record's `line` is an active line's code and its `shift` a shift's name, as through the API;
        a work order is named through the API only (its totals and status move with each record)."""
        # Matched ignoring case and stored as the line and shift spell them, as the API does.
        lines = {code.lower(): (code, active) for code, active in
                 (await session.execute(select(Line.code, Line.active))).all()}
        shifts = {name.lower(): name for name in (await session.execute(select(Shift.name))).scalars()}
        for prepared in rows:
            line, shift = prepared.data.get("line"), prepared.data.get("shift")
            if line is not None:
                code, active = lines.get(line.lower(), (None, False))
                if active or (code is not None and self.restore):
                    prepared.data["line"] = code
                elif not self.restore:
                    self.fail(prepared.row, "line", f"No active line has the code {line!r}.")
            if shift is not None:
                if shift.lower() in shifts:
                    prepared.data["shift"] = shifts[shift.lower()]
                elif not self.restore:
                    self.fail(prepared.row, "shift", f"No shift is called {shift!r}.")
            if prepared.data.get("work_order_id") is not None:
                self.fail(prepared.row, "work_order_id",
                          "Record against a work order through POST /production.")

    def references(self, rows: list[Prepared], name: str) -> Iterator[tuple[int, str, int]]:
        for prepared in rows:
            if self.is_orders and name == "product_id":
                for index, item in enumerate(prepared.data["items"]):
                    row = prepared.line_rows[index] if index < len(prepared.line_rows) else prepared.row
                    path = "product_id" if prepared.data.get("one_line") else f"items[{index}].product_id"
                    yield row, path, item["product_id"]
            else:
                yield prepared.row, name, prepared.data[name]

    def raise_if_failed(self) -> None:
        if self.error_count:
            raise ImportRejected(self.errors, self.error_count)

    # -- writing --------------------------------------------------------------------------

    async def lock_products(self, uow: UnitOfWork) -> None:
        """Lock every product this import names, in id order, before the first write: the order
        every other writer locks them in, so an import and API writes queue, never deadlock.
        Production moves their stock (exclusive locks); orders read their prices (shared locks, as
        placing an order takes them)."""
        if self.restore or self.resource not in ("production", "orders"):
            return
        for chunk in chunks(sorted(self.product_ids), CHUNK):
            await uow.session.execute(select(Product.id).where(Product.id.in_(chunk)).order_by(Product.id)
                                      .with_for_update(read=self.resource == "orders"))

    async def write(self, uow: UnitOfWork, rows: AsyncIterable[Prepared], actor: Any) -> Written:
        """Create every row through the service (or restore it); returns how many, and the ids."""
        if self.bulk:
            return await self.write_bulk(uow, rows, actor)
        written = Written()
        number = 0
        async for prepared in rows:
            number += 1
            try:
                if not self.restore:
                    created = await self.service.create(uow, prepared.data, actor)
                elif self.resource == "orders":
                    created = self.restored_order(prepared)
                    uow.session.add(created)
                    await uow.session.flush()
                    await order_written(uow.session, created)  # the summary tables and counts
                elif self.resource == "production":
                    created = ProductionRecord(**prepared.data, **self.kept_columns(prepared))
                    uow.session.add(created)
                    await uow.session.flush()
                    await record_written(uow.session, created)
                    if created.line:  # no event names it: the line's status follows the commit
                        uow.change.lines.add(created.line)
                else:
                    created = await self.service.create(uow, {**prepared.data, **self.kept_columns(prepared)},
                                                        actor)
                written.add([created.id])
                if number % CHUNK == 0:
                    await self.release(uow)
            except DomainError as exc:
                self.refuse(prepared, exc)
        await uow.session.flush()
        return written

    async def write_bulk(self, uow: UnitOfWork, rows: AsyncIterable[Prepared], actor: Any) -> Written:
        """Orders or production a chunk at a time, with the services' rules (see bulk_import)."""
        written = Written()
        chunk: list[Prepared] = []

        async def flush() -> None:
            rows = [prepared.data for prepared in chunk]
            try:
                if self.is_orders:
                    written.add(await write_orders(uow, rows, actor))
                else:
                    written.add(await write_production(uow, rows, actor, self.service.clock))
            except RowRefused as exc:
                self.refuse(chunk[exc.index], exc.error)
            chunk.clear()

        async for prepared in rows:
            chunk.append(prepared)
            if len(chunk) >= BULK:
                await flush()
        if chunk:
            await flush()
        return written

    def refuse(self, prepared: Prepared, exc: DomainError) -> None:
        """A row the service refused while writing: the import stops, naming it (nothing is kept)."""
        raw = Raw(prepared.row, {}, prepared.line_rows)
        errors = [RowError(self.row_of(raw, path), path, message)
                  for path, message in flatten_messages(exc.errors or {"_row": [exc.detail]})]
        raise ImportRejected(errors, len(errors)) from None

    async def release(self, uow: UnitOfWork) -> None:
        """Keep memory one chunk deep on any size: the rows' own events are dropped (the import
        announces itself once), written rows leave the session; customers, products and employees
        they refer to stay, so the next rows find them without a query."""
        await uow.session.flush()
        drop_events(uow)
        written = (self.service.model, OrderItem, StockMovement)
        for row in [row for row in uow.session.identity_map.values() if isinstance(row, written)]:
            if row in uow.session:
                uow.session.expunge(row)

    def check_source(self, raw: Raw, kept: dict[str, Any]) -> None:
        """Restore: a record's source (api or machine) and its machine id, as exported."""
        if kept.setdefault("source", "api") not in ("api", "machine"):
            self.fail(raw.row, "source", "Must be one of: api, machine.")
        machine = kept.get("machine_id")
        if machine in ("", None):
            kept["machine_id"] = None
        elif isinstance(machine, str) and machine.isdigit() and 1 <= int(machine) <= 2**31 - 1:
            kept["machine_id"] = int(machine)
        elif not isinstance(machine, int) or isinstance(machine, bool) or not 1 <= machine <= 2**31 - 1:
            self.fail(raw.row, "machine_id", "Must be empty or a machine's id.")

    def kept_columns(self, prepared: Prepared) -> dict[str, Any]:
        names = (*READ_ONLY, *PRODUCTION_KEPT) if self.resource == "production" else READ_ONLY
        return {name: prepared.kept[name] for name in names if name in prepared.kept}

    def restored_order(self, prepared: Prepared) -> Order:
        created = prepared.kept.get("created_at")
        lines = [OrderItem(product_id=item["product_id"], quantity=item["quantity"],
                           unit_price=kept["unit_price"], line_total=kept["line_total"],
                           **({"id": kept["id"]} if "id" in kept else {}),
                           **({"created_at": created, "updated_at": created} if created else {}))
                 for item, kept in zip(prepared.data["items"], prepared.kept["lines"], strict=True)]
        placed = prepared.data.get("placed_at") or created  # exports carry placed_at; older files not
        return Order(customer_id=prepared.data["customer_id"], status=prepared.kept["status"],
                     total_price=prepared.kept["total_price"], items=lines, **self.kept_columns(prepared),
                     **({"placed_at": placed} if placed else {}))

    def summarize(self, uow: UnitOfWork, count: int, actor: Any) -> dict[str, Any]:
        """Replace the rows' own live events with one summary event for the whole import."""
        summary = {"resource": self.resource, "rows": count, "restore": self.restore,
                   "by": getattr(actor, "username", None)}
        drop_events(uow)
        if self.resource in SUMMARY_EVENTS and count:
            topic, name = SUMMARY_EVENTS[self.resource]
            uow.emit(topic, name, summary)
        return summary


def drop_events(uow: UnitOfWork) -> None:
    """Drop the rows' own events (the import announces itself once), keeping the lines their
    production events name: those lines' figures moved, and their status follows the commit."""
    change = uow.change
    change.lines.update(data["line"] for topic, _, data in change.events
                        if topic == "production" and data.get("line"))
    change.events.clear()


def kind(schema_field: fields.Field) -> str:
    if isinstance(schema_field, fields.Integer):
        return "int"
    if isinstance(schema_field, fields.Boolean):
        return "bool"
    return "str"


def chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def decode_csv(body: bytes) -> io.StringIO:
    """The body as text for the CSV reader (UTF-8, a spreadsheet's BOM dropped)."""
    try:
        return io.StringIO(body.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise ImportRejected([RowError(0, "_body", f"Not UTF-8 text (byte {exc.start}).")], 1) from None
