"""Schema migrations: alembic, driven from code so the server and tests need no ini file."""
from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url`; call only where no event loop is running."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    def read(sync_connection) -> str | None:
        # Only reading: keep alembic's "Context impl ..." INFO lines off the operator's terminal.
        chatty = logging.getLogger("alembic.runtime.migration")
        level = chatty.level
        chatty.setLevel(logging.WARNING)
        try:
            return MigrationContext.configure(sync_connection).get_current_revision()
        finally:
            chatty.setLevel(level)

    return await connection.run_sync(read)
