"""Machines over MQTT, through the real server and the real broker: Sparkplug B and JSON counts
become one growing production record, states become stops, births and deaths move online and
offline, store-and-forward lands in its own shift instance, and bad input is only counted."""
from __future__ import annotations

import asyncio

import pytest

from services.floor import sparkplug
from tests.machines import Plant, mqtt_results
from tests.waiting import eventually

DAY = "2026-11-27"
NOW = f"{DAY}T09:00:00Z"  # the early shift (06:00-14:00 UTC) runs


@pytest.fixture
def floor(io_loop, api, make):
    """Line L1 with the early and late shifts, a product with a 2 s ideal cycle."""
    async def build():
        await make.line("L1")
        await make.shift("early", "06:00", "14:00")
        await make.shift("late", "14:00", "22:00")
        return await make.product(ideal_cycle_seconds=2)
    return io_loop.run_sync(build)


async def connected(api) -> None:
    async def ready():
        body = (await api.get("/readyz")).json
        return body.get("mqtt", {}).get("state") == "connected"
    assert await eventually(ready), (await api.get("/readyz")).json


async def press(api, names, product, **overrides):
    body = {"name": "Press 1", "line": "L1", "protocol": "sparkplug", "group_id": names.group,
            "node_id": "n1",
            "device_id": "press", "good_metric": "good", "reject_metric": "reject", "state_metric": "state",
            "fault_metric": "fault", "fault_reasons": {"E12": "breakdown"}, "product_id": product["id"],
            "no_count_stop_seconds": 60, "micro_stop_seconds": 5, **overrides}
    return await api.create("machines", body)


async def machine_records(api, line="L1"):
    return (await api.get(f"/production?line={line}&per_page=100", role="user")).json["items"]


async def totals(api, line="L1"):
    records = await machine_records(api, line)
    return sum(r["quantity_produced"] for r in records), sum(r["quantity_defective"] for r in records)


async def wait_totals(api, expected, line="L1"):
    assert await eventually(lambda: _equals(totals(api, line), expected)), await totals(api, line)


async def _equals(awaitable, expected):
    return await awaitable == expected


async def line_status(api, code="L1"):
    items = (await api.get("/lines/status", role="user")).json["items"]
    return next(item for item in items if item["line"] == code)


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_sparkplug_counts_grow_one_record_and_never_count_twice(api, floor, mqtt_names, plant_time):
    await press(api, mqtt_names, floor)
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=100, reject=5, state="running")
        await plant.data("n1", "press", good=110, reject=6)
        await plant.data("n1", "press", good=110, reject=6)  # delivered twice: counts once
        await plant.data("n1", "press", good=108, reject=6)  # backwards without a BIRTH: nothing
        await plant.spb("DBIRTH", "n1", "press", [{"name": "good", "value": 3},
                                                  {"name": "reject", "value": 0}])
        await plant.data("n1", "press", good=7, reject=1)  # after the reset: +4 good, +1 reject
    await wait_totals(api, (16, 2))
    [record] = await machine_records(api)
    assert record["source"] == "machine" and record["employee_id"] is None
    assert record["shift"] == "early" and record["date_produced"] == DAY
    assert record["product_id"] == floor["id"]
    stock = (await api.get(f"/products/{floor['id']}", role="user")).json["stock_quantity"]
    assert stock == 14
    results = await mqtt_results(api)
    assert results.get("backwards", 0) >= 1 and results.get("applied", 0) >= 4
    status = await line_status(api)
    assert status["plan"]["good"] == 14 and status["plan"]["defective"] == 2
    machines = (await api.get("/machines", role="admin")).json["items"]
    assert machines[0]["status"] == "online" and machines[0]["last_message_at"] == NOW


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_a_running_work_order_takes_the_counts(api, floor, mqtt_names):
    await press(api, mqtt_names, floor, product_id=None)
    order = await api.create("work-orders", {"product_id": floor["id"], "line": "L1", "shift": "early",
                                             "date": DAY, "planned_quantity": 100})
    await api.patch(f"/work-orders/{order['id']}", {"status": "released"}, role="admin")
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=0, reject=0)
        await plant.data("n1", "press", good=9, reject=1)
    await wait_totals(api, (10, 1))
    [record] = await machine_records(api)
    assert record["work_order_id"] == order["id"]
    updated = (await api.get(f"/work-orders/{order['id']}", role="user")).json
    assert updated["status"] == "in_progress" and updated["good"] == 9


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_states_open_and_end_stops_and_users_classify_unassigned_ones(api, floor, mqtt_names,
                                                                             plant_time):
    await press(api, mqtt_names, floor)
    await connected(api)

    async def open_stop():
        items = (await api.get("/stops?line=L1&open=true", role="user")).json["items"]
        return items[0] if items else None

    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=0, reject=0, state="running")
        await plant.data("n1", "press", state="fault", fault="E12")
        assert await eventually(open_stop)
        stop = await open_stop()
        assert stop["reason"] == "breakdown" and stop["reported_by"] == "machine:Press 1"
        assert (await line_status(api))["state"] == "stopped"
        plant_time.advance(seconds=30)
        await plant.data("n1", "press", state="running")
        assert await eventually(lambda: _none(open_stop()))
        ended = (await api.get(f"/stops/{stop['id']}", role="user")).json
        assert ended["duration_seconds"] == 30
        await plant.data("n1", "press", state="stopped", fault="X99")  # unmapped: unassigned
        assert await eventually(open_stop)
        unassigned = await open_stop()
        assert unassigned["reason"] == "unassigned"
        classified = await api.post(f"/stops/{unassigned['id']}/classify", {"reason": "no_material"},
                                    role="user")
        assert classified.status == 200 and classified.json["reason"] == "no_material"
        again = await api.post(f"/stops/{unassigned['id']}/classify", {"reason": "quality"}, role="user")
        assert again.status == 409
        bad = await api.post(f"/stops/{ended['id']}/classify", {"reason": "nope"}, role="user")
        assert bad.status == 409  # breakdown is not unassigned
        await plant.data("n1", "press", state="running")
        assert await eventually(lambda: _none(open_stop()))


