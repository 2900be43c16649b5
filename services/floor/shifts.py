"""Shifts: CRUD with the rules of the window (breaks inside it, no two shifts overlapping), and the
history of their definitions (a change applies from the next instance that has not started)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db import UnitOfWork
from core.errors import DomainError, conflict, invalid, not_found
from models import Shift, ShiftVersion, WorkOrder
from models.shift import format_breaks, parse_breaks, window_minutes
from schemas.shift import ShiftListQuery, ShiftSchema
from services.common.crud import CrudService, same_text
from services.floor.shift_time import (
    BEGINNING,
    Definition,
    ShiftPlan,
    break_offsets,
    instance_on,
    week_windows,
    windows_overlap,
)

WINDOW_FIELDS = ("starts_at", "ends_at", "break_minutes", "days", "breaks")


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
    uses_clock = True  # a change applies from the next instance that has not started
    # The name never changes (records and work orders name it), but a PUT may repeat it.

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock or Clock()

    async def create(self, uow: UnitOfWork, data: dict[str, Any], actor: Any = None) -> Shift:
        if data.pop("effective_from", None) is not None:
            raise invalid({"effective_from": ["Only for a change: a new shift's definition holds from "
                                              "the beginning."]})
        breaks_into(data, None)
        await check_window(uow.session, data)
        row = await super().create(uow, data, actor)
        uow.session.add(ShiftVersion(shift_id=row.id, effective_from=BEGINNING,
                                     **{name: getattr(row, name) for name in WINDOW_FIELDS}))
        await uow.session.flush()
        return row

    async def before_update(self, uow: UnitOfWork, row: Shift, data: dict[str, Any], actor: Any) -> None:
        if data.get("name", row.name) != row.name:
            raise invalid({"name": ["A shift's name never changes: records and work orders name it."]})
        effective_from = data.pop("effective_from", None)
        breaks_into(data, row)
        merged = {name: data.get(name, getattr(row, name)) for name in WINDOW_FIELDS}
        await check_window(uow.session, {**merged, "name": row.name}, exclude_id=row.id)
        if all(merged[name] == getattr(row, name) for name in WINDOW_FIELDS):
            if effective_from is not None:
                raise invalid({"effective_from": ["Nothing of the definition changes."]})
            return
        today = self.clock.today()
        if effective_from is not None and effective_from < today:
            raise invalid({"effective_from": [f"Must be today ({today}) or later: past instances keep "
                                              "the definition they ran under."]})
        plan = await shift_plan(uow.session, row.id, row.name)
        start = effective_from or first_unstarted(plan, Definition(today, **{
            name: merged[name] for name in ("starts_at", "ends_at", "break_minutes", "days")},
            breaks=tuple(parse_breaks(merged["breaks"]))), self.clock)
        # The new version replaces any that would start with it or later (a change planned before).
        await uow.session.execute(delete(ShiftVersion).where(ShiftVersion.shift_id == row.id,
                                                             ShiftVersion.effective_from >= start))
        uow.session.add(ShiftVersion(shift_id=row.id, effective_from=start, **merged))

    async def check_references(self, session: AsyncSession, ident: int) -> None:
        shift = await session.get(Shift, ident)
        count = await session.scalar(select(WorkOrder.id).where(WorkOrder.shift == shift.name).limit(1))
        if count is not None:
            raise conflict(f"Shift {shift.name} is named by work orders; it cannot be deleted.")
        await session.execute(delete(ShiftVersion).where(ShiftVersion.shift_id == ident))

    async def history(self, session: AsyncSession, ident: int) -> dict[str, Any]:
        """The shift's versions, oldest first, each with the last date it holds."""
        shift = await session.get(Shift, ident)
        if shift is None:
            raise not_found("Shift", ident)
        rows = list((await session.execute(select(ShiftVersion).where(ShiftVersion.shift_id == ident)
                                           .order_by(ShiftVersion.effective_from))).scalars())
        items = []
        for n, row in enumerate(rows):
            following = rows[n + 1].effective_from - timedelta(days=1) if n + 1 < len(rows) else None
            items.append({"effective_from": row.effective_from, "effective_to": following,
                          "starts_at": row.starts_at, "ends_at": row.ends_at,
                          "break_minutes": row.break_minutes, "days": row.days.split(","),
                          "breaks": [{"starts_at": start, "minutes": minutes}
                                     for start, minutes in parse_breaks(row.breaks)],
                          "created_at": row.created_at})
        return {"shift": shift.name, "items": items}


