"""`GET /shifts/current`: the shift instance running now on the plant's clock, and the next one."""
from __future__ import annotations

from core.cache import CachedResponse
from handlers.analytics import CSV_TYPE, to_csv
from handlers.base import JSON_TYPE, BaseHandler, dumps
from handlers.exports import wants_csv
from schemas.shift import CurrentShiftSchema, ShiftHistorySchema
from services.floor.shift_time import current_instance, next_instance
from services.floor.shifts import ShiftService, all_shifts

SHIFTS = ShiftService()

_schema = CurrentShiftSchema()


class CurrentShiftHandler(BaseHandler):
    """Not cached: the answer changes with the clock, not only with writes."""

    docs = {"GET": {
        "summary": "The running shift instance and the next one", "tags": ["shifts"],
        "responses": {200: CurrentShiftSchema},
        "description": "`current` is the instance whose window holds now (null between shifts); "
                       "`next` the first one to start after now. `date` is the plant-local date the "
                       "instance starts; `starts_at`/`ends_at` are UTC.",
    }}

    async def get(self) -> None:
        clock = self.ctx.clock
        async with self.ctx.db.session() as session:
            shifts = await all_shifts(session)
        now = clock.now()
        current = current_instance(shifts, now, clock.zone)
        upcoming = next_instance(shifts, now, clock.zone)
        self.send_json(_schema.dump({"current": current and current.as_dict(),
                                     "next": upcoming and upcoming.as_dict()}))


_history = ShiftHistorySchema()
HISTORY_COLUMNS = ("effective_from", "effective_to", "starts_at", "ends_at", "break_minutes", "breaks",
                   "days")


class ShiftHistoryHandler(BaseHandler):
    """`GET /shifts/{id}/history`: the shift's definitions over time, JSON or CSV."""

    cache_tags = ("shifts",)
    docs = {"GET": {
        "summary": "A shift's definitions over time", "tags": ["shifts"], "cached": True,
        "responses": {200: ShiftHistorySchema},
        "description": "Every version of the shift's times, breaks and days, oldest first: instances "
                       "starting (plant-local date) from `effective_from` to `effective_to` run under "
                       "it. A change applies from the next instance that has not started, or from the "
                       "`effective_from` it names; past instances, reports and figures keep the version "
                       "they ran under. `Accept: text/csv` gives the versions as CSV.",
    }}

    async def get(self, ident: str) -> None:
        as_csv = wants_csv(self.request.headers.get("Accept", ""))

        async def render() -> CachedResponse:
            async with self.ctx.db.session() as session:
                history = _history.dump(await SHIFTS.history(session, int(ident)))
            if as_csv:
                rows = [{**item, "days": ",".join(item["days"]),
                         "breaks": ",".join(f"{b['starts_at']}/{b['minutes']}" for b in item["breaks"])}
                        for item in history["items"]]
                return CachedResponse.build(to_csv(HISTORY_COLUMNS, rows), CSV_TYPE, (
                    ("Content-Disposition", f'inline; filename="shift-{int(ident)}-history.csv"'),))
            return CachedResponse.build(dumps(history), JSON_TYPE)

        await self.send_rendered(render)
