"""Settings read once from the environment, with an embedded SQLite fallback."""
from __future__ import annotations

import math
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from core.clock import plant_zone
from core.db import DEFAULT_POOL_SIZE
from core.ratelimit import DEFAULT_RATE_LIMITS, parse_budgets

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///factory.db"
MIN_SECRET_BYTES = 32
SECRET_FILE = ".jwt_secret"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


@dataclass(frozen=True)
class Settings:
    """Everything the application needs to run; built by `from_env` or by tests."""

    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: str = ""
    admin_password: str | None = None
    redis_url: str | None = None
    # Every Redis key and channel starts with this: clusters (or test runs) sharing a Redis stay apart.
    redis_prefix: str = "factory"
    log_dir: str = "logs"
    rate_limits: str = DEFAULT_RATE_LIMITS
    cache_ttl: float = 30.0
    # The plant's IANA time zone: "today", shift windows and the dashboard clock are plant-local.
    timezone: str = "UTC"
    env: str = "development"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 14 * 24 * 3600
    # Seconds in which a refresh token sent again gets the pair its first use got (not a replay).
    refresh_reuse_window: float = 5.0
    jwt_issuer: str = "factory-management"
    jwt_audience: str = "factory-management-api"
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    ws_origins: tuple[str, ...] = ()
    # Where clients reach the API ("https://factory.example.com"): Link and Location are built on it;
    # unset, they are built on the request's own Host (and cached responses are keyed by it).
    public_url: str | None = None
    max_body_bytes: int = 1024 * 1024
    # A request body must have arrived this many seconds after its headers.
    body_timeout: float = 60.0
    db_timeout: float = 2.0
    # Database connections each process keeps (FACTORY_DB_POOL_SIZE); it may open a quarter more
    # under a burst. The default 20 (+5) lets four processes share a stock MariaDB
    # (max_connections 151) with 51 left for the command line, backups and a console.
    db_pool_size: int = DEFAULT_POOL_SIZE
    # Live feed (/ws): first-message auth deadline, token re-check period, replay and per-client queue.
    ws_auth_timeout: float = 5.0
    ws_token_check_interval: float = 30.0
    ws_replay_size: int = 10_000
    ws_queue_size: int = 1_000
    # Open /ws connections allowed per user (per display or station token for wall screens and tablets)
    # and per client address.
    ws_max_per_user: int = 20
    ws_max_per_address: int = 100
    # Idempotency-Key: how long an answer is kept, how long a retry waits for a request still running
    # (then 409), after how long an uncommitted claim counts as abandoned, and how often to sweep.
    idempotency_ttl: float = 24 * 3600.0
    idempotency_wait: float = 10.0
    idempotency_lease: float = 60.0
    idempotency_sweep_interval: float = 600.0
    # Webhooks: FACTORY_WEBHOOK_ALLOW_PRIVATE=1 lets endpoints resolve to loopback/private addresses.
    webhook_allow_private: bool = False
    # FACTORY_WEBHOOK_DELIVERY=0: this process runs no delivery worker (an API-only node of a cluster).
    webhook_delivery: bool = True
    webhook_timeout: float = 10.0
    # Retries: base × 2^(n-1) seconds, capped, ±20 % jitter, for retry_window seconds, then failing.
    webhook_retry_base: float = 5.0
    webhook_retry_cap: float = 3600.0
    webhook_retry_window: float = 24 * 3600.0
    webhook_poll_interval: float = 1.0
    webhook_lease: float = 60.0
    # An outbox id still missing after this long belongs to a rolled-back transaction: skip it.
    webhook_gap_wait: float = 30.0
    outbox_retention: float = 7 * 24 * 3600.0
    # Andon calls: one not acknowledged this many seconds after it opened is escalated (once); the
    # escalation sweep looks every andon_check_interval seconds.
    andon_escalate_seconds: int = 300
    andon_check_interval: float = 1.0
    # Machines over MQTT: mqtt://user:pass@host:port (mqtts:// for TLS); None = no consumer.
    mqtt_url: str | None = None
    # The plain-JSON namespace: {prefix}/{line}/count and {prefix}/{line}/state.
    mqtt_prefix: str = "factory"
    # A machine silent this long is offline.
    mqtt_offline_seconds: float = 30.0
    # The persistent session's client id (stable across restarts, so queued messages arrive).
    mqtt_client_id: str = "factory-server"
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, workdir: Path | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        mode = env.get("FACTORY_ENV", "development").strip() or "development"
        if mode not in ("development", "production"):
            raise ConfigError(f"FACTORY_ENV must be 'development' or 'production', not {mode!r}")
        secret = env.get("FACTORY_JWT_SECRET", "")
        if mode == "production":
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"FACTORY_ENV=production needs FACTORY_JWT_SECRET of at least {MIN_SECRET_BYTES} bytes"
                )
        elif not secret:
            secret = load_or_create_secret(Path(workdir or ".") / SECRET_FILE)
        elif len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"FACTORY_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        try:
            cache_ttl = float(env.get("FACTORY_CACHE_TTL") or "30")
        except ValueError:
            raise ConfigError("FACTORY_CACHE_TTL must be a number of seconds") from None
        if not math.isfinite(cache_ttl):  # "nan" and "inf" parse as floats
            raise ConfigError("FACTORY_CACHE_TTL must be a number of seconds")
        if cache_ttl < 0:
            raise ConfigError("FACTORY_CACHE_TTL must not be negative")
        timezone = (env.get("FACTORY_TIMEZONE") or "UTC").strip()
        try:
            plant_zone(timezone)
        except ValueError as exc:
            raise ConfigError(f"FACTORY_TIMEZONE: {exc}") from None
        rate_limits = env.get("FACTORY_RATE_LIMITS") or DEFAULT_RATE_LIMITS
        try:
            parse_budgets(rate_limits)
        except ValueError as exc:
            raise ConfigError(f"FACTORY_RATE_LIMITS: {exc}") from None
        limits = {name: _positive_int(env, variable, default) for name, variable, default in (
            ("ws_max_per_user", "FACTORY_WS_MAX_PER_USER", cls.ws_max_per_user),
            ("ws_max_per_address", "FACTORY_WS_MAX_PER_ADDRESS", cls.ws_max_per_address),
            ("andon_escalate_seconds", "FACTORY_ANDON_ESCALATE_SECONDS", cls.andon_escalate_seconds),
            ("db_pool_size", "FACTORY_DB_POOL_SIZE", cls.db_pool_size),
        )}
        public_url = (env.get("FACTORY_PUBLIC_URL") or "").strip().rstrip("/") or None
        if public_url is not None:
            parsed = urlsplit(public_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
                raise ConfigError("FACTORY_PUBLIC_URL must be an http(s) URL like https://factory.example.com")
        mqtt_url = (env.get("FACTORY_MQTT_URL") or "").strip() or None
        if mqtt_url is not None:
            check_mqtt_url(mqtt_url)
        mqtt_prefix = (env.get("FACTORY_MQTT_PREFIX") or "factory").strip().strip("/")
        if not mqtt_prefix or any(char in mqtt_prefix for char in "#+"):
            raise ConfigError("FACTORY_MQTT_PREFIX must be a topic prefix without # or +")
        return cls(
            **limits,
            mqtt_url=mqtt_url,
            mqtt_prefix=mqtt_prefix,
            mqtt_offline_seconds=float(_positive_int(env, "FACTORY_MQTT_OFFLINE_SECONDS", 30)),
            mqtt_client_id=(env.get("FACTORY_MQTT_CLIENT_ID") or "factory-server").strip()[:64],
            public_url=public_url,
            database_url=env.get("FACTORY_DATABASE_URL") or DEFAULT_DATABASE_URL,
            jwt_secret=secret,
            admin_password=env.get("FACTORY_ADMIN_PASSWORD") or None,
            redis_url=env.get("FACTORY_REDIS_URL") or None,
            redis_prefix=env.get("FACTORY_REDIS_PREFIX") or "factory",
            log_dir=env.get("FACTORY_LOG_DIR") or "logs",
            rate_limits=rate_limits,
            cache_ttl=cache_ttl,
            timezone=timezone,
            env=mode,
            cors_origins=_csv(env.get("FACTORY_CORS_ORIGINS")),
            trusted_proxies=_csv(env.get("FACTORY_TRUSTED_PROXIES")),
            ws_origins=_csv(env.get("FACTORY_WS_ORIGINS")),
            webhook_allow_private=_flag(env, "FACTORY_WEBHOOK_ALLOW_PRIVATE"),
            webhook_delivery=_flag(env, "FACTORY_WEBHOOK_DELIVERY", default="1"),
        )


def check_mqtt_url(url: str) -> None:
    """mqtt://[user[:pass]@]host[:port] or mqtts://…; the message never repeats the URL (it may
    hold a password)."""
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError("FACTORY_MQTT_URL must look like mqtt://user:pass@host:1883") from None
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname or parsed.path not in ("", "/"):
        raise ConfigError("FACTORY_MQTT_URL must look like mqtt://user:pass@host:1883 (mqtts:// for TLS)")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) <= 1_000_000:
        raise ConfigError(f"{name} must be a whole number from 1 to 1000000")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: str = "0") -> bool:
    value = (env.get(name) or default).strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", ""):
        raise ConfigError(f"{name} must be 1 or 0")
    return value in ("1", "true", "yes")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def load_or_create_secret(path: Path) -> str:
    """Return the signing key kept in `path`, creating it (mode 0600) on first use."""
    if path.exists():
        secret = path.read_text().strip()
        if len(secret.encode()) >= MIN_SECRET_BYTES:
            return secret
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return secret
