"""Lines: CRUD keyed by code; a record, stop or work order names a line by its code."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UnitOfWork
from core.errors import conflict, invalid, not_found
from models import Line, ProductionRecord, Shift, Stop, WorkOrder
from schemas.line import LineListQuery, LineSchema
from services.common.crud import CrudService, same_text


class LineService(CrudService):
    name = "lines"
    label = "Line"
    model = Line
    schema = LineSchema
    list_query = LineListQuery
    sort_fields = ("id", "code", "name", "created_at", "updated_at")
    default_sort = "code"
    unique_fields = ("code",)
    search_fields = ("code", "name")
    immutable_fields = ("code",)

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Any = None) -> Line:
        await calendar_into(uow.session, data)
        return await super().create(uow, data, actor)

    async def before_update(self, uow: UnitOfWork, row: Line, data: dict[str, Any], actor: Any) -> None:
        await calendar_into(uow.session, data)

    def immutable_message(self, name: str) -> str:
        return "A line's code never changes; create a new line instead."

    def base_query(self) -> Select:
        return select(Line)

    async def get(self, session: AsyncSession, ident: Any, *, for_update: bool = False) -> Line:
        """The line whose code is `ident` (case as MariaDB compares it: ignored)."""
        query = select(Line).where(same_text(Line.code, str(ident), session.bind.dialect.name))
        if for_update:
            query = query.with_for_update()
        row = (await session.execute(query)).scalar()
        if row is None:
            raise not_found("Line", ident)
        return row

    async def delete(self, uow: UnitOfWork, ident: Any, actor: Any = None) -> Line:
        line = await self.get(uow.session, ident, for_update=True)
        for model, label in ((ProductionRecord, "production records"), (Stop, "stops"),
                             (WorkOrder, "work orders")):
            count = await uow.session.scalar(select(func.count()).select_from(model)
                                             .where(model.line == line.code))
            if count:
                raise conflict(f"Line {line.code} is referenced by {count} {label}; it cannot be "
                               "deleted (set active to false to retire it).")
        await uow.session.delete(line)
        await uow.session.flush()
        return line


async def calendar_into(session: AsyncSession, data: dict[str, Any]) -> None:
    """`shifts` as stored: the named shifts (422 naming `shifts` for one that does not exist),
    comma-separated as the shifts spell them; null for every shift."""
    if data.get("shifts") is None:
        return
    known = {name.lower(): name for name in (await session.execute(select(Shift.name))).scalars()}
    missing = [name for name in data["shifts"] if name.lower() not in known]
    if missing:
        raise invalid({"shifts": [f"No shift is called {missing[0]!r}."]})
    data["shifts"] = ",".join(known[name.lower()] for name in data["shifts"])


async def active_line(session: AsyncSession, code: str, field: str = "line", *,
                      for_update: bool = False) -> Line:
    """The active line with this code, or a 422 naming `field`."""
    query = select(Line).where(same_text(Line.code, code, session.bind.dialect.name))
    if for_update:
        query = query.with_for_update()
    return usable_line((await session.execute(query)).scalar(), code, field)


def usable_line(line: Any, code: str, field: str = "line") -> Any:
    """`line` (a row with `code` and `active`, found by `code`) when it is usable, or a 422 naming
    `field`: no such line, or not active."""
    if line is None:
        raise invalid({field: [f"No line has the code {code!r}."]})
    if not line.active:
        raise invalid({field: [f"Line {line.code} is not active."]})
    return line