async def _none(awaitable):
    return await awaitable is None


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_silence_stops_a_running_machine_and_short_gaps_are_micro_stops(api, floor, mqtt_names,
                                                                               plant_time):
    await press(api, mqtt_names, floor)
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=0, reject=0, state="running")
        await plant.data("n1", "press", good=1)
        await wait_totals(api, (1, 0))
        plant_time.advance(seconds=12)  # over micro_stop_seconds (5), under the stop (60)
        await plant.data("n1", "press", good=2)
        await wait_totals(api, (2, 0))
        status = await line_status(api)
        assert status["micro_stops"] == {"count": 1, "seconds": 12.0}
        counts = (await api.get(f"/lines/L1/counts?from={DAY}T08:00:00Z&to={DAY}T10:00:00Z&bucket=1h",
                                role="user")).json
        assert counts["items"] == [
            {"at": f"{DAY}T08:00:00Z", "good": 0, "reject": 0, "micro_stops": 0, "micro_stop_seconds": 0.0},
            {"at": f"{DAY}T09:00:00Z", "good": 2, "reject": 0, "micro_stops": 1, "micro_stop_seconds": 12.0}]
        plant_time.advance(seconds=25)  # the node stays online: a message keeps it so
        await plant.data("n1", "press", state="running")
        plant_time.advance(seconds=50)  # 75 s without a count: an unassigned stop from the last count
        # Still talking, so online whichever moment the message before was applied at (the server
        # shares this loop: it may have taken it before the clock moved, 50 s ago by now).
        await plant.data("n1", "press", state="running")

        async def silence_stop():
            items = (await api.get("/stops?line=L1&open=true", role="user")).json["items"]
            return items[0] if items else None
        assert await eventually(silence_stop)
        stop = await silence_stop()
        assert stop["reason"] == "unassigned" and stop["started_at"] == f"{DAY}T09:00:12Z"
        await plant.data("n1", "press", good=3)  # the next count ends it
        assert await eventually(lambda: _none(silence_stop()))
    status = await line_status(api)
    assert status["micro_stops"]["count"] == 1  # the stop was no micro-stop


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
@pytest.mark.settings(mqtt_offline_seconds=30)
async def test_deaths_and_silence_take_machines_and_their_line_offline(api, floor, mqtt_names, plant_time):
    await press(api, mqtt_names, floor)
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=0, reject=0, state="running")
        assert await eventually(lambda: _state(api, "running"))
        await plant.spb("DDEATH", "n1", "press")
        assert await eventually(lambda: _state(api, "offline"))
        status = await line_status(api)
        assert status["offline_since"] == NOW
        machine = (await api.get("/machines", role="admin")).json["items"][0]
        assert machine["status"] == "offline" and machine["offline_since"] == NOW
        await plant.birth("n1", "press", good=0, reject=0, state="running")
        assert await eventually(lambda: _state(api, "running"))
        assert (await line_status(api))["offline_since"] is None
        plant_time.advance(seconds=31)  # silence past FACTORY_MQTT_OFFLINE_SECONDS
        assert await eventually(lambda: _state(api, "offline"))
        await plant.data("n1", "press", state="running")
        assert await eventually(lambda: _state(api, "running"))
        await plant.spb("NDEATH", "n1", metrics=[{"name": "bdSeq", "value": 0}])  # the node's last will
        assert await eventually(lambda: _state(api, "offline"))
    csv = await api.get("/machines", role="admin", headers={"Accept": "text/csv"})
    assert csv.status == 200 and b"Press 1" in csv.body and b"offline" in csv.body


