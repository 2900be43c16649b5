"""Bulk loading for the seed: batches of row tuples, as fast as each backend takes them."""
from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiomysql

from core.db import Database

MYSQL_WRITERS = 3


class BulkWriter:
    """Writes batches of rows: executemany on SQLite; on MySQL, `LOAD DATA LOCAL INFILE` of
    tab-separated text that several connections run while the caller makes the next batch.

    LOAD DATA costs MariaDB markedly less CPU than multi-row INSERTs of the same rows (no SQL to
    parse); a server with local_infile off gets the multi-row INSERTs instead. The first batch of
    each table lands before any other is sent: two sessions writing one empty table with key
    checks off deadlock on its table lock (MariaDB's empty-table bulk insert).

    Rows are the seed's own values (ints, and text free of tabs, newlines and backslashes),
    formatted with a per-table template: the seed never writes user input through this path.
    """

    def __init__(self, db: Database, columns: dict[str, tuple[str, ...]], text_columns: set[str],
                 on_written: Callable[[int], object] = lambda rows: None) -> None:
        self.db = db
        self.columns = columns
        self.text_columns = text_columns
        self.templates: dict[str, str] = {}
        self.separator = ""
        self.infile = True
        self.on_written = on_written
        self.queue: asyncio.Queue[tuple[str, str, int, int] | None] = asyncio.Queue(maxsize=MYSQL_WRITERS * 2)
        self.workers: list[asyncio.Task[None]] = []
        self.started: set[str] = set()
        self.error: BaseException | None = None
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    async def __aenter__(self) -> BulkWriter:
        if not self.db.is_sqlite:
            self.infile = await self._server_allows_local_infile()
            quote, self.separator = ("", "") if self.infile else ("'", ",")
            fields = [[f"{quote}%s{quote}" if name in self.text_columns else "%d" for name in names]
                      for names in self.columns.values()]
            self.templates = {table: "\t".join(row) + "\n" if self.infile else "(" + ",".join(row) + ")"
                              for table, row in zip(self.columns, fields, strict=True)}
            self.folder = tempfile.TemporaryDirectory(prefix="factory-seed-")
            self.workers = [asyncio.create_task(self._mysql_worker(Path(self.folder.name) / f"{n}.tsv"))
                            for n in range(MYSQL_WRITERS)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for _ in self.workers:
                await self.queue.put(None)
            await asyncio.gather(*self.workers)
        finally:
            if self.folder is not None:
                self.folder.cleanup()
        if self.error is not None and exc[0] is None:
            raise self.error

    async def insert(self, table: str, rows: list[tuple], *, counted: bool = True) -> None:
        """Queue (MySQL) or write (SQLite) one batch; `counted` rows advance the progress report."""
        if not rows:
            return
        if self.error is not None:
            raise self.error
        if self.db.is_sqlite:
            names = ", ".join(f"`{name}`" for name in self.columns[table])  # `key` is a keyword
            marks = ", ".join("?" * len(self.columns[table]))
            async with self.db.engine.begin() as conn:
                await conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            self.on_written(len(rows) if counted else 0)
            return
        template = self.templates[table]
        await self.queue.put((table, self.separator.join([template % row for row in rows]), len(rows),
                              len(rows) if counted else 0))
        if table not in self.started:  # see the class's docstring
            self.started.add(table)
            await self.drain()

    async def execute(self, statement: str, rows: list[tuple]) -> None:
        """A `?`-parameterised statement once per row, after every queued batch has landed."""
        await self.drain()
        async with self.db.engine.begin() as conn:
            await conn.exec_driver_sql(statement if self.db.is_sqlite else statement.replace("?", "%s"), rows)

    async def drain(self) -> None:
        await self.queue.join()
        if self.error is not None:
            raise self.error

    async def _mysql_worker(self, path: Path) -> None:
        conn = None
        try:
            conn = await self._connect()
        except Exception as exc:
            self.error = self.error or exc
        # Keep taking jobs after a failure, so the producer never blocks on a full queue.
        while (job := await self.queue.get()) is not None:
            try:
                if self.error is None and conn is not None:
                    await self._load(conn, path, *job)
            except Exception as exc:
                self.error = self.error or exc
            finally:
                self.queue.task_done()
        self.queue.task_done()
        if conn is not None:
            conn.close()

    async def _server_allows_local_infile(self) -> bool:
        async with self.db.engine.connect() as conn:
            return bool((await conn.exec_driver_sql("SELECT @@local_infile")).scalar())

    async def _connect(self) -> aiomysql.Connection:
        _, options = self.db.engine.dialect.create_connect_args(self.db.engine.url)
        conn = await aiomysql.connect(**{**options, "local_infile": True, "autocommit": True})
        async with conn.cursor() as cursor:
            # Consistent rows into empty tables: per-row key checks would only cost time.
            await cursor.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        return conn

    async def _load(self, conn: aiomysql.Connection, path: Path, table: str, text: str, rows: int,
                    counted: int) -> None:
        names = ", ".join(f"`{name}`" for name in self.columns[table])  # `key` is a keyword
        async with conn.cursor() as cursor:
            if self.infile:
                path.write_text(text, encoding="utf-8")
                loaded = await cursor.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE `{table}` "
                                              f"CHARACTER SET utf8mb4 ({names})")
            else:
                loaded = await cursor.execute(f"INSERT INTO `{table}` ({names}) VALUES {text}")
            # LOAD DATA LOCAL skips duplicate keys and coerces bad values with only a warning.
            await cursor.execute("SELECT @@warning_count")
            (warnings,) = await cursor.fetchone()
        if loaded != rows or warnings:
            raise RuntimeError(f"{table}: loaded {loaded} of {rows} rows with {warnings} warnings")
        self.on_written(counted)
