"""`Accept: text/csv` on a list: every matching row, streamed batch by batch (no paging, no cache)."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.iostream import StreamClosedError

from handlers.analytics import wants_csv
from handlers.base import BaseHandler
from services.common.crud import CrudService, Page
from services.exchange import csv_io
from services.exchange.exports import export_batches

log = logging.getLogger("factory.http")

__all__ = ["send_csv", "send_every_page_csv", "stream_csv", "wants_csv"]


def send_csv(handler: BaseHandler, header: list[str], rows: list[dict[str, Any]], filename: str) -> None:
    """A short list (read whole, not streamed) as one CSV body, with the export's headers."""
    handler.set_header("Content-Type", csv_io.CSV_TYPE)
    handler.set_header("Content-Disposition", f'attachment; filename="{filename}.csv"')
    handler.set_header("Vary", "Authorization, Accept, Origin")
    if handler.request.method == "HEAD":
        handler.finish()
        return
    handler.finish(csv_io.render(header, rows, with_header=True).encode())


async def send_every_page_csv(handler: BaseHandler, fetch: Callable[[int, int], Awaitable[Page]],
                              header: list[str], filename: str) -> None:
    """A list of a few dozen rows (a plant's screens, its tablets): every page of `fetch(page,
    per_page)` read, then one CSV body."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        found = await fetch(page, 100)
        rows += found.items
        if len(found.items) < 100:
            break
        page += 1
    send_csv(handler, header, rows, filename)


async def stream_csv(handler: BaseHandler, service: CrudService, params: dict[str, Any],
                     filename: str) -> None:
    """Write the header, then flush each keyset batch as it comes, so memory stays one batch deep.

    Exports skip the response cache (a million-row body is not worth keeping); token, role and
    rate budget were checked by `prepare` as for any GET. Once the first batch is out the status is
    sent: a failure after that can only cut the stream short (logged), never become a 4xx/5xx.
    """
    service.sort_clause(params)  # an unknown sort_by is a 400 while one can still be sent
    schema = service.schema()
    header = csv_io.columns(schema)
    handler.set_header("Content-Type", csv_io.CSV_TYPE)
    handler.set_header("Content-Disposition", f'attachment; filename="{filename}.csv"')
    handler.set_header("Vary", "Authorization, Accept, Origin")
    if handler.request.method == "HEAD":
        handler.finish()
        return
    handler.write(csv_io.render(header, (), with_header=True).encode())
    rows = 0
    try:
        async for batch in export_batches(handler.ctx.db, service, params):
            lines = [row for item in batch for row in csv_io.flat_rows(schema, item)]
            handler.write(csv_io.render(header, lines).encode())
            rows += len(batch)
            await handler.flush()  # waits for the socket: a slow reader slows the export, not memory
    except StreamClosedError:
        log.info("[%s] export of %s stopped: the client went away after %d rows",
                 handler.request_id, service.name, rows)
        return
    except Exception:
        if not handler._headers_written:
            raise  # nothing sent yet: the usual problem+json answer
        log.exception("[%s] export of %s failed after %d rows", handler.request_id, service.name, rows)
        handler.request.connection.close()
        return
    handler.finish()
