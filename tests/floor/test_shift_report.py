"""GET /analytics/shift-report: the status figures over whole past shift instances, JSON and CSV."""
from __future__ import annotations

import csv
import io

import pytest

DAY = "2026-11-27"


@pytest.fixture
def shift_day(io_loop, api, make, plant_time):
    """Early 06:00-14:00 (30 min break) and late 14:00-22:00 on L1 and L2; stops on L1 across both
    edges of the early shift: a changeover from 05:50 to 06:10 and a breakdown from 13:50 to 14:20."""

    async def build():
        await make.shift("early", "06:00", "14:00", break_minutes=30)
        await make.shift("late", "14:00", "22:00")
        await make.line("L1")
        await make.line("L2")
        gear = await make.product(ideal_cycle_seconds=30)
        bolt = await make.product(ideal_cycle_seconds=12)
        dana = await make.employee()
        await api.create("work-orders", {"product_id": gear["id"], "line": "L1", "shift": "early",
                                         "date": DAY, "planned_quantity": 400})
        stops = (("changeover", "05:50", "06:10"), ("planned_maintenance", "06:30", "07:00"),
                 ("breakdown", "13:50", "14:20"))
        for reason, start, end in stops:
            plant_time.set(f"{DAY}T{start}:00Z")
            await api.create("lines/L1/stops", {"reason": reason}, role="user")
            plant_time.set(f"{DAY}T{end}:00Z")
            await api.post("/lines/L1/stops/current/end", role="user")
        plant_time.set("2026-11-28T12:00:00Z")
        # Recorded after the shift in the old form (day and shift): placed at the instance's end.
        for product, produced, defective in ((gear, 150, 10), (bolt, 100, 0)):
            await api.create("production", {"product_id": product["id"], "employee_id": dana["id"],
                                            "line": "L1", "shift": "early", "date_produced": DAY,
                                            "quantity_produced": produced, "quantity_defective": defective},
                             role="user")

    io_loop.run_sync(build)


@pytest.mark.plant_clock(at=f"{DAY}T05:00:00Z")
async def test_one_row_per_instance_and_line_with_the_whole_shift_figures(api, shift_day):
    response = await api.get(f"/analytics/shift-report?date={DAY}", role="admin")
    assert response.status == 200, response
    rows = response.json["items"]
    assert response.json["meta"]["total"] == 4
    assert [(r["shift"], r["line"]) for r in rows] == [("early", "L1"), ("early", "L2"), ("late", "L1"),
                                                       ("late", "L2")]
    # Early on L1: 27,000 s planned − 1,800 s planned stop = 25,200 s; 600 + 600 s unplanned.
    assert rows[0] == {
        "date": DAY, "shift": "early", "line": "L1", "starts_at": f"{DAY}T06:00:00Z",
        "ends_at": f"{DAY}T14:00:00Z", "scheduled": True, "planned_quantity": 400, "good": 240,
        "defective": 10, "pace": 0.6, "planned_seconds": 25_200.0, "unplanned_stop_seconds": 1_200.0,
        "availability": round(24_000 / 25_200, 4), "performance": round(5_700 / 24_000, 4), "quality": 0.96,
        "oee": round(24_000 / 25_200 * 5_700 / 24_000 * 0.96, 4), "warnings": []}
    # L2 had no work order, production or stop: not scheduled. Its time ran and nothing was made:
    # performance and OEE 0, quality unknown.
    l2 = rows[1]
    assert (l2["scheduled"], l2["planned_quantity"], l2["availability"], l2["performance"], l2["quality"],
            l2["oee"]) == (False, 0, 1.0, 0.0, None, 0.0)
    # The breakdown's last 20 minutes fall into the late shift.
    assert (rows[2]["unplanned_stop_seconds"], rows[2]["availability"]) == (
        1_200.0, round(27_600 / 28_800, 4))

    one_line = await api.get(f"/analytics/shift-report?from={DAY}&to={DAY}&line=L2", role="admin")
    assert [r["line"] for r in one_line.json["items"]] == ["L2", "L2"]
    running = await api.get("/analytics/shift-report?date=2026-11-28", role="admin")
    assert running.json["items"] == []  # the 28th's early shift has not ended yet
    default = await api.get("/analytics/shift-report", role="admin")  # yesterday, plant-local
    assert default.json["items"] == rows


