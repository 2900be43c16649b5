"""Shifts: CRUD with the rules of the window (break shorter than it, no two shifts overlapping)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UnitOfWork
from core.errors import conflict, invalid
from models import Shift, WorkOrder
from models.shift import window_minutes
from schemas.shift import ShiftListQuery, ShiftSchema
from services.common.crud import CrudService, same_text
from services.floor.shift_time import week_windows, windows_overlap

WINDOW_FIELDS = ("starts_at", "ends_at", "break_minutes", "days")


class ShiftService(CrudService):
    name = "shifts"
    label = "Shift"
    model = Shift
    schema = ShiftSchema
    list_query = ShiftListQuery
    sort_fields = ("id", "name", "starts_at", "created_at", "updated_at")
    default_sort = "starts_at"
    unique_fields = ("name",)
    lean = False  # a shift shows its computed durations
    # The name never changes (records and work orders name it), but a PUT may repeat it.

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Any = None) -> Shift:
        await check_window(uow.session, data)
        return await super().create(uow, data, actor)

    async def before_update(self, uow: UnitOfWork, row: Shift, data: dict[str, Any], actor: Any) -> None:
        if data.get("name", row.name) != row.name:
            raise invalid({"name": ["A shift's name never changes: records and work orders name it."]})
        merged = {name: data.get(name, getattr(row, name)) for name in WINDOW_FIELDS}
        await check_window(uow.session, {**merged, "name": row.name}, exclude_id=row.id)

    async def check_references(self, session: AsyncSession, ident: int) -> None:
        shift = await session.get(Shift, ident)
        count = await session.scalar(select(WorkOrder.id).where(WorkOrder.shift == shift.name).limit(1))
        if count is not None:
            raise conflict(f"Shift {shift.name} is named by work orders; it cannot be deleted.")


async def check_window(session: AsyncSession, data: dict[str, Any], exclude_id: int | None = None) -> None:
    """422 for a break as long as the window; 409 when it overlaps another shift on some day."""
    duration = window_minutes(data["starts_at"], data["ends_at"])
    if data["break_minutes"] >= duration:
        raise invalid({"break_minutes": [f"Must be less than the shift's {duration} minutes."]})
    mine = week_windows(data["starts_at"], data["ends_at"], data["days"])
    query = select(Shift)
    if exclude_id is not None:
        query = query.where(Shift.id != exclude_id)
    for other in (await session.execute(query.order_by(Shift.id))).scalars():
        if windows_overlap(mine, week_windows(other.starts_at, other.ends_at, other.days)):
            raise conflict(f"The shift overlaps shift {other.name} ({other.starts_at}-{other.ends_at}).",
                           errors={"starts_at": [f"Overlaps shift {other.name}."]})


async def known_shift(session: AsyncSession, name: str, field: str = "shift") -> Shift:
    """The shift called `name`, or a 422 naming `field`."""
    shift = (await session.execute(
        select(Shift).where(same_text(Shift.name, name, session.bind.dialect.name)))).scalar()
    if shift is None:
        raise invalid({field: [f"No shift is called {name!r}."]})
    return shift


async def all_shifts(session: AsyncSession) -> list[Shift]:
    return list((await session.execute(select(Shift).order_by(Shift.id))).scalars())
