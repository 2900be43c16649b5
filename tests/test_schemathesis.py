"""Schemathesis against the live server: no 5xx, and every response is what /openapi.json says it is."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import tornado.netutil

from app import make_app
from core.config import Settings
from services.identity.users import UserService
from tests.conftest import PASSWORDS, SECRET

ST = Path(sys.executable).parent / "st"
# Fixed by default so CI is reproducible; set FACTORY_SCHEMATHESIS_SEED to explore other inputs.
SEED = os.environ.get("FACTORY_SCHEMATHESIS_SEED", "20261126")
# Conformance and safety checks. positive_data_acceptance is left out: schema-valid bodies can still
# be refused by rules no JSON schema states (a product id that does not exist, `from` after `to`).
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "missing_required_header", "unsupported_method", "allow_header_conformance", "ignored_auth",
    "use_after_free", "ensure_resource_availability",
])
# The role users sit far above the ids the fuzzer tries, so it never edits the account it runs as.
ROLE_IDS = {"user": 2_000_000_001, "admin": 2_000_000_002, "super_admin": 2_000_000_003}
# (role, operations, examples per operation, phases). Admin over every operation with every phase;
# user over every operation again (mostly 403s, plus the writes users may make) without the
# slow coverage phase; the users routes (403 to both) as super_admin, without the stateful phase
# that could follow a link from a listed user to the account the run signs in as.
RUNS = [
    ("admin", None, 10, "examples,coverage,fuzzing,stateful"),
    ("user", None, 5, "examples,fuzzing,stateful"),
    ("super_admin", "^/users", 10, "examples,coverage,fuzzing"),
]


class LiveServer:
    """The application on its own thread and event loop, so a subprocess can fuzz it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped: asyncio.Event | None = None
        self.sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self.url = f"http://127.0.0.1:{self.sockets[0].getsockname()[1]}"
        self.thread = threading.Thread(target=self._run, name="schemathesis-server", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to the test through start()
            self.error = exc
            self.ready.set()

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopped = asyncio.Event()
        app = make_app(self.settings)
        try:
            async with app.ctx.db.write() as uow:
                for role, ident in ROLE_IDS.items():
                    await UserService().create(uow, {"id": ident, "username": f"test_{role}",
                                                     "password": PASSWORDS[role], "role": role,
                                                     "is_active": True})
            await app.start()
            server = tornado.httpserver.HTTPServer(app)
            server.add_sockets(self.sockets)
            self.ready.set()
            await self.stopped.wait()
            server.stop()
            await server.close_all_connections()
        finally:
            await app.close()

    def start(self) -> None:
        self.thread.start()
        self.ready.wait(60)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self.loop is not None and self.stopped is not None:
            self.loop.call_soon_threadsafe(self.stopped.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: str) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("schemathesis")
    shutil.copy(sqlite_template, folder / "factory.db")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{folder / 'factory.db'}", jwt_secret=SECRET,
                        log_dir=str(folder / "logs"), admin_password=PASSWORDS["super_admin"],
                        rate_limits="login=1000000/60,read=1000000/60,write=1000000/60,analytics=1000000/60",
                        # The fuzzer registers webhooks with any public URL it makes up: nothing may
                        # be sent to them (no delivery worker, and a ping is a 409).
                        webhook_delivery=False)
    server = LiveServer(settings)
    server.start()
    yield server
    server.stop()


def run_config(path: Path, role: str) -> Path:
    """Bearer auth that signs in as `role` (again whenever a 401 says the token was revoked), and
    schemathesis's own cache under the test's temporary folder, never in the checkout."""
    path.write_text(
        "[cache]\n"
        f'directory = "{path.parent / "schemathesis-cache"}"\n'
        "[auth.dynamic.openapi.bearerAuth]\n"
        'path = "/auth/login"\n'
        f'payload = {{ username = "test_{role}", password = "{PASSWORDS[role]}" }}\n'
        'extract_selector = "/access_token"\n'
        # A URL over 8 KiB is refused before its query is read (414): a rejection like the others.
        "[checks.negative_data_rejection]\n"
        'expected-statuses = [400, 401, 403, 404, 405, 406, 409, 414, 415, 422, 428, 429, "5xx"]\n'
    )
    return path


@pytest.mark.parametrize(("role", "paths", "examples", "phases"), RUNS, ids=[run[0] for run in RUNS])
def test_schemathesis_finds_nothing(live_server: LiveServer, tmp_path: Path, role: str, paths: Any,
                                    examples: int, phases: str) -> None:
    command = [str(ST), "--config-file", str(run_config(tmp_path / "schemathesis.toml", role)),
               "run", f"{live_server.url}/openapi.json", "--checks", CHECKS, "--max-examples", str(examples),
               "--phases", phases, "--workers", "1", "--seed", SEED, "--generation-database", "none",
               "--request-timeout", "30", "--no-color", "--report", "junit",
               "--report-junit-path", str(tmp_path / "junit.xml")]
    if paths:
        command += ["--include-path-regex", paths]
    # cwd: anything else it writes relative to the working directory (.schemathesis/) stays in tmp too.
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"schemathesis as {role} found problems:\n{output[-20000:]}"
    assert "No operations" not in output, output[-2000:]
