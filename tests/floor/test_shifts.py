"""/shifts: plant wall-clock windows crossing midnight, breaks, days, no overlaps; the current one."""
from __future__ import annotations

import pytest


async def test_a_shift_has_a_window_a_break_and_days(api, make):
    early = await make.shift("early", "06:00", "14:00", break_minutes=30)
    assert early["days"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert early["duration_minutes"] == 480 and early["planned_minutes"] == 450
    night = await make.shift("night", "22:00", "06:00", days=["fri", "mon"])
    assert night["duration_minutes"] == 480 and night["days"] == ["mon", "fri"]
    listed = await api.get("/shifts", role="user")
    assert [item["name"] for item in listed.json["items"]] == ["early", "night"]


@pytest.mark.parametrize("body, field", [
    ({"starts_at": "6:00"}, "starts_at"),
    ({"starts_at": "24:00"}, "starts_at"),
    ({"ends_at": "12:60"}, "ends_at"),
    ({"break_minutes": 480}, "break_minutes"),
    ({"break_minutes": -1}, "break_minutes"),
    ({"days": ["monday"]}, "days"),
    ({"days": ["mon", "mon"]}, "days"),
    ({"days": []}, "days"),
    ({"name": ""}, "name"),
])
async def test_bad_shifts_are_422_naming_the_field(api, body, field):
    response = await api.post("/shifts", {"name": "early", "starts_at": "06:00", "ends_at": "14:00",
                                          **body}, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get("/shifts", role="admin")).json["meta"]["total"] == 0


@pytest.mark.parametrize("first, second, overlap", [
    (("06:00", "14:00", None), ("13:00", "15:00", None), True),
    (("06:00", "14:00", None), ("14:00", "22:00", None), False),
    (("22:00", "06:00", None), ("05:00", "07:00", None), True),  # the night shift's morning end
    (("22:00", "06:00", ["sun"]), ("05:00", "07:00", ["mon"]), True),  # Sunday night into Monday
    (("22:00", "06:00", ["sat"]), ("05:00", "07:00", ["mon"]), False),
    (("06:00", "14:00", ["mon", "tue"]), ("06:00", "14:00", ["sat", "sun"]), False),
    (("00:00", "00:00", ["wed"]), ("12:00", "13:00", ["wed"]), True),  # a 24-hour shift
])
async def test_shifts_of_one_day_may_not_overlap(api, make, first, second, overlap):
    days = {"days": first[2]} if first[2] else {}
    await make.shift("a", first[0], first[1], **days)
    days = {"days": second[2]} if second[2] else {}
    response = await api.post("/shifts", {"name": "b", "starts_at": second[0], "ends_at": second[1], **days},
                              role="admin")
    assert response.status == (409 if overlap else 201), response
    if overlap:
        assert "Overlaps shift a" in response.json["errors"]["starts_at"][0]
        assert (await api.get("/shifts", role="admin")).json["meta"]["total"] == 1


async def test_a_change_that_would_overlap_is_409_and_changes_nothing(api, make):
    await make.shift("early", "06:00", "14:00")
    late = await make.shift("late", "14:00", "22:00")
    response = await api.patch(f"/shifts/{late['id']}", {"starts_at": "13:00"}, role="admin")
    assert response.status == 409
    assert (await api.get(f"/shifts/{late['id']}", role="admin")).json["starts_at"] == "14:00"
    too_long_break = await api.patch(f"/shifts/{late['id']}", {"ends_at": "15:00", "break_minutes": 60},
                                     role="admin")
    assert too_long_break.status == 422 and "break_minutes" in too_long_break.json["errors"]
    renamed = await api.patch(f"/shifts/{late['id']}", {"name": "evening"}, role="admin")
    assert renamed.status == 422 and "name" in renamed.json["errors"]


@pytest.mark.plant_clock(at="2026-10-25T01:30:00Z", zone="Europe/Berlin")
async def test_the_current_shift_crosses_midnight_and_the_dst_change(api, make, plant_time):
    """Berlin falls back from CEST to CET at 03:00 on 25 Oct 2026: that night shift lasts nine hours."""
    await make.shift("early", "06:00", "14:00")
    await make.shift("night", "22:00", "06:00")
    response = await api.get("/shifts/current", role="user")
    assert response.status == 200, response
    assert response.json == {
        "current": {"shift": "night", "date": "2026-10-24",
                    "starts_at": "2026-10-24T20:00:00Z", "ends_at": "2026-10-25T05:00:00Z"},
        "next": {"shift": "early", "date": "2026-10-25",
                 "starts_at": "2026-10-25T05:00:00Z", "ends_at": "2026-10-25T13:00:00Z"},
    }
    plant_time.set("2026-10-25T13:00:00Z")  # early's end; nothing runs until 22:00 local (21:00Z)
    response = await api.get("/shifts/current", role="user")
    assert response.json == {
        "current": None,
        "next": {"shift": "night", "date": "2026-10-25",
                 "starts_at": "2026-10-25T21:00:00Z", "ends_at": "2026-10-26T05:00:00Z"},
    }


@pytest.mark.plant_clock(at="2026-11-28T12:00:00Z")  # a Saturday
async def test_the_current_shift_respects_its_days(api, make):
    await make.shift("early", "06:00", "14:00", days=["mon", "tue", "wed", "thu", "fri"])
    response = await api.get("/shifts/current", role="user")
    assert response.json["current"] is None
    assert response.json["next"]["date"] == "2026-11-30"
