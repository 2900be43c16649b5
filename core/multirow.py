"""Multi-row INSERTs for bulk writes: one statement for many rows, in the session's transaction.

`insert_many(session, statement, rows)` writes `rows` (dicts with the same keys) with an INSERT
built once (an `ON DUPLICATE KEY UPDATE` suffix included). On MariaDB the rows are rendered into
one `INSERT … VALUES (…), (…)` with the driver's own escaping — what its `executemany` does, but
with each repeated value (a chunk's timestamps, a status) escaped once, and never split into
several statements, so the rows' auto-increment ids are known (see `first_id`). SQLite takes the
statement with its parameters (`executemany`). On both, a column with a fixed Python-side default
that the rows leave out takes that default, as an ORM insert would.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Executable, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

# As the driver splits an INSERT for executemany: prefix, one row's "(%s, …)", and the suffix.
_INSERT_VALUES = re.compile(r"\s*((?:INSERT|REPLACE)\s.+\sVALUES?\s+)(\(\s*%s\s*(?:,\s*%s\s*)*\))"
                            r"(\s*(?:ON DUPLICATE.*)?);?\s*\Z", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Written:
    """What one multi-row INSERT did: rows affected, and the first new auto-increment id."""

    rowcount: int
    first_id: int | None


@dataclass(frozen=True, slots=True)
class _Template:
    prefix: str
    row: str  # "(%s, %s, …)"
    suffix: str
    names: tuple[str, ...]


@lru_cache(maxsize=64)
def _template(statement: Executable, dialect: Dialect, names: tuple[str, ...]) -> _Template:
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    match = _INSERT_VALUES.match(compiled.string)
    if match is None or not compiled.positional:
        raise ValueError(f"not a plain INSERT … VALUES: {compiled.string[:80]}")
    order = tuple(compiled.positiontup or ())
    if set(order) != set(names):
        raise ValueError("the statement takes parameters other than the rows' columns")
    return _Template(match.group(1) % (), match.group(2), match.group(3) or "", order)


class _Literals:
    """SQL literals through the driver's `escape`; repeated values escaped once."""

    def __init__(self, escape: Any) -> None:
        self.escape = escape
        self.known: dict[tuple[type, Any], str] = {}

    def __call__(self, value: Any) -> str:
        kind = type(value)
        if kind is int:
            return str(value)
        if value is None:
            return "NULL"
        if kind is Decimal:
            return format(value, "f")  # as the driver escapes a Decimal
        literal = self.known.get((kind, value))
        if literal is None:
            literal = self.known[(kind, value)] = self.escape(value)
        return literal


@lru_cache(maxsize=64)
def _scalar_defaults(table: Table, given: frozenset[str]) -> tuple[tuple[str, Any], ...]:
    """The fixed Python-side defaults of `table`'s columns that are not among `given`."""
    return tuple((column.key, column.default.arg) for column in table.c
                 if column.key not in given and column.default is not None and column.default.is_scalar)


def with_defaults(statement: Executable, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """`rows` with the fixed defaults of the columns they leave out filled in."""
    table = getattr(statement, "table", None)
    if not rows or not isinstance(table, Table):
        return rows
    missing = _scalar_defaults(table, frozenset(rows[0]))
    return [{**dict(missing), **row} for row in rows] if missing else rows


async def insert_many(session: AsyncSession, statement: Executable,
                      rows: Sequence[dict[str, Any]]) -> Written:
    """Insert `rows` with `statement` (built once) as one multi-row INSERT."""
    if not rows:
        return Written(0, None)
    rows = with_defaults(statement, rows)
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name not in ("mysql", "mariadb") or dialect.driver != "aiomysql":
        result = await connection.execute(statement, list(rows))
        last = (await connection.exec_driver_sql("SELECT last_insert_rowid()")).scalar() \
            if dialect.name == "sqlite" else None
        return Written(result.rowcount, None if last is None else last - len(rows) + 1)
    template = _template(statement, dialect, tuple(rows[0]))
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    literal = _Literals(driver.escape)
    shape, names = template.row, template.names
    values = ",".join([shape % tuple([literal(row[name]) for name in names]) for row in rows])
    sql = template.prefix + values + template.suffix
    try:
        async with driver.cursor() as cursor:
            await cursor.execute(sql)
            return Written(cursor.rowcount, cursor.lastrowid)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(template.prefix + "…", None, exc, dialect.loaded_dbapi.Error,
                                  hide_parameters=True, dialect=dialect) from exc
