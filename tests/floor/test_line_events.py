"""Topic `lines` on /ws: stops, work orders and coalesced line.status, in id order, as the API has them."""
from __future__ import annotations

import asyncio
import math

import pytest
from sqlalchemy import event as sql_event

from tests.feeds import Feed

DAY = "2026-11-27"
NOW = f"{DAY}T08:00:00Z"


@pytest.fixture
def floor(io_loop, make):
    async def build():
        await make.shift("early", "06:00", "14:00")
        for code in ("L1", "L2"):
            await make.line(code)
        return {"gear": await make.product(ideal_cycle_seconds=20), "dana": await make.employee()}

    return io_loop.run_sync(build)


async def lines_feed(api, feeds, role="user", **options) -> tuple[Feed, dict]:
    feed = await feeds(await api.token(role))
    return feed, await feed.subscribe(["lines"], **options)


async def until(feed: Feed, wanted) -> list[dict]:
    """Events up to and including the first one `wanted` accepts."""
    seen = []
    while True:
        (event,) = await feed.events(1)
        seen.append(event)
        if wanted(event):
            return seen


def status_of(event, line="L1"):
    return event["event"] == "line.status" and event["data"]["line"] == line


async def current_status(api, line="L1"):
    items = (await api.get("/lines/status", role="user")).json["items"]
    return next(item for item in items if item["line"] == line)


@pytest.mark.plant_clock(at=NOW)
async def test_events_arrive_in_id_order_with_the_rows_the_api_returns(api, feeds, floor):
    feed, _ = await lines_feed(api, feeds)
    order = await api.create("work-orders", {"product_id": floor["gear"]["id"], "line": "L1",
                                             "shift": "early", "date": DAY, "planned_quantity": 80})
    stop = await api.create("lines/L1/stops", {"reason": "no_material", "note": "coil"}, role="user")
    seen = await until(feed, lambda e: status_of(e) and e["data"]["state"] == "stopped")
    await api.create("production", {"product_id": floor["gear"]["id"], "employee_id": floor["dana"]["id"],
                                    "work_order_id": order["id"], "date_produced": DAY,
                                    "quantity_produced": 9, "quantity_defective": 1}, role="user")
    seen += await until(feed, lambda e: e["event"] == "work_order.updated")
    ended = (await api.post("/lines/L1/stops/current/end", role="user")).json
    seen += await until(feed, lambda e: status_of(e) and e["data"]["state"] == "running"
                        and e["data"]["plan"]["good"] == 8)

    ids = [event["id"] for event in seen]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(event["topic"] == "lines" for event in seen)
    by_name = {}
    for event in seen:
        by_name.setdefault(event["event"], []).append(event["data"])
    assert by_name["work_order.created"] == [order]
    assert by_name["line.stopped"] == [stop]
    assert by_name["line.started"] == [ended]
    assert by_name["work_order.updated"] == [(await api.get(f"/work-orders/{order['id']}", role="user")).json]
    assert by_name["work_order.updated"][0]["status"] == "in_progress"
    assert by_name["line.status"][-1] == await current_status(api)
    names = [event["event"] for event in seen]
    assert names.index("work_order.created") < names.index("line.stopped") < names.index("line.started")

    # A client that comes back with `since` gets the same events again, in the same order.
    again, _ = await lines_feed(api, feeds, since=ids[0] - 1)
    replayed = await again.events(len(seen))
    assert [(e["id"], e["event"], e["data"]) for e in replayed] == [
        (e["id"], e["event"], e["data"]) for e in seen]


@pytest.mark.plant_clock(at=NOW)
async def test_a_burst_of_records_gives_a_handful_of_status_events_the_last_correct(
        api, feeds, floor, io_loop):
    feed, _ = await lines_feed(api, feeds)
    await api.create("work-orders", {"product_id": floor["gear"]["id"], "line": "L1", "shift": "early",
                                     "date": DAY, "planned_quantity": 500})
    started = io_loop.asyncio_loop.time()
    body = {"product_id": floor["gear"]["id"], "employee_id": floor["dana"]["id"], "line": "L1",
            "shift": "early", "date_produced": DAY, "quantity_produced": 2}
    for _ in range(50):
        await api.create("production", body, role="user")
    seen = await until(feed, lambda e: status_of(e) and e["data"]["plan"]["good"] == 100)
    took = io_loop.asyncio_loop.time() - started
    burst = [e for e in seen if status_of(e) and e["data"]["plan"]["good"] > 0]
    # At most one per second (plus the first at once): far fewer than the 50 commits.
    assert 1 <= len(burst) <= math.ceil(took) + 1 and len(burst) < 50, (len(burst), took)
    assert burst[-1]["data"] == await current_status(api)
    assert burst[-1]["data"]["plan"] == {"planned_quantity": 500, "good": 100, "defective": 0,
                                         "expected_by_now": 125, "pace": 0.8}
    await asyncio.sleep(1.2)  # nothing changed since: a status that still follows says the same
    later = [frame for frame in await feed.quiet() if frame["type"] == "event" and status_of(frame)]
    assert all(frame["data"] == burst[-1]["data"] for frame in later), later


