"""`GET /metrics`: Prometheus text exposition for scrapers."""
from __future__ import annotations

from core.metrics import CONTENT_TYPE
from handlers.base import BaseHandler


class MetricsHandler(BaseHandler):
    """Public like the probes: scrapers carry no bearer token, and the page holds counts, never data.

    Keep it off the public internet at the load balancer if route-level traffic counts are sensitive.
    """

    access = {"GET": None}
    docs = {"GET": {"summary": "Prometheus metrics (text exposition format)", "tags": ["operations"],
                    "rate_limited": False, "database": False, "responses": {200: {
                        "description": "Requests by route and status with latency histograms, open "
                                       "WebSocket connections, live events, cache, rate limits and the "
                                       "database pool; summed over every worker under --processes.",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}}

    async def take_budget(self, budget: str, identity: str) -> None:
        """Scrapes are not rate limited: a throttled scrape would show as a gap in every graph."""

    async def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(self.ctx.metrics.render())
