"""Nothing lost, nothing doubled: the server is killed (SIGKILL) while a machine publishes counts
to the real broker, started again, and every count published is recorded exactly once."""
from __future__ import annotations

import asyncio
import uuid

from tests.conftest import MQTT_URL, PASSWORDS, skip_unless_available
from tests.databases import empty_tables
from tests.machines import Plant
from tests.servers import ServerProcess, server_env
from tests.waiting import eventually

COUNTS = 400
KILL_AT = 150


async def admin_token(server: ServerProcess) -> str:
    status, body = server.login("admin", PASSWORDS["super_admin"])
    assert status == 200, body
    return body["access_token"]


def recorded(server: ServerProcess, token: str) -> int:
    status, _, body = server.request("GET", "/production?line=L1&per_page=100",
                                     headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return sum(item["quantity_produced"] for item in body["items"])


async def consuming(server: ServerProcess) -> bool:
    status, _, body = server.request("GET", "/readyz")
    return status == 200 and body.get("mqtt", {}).get("state") == "connected"


async def test_a_killed_server_records_every_count_once(tmp_path, database_url, mqtt_names):
    skip_unless_available(bool(MQTT_URL), "MQTT tests need FACTORY_TEST_MQTT_URL")
    if not database_url.startswith("sqlite"):
        await empty_tables(database_url)
    env = server_env(tmp_path, database_url, FACTORY_MQTT_URL=MQTT_URL or "",
                     FACTORY_MQTT_PREFIX=mqtt_names.prefix, FACTORY_MQTT_CLIENT_ID=mqtt_names.client_id)
    server = await ServerProcess(tmp_path / "first", env).wait_ready()
    try:
        token = await admin_token(server)
        auth = {"Authorization": f"Bearer {token}"}
        for path, body in (("/lines", {"code": "L1", "name": "Line 1"}),
                           ("/products", {"sku": f"K-{uuid.uuid4().hex[:6]}", "name": "Widget",
                                          "price": "1.00", "stock_quantity": 0, "reorder_level": 0})):
            status, _, made = server.request("POST", path, body, headers=auth)
            assert status == 201, made
        status, _, machine = server.request("POST", "/machines", {
            "name": "Counter", "line": "L1", "protocol": "json", "product_id": made["id"]}, headers=auth)
        assert status == 201, machine
        assert await eventually(lambda: consuming(server), 60)
        async with Plant(mqtt_names) as plant:
            await plant.json("L1", "count", {"good": 0, "reject": 0, "birth": True})
            for good in range(1, COUNTS + 1):
                await plant.json("L1", "count", {"good": good, "reject": 0})
                if good == KILL_AT:
                    assert await eventually(lambda: recorded(server, token) > 0, 60)
                    server.proc.kill()  # mid-stream: whatever it held unacknowledged comes again
                    server.proc.wait()
                await asyncio.sleep(0.002)
        server.stop()
        server = await ServerProcess(tmp_path / "second", env).wait_ready()
        token = await admin_token(server)
        assert await eventually(lambda: recorded(server, token) >= COUNTS, 120), recorded(server, token)
        await asyncio.sleep(1)  # anything doubled would show by now
        assert recorded(server, token) == COUNTS
        status, _, records = server.request("GET", "/production?line=L1", headers={
            "Authorization": f"Bearer {token}"})
        assert len(records["items"]) == 1 and records["items"][0]["source"] == "machine"
    finally:
        server.stop()

