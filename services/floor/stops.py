"""Stops: a line stops now and starts again (users), admins correct the window; never two at once.

Locks, always in this order: the line's row first (every write to a line's stops takes it, so they
run one at a time per line), then the stop's row by its primary key alone. Never a joined load
under FOR UPDATE (it would lock the reason's row, shared by every line), never a locking read
through the open-line index (its gap locks reach the neighbouring lines' entries): operators on
different lines then share no lock and cannot deadlock each other.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.clock import Clock
from core.db import UnitOfWork
from core.errors import conflict, invalid, not_found
from models import Line, Stop
from schemas.common import iso_utc
from schemas.stop import StopListQuery, StopSchema
from services.common.crud import CrudService, same_text
from services.floor.lines import active_line
from services.floor.stop_reasons import active_reason

_schema = StopSchema()


class StopService(CrudService):
    """Built per request with the app's clock: an open stop's duration runs to now."""

    name = "stops"
    label = "Stop"
    model = Stop
    schema = StopSchema
    list_query = StopListQuery
    sort_fields = ("id", "started_at", "ended_at", "line", "reason")
    default_sort = "started_at"
    lean = False  # a stop shows its reason's label and its duration so far

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock or Clock()

    def dump(self, row: Stop) -> dict[str, Any]:
        return stop_payload(row, self.clock.utcnow())

    # -- lists ----------------------------------------------------------------------------

    def filter_line(self, query: Select, value: str) -> Select:
        return query.where(Stop.line == value)

    def filter_open(self, query: Select, value: bool) -> Select:
        return query.where(Stop.ended_at.is_(None) if value else Stop.ended_at.is_not(None))

    def filter_from_(self, query: Select, value: Any) -> Select:
        """Stops still going at or after plant-local midnight starting `from`."""
        start = self.plant_midnight(value)
        return query.where(or_(Stop.ended_at.is_(None), Stop.ended_at >= start))

    def filter_to(self, query: Select, value: Any) -> Select:
        """Stops begun before the plant-local midnight ending `to`."""
        return query.where(Stop.started_at < self.plant_midnight(value + timedelta(days=1)))

    def plant_midnight(self, day: Any) -> datetime:
        moment = datetime.combine(day, time.min, tzinfo=self.clock.zone)
        return moment.astimezone(UTC).replace(tzinfo=None)

    # -- corrections (admin) --------------------------------------------------------------

    async def update(self, uow: UnitOfWork, ident: int, data: dict[str, Any], actor: Any = None) -> Stop:
        session = uow.session
        stop = await self.get(session, ident)
        await lock_line(session, stop.line)
        stop = await self.get(session, ident, for_update=True)
        now = self.clock.utcnow()
        started = naive_utc(data.get("started_at")) or stop.started_at
        ended = naive_utc(data.get("ended_at")) or stop.ended_at
        errors: dict[str, list[str]] = {}
        if started > now:
            errors["started_at"] = ["Must not be in the future."]
        if ended is not None and ended > now:
            errors["ended_at"] = ["Must not be in the future."]
        elif ended is not None and ended < started:
            errors["ended_at"] = [f"Must not be before started_at ({iso_utc(started)})."]
        if errors:
            raise invalid(errors)
        if "reason" in data:
            reason = await active_reason(session, data["reason"])
            stop.reason, stop.reason_info = reason.code, reason
        await check_no_overlap(session, stop.line, started, ended, exclude_id=stop.id)
        closing = stop.ended_at is None and ended is not None
        stop.started_at, stop.ended_at = started, ended
        if closing:
            stop.open_line = None
        await session.flush()
        if closing:
            uow.emit("lines", "line.started", self.dump(stop))
        return stop


def stop_payload(stop: Stop, now: datetime) -> dict[str, Any]:
    """A stop as the API returns it; `now` (naive UTC) ends an open one's duration."""
    end = stop.ended_at or max(now, stop.started_at)
    return _schema.dump({
        "id": stop.id, "created_at": stop.created_at, "updated_at": stop.updated_at, "line": stop.line,
        "reason": stop.reason, "label": stop.reason_info.label, "planned": stop.reason_info.planned,
        "category": stop.reason_info.category, "started_at": stop.started_at, "ended_at": stop.ended_at,
        "duration_seconds": int((end - stop.started_at).total_seconds()), "note": stop.note,
        "reported_by": stop.reported_by})


def naive_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


async def lock_line(session: AsyncSession, code: str) -> None:
    """Take the line's row lock: stops of one line open, close and move one at a time."""
    await session.execute(select(Line.id).where(Line.code == code).with_for_update())


