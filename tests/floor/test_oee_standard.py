"""OEE and shift accounting by the standard, every figure computed by hand from the definitions:

planned production time = shift time so far − planned downtime (scheduled breaks once their time has
come, planned stops); run time = planned production time − unplanned stop time; every moment counted
once (overlaps are planned downtime); availability = run / planned; performance = ideal cycle ×
produced / run; quality = good / produced; OEE = A × P × Q. Expected by now = ⌊planned quantity ×
(shift time so far − breaks so far) / (shift length − breaks)⌋.

The hand numbers below are written as plain arithmetic on seconds, never by calling the service.
"""
from __future__ import annotations

import pytest

DAY = "2026-11-27"


def r(value):
    return round(value, 4)


def at(clock: str, day: str = DAY) -> str:
    return f"{day}T{clock}:00Z"


async def post_record(api, product, employee, line, produced, defective=0, **fields):
    response = await api.post("/production", {"product_id": product["id"], "employee_id": employee["id"],
                                              "line": line, "quantity_produced": produced,
                                              "quantity_defective": defective, **fields}, role="user")
    assert response.status == 201, response
    return response.json


async def stop(api, plant_time, line, reason, start, end=None):
    plant_time.set(at(start))
    await api.create(f"lines/{line}/stops", {"reason": reason}, role="user")
    if end:
        plant_time.set(at(end))
        assert (await api.post(f"/lines/{line}/stops/current/end", role="user")).status == 200


async def statuses(api):
    response = await api.get("/lines/status", role="user")
    assert response.status == 200, response
    return {item["line"]: item for item in response.json["items"]}, response.json["plant"]


@pytest.fixture
def floor(io_loop, make, api):
    """Early 06:00-14:00 UTC with breaks at 09:00 (30 min) and 12:00 (15 min): 28,800 s long, 2,700 s
    of breaks, 26,100 s of planned time. L1 makes gears (30 s ideal), L2 bolts (12 s), L3 a part whose
    ideal cycle is set too long (60 s); L4 has nothing planned."""

    async def build():
        shift = await make.shift("early", "06:00", "14:00",
                                 breaks=[{"starts_at": "09:00", "minutes": 30},
                                         {"starts_at": "12:00", "minutes": 15}])
        assert shift["break_minutes"] == 45 and shift["planned_minutes"] == 435
        for code in ("L1", "L2", "L3", "L4"):
            await make.line(code)
        plant = {"gear": await make.product(ideal_cycle_seconds=30),
                 "bolt": await make.product(ideal_cycle_seconds=12),
                 "slow": await make.product(ideal_cycle_seconds=60),
                 "dana": await make.employee()}
        for line, product, quantity in (("L1", "gear", 522), ("L2", "bolt", 2_000), ("L3", "slow", 400)):
            plant[line] = await api.create("work-orders", {"product_id": plant[product]["id"], "line": line,
                                                           "shift": "early", "date": DAY,
                                                           "planned_quantity": quantity})
        return plant

    return io_loop.run_sync(build)


