"""Days at either end of the calendar on every date filter: a 400 naming the parameter, never a 500.

Driven by /openapi.json: every GET that takes `from`, `to` or `date` is asked with days the
server cannot turn into plant-local midnights (the day after 9999-12-31, year 1 east of UTC).
"""
from __future__ import annotations

import pytest

EDGES = [("to", "9999-12-31"), ("from", "9999-12-31"), ("date", "9999-12-31"), ("from", "0001-01-01"),
         ("to", "0001-01-01"), ("date", "0001-01-01")]


async def date_filtered_paths(api) -> list[tuple[str, set[str]]]:
    document = (await api.get("/openapi.json")).json
    found = []
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        names = {parameter["name"] for parameter in get.get("parameters", [])
                 if parameter.get("in") == "query"}
        if names & {"from", "to", "date"}:
            found.append((path, names))
    return found


@pytest.mark.plant_clock(at="2026-11-20T10:00:00Z", zone="Pacific/Kiritimati")  # UTC+14: year 1 underflows
async def test_every_date_filter_refuses_days_beyond_the_calendar_with_400(api, app):
    paths = await date_filtered_paths(api)
    assert {"/orders", "/production", "/stops", "/work-orders", "/analytics/shift-report"} <= {
        path for path, _ in paths}
    failures = []
    for path, names in paths:
        for name, day in EDGES:
            if name not in names:
                continue
            response = await api.get(f"{path}?{name}={day}", role="super_admin")
            if response.status != 400 or name not in response.json.get("errors", {}):
                failures.append((path, name, day, response.status, response.body[:160]))
    assert not failures, failures
    # the last and first days allowed still answer
    assert (await api.get("/orders?from=1900-01-01&to=9998-12-31", role="user")).status == 200
    last_days = await api.get("/analytics/shift-report?from=9998-12-30&to=9998-12-31", role="admin")
    assert last_days.status == 200, last_days
