"""Secondary indexes set aside while the seed loads empty tables, and built after it by sort."""
from __future__ import annotations

import asyncio
import re

import aiomysql

from core.db import Database

# A plain (non-unique) secondary key in SHOW CREATE TABLE: "  KEY `name` (`a`,`b`),".
PLAIN_KEY = re.compile(r"^\s*KEY `(?P<name>[^`]+)` (?P<definition>.+?),?$")


class DeferredIndexes:
    """On MySQL/MariaDB: drops the plain secondary keys of empty tables before a bulk load and adds
    them back after it, one `ALTER TABLE … ADD KEY …, ADD KEY …` per table.

    Loaded row by row, every secondary key is a B-tree insert at a random place, and once a table's
    keys outgrow the buffer pool each one costs page reads and writes; ADD KEY over the loaded table
    sorts each key's entries and writes the index once. Keys come back exactly as SHOW CREATE TABLE
    showed them, in the same order; unique keys stay (they check the rows). On SQLite, or for a
    table that has rows, nothing is set aside. A table can be built while others still load
    (`build_soon`); leaving the block builds the rest, also after an error.
    """

    def __init__(self, db: Database, tables: tuple[str, ...]) -> None:
        self.db = db
        self.tables = tables
        self.set_aside: dict[str, list[str]] = {}  # table: its keys' definitions, in order
        self.building: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> DeferredIndexes:
        if self.db.is_sqlite:
            return self
        conn = await self._connect()
        try:
            for table in self.tables:
                keys = await self._plain_keys(conn, table)
                if keys and not await self._has_rows(conn, table):
                    await self._execute(conn, f"ALTER TABLE `{table}` "
                                              + ", ".join(f"DROP KEY `{name}`" for name in keys))
                    self.set_aside[table] = [f"ADD KEY `{name}` {key}" for name, key in keys.items()]
        except BaseException:
            conn.close()
            await self.__aexit__()
            raise
        conn.close()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.build_soon(*self.set_aside)
        tasks, self.building = self.building, []
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = next((result for result in results if isinstance(result, BaseException)), None)
        if failed is not None and (not exc or exc[0] is None):
            raise failed

    def build_soon(self, *tables: str) -> None:
        """Start adding back the keys of `tables` (whose rows have all landed) on a connection of
        their own, while the caller goes on."""
        for table in tables:
            keys = self.set_aside.pop(table, None)
            if keys:
                self.building.append(asyncio.create_task(self._build(table, keys)))

    async def _build(self, table: str, keys: list[str]) -> None:
        conn = await self._connect()
        try:
            await self._execute(conn, f"ALTER TABLE `{table}` " + ", ".join(keys))
        finally:
            conn.close()

    async def _connect(self) -> aiomysql.Connection:
        _, options = self.db.engine.dialect.create_connect_args(self.db.engine.url)
        conn = await aiomysql.connect(**{**options, "autocommit": True})
        # A key backing a foreign key may only be dropped with the checks off; the seed's writers
        # have them off too, so nothing looks for the key meanwhile.
        await self._execute(conn, "SET SESSION foreign_key_checks = 0")
        return conn

    @staticmethod
    async def _execute(conn: aiomysql.Connection, statement: str) -> list[tuple]:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
            return list(await cursor.fetchall())

    async def _plain_keys(self, conn: aiomysql.Connection, table: str) -> dict[str, str]:
        ((_, create),) = await self._execute(conn, f"SHOW CREATE TABLE `{table}`")
        return {match["name"]: match["definition"] for line in create.splitlines()
                if (match := PLAIN_KEY.match(line))}

    async def _has_rows(self, conn: aiomysql.Connection, table: str) -> bool:
        return bool(await self._execute(conn, f"SELECT 1 FROM `{table}` LIMIT 1"))
