"""The project's own promises: the README's two Quick start commands and what CI runs stay in step."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```\n(.*?)```", section, re.S)]


def test_the_quick_start_is_two_commands_one_serving_one_testing():
    serve, test = quick_start_commands()
    assert "\n" not in serve and "\n" not in test
    assert serve.startswith("python3 -m venv .venv") and serve.endswith("server.py")
    assert "'.[test]'" in test and test.endswith("-m pytest")


def test_ci_runs_the_readmes_test_command_verbatim():
    _, test = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()
    for name in ("FACTORY_TEST_MYSQL_URL", "FACTORY_TEST_REDIS_URL", "FACTORY_TEST_STRICT=1"):
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
