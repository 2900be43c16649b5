"""`python server.py` as an operator runs it: serve, migrate, create-user, and the log."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from core.logs import LOG_FILE
from tests.conftest import MYSQL_URL, skip_unless_available
from tests.servers import ServerProcess, free_port, newcomer_env, run_cli

ACCESS_LINE = re.compile(r"factory\.access (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) "
                         r"(?P<ms>\d+(?:\.\d+)?)ms user=(?P<user>\S+) rid=(?P<rid>\S+)")


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


@pytest.fixture
def start_server(workdir):
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(workdir, env or newcomer_env(workdir))
        started.append(server)
        return server.wait_serving()

    yield start
    for server in started:
        server.stop()


def access_lines(workdir: Path) -> list[re.Match]:
    log = workdir / "logs" / LOG_FILE
    return [m for m in map(ACCESS_LINE.search, log.read_text().splitlines()) if m]


# -- serve ------------------------------------------------------------------------------------

def test_first_start_migrates_creates_admin_and_serves(workdir, start_server):
    server = start_server()
    password = server.generated_password()
    assert password, f"no generated password printed: {server.printed()}"
    assert (workdir / "factory.db").exists()
    secret = workdir / ".jwt_secret"
    assert secret.exists() and oct(secret.stat().st_mode & 0o777) == "0o600"

    status, _, body = server.request("GET", "/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, _, body = server.request("GET", "/readyz")
    assert status == 200 and body["ready"] is True
    status, pair = server.login("admin", password)
    assert status == 200
    status, me = server.me(pair["access_token"])
    assert status == 200 and me["username"] == "admin" and me["role"] == "super_admin"
    assert server.stop() == 0

    # The second start finds its users and its key: no new password, old tokens still valid.
    again = start_server()
    assert again.generated_password() is None
    assert again.me(pair["access_token"])[0] == 200
    assert again.stop() == 0


def test_admin_password_from_the_environment(workdir, start_server):
    server = start_server(newcomer_env(workdir, FACTORY_ADMIN_PASSWORD="chosen-admin-pass-1"))
    assert server.generated_password() is None
    assert "chosen-admin-pass-1" not in server.output()
    status, _, _ = server.request("POST", "/login", {"username": "admin", "password": "chosen-admin-pass-1"})
    assert status == 200


def test_access_log_has_one_line_per_request_and_no_secrets(workdir, start_server):
    server = start_server(newcomer_env(workdir, FACTORY_ADMIN_PASSWORD="chosen-admin-pass-1"))
    status, pair = server.login("admin", "chosen-admin-pass-1")
    assert status == 200
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    assert server.login("admin", "wrong-password-9")[0] == 401
    sent = [
        ("GET", "/products", bearer, 200),
        ("GET", "/products?per_page=5", {**bearer, "X-Request-ID": "cli-trace-7"}, 200),
        ("GET", "/missing", {"X-Request-ID": "cli-missing-1"}, 404),
        ("GET", "/employees", {}, 401),
        ("POST", "/auth/refresh", {}, 200),
        # No upgrade: sent to the AsyncAPI document (303), still logged, the token redacted.
        ("GET", f"/ws?token={pair['access_token']}", {}, 303),
    ]
    answers = []
    started, answered = [], []  # when the client sent each request and when it had the answer
    for method, path, headers, expected in sent:
        body = {"refresh_token": pair["refresh_token"]} if path == "/auth/refresh" else None
        started.append(time.perf_counter())
        status, head, answer = server.request(method, path, body, headers)
        answered.append(time.perf_counter())
        assert status == expected, (path, answer)
        answers.append((head, answer))
    server.stop()  # flushes and closes the log
    # The server logs a request after sending its answer (so a loaded machine can log a little more
    # than the client saw), but always before it answers the next one, or before it stops.
    bounds_ms = [1000 * (end - start) for start, end in zip(started, [*answered[1:], time.perf_counter()],
                                                            strict=True)]

    # Everything but the start-up probes of wait_until_serving, in order.
    lines = [m for m in access_lines(workdir) if m["path"] != "/healthz"]
    assert len(lines) == 2 + len(sent), [m.group(0) for m in lines]
    checked = zip(lines[2:], sent, answers, bounds_ms, strict=True)
    for line, (method, path, _, status), (head, _), bound in checked:
        assert line["method"] == method
        assert line["path"] == path.split("?token=")[0] + ("?token=[redacted]" if "?token=" in path else "")
        assert int(line["status"]) == status
        # The request's own duration in milliseconds to one decimal: it fits between the client's
        # sending it and the next answer (a slower machine moves both sides), which a time since
        # start-up or a figure in microseconds would not.
        assert re.fullmatch(r"\d+\.\d", line["ms"]), line["ms"]
        assert float(line["ms"]) <= bound + 0.1, (line["ms"], bound)
        assert line["rid"] == head["X-Request-ID"]
    assert [m["user"] for m in lines[2:4]] == ["admin", "admin"]
    assert lines[4]["rid"] == "cli-missing-1" and lines[3]["rid"] == "cli-trace-7"
    assert lines[5]["user"] == "-"

    log = (workdir / "logs" / LOG_FILE).read_text()
    refreshed = answers[4][1]
    for secret in ("chosen-admin-pass-1", "wrong-password-9", pair["access_token"], pair["refresh_token"],
                   refreshed["access_token"], refreshed["refresh_token"]):
        assert secret not in log
        assert secret.split(".")[-1] not in log  # not even a token's signature


# -- migrate and create-user ------------------------------------------------------------------

def test_migrate_subcommand(workdir):
    first = run_cli(workdir, "migrate")
    assert first.returncode == 0, first.stderr
    assert re.search(r"revision \w+", first.stdout)
    assert (workdir / "factory.db").exists()
    again = run_cli(workdir, "migrate")
    assert again.returncode == 0
    assert again.stdout == first.stdout


def test_create_user_then_sign_in(workdir, start_server):
    created = run_cli(workdir, "create-user", "alice", "--role", "admin", "--password", "alice-pass-123")
    assert created.returncode == 0, created.stderr
    assert "alice" in created.stdout
    assert "alice-pass-123" not in created.stdout + created.stderr
    bob_env = newcomer_env(workdir, FACTORY_NEW_USER_PASSWORD="bob-pass-1234")
    from_env = run_cli(workdir, "create-user", "bob", env=bob_env)
    assert from_env.returncode == 0, from_env.stderr

    duplicate = run_cli(workdir, "create-user", "alice", "--password", "another-pass-1")
    assert duplicate.returncode != 0
    assert "username" in duplicate.stderr
    for bad in (["create-user", "x", "--password", "long-enough-1"],
                ["create-user", "carol", "--password", "short"],
                ["create-user", "dave", "--role", "boss", "--password", "long-enough-1"]):
        refused = run_cli(workdir, *bad)
        assert refused.returncode != 0, bad
        assert "Traceback" not in refused.stderr

    server = start_server(newcomer_env(workdir, FACTORY_ADMIN_PASSWORD="unused-admin-pass"))
    # Users existed, so no admin was created on this first serve.
    assert server.login("admin", "unused-admin-pass")[0] == 401
    status, pair = server.login("alice", "alice-pass-123")
    assert status == 200
    assert server.me(pair["access_token"])[1]["role"] == "admin"
    assert server.login("bob", "bob-pass-1234")[0] == 200


def test_bad_configuration_is_a_one_line_error(workdir):
    result = run_cli(workdir, "migrate", env=newcomer_env(workdir, FACTORY_ENV="production"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "FACTORY_JWT_SECRET" in lines[0]


# -- MariaDB: serving refuses an un-migrated database -----------------------------------------

def test_mariadb_serve_refuses_an_unmigrated_database_until_migrate(workdir, empty_mariadb, start_server):
    env = newcomer_env(workdir, FACTORY_DATABASE_URL=empty_mariadb, FACTORY_ADMIN_PASSWORD="maria-admin-pass")
    refused = run_cli(workdir, "--port", str(free_port()), env=env)
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "migrate" in lines[0]
    assert "Traceback" not in refused.stderr

    migrated = run_cli(workdir, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    server = start_server(env)
    assert server.login("admin", "maria-admin-pass")[0] == 200
    assert server.stop() == 0


def test_mariadb_unreachable_is_a_one_line_error(workdir):
    skip_unless_available(bool(MYSQL_URL), "MariaDB tests need FACTORY_TEST_MYSQL_URL")
    url = make_url(MYSQL_URL).set(port=free_port()).render_as_string(hide_password=False)
    result = run_cli(workdir, "--port", str(free_port()), env=newcomer_env(workdir, FACTORY_DATABASE_URL=url))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "FACTORY_DATABASE_URL" in lines[0]
