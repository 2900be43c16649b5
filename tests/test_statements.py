"""core/statements.run: the same outcome and the same errors on the direct path (MariaDB through
aiomysql) as through SQLAlchemy (SQLite), inside the caller's transaction."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.statements import run
from models import Customer

customers = Customer.__table__
ADD = insert(customers)
ACTIVE = select(customers.c.id, customers.c.active).where(customers.c.email == bindparam("email"))
ARCHIVE = update(customers).where(customers.c.id == bindparam("ident")).values(active=False)
NOW = datetime(2026, 11, 27, 8, 0)


def _customer(email: str) -> dict[str, object]:
    return {"name": "Ada", "email": email, "phone": "+44 20 7946 0000", "active": True,
            "created_at": NOW, "updated_at": NOW}


async def test_insert_update_select_in_one_transaction(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.write() as uow:
            added = await run(uow.session, ADD, _customer("ada@example.com"))
            assert added.rowcount == 1 and added.lastrowid
            read = await run(uow.session, ACTIVE, {"email": "ada@example.com"})
            assert list(read.mappings()) == [{"id": added.lastrowid, "active": True}]
            assert read.scalar() == added.lastrowid
            assert (await run(uow.session, ARCHIVE, {"ident": added.lastrowid})).rowcount == 1
            assert (await run(uow.session, ARCHIVE, {"ident": added.lastrowid + 1000})).rowcount == 0
        # Committed with the unit of work; a Boolean reads as a bool on both paths.
        async with db.session() as session:
            assert list((await run(session, ACTIVE, {"email": "ada@example.com"})).mappings()) == [
                {"id": added.lastrowid, "active": False}]
            assert (await run(session, ACTIVE, {"email": "nobody@example.com"})).scalar() is None
    finally:
        await db.dispose()


async def test_a_rolled_back_unit_of_work_takes_its_statements_with_it(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(RuntimeError):
            async with db.write() as uow:
                await run(uow.session, ADD, _customer("gone@example.com"))
                raise RuntimeError("abort")
        async with db.session() as session:
            assert (await run(session, ACTIVE, {"email": "gone@example.com"})).scalar() is None
    finally:
        await db.dispose()


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.write() as uow:
            await run(uow.session, ADD, _customer("twice@example.com"))
        with pytest.raises(IntegrityError) as caught:
            async with db.write() as uow:
                await run(uow.session, ADD, _customer("twice@example.com"))
        assert "SQL parameters hidden" in str(caught.value)  # as every statement error logs
        async with db.write() as uow:  # the connection is still good for the next writer
            assert (await run(uow.session, ADD, _customer("after@example.com"))).rowcount == 1
    finally:
        await db.dispose()


def test_statements_that_need_sqlalchemy_when_they_run_take_its_path() -> None:
    """Python-side defaults (an Entity's updated_at) and expanding IN lists are not compiled once."""
    from sqlalchemy.dialects.mysql import aiomysql

    from core.statements import _compile
    from models import Product

    dialect = aiomysql.dialect()
    products = Product.__table__
    assert _compile(update(products).values(stock_quantity=1), dialect, None) is None  # onupdate
    assert _compile(ADD, dialect, frozenset({"name", "email", "phone"})) is None  # created_at default
    assert _compile(select(products.c.id).where(products.c.id.in_(bindparam("ids", expanding=True))),
                    dialect, None) is None
    renamed = update(customers).where(customers.c.id == bindparam("ident")).values(
        name=bindparam("name"), updated_at=bindparam("now"))
    assert _compile(renamed, dialect, None) is not None  # every value bound: compiled once


async def test_a_server_that_dropped_its_connections_costs_one_failed_statement(database_url: str) -> None:
    """With no ping on checkout, the first statement on a dead connection fails (a 503 upstream);
    like SQLAlchemy's own path, that replaces the whole pool, so the next one gets a live link."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to lose: MariaDB only")
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    db = Database(database_url)
    try:
        sessions = [db.session() for _ in range(2)]  # two pooled connections, both idle afterwards
        ids = []
        for opened in sessions:
            session = await opened.__aenter__()
            ids.append((await run(session, select(text("CONNECTION_ID()")))).scalar())
        for opened in sessions:
            await opened.__aexit__(None, None, None)
        outsider = create_async_engine(database_url)  # a connection of its own, not from the pool
        try:
            async with outsider.connect() as killer:
                for ident in ids:
                    await killer.execute(text(f"KILL {int(ident)}"))
        finally:
            await outsider.dispose()
        with pytest.raises(DBAPIError) as lost:
            async with db.write() as uow:
                await run(uow.session, ACTIVE, {"email": "lost@example.com"})
        assert lost.value.connection_invalidated
        for attempt in range(2):  # not another dead one from the old pool
            async with db.write() as uow:
                assert (await run(uow.session, ADD, _customer(f"back{attempt}@example.com"))).rowcount == 1
    finally:
        await db.dispose()
