"""The project's own promises, checked by running them: the README's Quick start serves from a fresh
copy of the checkout, and CI runs the README's test command as written."""
from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import ServerProcess, without_factory_settings

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    """The command lines in the README's Quick start section, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```\n(.*?)```", section, re.S)]


def steps(command: str) -> list[list[str]]:
    """A `a && b && c` command line as the argv of each step."""
    return [shlex.split(step) for step in command.split("&&")]


def venv_steps(command: str) -> tuple[str, list[str], list[str]]:
    """(venv folder, pip step, last step) of a Quick start command; fails unless it makes a venv,
    installs into it with its own pip, and runs its last step with that venv's python."""
    make_venv, install, *_, last = steps(command)
    assert make_venv[:3] == ["python3", "-m", "venv"] and len(make_venv) == 4, make_venv
    venv = make_venv[3]
    assert install[:2] == [f"{venv}/bin/pip", "install"], install
    assert last[0] == f"{venv}/bin/python", last
    return venv, install, last


def fresh_copy(target: Path) -> Path:
    """The files a clone of this checkout would have (tracked or new, never ignored) under `target`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not there to copy
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_the_quick_start_is_two_commands_one_serving_one_testing():
    commands = quick_start_commands()
    assert len(commands) == 2, commands
    serve, test = commands
    assert "\n" not in serve and "\n" not in test
    _, install, last = venv_steps(serve)
    assert install[-1] == "." and "-e" in install  # the project itself, from the checkout
    assert last[1:] == ["server.py"], last
    _, install, last = venv_steps(test)
    assert install[-1] == ".[test]", install
    assert last[1:] == ["-m", "pytest"], last


def test_the_quick_start_serve_command_serves_from_a_fresh_copy(tmp_path):
    """Run the serve command's last step as it would run after the install, in a fresh copy of the
    checkout, with the suite's venv standing in for the one the command would make."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy")
    serve, _ = quick_start_commands()
    _, _, (_, script, *args) = venv_steps(serve)
    copy = fresh_copy(tmp_path / "clone")
    assert not (copy / "factory.db").exists() and not (copy / ".venv").exists()
    # A newcomer's shell: no FACTORY_* setting at all; --port only because 8888 may be taken here.
    server = ServerProcess(copy, without_factory_settings(), *args, script=copy / script)
    try:
        server.wait_serving()
        status, _, body = server.request("GET", "/healthz")
        assert (status, body) == (200, {"status": "ok"})
        assert (copy / "factory.db").exists()  # the embedded database, migrated on first start
        assert server.generated_password(), server.printed()  # the first start's super_admin
        assert server.stop() == 0, server.output()[-3000:]  # SIGTERM: a clean exit
    finally:
        server.stop()


def test_ci_runs_the_readmes_test_command_verbatim():
    _, test = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()
    for name in ("FACTORY_TEST_MYSQL_URL", "FACTORY_TEST_REDIS_URL", "FACTORY_TEST_MQTT_URL",
                 "FACTORY_TEST_STRICT=1"):
        assert name in ci


def test_setup_cfg_declares_the_stack_and_the_test_extra():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    required = config["options"]["install_requires"].lower()
    for package in ("tornado", "sqlalchemy[asyncio]", "aiomysql", "aiosqlite", "alembic", "pyjwt",
                    "marshmallow>=4", "cachetools", "apispec", "redis", "prometheus-client", "tqdm"):
        assert package in required, package
    extras = config["options.extras_require"]
    assert "pytest>=8,<10" in extras["test"] and "pytest-tornasync" in extras["test"]
