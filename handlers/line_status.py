"""`GET /lines/status`: every active line's state, plan and OEE now — for users and wall displays."""
from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler
from services.floor.line_status import plant_status

_RATIO = {"type": "number", "nullable": True, "minimum": 0}
_TIME = {"type": "string", "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "line": {"type": "string"}, "name": {"type": "string"},
        "state": {"type": "string", "enum": ["running", "stopped", "idle", "offline"]},
        "scheduled": {"type": "boolean", "description": "false: the line's instance has no work order, "
                                                        "no production and no stop (not in plant OEE)"},
        "warnings": {"type": "array", "items": {"type": "string", "enum": ["performance_over_100"]}},
        "offline_since": {**_TIME, "nullable": True,
                          "description": "Lines with machines: since when all of them are offline"},
        "micro_stops": {"type": "object", "description": "Lines with machines: short gaps between counts "
                        "in the running shift instance", "properties": {
                            "count": _COUNT, "seconds": {"type": "number", "minimum": 0}}},
        "stop": {"type": "object", "nullable": True, "properties": {
            "id": {"type": "integer"}, "reason": {"type": "string"}, "label": {"type": "string"},
            "planned": {"type": "boolean"}, "category": {"type": "string", "nullable": True},
            "started_at": _TIME}},
        "shift": {"type": "object", "nullable": True, "properties": {
            "name": {"type": "string"}, "date": {"type": "string", "format": "date"}, "starts_at": _TIME,
            "ends_at": _TIME, "elapsed": {"type": "number", "minimum": 0, "maximum": 1},
            "on_break": {"type": "boolean"}, "break_ends_at": {**_TIME, "nullable": True}}},
        "plan": {"type": "object", "properties": {
            "planned_quantity": _COUNT, "good": _COUNT, "defective": _COUNT, "expected_by_now": _COUNT,
            "pace": _RATIO}},
        "oee": {"type": "object", "properties": {
            "availability": _RATIO, "performance": _RATIO, "quality": _RATIO, "oee": _RATIO}},
        "as_of": _TIME,
    },
}
STATUS_SCHEMA["properties"]["last_shift"] = {
    "type": "object", "nullable": True,
    "description": "While idle: the result of the line's last finished (scheduled) instance",
    "properties": {"name": {"type": "string"}, "date": {"type": "string", "format": "date"},
                   "starts_at": _TIME, "ends_at": _TIME, "plan": STATUS_SCHEMA["properties"]["plan"],
                   "oee": STATUS_SCHEMA["properties"]["oee"],
                   "warnings": STATUS_SCHEMA["properties"]["warnings"]}}
PLANT_SCHEMA = {"type": "object", "properties": {
    **{state: _COUNT for state in ("running", "stopped", "idle", "offline")},
    **{name: _RATIO for name in ("availability", "performance", "quality", "oee")}},
    "description": "Lines by state, and the plant's A, P, Q and OEE: each the mean of the scheduled "
                   "lines' values in the running instance weighted by their planned production time"}
FORMULAS = (
    "For every active line, ordered by code. `idle`: no shift instance of the line's calendar now, or "
    "one not scheduled (no work order, production or stop: `scheduled` false); `stopped`: a stop is "
    "open. For the running instance: planned_quantity = Σ its work orders not cancelled; good/defective "
    "from its records; expected_by_now = ⌊planned_quantity × the share of the shift's planned time "
    "(shift time − breaks) gone by⌋; pace = good / expected_by_now (null when 0). OEE so far, by the "
    "standard: planned production time P = shift time so far − planned downtime (scheduled breaks once "
    "their time has come, planned stops); run time = P − unplanned stop time U, each moment counted "
    "once (overlaps of breaks, planned and unplanned stops are planned downtime; a break with no time "
    "is spread evenly); availability = (P − U) / P; performance = Σ(ideal_cycle_seconds × produced) / "
    "(P − U), null if a product lacks ideal_cycle_seconds or P − U = 0, never capped (above 1: "
    "`warnings` has `performance_over_100`); quality = good / produced (null when nothing was produced); "
    "oee = A × P × Q, null if a factor is — but 0 when P > 0 and nothing was produced in run time > 0. "
    "`last_shift`: while idle, the line's last finished instance. `plant`: lines by state and the "
    "weighted plant figures. Ratios are rounded to four decimals. Not cached: "
    "the figures move with the clock. Display tokens may read it; the `lines` topic of /ws carries each "
    "line's object as `line.status` after every change, at most once a second per line."
)


class LineStatusHandler(BaseHandler):
    """Uncached: elapsed time changes the figures between writes."""

    allow_display = True
    docs = {"GET": {
        "summary": "Live status of every line", "tags": ["lines"], "description": FORMULAS,
        "responses": {200: {"type": "object", "required": ["items"],
                            "properties": {"items": {"type": "array", "items": STATUS_SCHEMA},
                                           "plant": PLANT_SCHEMA}}},
    }}

    async def get(self) -> None:
        async with self.ctx.db.session() as session:
            status = await plant_status(session, self.ctx.clock)
        self.send_json(status)
