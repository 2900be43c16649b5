"""GET /lines/status: state, stop, shift, plan and OEE on a hand-computed shift with a fixed clock."""
from __future__ import annotations

import pytest

DAY = "2026-11-27"

# A line no machine reports for: never offline, no micro-stops.
NO_MACHINES = {"micro_stops": {"count": 0, "seconds": 0.0}, "offline_since": None}


async def stop_between(api, plant_time, line, reason, start, end=None):
    plant_time.set(f"{DAY}T{start}:00Z")
    await api.create(f"lines/{line}/stops", {"reason": reason}, role="user")
    if end:
        plant_time.set(f"{DAY}T{end}:00Z")
        assert (await api.post(f"/lines/{line}/stops/current/end", role="user")).status == 200


async def record(api, product, employee, line, produced, defective=0, shift="early", day=DAY):
    await api.create("production", {"product_id": product["id"], "employee_id": employee["id"],
                                    "line": line, "shift": shift, "date_produced": day,
                                    "quantity_produced": produced, "quantity_defective": defective},
                     role="user")


@pytest.mark.plant_clock(at=f"{DAY}T05:00:00Z")
async def test_the_figures_of_a_hand_computed_shift(api, make, plant_time):
    """Early shift 06:00-14:00 UTC with a 30 min break: 28,800 s long, 27,000 s planned. At 10:00
    half of it has gone by: 13,500 s of planned time, minus a planned stop of 1,800 s (P = 11,700 s);
    unplanned: 600 s of a changeover that began before the shift and 1,200 s of the open breakdown
    (U = 1,800 s). Plan 400 (a cancelled 50 not counted): expected 200; 250 made, 10 bad, 240 good."""
    await make.shift("early", "06:00", "14:00", break_minutes=30)
    await make.shift("late", "14:00", "22:00")
    for code in ("L1", "L2", "L4"):
        await make.line(code, name=f"Line {code[1]}")
    await make.line("L3", active=False)
    gear = await make.product(ideal_cycle_seconds=30)
    bolt = await make.product(ideal_cycle_seconds=12)
    housing = await make.product()  # no ideal cycle: performance unknown where it is made
    dana = await make.employee()
    for product, quantity in ((gear, 300), (bolt, 100), (gear, 50)):
        order = await api.create("work-orders", {"product_id": product["id"], "line": "L1", "shift": "early",
                                                 "date": DAY, "planned_quantity": quantity})
    await api.patch(f"/work-orders/{order['id']}", {"status": "cancelled"}, role="admin")
    await api.create("work-orders", {"product_id": gear["id"], "line": "L1", "shift": "late", "date": DAY,
                                     "planned_quantity": 999})
    await stop_between(api, plant_time, "L1", "changeover", "05:50", "06:10")
    await stop_between(api, plant_time, "L1", "planned_maintenance", "06:30", "07:00")
    await stop_between(api, plant_time, "L1", "breakdown", "09:40")
    plant_time.set(f"{DAY}T10:00:00Z")
    # Recorded in the old form (day and shift) once the instance has started.
    await record(api, gear, dana, "L1", 150, 10)
    await record(api, bolt, dana, "L1", 100)
    await record(api, gear, dana, "L1", 80, day="2026-11-26")  # yesterday's early shift
    await record(api, housing, dana, "L2", 10)
    late = await api.post("/production", {"product_id": gear["id"], "employee_id": dana["id"], "line": "L1",
                                          "shift": "late", "date_produced": DAY, "quantity_produced": 70},
                          role="user")
    assert late.status == 422 and "shift" in late.json["errors"]  # the late shift has not started

    response = await api.get("/lines/status", role="user")
    assert response.status == 200, response
    l1, l2, l4 = response.json["items"]
    breakdown = (await api.get("/stops?open=true", role="user")).json["items"][0]
    shift = {"name": "early", "date": DAY, "starts_at": f"{DAY}T06:00:00Z", "ends_at": f"{DAY}T14:00:00Z",
             "elapsed": 0.5, "on_break": False, "break_ends_at": None}
    assert l1 == {
        "line": "L1", "name": "Line 1", "state": "stopped",
        "stop": {"id": breakdown["id"], "reason": "breakdown", "label": "Breakdown", "planned": False,
                 "category": "breakdown", "started_at": f"{DAY}T09:40:00Z", "note": None},
        "shift": shift,
        "plan": {"planned_quantity": 400, "good": 240, "defective": 10, "expected_by_now": 200, "pace": 1.2},
        "oee": {"availability": round(9_900 / 11_700, 4), "performance": round(5_700 / 9_900, 4),
                "quality": 0.96, "oee": round(9_900 / 11_700 * 5_700 / 9_900 * 0.96, 4)},
        "warnings": [], "scheduled": True, "last_shift": None,
        "as_of": f"{DAY}T10:00:00Z", **NO_MACHINES,
    }
    assert l2 == {
        "line": "L2", "name": "Line 2", "state": "running", "stop": None, "shift": shift,
        "plan": {"planned_quantity": 0, "good": 10, "defective": 0, "expected_by_now": 0, "pace": None},
        "oee": {"availability": 1.0, "performance": None, "quality": 1.0, "oee": None},
        "warnings": [], "scheduled": True, "last_shift": None,
        "as_of": f"{DAY}T10:00:00Z", **NO_MACHINES,
    }
    # L4 has no work order, no production and no stop: the instance is not scheduled for it.
    assert (l4["state"], l4["scheduled"], l4["shift"]["name"]) == ("idle", False, "early")

    plant_time.set(f"{DAY}T22:30:00Z")  # no shift runs: idle, but L1 is still stopped
    after = {item["line"]: item for item in (await api.get("/lines/status", role="user")).json["items"]}
    assert (after["L1"]["state"], after["L1"]["shift"]) == ("stopped", None)
    assert after["L2"] == {
        "line": "L2", "name": "Line 2", "state": "idle", "stop": None, "shift": None,
        "plan": {"planned_quantity": 0, "good": 0, "defective": 0, "expected_by_now": 0, "pace": None},
        "oee": {"availability": None, "performance": None, "quality": None, "oee": None},
        "warnings": [], "scheduled": False, "last_shift": None,  # its late shift was not scheduled
        "as_of": f"{DAY}T22:30:00Z", **NO_MACHINES}


