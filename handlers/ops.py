"""Liveness and readiness probes for load balancers and orchestrators."""
from __future__ import annotations

from handlers.base import BaseHandler


class HealthHandler(BaseHandler):
    """`GET /healthz`: the process is up and serving."""

    access = {"GET": None}

    async def take_budget(self, budget: str, identity: str) -> None:
        """Probes are not rate limited: a throttled probe would take a healthy node out."""

    async def get(self) -> None:
        self.send_json({"status": "ok"})


class ReadyHandler(HealthHandler):
    """`GET /readyz`: the database (and Redis in cluster mode) answers; 503 otherwise."""

    async def get(self) -> None:
        checks = {"database": await self.ctx.db.ping()}
        for name, probe in self.ctx.extras.get("readiness", {}).items():
            checks[name] = await probe()
        ready = all(checks.values())
        self.set_status(200 if ready else 503)
        self.send_json({"ready": ready, "checks": checks}, 200 if ready else 503)
