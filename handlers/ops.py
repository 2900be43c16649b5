"""Liveness and readiness probes for load balancers and orchestrators."""
from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler

READINESS = {"type": "object", "required": ["ready", "checks"], "properties": {
    "ready": {"type": "boolean"},
    "checks": {"type": "object", "additionalProperties": {"type": "boolean"}}}}


class HealthHandler(BaseHandler):
    """`GET /healthz`: the process is up and serving."""

    access = {"GET": None}
    docs = {"GET": {"summary": "Liveness probe", "tags": ["operations"], "rate_limited": False,
                    "database": False, "responses": {200: {"type": "object", "properties": {
                        "status": {"type": "string", "enum": ["ok"]}}}}}}

    async def take_budget(self, budget: str, identity: str) -> None:
        """Probes are not rate limited: a throttled probe would take a healthy node out."""

    async def get(self) -> None:
        self.send_json({"status": "ok"})


class ReadyHandler(HealthHandler):
    """`GET /readyz`: the database (and Redis in cluster mode) answers; 503 otherwise."""

    docs = {"GET": {"summary": "Readiness probe: the database (and Redis) answer", "tags": ["operations"],
                    "rate_limited": False, "database": False,
                    "responses": {200: READINESS, 503: {"description": "Not ready.", "content": {
                        "application/json": {"schema": READINESS}}}}}}

    async def get(self) -> None:
        checks = {"database": await self.ctx.db.ping()}
        if self.ctx.cluster is not None:
            checks["redis"] = await self.ctx.cluster.ready()
        ready = all(checks.values())
        self.set_status(200 if ready else 503)
        self.send_json({"ready": ready, "checks": checks}, 200 if ready else 503)


def alias_docs(handler: type[BaseHandler], path: str) -> dict[str, dict[str, Any]]:
    """The docs of a path kept for clients of the old system: the same answer as `path`."""
    return {method: {**doc, "summary": f"{doc['summary']} (as {path})",
                     "description": f"The same as `GET {path}`, kept for clients of the system this one "
                                    "replaces."}
            for method, doc in handler.docs.items()}
