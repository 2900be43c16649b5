"""Command-line validators from npm (Spectral, the AsyncAPI CLI), installed once into a cache folder.

`node_tool(package, version, command)` answers the path of the installed command. The first call
runs `npm install --prefix <cache>/<package>@<version>`; later calls (and later runs) find it there.
The cache is `FACTORY_NODE_TOOLS`, else `~/.cache/factory-management/node-tools`. Without npm the
test skips with the reason, and fails instead under FACTORY_TEST_STRICT=1 (CI), like every backend.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import STRICT, skip_unless_available

# Pinned: a validator's new release may judge the same document differently.
SPECTRAL = ("@stoplight/spectral-cli", "6.16.3", "spectral")
ASYNCAPI_CLI = ("@asyncapi/cli", "6.2.0", "asyncapi")
INSTALL_TIMEOUT = 1200  # seconds; the AsyncAPI CLI is a large package


def cache_dir() -> Path:
    configured = os.environ.get("FACTORY_NODE_TOOLS")
    return Path(configured) if configured else Path.home() / ".cache" / "factory-management" / "node-tools"


def node_tool(package: str, version: str, command: str) -> Path:
    """The installed `command` of `package@version`, installing it on first use."""
    npm = shutil.which("npm")
    skip_unless_available(npm is not None and shutil.which("node") is not None,
                          f"{package} needs node and npm (not found on PATH)")
    prefix = cache_dir() / f"{package.replace('/', '+')}@{version}"
    binary = prefix / "node_modules" / ".bin" / command
    if binary.exists():
        return binary
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix",
                               str(prefix), f"{package}@{version}"], capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0 or not binary.exists():
        reason = f"npm could not install {package}@{version}: " + (
            "timed out" if done is None else (done.stderr or done.stdout).strip()[-500:])
        if STRICT:
            pytest.fail(reason)
        pytest.skip(reason)
    return binary
