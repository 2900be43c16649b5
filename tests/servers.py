"""Real `python server.py` processes for tests that need several processes, a signal or a fork."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import tornado.httpclient
import tornado.websocket

from core.logs import LOG_FILE
from tests.conftest import PASSWORDS, SECRET, TEST_RATE_LIMITS

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server.py"
STARTUP_DEADLINE = 60.0  # generous: the machine is shared; nothing here measures speed
WAIT = 20.0  # guards against a hang only


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(workdir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The parent's environment without any FACTORY_* setting, plus a test server's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PROMETHEUS_"))}
    env.update({"FACTORY_DATABASE_URL": database_url, "FACTORY_JWT_SECRET": SECRET,
                "FACTORY_ADMIN_PASSWORD": PASSWORDS["super_admin"], "FACTORY_LOG_DIR": str(workdir / "logs"),
                "FACTORY_RATE_LIMITS": TEST_RATE_LIMITS, "PYTHONUNBUFFERED": "1", **extra})
    return env


def run_cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SERVER), *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


class ServerProcess:
    """`python server.py --port N [args]` in its own working directory, with its output in files."""

    def __init__(self, workdir: Path, env: dict[str, str], *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = Path(env["FACTORY_LOG_DIR"]) / LOG_FILE
        self._output = open(workdir / "server.out", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(self.port), *args],
                                     cwd=workdir, env=env, stdout=self._output, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def output(self) -> str:
        text = (self.workdir / "server.out").read_text(errors="replace")
        if self.log_path.exists():
            text += self.log_path.read_text(errors="replace")
        return text

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []

    async def wait_ready(self) -> ServerProcess:
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

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout: float = WAIT) -> int | None:
        """The exit status once the process has ended, or None if it is still running after `timeout`."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return self.proc.poll()

    def stop(self) -> None:
        self.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._output.close()
