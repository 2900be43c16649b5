"""Andon calls: a line calls for help, someone acknowledges, it is resolved; unanswered ones escalate."""
from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock
from core.db import Database, UnitOfWork
from core.errors import bad_query, conflict, not_found
from core.tasks import stop_if_cancelled
from models import CALL_KINDS, Call
from schemas.call import CallListQuery, CallSchema
from schemas.common import iso_utc
from services.common.crud import CrudService
from services.floor.lines import active_line

log = logging.getLogger("factory.calls")
REPORT_DAYS = 30  # the calls report's default window, in plant-local days up to today
MAX_REPORT_DAYS = 366


class CallService(CrudService):
    """`GET /calls` and `GET /calls/{id}`; the steps of a call are the functions below."""

    name = "calls"
    label = "Call"
    model = Call
    schema = CallSchema
    list_query = CallListQuery
    sort_fields = ("id", "opened_at", "acknowledged_at", "resolved_at", "line", "kind")
    default_sort = "opened_at"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock or Clock()

    def filter_open(self, query: Select, value: bool) -> Select:
        return query.where(Call.resolved_at.is_(None) if value else Call.resolved_at.is_not(None))

    def filter_from_(self, query: Select, value: date) -> Select:
        """Calls still open at or after plant-local midnight starting `from`."""
        start = plant_midnight(self.clock, value)
        return query.where(or_(Call.resolved_at.is_(None), Call.resolved_at >= start))

    def filter_to(self, query: Select, value: date) -> Select:
        """Calls opened before the plant-local midnight ending `to`."""
        return query.where(Call.opened_at < plant_midnight(self.clock, value + timedelta(days=1)))


def plant_midnight(clock: Clock, day: date) -> datetime:
    """The plant-local midnight starting `day`, as naive UTC."""
    return datetime.combine(day, time.min, tzinfo=clock.zone).astimezone(UTC).replace(tzinfo=None)


_service = CallService()


def call_payload(call: Call) -> dict[str, Any]:
    return _service.dump(call)


def seconds_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


async def open_call(uow: UnitOfWork, code: str, data: dict[str, Any], actor: Any, now: datetime) -> Call:
    """A call of this line, opened now (422 for an unknown or inactive line)."""
    line = await active_line(uow.session, code)
    call = Call(line=line.code, kind=data["kind"], note=data.get("note"), opened_at=now,
                opened_by=getattr(actor, "username", None))
    uow.session.add(call)
    await uow.session.flush()
    uow.emit("lines", "call.opened", call_payload(call))
    return call


async def call_for_update(session: AsyncSession, ident: int) -> Call:
    call = (await session.execute(select(Call).where(Call.id == ident).with_for_update())).scalar()
    if call is None:
        raise not_found("Call", ident)
    return call


async def acknowledge_call(uow: UnitOfWork, ident: int, actor: Any, now: datetime) -> Call:
    """Someone answers the call (409 if it was acknowledged or resolved already)."""
    call = await call_for_update(uow.session, ident)
    if call.resolved_at is not None:
        raise conflict(f"Call {call.id} was resolved at {iso_utc(call.resolved_at)}.",
                       errors={"status": ["Resolved."]})
    if call.acknowledged_at is not None:
        raise conflict(f"Call {call.id} was acknowledged at {iso_utc(call.acknowledged_at)} by "
                       f"{call.acknowledged_by or 'someone'}.", errors={"status": ["Acknowledged."]})
    moment = max(now, call.opened_at)
    call.acknowledged_at, call.acknowledged_by = moment, getattr(actor, "username", None)
    call.response_seconds = seconds_between(call.opened_at, moment)
    await uow.session.flush()
    uow.emit("lines", "call.acknowledged", call_payload(call))
    return call


async def resolve_call(uow: UnitOfWork, ident: int, actor: Any, now: datetime) -> Call:
    """The call is dealt with (409 if it is resolved already). One resolved without an
    acknowledgement counts as answered when it was resolved."""
    call = await call_for_update(uow.session, ident)
    if call.resolved_at is not None:
        raise conflict(f"Call {call.id} was resolved at {iso_utc(call.resolved_at)} by "
                       f"{call.resolved_by or 'someone'}.", errors={"status": ["Resolved."]})
    moment = max(now, call.opened_at)
    who = getattr(actor, "username", None)
    if call.acknowledged_at is None:
        call.acknowledged_at, call.acknowledged_by = moment, who
        call.response_seconds = seconds_between(call.opened_at, moment)
    call.resolved_at, call.resolved_by = moment, who
    call.resolution_seconds = seconds_between(call.opened_at, moment)
    await uow.session.flush()
    uow.emit("lines", "call.resolved", call_payload(call))
    return call


