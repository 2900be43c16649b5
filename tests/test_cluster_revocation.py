"""Revocation across processes while Redis is away: a revoked right is refused at once on every process.

Two real server processes share one MariaDB and reach Redis through a relay the test cuts, so both
lose it. A revocation made on A cannot be announced to B then; B must not trust what it cached.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import PASSWORDS, REDIS_URL, Api
from tests.servers import ServerProcess, server_env
from tests.test_cluster import clients, cluster, cluster_database  # noqa: F401 - fixtures
from tests.test_resilience import TcpProxy
from tests.waiting import eventually


async def redis_down(api: Api) -> bool:
    checks = (await api.get("/readyz")).json["checks"]
    return checks["redis"] is False


async def sign_in(api: Api, admin: str, username: str, role: str = "user") -> tuple[int, str]:
    created = await api.post("/users", {"username": username, "password": PASSWORDS["user"], "role": role,
                                        "is_active": True}, token=admin)
    assert created.status == 201, created
    login = await api.login(username, PASSWORDS["user"])
    assert login.status == 200, login
    return created.json["id"], login.json["access_token"]


async def test_revocations_reach_another_process_at_once_while_redis_is_down(cluster, tmp_path: Path):  # noqa: F811
    target = urlsplit(REDIS_URL)
    relay = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379).start()
    try:
        redis_url = f"redis://127.0.0.1:{relay.port}{target.path or '/0'}"
        servers = []
        for name in ("a", "b"):
            workdir = tmp_path / name
            env = server_env(workdir, cluster.database_url, FACTORY_REDIS_URL=redis_url,
                             FACTORY_REDIS_PREFIX=cluster.prefix)
            server = ServerProcess(workdir, env)
            cluster.servers.append(server)
            servers.append(await server.wait_ready())
        a, b = servers
        api_a, api_b = await clients(a, b)
        root = await api_a.token("super_admin")
        deactivated = await sign_in(api_a, root, "to_deactivate")
        deleted = await sign_in(api_a, root, "to_delete")
        demoted = await sign_in(api_a, root, "to_demote", role="admin")
        changer = await sign_in(api_a, root, "changes_password")
        screen = await api_a.post("/auth/display-tokens", {"label": "Hall 1"}, role="admin")
        assert screen.status == 201, screen
        screen_token = screen.json["token"]
        # B resolves (and would cache) every one of them while Redis is up.
        for _, token in (deactivated, deleted, demoted, changer):
            assert (await api_b.get("/auth/me", token=token)).status == 200
        assert (await api_b.get("/employees", token=demoted[1])).status == 200
        assert (await api_b.get("/lines/status", token=screen_token)).status == 200

        relay.cut("refuse")
        assert await eventually(lambda: redis_down(api_a)) and await eventually(lambda: redis_down(api_b))

        assert (await api_a.patch(f"/users/{deactivated[0]}", {"is_active": False}, token=root)).status == 200
        assert (await api_a.delete(f"/users/{deleted[0]}", token=root)).status == 204
        assert (await api_a.patch(f"/users/{demoted[0]}", {"role": "user"}, token=root)).status == 200
        changed = await api_a.post("/auth/password", {"current_password": PASSWORDS["user"],
                                                      "new_password": "another-pass-456"}, token=changer[1])
        assert changed.status == 200, changed
        revoked = await api_a.delete(f"/auth/display-tokens/{screen.json['id']}", role="admin")
        assert revoked.status == 204, revoked

        for _, token in (deactivated, deleted, changer):
            assert (await api_b.get("/auth/me", token=token)).status == 401
        demoted_on_b = await api_b.get("/employees", token=demoted[1])
        assert demoted_on_b.status in (401, 403), demoted_on_b  # a role change ends the old tokens
        assert (await api_b.get("/lines/status", token=screen_token)).status == 401
        # and what is still valid keeps working on B without Redis
        assert (await api_b.get("/auth/me", token=changed.json["access_token"])).status == 200
        for api in (api_a, api_b):
            api.client.close()
    finally:
        relay.stop()
