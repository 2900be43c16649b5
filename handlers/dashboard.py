"""The shop-floor display's data: `GET /dashboard/state` (the page itself is handlers/pages.py)."""
from __future__ import annotations

from handlers.base import BaseHandler
from schemas.dashboard import DashboardQuerySchema
from services.floor.dashboard import LOW_STOCK_LIMIT, dashboard_state

_COUNTS = {"produced": {"type": "integer"}, "defective": {"type": "integer"}, "good": {"type": "integer"}}
STATE_SCHEMA = {"type": "object", "properties": {
    "date": {"type": "string", "format": "date", "description": "The plant's today (in `timezone`)."},
    "production_day": {"type": "string", "format": "date", "description": (
        "The production day `production_today` counts: the plant-local date the running (or last) "
        "shift instance started, so a night shift belongs wholly to the day it started.")},
    "timezone": {"type": "string", "description": "The plant's IANA time zone: the board's clock and day."},
    "day_starts_at": {"type": "string", "format": "date-time", "description": "Today's first moment (UTC)."},
    "day_ends_at": {"type": "string", "format": "date-time", "description": "Tomorrow's first moment (UTC)."},
    "generated_at": {"type": "string", "format": "date-time", "description": "The server's now."},
    "last_event_id": {"type": "integer", "description": "Subscribe with since=this to follow on."},
    "production_today": {"type": "object", "properties": {
        "by_product": {"type": "array", "items": {"type": "object", "properties": {
            "product_id": {"type": "integer"}, "product_name": {"type": "string"}, **_COUNTS}}},
        "by_line": {"type": "array", "items": {"type": "object", "properties": {
            "line": {"type": "string", "nullable": True}, **_COUNTS}}}}},
    "orders_today": {"type": "object", "properties": {
        "placed": {"type": "integer", "description": "Orders placed today."},
        "shipped": {"type": "integer", "description": "Orders shipped today."},
        "open": {"type": "integer",
                 "description": "Orders waiting to ship (pending, confirmed, in production)."},
    }},
    "low_stock": {"type": "object", "properties": {
        "total": {"type": "integer"},
        "items": {"type": "array",
                  "description": f"The furthest below reorder level first; at most {LOW_STOCK_LIMIT}.",
                  "items": {"type": "object", "properties": {
                      "id": {"type": "integer"}, "sku": {"type": "string"}, "name": {"type": "string"},
                      "stock_quantity": {"type": "integer"}, "reorder_level": {"type": "integer"}}}}}},
}}


class DashboardStateHandler(BaseHandler):
    """`GET /dashboard/state`: what the dashboard shows, and the event id to follow on from."""

    access = {"GET": "user"}
    allow_display = True
    docs = {"GET": {
        "summary": "The dashboard's state", "tags": ["live feed"], "responses": {200: STATE_SCHEMA},
        "query": DashboardQuerySchema,
        "description": "Display tokens may read this. Not cached: it is read once per screen connection, "
                       "and a cached copy would outlive midnight.",
    }}

    async def get(self) -> None:
        lines = self.load_query(DashboardQuerySchema())["line"]
        self.send_json(await self.consistent_state(lines))

    async def consistent_state(self, lines: list[str] | None) -> dict:
        """The state with the id of the last event it includes.

        Read under the database's announcement gate, so no write with events commits while the
        queries run: every event up to `last_event_id` is in the state and every later one is not,
        and the page neither misses an event nor counts one twice.
        """
        db = self.ctx.db
        async with db.announcements.consistent():
            async with db.session() as session:
                return await dashboard_state(session, clock=self.ctx.clock,
                                             last_event_id=self.ctx.hub.last_id, lines=lines)