async def line_of_call(session: AsyncSession, ident: int) -> str:
    """The line a call belongs to (404 if there is no such call)."""
    line = await session.scalar(select(Call.line).where(Call.id == ident))
    if line is None:
        raise not_found("Call", ident)
    return line


# -- escalation -----------------------------------------------------------------------------------

async def escalate_due(db: Database, now: datetime, after_seconds: int) -> int:
    """Escalate every open, unacknowledged call opened `after_seconds` or longer ago; each once.

    A plain read looks first, so a sweep that finds nothing (nearly every one) opens no write
    transaction and takes no lock; due rows are then locked and re-checked, so two processes
    never both escalate a call."""
    cutoff = now - timedelta(seconds=after_seconds)
    unanswered = (Call.acknowledged_at.is_(None), Call.resolved_at.is_(None), Call.escalated_at.is_(None),
                  Call.opened_at <= cutoff)
    async with db.session() as session:
        if (await session.execute(select(Call.id).where(*unanswered).limit(1))).first() is None:
            return 0
    async with db.write() as uow:
        due = (await uow.session.execute(
            select(Call).where(*unanswered).order_by(Call.id).limit(500).with_for_update())).scalars().all()
        for call in due:
            call.escalated_at = now
        await uow.session.flush()
        for call in due:
            uow.emit("lines", "call.escalated", call_payload(call))
    return len(due)


async def escalation_loop(db: Database, clock: Clock, after_seconds: int, interval: float) -> None:
    """Look for calls to escalate every `interval` seconds, by the app's clock, until cancelled."""
    while True:
        try:
            escalated = await escalate_due(db, clock.utcnow(), after_seconds)
            if escalated:
                log.info("escalated %d andon call(s) unanswered for %d s", escalated, after_seconds)
        except Exception:
            stop_if_cancelled()
            log.warning("andon escalation failed", exc_info=True)
        await asyncio.sleep(interval)


# -- the report -----------------------------------------------------------------------------------

async def calls_report(session: AsyncSession, clock: Clock, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Counts and mean/p90 response and resolution seconds of the calls opened on the days asked,
    per (kind, line), in kind then line order."""
    end = params.get("to") or clock.today()
    start = params.get("from_") or end - timedelta(days=REPORT_DAYS - 1)
    if (end - start).days >= MAX_REPORT_DAYS:
        raise bad_query({"from": [f"At most {MAX_REPORT_DAYS} days at a time."]})
    query = (select(Call.kind, Call.line, Call.resolved_at, Call.escalated_at, Call.response_seconds,
                    Call.resolution_seconds)
             .where(Call.opened_at >= plant_midnight(clock, start),
                    Call.opened_at < plant_midnight(clock, end + timedelta(days=1))))
    if params.get("line"):
        query = query.where(Call.line == params["line"])
    if params.get("kind"):
        query = query.where(Call.kind == params["kind"])
    groups: dict[tuple[str, str], list[Any]] = {}
    for row in (await session.execute(query)).all():
        groups.setdefault((row.kind, row.line), []).append(row)
    order = {kind: n for n, kind in enumerate(CALL_KINDS)}
    items = []
    for (kind, line), rows in sorted(groups.items(), key=lambda item: (order[item[0][0]], item[0][1])):
        responses = [row.response_seconds for row in rows if row.response_seconds is not None]
        resolutions = [row.resolution_seconds for row in rows if row.resolution_seconds is not None]
        items.append({"kind": kind, "line": line, "calls": len(rows),
                      "open": sum(1 for row in rows if row.resolved_at is None),
                      "escalated": sum(1 for row in rows if row.escalated_at is not None),
                      "response_mean_seconds": mean(responses), "response_p90_seconds": p90(responses),
                      "resolution_mean_seconds": mean(resolutions),
                      "resolution_p90_seconds": p90(resolutions)})
    return items


REPORT_COLUMNS = ("kind", "line", "calls", "open", "escalated", "response_mean_seconds",
                  "response_p90_seconds", "resolution_mean_seconds", "resolution_p90_seconds")


def mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def p90(values: list[int]) -> float | None:
    """The 90th percentile by the nearest-rank method: the smallest value ≥ 90 % of them."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])
