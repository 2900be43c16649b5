"""Cluster mode: two server processes on one database, one Redis and one broker share the machines'
MQTT session, and exactly one of them consumes it at a time (a Redis lease). The holder is killed
mid-stream; the other takes the session over, and every count published is recorded once."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import MQTT_URL, PASSWORDS, REDIS_URL, skip_unless_available
from tests.databases import empty_tables
from tests.machines import Plant
from tests.servers import ServerProcess, server_env
from tests.waiting import eventually

COUNTS = 300
KILL_AT = 120


def call(server: ServerProcess, method: str, path: str, token: str | None = None,
         body: object = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, answer = server.request(method, path, body, headers=headers)
    return status, answer


def consumer(server: ServerProcess) -> dict:
    status, body = call(server, "GET", "/readyz")
    return body.get("mqtt", {}) if isinstance(body, dict) else {}


def recorded(server: ServerProcess, token: str) -> int:
    status, body = call(server, "GET", "/production?line=L1&per_page=100", token)
    assert status == 200, body
    return sum(item["quantity_produced"] for item in body["items"])


async def test_two_processes_consume_each_count_once(tmp_path, database_url, mqtt_names, redis_prefix):
    skip_unless_available(bool(MQTT_URL), "MQTT tests need FACTORY_TEST_MQTT_URL")
    skip_unless_available(bool(REDIS_URL), "cluster tests need FACTORY_TEST_REDIS_URL")
    if database_url.startswith("sqlite"):  # not a missing backend: no SQLite to share (CI's strict mode)
        pytest.skip("cluster mode shares a MariaDB database: MariaDB only")
    await empty_tables(database_url)
    env = server_env(tmp_path, database_url, FACTORY_MQTT_URL=MQTT_URL or "",
                     FACTORY_MQTT_PREFIX=mqtt_names.prefix, FACTORY_MQTT_CLIENT_ID=mqtt_names.client_id,
                     FACTORY_REDIS_URL=REDIS_URL or "", FACTORY_REDIS_PREFIX=redis_prefix)
    # One after the other: the first start creates the admin user on the empty database.
    servers = [await ServerProcess(tmp_path / "a", env).wait_ready()]
    servers.append(await ServerProcess(tmp_path / "b", env).wait_ready())
    try:
        status, login = servers[0].login("admin", PASSWORDS["super_admin"])
        assert status == 200, login
        token = login["access_token"]
        status, _ = call(servers[0], "POST", "/lines", token, {"code": "L1", "name": "Line 1"})
        assert status == 201
        status, product = call(servers[0], "POST", "/products", token, {
            "sku": f"C-{uuid.uuid4().hex[:6]}", "name": "Widget", "price": "1.00", "stock_quantity": 0})
        assert status == 201, product
        status, machine = call(servers[1], "POST", "/machines", token, {
            "name": "Counter", "line": "L1", "protocol": "json", "product_id": product["id"]})
        assert status == 201, machine

        async def one_holds() -> bool:
            states = sorted(consumer(server).get("state") for server in servers)
            return states == ["connected", "standby"]
        assert await eventually(one_holds, 60), [consumer(server) for server in servers]
        holder, standby = sorted(servers, key=lambda server: consumer(server)["state"] != "connected")

        async with Plant(mqtt_names) as plant:
            await plant.json("L1", "count", {"good": 0, "reject": 0, "birth": True})
            for good in range(1, COUNTS + 1):
                await plant.json("L1", "count", {"good": good, "reject": 0})
                if good == KILL_AT:
                    assert await eventually(lambda: recorded(holder, token) > 0, 60)
                    assert consumer(standby)["messages"] == 0  # the standby never took one
                    holder.proc.kill()  # its lease runs out; the standby resumes the session
                    holder.proc.wait()
                await asyncio.sleep(0.002)
        assert await eventually(lambda: recorded(standby, token) >= COUNTS, 120), recorded(standby, token)
        await asyncio.sleep(1)  # anything doubled would show by now
        assert recorded(standby, token) == COUNTS
        assert consumer(standby)["state"] == "connected" and consumer(standby)["messages"] > 0
        status, records = call(standby, "GET", "/production?line=L1", token)
        assert len(records["items"]) == 1 and records["items"][0]["source"] == "machine"
    finally:
        for server in servers:
            server.stop()