def breaks_into(data: dict[str, Any], row: Shift | None) -> None:
    """`breaks` given: stored as text, `break_minutes` their sum (422 if it says otherwise).
    `break_minutes` alone: a break with no time — refused while the shift has timed breaks."""
    if "breaks" in data:
        breaks = [(item["starts_at"], item["minutes"]) for item in data["breaks"] or []]
        total = sum(minutes for _, minutes in breaks)
        if data.get("break_minutes", total) != total:
            raise invalid({"break_minutes": [f"Read-only with breaks: their sum ({total})."]})
        data["breaks"], data["break_minutes"] = format_breaks(breaks), total
    elif "break_minutes" in data and row is not None and row.breaks:
        if data["break_minutes"] != row.break_minutes:
            raise invalid({"break_minutes": [f"Read-only: the sum of the shift's breaks "
                                             f"({row.break_minutes}); change `breaks`."]})
    elif row is None:
        data.setdefault("break_minutes", 0)
        data["breaks"] = None


def first_unstarted(plan: ShiftPlan, new: Definition, clock: Clock) -> date:
    """The first date from today on whose instance has not started, under the old definition or
    the new one: a change never rewrites an instance that has begun."""
    now, day = clock.now(), clock.today()
    trial = ShiftPlan(plan.name, [new])
    while True:
        candidates = (instance_on(plan, day, clock.zone), instance_on(trial, day, clock.zone))
        started = [one for one in candidates if one is not None and one.starts_at <= now]
        if not started:
            return day
        day += timedelta(days=1)


async def check_window(session: AsyncSession, data: dict[str, Any], exclude_id: int | None = None) -> None:
    """422 for a break as long as the window or outside it; 409 when it overlaps another shift."""
    duration = window_minutes(data["starts_at"], data["ends_at"])
    if data["break_minutes"] >= duration:
        raise invalid({"break_minutes": [f"Must be less than the shift's {duration} minutes."]})
    problems = break_offsets(data["starts_at"], data["ends_at"], parse_breaks(data.get("breaks")))
    if problems:
        raise invalid({"breaks": problems})
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
        raise no_shift(name, field)
    return shift


def no_shift(name: str, field: str = "shift") -> DomainError:
    return invalid({field: [f"No shift is called {name!r}."]})


# Every shift's versions in one statement, built once. A shift without versions (a row written
# straight into the table) runs under its own columns from the beginning.
_V = ShiftVersion
_VERSIONS = (select(Shift.name, Shift.starts_at, Shift.ends_at, Shift.break_minutes, Shift.days, Shift.breaks,
                    _V.effective_from, _V.starts_at, _V.ends_at, _V.break_minutes, _V.days, _V.breaks)
             .outerjoin(_V, _V.shift_id == Shift.id).order_by(Shift.id, _V.effective_from))
_ONE_SHIFT = _VERSIONS.where(Shift.id == bindparam("shift_id"))


def _plans(rows: Any) -> list[ShiftPlan]:
    plans: dict[str, ShiftPlan] = {}
    for name, *own, effective_from, starts_at, ends_at, break_minutes, days, breaks in rows:
        if effective_from is None:
            effective_from, (starts_at, ends_at, break_minutes, days, breaks) = BEGINNING, own
        plans.setdefault(name, ShiftPlan(name)).versions.append(Definition(
            effective_from, starts_at, ends_at, break_minutes, days, tuple(parse_breaks(breaks))))
    return list(plans.values())


async def all_shifts(session: AsyncSession) -> list[ShiftPlan]:
    """Every shift with its definitions over time."""
    return _plans(await session.execute(_VERSIONS))


async def shift_plan(session: AsyncSession, shift_id: int, name: str) -> ShiftPlan:
    plans = _plans(await session.execute(_ONE_SHIFT, {"shift_id": shift_id}))
    return plans[0] if plans else ShiftPlan(name)
