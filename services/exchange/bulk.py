"""Bulk loading for the seed: batches of row tuples, as fast as each backend takes them."""
from __future__ import annotations

import asyncio
import queue
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pymysql

from core.db import Database

MYSQL_WRITERS = 3


class BulkWriter:
    """Writes batches of rows: executemany on SQLite; on MySQL, `LOAD DATA LOCAL INFILE` of
    tab-separated text that writer threads send on connections of their own while the caller
    makes the next batch.

    Threads, not tasks on the caller's event loop: making rows keeps that loop busy for hundreds
    of milliseconds at a time, and MariaDB asks for a LOAD DATA file only after the statement
    arrives, so a task's load would wait for the loop while the server sits idle. A thread waits
    on its socket without the GIL and answers between the maker's bytecodes.

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
        self.jobs: queue.Queue[tuple[str, str, int, int] | None] = queue.Queue(maxsize=MYSQL_WRITERS * 2)
        self.workers: list[threading.Thread] = []
        self.written = threading.Lock()  # one progress report at a time
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
            _, options = self.db.engine.dialect.create_connect_args(self.db.engine.url)
            self.workers = [threading.Thread(target=self._mysql_worker, name=f"bulk-writer-{n}", daemon=True,
                                             args=(options, Path(self.folder.name) / f"{n}.tsv"))
                            for n in range(MYSQL_WRITERS)]
            for worker in self.workers:
                worker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for _ in self.workers:
                await self._put(None)
            for worker in self.workers:
                await asyncio.to_thread(worker.join)
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
        await self._put((table, self.separator.join([template % row for row in rows]), len(rows),
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
        if self.workers:
            await asyncio.to_thread(self.jobs.join)
        if self.error is not None:
            raise self.error

    async def _put(self, job: tuple[str, str, int, int] | None) -> None:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:  # the writers are behind: wait for them off the event loop
            await asyncio.to_thread(self.jobs.put, job)

    def _mysql_worker(self, options: dict[str, object], path: Path) -> None:
        conn = None
        try:
            conn = self._connect(options)
        except Exception as exc:
            self.error = self.error or exc
        # Keep taking jobs after a failure, so the producer never blocks on a full queue.
        while (job := self.jobs.get()) is not None:
            try:
                if self.error is None and conn is not None:
                    self._load(conn, path, *job)
            except Exception as exc:
                self.error = self.error or exc
            finally:
                self.jobs.task_done()
        self.jobs.task_done()
        if conn is not None:
            conn.close()

    async def _server_allows_local_infile(self) -> bool:
        async with self.db.engine.connect() as conn:
            return bool((await conn.exec_driver_sql("SELECT @@local_infile")).scalar())

    @staticmethod
    def _connect(options: dict[str, object]) -> pymysql.connections.Connection:
        options = {**options, "local_infile": True, "autocommit": True}
        options["database"] = options.pop("db", None)  # aiomysql's name for it; PyMySQL's is deprecated
        conn = pymysql.connect(**options)
        with conn.cursor() as cursor:
            # Consistent rows into empty tables: per-row key checks would only cost time.
            cursor.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        return conn

    def _load(self, conn: pymysql.connections.Connection, path: Path, table: str, text: str, rows: int,
              counted: int) -> None:
        names = ", ".join(f"`{name}`" for name in self.columns[table])  # `key` is a keyword
        with conn.cursor() as cursor:
            if self.infile:
                path.write_text(text, encoding="utf-8")
                loaded = cursor.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE `{table}` "
                                        f"CHARACTER SET utf8mb4 ({names})")
            else:
                loaded = cursor.execute(f"INSERT INTO `{table}` ({names}) VALUES {text}")
            # LOAD DATA LOCAL skips duplicate keys and coerces bad values with only a warning.
            cursor.execute("SELECT @@warning_count")
            (warnings,) = cursor.fetchone()
        if loaded != rows or warnings:
            raise RuntimeError(f"{table}: loaded {loaded} of {rows} rows with {warnings} warnings")
        with self.written:
            self.on_written(counted)
