"""GET /analytics/downtime and GET /analytics/oee-losses: every figure computed by hand from the
definitions (stops clipped to the plant-local range; MTTR = unplanned seconds / unplanned stops;
MTBF = run time / unplanned stops; the waterfall's five steps) and compared, JSON and CSV."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import text

DAY = "2026-11-27"  # Berlin is UTC+1: the day runs 2026-11-26T23:00Z … 2026-11-27T23:00Z
ZONE = "Europe/Berlin"
IDEAL = 20  # seconds per gear
H = 3600
# Early 06:00-14:00 Berlin (05:00-13:00Z) with a 30-minute break, late 14:00-22:00 (13:00-21:00Z).
EARLY, LATE, BREAK = 8 * H, 8 * H, 30 * 60
# (line, reason, started, ended) in UTC.
STOPS = (
    ("L1", "changeover", "2026-11-26T22:30", "2026-11-26T23:20"),  # 30 min before the day, 20 in it
    ("L1", "planned_maintenance", f"{DAY}T05:30", f"{DAY}T06:00"),  # early, planned
    ("L1", "breakdown", f"{DAY}T07:00", f"{DAY}T07:40"),  # early
    ("L1", "jam", f"{DAY}T08:00", f"{DAY}T08:05"),  # early, a logged small stop
    ("L1", "breakdown", f"{DAY}T12:50", f"{DAY}T13:20"),  # begins in early, 20 min of it in late
    ("L1", "quality", f"{DAY}T15:00", f"{DAY}T15:10"),  # late
    ("L2", "no_material", f"{DAY}T06:00", f"{DAY}T06:30"),  # early
    ("L2", "breakdown", f"{DAY}T14:00", f"{DAY}T14:15"),  # late
)
# (line, shift, produced, defective) of the gear, IDEAL seconds each.
OUTPUT = (("L1", "early", 900, 30), ("L1", "late", 1000, 0), ("L2", "early", 1000, 50),
          ("L2", "late", 1200, 0))
LABELS = {"breakdown": "Breakdown", "changeover": "Changeover", "planned_maintenance": "Planned maintenance",
          "jam": "Jam", "quality": "Quality problem", "no_material": "No material"}
CATEGORIES = {"breakdown": "breakdown", "changeover": "setup", "planned_maintenance": "planned",
              "jam": "small_stop", "quality": "production_reject", "no_material": "setup"}


@pytest.fixture
def plant_day(io_loop, api, make, plant_time):
    async def build():
        await make.shift("early", "06:00", "14:00", break_minutes=30)
        await make.shift("late", "14:00", "22:00")
        await make.line("L1")
        await make.line("L2")
        await api.create("stop-reasons", {"code": "jam", "label": "Jam", "category": "small_stop"})
        for line, reason, start, end in STOPS:
            plant_time.set(f"{start}:00Z")
            await api.create(f"lines/{line}/stops", {"reason": reason}, role="user")
            plant_time.set(f"{end}:00Z")
            await api.post(f"/lines/{line}/stops/current/end", role="user")
        plant_time.set("2026-11-28T10:00:00Z")  # every instance of the day has ended
        gear = await make.product(ideal_cycle_seconds=IDEAL)
        dana = await make.employee()
        for line, shift, produced, defective in OUTPUT:
            await api.create("production", {"product_id": gear["id"], "employee_id": dana["id"], "line": line,
                                            "shift": shift, "date_produced": DAY,
                                            "quantity_produced": produced, "quantity_defective": defective},
                             role="user")

    io_loop.run_sync(build)


def cell(value: object) -> str:
    """A value as the CSV shows it."""
    return ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)


def seconds(start: str, end: str) -> int:
    (h1, m1), (h2, m2) = (map(int, t[-5:].split(":")) for t in (start, end))
    days = 1 if start[:10] < end[:10] else 0
    return (days * 24 * 60 + h2 * 60 + m2 - h1 * 60 - m1) * 60


def expected_rows(groups: list[tuple[dict, list[int], list[int]]]) -> list[dict]:
    """Rows from (key, every stop's seconds, the unplanned ones') in Pareto order, by the definitions."""
    total = sum(sum(all_) for _, all_, _ in groups)
    unplanned = sum(sum(u) for _, _, u in groups)
    groups = sorted(groups, key=lambda g: (-sum(g[1]), [str(v) for v in g[0].values()]))
    rows, running = [], 0
    for key, all_, unplanned_seconds in groups:
        running += sum(all_)
        rows.append({**key, "stops": len(all_), "total_seconds": float(sum(all_)),
                     "mean_seconds": round(sum(all_) / len(all_), 3) if all_ else None,
                     "unplanned_stops": len(unplanned_seconds),
                     "unplanned_seconds": float(sum(unplanned_seconds)),
                     "unplanned_share": round(sum(unplanned_seconds) / unplanned, 4),
                     "cumulative_share": round(running / total, 4)})
    return rows


# Each stop's seconds inside the day (the first one clipped at the day's start, 23:00Z).
CLIPPED = [seconds(max(start, "2026-11-26T23:00"), end) for _, _, start, end in STOPS]
PLANNED = [reason == "planned_maintenance" for _, reason, _, _ in STOPS]


@pytest.mark.plant_clock(at="2026-11-26T20:00:00Z", zone=ZONE)
async def test_downtime_by_reason_is_a_pareto_of_the_clipped_stops(api, plant_day):
    assert CLIPPED == [20 * 60, 30 * 60, 40 * 60, 5 * 60, 30 * 60, 10 * 60, 30 * 60, 15 * 60]
    by_reason: dict[str, tuple[list[int], list[int]]] = {}
    for (_, reason, _, _), clipped, planned in zip(STOPS, CLIPPED, PLANNED, strict=True):
        all_, unplanned = by_reason.setdefault(reason, ([], []))
        all_.append(clipped)
        if not planned:
            unplanned.append(clipped)
    expected = expected_rows([({"reason": r, "label": LABELS[r], "planned": r == "planned_maintenance",
                                "category": CATEGORIES[r]}, a, u) for r, (a, u) in by_reason.items()])
    # By hand: breakdown 2,400 + 1,800 + 900 = 5,100 s of 10,800 s in all (9,000 s unplanned).
    assert [(row["reason"], row["total_seconds"]) for row in expected] == [
        ("breakdown", 5100.0), ("no_material", 1800.0), ("planned_maintenance", 1800.0),
        ("changeover", 1200.0), ("quality", 600.0), ("jam", 300.0)]
    assert expected[0]["unplanned_share"] == round(5100 / 9000, 4)
    assert expected[0]["cumulative_share"] == round(5100 / 10800, 4)
    assert expected[0]["mean_seconds"] == 1700.0

    response = await api.get(f"/analytics/downtime?from={DAY}&to={DAY}", role="admin")
    assert response.status == 200, response
    assert response.json["items"] == expected
    assert response.json["meta"]["total"] == 6

    as_csv = await api.get(f"/analytics/downtime?from={DAY}&to={DAY}", role="admin",
                           headers={"Accept": "text/csv"})
    assert as_csv.status == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(as_csv.body.decode())))
    assert header == ["reason", "label", "planned", "category", "stops", "total_seconds", "mean_seconds",
                      "unplanned_stops", "unplanned_seconds", "unplanned_share", "cumulative_share"]
    assert rows == [[cell(row[column]) for column in header] for row in expected]
    assert {row[2] for row in rows} == {"true", "false"}

    unplanned_only = await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&planned=false&limit=2&page=2",
                                   role="admin")
    assert [row["reason"] for row in unplanned_only.json["items"]] == ["changeover", "quality"]
    assert unplanned_only.json["meta"]["total"] == 5
    assert unplanned_only.json["items"][0]["cumulative_share"] == round((5100 + 1800 + 1200) / 9000, 4)

    # The 26th (Berlin) ends at 23:00Z: only the changeover's first 30 minutes fall into it.
    day_before = await api.get("/analytics/downtime?from=2026-11-26&to=2026-11-26", role="admin")
    assert [(row["reason"], row["total_seconds"]) for row in day_before.json["items"]] == [
        ("changeover", 1800.0)]


@pytest.mark.plant_clock(at="2026-11-26T20:00:00Z", zone=ZONE)
async def test_downtime_by_category_and_by_shift(api, plant_day):
    by_category = (await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&group_by=category",
                                 role="admin")).json["items"]
    groups: dict[str, tuple[list[int], list[int]]] = {}
    for (_, reason, _, _), clipped, planned in zip(STOPS, CLIPPED, PLANNED, strict=True):
        all_, unplanned = groups.setdefault(CATEGORIES[reason], ([], []))
        all_.append(clipped)
        if not planned:
            unplanned.append(clipped)
    assert by_category == expected_rows([({"category": c}, a, u) for c, (a, u) in groups.items()])
    assert [(row["category"], row["total_seconds"]) for row in by_category] == [
        ("breakdown", 5100.0), ("setup", 3000.0), ("planned", 1800.0), ("production_reject", 600.0),
        ("small_stop", 300.0)]

    # A stop belongs to the shift it began in: the changeover began between shifts (null), the
    # second breakdown in early although 20 of its 30 minutes ran in late.
    began_in = ["none", "early", "early", "early", "early", "late", "early", "late"]
    shifts: dict[str, tuple[list[int], list[int]]] = {}
    for shift, clipped, planned in zip(began_in, CLIPPED, PLANNED, strict=True):
        all_, unplanned = shifts.setdefault(shift, ([], []))
        all_.append(clipped)
        if not planned:
            unplanned.append(clipped)
    expected = expected_rows([({"shift": None if s == "none" else s}, a, u) for s, (a, u) in shifts.items()])
    assert [(row["shift"], row["total_seconds"]) for row in expected] == [
        ("early", 8100.0), ("late", 1500.0), (None, 1200.0)]
    by_shift = await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&group_by=shift", role="admin")
    assert by_shift.json["items"] == expected


@pytest.mark.plant_clock(at="2026-11-26T20:00:00Z", zone=ZONE)
async def test_mttr_and_mtbf_per_line(api, plant_day):
    # Run time = Σ instances of (shift time − break − planned stops − unplanned stops in the instance).
    l1_early = EARLY - BREAK - 30 * 60 - (40 * 60 + 5 * 60 + 10 * 60)  # the breakdown's 10 min in early
    l1_late = LATE - (20 * 60 + 10 * 60)  # its 20 min in late, and the quality stop
    l2_early = EARLY - BREAK - 30 * 60
    l2_late = LATE - 15 * 60
    l1_unplanned = [20 * 60, 40 * 60, 5 * 60, 30 * 60, 10 * 60]
    l2_unplanned = [30 * 60, 15 * 60]
    expected = expected_rows([({"line": "L1"}, l1_unplanned + [30 * 60], l1_unplanned),
                              ({"line": "L2"}, l2_unplanned, l2_unplanned)])
    expected[0].update(run_seconds=float(l1_early + l1_late), mttr_seconds=sum(l1_unplanned) / 5,
                       mtbf_seconds=(l1_early + l1_late) / 5)
    expected[1].update(run_seconds=float(l2_early + l2_late), mttr_seconds=sum(l2_unplanned) / 2,
                       mtbf_seconds=(l2_early + l2_late) / 2)
    assert (expected[0]["mttr_seconds"], expected[0]["mtbf_seconds"]) == (1260.0, 9780.0)
    assert (expected[1]["mttr_seconds"], expected[1]["mtbf_seconds"]) == (1350.0, 26550.0)
    response = await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&group_by=line", role="admin")
    assert response.json["items"] == expected

    # Early only: the stops that began in it, and its run time alone.
    early = (await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&group_by=line&shift=early",
                           role="admin")).json["items"]
    l1 = [40 * 60, 5 * 60, 30 * 60]
    assert [(r["line"], r["stops"], r["unplanned_seconds"], r["run_seconds"], r["mttr_seconds"],
             r["mtbf_seconds"]) for r in early] == [
        ("L1", 4, float(sum(l1)), float(l1_early), sum(l1) / 3, l1_early / 3),
        ("L2", 1, 1800.0, float(l2_early), 1800.0, float(l2_early))]

    as_csv = await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&group_by=line", role="admin",
                           headers={"Accept": "text/csv"})
    header, *rows = list(csv.reader(io.StringIO(as_csv.body.decode())))
    assert header[-3:] == ["run_seconds", "mttr_seconds", "mtbf_seconds"]
    assert rows == [[cell(row[column]) for column in header] for row in expected]

    # A line without a stop has a row; without a failure, MTTR and MTBF are not defined.
    quiet = (await api.get("/analytics/downtime?from=2026-11-25&to=2026-11-25&group_by=line",
                           role="admin")).json["items"]
    assert [(r["line"], r["stops"], r["mttr_seconds"], r["mtbf_seconds"]) for r in quiet] == [
        ("L1", 0, None, None), ("L2", 0, None, None)]


def waterfall(parts: list[dict]) -> dict:
    """The five steps from per-instance parts, each computed from the definitions."""
    shift = sum(p["shift"] for p in parts)
    planned = shift - sum(p["planned_down"] for p in parts)
    availability = {}
    for p in parts:
        for category, lost in p["stops"].items():
            availability[category] = availability.get(category, 0) + lost
    run = planned - sum(availability.values())
    small = sum(p["small_stops"] for p in parts)
    ideal = sum(p["produced"] * IDEAL for p in parts)
    good = sum((p["produced"] - p["defective"]) * IDEAL for p in parts)

    def losses(items: dict) -> list[dict]:
        ordered = sorted(items.items(), key=lambda item: (-item[1], item[0]))
        return [{"category": category, "seconds": float(lost)} for category, lost in ordered]

    speed = {"reduced_speed": run - ideal - small, **({"small_stop": small} if small else {})}
    return {"steps": [
        {"step": "shift_time", "seconds": float(shift), "lost_seconds": 0.0, "losses": []},
        {"step": "planned_production_time", "seconds": float(planned), "lost_seconds": float(shift - planned),
         "losses": losses({"planned": shift - planned})},
        {"step": "run_time", "seconds": float(run), "lost_seconds": float(planned - run),
         "losses": losses(availability)},
        {"step": "net_run_time", "seconds": float(ideal), "lost_seconds": float(run - ideal),
         "losses": losses(speed)},
        {"step": "fully_productive_time", "seconds": float(good), "lost_seconds": float(ideal - good),
         "losses": losses({"production_reject": ideal - good})}],
        "oee": round(good / planned, 4)}


# Per line and instance: planned downtime (break + planned stops), unplanned stops by category (the
# logged small stop apart: a speed loss), and the output.
L1_PARTS = [
    {"shift": EARLY, "planned_down": BREAK + 30 * 60, "stops": {"breakdown": 40 * 60 + 10 * 60},
     "small_stops": 5 * 60, "produced": 900, "defective": 30},
    {"shift": LATE, "planned_down": 0, "stops": {"breakdown": 20 * 60, "production_reject": 10 * 60},
     "small_stops": 0, "produced": 1000, "defective": 0},
]
L2_PARTS = [
    {"shift": EARLY, "planned_down": BREAK, "stops": {"setup": 30 * 60}, "small_stops": 0,
     "produced": 1000, "defective": 50},
    {"shift": LATE, "planned_down": 0, "stops": {"breakdown": 15 * 60}, "small_stops": 0,
     "produced": 1200, "defective": 0},
]


@pytest.mark.plant_clock(at="2026-11-26T20:00:00Z", zone=ZONE)
async def test_the_loss_waterfall_of_a_line_and_of_the_plant(api, plant_day):
    expected = waterfall(L1_PARTS)
    # By hand: 57,600 s shift time − 3,600 planned = 54,000 − 4,800 stopped = 49,200 run; ideal
    # 1,900 × 20 = 38,000 (11,200 speed loss, 300 of it the jam); 600 s of rejects.
    assert [step["seconds"] for step in expected["steps"]] == [57600.0, 54000.0, 49200.0, 38000.0, 37400.0]
    assert expected["steps"][3]["losses"] == [{"category": "reduced_speed", "seconds": 10900.0},
                                              {"category": "small_stop", "seconds": 300.0}]
    response = await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}&line=L1", role="admin")
    assert response.status == 200, response
    assert response.json == {"from": DAY, "to": DAY, "line": "L1", "lines": ["L1"], "instances": 2,
                             **expected}

    plant = await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}", role="admin")
    assert plant.json == {"from": DAY, "to": DAY, "line": None, "lines": ["L1", "L2"], "instances": 2,
                          **waterfall(L1_PARTS + L2_PARTS)}

    as_csv = await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}&line=L1", role="admin",
                           headers={"Accept": "text/csv"})
    assert as_csv.status == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.body.decode())))
    assert rows[0] == ["step", "seconds", "lost_seconds", "category", "category_seconds"]
    assert rows[1:] == [
        ["shift_time", "57600.0", "0.0", "", ""],
        ["planned_production_time", "54000.0", "3600.0", "planned", "3600.0"],
        ["run_time", "49200.0", "4800.0", "breakdown", "4200.0"],
        ["run_time", "49200.0", "4800.0", "production_reject", "600.0"],
        ["net_run_time", "38000.0", "11200.0", "reduced_speed", "10900.0"],
        ["net_run_time", "38000.0", "11200.0", "small_stop", "300.0"],
        ["fully_productive_time", "37400.0", "600.0", "production_reject", "600.0"]]


@pytest.mark.plant_clock(at="2026-11-26T20:00:00Z", zone=ZONE)
async def test_the_waterfall_of_a_running_instance_counts_up_to_now(api, plant_day, plant_time):
    # At 09:00Z the 28th's early shift (05:00Z) has run 4 of its 8 hours: half its break is due.
    plant_time.set("2026-11-28T09:00:00Z")
    response = await api.get("/analytics/oee-losses?from=2026-11-28&to=2026-11-28&line=L1", role="admin")
    steps = response.json["steps"]
    assert response.json["instances"] == 1
    assert [step["seconds"] for step in steps[:3]] == [4.0 * H, 4.0 * H - BREAK / 2, 4.0 * H - BREAK / 2]
    # Nothing made yet: all of the run time is speed loss, OEE is 0.
    assert steps[3]["seconds"] == 0.0 and steps[3]["losses"] == [
        {"category": "reduced_speed", "seconds": 4.0 * H - BREAK / 2}]
    assert response.json["oee"] == 0.0


@pytest.mark.plant_clock(at="2026-11-26T20:00:00Z", zone=ZONE)
async def test_stop_writes_invalidate_the_cached_reports(api, plant_day, plant_time):
    paths = (f"/analytics/downtime?from={DAY}&to={DAY}", f"/analytics/oee-losses?from={DAY}&to={DAY}&line=L1")
    before = {}
    for path in paths:
        first = await api.get(path, role="admin")
        again = await api.get(path, role="admin")
        assert (first.headers["X-Cache"], again.headers["X-Cache"]) == ("miss", "hit")
        before[path] = again.json
    stop = (await api.get("/stops?line=L1&reason=quality", role="admin")).json["items"][0]
    patched = await api.patch(f"/stops/{stop['id']}", {"ended_at": f"{DAY}T15:40:00Z"}, role="admin")
    assert patched.status == 200, patched
    for path in paths:
        after = await api.get(path, role="admin")
        assert after.headers["X-Cache"] == "miss" and after.json != before[path]
    assert after.json["steps"][2]["losses"] == [{"category": "breakdown", "seconds": 4200.0},
                                                {"category": "production_reject", "seconds": 2400.0}]


@pytest.mark.parametrize("query, field", [
    ("group_by=product", "group_by"),
    ("line=NOPE", "line"),
    ("line=bad%20code", "line"),
    ("shift=night", "shift"),
    ("from=2026-11-28&to=2026-11-27", "from"),
    ("from=2026-01-01&to=2026-11-27", "to"),
    ("from=27.11.2026", "from"),
    ("planned=maybe", "planned"),
    ("limit=0", "limit"),
    ("colour=red", "colour"),
])
async def test_a_bad_query_is_a_400_naming_it(api, make, query, field):
    await make.line("L1")
    await make.shift("early", "06:00", "14:00")
    # group_by, shift, planned and limit are no parameters of the waterfall: refused as unknown there.
    for path in ("/analytics/downtime", "/analytics/oee-losses"):
        response = await api.get(f"{path}?{query}", role="admin")
        assert response.status == 400, (path, response)
        assert field in response.json["errors"], (path, response.json)


async def test_only_admins_read_them(api):
    for path in ("/analytics/downtime", "/analytics/oee-losses"):
        assert (await api.get(path, role="user")).status == 403
        assert (await api.get(path)).status == 401
        assert (await api.get(path, role="admin")).status == 200


@pytest.mark.plant_clock(at=f"{DAY}T05:00:00Z", zone=ZONE)
async def test_a_reason_without_a_category_counts_as_unclassified(app, api, make, plant_time):
    """Like `unassigned`, a machine's stop nobody has explained yet: no category, so `unclassified`."""
    await make.shift("early", "06:00", "14:00")
    await make.line("L1")
    reason = await api.create("stop-reasons", {"code": "unknown", "label": "Unknown"})
    async with app.ctx.db.write() as uow:
        await uow.session.execute(text("UPDATE stop_reasons SET category = NULL WHERE id = :id"),
                                  {"id": reason["id"]})
    plant_time.set(f"{DAY}T06:00:00Z")
    opened = await api.post("/lines/L1/stops", {"reason": "unknown"}, role="user")
    assert opened.status == 201 and opened.json["category"] is None
    plant_time.set(f"{DAY}T06:15:00Z")
    await api.post("/lines/L1/stops/current/end", role="user")
    plant_time.set(f"{DAY}T13:00:00Z")  # the early shift (05:00-13:00Z) is over

    by_category = (await api.get(f"/analytics/downtime?from={DAY}&to={DAY}&group_by=category",
                                 role="admin")).json["items"]
    assert [(row["category"], row["total_seconds"]) for row in by_category] == [("unclassified", 900.0)]
    by_reason = (await api.get(f"/analytics/downtime?from={DAY}&to={DAY}", role="admin")).json["items"]
    assert [(row["reason"], row["category"]) for row in by_reason] == [("unknown", None)]
    steps = (await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}", role="admin")).json["steps"]
    assert steps[2] == {"step": "run_time", "seconds": float(EARLY - 900), "lost_seconds": 900.0,
                        "losses": [{"category": "unclassified", "seconds": 900.0}]}


