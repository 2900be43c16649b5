"""Logging: a rotated file under FACTORY_LOG_DIR plus stderr; one access line per request."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

LOG_FILE = "factory_management.log"
_SECRET_NAMES = ("token", "password")  # token, access_token, refresh_token, password, new_password…
access_log = logging.getLogger("factory.access")


def setup_logging(log_dir: str, *, level: int = logging.INFO, to_stderr: bool = True) -> Path:
    """Send every `factory.*` and `tornado.*` record to the rotated log file (idempotent)."""
    folder = Path(log_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / LOG_FILE
    root = logging.getLogger()
    root.setLevel(level)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    if not any(getattr(h, "baseFilename", None) == str(path.resolve()) for h in root.handlers):
        file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=10 * 1024 * 1024, backupCount=5,
                                                            encoding="utf-8")
        file_handler.setFormatter(formatter)
        path.chmod(0o600)  # request lines name users and addresses
        root.addHandler(file_handler)
    if to_stderr and not any(type(h) is logging.StreamHandler for h in root.handlers):
        stream = logging.StreamHandler()
        stream.setFormatter(formatter)
        root.addHandler(stream)
    return path


def redact(uri: str) -> str:
    """Hide tokens and passwords that clients put in query strings.

    Judged by each parameter's name as the server reads it (percent- and plus-decoded): `?%74oken=`
    signs in like `?token=` and is hidden like it.
    """
    path, mark, query = uri.partition("?")
    if not mark:
        return uri
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        if equals and unquote_plus(name).strip().lower().endswith(_SECRET_NAMES):
            part = f"{name}=[redacted]"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}"


def log_request(handler: Any) -> None:
    """Tornado's `log_function`: method, path, status, duration, user, request id."""
    status = handler.get_status()
    principal = getattr(handler, "principal", None)
    user = principal.username if principal else "-"
    level = logging.INFO if status < 500 else logging.ERROR
    access_log.log(level, "%s %s %d %.1fms user=%s rid=%s ip=%s", handler.request.method,
                   redact(handler.request.uri), status, 1000.0 * handler.request.request_time(), user,
                   getattr(handler, "request_id", "-"), handler.request.remote_ip)
