"""Throwaway databases for tests and benchmarks: a uniquely named MariaDB schema, made and dropped.

Plain functions with no pytest in them, so bench/ (which runs from the repository root) can use the
same helper as tests/conftest.py instead of a copy of its own.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core import migrate
from models import DEFAULT_REASON_CATEGORIES, DEFAULT_STOP_REASONS, Base

CHARSET = "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"


async def run_sql(url: str | URL, *statements: str) -> None:
    """Run `statements` in one transaction on the database (or bare server) at `url`."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextmanager
def mariadb_database(url: str, label: str | None = None, *, migrated: bool = True) -> Iterator[str]:
    """A new database beside the one `url` names, migrated unless asked not to; dropped on exit."""
    base = make_url(url)
    # A random suffix: parallel runs of the suite (or a bench) on one server never meet.
    name = f"{label or base.database or 'factory_test'}_{uuid.uuid4().hex[:10]}"
    server = base.set(database="")
    asyncio.run(run_sql(server, f"CREATE DATABASE `{name}` {CHARSET}"))
    try:
        fresh = base.set(database=name).render_as_string(hide_password=False)
        if migrated:
            migrate.upgrade(fresh)
        yield fresh
    finally:
        asyncio.run(run_sql(server, f"DROP DATABASE IF EXISTS `{name}`"))


async def empty_tables(url: str) -> None:
    """Delete every row of every table, so a session's database starts each test as migrated:
    empty but for the reference rows the migrations insert (the standard stop reasons)."""
    statements = [f"DELETE FROM `{table.name}`" for table in reversed(Base.metadata.sorted_tables)]
    reasons = ", ".join(f"('{code}', '{label}', {int(planned)}, 1, NOW(6), NOW(6), {category(code)})"
                        for code, label, planned in DEFAULT_STOP_REASONS)
    await run_sql(url, "SET FOREIGN_KEY_CHECKS=0", *statements, "SET FOREIGN_KEY_CHECKS=1",
                  "INSERT INTO stop_reasons (code, label, planned, active, created_at, updated_at, category) "
                  f"VALUES {reasons}")


def category(code: str) -> str:
    """A standard reason's category as an SQL literal (NULL for one without)."""
    value = DEFAULT_REASON_CATEGORIES.get(code)
    return "NULL" if value is None else f"'{value}'"