@pytest.mark.plant_clock(at=f"{DAY}T05:00:00Z")
async def test_the_report_as_csv(api, shift_day):
    response = await api.get(f"/analytics/shift-report?date={DAY}&limit=1", role="admin",
                             headers={"Accept": "text/csv"})
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
    header, row = list(csv.reader(io.StringIO(response.body.decode())))
    assert header == ["date", "shift", "line", "starts_at", "ends_at", "scheduled", "planned_quantity",
                      "good", "defective", "pace", "planned_seconds", "unplanned_stop_seconds",
                      "availability", "performance", "quality", "oee", "warnings"]
    assert row[:10] == [DAY, "early", "L1", f"{DAY}T06:00:00Z", f"{DAY}T14:00:00Z", "True", "400", "240",
                        "10", "0.6"]


@pytest.mark.plant_clock(at=f"{DAY}T05:00:00Z")
async def test_a_cached_report_moves_on_with_the_clock_without_a_write(api, shift_day, plant_time):
    """Which instances have ended, and which day is "yesterday", change with the time alone: a cached
    answer holds until the next instance of its range ends (or the plant's next midnight), no longer."""

    async def report(query: str = "", csv_too: bool = False) -> tuple[str, list]:
        response = await api.get(f"/analytics/shift-report{query}", role="admin",
                                 headers={"Accept": "text/csv"} if csv_too else None)
        assert response.status == 200, response
        if csv_too:
            return response.headers["X-Cache"], list(csv.reader(io.StringIO(response.body.decode())))[1:]
        rows = response.json["items"]
        return response.headers["X-Cache"], [(row["date"], row["shift"], row["line"]) for row in rows]

    # 12:00 on the 28th: its early shift (06:00-14:00) runs, so the 28th has no rows yet.
    today = "?date=2026-11-28"
    assert await report(today) == ("miss", [])
    assert await report(today, csv_too=True) == ("miss", [])
    assert await report() == ("miss", [(DAY, s, line) for s in ("early", "late") for line in ("L1", "L2")])
    plant_time.set("2026-11-28T13:59:59Z")
    assert await report(today) == ("hit", [])  # nothing has ended since
    assert (await report())[0] == "hit"

    # 14:00: the early shift has ended, and nothing was written in between.
    plant_time.set("2026-11-28T14:00:00Z")
    early = [("2026-11-28", "early", "L1"), ("2026-11-28", "early", "L2")]
    assert await report(today) == ("miss", early)
    assert await report(today) == ("hit", early)
    assert [row[:3] for row in (await report(today, csv_too=True))[1]] == [list(row) for row in early]
    assert (await report())[0] == "hit"  # yesterday (the 27th) is the same day until midnight

    # Midnight: "yesterday" is the 28th, whose late shift ended at 22:00.
    plant_time.set("2026-11-29T00:00:00Z")
    late = [("2026-11-28", "late", "L1"), ("2026-11-28", "late", "L2")]
    assert await report() == ("miss", early + late)
    assert await report(today) == ("miss", early + late)


@pytest.mark.parametrize("query, field", [
    ("line=L9", "line"), ("line=a%20b", "line"), ("from=2026-01-01&to=2026-11-27", "to"),
    ("date=2026-11-27&from=2026-11-27", "date"), ("group_by=line", "group_by"),
])
async def test_bad_queries_are_400_naming_the_parameter(api, make, query, field):
    await make.line("L1")
    response = await api.get(f"/analytics/shift-report?{query}", role="admin")
    assert response.status == 400, response
    assert field in response.json["errors"]
    assert (await api.get("/analytics/shift-report", role="user")).status == 403
