"""Real `python server.py` processes: for the command line itself, and for tests that need several
processes, a signal or a fork."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import tornado.httpclient

from core.logs import LOG_FILE
from tests.conftest import PASSWORDS, SECRET, TEST_RATE_LIMITS
from tests.waiting import GUARD

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server.py"
STARTUP_DEADLINE = 60.0  # generous: the machine is shared; nothing here measures speed
PASSWORD_LINE = re.compile(r"Created super_admin 'admin' with password: (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def without_factory_settings() -> dict[str, str]:
    """The parent's environment without any FACTORY_* (or PROMETHEUS_*) setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PROMETHEUS_"))}


def newcomer_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of someone who just cloned the project: a SQLite file and a log folder only."""
    env = without_factory_settings()
    env.update({"FACTORY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'factory.db'}",
                "FACTORY_LOG_DIR": str(workdir / "logs"), "PYTHONUNBUFFERED": "1", **extra})
    return env


def server_env(workdir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """A test server's environment: the test secret, admin password and budgets on `database_url`."""
    env = without_factory_settings()
    env.update({"FACTORY_DATABASE_URL": database_url, "FACTORY_JWT_SECRET": SECRET,
                "FACTORY_ADMIN_PASSWORD": PASSWORDS["super_admin"], "FACTORY_LOG_DIR": str(workdir / "logs"),
                "FACTORY_RATE_LIMITS": TEST_RATE_LIMITS, "PYTHONUNBUFFERED": "1", **extra})
    return env


def run_cli(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python server.py ARGS` to the end, in `workdir`; a newcomer's environment unless given one."""
    return subprocess.run([sys.executable, str(SERVER), *args], cwd=workdir, env=env or newcomer_env(workdir),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)



class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer of its own here (its status and Location), not a request to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)

class ServerProcess:
    """`python server.py --port N [args]` in its own working directory, with its output in a file."""

    def __init__(self, workdir: Path, env: dict[str, str], *args: str, script: Path = SERVER) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = Path(env.get("FACTORY_LOG_DIR") or workdir / "logs") / LOG_FILE
        self.out_path = workdir / f"server-{self.port}.out"  # one per process: restarts share a folder
        self._output = open(self.out_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(script), "--port", str(self.port), *args],
                                     cwd=workdir, env=env, stdout=self._output, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def printed(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        return self.out_path.read_text(errors="replace")

    def output(self) -> str:
        """What it printed, then its log file."""
        text = self.printed()
        if self.log_path.exists():
            text += self.log_path.read_text(errors="replace")
        return text

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []

    def generated_password(self) -> str | None:
        """The super_admin password a first start printed, if it printed one."""
        passwords = PASSWORD_LINE.findall(self.printed())
        assert len(passwords) <= 1, passwords
        return passwords[0] if passwords else None

    async def wait_ready(self) -> ServerProcess:
        """Poll /readyz from a test on the io_loop until it answers 200."""
        client = tornado.httpclient.AsyncHTTPClient(force_instance=True)
        deadline = time.monotonic() + STARTUP_DEADLINE
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
                try:
                    response = await client.fetch(self.base_url + "/readyz", raise_error=False,
                                                  request_timeout=5)
                    if response.code == 200:
                        return self
                except OSError:
                    pass
                await asyncio.sleep(0.2)
        finally:
            client.close()
        raise AssertionError(f"server did not become ready:\n{self.output()[-3000:]}")

    def wait_serving(self) -> ServerProcess:
        """Poll /healthz from a plain (synchronous) test until it answers 200."""
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not answer /healthz:\n{self.output()[-3000:]}")

    def request(self, method: str, path: str, body: object = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        """A synchronous request: (status, headers, decoded JSON body or None)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with _NO_REDIRECTS.open(request, timeout=30) as response:
                status, head, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, head, raw = error.code, error.headers, error.read()
        return status, head, json.loads(raw) if raw else None

    def login(self, username: str, password: str) -> tuple[int, Any]:
        status, _, body = self.request("POST", "/auth/login", {"username": username, "password": password})
        return status, body

    def me(self, access_token: str) -> tuple[int, Any]:
        status, _, body = self.request("GET", "/auth/me", headers={"Authorization": f"Bearer {access_token}"})
        return status, body

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout: float = GUARD) -> int | None:
        """The exit status once the process has ended, or None if it is still running after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return self.proc.poll()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it has not ended within 30 s; its exit status."""
        self.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._output.close()
        return self.proc.returncode
