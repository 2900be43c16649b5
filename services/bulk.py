"""Bulk loading for the seed: batches of row tuples, as fast as each backend takes them."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.db import Database

MYSQL_WRITERS = 3


class BulkWriter:
    """Writes batches of rows: executemany on SQLite; on MySQL, multi-row INSERTs that several
    connections run while the caller makes the next batch.

    Rows are the seed's own values (ints and strings free of quotes and backslashes), formatted
    with a per-table template: the seed never writes user input through this path.
    """

    def __init__(self, db: Database, columns: dict[str, tuple[str, ...]], text_columns: set[str],
                 on_written: Callable[[int], object] = lambda rows: None) -> None:
        self.db = db
        self.columns = columns
        self.templates = {table: "(" + ",".join("'%s'" if name in text_columns else "%d" for name in names)
                          + ")" for table, names in columns.items()}
        self.on_written = on_written
        self.queue: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue(maxsize=MYSQL_WRITERS * 2)
        self.workers: list[asyncio.Task[None]] = []
        self.error: BaseException | None = None

    async def __aenter__(self) -> BulkWriter:
        if not self.db.is_sqlite:
            self.workers = [asyncio.create_task(self._mysql_worker()) for _ in range(MYSQL_WRITERS)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for _ in self.workers:
            await self.queue.put(None)
        await asyncio.gather(*self.workers)
        if self.error is not None and exc[0] is None:
            raise self.error

    async def insert(self, table: str, rows: list[tuple], *, counted: bool = True) -> None:
        """Queue (MySQL) or write (SQLite) one batch; `counted` rows advance the progress report."""
        if not rows:
            return
        if self.error is not None:
            raise self.error
        names = ", ".join(self.columns[table])
        if self.db.is_sqlite:
            marks = ", ".join("?" * len(self.columns[table]))
            async with self.db.engine.begin() as conn:
                await conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            self.on_written(len(rows) if counted else 0)
            return
        template = self.templates[table]
        values = ",".join([template % row for row in rows])
        await self.queue.put((f"INSERT INTO `{table}` ({names}) VALUES {values}",
                              len(rows) if counted else 0))

    async def execute(self, statement: str, rows: list[tuple]) -> None:
        """A `?`-parameterised statement once per row, after every queued insert has landed."""
        await self.drain()
        async with self.db.engine.begin() as conn:
            await conn.exec_driver_sql(statement if self.db.is_sqlite else statement.replace("?", "%s"), rows)

    async def drain(self) -> None:
        await self.queue.join()
        if self.error is not None:
            raise self.error

    async def _mysql_worker(self) -> None:
        async with self.db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            async with raw.cursor() as cursor:
                # Consistent rows into empty tables: per-row key checks would only cost time.
                await cursor.execute("SET SESSION foreign_key_checks = 0, unique_checks = 0")
                while (job := await self.queue.get()) is not None:
                    try:
                        if self.error is None:
                            await cursor.execute(job[0])
                            await raw.commit()
                            self.on_written(job[1])
                    except BaseException as exc:  # keep taking jobs so the producer never blocks
                        self.error = exc
                    finally:
                        self.queue.task_done()
                self.queue.task_done()
