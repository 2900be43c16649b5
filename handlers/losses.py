"""`GET /analytics/downtime` and `GET /analytics/oee-losses`: where a plant's time goes (admin)."""
from __future__ import annotations

from tornado.web import URLSpec, url

from core.cache import CachedResponse
from handlers.analytics import CSV_TYPE, to_csv, wants_csv
from handlers.base import JSON_TYPE, BaseHandler, dumps, page_envelope
from models import STOP_CATEGORIES
from schemas.losses import DowntimeQuery, OeeLossesQuery
from services.floor.losses import (
    STEPS,
    UNCLASSIFIED,
    WATERFALL_COLUMNS,
    downtime,
    downtime_columns,
    oee_losses,
    waterfall_rows,
)

# Every table whose writes move the figures: a stop or a reason's category, a shift, a record.
LOSS_TABLES = ("stops", "stop_reasons", "shifts", "lines", "production_records", "products")


class LossReportHandler(BaseHandler):
    access = {"GET": "admin"}
    budgets = {"GET": "analytics"}
    cache_tags = LOSS_TABLES


class DowntimeHandler(LossReportHandler):
    """Stops grouped and in Pareto order, JSON (the list envelope) or CSV."""

    async def get(self) -> None:
        params = self.load_query(DowntimeQuery())
        as_csv = wants_csv(self.request.headers.get("Accept", ""))

        async def render() -> CachedResponse:
            async with self.ctx.db.session() as session:
                report = await downtime(session, self.ctx.clock, params)
            if as_csv:
                rows = [{key: csv_bool(value) for key, value in item.items()} for item in report.items]
                return CachedResponse.build(to_csv(downtime_columns(params["group_by"]), rows),
                                            CSV_TYPE,
                                            (("Content-Disposition", 'inline; filename="downtime.csv"'),))
            return CachedResponse.build(dumps(page_envelope(report.items, report.page, report.per_page,
                                                            report.total)), JSON_TYPE)

        await self.send_rendered(render)


class OeeLossesHandler(LossReportHandler):
    """The loss waterfall, JSON (one object) or CSV (a row per step and category)."""

    async def get(self) -> None:
        params = self.load_query(OeeLossesQuery())
        as_csv = wants_csv(self.request.headers.get("Accept", ""))

        async def render() -> CachedResponse:
            async with self.ctx.db.session() as session:
                report = await oee_losses(session, self.ctx.clock, params)
            if as_csv:
                return CachedResponse.build(to_csv(WATERFALL_COLUMNS, waterfall_rows(report)), CSV_TYPE,
                                            (("Content-Disposition", 'inline; filename="oee-losses.csv"'),))
            return CachedResponse.build(dumps(report), JSON_TYPE)

        await self.send_rendered(render)


def csv_bool(value: object) -> object:
    """Booleans as the lists' CSV writes them: `true` / `false`."""
    return ("true" if value else "false") if isinstance(value, bool) else value


# -- OpenAPI ---------------------------------------------------------------------------------

_SECONDS = {"type": "number", "minimum": 0}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1, "nullable": True}
_CATEGORY = {"type": "string", "enum": [*STOP_CATEGORIES, UNCLASSIFIED]}
_HEADERS = {h: {"$ref": f"#/components/headers/{h}"}
            for h in ("X-Request-ID", "RateLimit", "RateLimit-Policy", "ETag")}
_CSV = {"text/csv": {"schema": {"type": "string", "description": "A header line, then one row per item."}}}
DOWNTIME_ITEM = {"type": "object", "properties": {
    "reason": {"type": "string"}, "label": {"type": "string"}, "planned": {"type": "boolean"},
    "category": {**_CATEGORY, "nullable": True}, "line": {"type": "string"},
    "shift": {"type": "string", "nullable": True}, "stops": {"type": "integer", "minimum": 0},
    "total_seconds": _SECONDS, "mean_seconds": {**_SECONDS, "nullable": True},
    "unplanned_stops": {"type": "integer", "minimum": 0}, "unplanned_seconds": _SECONDS,
    "unplanned_share": _SHARE, "cumulative_share": _SHARE, "run_seconds": {"type": "number"},
    "mttr_seconds": {**_SECONDS, "nullable": True}, "mtbf_seconds": {"type": "number", "nullable": True}}}
