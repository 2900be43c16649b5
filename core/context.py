"""AppContext: the objects one application instance owns, built by make_app and closed at shutdown."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.clock import Clock
from core.config import Settings
from core.db import Database

if TYPE_CHECKING:
    from services.auth import AuthService

log = logging.getLogger("factory.app")


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a verified token and the user's current state."""

    user_id: int
    username: str
    role: str
    session_id: int
    kind: str  # "login" or "display"


@dataclass
class AppContext:
    settings: Settings
    db: Database
    auth: AuthService
    clock: Clock
    cache: Any = None
    limiter: Any = None
    hub: Any = None
    metrics: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def on_rate_limited(self, budget: str, identity: str) -> None:
        """Count a refusal; log it once per identity and window, not per request."""
        refusals = getattr(self.limiter, "refusal_log", None)
        if refusals is None or refusals.should_log(identity, budget):
            log.warning("rate limit %s exceeded by %s", budget, identity)
