"""A line's machine counts over time, and classifying a stop a machine opened as `unassigned`."""
from __future__ import annotations

from handlers.base import BaseHandler
from schemas.machine import LineCountsQuery, LineCountsSchema
from schemas.stop import StopClassifySchema, StopSchema
from services.floor.machine_counts import line_counts
from services.floor.stops import StopService, classify_stop, line_of_stop


class LineCountsHandler(BaseHandler):
    """`GET /lines/{code}/counts?from&to&bucket=1m|5m|1h`: the trend chart's series."""

    docs = {"GET": {
        "summary": "A line's machine counts per time bucket", "tags": ["lines"], "query": LineCountsQuery,
        "responses": {200: LineCountsSchema},
        "description": "Good, reject, micro-stops (count and seconds) per bucket in [from, to), every "
                       "bucket listed (zeros too), from what the line's machines counted over MQTT. "
                       "At most 2000 buckets; 404 for an unknown line.",
    }}

    async def get(self, code: str) -> None:
        params = self.load_query(LineCountsQuery())
        async with self.ctx.db.session() as session:
            body = await line_counts(session, code, params["from_"], params["to"], params["bucket"])
        self.send_json(body)


class StopClassifyHandler(BaseHandler):
    """`POST /stops/{id}/classify {"reason"}`: any user names the reason of an `unassigned` stop."""

    idempotent = frozenset({"POST"})
    station_line_in_body = False  # a station may only classify its own lines' stops: checked below
    docs = {"POST": {
        "summary": "Give an unassigned stop its reason", "tags": ["stops"], "body": StopClassifySchema,
        "responses": {200: StopSchema}, "errors": (409,),
        "description": "For stops a machine opened without a known reason (`unassigned`). 409 if the "
                       "stop's reason is not `unassigned` (admins correct with PATCH /stops/{id}); 422 "
                       "for an unknown or inactive reason, or `unassigned` itself.",
    }}

    async def post(self, ident: str) -> None:
        data = self.load_body(StopClassifySchema())
        service = StopService(self.ctx.clock)
        async with self.ctx.db.write() as uow:
            if self.principal.kind == "station":
                self.check_station_line(await line_of_stop(uow.session, int(ident)))
            stop = await classify_stop(uow, int(ident), data["reason"], self.principal)
            payload = service.dump(stop)
        self.send_json(payload)