DOWNTIME_DOCS = {"GET": {
    "summary": "Downtime by reason, category, line or shift: Pareto, MTTR, MTBF",
    "tags": ["analytics"], "query": DowntimeQuery, "cached": True,
    "description": (
        "Stops of every active line (or `line`) overlapping the plant-local dates `from` … `to` (both "
        "default to today; at most 92 days), each clipped to the range and to now, an open one running "
        "to now. Grouped by `group_by`: `reason` (with its label, planned flag and category), `category` "
        "(`unclassified` for a reason without one), `line` (every line of the scope, stopped or not) or "
        "`shift` (the shift whose instance the stop began in; null outside every shift). Per group: "
        "`stops`, `total_seconds`, `mean_seconds` = total / stops, the unplanned part "
        "(`unplanned_stops`, `unplanned_seconds`), `unplanned_share` = the group's unplanned seconds / "
        "all unplanned seconds of the report. Pareto order: largest `total_seconds` first (ties by key), "
        "`cumulative_share` = the running total / the total of all groups. With `group_by=line`: "
        "`run_seconds` = Σ over the shift instances in the range of (shift time − breaks − planned stops "
        "− unplanned stops), the OEE standard's run time; MTTR `mttr_seconds` = unplanned seconds / "
        "unplanned stops; MTBF `mtbf_seconds` = run_seconds / unplanned stops (both null without an "
        "unplanned stop). `planned` keeps only planned or unplanned stops (MTBF's run time still "
        "counts them all); `shift` keeps the stops that began in that shift's instances and its run "
        "time. `Accept: text/csv` answers the same rows as CSV."),
    "responses": {200: {"description": "The groups, in Pareto order.", "headers": _HEADERS, "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["items", "meta"],
            "properties": {"items": {"type": "array", "items": DOWNTIME_ITEM},
                           "meta": {"$ref": "#/components/schemas/PageMeta"}}}},
        **_CSV}}},
}}
_LOSS = {"type": "object", "properties": {"category": _CATEGORY, "seconds": {"type": "number"}}}
WATERFALL = {"type": "object", "properties": {
    "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
    "line": {"type": "string", "nullable": True}, "lines": {"type": "array", "items": {"type": "string"}},
    "instances": {"type": "integer", "minimum": 0},
    "steps": {"type": "array", "items": {"type": "object", "properties": {
        "step": {"type": "string", "enum": list(STEPS)}, "seconds": {"type": "number", "nullable": True},
        "lost_seconds": {"type": "number", "nullable": True}, "losses": {"type": "array", "items": _LOSS}}}},
    "oee": {"type": "number", "minimum": 0, "nullable": True}}}
OEE_LOSSES_DOCS = {"GET": {
    "summary": "The OEE loss waterfall of a range and line",
    "tags": ["analytics"], "query": OeeLossesQuery, "cached": True,
    "description": (
        "Every shift instance starting on the plant-local dates `from` … `to` (both default to today; at "
        "most 92 days) up to now, for every active line (summed) or `line`, in five steps, each with the "
        "seconds left, the seconds lost and the loss by category: `shift_time` (the instances' wall "
        "time) → `planned_production_time` (− breaks and planned stops: `planned`) → `run_time` (− "
        "unplanned stops by their reason's category; `unclassified` for a reason without one) → "
        "`net_run_time` = the ideal time of every unit made, Σ ideal_cycle_seconds × produced (− speed "
        "loss = run time − that: logged stops of category `small_stop`, which the standard counts here "
        "rather than as downtime, and `reduced_speed` for the rest; negative when the line ran faster "
        "than its ideal cycle) → `fully_productive_time` = the ideal time of the good units (− quality "
        "loss = the ideal time of the defective units: `production_reject`). `oee` = fully productive "
        "time / planned production time. A step after `run_time` is null when a product made lacks "
        "ideal_cycle_seconds. Breaks count as in the shift report. `Accept: text/csv` answers one row "
        "per step and category (`step, seconds, lost_seconds, category, category_seconds`)."),
    "responses": {200: {"description": "The waterfall.", "headers": _HEADERS, "content": {
        "application/json": {"schema": WATERFALL}, **_CSV}}},
}}


def loss_routes() -> list[URLSpec]:
    """The two loss reports, for the route table."""
    return [url(r"/analytics/downtime", DowntimeHandler, {"docs": DOWNTIME_DOCS}, name="analytics_downtime"),
            url(r"/analytics/oee-losses", OeeLossesHandler, {"docs": OEE_LOSSES_DOCS},
                name="analytics_oee_losses")]
