"""Andon calls: a line calls for help (users), someone acknowledges and resolves it; the list and report."""
from __future__ import annotations

from functools import cache
from typing import Any

from core.cache import CachedResponse
from core.clock import Clock
from handlers.analytics import CSV_TYPE, to_csv, wants_csv
from handlers.base import JSON_TYPE, BaseHandler, dumps, page_envelope
from handlers.resources import CollectionHandler, ItemHandler
from models import CALL_KINDS
from schemas.call import CallOpenSchema, CallReportQuery, CallSchema
from services.floor.calls import (
    REPORT_COLUMNS,
    CallService,
    acknowledge_call,
    call_payload,
    calls_report,
    line_of_call,
    open_call,
    resolve_call,
)

_TAGS = ["calls"]
_SECONDS = {"type": "number", "minimum": 0, "nullable": True}
_COUNT = {"type": "integer", "minimum": 0}
REPORT_ROW = {"type": "object", "properties": {
    "kind": {"type": "string", "enum": list(CALL_KINDS)}, "line": {"type": "string"}, "calls": _COUNT,
    "open": _COUNT, "escalated": _COUNT, "response_mean_seconds": _SECONDS, "response_p90_seconds": _SECONDS,
    "resolution_mean_seconds": _SECONDS, "resolution_p90_seconds": _SECONDS}}


@cache
def call_service(clock: Clock) -> CallService:
    """One service per app clock: its `from`/`to` filters are plant-local days."""
    return CallService(clock)


class LineCallHandler(BaseHandler):
    """`POST /lines/{code}/calls {"kind", "note"?}`: someone at the line calls for help."""

    idempotent = frozenset({"POST"})  # a tablet on flaky Wi-Fi retries: one call, not two

    docs = {"POST": {
        "summary": "Raise an andon call at a line", "tags": _TAGS, "body": CallOpenSchema,
        "responses": {201: CallSchema},
        "description": "Opens a call now, raised by the caller; publishes `call.opened`. Unacknowledged "
                       "after FACTORY_ANDON_ESCALATE_SECONDS (default 300) it is escalated once "
                       "(`call.escalated`). 422 for an unknown or inactive line.",
    }}

    async def post(self, code: str) -> None:
        data = self.load_body(CallOpenSchema())
        async with self.ctx.db.write() as uow:
            payload = call_payload(await open_call(uow, code, data, self.principal, self.ctx.clock.utcnow()))
        self.created(payload, f"/calls/{payload['id']}")


class CallStepHandler(BaseHandler):
    """`POST /calls/{id}/acknowledge` and `POST /calls/{id}/resolve`. Take no body."""

    idempotent = frozenset({"POST"})  # a retried step replays its answer instead of a 409
    station_line_in_body = False  # a station may only answer its own lines' calls: checked below

    def initialize(self, step: str, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.step = step

    def parse_body(self) -> Any:
        return super().parse_body() if self.request.body else None

    async def post(self, ident: str) -> None:
        step = acknowledge_call if self.step == "acknowledge" else resolve_call
        async with self.ctx.db.write() as uow:
            if self.principal.kind == "station":
                self.check_station_line(await line_of_call(uow.session, int(ident)))
            payload = call_payload(await step(uow, int(ident), self.principal, self.ctx.clock.utcnow()))
        self.send_json(payload)


def step_docs(step: str) -> dict[str, Any]:
    if step == "acknowledge":
        summary = "Acknowledge an andon call"
        description = ("Someone answers: `acknowledged_at` is now and `response_seconds` is kept; publishes "
                       "`call.acknowledged`. 409 if the call was acknowledged or resolved already.")
    else:
        summary = "Resolve an andon call"
        description = ("The call is dealt with: `resolved_at` is now and `resolution_seconds` is kept (one "
                       "never acknowledged counts as answered now too); publishes `call.resolved`. 409 if "
                       "it was resolved already.")
    return {"POST": {"summary": summary, "tags": _TAGS, "responses": {200: CallSchema}, "errors": (409,),
                     "description": description}}


class CallListHandler(CollectionHandler):
    """`GET /calls` (paged, by cursor, or CSV); filters on plant-local days need the app's clock.
    Wall displays read it too: the board shows each line's open calls."""

    allow_display = True

    def initialize(self, **kwargs: Any) -> None:
        super().initialize(service=call_service(self.ctx.clock), **kwargs)


class CallItemHandler(ItemHandler):
    def initialize(self, **kwargs: Any) -> None:
        super().initialize(service=call_service(self.ctx.clock), **kwargs)


class CallReportHandler(BaseHandler):
    """`GET /analytics/calls` (admin): counts, mean and p90 response and resolution times."""

    access = {"GET": "admin"}
    budgets = {"GET": "analytics"}
    cache_tags = ("calls",)

    docs = {"GET": {
        "summary": "Andon calls: counts and response and resolution times", "tags": ["analytics"],
        "query": CallReportQuery, "cached": True,
        "responses": {200: {"description": "One row per (kind, line) with calls.", "content": {
            "application/json": {"schema": {
                "type": "object", "required": ["items", "meta"],
                "properties": {"items": {"type": "array", "items": REPORT_ROW},
                               "meta": {"$ref": "#/components/schemas/PageMeta"}}}},
            "text/csv": {"schema": {"type": "string",
                                    "description": "A header line, then one row per item."}},
        }}},
        "description": "Calls opened on the plant-local days `from` … `to` (default the 30 days up to "
                       "today; at most 366), per kind and line: how many, how many are still open and how "
                       "many were escalated; mean and 90th percentile (nearest rank) of response seconds "
                       "(opened → acknowledged) and resolution seconds (opened → resolved), null when there "
                       "are none. "
                       "Filters `line`, `kind`. In kind order (maintenance, quality, material, supervisor), "
                       "then by line; `limit` rows a page. `Accept: text/csv` answers every row as CSV.",
    }}

    async def get(self) -> None:
        params = self.load_query(CallReportQuery())
        as_csv = wants_csv(self.request.headers.get("Accept", ""))

        async def render() -> CachedResponse:
            async with self.ctx.db.session() as session:
                items = await calls_report(session, self.ctx.clock, params)
            if as_csv:
                return CachedResponse.build(to_csv(REPORT_COLUMNS, items), CSV_TYPE,
                                            (("Content-Disposition", 'inline; filename="calls.csv"'),))
            page, limit = params["page"], params["limit"]
            rows = items[(page - 1) * limit:page * limit]
            return CachedResponse.build(dumps(page_envelope(rows, page, limit, len(items))), JSON_TYPE)

        await self.send_rendered(render)
