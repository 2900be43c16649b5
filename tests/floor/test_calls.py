"""Andon calls: raise, acknowledge, resolve; times kept; escalation by the app's clock, once; the list,
its CSV and cursor, the events on topic `lines` and to webhooks, and the calls report."""
from __future__ import annotations

import asyncio
import csv
import io

import pytest

from tests.floor.test_line_events import lines_feed, until
from tests.receivers import Receiver

DAY = "2026-11-27"
START = f"{DAY}T09:00:00Z"
QUICK = pytest.mark.settings(andon_escalate_seconds=120, andon_check_interval=0.05,
                             webhook_allow_private=True, webhook_poll_interval=0.05)


@pytest.fixture
def lines(io_loop, make):
    async def build():
        for code in ("L1", "L2"):
            await make.line(code)

    io_loop.run_sync(build)


@pytest.fixture
def receiver(io_loop):
    started = Receiver().start()
    yield started
    started.stop()


async def raise_call(api, line="L1", kind="maintenance", **body):
    response = await api.post(f"/lines/{line}/calls", {"kind": kind, **body}, role="user")
    assert response.status == 201, response
    return response


@pytest.mark.plant_clock(at=START, zone="Europe/Berlin")
async def test_a_call_is_raised_acknowledged_and_resolved_with_its_times_kept(api, lines, plant_time):
    response = await raise_call(api, note="Spindle alarm")
    call = response.json
    assert response.headers["Location"] == f"/calls/{call['id']}"
    assert {key: call[key] for key in ("line", "kind", "note", "opened_at", "opened_by", "acknowledged_at",
                                       "resolved_at", "escalated_at", "response_seconds",
                                       "resolution_seconds")} == {
        "line": "L1", "kind": "maintenance", "note": "Spindle alarm", "opened_at": START,
        "opened_by": "test_user",
        "acknowledged_at": None, "resolved_at": None, "escalated_at": None, "response_seconds": None,
        "resolution_seconds": None}
    plant_time.advance(seconds=95)
    acked = await api.post(f"/calls/{call['id']}/acknowledge", role="admin")
    assert acked.status == 200, acked
    assert acked.json["acknowledged_by"] == "test_admin" and acked.json["response_seconds"] == 95
    again = await api.post(f"/calls/{call['id']}/acknowledge", role="user")
    assert again.status == 409 and "acknowledged" in again.json["detail"]
    plant_time.advance(minutes=10)
    resolved = await api.post(f"/calls/{call['id']}/resolve", role="user")
    assert resolved.status == 200, resolved
    assert resolved.json["resolved_at"] == "2026-11-27T09:11:35Z"
    assert resolved.json["resolution_seconds"] == 695 and resolved.json["response_seconds"] == 95
    assert (await api.post(f"/calls/{call['id']}/resolve", role="user")).status == 409
    assert (await api.post(f"/calls/{call['id']}/acknowledge", role="user")).status == 409
    assert (await api.get(f"/calls/{call['id']}", role="user")).json == resolved.json

    # Resolved without an acknowledgement: it counts as answered when resolved.
    direct = (await raise_call(api, "L2", "material")).json
    plant_time.advance(seconds=30)
    closed = (await api.post(f"/calls/{direct['id']}/resolve", role="user")).json
    assert closed["response_seconds"] == 30 and closed["resolution_seconds"] == 30


@pytest.mark.parametrize("path, body, status, field", [
    ("/lines/L1/calls", {"kind": "coffee"}, 422, "kind"),
    ("/lines/L1/calls", {}, 422, "kind"),
    ("/lines/L1/calls", {"kind": "quality", "note": "x" * 501}, 422, "note"),
    ("/lines/L1/calls", {"kind": "quality", "line": "L2"}, 422, "line"),
    ("/lines/NOPE/calls", {"kind": "quality"}, 422, "line"),
])
async def test_bad_calls_are_refused_and_change_nothing(api, lines, path, body, status, field):
    response = await api.post(path, body, role="user")
    assert response.status == status, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json["errors"]
    assert (await api.get("/calls", role="user")).json["items"] == []


async def test_unknown_calls_and_roles(api, lines):
    assert (await api.post("/calls/999/acknowledge", role="user")).status == 404
    assert (await api.post("/calls/999/resolve", role="user")).status == 404
    assert (await api.post("/lines/L1/calls", {"kind": "quality"})).status == 401
    assert (await api.get("/analytics/calls", role="user")).status == 403


async def test_an_idempotency_key_raises_one_call(api, lines):
    headers = {"Idempotency-Key": "tablet-7-0001"}
    first = await api.post("/lines/L1/calls", {"kind": "quality"}, role="user", headers=headers)
    second = await api.post("/lines/L1/calls", {"kind": "quality"}, role="user", headers=headers)
    assert first.status == second.status == 201
    assert second.headers["Idempotent-Replayed"] == "true" and second.json == first.json
    assert len((await api.get("/calls", role="user")).json["items"]) == 1
    ack = {"Idempotency-Key": "tablet-7-0002"}
    path = f"/calls/{first.json['id']}/acknowledge"
    once = await api.post(path, role="user", headers=ack)
    twice = await api.post(path, role="user", headers=ack)
    assert once.status == twice.status == 200 and twice.json == once.json


