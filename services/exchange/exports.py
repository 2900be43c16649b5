"""Exports: every row a list's filters match, in its sort order, fetched in keyset batches.

Each batch is one short query (`WHERE (sort, id) > last ORDER BY sort, id LIMIT n`) in its own
session, so a million-row export costs the same per batch at any depth, holds no connection while
the client reads, and keeps only one batch in memory.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, and_, or_

from core.db import Database
from services.common.crud import CrudService

BATCH_ROWS = 1000


def after(query: Select, service: CrudService, params: dict[str, Any], last: tuple[Any, int]) -> Select:
    """The rows that sort after `last` (the previous batch's last sort value and id)."""
    field = params.get("sort_by") or service.default_sort
    descending = params.get("sort_order") == "desc"
    column, ident = getattr(service.model, field), service.model.id
    value, last_id = last
    if field == "id":
        return query.where(ident < last_id if descending else ident > last_id)
    beyond = column < value if descending else column > value
    tie = ident < last_id if descending else ident > last_id
    return query.where(or_(beyond, and_(column == value, tie)))


async def export_batches(db: Database, service: CrudService, params: dict[str, Any],
                         batch_rows: int | None = None) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield the matching rows as the API dumps them, `batch_rows` at a time, in the list's order."""
    field = params.get("sort_by") or service.default_sort
    order = service.sort_clause(params)  # an unknown sort_by is a 400 before any row is sent
    batch_rows = batch_rows or BATCH_ROWS
    last: tuple[Any, int] | None = None
    while True:
        query = service.apply_filters(service.base_query(), params)
        if last is not None:
            query = after(query, service, params, last)
        async with db.session() as session:
            rows = (await session.execute(query.order_by(*order).limit(batch_rows))).scalars().all()
            await service.complete(session, list(rows))  # what a list adds to its rows (work orders' sums)
            items = [service.dump(row) for row in rows]
        if not rows:
            return
        last = (getattr(rows[-1], field), rows[-1].id)
        yield items
        if len(rows) < batch_rows:
            return
