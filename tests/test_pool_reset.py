"""The MariaDB pool's reset on return: a ROLLBACK only where the server says a transaction is open.

The pool no longer pings before each checkout nor rolls back after each COMMIT (a round trip
each per write); these tests hold the other half of that bargain: nothing a returned connection
left open reaches the next borrower.
"""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from core.db import Database


async def _rollbacks(conn: Any) -> int:
    """How many ROLLBACKs this connection's server session has run (committed: adds none itself)."""
    count = int((await conn.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()[1])
    await conn.commit()
    return count


def _one_connection_database(url: str) -> Database:
    """Used one checkout at a time, its pool holds a single connection: one server session."""
    if url.startswith("sqlite"):
        pytest.skip("SQLite has no connection pool to reset: MariaDB only")
    return Database(url)


async def test_a_transaction_left_open_is_rolled_back_on_return(database_url: str) -> None:
    db = _one_connection_database(database_url)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("CREATE TEMPORARY TABLE pool_probe (n INT) ENGINE=InnoDB"))
            await conn.commit()
            # Behind SQLAlchemy's back: the driver opens a transaction the Connection knows nothing of.
            raw = (await conn.get_raw_connection()).driver_connection
            async with raw.cursor() as cursor:
                await cursor.execute("INSERT INTO pool_probe VALUES (1)")
            assert raw.get_transaction_status()
        async with db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert not raw.get_transaction_status()
            assert (await conn.execute(text("SELECT COUNT(*) FROM pool_probe"))).scalar() == 0
    finally:
        await db.dispose()


async def test_a_committed_connection_is_returned_without_a_rollback(database_url: str) -> None:
    db = _one_connection_database(database_url)
    try:
        async with db.engine.connect() as conn:
            before = await _rollbacks(conn)
        async with db.engine.begin() as conn:  # a write: commits, then goes back to the pool
            await conn.execute(text("SELECT 1"))
        async with db.engine.connect() as conn:
            assert await _rollbacks(conn) == before
        async with db.engine.connect() as conn:  # a read: its transaction is rolled back, once
            await conn.execute(text("SELECT 1"))
        async with db.engine.connect() as conn:
            assert await _rollbacks(conn) == before + 1
    finally:
        await db.dispose()