async def _state(api, state):
    return (await line_status(api))["state"] == state


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=f"{DAY}T15:00:00Z")
async def test_store_and_forward_lands_in_the_instance_of_its_own_time(api, floor, mqtt_names):
    await press(api, mqtt_names, floor)
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=10, reject=0)
        # Buffered while the link was down: 13:00 and 13:30 (early shift), then live (late shift).
        at_13 = 1795784400000  # 2026-11-27T13:00:00Z in ms
        await plant.spb("DDATA", "n1", "press", [
            {"name": "good", "value": 14, "timestamp": at_13, "is_historical": True},
            {"name": "good", "value": 20, "timestamp": at_13 + 1_800_000, "is_historical": True}])
        await plant.data("n1", "press", good=25)
    await wait_totals(api, (15, 0))
    by_shift = {record["shift"]: record["quantity_produced"] for record in await machine_records(api)}
    assert by_shift == {"early": 10, "late": 5}


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=f"{DAY}T13:59:00Z")
async def test_counts_after_a_shift_change_go_to_a_record_of_the_new_instance(api, floor, mqtt_names,
                                                                              plant_time):
    await press(api, mqtt_names, floor)
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=0, reject=0, state="running")
        await plant.data("n1", "press", good=5, reject=1)  # 13:59: the early shift
        await wait_totals(api, (6, 1))
        plant_time.set(f"{DAY}T14:00:30Z")  # the late shift has begun
        await plant.data("n1", "press", good=8, reject=1)
        await wait_totals(api, (9, 1))
        plant_time.set(f"{DAY}T14:01:00Z")
        await plant.data("n1", "press", good=10, reject=2)
    await wait_totals(api, (12, 2))
    records = {r["shift"]: (r["date_produced"], r["quantity_produced"], r["quantity_defective"])
               for r in await machine_records(api)}
    assert records == {"early": (DAY, 6, 1), "late": (DAY, 6, 1)}
    status = await line_status(api)
    assert status["plan"]["good"] == 5 and status["plan"]["defective"] == 1  # the late instance's own


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=f"{DAY}T14:00:30Z")
async def test_one_burst_across_a_shift_change_splits_at_each_count_s_own_moment(api, floor, mqtt_names):
    await api.create("machines", {"name": "Filler", "line": "L1", "protocol": "json",
                                  "product_id": floor["id"]})
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.json("L1", "count", {"good": 0, "reject": 0, "birth": True})
        # Buffered by the device and sent at once (likely one batch): two moments before 14:00, two after.
        for good, at in ((3, "13:59:58"), (4, "13:59:59"), (6, "14:00:00"), (9, "14:00:20")):
            await plant.json("L1", "count", {"good": good, "reject": 0, "at": f"{DAY}T{at}Z"})
    await wait_totals(api, (9, 0))
    records = {r["shift"]: r["quantity_produced"] for r in await machine_records(api)}
    assert records == {"early": 4, "late": 5}
    counts = (await api.get(f"/lines/L1/counts?from={DAY}T13:59:00Z&to={DAY}T14:01:00Z&bucket=1m",
                            role="user")).json
    assert [item["good"] for item in counts["items"]] == [4, 5]


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_plain_json_machines_count_and_stop(api, floor, mqtt_names):
    machine = await api.create("machines", {"name": "Filler", "line": "L1", "protocol": "json",
                                            "product_id": floor["id"]})
    assert machine["good_metric"] == "good" and machine["state_metric"] == "state"
    await connected(api)
    async with Plant(mqtt_names) as plant:
        await plant.json("L1", "count", {"good": 50, "reject": 2})  # the first reading: the baseline
        await plant.json("L1", "count", {"good": 56, "reject": 3})
        await plant.json("L1", "count", {"good": 56, "reject": 3})
        await wait_totals(api, (7, 1))
        await plant.json("L1", "state", {"state": "fault", "code": "E1"})
        assert await eventually(lambda: _state(api, "stopped"))
        await plant.json("L1", "state", {"state": "running"})
        assert await eventually(lambda: _state(api, "running"))
        await plant.json("L1", "state", {"state": "offline"})  # a device's last will
        assert await eventually(lambda: _state(api, "offline"))


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_bad_input_is_counted_never_applied(api, floor, mqtt_names):
    await press(api, mqtt_names, floor)
    await connected(api)
    before = await mqtt_results(api)
    async with Plant(mqtt_names) as plant:
        await plant.birth("n1", "press", good=0, reject=0)
        await plant.spb("DDATA", "n1", "press", raw=b"\xff" * 100)  # not protobuf
        await plant.spb("DDATA", "n1", "press", raw=b"\x00" * (64 * 1024 + 1))  # too large
        await plant.data("n1", "press", **{f"m{n}": n for n in range(501)})  # too many metrics
        await plant.data("n1", "stranger", good=100)  # no such machine
        await plant.json("L1", "count", b"{not json")
        await plant.json("L1", "count", {"good": 5})  # no JSON machine on L1
        for _ in range(50):  # a flood of nonsense: counted, logged once
            await plant.spb("DDATA", "n1", "press", raw=b"\xff\xff")
        await plant.data("n1", "press", good=3)  # and the consumer still works
    await wait_totals(api, (3, 0))
    after = await mqtt_results(api)
    gained = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    assert gained["undecodable"] >= 52 and gained["too_large"] >= 1 and gained["too_many_metrics"] >= 1
    assert gained["unknown_machine"] >= 2
    assert (await api.get("/readyz")).json["mqtt"]["broker"].startswith("mqtt://")


