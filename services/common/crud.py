"""CrudService: list, read, create, update and delete for one model, with its rules as data."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from marshmallow import Schema
from sqlalchemy import Integer, Select, asc, bindparam, desc, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.db import UnitOfWork, integrity_field
from core.errors import DomainError, bad_query, conflict, invalid, not_found
from core.security import Principal
from models import Entity
from services.common.listing import Serializer, after, parsed

# Parameters that shape the answer, not which rows it holds.
PAGING = ("page", "per_page", "sort_by", "sort_order", "cursor", "include_meta")
PAGE_STATEMENTS = 256  # page statements kept per service (per sort and filter values)


@dataclass(frozen=True)
class Reference:
    """Rows elsewhere that point at this one: deleting it while they exist is a 409."""

    model: type[Entity]
    column: str
    label: str


@dataclass
class Page:
    """One page of a list. `next_key`/`prev_key` are the (sort value, id) a cursor continues from:
    set when rows follow the page (or, with `cursor`, may precede it)."""

    items: list[dict[str, Any]]
    page: int | None
    per_page: int
    total: int | None
    next_key: tuple[Any, int] | None = None
    prev_key: tuple[Any, int] | None = None

    @property
    def by_cursor(self) -> bool:
        return self.page is None


class CrudService:
    """Subclasses name their model, schemas and rules; hooks cover what differs."""

    name: ClassVar[str]                      # "products": the path segment and the cache tag
    label: ClassVar[str]                     # "Product": used in messages
    model: ClassVar[type[Entity]]
    schema: ClassVar[type[Schema]]
    list_query: ClassVar[type[Schema]]
    sort_fields: ClassVar[tuple[str, ...]] = ("id", "created_at", "updated_at")
    default_sort: ClassVar[str] = "id"
    unique_fields: ClassVar[tuple[str, ...]] = ()
    search_fields: ClassVar[tuple[str, ...]] = ()
    references: ClassVar[tuple[Reference, ...]] = ()
    immutable_fields: ClassVar[tuple[str, ...]] = ()
    # Rows with an `active` flag: archived ones leave the lists unless include_archived=true.
    archivable: ClassVar[bool] = False
    # Tables a read of this resource depends on (its own table at least).
    reads: ClassVar[tuple[str, ...]] = ()
    # Lean: the API row is the table's columns, dumped from plain rows. Otherwise (a stop's reason
    # label, a work order's sums) the page's ids are loaded as model objects and dumped by `dump`.
    lean: ClassVar[bool] = True

    def __init__(self) -> None:
        self._dump = self.schema()
        # Schemas keep no state between loads, and making one (it deep-copies its fields) costs more
        # than validating: one instance validates every request's body, one every list's query.
        self.validator = self._dump
        self.query_schema = self.list_query()
        self.out = Serializer(self._dump)
        self.table = self.model.__table__
        self.tags = self.reads or (self.model.__tablename__,)

    # -- reading --------------------------------------------------------------------------

    def dump(self, row: Entity) -> dict[str, Any]:
        """A model object as the API shows it (write paths); lists and reads use `out` on rows."""
        return self.out.dump_object(row) if self.lean else self._dump.dump(row)

    def base_query(self) -> Select:
        return select(self.model)

    def scope(self, query: Select) -> Select:
        """Hook: conditions every read of this service has (a product's ledger)."""
        return query

    def source(self) -> Select:
        """The lean read path: the table's columns as plain rows, no ORM objects."""
        return self.scope(select(*self.table.c))

    async def dump_rows(self, session: AsyncSession, rows: list[Any]) -> list[dict[str, Any]]:
        """Rows as the API shows them; services with nested lists (orders) fetch those here."""
        if not self.lean:
            return await self.dump_models(session, [row["id"] for row in rows])
        dump = self.out.dump
        return [dump(row) for row in rows]

    async def dump_models(self, session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
        """The rows with these ids as model objects dumped by `dump`, in the order given."""
        if not ids:
            return []
        query = self.base_query().where(self.model.id.in_(ids))
        loaded = {row.id: row for row in (await session.execute(query)).scalars()}
        await self.complete(session, list(loaded.values()))
        return [self.dump(loaded[ident]) for ident in ids]

    async def complete(self, session: AsyncSession, rows: list[Any]) -> None:
        """Hook for services that are not lean: what a row shows beyond its columns (sums, labels)."""

    async def read(self, session: AsyncSession, ident: int) -> dict[str, Any]:
        """One row as the API shows it (`GET /things/{id}`)."""
        row = (await session.execute(self.source().where(self.table.c.id == ident))).mappings().first()
        if row is None:
            raise not_found(self.label, ident)
        return (await self.dump_rows(session, [row]))[0]

    def apply_filters(self, query: Select, params: dict[str, Any]) -> Select:
        """Equality filters for plain columns; `q` searches `search_fields`."""
        if self.archivable and not params.get("include_archived"):
            query = query.where(self.model.active == true())
        for key, value in params.items():
            if key in PAGING or key == "include_archived" or value is None:
                continue
            if key == "q":
                pattern = f"%{_escape_like(value)}%"
                query = query.where(or_(*(getattr(self.model, f).ilike(pattern, escape="\\")
                                          for f in self.search_fields)))
            elif custom := getattr(self, f"filter_{key}", None):
                query = custom(query, value)
            else:
                query = query.where(getattr(self.model, key) == value)
        return query

    def sort_field(self, params: dict[str, Any]) -> str:
        field = params.get("sort_by") or self.default_sort
        if field not in self.sort_fields:
            raise bad_query({"sort_by": [f"Must be one of: {', '.join(self.sort_fields)}."]})
        return field

    def sort_clause(self, params: dict[str, Any], *, reverse: bool = False,
                    columns: Any = None) -> list[Any]:
        """ORDER BY the sort column, then id: a total order, so keyset paging visits each row once.
        `columns` (default the table's) are those to order, e.g. a subquery's."""
        field = self.sort_field(params)
        columns = self.table.c if columns is None else columns
        descending = (params.get("sort_order") == "desc") != reverse
        direction = desc if descending else asc
        clauses = [direction(columns[field])]
        if field != "id":
            clauses.append(direction(columns.id))
        return clauses

    def key_of(self, row: Any, params: dict[str, Any]) -> tuple[Any, int]:
        return row[self.sort_field(params)], row["id"]

    async def list(self, session: AsyncSession, params: dict[str, Any], total: int | None = None) -> Page:
        """One page by number; `total` is the filter's row count when the caller knows it already."""
        page, per_page = params["page"], params["per_page"]
        if total is None:
            total = await self.count(session, params)
        rows: Any = ()
        if (page - 1) * per_page < total:  # past the last page there is nothing to fetch
            query = self.page_statement(params, numbered=True)
            rows = await self.fetch(session, query, {"limit": per_page, "offset": (page - 1) * per_page})
        next_key = self.key_of(rows[-1], params) if rows and page * per_page < total else None
        return Page(await self.dump_rows(session, rows), page, per_page, total, next_key)

    async def list_from(self, session: AsyncSession, params: dict[str, Any],
                        position: tuple[Any, int, bool]) -> Page:
        """The page after (forward) or before a cursor's position: a keyset range, any depth alike."""
        value, row_id, forward = position
        per_page = params["per_page"]
        query = self.page_statement(params, forward=forward)
        rows = await self.fetch(session, query,
                                {"after_value": value, "after_id": row_id, "limit": per_page + 1})
        more = len(rows) > per_page
        rows = rows[:per_page]
        if not forward:
            rows.reverse()
        if not rows:  # nothing there (any more): offer the way back from the same position
            back = (value, row_id)
            return Page([], None, per_page, None, None if forward else back, back if forward else None)
        first, last = self.key_of(rows[0], params), self.key_of(rows[-1], params)
        return Page(await self.dump_rows(session, rows), None, per_page, None,
                    last if more or not forward else None, first if more or forward else None)

    def page_statement(self, params: dict[str, Any], *, numbered: bool = False,
                       forward: bool = True) -> Select:
        """A page's SELECT with its limit (and offset, or cursor position) as bound parameters.

        Built once per sort and filter values and reused: building and hashing a Core statement costs
        more Python time than a 20-row page costs the database. Lists filtered by a search or a
        custom filter (which may depend on more than the value) are built each time.
        """
        field = self.sort_field(params)
        filters = tuple((key, value) for key, value in self.filter_key(params) if value is not None)
        cacheable = all(key != "q" and not hasattr(self, f"filter_{key}") for key, _ in filters)
        key = (field, params.get("sort_order") == "desc", numbered, forward, filters)
        if cacheable and (statement := self._pages.get(key)) is not None:
            return statement
        query = self.apply_filters(self.source(), params)
        if numbered:
            query = (query.order_by(*self.sort_clause(params))
                     .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))
        else:
            column, ident = self.table.c[field], self.table.c.id
            query = (query.where(after(column, ident, bindparam("after_value", type_=column.type),
                                       bindparam("after_id", type_=Integer),
                                       descending=params.get("sort_order") == "desc", forward=forward))
                     .order_by(*self.sort_clause(params, reverse=not forward))
                     .limit(bindparam("limit", type_=Integer)))
        statement = self.with_children(query, params, reverse=not numbered and not forward)
        if cacheable:
            if len(self._pages) >= PAGE_STATEMENTS:
                self._pages.clear()
            self._pages[key] = statement
        return statement

    @cached_property
    def _pages(self) -> dict[tuple[Any, ...], Select]:
        return {}

    def with_children(self, query: Select, params: dict[str, Any], *, reverse: bool) -> Select:
        """Hook: the page's statement extended with what its rows show beyond their columns (an
        order's lines), in the page's order (reversed when paging back)."""
        return query

    async def fetch(self, session: AsyncSession, query: Select, values: dict[str, Any]) -> list[Any]:
        """The rows of a page statement (`page_statement`), one per listed row."""
        return list((await session.execute(query, values)).mappings().all())

    def position(self, params: dict[str, Any], value: Any, row_id: int,
                 forward: bool) -> tuple[Any, int, bool]:
        """A cursor's decoded position with its sort value as the column's type (ValueError if not)."""
        column = self.table.c[self.sort_field(params)]
        return parsed(value, column.type.python_type), row_id, forward

    async def count(self, session: AsyncSession, params: dict[str, Any]) -> int:
        """How many rows the list's filters match, whatever the page and sort."""
        query = self.apply_filters(self.source(), params).order_by(None)
        return await session.scalar(select(func.count()).select_from(query.subquery())) or 0

    @staticmethod
    def filter_key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        """The part of a list query that decides its total: everything but paging and sorting."""
        return tuple(sorted((key, value) for key, value in params.items() if key not in PAGING))

    async def get(self, session: AsyncSession, ident: int, *, for_update: bool = False) -> Entity:
        query = self.base_query().where(self.model.id == ident)
        if for_update:
            # Only this row is locked: a joined load under FOR UPDATE would lock the related rows too
            # (a stop's reason, shared by every line) and deadlock writers that never share a row.
            # Related rows come in a second, plain statement; the row is read fresh, as locked.
            query = (query.options(selectinload("*")).with_for_update()
                     .execution_options(populate_existing=True))
        row = (await session.execute(query)).scalar()
        if row is None:
            raise not_found(self.label, ident)
        return row

    # -- writing --------------------------------------------------------------------------

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Principal | None = None) -> Entity:
        await self.check_unique(uow.session, data)
        row = self.model(**self.prepare_create(data))
        uow.session.add(row)
        await self.flush(uow)
        await self.after_create(uow, row, data, actor)
        return row

    async def create_dumped(self, uow: UnitOfWork, data: dict[str, Any],
                            actor: Principal | None = None) -> dict[str, Any]:
        """Create, and return the new row as the API shows it (what `POST` answers)."""
        return self.dump(await self.create(uow, data, actor))

    def prepare_create(self, data: dict[str, Any]) -> dict[str, Any]:
        return data

    async def after_create(self, uow: UnitOfWork, row: Entity, data: dict[str, Any],
                           actor: Principal | None) -> None:
        """Hook: ledger rows, events."""

    async def update(self, uow: UnitOfWork, ident: int, data: dict[str, Any],
                     actor: Principal | None = None) -> Entity:
        row = await self.get(uow.session, ident, for_update=True)
        for name in self.immutable_fields:
            if name in data and data[name] != getattr(row, name):
                raise invalid({name: [self.immutable_message(name)]}, f"{name} cannot be changed here.")
        await self.check_unique(uow.session, data, exclude_id=ident)
        await self.before_update(uow, row, data, actor)
        for key, value in data.items():
            if key not in self.immutable_fields:
                setattr(row, key, value)
        await self.flush(uow)
        return row

    def immutable_message(self, name: str) -> str:
        return "Cannot be changed."

    async def before_update(self, uow: UnitOfWork, row: Entity, data: dict[str, Any],
                            actor: Principal | None) -> None:
        """Hook: rules that depend on the current row."""

    async def delete(self, uow: UnitOfWork, ident: int, actor: Principal | None = None) -> Entity:
        row = await self.get(uow.session, ident, for_update=True)
        await self.check_references(uow.session, ident)
        await self.before_delete(uow, row, actor)
        await uow.session.delete(row)
        await self.flush(uow)
        return row

    async def before_delete(self, uow: UnitOfWork, row: Entity, actor: Principal | None) -> None:
        """Hook: reverse effects of the row before it goes."""

    async def check_references(self, session: AsyncSession, ident: int) -> None:
        for ref in self.references:
            count = await session.scalar(
                select(func.count()).select_from(ref.model).where(getattr(ref.model, ref.column) == ident)
            )
            if count:
                hint = (' Archive it instead: PATCH {"active": false} keeps its history and takes '
                        "it out of lists and new work.") if self.archivable else ""
                raise conflict(f"{self.label} {ident} is referenced by {count} {ref.label}; "
                               f"it cannot be deleted.{hint}")

    async def check_unique(self, session: AsyncSession, data: dict[str, Any],
                           exclude_id: int | None = None) -> None:
        for name in self.unique_fields:
            if name not in data:
                continue
            query = select(self.model.id).where(
                same_text(getattr(self.model, name), data[name], session.bind.dialect.name))
            if exclude_id is not None:
                query = query.where(self.model.id != exclude_id)
            if await session.scalar(query.limit(1)) is not None:
                raise self.unique_conflict(name)

    def unique_conflict(self, name: str) -> DomainError:
        """The 409 of a value of unique field `name` that another row already has."""
        return conflict(f"Another {self.label.lower()} already has this {name}.",
                        errors={name: ["Already in use."]})

    async def taken(self, session: AsyncSession, name: str, values: Collection[str]) -> set[str]:
        """Which of `values` (lowercased) rows already have in unique field `name`, compared as
        `check_unique` compares one value: one query for many (a bulk load checks a batch at once)."""
        if not values:
            return set()
        column = getattr(self.model, name)
        if session.bind.dialect.name == "sqlite":
            column = func.lower(column)
            values = {value.lower() for value in values}
        found = (await session.execute(select(column).where(column.in_(sorted(values))))).scalars()
        return {value.lower() for value in found}

    async def flush(self, uow: UnitOfWork) -> None:
        """Flush, turning a unique race lost to another request into a 409."""
        try:
            await uow.session.flush()
        except IntegrityError as exc:
            field = integrity_field(exc, self.unique_fields)
            if field:
                raise self.unique_conflict(field) from None
            raise


def archived_message(label: str, ident: int) -> str:
    """Why an archived row can't be used: named in the 422 of the field that points at it."""
    return f"{label} {ident} is archived; restore it with PATCH {{\"active\": true}} to use it."


def same_text(column: Any, value: Any, dialect: str) -> Any:
    """Equality that ignores ASCII case on SQLite too, as MariaDB's _ci collation does."""
    if isinstance(value, str) and dialect == "sqlite":
        return func.lower(column) == value.lower()
    return column == value


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

