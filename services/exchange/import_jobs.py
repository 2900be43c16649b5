"""Running an import: a request body (validated, then one transaction), or a file of any size."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.db import Database
from services.exchange.imports import CHUNK, Importer, ImportRejected, Prepared, Raw, RowError, decode_csv


def read_csv_body(importer: Importer, body: bytes) -> Iterator[Raw]:
    """The rows of a CSV request body (a JSON array is parsed at the edge, with the JSON bounds)."""
    return importer.read_csv(decode_csv(body))


async def validate(db: Database, importer: Importer, raws: Iterator[Raw]) -> list[Prepared]:
    """Every row through the schema, then the service's rules over all of them; raises on any error."""
    prepared = [row for raw in raws if (row := importer.prepare(raw)) is not None]
    if not prepared and not importer.error_count:
        raise ImportRejected([RowError(0, "_body", "There are no rows to import.")], 1)
    async with db.session() as session:
        await importer.check_rules(session, prepared)
    importer.raise_if_failed()
    return prepared


async def import_rows(db: Database, importer: Importer, raws: Iterator[Raw], *, dry_run: bool,
                      actor: Any) -> dict[str, Any]:
    """Validate all rows; unless a dry run, write them in one transaction (all or nothing)."""
    prepared = await validate(db, importer, raws)
    result = {"resource": importer.resource, "rows": len(prepared), "restore": importer.restore,
              "dry_run": dry_run, "imported": 0}
    if dry_run:
        return result
    async with db.write() as uow:
        await importer.lock_products(uow, prepared)
        ids = await importer.write(uow, prepared, actor)
        importer.summarize(uow, len(ids), actor)
    return {**result, "imported": len(ids), "first_id": min(ids), "last_id": max(ids)}


async def import_file(db: Database, importer: Importer, path: Path, *, dry_run: bool,
                      progress: Callable[[str, int], None]) -> dict[str, Any]:
    """A file of any size: a validating pass, then a writing pass in one transaction, flushed and
    released from memory every few hundred rows; `progress(phase, rows)` reports each row done."""
    as_csv = path.suffix.lower() != ".json"

    def rows() -> Iterator[Raw]:
        if as_csv:
            with path.open(encoding="utf-8-sig", newline="") as text:
                yield from importer.read_csv(text)
        else:
            yield from importer.read_json(json.loads(path.read_text(encoding="utf-8")))

    # Pass 1: the schema for every row, the service's rules a chunk at a time (bounded memory).
    count = 0
    chunk: list[Prepared] = []
    async with db.session() as session:
        for raw in rows():
            count += 1
            progress("validating", 1)
            if (row := importer.prepare(raw)) is not None:
                chunk.append(row)
            if len(chunk) >= CHUNK * 20:
                await importer.check_rules(session, chunk)
                chunk = []
        await importer.check_rules(session, chunk)
    if not count and not importer.error_count:
        raise ImportRejected([RowError(0, "_file", "There are no rows to import.")], 1)
    importer.raise_if_failed()
    summary = {"resource": importer.resource, "rows": count, "restore": importer.restore,
               "dry_run": dry_run, "imported": 0}
    if dry_run:
        return summary
    # Pass 2: the same rows again, written as they are read.
    imported = 0

    def valid_rows() -> Iterator[Prepared]:
        nonlocal imported
        for raw in rows():
            row = importer.prepare(raw)
            if row is not None:
                imported += 1
                progress("importing", 1)
                yield row

    async with db.write() as uow:
        ids = await importer.write(uow, valid_rows(), None)
        importer.summarize(uow, len(ids), None)
    return {**summary, "imported": imported}