@pytest.mark.plant_clock(at="2026-10-25T00:30:00Z", zone="Europe/Berlin")
async def test_a_night_shift_across_the_dst_change_counts_real_time(api, make):
    """22:00 CEST → 06:00 CET is nine real hours (20:00Z … 05:00Z); with a one-hour break, 8 h planned.
    At 00:30Z 4.5 h have gone by: half the window, so half of the 90 planned are expected."""
    await make.shift("night", "22:00", "06:00", break_minutes=60)
    await make.line("L1")
    gear = await make.product(ideal_cycle_seconds=360)
    dana = await make.employee()
    await api.create("work-orders", {"product_id": gear["id"], "line": "L1", "shift": "night",
                                     "date": "2026-10-24", "planned_quantity": 90})
    await record(api, gear, dana, "L1", 36, shift="night", day="2026-10-24")
    (status,) = (await api.get("/lines/status", role="user")).json["items"]
    assert status["shift"] == {"name": "night", "date": "2026-10-24", "starts_at": "2026-10-24T20:00:00Z",
                               "ends_at": "2026-10-25T05:00:00Z", "elapsed": 0.5, "on_break": False,
                               "break_ends_at": None}
    assert status["plan"] == {"planned_quantity": 90, "good": 36, "defective": 0, "expected_by_now": 45,
                              "pace": 0.8}
    # P = 0.5 × 8 h = 14,400 s; 36 × 360 s = 12,960 s of ideal work.
    assert status["oee"] == {"availability": 1.0, "performance": 0.9, "quality": 1.0, "oee": 0.9}


@pytest.mark.plant_clock(at=f"{DAY}T08:00:00Z")
async def test_display_tokens_read_the_status_and_nothing_else(api, make):
    await make.line("L1")
    minted = await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")
    token = minted.json["token"]
    status = await api.get("/lines/status", token=token)
    assert status.status == 200 and [item["line"] for item in status.json["items"]] == ["L1"]
    for path in ("/lines", "/stops", "/work-orders", "/shifts/current"):
        assert (await api.get(path, token=token)).status == 403, path
    assert (await api.post("/lines/L1/stops", {"reason": "breakdown"}, token=token)).status == 403
    assert (await api.get("/lines/status")).status == 401