@pytest.mark.mqtt
@pytest.mark.plant_clock(at=NOW)
async def test_a_seq_gap_asks_the_node_for_a_rebirth(api, floor, mqtt_names):
    await press(api, mqtt_names, floor)
    await connected(api)
    async with Plant(mqtt_names) as plant, Plant(mqtt_names, "listener") as listener:
        await listener.client.subscribe(sparkplug.topic(mqtt_names.group, "NCMD", "n1"), qos=1)
        await plant.birth("n1", "press", good=0)
        await plant.spb("DDATA", "n1", "press", [{"name": "good", "value": 1}], seq=9)  # 2 was due

        async def first_command():
            async for message in listener.client.messages:
                return sparkplug.decode(message.payload)
        command = await asyncio.wait_for(first_command(), 20)
    assert [(m.name, sparkplug.metric_value(m)) for m in command.metrics] == [(sparkplug.REBIRTH, True)]


async def test_machines_are_validated(api, make):
    await make.line("L1")
    missing = await api.post("/machines", {"name": "M", "line": "L1", "protocol": "sparkplug"}, role="admin")
    assert missing.status == 422 and set(missing.json["errors"]) >= {"group_id", "node_id", "good_metric"}
    both = await api.post("/machines", {"name": "M", "line": "L1", "protocol": "json", "reject_metric": "r",
                                        "total_metric": "t"}, role="admin")
    assert both.status == 422 and "total_metric" in both.json["errors"]
    unknown_line = await api.post("/machines", {"name": "M", "line": "L9", "protocol": "json"}, role="admin")
    assert unknown_line.status == 422 and "line" in unknown_line.json["errors"]
    reason = await api.post("/machines", {"name": "M", "line": "L1", "protocol": "json",
                                          "fault_reasons": {"E1": "nope"}}, role="admin")
    assert reason.status == 422 and "fault_reasons" in reason.json["errors"]
    made = await api.create("machines", {"name": "M", "line": "L1", "protocol": "json"})
    assert made["status"] == "offline" and made["last_message_at"] is None
    assert (await api.get("/machines", role="user")).status == 403
    changed = await api.patch(f"/machines/{made['id']}", {"no_count_stop_seconds": 90}, role="admin")
    assert changed.status == 200 and changed.json["no_count_stop_seconds"] == 90
    assert (await api.delete(f"/machines/{made['id']}", role="admin")).status == 204
    bad = await api.get("/lines/L1/counts?from=2026-11-27T00:00:00Z&to=2026-12-27T00:00:00Z&bucket=1m",
                        role="user")
    assert bad.status == 400
    assert (await api.get("/lines/NOPE/counts?from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z",
                          role="user")).status == 404
