"""The static pages the hall opens: `GET /dashboard` (the wall display) and `GET /station` (the operator
station). Each signs in itself from its link, so the page is public; its file is the route's `page`."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from handlers.base import BaseHandler

STATIC = Path(__file__).resolve().parent.parent / "static"
# Everything from this origin only: no inline script or style, no framing, forms never submit.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


@cache
def page_body(name: str) -> bytes:
    """A page's bytes, read once per process."""
    return (STATIC / name).read_bytes()


def page_docs(summary: str, description: str, assets: str) -> dict[str, dict[str, Any]]:
    return {"GET": {
        "summary": summary, "tags": ["live feed"], "database": False, "description": description,
        "responses": {200: {"description": f"The page; it loads {assets}.",
                            "content": {"text/html": {"schema": {"type": "string"}}}}},
    }}


DASHBOARD_DOCS = page_docs(
    "The shop-floor dashboard (HTML)",
    "Open `/dashboard#token=<display token>&line=L1,L2&view=lines&rotate=15` on a wall screen, or "
    "sign in on the page.", "/static/board.js, dashboard.js and dashboard.css")
STATION_DOCS = page_docs(
    "The operator station (HTML)",
    "Open `/station#token=<station token>&line=L1` on the line's tablet: record good and reject counts, "
    "open, end and classify stops, raise and acknowledge andon calls; the shift's target against "
    "actual, per hour, and the projected count at shift end. Actions taken while the link is down wait "
    "in the tablet and are sent, each with its Idempotency-Key, when it is back.",
    "/static/station.js and station.css")


class StaticPageHandler(BaseHandler):
    """`GET` one page of static/ (the route's `page`), never cached stale, under PAGE_CSP."""

    access = {"GET": None}

    def initialize(self, page: str = "", **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self.page = page

    async def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.set_header("Cache-Control", "no-cache")
        self.finish(page_body(self.page))