@pytest.mark.plant_clock(at=NOW)
async def test_the_line_filter_and_display_tokens(api, feeds, floor):
    minted = await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")
    wall = await feeds(minted.json["token"])
    await wall.subscribe(["lines"], filters={"line": "L2"})
    await api.create("lines/L1/stops", {"reason": "breakdown"}, role="user")
    await api.create("lines/L2/stops", {"reason": "quality"}, role="user")
    seen = await until(wall, lambda e: status_of(e, "L2") and e["data"]["state"] == "stopped")
    assert {event["data"]["line"] for event in seen} == {"L2"}
    assert [e["event"] for e in seen if e["event"] == "line.stopped"] == ["line.stopped"]


@pytest.mark.plant_clock(at=NOW)
async def test_a_record_moved_to_another_line_moves_both_lines_and_only_them(api, feeds, floor, make):
    """An edit names the record's new line in its event; the line it left gets its status too, and
    a line the edit did not touch gets none."""
    feed, _ = await lines_feed(api, feeds)
    await make.line("L3")
    body = {"product_id": floor["gear"]["id"], "employee_id": floor["dana"]["id"], "line": "L1",
            "shift": "early", "date_produced": DAY, "quantity_produced": 7}
    record = await api.create("production", body, role="user")
    # The statuses those writes set off (coalesced, up to a second later) go by first.
    await until(feed, lambda e: status_of(e) and e["data"]["plan"]["good"] == 7)
    await asyncio.sleep(1.2)
    await feed.quiet()
    assert (await api.patch(f"/production/{record['id']}", {"line": "L2"}, role="admin")).status == 200
    seen = await until(feed, lambda e: status_of(e, "L1") and e["data"]["plan"]["good"] == 0)
    seen += await until(feed, lambda e: status_of(e, "L2") and e["data"]["plan"]["good"] == 7) \
        if not any(status_of(e, "L2") and e["data"]["plan"]["good"] == 7 for e in seen) else []
    await asyncio.sleep(1.2)
    later = [frame for frame in await feed.quiet() if frame["type"] == "event"]
    moved = {e["data"]["line"] for e in seen + later if e["event"] == "line.status"}
    assert moved == {"L1", "L2"}, moved


@pytest.mark.plant_clock(at=NOW)
async def test_edits_on_a_deactivated_line_are_read_once_a_second_not_once_a_commit(app, api, floor, io_loop):
    """A line with no status (deactivated) is coalesced like the others: it was read again after
    every commit that named it, since only a published status counted as read."""
    body = {"product_id": floor["gear"]["id"], "employee_id": floor["dana"]["id"], "line": "L2",
            "shift": "early", "date_produced": DAY, "quantity_produced": 1}
    record = await api.create("production", body, role="user")
    assert (await api.patch("/lines/L2", {"active": False}, role="admin")).status == 200
    await asyncio.sleep(1.2)  # what those two writes set off is done
    reads: list[str] = []

    def count(conn, cursor, statement: str, *args) -> None:
        if "lines.code, lines.name, lines.shifts" in statement.replace("`", "") and "IN (" in statement:
            reads.append(statement)

    engine = app.ctx.db.engine.sync_engine
    sql_event.listen(engine, "before_cursor_execute", count)
    try:
        started = io_loop.asyncio_loop.time()
        for n in range(2, 22):
            edited = await api.patch(f"/production/{record['id']}", {"quantity_produced": n}, role="admin")
            assert edited.status == 200, edited
        await asyncio.sleep(1.2)  # the last coalesced read
        took = io_loop.asyncio_loop.time() - started
    finally:
        sql_event.remove(engine, "before_cursor_execute", count)
    assert 1 <= len(reads) <= math.ceil(took) + 1, (len(reads), took)
