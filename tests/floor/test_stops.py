"""Stop reasons and stops: open now, end, one open stop per line, admin corrections that never overlap."""
from __future__ import annotations

import asyncio

import pytest

START = "2026-11-27T09:00:00Z"


@pytest.fixture
def line(io_loop, make):
    return io_loop.run_sync(lambda: make.line("L1"))


async def test_the_standard_reasons_exist_and_admins_add_more(api):
    listed = (await api.get("/stop-reasons?per_page=100", role="user")).json["items"]
    assert {item["code"]: item["planned"] for item in listed} == {
        "break": True, "breakdown": False, "changeover": False, "no_material": False,
        "no_operator": False, "planned_maintenance": True, "quality": False, "unassigned": False}
    created = await api.create("stop-reasons", {"code": "tooling", "label": "Tool change", "planned": True})
    assert created["active"] is True and created["planned"] is True
    duplicate = await api.post("/stop-reasons", {"code": "tooling", "label": "again"}, role="admin")
    assert duplicate.status == 409
    renamed = await api.patch(f"/stop-reasons/{created['id']}", {"code": "tools"}, role="admin")
    assert renamed.status == 200 and renamed.json["code"] == "tools"  # no stop names it yet
    assert (await api.post("/stop-reasons", {"code": "x"}, role="admin")).status == 422


@pytest.mark.plant_clock(at=START, zone="Europe/Berlin")
async def test_a_line_stops_and_starts_again(api, line, plant_time):
    opened = await api.post("/lines/L1/stops", {"reason": "breakdown", "note": "conveyor jam"}, role="user")
    assert opened.status == 201, opened
    stop = opened.json
    assert opened.headers["Location"] == f"/stops/{stop['id']}"
    assert {key: stop[key] for key in ("line", "reason", "label", "planned", "started_at", "ended_at",
                                       "duration_seconds", "note", "reported_by")} == {
        "line": "L1", "reason": "breakdown", "label": "Breakdown", "planned": False, "started_at": START,
        "ended_at": None, "duration_seconds": 0, "note": "conveyor jam", "reported_by": "test_user"}
    again = await api.post("/lines/L1/stops", {"reason": "quality"}, role="user")
    assert again.status == 409 and "already stopped" in again.json["detail"]
    reasons = (await api.get("/stop-reasons?per_page=100", role="user")).json["items"]
    breakdown = next(reason for reason in reasons if reason["code"] == "breakdown")
    renamed = await api.patch(f"/stop-reasons/{breakdown['id']}", {"code": "failure"}, role="admin")
    assert renamed.status == 409  # stops name it: the code stays

    plant_time.advance(minutes=10)
    running = (await api.get("/stops?open=true", role="user")).json["items"]
    assert [(s["id"], s["duration_seconds"]) for s in running] == [(stop["id"], 600)]

    ended = await api.post("/lines/L1/stops/current/end", role="user")
    assert ended.status == 200, ended
    assert ended.json["ended_at"] == "2026-11-27T09:10:00Z" and ended.json["duration_seconds"] == 600
    assert (await api.get(f"/stops/{stop['id']}", role="user")).json == ended.json
    not_open = await api.post("/lines/L1/stops/current/end", role="user")
    assert not_open.status == 409 and "not stopped" in not_open.json["detail"]
    assert (await api.get("/stops?open=true", role="user")).json["items"] == []


@pytest.mark.parametrize("path, body, field", [
    ("/lines/L9/stops", {"reason": "breakdown"}, "line"),
    ("/lines/OLD/stops", {"reason": "breakdown"}, "line"),
    ("/lines/L1/stops", {"reason": "coffee"}, "reason"),
    ("/lines/L1/stops", {"reason": "retired"}, "reason"),
    ("/lines/L1/stops", {}, "reason"),
    ("/lines/L1/stops", {"reason": "breakdown", "started_at": "2026-01-01T00:00:00Z"}, "started_at"),
    ("/lines/L9/stops/current/end", None, "line"),
])
async def test_bad_stops_are_422_naming_the_field(api, make, path, body, field):
    await make.line("L1")
    await make.line("OLD", active=False)
    await api.create("stop-reasons", {"code": "retired", "label": "Retired", "active": False})
    response = await api.post(path, body, role="user")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get("/stops", role="user")).json["meta"]["total"] == 0


