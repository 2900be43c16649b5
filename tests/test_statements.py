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
