"""Liveness and readiness probes for load balancers and orchestrators."""
from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler

READINESS = {"type": "object", "required": ["ready", "checks"], "properties": {
    "ready": {"type": "boolean"},
    "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "mqtt": {"type": "object", "description": "With FACTORY_MQTT_URL: the machines' MQTT consumer (it does "
             "not decide readiness: the API serves while the broker is away).", "properties": {
                 "state": {"type": "string", "enum": ["starting", "standby", "connecting", "connected",
                                                      "disconnected", "stopped"]},
                 "broker": {"type": "string", "description": "scheme://host:port, never credentials"},
                 "messages": {"type": "integer"}}}}}


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
        body: dict = {"ready": ready, "checks": checks}
        if self.ctx.mqtt is not None:
            body["mqtt"] = self.ctx.mqtt.status()
        self.set_status(200 if ready else 503)
        self.send_json(body, 200 if ready else 503)


def alias_docs(handler: type[BaseHandler], path: str) -> dict[str, dict[str, Any]]:
    """The docs of a path kept for clients of the old system: the same answer as `path`."""
    return {method: {**doc, "summary": f"{doc['summary']} (as {path})",
                     "description": f"The same as `GET {path}`, kept for clients of the system this one "
                                    "replaces."}
            for method, doc in handler.docs.items()}
