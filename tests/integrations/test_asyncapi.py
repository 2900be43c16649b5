"""/asyncapi.json: a valid AsyncAPI 3.0 document, and every event sent over /ws and webhooks fits it."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from realtime.hub import EVENT_TOPICS
from services.common.events import EVENTS
from tests.event_contract import violations
from tests.feeds import Feed
from tests.receivers import Receiver

MACHINE_ONLY = {"machine.status"}  # sent by the MQTT consumer alone

SCHEMA_FILE = Path(__file__).parents[1] / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"
SPEC = json.loads(SCHEMA_FILE.read_text())
ALL_TOPICS = sorted(set(EVENT_TOPICS.values()))


def spec_errors(document):
    validator = jsonschema.validators.validator_for(SPEC)(SPEC)
    return [f"{list(error.path)}: {error.message[:300]}" for error in validator.iter_errors(document)]


async def test_the_document_is_valid_asyncapi_3(api):
    response = await api.get("/asyncapi.json")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json
    assert document["asyncapi"] == "3.0.0"
    assert spec_errors(document) == []
    broken = copy.deepcopy(document)  # the check can fail: a wrong action is caught
    broken["operations"]["send_events"]["action"] = "publish"
    assert spec_errors(broken)
    again = await api.get("/asyncapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304


async def test_the_document_describes_every_event_the_protocol_and_the_webhooks(api, base_url):
    document = (await api.get("/asyncapi.json")).json
    assert document["servers"]["live"]["host"] == base_url.removeprefix("http://")
    live = document["servers"]["live"]  # server and channel join to the real path, once
    assert live.get("pathname", "") + document["channels"]["liveFeed"]["address"] == "/ws"
    feed = document["channels"]["liveFeed"]["messages"]
    assert {"auth", "subscribe", "unsubscribe", "ping", "subscribed", "resync", "pong", "error"} <= set(feed)
    assert set(EVENTS) <= set(feed)
    hooks = document["channels"]["webhooks"]["messages"]
    assert {f"webhook.{name}" for name in EVENTS} | {"webhook.webhook.ping"} == set(hooks)
    signed = document["components"]["messages"]["webhook.order.created"]["headers"]
    assert set(signed["required"]) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert {name: kind.topic for name, kind in EVENTS.items()} == dict(EVENT_TOPICS)


async def test_the_docs_link_to_it(api):
    document = (await api.get("/openapi.json")).json
    assert "/asyncapi.json" in document["info"]["description"]
    assert "/asyncapi.json" in document["paths"]


@pytest.mark.settings(webhook_allow_private=True, webhook_poll_interval=0.05, andon_escalate_seconds=0,
                      andon_check_interval=0.05)
async def test_every_event_sent_on_the_feed_and_to_webhooks_fits_its_schema(api, make, app, base_url):
    receiver = Receiver().start()
    try:
        hook = await api.post("/webhooks", {"url": receiver.url, "topics": ALL_TOPICS}, role="admin")
        assert hook.status == 201
        feed = await Feed.open(base_url.replace("http", "ws") + "/ws", await api.token("admin"))
        frames = [await feed.subscribe(ALL_TOPICS)]

        customer = await make.customer()
        gear = await make.product(stock_quantity=5, reorder_level=3)
        employee = await make.employee()
        order = (await api.post("/orders", {"customer_id": customer["id"], "product_id": gear["id"],
                                            "quantity": 3}, role="user")).json
        for status in ("confirmed", "in_production", "shipped"):  # shipping takes stock below reorder
            assert (await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")).status == 200
        await make.line("A1")
        await make.shift("early", "06:00", "14:00")
        plan = await api.create("work-orders", {"product_id": gear["id"], "line": "A1", "shift": "early",
                                                "date": "2026-11-20", "planned_quantity": 10})
        assert (await api.post("/lines/A1/stops", {"reason": "breakdown"}, role="user")).status == 201
        assert (await api.post("/lines/A1/stops/current/end", role="user")).status == 200
        call = await api.create("lines/A1/calls", {"kind": "maintenance", "note": "spindle"}, role="user")
        for step in ("acknowledge", "resolve"):
            assert (await api.post(f"/calls/{call['id']}/{step}", role="user")).status == 200
        await api.create("lines/A1/calls", {"kind": "material"}, role="user")  # escalates at once
        record = (await api.post("/production", {
            "product_id": gear["id"], "employee_id": employee["id"], "quantity_produced": 4,
            "date_produced": "2026-11-20", "line": "A1", "work_order_id": plan["id"]}, role="user")).json
        assert (await api.patch(f"/production/{record['id']}", {"quantity_defective": 1},
                                role="admin")).status == 200
        assert (await api.delete(f"/production/{record['id']}", role="admin")).status == 204
        imports = {"products": [{"sku": "IMP-1", "name": "Imported", "price": "1.00"}],
                   "orders": [{"customer_id": customer["id"], "product_id": gear["id"], "quantity": 1}],
                   "production": [{"product_id": gear["id"], "employee_id": employee["id"],
                                   "quantity_produced": 2, "date_produced": "2026-11-21"}]}
        for resource, rows in imports.items():  # one summary event each
            assert (await api.post(f"/imports/{resource}", rows, role="admin")).status == 200
        assert (await api.post(f"/webhooks/{hook.json['id']}/test", role="admin")).status == 200

        while not {"line.status", "call.escalated"} <= {frame.get("event") for frame in frames}:
            frames += await feed.events(1)  # coalesced, or by the escalation sweep: they come later
        feed.send(type="unsubscribe", topics=["orders"])
        feed.send(type="bogus")
        frames += await feed.quiet()
        feed.close()
        events = [frame for frame in frames if frame["type"] == "event"]
        # Every kind but the MQTT consumer's own (tests/floor/test_machines.py sends those, and every
        # test's events are checked against this document by the app fixture).
        assert {event["event"] for event in events} == set(EVENTS) - MACHINE_ONLY
        for event in events:
            assert violations(event) == [], event

        await receiver.wait_for(len(events) + 1)
        bodies = [request.json for request in receiver.requests]
        assert {body["event"] for body in bodies} == set(EVENTS) - MACHINE_ONLY | {"webhook.ping"}
        for body in bodies:
            assert violations(body) == [], body

        document = (await api.get("/asyncapi.json")).json
        messages = document["components"]["messages"]
        replies = [frame for frame in frames if frame["type"] != "event"]
        assert {"subscribed", "unsubscribed", "error"} <= {frame["type"] for frame in replies}
        for frame in replies:
            validator = jsonschema.Draft7Validator(messages[frame["type"]]["payload"])
            assert list(validator.iter_errors(frame)) == [], frame
    finally:
        receiver.stop()


@pytest.mark.settings(public_url="https://factory.example.com")
async def test_the_live_server_is_the_public_url_when_one_is_set(api):
    # Like Link and Location: a client following the document reaches the public name, whatever Host said.
    response = await api.get("/asyncapi.json", headers={"Host": "attacker.example"})
    live = response.json["servers"]["live"]
    assert (live["host"], live["protocol"]) == ("factory.example.com", "wss")
    again = await api.get("/asyncapi.json", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
