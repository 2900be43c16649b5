"""`GET /station`: the operator station, a static page for a tablet at the line (it signs in itself)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from handlers.base import BaseHandler
from handlers.dashboard import DASHBOARD_CSP

PAGE = Path(__file__).resolve().parent.parent / "static" / "station.html"


@cache
def page_body() -> bytes:
    return PAGE.read_bytes()


class StationPageHandler(BaseHandler):
    """The page is public; what it shows and sends needs the token in its link (`#token=…&line=L1`)."""

    access = {"GET": None}
    docs = {"GET": {
        "summary": "The operator station (HTML)", "tags": ["live feed"], "database": False,
        "description": "Open `/station#token=<station token>&line=L1` on the line's tablet: record good "
                       "and reject counts, open, end and classify stops, raise and acknowledge andon "
                       "calls; the shift's target against actual, per hour, and the projected count at "
                       "shift end. Actions taken while the link is down wait in the tablet and are sent, "
                       "each with its Idempotency-Key, when it is back.",
        "responses": {200: {"description": "The page; it loads /static/station.js and .css.",
                            "content": {"text/html": {"schema": {"type": "string"}}}}},
    }}

    async def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", DASHBOARD_CSP)
        self.set_header("Cache-Control", "no-cache")
        self.finish(page_body())