def hand_status(part: dict) -> dict:
    """A, P, Q and OEE of one line's instance from the same parts, as the line status shows them."""
    planned = part["shift"] - part["planned_down"]
    run = planned - sum(part["stops"].values()) - part["small_stops"]
    ideal, good = part["produced"] * IDEAL, part["produced"] - part["defective"]
    factors = {"availability": run / planned, "performance": ideal / run, "quality": good / part["produced"]}
    factors["oee"] = factors["availability"] * factors["performance"] * factors["quality"]
    return {name: round(value, 4) for name, value in factors.items()}


@pytest.mark.plant_clock(at=f"{DAY}T05:00:00Z")
async def test_the_waterfall_with_breaks_at_their_times_agrees_with_the_status_and_the_report(
        api, make, plant_time):
    """Early 06:00-14:00 UTC with breaks at 09:00 (30 min) and 12:00 (15 min). L1: planned
    maintenance 08:40-09:10 runs 10 minutes into the first break, a breakdown 09:20-09:50 begins 10
    minutes before its end. L2: operators log the first break as a `break` stop, 09:00-09:35. Every
    figure below is plain arithmetic on seconds from the definitions."""
    await make.shift("early", "06:00", "14:00", breaks=[{"starts_at": "09:00", "minutes": 30},
                                                       {"starts_at": "12:00", "minutes": 15}])
    await make.line("L1")
    await make.line("L2")
    gear = await make.product(ideal_cycle_seconds=IDEAL)
    dana = await make.employee()

    def at(clock: str) -> None:
        plant_time.set(f"{DAY}T{clock}:00Z")

    async def record(line: str, produced: int, defective: int = 0) -> None:
        await api.create("production", {"product_id": gear["id"], "employee_id": dana["id"], "line": line,
                                        "quantity_produced": produced, "quantity_defective": defective},
                         role="user")

    async def stop(line: str, reason: str) -> None:
        await api.create(f"lines/{line}/stops", {"reason": reason}, role="user")

    async def end(line: str) -> None:
        assert (await api.post(f"/lines/{line}/stops/current/end", role="user")).status == 200

    async def compare(parts: dict[str, dict], instances: int = 1) -> dict:
        """The waterfall of each line and of the plant against the hand parts, and the status's
        factors against the same parts; returns the status items."""
        for line, part in parts.items():
            response = await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}&line={line}", role="admin")
            assert response.status == 200, response
            assert response.json == {"from": DAY, "to": DAY, "line": line, "lines": [line],
                                     "instances": instances, **waterfall([part])}, line
        plant = await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}", role="admin")
        assert plant.json["steps"] == waterfall(list(parts.values()))["steps"]
        status = (await api.get("/lines/status", role="user")).json["items"]
        return {item["line"]: item for item in status}

    at("08:00")
    await record("L1", 200, 4)
    at("08:30")
    await record("L2", 300)
    at("08:40")
    await stop("L1", "planned_maintenance")

    # Before the break, 08:50: 10,200 s of shift time; L1's maintenance has run 600 s.
    at("08:50")
    before = {"L1": {"shift": 10_200, "planned_down": 600, "stops": {}, "small_stops": 0,
                     "produced": 200, "defective": 4},
              "L2": {"shift": 10_200, "planned_down": 0, "stops": {}, "small_stops": 0,
                     "produced": 300, "defective": 0}}
    assert waterfall([before["L1"]])["steps"][1]["seconds"] == 9_600.0
    lines = await compare(before)
    for line in ("L1", "L2"):
        assert lines[line]["oee"] == hand_status(before[line]), line
    assert lines["L1"]["state"] == "stopped" and lines["L1"]["shift"]["on_break"] is False

    at("09:00")
    await stop("L2", "break")
    at("09:10")
    await end("L1")

    # During the break, 09:15: 11,700 s; 900 s of break so far. L1's maintenance counts 1,200 s
    # outside the break; L2's open break stop lies wholly inside it and adds nothing.
    at("09:15")
    during = {"L1": {**before["L1"], "shift": 11_700, "planned_down": 900 + 1_200},
              "L2": {**before["L2"], "shift": 11_700, "planned_down": 900}}
    assert waterfall([during["L1"]])["steps"][1]["seconds"] == 9_600.0
    lines = await compare(during)
    for line in ("L1", "L2"):
        assert lines[line]["oee"] == hand_status(during[line]), line
        assert (lines[line]["shift"]["on_break"], lines[line]["shift"]["break_ends_at"]) == (
            True, f"{DAY}T09:30:00Z")

    at("09:20")
    await stop("L1", "breakdown")
    at("09:35")
    await end("L2")
    at("09:50")
    await end("L1")
    at("10:00")
    await record("L1", 150)

    # After the break, 10:30: 16,200 s; the whole 1,800 s break. L1's breakdown: 1,800 s, 600 of
    # them in the break: 1,200 s unplanned. L2's break stop ran 300 s past the break: planned, once.
    at("10:30")
    after = {"L1": {"shift": 16_200, "planned_down": 1_800 + 1_200, "stops": {"breakdown": 1_200},
                    "small_stops": 0, "produced": 350, "defective": 4},
             "L2": {**before["L2"], "shift": 16_200, "planned_down": 1_800 + 300}}
    # By hand: L1 16,200 − 3,000 = 13,200 planned − 1,200 = 12,000 run; 350 × 20 = 7,000 ideal.
    assert [step["seconds"] for step in waterfall([after["L1"]])["steps"]] == [
        16_200.0, 13_200.0, 12_000.0, 7_000.0, 6_920.0]
    lines = await compare(after)
    for line in ("L1", "L2"):
        assert lines[line]["oee"] == hand_status(after[line]), line
    as_csv = await api.get(f"/analytics/oee-losses?from={DAY}&to={DAY}&line=L1", role="admin",
                           headers={"Accept": "text/csv"})
    assert list(csv.reader(io.StringIO(as_csv.body.decode())))[1:] == [
        ["shift_time", "16200.0", "0.0", "", ""],
        ["planned_production_time", "13200.0", "3000.0", "planned", "3000.0"],
        ["run_time", "12000.0", "1200.0", "breakdown", "1200.0"],
        ["net_run_time", "7000.0", "5000.0", "reduced_speed", "5000.0"],
        ["fully_productive_time", "6920.0", "80.0", "production_reject", "80.0"]]

    at("11:00")
    await record("L2", 200, 10)
    at("12:00")
    await stop("L2", "break")  # the second break logged too, exactly: nothing more
    at("12:15")
    await end("L2")

    # The whole shift, seen at 14:30: 28,800 s; 2,700 s of breaks.
    at("14:30")
    whole = {"L1": {**after["L1"], "shift": 28_800, "planned_down": 2_700 + 1_200},
             "L2": {**after["L2"], "shift": 28_800, "planned_down": 2_700 + 300, "produced": 500,
                    "defective": 10}}
    lines = await compare(whole)
    for line in ("L1", "L2"):
        assert lines[line]["state"] == "idle" and lines[line]["last_shift"]["oee"] == hand_status(whole[line])

    # The shift report's row of the instance: the same planned and unplanned seconds and factors.
    plant_time.set("2026-11-28T08:00:00Z")
    rows = {row["line"]: row for row in (await api.get(f"/analytics/shift-report?date={DAY}",
                                                        role="admin")).json["items"]}
    for line, part in whole.items():
        steps = waterfall([part])["steps"]
        assert (rows[line]["planned_seconds"], rows[line]["unplanned_stop_seconds"]) == (
            steps[1]["seconds"], steps[1]["seconds"] - steps[2]["seconds"]), line
        assert {name: rows[line][name] for name in ("availability", "performance", "quality", "oee")} == \
            hand_status(part), line
        assert rows[line]["oee"] == waterfall([part])["oee"], line
    assert (rows["L1"]["planned_seconds"], rows["L2"]["planned_seconds"]) == (24_900, 25_800)
