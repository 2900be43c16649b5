"""Stop reasons' loss categories: the standard reasons classified, new ones checked against their
planned flag, and the category on stops, their events and the line status."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core import migrate

STANDARD = {"break": "planned", "breakdown": "breakdown", "changeover": "setup", "no_material": "setup",
            "no_operator": "setup", "planned_maintenance": "planned", "quality": "production_reject",
            "unassigned": None}  # a machine's stop nobody has classified yet


async def test_the_standard_reasons_are_classified_and_new_ones_default_by_their_planned_flag(api):
    listed = (await api.get("/stop-reasons?per_page=100", role="user")).json["items"]
    assert {item["code"]: item["category"] for item in listed} == STANDARD
    setup = (await api.get("/stop-reasons?category=setup&sort_by=code", role="user")).json["items"]
    assert [item["code"] for item in setup] == ["changeover", "no_material", "no_operator"]

    tooling = await api.create("stop-reasons", {"code": "tooling", "label": "Tool change", "planned": True})
    assert tooling["category"] == "planned"
    jam = await api.create("stop-reasons", {"code": "jam", "label": "Jam"})
    assert jam["category"] == "breakdown"
    slow = await api.create("stop-reasons", {"code": "slow", "label": "Slow", "category": "reduced_speed"})
    assert slow["category"] == "reduced_speed"
    changed = await api.patch(f"/stop-reasons/{jam['id']}", {"category": "small_stop"}, role="admin")
    assert changed.status == 200 and changed.json["category"] == "small_stop"
    # Planned now, and said so: the category follows in the same request.
    both = await api.patch(f"/stop-reasons/{slow['id']}", {"planned": True, "category": "planned"},
                           role="admin")
    assert both.status == 200 and (both.json["planned"], both.json["category"]) == (True, "planned")
    # PUT changes what it sends (as clients of the old system expect): unplanned now, so the
    # category must follow in the same request, else the category no longer fits (422).
    unfit = await api.put(f"/stop-reasons/{tooling['id']}", {"planned": False}, role="admin")
    assert unfit.status == 422 and "category" in unfit.json["errors"]
    replaced = await api.put(f"/stop-reasons/{tooling['id']}", {"label": "Tooling", "planned": False,
                                                                 "category": "breakdown"}, role="admin")
    assert replaced.status == 200 and (replaced.json["label"], replaced.json["planned"],
                                       replaced.json["category"]) == ("Tooling", False, "breakdown")


@pytest.mark.parametrize("body, field", [
    ({"code": "x1", "label": "X", "planned": True, "category": "breakdown"}, "category"),
    ({"code": "x2", "label": "X", "category": "planned"}, "category"),
    ({"code": "x3", "label": "X", "category": "coffee"}, "category"),
    ({"code": "x4", "label": "X", "category": 7}, "category"),
])
async def test_a_category_that_does_not_fit_is_422(api, body, field):
    response = await api.post("/stop-reasons", body, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    listed = (await api.get("/stop-reasons?per_page=100", role="user")).json["items"]
    assert body["code"] not in {item["code"] for item in listed}


async def test_changing_the_planned_flag_alone_keeps_a_category_that_no_longer_fits_out(api):
    reasons = (await api.get("/stop-reasons?per_page=100", role="user")).json["items"]
    breakdown = next(reason for reason in reasons if reason["code"] == "breakdown")
    for body in ({"planned": True}, {"category": "planned"}, {"planned": False, "category": "planned"}):
        response = await api.patch(f"/stop-reasons/{breakdown['id']}", body, role="admin")
        assert response.status == 422, (body, response)
        assert "category" in response.json["errors"]
    unchanged = (await api.get(f"/stop-reasons/{breakdown['id']}", role="user")).json
    assert (unchanged["planned"], unchanged["category"]) == (False, "breakdown")
    assert (await api.get("/stop-reasons/9999999", role="user")).status == 404


@pytest.mark.plant_clock(at="2026-11-27T09:00:00Z")
async def test_stops_and_the_line_status_carry_the_category(api, make, plant_time):
    await make.line("L1")
    await make.shift("day", "06:00", "18:00")
    opened = await api.post("/lines/L1/stops", {"reason": "changeover"}, role="user")
    assert opened.status == 201 and opened.json["category"] == "setup"
    status = (await api.get("/lines/status", role="user")).json["items"][0]
    assert status["stop"]["reason"] == "changeover" and status["stop"]["category"] == "setup"
    listed = (await api.get("/stops", role="user")).json["items"]
    assert [(stop["reason"], stop["category"]) for stop in listed] == [("changeover", "setup")]
    corrected = await api.patch(f"/stops/{opened.json['id']}", {"reason": "quality"}, role="admin")
    assert corrected.status == 200 and corrected.json["category"] == "production_reject"


@pytest.fixture(params=["sqlite", "mysql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'categories.db'}"
        return
    yield request.getfixturevalue("empty_mariadb")


def test_the_migration_classifies_the_reasons_a_plant_has(empty_database):
    """The standard reasons by the six big losses; a plant's own by their planned flag; `unassigned`
    (a machine's stop nobody has explained yet) stays unclassified."""
    migrate.upgrade(empty_database, "0009")

    async def run(sql: str) -> list:
        engine = create_async_engine(empty_database)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(sql))
                return result.all() if result.returns_rows else []
        finally:
            await engine.dispose()

    now = "2026-11-20 08:00:00"
    asyncio.run(run("INSERT INTO stop_reasons (code, label, planned, active, created_at, updated_at) VALUES "
                    f"('cleaning', 'Cleaning', 1, 1, '{now}', '{now}'), "
                    f"('jam', 'Jam', 0, 1, '{now}', '{now}'), "
                    f"('unassigned', 'Unassigned', 0, 1, '{now}', '{now}')"))
    migrate.upgrade(empty_database)
    rows = asyncio.run(run("SELECT code, category FROM stop_reasons"))
    assert dict(rows) == {**STANDARD, "cleaning": "planned", "jam": "breakdown", "unassigned": None}
