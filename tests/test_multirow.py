"""`core.multirow.insert_many` writes rows that leave out a column with a fixed Python-side default
with that default, as an ORM insert would, on SQLite and MariaDB; the ids it reports are the rows'."""
from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import insert, select

from core.db import Database
from core.multirow import insert_many
from models import Line


async def _write_and_read(url: str) -> tuple[int, list[tuple[int, str, bool]]]:
    db = Database(url)
    try:
        stamp = datetime(2026, 3, 1, 6, 0)
        rows = [{"code": f"L{n}", "name": f"Line {n}", "created_at": stamp, "updated_at": stamp}
                for n in range(1, 4)]  # no "active": its default is True
        async with db.write() as uow:
            written = await insert_many(uow.session, insert(Line.__table__), rows)
        async with db.session() as session:
            found = (await session.execute(select(Line.id, Line.code, Line.active).order_by(Line.id))).all()
        return written.first_id, [tuple(row) for row in found]
    finally:
        await db.dispose()


def test_rows_leaving_out_a_defaulted_column_take_its_default(database_url: str) -> None:
    first_id, rows = asyncio.run(_write_and_read(database_url))
    assert [(code, active) for _, code, active in rows] == [("L1", True), ("L2", True), ("L3", True)]
    assert first_id == rows[0][0]
