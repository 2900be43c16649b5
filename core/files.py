"""Files the server writes hold password hashes, tokens in logs and the signing key: owner-only."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

OWNER_ONLY_UMASK = 0o077
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def keep_files_private(database_url: str, log_dir: str) -> None:
    """From now on create files 0600 and folders 0700, and tighten what exists already."""
    os.umask(OWNER_ONLY_UMASK)
    paths: list[Path] = []
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:":
            paths += [Path(database + suffix) for suffix in SQLITE_SUFFIXES]
    logs = Path(log_dir)
    if logs.is_dir():
        logs.chmod(0o700)
        paths += [path for path in logs.iterdir() if path.is_file()]
    for path in paths:
        if path.exists():
            path.chmod(0o600)
