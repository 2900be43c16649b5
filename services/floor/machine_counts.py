"""What machines counted, read back: a line's trend per bucket, and its machines' part of the
line status (offline, micro-stops)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import not_found
from models import Line, Machine, MachineCount
from schemas.common import iso_utc
from schemas.machine import BUCKETS
from services.common.crud import same_text


def _epoch_seconds(column: Any, dialect: str) -> Any:
    """Seconds since 1970 of a naive-UTC timestamp column, whatever the session's time zone."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return func.timestampdiff(literal_column("SECOND"), literal_column("'1970-01-01 00:00:00'"), column)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


async def line_counts(session: AsyncSession, code: str, start: datetime, end: datetime,
                      bucket: str) -> dict[str, Any]:
    """Good, reject and micro-stops per bucket in [start, end), every bucket listed (zeros too)."""
    dialect = session.bind.dialect.name
    line = await session.scalar(select(Line.code).where(same_text(Line.code, code, dialect)))
    if line is None:
        raise not_found("Line", code)
    size = BUCKETS[bucket]
    start, end = _naive(start), _naive(end)
    epoch = datetime(1970, 1, 1)
    first = int((start - epoch).total_seconds()) // size
    slot = _epoch_seconds(MachineCount.at, session.bind.dialect.name) // size
    rows = await session.execute(
        select(slot.label("slot"), func.sum(MachineCount.good), func.sum(MachineCount.reject),
               func.sum(MachineCount.micro_stops), func.sum(MachineCount.micro_stop_seconds))
        .where(MachineCount.line == line, MachineCount.at >= start, MachineCount.at < end)
        .group_by(slot))
    found = {int(row[0]): row[1:] for row in rows}
    last = (int((end - epoch).total_seconds()) - 1) // size
    items = []
    for number in range(first, last + 1):
        good, reject, micro, seconds = found.get(number, (0, 0, 0, 0.0))
        items.append({"at": iso_utc(epoch + timedelta(seconds=number * size)), "good": int(good or 0),
                      "reject": int(reject or 0), "micro_stops": int(micro or 0),
                      "micro_stop_seconds": round(float(seconds or 0), 3)})
    return {"line": line, "bucket": bucket, "items": items}


# Built once: the line status reads them on every call (its once-a-second event too).
_MACHINES_BY_LINE = (
    select(Machine.line, func.sum(case((Machine.online.is_(True), 1), else_=0)),
           func.max(Machine.offline_since))
    .where(Machine.line.in_(bindparam("lines", expanding=True)), Machine.active.is_(True))
    .group_by(Machine.line))
_MICRO_STOPS_BY_LINE = (
    select(MachineCount.line, func.sum(MachineCount.micro_stops), func.sum(MachineCount.micro_stop_seconds))
    .where(MachineCount.line.in_(bindparam("lines", expanding=True)), MachineCount.at >= bindparam("since"),
           MachineCount.micro_stops > 0)
    .group_by(MachineCount.line))


async def machine_figures(session: AsyncSession, lines: list[str], since: datetime | None,
                          ) -> dict[str, dict[str, Any]]:
    """Per line with machines: `offline_since` (all its active machines offline: the latest of
    their times, else None) and `micro_stops` since `since` (aware UTC; None: no instance)."""
    rows = await session.execute(_MACHINES_BY_LINE, {"lines": lines})
    figures: dict[str, dict[str, Any]] = {}
    for line, online, offline_since in rows:
        figures[line] = {"offline_since": (iso_utc(offline_since) if not online and offline_since else None),
                         "offline": not online,
                         "micro_stops": {"count": 0, "seconds": 0.0}}
    if since is not None and figures:
        counted = await session.execute(_MICRO_STOPS_BY_LINE,
                                        {"lines": list(figures), "since": _naive(since)})
        for line, count, seconds in counted:
            figures[line]["micro_stops"] = {"count": int(count or 0),
                                            "seconds": round(float(seconds or 0), 3)}
    return figures