async def locked_stop(session: AsyncSession, ident: int) -> Stop | None:
    """The stop, its row locked by primary key only; its reason read in a plain second statement."""
    return (await session.execute(
        select(Stop).where(Stop.id == ident).options(selectinload(Stop.reason_info)).with_for_update()
        .execution_options(populate_existing=True))).scalar()


async def check_no_overlap(session: AsyncSession, line: str, started: datetime, ended: datetime | None,
                           exclude_id: int | None = None) -> None:
    """409 when [started, ended) (open: to forever) overlaps another stop of the line."""
    query = select(Stop).where(Stop.line == line,
                               or_(Stop.ended_at.is_(None), Stop.ended_at > started))
    if ended is not None:
        query = query.where(Stop.started_at < ended)
    if exclude_id is not None:
        query = query.where(Stop.id != exclude_id)
    other = (await session.execute(query.order_by(Stop.started_at).limit(1))).scalar()
    if other is not None:
        until = iso_utc(other.ended_at) if other.ended_at else "now"
        raise conflict(f"Stop {other.id} of line {line} ({iso_utc(other.started_at)} … {until}) overlaps "
                       "this window; stops of one line never overlap.",
                       errors={"started_at": [f"Overlaps stop {other.id}."]})


async def open_stop(uow: UnitOfWork, code: str, data: dict[str, Any], actor: Any, now: datetime) -> Stop:
    """The line stops now (409 if it is already stopped; 422 for an unknown or inactive line or reason)."""
    session = uow.session
    line = await active_line(session, code, for_update=True)
    reason = await active_reason(session, data["reason"])
    current = (await session.execute(select(Stop).where(Stop.open_line == line.code))).scalar()
    if current is not None:
        raise conflict(f"Line {line.code} is already stopped ({current.reason} since "
                       f"{iso_utc(current.started_at)}); end that stop first.",
                       errors={"line": ["Already stopped."]})
    await check_no_overlap(session, line.code, now, None)
    stop = Stop(line=line.code, reason=reason.code, started_at=now, open_line=line.code,
                note=data.get("note"), reported_by=getattr(actor, "username", None))
    stop.reason_info = reason
    session.add(stop)
    try:
        await session.flush()
    except IntegrityError:  # another request opened one between our check and insert
        raise conflict(f"Line {line.code} is already stopped.",
                       errors={"line": ["Already stopped."]}) from None
    uow.emit("lines", "line.stopped", stop_payload(stop, now))
    return stop


async def end_stop(uow: UnitOfWork, code: str, now: datetime) -> Stop:
    """The line runs again: its open stop ends now (409 if none is open)."""
    session = uow.session
    line = (await session.execute(
        select(Line).where(same_text(Line.code, code, session.bind.dialect.name)).with_for_update())).scalar()
    if line is None:
        raise invalid({"line": [f"No line has the code {code!r}."]})
    # Found by a plain read (the line's lock keeps it current), then locked by its primary key.
    ident = (await session.execute(select(Stop.id).where(Stop.open_line == line.code))).scalar()
    stop = None if ident is None else await locked_stop(session, ident)
    if stop is None:
        raise conflict(f"Line {line.code} is not stopped: there is no open stop to end.",
                       errors={"line": ["Not stopped."]})
    stop.ended_at, stop.open_line = max(now, stop.started_at), None
    await session.flush()
    uow.emit("lines", "line.started", stop_payload(stop, now))
    return stop


UNASSIGNED = "unassigned"


async def line_of_stop(session: AsyncSession, ident: int) -> str:
    """The line a stop belongs to (404 if there is no such stop): a station may touch its own lines' only."""
    line = (await session.execute(select(Stop.line).where(Stop.id == ident))).scalar()
    if line is None:
        raise not_found("Stop", ident)
    return line


async def classify_stop(uow: UnitOfWork, ident: int, code: str, actor: Any) -> Stop:
    """An `unassigned` stop gets its reason (409 if it has one; 422 for an unknown or inactive one)."""
    session = uow.session
    stop = (await session.execute(select(Stop).where(Stop.id == ident))).scalar()
    if stop is None:
        raise not_found("Stop", ident)
    await lock_line(session, stop.line)
    stop = (await session.execute(select(Stop).where(Stop.id == ident).with_for_update())).scalar()
    if stop.reason != UNASSIGNED:
        raise conflict(f"Stop {ident} has the reason {stop.reason}; only unassigned stops are classified "
                       "here (admins correct others with PATCH /stops/{id}).",
                       errors={"reason": ["Already classified."]})
    reason = await active_reason(session, code)
    if reason.code == UNASSIGNED:
        raise invalid({"reason": ["Name the reason the line stopped for."]})
    stop.reason, stop.reason_info = reason.code, reason
    who = getattr(actor, "username", None)
    if who and not stop.note:
        stop.note = f"classified by {who}"
    await session.flush()
    return stop
