"""Running an import: a request body (validated, then one transaction), or a file of any size.

Rows are read, validated and written a chunk at a time, and the event loop gets a turn between
chunks: a 10 MiB import never holds the server still for more than one chunk's work, so health
checks, the live feed and other requests are answered while it runs.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from core.db import Database
from services.exchange.imports import CHUNK, Importer, ImportRejected, Prepared, Raw, RowError, decode_csv

RULES_CHUNK = CHUNK * 20  # rows whose references and unique values are checked together


def read_csv_body(importer: Importer, body: bytes) -> Iterator[Raw]:
    """The rows of a CSV request body (a JSON array is parsed at the edge, with the JSON bounds)."""
    return importer.read_csv(decode_csv(body))


async def validate(db: Database, importer: Importer, raws: Iterable[Raw],
                   progress: Callable[[str, int], None] | None = None, *, keep: bool = True,
                   source: str = "_body") -> tuple[int, list[Prepared]]:
    """Every row through the schema, the service's rules a chunk at a time; raises on any error.
    Returns the number of rows read and (with `keep`) the valid rows."""
    count, kept, chunk = 0, [], []
    async with db.session() as session:
        for raw in raws:
            count += 1
            if (row := importer.prepare(raw)) is not None:
                chunk.append(row)
            if count % CHUNK == 0:
                if progress is not None:
                    progress("validating", CHUNK)
                await asyncio.sleep(0)  # let the server answer others between chunks
            if len(chunk) >= RULES_CHUNK:
                await importer.check_rules(session, chunk)
                kept += chunk if keep else []
                chunk = []
        await importer.check_rules(session, chunk)
        kept += chunk if keep else []
    if progress is not None:
        progress("validating", count % CHUNK)
    if not count and not importer.error_count:
        raise ImportRejected([RowError(0, source, "There are no rows to import.")], 1)
    importer.raise_if_failed()
    return count, kept


async def import_rows(db: Database, importer: Importer, raws: Iterable[Raw], *, dry_run: bool,
                      actor: Any) -> dict[str, Any]:
    """Validate all rows; unless a dry run, write them in one transaction (all or nothing)."""
    _, prepared = await validate(db, importer, raws)
    result = {"resource": importer.resource, "rows": len(prepared), "restore": importer.restore,
              "dry_run": dry_run, "imported": 0}
    if dry_run:
        return result
    async with db.write() as uow:
        await importer.lock_products(uow)
        written = await importer.write(uow, yielding(prepared), actor)
        importer.summarize(uow, written.count, actor)
    return {**result, "imported": written.count, "first_id": written.first_id, "last_id": written.last_id}


async def yielding(rows: list[Prepared]) -> Any:
    """Rows for a write, the event loop given a turn every chunk."""
    for start in range(0, len(rows), CHUNK):
        for row in rows[start:start + CHUNK]:
            yield row
        await asyncio.sleep(0)


async def import_file(db: Database, importer: Importer, path: Path, *, dry_run: bool,
                      progress: Callable[[str, int], None]) -> dict[str, Any]:
    """A file of any size: a validating pass, then a writing pass in one transaction, a chunk of rows
    in memory at a time; `progress(phase, rows)` reports the rows done."""
    as_csv = path.suffix.lower() != ".json"

    def rows() -> Iterator[Raw]:
        if as_csv:
            with path.open(encoding="utf-8-sig", newline="") as text:
                yield from importer.read_csv(text)
        else:
            yield from importer.read_json(json.loads(path.read_text(encoding="utf-8")))

    # Pass 1: the schema for every row, the service's rules a chunk at a time (bounded memory).
    count, _ = await validate(db, importer, rows(), progress, keep=False, source="_file")
    summary = {"resource": importer.resource, "rows": count, "restore": importer.restore,
               "dry_run": dry_run, "imported": 0}
    if dry_run:
        return summary

    # Pass 2: the same rows again, written as they are read.
    async def valid_rows() -> Any:
        done = 0
        for raw in rows():
            row = importer.prepare(raw)
            if row is not None:
                done += 1
                yield row
                if done % CHUNK == 0:
                    progress("importing", CHUNK)
        progress("importing", done % CHUNK)

    async with db.write() as uow:
        await importer.lock_products(uow)
        written = await importer.write(uow, valid_rows(), None)
        importer.summarize(uow, written.count, None)
    return {**summary, "imported": written.count}
