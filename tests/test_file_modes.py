"""The database file, its journal, the logs and their folder are owner-only (0600 / 0700)."""
from __future__ import annotations

import stat
from pathlib import Path

from tests.servers import ServerProcess, run_cli, server_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_fresh_server_creates_its_files_owner_only(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, server_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"))
    try:
        await server.wait_ready()
        created = [tmp_path / "factory.db", *tmp_path.glob("factory.db-*"), server.log_path]
        assert server.log_path.exists() and len(created) >= 3
        assert {path.name: mode(path) for path in created} == {path.name: 0o600 for path in created}
        assert mode(server.log_path.parent) == 0o700
    finally:
        server.stop()


def test_existing_loose_files_are_tightened(tmp_path: Path) -> None:
    database, logs = tmp_path / "factory.db", tmp_path / "logs"
    env = server_env(tmp_path, f"sqlite+aiosqlite:///{database}")
    logs.mkdir(mode=0o755)
    (logs / "factory_management.log").write_text("old\n")
    (logs / "factory_management.log").chmod(0o644)
    assert run_cli(tmp_path, "migrate", env=env).returncode == 0
    database.chmod(0o644)
    result = run_cli(tmp_path, "migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600 and mode(logs / "factory_management.log") == 0o600
    assert mode(logs) == 0o700
