"""`GET /shifts/current`: the shift instance running now on the plant's clock, and the next one."""
from __future__ import annotations

from handlers.base import BaseHandler
from schemas.shift import CurrentShiftSchema
from services.floor.shift_time import current_instance, next_instance
from services.floor.shifts import all_shifts

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
