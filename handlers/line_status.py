"""`GET /lines/status`: every active line's state, plan and OEE now — for users and wall displays."""
from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler
from services.floor.line_status import line_statuses

_RATIO = {"type": "number", "nullable": True, "minimum": 0}
_TIME = {"type": "string", "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "line": {"type": "string"}, "name": {"type": "string"},
        "state": {"type": "string", "enum": ["running", "stopped", "idle", "offline"]},
        "offline_since": {**_TIME, "nullable": True,
                          "description": "Lines with machines: since when all of them are offline"},
        "micro_stops": {"type": "object", "description": "Lines with machines: short gaps between counts "
                        "in the running shift instance", "properties": {
                            "count": _COUNT, "seconds": {"type": "number", "minimum": 0}}},
        "stop": {"type": "object", "nullable": True, "properties": {
            "id": {"type": "integer"}, "reason": {"type": "string"}, "label": {"type": "string"},
            "planned": {"type": "boolean"}, "started_at": _TIME}},
        "shift": {"type": "object", "nullable": True, "properties": {
            "name": {"type": "string"}, "date": {"type": "string", "format": "date"}, "starts_at": _TIME,
            "ends_at": _TIME, "elapsed": {"type": "number", "minimum": 0, "maximum": 1}}},
        "plan": {"type": "object", "properties": {
            "planned_quantity": _COUNT, "good": _COUNT, "defective": _COUNT, "expected_by_now": _COUNT,
            "pace": _RATIO}},
        "oee": {"type": "object", "properties": {
            "availability": _RATIO, "performance": _RATIO, "quality": _RATIO, "oee": _RATIO}},
        "as_of": _TIME,
    },
}
FORMULAS = (
    "For every active line, ordered by code. `idle`: no shift instance now; `stopped`: a stop is open. "
    "For the running instance: planned_quantity = Σ its work orders not cancelled; good/defective from "
    "its records (line, shift, date); expected_by_now = ⌊planned_quantity × elapsed⌋ where elapsed is the "
    "share of the window's wall time gone by; pace = good / expected_by_now (null when 0). OEE so far: "
    "P = elapsed × (duration − break) − planned stops, U = unplanned stop time since the start; "
    "availability = (P − U) / P; performance = Σ(ideal_cycle_seconds × produced) / (P − U), null if a "
    "product lacks ideal_cycle_seconds or P − U = 0; quality = good / produced (null when nothing was "
    "produced); oee = A × P × Q, null if a factor is. Ratios are rounded to four decimals. Not cached: "
    "the figures move with the clock. Display tokens may read it; the `lines` topic of /ws carries each "
    "line's object as `line.status` after every change, at most once a second per line."
)


class LineStatusHandler(BaseHandler):
    """Uncached: elapsed time changes the figures between writes."""

    allow_display = True
    docs = {"GET": {
        "summary": "Live status of every line", "tags": ["lines"], "description": FORMULAS,
        "responses": {200: {"type": "object", "required": ["items"],
                            "properties": {"items": {"type": "array", "items": STATUS_SCHEMA}}}},
    }}

    async def get(self) -> None:
        async with self.ctx.db.session() as session:
            items = await line_statuses(session, self.ctx.clock)
        self.send_json({"items": items})
