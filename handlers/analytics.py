"""`/analytics/*`: admin reports computed in SQL, as the list envelope or, on `Accept: text/csv`, as CSV."""
from __future__ import annotations

import csv
import io
from typing import Any

from marshmallow import Schema
from tornado.web import URLSpec, url

from core.cache import CachedResponse
from handlers.base import JSON_TYPE, BaseHandler, dumps, page_envelope
from schemas.analytics import AnalyticsQuery, CustomerValueQuery, ProductionEfficiencyQuery, ShiftReportQuery
from services.analytics.raw_reports import Analytic, run_report
from services.analytics.reports import ANALYTICS
from services.floor.shift_report import COLUMNS as REPORT_COLUMNS
from services.floor.shift_report import shift_report

CSV_TYPE = "text/csv; charset=utf-8"
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AnalyticsHandler(BaseHandler):
    """One report per route; the route table names the analytic, its query schema and its docs."""

    access = {"GET": "admin"}
    budgets = {"GET": "analytics"}

    def initialize(self, analytic: Analytic, query: type[Schema], **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.analytic = analytic
        self.query = query
        self.cache_tags = analytic.tables

    async def get(self) -> None:
        params = self.load_query(self.query())
        as_csv = wants_csv(self.request.headers.get("Accept", ""))

        async def render() -> CachedResponse:
            async with self.ctx.db.session() as session:
                report = await run_report(session, self.analytic, params)
            if as_csv:
                disposition = f'inline; filename="{self.analytic.name}.csv"'
                return CachedResponse.build(to_csv(self.analytic.columns(params), report.items), CSV_TYPE,
                                            (("Content-Disposition", disposition),))
            envelope = page_envelope(report.items, report.page, report.per_page, report.total)
            return CachedResponse.build(dumps(envelope), JSON_TYPE)

        await self.send_rendered(render)


def wants_csv(accept: str) -> bool:
    """CSV when the client lists text/csv ahead of JSON (or without it); JSON otherwise."""
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if "text/csv" not in types:
        return False
    return "application/json" not in types or types.index("text/csv") < types.index("application/json")


def to_csv(columns: tuple[str, ...], items: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([cell(item.get(column)) for column in columns])
    return out.getvalue().encode("utf-8")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(item) for item in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


# -- routes and their OpenAPI description -----------------------------------------------------

_NUMBER = {"type": "number", "minimum": 0, "maximum": 1, "nullable": True}
_MONEY = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "example": "1250.00"}
_ID = {"type": "integer", "minimum": 1}
_TEXT = {"type": "string"}
_INT = {"type": "integer", "minimum": 0}
ITEM_FIELDS: dict[str, dict[str, Any]] = {
    "employee-performance": {"employee_id": _ID, "employee_name": _TEXT, "units_produced": _INT,
                             "units_defective": _INT, "defect_rate": _NUMBER, "records": _INT},
    "top-products": {"product_id": _ID, "product_name": _TEXT, "units_sold": _INT, "revenue": _MONEY},
    "customer-lifetime-value": {
        "customer_id": _ID, "customer_name": _TEXT, "orders": _INT, "lifetime_value": _MONEY,
        "average_order_value": _MONEY, "first_order_at": {"type": "string", "format": "date-time"},
        "last_order_at": {"type": "string", "format": "date-time"}},
    "production-efficiency": {
        "product_id": _ID, "product_name": _TEXT, "line": {"type": "string", "nullable": True},
        "employee_id": _ID, "employee_name": _TEXT, "day": {"type": "string", "format": "date"},
        "produced": _INT, "defective": _INT, "good": _INT, "availability": _NUMBER,
        "performance": _NUMBER, "quality": _NUMBER, "oee": _NUMBER},
    "shift-report": {
        "date": {"type": "string", "format": "date"}, "shift": _TEXT, "line": _TEXT,
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "planned_quantity": _INT, "good": _INT, "defective": _INT,
        "pace": {"type": "number", "minimum": 0, "nullable": True}, "planned_seconds": {"type": "number"},
        "unplanned_stop_seconds": {"type": "number"}, "availability": _NUMBER,
        "performance": {"type": "number", "minimum": 0, "nullable": True}, "quality": _NUMBER,
        "oee": _NUMBER, "scheduled": {"type": "boolean"},
        "warnings": {"type": "array", "items": {"type": "string", "enum": ["performance_over_100"]}}},
}
SUMMARIES = {
    "employee-performance": ("Units produced and defect rate per employee",
                             "Summed over production records dated `from` … `to`; most units first."),
    "top-products": ("Best-selling products by units", "Units and revenue from order lines placed "
                     "`from` … `to`; cancelled orders never count. Most units first."),
    "customer-lifetime-value": ("Customers' lifetime value", "Order count, value and average order "
                                "value per customer (cancelled orders excluded); only customers at or "
                                "above `threshold`. Highest value first."),
    "production-efficiency": ("OEE per product, line, employee or day",
                              "availability = Σ(planned − downtime) / Σ planned; performance = "
                              "Σ(ideal_cycle_seconds × produced) / Σ(planned − downtime) in seconds; "
                              "quality = good / produced; oee = A × P × Q. A factor is null when any "
                              "record of the group lacks its inputs. Items carry the keys of "
                              "`group_by` only."),
    "shift-report": ("Plan and OEE per shift instance and line",
                     "One row per (date, shift, line) for every instance starting `from` … `to` (or "
                     "`date`; default yesterday, plant-local; at most 92 days) that has ended, for every "
                     "active line or `line` that runs the shift (its calendar). The figures of GET "
                     "/lines/status over the whole instance, under the shift's definition of that date: "
                     "pace = good / planned_quantity; planned_seconds = planned production time (shift "
                     "time − breaks − planned stops, each moment once); availability, performance, "
                     "quality, oee and `warnings` as there. `scheduled` false: the line had no work "
                     "order, production or stop in the instance (leave it out of totals). In start "
                     "order, then by line. In CSV, `warnings` are joined by ';'."),
}


def analytics_docs(name: str, query: type[Schema]) -> dict[str, Any]:
    item = {"type": "object", "properties": ITEM_FIELDS[name]}
    envelope = {"type": "object", "required": ["items", "meta"],
                "properties": {"items": {"type": "array", "items": item},
                               "meta": {"$ref": "#/components/schemas/PageMeta"}}}
    headers = {h: {"$ref": f"#/components/headers/{h}"}
               for h in ("X-Request-ID", "RateLimit", "RateLimit-Policy", "ETag")}
    summary, description = SUMMARIES[name]
    return {"GET": {
        "summary": summary, "tags": ["analytics"], "query": query, "cached": True,
        "description": description + " `Accept: text/csv` answers the same rows as CSV.",
        "responses": {200: {"description": "The report's rows.", "headers": headers, "content": {
            "application/json": {"schema": envelope},
            "text/csv": {"schema": {"type": "string",
                                    "description": "A header line, then one row per item."}},
        }}},
    }}


def analytics_routes() -> list[URLSpec]:
    """The four report routes, for the route table."""
    queries = {"employee-performance": AnalyticsQuery, "top-products": AnalyticsQuery,
               "customer-lifetime-value": CustomerValueQuery,
               "production-efficiency": ProductionEfficiencyQuery}
    return [*(url(f"/analytics/{name}", AnalyticsHandler,
                  {"analytic": ANALYTICS[name], "query": query, "docs": analytics_docs(name, query)},
                  name=f"analytics_{name.replace('-', '_')}")
              for name, query in queries.items()),
            url("/analytics/shift-report", ShiftReportHandler, name="analytics_shift_report")]


class ShiftReportHandler(AnalyticsHandler):
    """`GET /analytics/shift-report`: whole past shift instances per line, JSON or CSV (admin)."""

    cache_tags = ("production_records", "work_orders", "stops", "shifts", "lines", "products")
    docs = analytics_docs("shift-report", ShiftReportQuery)

    def initialize(self, **kwargs: Any) -> None:
        BaseHandler.initialize(self, **kwargs)

    async def get(self) -> None:
        params = self.load_query(ShiftReportQuery())
        as_csv = wants_csv(self.request.headers.get("Accept", ""))

        async def render() -> CachedResponse:
            async with self.ctx.db.session() as session:
                report, valid_until = await shift_report(session, self.ctx.clock, params)
            # Which instances have ended moves with the clock: the answer holds until the next end.
            if as_csv:
                return CachedResponse.build(to_csv(REPORT_COLUMNS, report.items), CSV_TYPE,
                                            (("Content-Disposition", 'inline; filename="shift-report.csv"'),),
                                            valid_until)
            envelope = page_envelope(report.items, report.page, report.per_page, report.total)
            return CachedResponse.build(dumps(envelope), JSON_TYPE, valid_until=valid_until)

        await self.send_rendered(render)