@pytest.mark.plant_clock(at=at("06:00"))
async def test_before_during_and_after_a_break_with_stops_overlapping_it(api, plant_time, floor, feeds):
    gear, bolt, slow, dana = floor["gear"], floor["bolt"], floor["slow"], floor["dana"]
    # L1: planned maintenance 07:00-07:20 (1,200 s); records at 07:30 and 08:30.
    await stop(api, plant_time, "L1", "planned_maintenance", "07:00", "07:20")
    plant_time.set(at("07:30"))
    await post_record(api, gear, dana, "L1", 100, 2)
    plant_time.set(at("08:30"))
    await post_record(api, gear, dana, "L1", 80)

    # Before the break, 08:45: 9,900 s of shift time; planned downtime 1,200 s (the maintenance).
    plant_time.set(at("08:45"))
    lines, _ = await statuses(api)
    planned, run = 9_900 - 1_200, 9_900 - 1_200
    ideal = 180 * 30
    assert lines["L1"]["oee"] == {"availability": r(run / planned), "performance": r(ideal / run),
                                  "quality": r(178 / 180), "oee": r(run / planned * ideal / run * 178 / 180)}
    # Expected: 522 × 9,900 s gone of 26,100 s planned (no break yet) = 198.
    assert lines["L1"]["plan"] == {"planned_quantity": 522, "good": 178, "defective": 2,
                                   "expected_by_now": 522 * 9_900 // 26_100, "pace": r(178 / 198)}
    assert (lines["L1"]["shift"]["on_break"], lines["L1"]["shift"]["break_ends_at"]) == (False, None)

    # A breakdown from 08:50 runs into the break (09:00-09:30). L2's operators log the break as a
    # `break` stop, 09:00-09:35.
    await stop(api, plant_time, "L1", "breakdown", "08:50")
    plant_time.set(at("09:00"))
    await api.create("lines/L2/stops", {"reason": "break"}, role="user")

    # During the break, 09:05: 11,100 s of shift time; planned downtime = maintenance 1,200 s + the
    # break so far 300 s; the breakdown's 900 s so far overlap the break by 300 s: 600 s unplanned.
    plant_time.set(at("09:05"))
    lines, _ = await statuses(api)
    planned = 11_100 - (1_200 + 300)
    run = planned - (900 - 300)
    assert lines["L1"]["state"] == "stopped"
    assert lines["L1"]["shift"]["on_break"] is True and lines["L1"]["shift"]["break_ends_at"] == at("09:30")
    assert lines["L1"]["oee"] == {"availability": r(run / planned), "performance": r(ideal / run),
                                  "quality": r(178 / 180), "oee": r(run / planned * ideal / run * 178 / 180)}
    assert lines["L1"]["plan"]["expected_by_now"] == 522 * (11_100 - 300) // 26_100  # 216
    # L2: nothing made yet in 11,100 − 300 s of planned time, all of it run time: P and OEE are 0.
    assert lines["L2"]["oee"] == {"availability": 1.0, "performance": 0.0, "quality": None, "oee": 0.0}

    plant_time.set(at("09:10"))
    assert (await api.post("/lines/L1/stops/current/end", role="user")).status == 200
    plant_time.set(at("09:35"))
    assert (await api.post("/lines/L2/stops/current/end", role="user")).status == 200
    plant_time.set(at("10:00"))
    await post_record(api, gear, dana, "L1", 120, 5)
    await post_record(api, bolt, dana, "L2", 1_000)
    await post_record(api, slow, dana, "L3", 300)

    # After the break, 10:30: 16,200 s of shift time.
    plant_time.set(at("10:30"))
    lines, plant = await statuses(api)
    # L1: downtime = break 1,800 + maintenance 1,200; unplanned = 1,200 s of breakdown − 600 s in the break.
    l1_planned = 16_200 - (1_800 + 1_200)
    l1_run = l1_planned - (1_200 - 600)
    l1_ideal, l1_quality = 300 * 30, 293 / 300
    l1 = {"availability": l1_run / l1_planned, "performance": l1_ideal / l1_run, "quality": l1_quality}
    l1["oee"] = l1["availability"] * l1["performance"] * l1["quality"]
    # L2: the break stop covers the break and 5 minutes more: 2,100 s of planned downtime, once.
    l2_planned = 16_200 - 2_100
    l2 = {"availability": 1.0, "performance": 1_000 * 12 / l2_planned, "quality": 1.0}
    l2["oee"] = l2["performance"]
    # L3: 300 × 60 s of "ideal" work in 14,400 s: performance 1.25, not capped, flagged.
    l3_planned = 16_200 - 1_800
    l3 = {"availability": 1.0, "performance": 300 * 60 / l3_planned, "quality": 1.0}
    l3["oee"] = l3["performance"]
    for code, hand in (("L1", l1), ("L2", l2), ("L3", l3)):
        assert lines[code]["oee"] == {name: r(value) for name, value in hand.items()}, code
        assert lines[code]["scheduled"] is True and lines[code]["state"] == "running"
    assert lines["L1"]["plan"]["expected_by_now"] == 522 * (16_200 - 1_800) // 26_100  # 288
    assert lines["L1"]["warnings"] == [] and lines["L3"]["warnings"] == ["performance_over_100"]
    assert (lines["L4"]["scheduled"], lines["L4"]["state"]) == (False, "idle")
    weights = {"L1": l1_planned, "L2": l2_planned, "L3": l3_planned}
    hands = {"L1": l1, "L2": l2, "L3": l3}
    total = l1_planned + l2_planned + l3_planned
    assert plant == {"running": 3, "stopped": 0, "idle": 1, "offline": 0, **{
        name: r(sum(hands[code][name] * weights[code] for code in weights) / total)
        for name in ("availability", "performance", "quality", "oee")}}

    # The line.status event carries the same object.
    live = await feeds(await api.token("user"))
    await live.subscribe(["lines"], filters={"line": "L1"})
    await post_record(api, gear, dana, "L1", 1)
    while True:
        (event,) = await live.events(1)
        if event["event"] == "line.status" and event["data"]["plan"]["good"] == 294:
            break
    l1_ideal = 301 * 30
    assert event["data"]["oee"] == {"availability": r(l1_run / l1_planned),
                                    "performance": r(l1_ideal / l1_run), "quality": r(294 / 301),
                                    "oee": r(l1_run / l1_planned * l1_ideal / l1_run * 294 / 301)}

    # The whole shift. L1 makes 399 more at 13:00; L2 logs the 12:00 break as a stop too and has a
    # quality stop 11:00-11:20; L2 makes 800 more.
    await stop(api, plant_time, "L2", "quality", "11:00", "11:20")
    await stop(api, plant_time, "L2", "break", "12:00", "12:15")
    plant_time.set(at("13:00"))
    await post_record(api, gear, dana, "L1", 399, 3)
    await post_record(api, bolt, dana, "L2", 800)
    await post_record(api, slow, dana, "L3", 200)  # 500 × 60 s > 26,100 s planned: still flagged
    plant_time.set(at("14:30"))
    lines, plant = await statuses(api)
    # L1: 28,800 − (2,700 breaks + 1,200 maintenance) = 24,900 planned; 600 s unplanned.
    l1_planned, l1_run = 28_800 - 3_900, 28_800 - 3_900 - 600
    l1_ideal = 700 * 30
    whole_l1 = {"availability": r(l1_run / l1_planned), "performance": r(l1_ideal / l1_run),
                "quality": r(690 / 700), "oee": r(l1_run / l1_planned * l1_ideal / l1_run * 690 / 700)}
    # L2: 28,800 − (2,700 breaks + 300 s the first break stop ran over) = 25,800; 1,200 s unplanned.
    l2_planned, l2_run = 28_800 - 3_000, 28_800 - 3_000 - 1_200
    whole_l2 = {"availability": r(l2_run / l2_planned), "performance": r(1_800 * 12 / l2_run), "quality": 1.0,
                "oee": r(l2_run / l2_planned * 1_800 * 12 / l2_run)}
    assert lines["L1"]["state"] == "idle" and lines["L1"]["shift"] is None
    assert lines["L1"]["last_shift"] == {
        "name": "early", "date": DAY, "starts_at": at("06:00"), "ends_at": at("14:00"),
        "plan": {"planned_quantity": 522, "good": 690, "defective": 10, "expected_by_now": 522,
                 "pace": r(690 / 522)},
        "oee": whole_l1, "warnings": []}
    assert lines["L4"]["last_shift"] is None  # its instance was not scheduled
    assert plant["idle"] == 4 and plant["oee"] is None

    plant_time.set("2026-11-28T12:00:00Z")
    report = await api.get(f"/analytics/shift-report?date={DAY}", role="admin")
    rows = {row["line"]: row for row in report.json["items"]}
    for code, hand, planned in (("L1", whole_l1, l1_planned), ("L2", whole_l2, l2_planned)):
        assert {name: rows[code][name] for name in hand} == hand, code
        assert rows[code]["planned_seconds"] == planned and rows[code]["scheduled"] is True
    assert rows["L2"]["unplanned_stop_seconds"] == 1_200
    assert rows["L3"]["warnings"] == ["performance_over_100"]
    assert rows["L4"]["scheduled"] is False


@pytest.mark.plant_clock(at="2026-11-27T20:00:00Z", zone="Europe/Berlin")
async def test_a_night_shift_belongs_to_the_day_it_started(api, make, plant_time):
    """Night 22:00-06:00 Berlin (CET: 21:00Z-05:00Z, 28,800 s) with a break at 02:00 local (01:00Z,
    30 min): 27,000 s planned."""
    await make.shift("night", "22:00", "06:00", breaks=[{"starts_at": "02:00", "minutes": 30}])
    await make.line("L1")
    part = await make.product(ideal_cycle_seconds=120)
    dana = await make.employee()
    order = await api.create("work-orders", {"product_id": part["id"], "line": "L1", "shift": "night",
                                             "date": DAY, "planned_quantity": 225})
    # 00:30 local on the 28th: the record belongs to the night shift of the 27th.
    plant_time.set("2026-11-27T23:30:00Z")
    record = await post_record(api, part, dana, "L1", 100, work_order_id=order["id"])
    assert (record["shift"], record["date_produced"], record["produced_at"]) == (
        "night", DAY, "2026-11-27T23:30:00Z")
    # The calendar date with the night shift names an instance that has not started: 422.
    refused = await api.post("/production", {"product_id": part["id"], "employee_id": dana["id"],
                                             "line": "L1", "shift": "night", "date_produced": "2026-11-28",
                                             "quantity_produced": 5}, role="user")
    assert refused.status == 422 and "shift" in refused.json["errors"]

    # During the break, 02:15 local (01:15Z): 15,300 s of shift time, 900 s of it break.
    plant_time.set("2026-11-28T01:15:00Z")
    lines, _ = await statuses(api)
    status = lines["L1"]
    assert status["shift"] == {"name": "night", "date": DAY, "starts_at": "2026-11-27T21:00:00Z",
                               "ends_at": "2026-11-28T05:00:00Z", "elapsed": r(15_300 / 28_800),
                               "on_break": True, "break_ends_at": "2026-11-28T01:30:00Z"}
    planned = 15_300 - 900
    assert status["oee"] == {"availability": 1.0, "performance": r(100 * 120 / planned), "quality": 1.0,
                             "oee": r(100 * 120 / planned)}
    assert status["plan"]["expected_by_now"] == 225 * (15_300 - 900) // 27_000  # 120
    board = (await api.get("/dashboard/state", role="user")).json
    assert (board["date"], board["production_day"]) == ("2026-11-28", DAY)
    assert [row["produced"] for row in board["production_today"]["by_line"]] == [100]

    # After the shift: a record has no shift and the plant day of its time; outside its work order's
    # instance it is refused naming work_order_id.
    plant_time.set("2026-11-28T05:30:00Z")
    overtime = await post_record(api, part, dana, "L1", 4)
    assert (overtime["shift"], overtime["date_produced"]) == (None, "2026-11-28")
    late = await api.post("/production", {"product_id": part["id"], "employee_id": dana["id"],
                                          "work_order_id": order["id"], "quantity_produced": 4}, role="user")
    assert late.status == 422 and "work_order_id" in late.json["errors"]
    future = await api.post("/production", {"product_id": part["id"], "employee_id": dana["id"], "line": "L1",
                                            "produced_at": "2026-11-28T05:31:00Z", "quantity_produced": 4},
                            role="user")
    assert future.status == 422 and "produced_at" in future.json["errors"]
    # The old form names the instance that ran: placed at its end.
    old = await post_record(api, part, dana, "L1", 6, shift="night", date_produced=DAY)
    assert old["produced_at"] == "2026-11-28T05:00:00Z"
    board = (await api.get("/dashboard/state", role="user")).json
    assert board["production_day"] == DAY  # the last instance's day until the next one starts


@pytest.mark.plant_clock(at=at("13:00"))
async def test_across_a_shift_change(api, make, plant_time):
    await make.shift("early", "06:00", "14:00")
    await make.shift("late", "14:00", "22:00")
    await make.line("L1")
    part = await make.product(ideal_cycle_seconds=10)
    dana = await make.employee()
    plant_time.set(at("13:59"))
    early = await post_record(api, part, dana, "L1", 50)
    plant_time.set(at("14:00"))
    late = await post_record(api, part, dana, "L1", 30)
    assert (early["shift"], late["shift"]) == ("early", "late")
    # 14:10: 600 s of the late shift, all planned, all run; 30 × 10 s of ideal work.
    plant_time.set(at("14:10"))
    lines, plant = await statuses(api)
    assert lines["L1"]["shift"]["name"] == "late" and lines["L1"]["plan"]["good"] == 30
    assert lines["L1"]["oee"] == {"availability": 1.0, "performance": r(300 / 600), "quality": 1.0,
                                  "oee": r(300 / 600)}
    assert plant["oee"] == r(300 / 600) and plant["running"] == 1


@pytest.mark.plant_clock(at=at("15:00"))
async def test_a_shift_edited_after_it_ran_keeps_its_past(api, make, plant_time):
    """Early 06:00-14:00 with a 30-minute break at 10:00 ran on the 27th; at 15:00 the break moves
    and grows and the shift ends at 15:00. The 27th keeps the old definition; the 28th runs the new."""
    shift = await make.shift("early", "06:00", "14:00", breaks=[{"starts_at": "10:00", "minutes": 30}])
    await make.line("L1")
    part = await make.product(ideal_cycle_seconds=20)
    dana = await make.employee()
    await post_record(api, part, dana, "L1", 900, shift="early", date_produced=DAY)
    before = (await api.get(f"/analytics/shift-report?date={DAY}", role="admin")).json["items"]
    # 28,800 − 1,800 = 27,000 s planned; 900 × 20 = 18,000 s of ideal work.
    assert (before[0]["planned_seconds"], before[0]["performance"]) == (27_000, r(18_000 / 27_000))

    changed = await api.patch(f"/shifts/{shift['id']}", {"ends_at": "15:00",
                                                          "breaks": [{"starts_at": "11:00", "minutes": 60}]},
                              role="admin")
    assert changed.status == 200, changed
    assert changed.json["break_minutes"] == 60
    after = (await api.get(f"/analytics/shift-report?date={DAY}", role="admin")).json["items"]
    assert after == before
    history = (await api.get(f"/shifts/{shift['id']}/history", role="user")).json
    assert [(v["effective_from"], v["effective_to"], v["ends_at"], v["break_minutes"])
            for v in history["items"]] == [("1970-01-01", DAY, "14:00", 30),
                                           ("2026-11-28", None, "15:00", 60)]
    csv = await api.get(f"/shifts/{shift['id']}/history", role="user", headers={"Accept": "text/csv"})
    assert csv.status == 200 and "2026-11-28,,06:00,15:00,60,11:00/60" in csv.body.decode()
    # The 28th runs under the new definition: 32,400 − 3,600 s planned.
    plant_time.set("2026-11-28T16:00:00Z")
    next_day = (await api.get("/analytics/shift-report?date=2026-11-28", role="admin")).json["items"]
    assert next_day[0]["ends_at"] == "2026-11-28T15:00:00Z" and next_day[0]["planned_seconds"] == 28_800
    for bad, field in (({"effective_from": "2026-11-01", "ends_at": "16:00"}, "effective_from"),
                       ({"breaks": [{"starts_at": "05:00", "minutes": 30}]}, "breaks"),
                       ({"breaks": [{"starts_at": "10:00", "minutes": 30},
                                    {"starts_at": "10:15", "minutes": 5}]}, "breaks"),
                       ({"break_minutes": 10}, "break_minutes")):
        refused = await api.patch(f"/shifts/{shift['id']}", bad, role="admin")
        assert refused.status == 422 and field in refused.json["errors"], (bad, refused)


@pytest.mark.plant_clock(at=at("08:00"))
async def test_a_line_runs_the_shifts_of_its_calendar(api, make):
    await make.shift("early", "06:00", "14:00")
    await make.shift("late", "14:00", "22:00")
    await make.line("L1", shifts=["late"])
    part = await make.product(ideal_cycle_seconds=10)
    dana = await make.employee()
    record = await post_record(api, part, dana, "L1", 5)  # early runs, but not on L1: no shift
    assert (record["shift"], record["date_produced"]) == (None, DAY)
    lines, plant = await statuses(api)
    assert (lines["L1"]["state"], lines["L1"]["shift"]) == ("idle", None)
    assert (await api.get("/lines/L1", role="user")).json["shifts"] == ["late"]
    bad = await api.patch("/lines/L1", {"shifts": ["nights"]}, role="admin")
    assert bad.status == 422 and "shifts" in bad.json["errors"]