@QUICK
@pytest.mark.plant_clock(at=START)
async def test_an_unanswered_call_escalates_once_by_the_app_clock(api, lines, plant_time, feeds, receiver):
    hook = await api.post("/webhooks", {"url": receiver.url, "topics": ["lines"]}, role="admin")
    assert hook.status == 201, hook
    feed, _ = await lines_feed(api, feeds)
    waiting = (await raise_call(api)).json
    answered = (await raise_call(api, "L2", "quality")).json
    await api.post(f"/calls/{answered['id']}/acknowledge", role="user")
    await asyncio.sleep(0.3)  # several sweeps: nothing is due yet
    assert (await api.get(f"/calls/{waiting['id']}", role="user")).json["escalated_at"] is None

    plant_time.advance(seconds=120)
    seen = await until(feed, lambda e: e["event"] == "call.escalated")
    escalated = seen[-1]["data"]
    assert escalated["id"] == waiting["id"] and escalated["escalated_at"] == "2026-11-27T09:02:00Z"
    assert [e["event"] for e in seen if e["event"].startswith("call.")] == [
        "call.opened", "call.opened", "call.acknowledged", "call.escalated"]
    assert all(e["topic"] == "lines" for e in seen)
    plant_time.advance(seconds=600)
    await asyncio.sleep(0.3)
    assert [f for f in await feed.quiet() if f.get("event") == "call.escalated"] == []  # once only
    # Acknowledged late, the escalation stays on record.
    late = (await api.post(f"/calls/{waiting['id']}/acknowledge", role="user")).json
    assert late["escalated_at"] == "2026-11-27T09:02:00Z" and late["response_seconds"] == 720

    received = await receiver.wait_for(5)
    while "call.escalated" not in (events := [request.json["event"] for request in received]):
        received = await receiver.wait_for(len(received) + 1)  # webhooks arrive in event order
    assert events.count("call.escalated") == 1 and "call.opened" in events
    assert any(request.json["data"] == escalated for request in received
               if request.json["event"] == "call.escalated")


@pytest.mark.plant_clock(at=START, zone="Europe/Berlin")
async def test_the_list_filters_pages_by_cursor_and_answers_csv(api, lines, plant_time):
    made = []
    for n, (line, kind) in enumerate([("L1", "maintenance"), ("L2", "quality"), ("L1", "material"),
                                      ("L1", "supervisor"), ("L2", "maintenance")]):
        made.append((await raise_call(api, line, kind, note=f"=cmd|{n}")).json)
        plant_time.advance(minutes=5)
    await api.post(f"/calls/{made[0]['id']}/resolve", role="user")

    def ids(response):
        assert response.status == 200, response
        return [item["id"] for item in response.json["items"]]

    assert ids(await api.get("/calls?line=L1", role="user")) == [made[i]["id"] for i in (0, 2, 3)]
    assert ids(await api.get("/calls?kind=maintenance", role="user")) == [made[0]["id"], made[4]["id"]]
    assert ids(await api.get("/calls?open=true", role="user")) == [c["id"] for c in made[1:]]
    assert ids(await api.get("/calls?open=false", role="user")) == [made[0]["id"]]
    assert ids(await api.get("/calls?from=2026-11-28", role="user")) == [c["id"] for c in made[1:]]
    assert ids(await api.get("/calls?to=2026-11-26", role="user")) == []
    assert (await api.get("/calls?kind=coffee", role="user")).status == 400

    first = await api.get("/calls?per_page=2&sort_by=opened_at&sort_order=desc", role="user")
    seen = ids(first)
    cursor = first.json["meta"]["next_cursor"]
    while cursor:
        page = await api.get(f"/calls?per_page=2&sort_by=opened_at&sort_order=desc&cursor={cursor}",
                             role="user")
        seen += ids(page)
        cursor = page.json["meta"]["next_cursor"]
    assert seen == [c["id"] for c in reversed(made)]

    exported = await api.get("/calls?line=L2", role="user", headers={"Accept": "text/csv"})
    assert exported.status == 200 and exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.body.decode())))
    assert [int(row["id"]) for row in rows] == [made[1]["id"], made[4]["id"]]
    assert rows[0]["note"] == "'=cmd|1"  # never a formula in a spreadsheet


@pytest.mark.plant_clock(at=START)
async def test_the_report_gives_counts_means_and_p90_by_kind_and_line(api, lines, plant_time):
    for seconds in (10, 20, 30, 40, 50, 60, 70, 80, 90, 100):
        call = (await raise_call(api, "L1", "maintenance")).json
        plant_time.advance(seconds=seconds)
        await api.post(f"/calls/{call['id']}/acknowledge", role="user")
        plant_time.advance(seconds=seconds)
        await api.post(f"/calls/{call['id']}/resolve", role="user")
    await raise_call(api, "L2", "quality")
    report = await api.get(f"/analytics/calls?from={DAY}&to={DAY}", role="admin")
    assert report.status == 200, report
    assert report.json["items"] == [
        {"kind": "maintenance", "line": "L1", "calls": 10, "open": 0, "escalated": 0,
         "response_mean_seconds": 55.0, "response_p90_seconds": 90.0,
         "resolution_mean_seconds": 110.0, "resolution_p90_seconds": 180.0},
        {"kind": "quality", "line": "L2", "calls": 1, "open": 1, "escalated": 0,
         "response_mean_seconds": None, "response_p90_seconds": None,
         "resolution_mean_seconds": None, "resolution_p90_seconds": None}]
    assert (await api.get("/analytics/calls?kind=quality", role="admin")).json["items"][0]["line"] == "L2"
    assert (await api.get("/analytics/calls?from=2026-11-28&to=2026-11-27", role="admin")).status == 400
    assert (await api.get("/analytics/calls?from=2020-01-01&to=2026-11-27", role="admin")).status == 400
    exported = await api.get("/analytics/calls", role="admin", headers={"Accept": "text/csv"})
    lines_out = exported.body.decode().splitlines()
    assert lines_out[0] == ("kind,line,calls,open,escalated,response_mean_seconds,response_p90_seconds,"
                            "resolution_mean_seconds,resolution_p90_seconds")
    assert lines_out[1] == "maintenance,L1,10,0,0,55.0,90.0,110.0,180.0"
