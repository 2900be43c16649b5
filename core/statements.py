"""Prepared statements for the hottest writes: compiled once, sent straight through the driver.

A SQLAlchemy Core execution costs ~90 µs of CPU on top of the driver's ~30 µs (a greenlet, an
execution context, a cursor wrapper, result metadata); placing an order runs a dozen statements.
`run` sends a statement built once at import (only its parameters change) in the session's own
transaction: on MariaDB as SQL compiled once, through the aiomysql connection under the session;
anywhere else, or for a statement that needs SQLAlchemy at execution time (Python-side defaults,
expanding IN lists, bind processors), through SQLAlchemy as usual. Errors come out as SQLAlchemy's
(IntegrityError, OperationalError, …), and a lost connection is invalidated as SQLAlchemy would.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_DIRECT = "direct statements"  # session.info key: (the transaction, its connections) they ran on


@dataclass(slots=True)
class Outcome:
    """What a statement came to: rows changed, the new row's id, and any rows read."""

    rowcount: int
    lastrowid: int | None
    keys: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def mappings(self) -> Iterator[dict[str, Any]]:
        return (dict(zip(self.keys, row, strict=True)) for row in self.rows)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in the order the SQL takes them
    fixed: dict[str, Any]  # values the statement carries itself (a literal's bind), by name
    # Per result column, SQLAlchemy's conversion of the driver's value (TINYINT 0/1 to a bool), or None.
    processors: tuple[Any, ...] | None


@lru_cache(maxsize=256)
def _compile(statement: Executable, dialect: Dialect, keys: frozenset[str] | None) -> _Compiled | None:
    """The statement as the driver takes it, or None when it needs SQLAlchemy when it runs."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys) if keys is not None else None)
    if not compiled.positional or compiled.post_compile_params or compiled.literal_execute_params:
        return None
    if compiled.insert_prefetch or compiled.update_prefetch:  # a default or onupdate made in Python
        return None
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    if any(bind.type.bind_processor(dialect) or bind.callable is not None for bind in binds):
        return None
    if keys is not None and set(names) != keys:  # an INSERT would take a default computed in Python
        return None
    columns = getattr(statement, "selected_columns", None)
    processors = None
    if columns is not None:
        processors = tuple(column.type.result_processor(dialect, None) for column in columns)
        if not any(processors):
            processors = None
    fixed = {name: bind.value for name, bind in zip(names, binds, strict=True) if not bind.required}
    return _Compiled(compiled.string, names, fixed, processors)


async def run(session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None) -> Outcome:
    """Run `statement` (built once, not per call) with `params` in the session's transaction."""
    params = params or {}
    if session.new or session.dirty or session.deleted:  # what session.execute's autoflush would do
        await session.flush()
    connection = await _connection(session)
    dialect = connection.dialect
    prepared = None
    if dialect.name in ("mysql", "mariadb") and dialect.driver == "aiomysql":
        is_insert = getattr(statement, "is_insert", False)
        prepared = _compile(statement, dialect, frozenset(params) if is_insert else None)
    if prepared is None:
        result = await connection.execute(statement, params)
        rows = [tuple(row) for row in result.all()] if result.returns_rows else []
        keys = tuple(result.keys()) if result.returns_rows else ()
        lastrowid = result.lastrowid if getattr(statement, "is_insert", False) else None
        return Outcome(result.rowcount, lastrowid, keys, rows)
    fixed = prepared.fixed
    args = tuple(params[name] if name in params else fixed[name] for name in prepared.names)
    raw = await connection.get_raw_connection()
    try:
        async with raw.driver_connection.cursor() as cursor:
            await cursor.execute(prepared.sql, args)
            rows = list(await cursor.fetchall()) if cursor.description else []
            if prepared.processors is not None:
                rows = [tuple(value if convert is None else convert(value)
                              for convert, value in zip(prepared.processors, row, strict=True))
                        for row in rows]
            keys = tuple(column[0] for column in cursor.description or ())
            return Outcome(cursor.rowcount, cursor.lastrowid, keys, rows)
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, raw, None)
        if lost:
            await _lost(connection, exc)
        raise DBAPIError.instance(prepared.sql, args, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                                  connection_invalidated=lost, dialect=dialect) from exc
    except (OSError, ConnectionError) as exc:
        await _lost(connection, exc)
        raise


async def _lost(connection: AsyncConnection, exc: BaseException) -> None:
    """As SQLAlchemy does on a disconnect: this connection and every other pooled one is stale
    (the server went away under all of them); the pool is replaced, in-flight ones end with it."""
    await connection.invalidate(exc)
    await connection.engine.dispose(close=False)


async def _connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection in its current transaction (asked for once per transaction)."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_DIRECT)
    if known is not None and known[0] is transaction and transaction is not None:
        return known[1]
    connection = await session.connection()
    session.info[_DIRECT] = (session.sync_session.get_transaction(), connection)
    return connection
