"""Webhooks across real `python server.py` processes: a SIGKILL and a restart, and a Redis cluster."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from standardwebhooks import Webhook as Verifier

from tests.conftest import PASSWORDS, Api
from tests.receivers import Receiver
from tests.servers import ServerProcess, server_env
from tests.test_cluster import clients, cluster, cluster_database  # noqa: F401 - fixtures

PRIVATE = {"FACTORY_WEBHOOK_ALLOW_PRIVATE": "1"}


async def setup_shop(api: Api, token: str) -> tuple[int, int]:
    customer = await api.post("/customers", {"name": "Acme", "email": "buyer@acme.example",
                                             "phone": "+4930123456"}, token=token)
    product = await api.post("/products", {"sku": "GEAR-1", "name": "Gear", "price": "4.00",
                                           "stock_quantity": 0, "reorder_level": 0}, token=token)
    assert customer.status == product.status == 201, (customer, product)
    return customer.json["id"], product.json["id"]


async def place(api: Api, customer_id: int, product_id: int, token: str) -> dict:
    body = {"customer_id": customer_id, "product_id": product_id, "quantity": 1}
    response = await api.post("/orders", body, token=token)
    assert response.status == 201, response
    return response.json


async def admin_token(api: Api) -> str:
    response = await api.login("admin", PASSWORDS["super_admin"])
    assert response.status == 200, response
    return response.json["access_token"]


async def test_undelivered_events_survive_a_sigkill_and_go_out_after_the_restart(io_loop, tmp_path: Path):
    receiver = Receiver(status=503).start()  # down: nothing is accepted before the kill
    env = server_env(tmp_path / "work", f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}", **PRIVATE)
    first = ServerProcess(tmp_path / "work", env)
    try:
        await first.wait_ready()
        api = Api(first.base_url)
        token = await admin_token(api)
        hook = (await api.post("/webhooks", {"url": receiver.url, "topics": ["orders"]}, token=token)).json
        customer_id, product_id = await setup_shop(api, token)
        orders = [await place(api, customer_id, product_id, token) for _ in range(2)]
        await receiver.wait_for(1)  # the first event was tried, and refused
        api.client.close()
        first.proc.send_signal(signal.SIGKILL)
        assert await first.exit_code() == -signal.SIGKILL
    finally:
        first.stop()
    tried = len(receiver.requests)

    receiver.status = 200
    second = ServerProcess(tmp_path / "work", env)
    try:
        await second.wait_ready()
        accepted = await receiver.wait_for(2, accepted=True)
        await asyncio.sleep(1.5)  # room for a wrong extra delivery to show up
        assert [r.json["data"]["id"] for r in receiver.accepted()] == [o["id"] for o in orders]
        assert all(r.json["event"] == "order.created" for r in accepted)
        for request in receiver.requests:
            Verifier(hook["secret"]).verify(request.body, request.headers)
        assert receiver.requests[tried].headers["Webhook-Id"] == receiver.requests[0].headers["Webhook-Id"]
    finally:
        second.stop()
        receiver.stop()


async def test_two_processes_deliver_each_event_once(cluster):  # noqa: F811 - the fixture
    receiver = Receiver().start()
    try:
        a, b = await cluster.pair(**PRIVATE)
        api_a, api_b = await clients(a, b)
        token = await admin_token(api_a)
        hook = (await api_a.post("/webhooks", {"url": receiver.url, "topics": ["orders"]}, token=token)).json
        customer_id, product_id = await setup_shop(api_a, token)
        placed = []
        for n in range(12):  # written through both processes, both of which run a delivery worker
            placed.append(await place((api_a, api_b)[n % 2], customer_id, product_id, token))
        await receiver.wait_for(12)
        await asyncio.sleep(2.5)  # more than two poll intervals: room for a duplicate to show up
        ids = [r.headers["Webhook-Id"] for r in receiver.requests]
        assert len(ids) == len(set(ids)) == 12, ids
        assert [r.json["data"]["id"] for r in receiver.requests] == [o["id"] for o in placed]
        for request in receiver.requests:
            Verifier(hook["secret"]).verify(request.body, request.headers)
        for api in (api_a, api_b):
            api.client.close()
    finally:
        receiver.stop()