async def test_two_clients_stop_one_line_at_once_one_wins(api, line):
    responses = await asyncio.gather(*(api.post("/lines/L1/stops", {"reason": reason}, role="user")
                                       for reason in ("breakdown", "no_material")))
    assert sorted(r.status for r in responses) == [201, 409], responses
    assert (await api.get("/stops", role="user")).json["meta"]["total"] == 1


@pytest.mark.plant_clock(at=START)
async def test_admins_correct_stops_which_never_overlap(api, make, line, plant_time):
    first = await api.create("lines/L1/stops", {"reason": "breakdown"}, role="user")
    plant_time.advance(minutes=5)
    await api.post("/lines/L1/stops/current/end", role="user")
    plant_time.advance(minutes=5)
    second = await api.create("lines/L1/stops", {"reason": "changeover"}, role="user")
    plant_time.advance(minutes=30)

    overlapping = await api.patch(f"/stops/{second['id']}", {"started_at": "2026-11-27T09:04:00Z"},
                                  role="admin")
    assert overlapping.status == 409 and f"Stop {first['id']}" in overlapping.json["detail"]
    backwards = await api.patch(f"/stops/{first['id']}", {"ended_at": "2026-11-27T08:59:00Z"}, role="admin")
    assert backwards.status == 422 and "ended_at" in backwards.json["errors"]
    future = await api.patch(f"/stops/{second['id']}", {"ended_at": "2026-11-27T12:00:00Z"}, role="admin")
    assert future.status == 422 and "ended_at" in future.json["errors"]
    naive = await api.patch(f"/stops/{second['id']}", {"ended_at": "2026-11-27T09:20:00"}, role="admin")
    assert naive.status == 422
    # the first stop grows into the gap: fine; into the second: 409
    assert (await api.patch(f"/stops/{first['id']}", {"ended_at": "2026-11-27T09:10:00Z"},
                            role="admin")).status == 200
    assert (await api.patch(f"/stops/{first['id']}", {"ended_at": "2026-11-27T09:10:01Z"},
                            role="admin")).status == 409

    closed = await api.patch(f"/stops/{second['id']}", {"ended_at": "2026-11-27T09:25:00Z",
                                                        "reason": "planned_maintenance"}, role="admin")
    assert closed.status == 200, closed
    assert (closed.json["planned"], closed.json["duration_seconds"]) == (True, 900)
    assert (await api.get("/stops?open=true", role="user")).json["items"] == []
    reopened = await api.post("/lines/L1/stops", {"reason": "quality"}, role="user")
    assert reopened.status == 201  # the line is free again: its stop was closed by the correction
    unchanged = await api.get(f"/stops/{first['id']}", role="user")
    assert unchanged.json["ended_at"] == "2026-11-27T09:10:00Z"


@pytest.mark.plant_clock(at="2026-11-27T22:30:00Z", zone="Europe/Berlin")
async def test_lists_filter_by_line_reason_open_and_plant_local_days(api, make, plant_time):
    await make.line("L1")
    await make.line("L2")
    late = await api.create("lines/L1/stops", {"reason": "breakdown"}, role="user")  # 23:30 on the 27th
    plant_time.advance(hours=1)  # 00:30 on the 28th in Berlin
    await api.post("/lines/L1/stops/current/end", role="user")
    other = await api.create("lines/L2/stops", {"reason": "quality"}, role="user")

    async def ids(query):
        response = await api.get(f"/stops?{query}", role="user")
        assert response.status == 200, response
        return [item["id"] for item in response.json["items"]]

    assert await ids("line=L1") == [late["id"]]
    assert await ids("reason=quality") == [other["id"]]
    assert await ids("open=false") == [late["id"]]
    assert await ids("from=2026-11-28&to=2026-11-28") == [late["id"], other["id"]]
    assert await ids("to=2026-11-27") == [late["id"]]
    assert await ids("sort_by=started_at&sort_order=desc") == [other["id"], late["id"]]
    bad = await api.get("/stops?open=maybe", role="user")
    assert bad.status == 400 and "open" in bad.json["errors"]
