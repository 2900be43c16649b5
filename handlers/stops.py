"""Stops: open and end a line's stop (users), list them, correct one (admins)."""
from __future__ import annotations

from typing import Any

from core.db import UnitOfWork
from handlers.base import BaseHandler
from handlers.exports import stream_csv, wants_csv
from schemas.openapi import page_of
from schemas.stop import StopCorrectionSchema, StopListQuery, StopOpenSchema, StopSchema
from services.common.crud import Page
from services.floor.stops import StopService, end_stop, open_stop

_TAGS = ["stops"]


class LineStopHandler(BaseHandler):
    """`POST /lines/{code}/stops {"reason", "note"?}`: the line stops now."""

    idempotent = frozenset({"POST"})  # a terminal on flaky Wi-Fi retries: the line stops once

    docs = {"POST": {
        "summary": "Stop a line now", "tags": _TAGS, "body": StopOpenSchema, "responses": {201: StopSchema},
        "errors": (409,),
        "description": "Opens a stop starting now, reported by the caller; publishes `line.stopped`. "
                       "409 if the line is already stopped; 422 for an unknown or inactive line or reason.",
    }}

    async def post(self, code: str) -> None:
        data = self.load_body(StopOpenSchema())
        service = StopService(self.ctx.clock)

        async def stop_the_line(uow: UnitOfWork) -> dict[str, Any]:
            return service.dump(await open_stop(uow, code, data, self.principal, self.ctx.clock.utcnow()))

        payload = await self.ctx.db.transaction(stop_the_line)  # run again if it lost a deadlock
        self.created(payload, f"/stops/{payload['id']}")


class LineStopEndHandler(BaseHandler):
    """`POST /lines/{code}/stops/current/end`: the line runs again. Takes no body."""

    idempotent = frozenset({"POST"})  # a retried end replays the ended stop instead of a 409

    docs = {"POST": {
        "summary": "End a line's open stop", "tags": _TAGS, "responses": {200: StopSchema},
        "errors": (409, 422),
        "description": "The open stop ends now; publishes `line.started`. 409 if the line is not stopped.",
    }}

    def parse_body(self) -> Any:
        return super().parse_body() if self.request.body else None

    async def post(self, code: str) -> None:
        service = StopService(self.ctx.clock)

        async def start_the_line(uow: UnitOfWork) -> dict[str, Any]:
            return service.dump(await end_stop(uow, code, self.ctx.clock.utcnow()))

        self.send_json(await self.ctx.db.transaction(start_the_line))  # run again if it lost a deadlock


class StopListHandler(BaseHandler):
    """`GET /stops`: not cached, since an open stop's duration grows with the clock."""

    docs = {"GET": {
        "summary": "List stops", "tags": _TAGS, "query": StopListQuery,
        "sort_fields": StopService.sort_fields,
        "responses": {200: {
            "description": "One page of stops.",
            "headers": {name: {"$ref": f"#/components/headers/{name}"}
                        for name in ("X-Request-ID", "RateLimit", "RateLimit-Policy", "Link")},
            "content": {"application/json": {"schema": page_of(StopSchema)}}}},
        "description": "Filters: `line`, `reason`, `open`, and `from`/`to` (plant-local dates: stops "
                       "overlapping those days). Default order: started_at. `Accept: text/csv` answers "
                       "every matching stop as CSV instead (filters and sort applied, no paging).",
    }}

    async def get(self) -> None:
        service = StopService(self.ctx.clock)
        params = self.load_query(StopListQuery())
        if wants_csv(self.request.headers.get("Accept", "")):
            await stream_csv(self, service, params, "stops")
            return
        service.sort_clause(params)

        async def compute() -> Page:
            async with self.ctx.db.session() as session:
                return await service.list(session, params)

        await self.send_list(compute)


class StopItemHandler(BaseHandler):
    """`GET /stops/{id}`, and `PATCH` for an admin's correction."""

    docs = {
        "GET": {"summary": "Read a stop", "tags": _TAGS, "responses": {200: StopSchema}},
        "PATCH": {"summary": "Correct a stop", "tags": _TAGS, "body": StopCorrectionSchema,
                  "responses": {200: StopSchema}, "errors": (409,),
                  "description": "Change started_at, ended_at (≥ started_at, not in the future; closing an "
                                 "open stop publishes `line.started`) or reason. 409 if the stop would "
                                 "overlap another stop of its line."},
    }

    async def get(self, ident: str) -> None:
        service = StopService(self.ctx.clock)
        async with self.ctx.db.session() as session:
            self.send_json(service.dump(await service.get(session, int(ident))))

    async def patch(self, ident: str) -> None:
        data = self.load_body(StopCorrectionSchema())
        service = StopService(self.ctx.clock)

        async def correct(uow: UnitOfWork) -> dict[str, Any]:
            return service.dump(await service.update(uow, int(ident), data, self.principal))

        self.send_json(await self.ctx.db.transaction(correct))
