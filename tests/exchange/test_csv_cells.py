"""CSV on every list: stops and display tokens too, zeros written as `0`, lists and objects as JSON."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.receivers import Receiver

CSV = {"Accept": "text/csv"}


@pytest.fixture
def receiver(io_loop):
    started = Receiver().start()
    yield started
    started.stop()


def parse(response) -> list[dict[str, str]]:
    assert response.status == 200, response
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.body.decode())))


async def test_stops_answer_csv_with_their_filters(api, make):
    await make.line("A")
    await make.line("B")
    await api.create("lines/A/stops", {"reason": "breakdown", "note": "=motor"}, role="user")
    await api.create("lines/B/stops", {"reason": "no_material"}, role="user")
    rows = parse(await api.get("/stops?line=A", role="user", headers=CSV))
    listed = (await api.get("/stops?line=A", role="user")).json["items"]
    assert [row["id"] for row in rows] == [str(item["id"]) for item in listed]
    assert rows[0]["line"] == "A" and rows[0]["reason"] == "breakdown" and rows[0]["note"] == "'=motor"
    assert len(parse(await api.get("/stops", role="user", headers=CSV))) == 2
    refused = await api.get("/stops?line=A", role=None, headers=CSV)
    assert refused.status == 401


async def test_display_tokens_answer_csv_for_admins(api):
    for label in ("Hall 1", "Hall 2", "-Hall 3"):
        assert (await api.post("/auth/display-tokens", {"label": label}, role="admin")).status == 201
    rows = parse(await api.get("/auth/display-tokens", role="admin", headers=CSV))
    assert [row["label"] for row in rows] == ["'-Hall 3", "Hall 2", "Hall 1"]  # newest first, escaped
    minted_by = json.loads(rows[0]["minted_by"])
    assert minted_by["username"] == "test_admin" and rows[0]["revoked_by"] == ""
    assert "token" not in rows[0]
    assert (await api.get("/auth/display-tokens", role="user", headers=CSV)).status == 403


async def test_zeros_are_zero_and_lists_are_json(api, make):
    product = await make.product()
    await make.line("A")
    await make.shift("Early", "06:00", "14:00", days=["mon", "tue"])
    await api.create("work-orders", {"product_id": product["id"], "line": "A", "shift": "Early",
                                     "date": "2026-11-23", "planned_quantity": 10})  # a Monday
    rows = parse(await api.get("/work-orders", role="user", headers=CSV))
    assert (rows[0]["good"], rows[0]["defective"]) == ("0", "0")
    rows = parse(await api.get("/shifts", role="user", headers=CSV))
    assert json.loads(rows[0]["days"]) == ["mon", "tue"] and rows[0]["days"] == '["mon","tue"]'


@pytest.mark.settings(webhook_allow_private=True)
async def test_every_list_the_document_says_answers_csv_does(api, make):
    """Each GET whose documented 200 offers text/csv answers CSV (a header line at least)."""
    product = await make.product()
    hook = await api.post("/webhooks", {"url": "http://127.0.0.1:9/in", "topics": ["orders"]}, role="admin")
    assert hook.status == 201, hook
    ids = {"/products/{ident}/stock-movements": product["id"],
           "/webhooks/{ident}/deliveries": hook.json["id"]}
    document = (await api.get("/openapi.json")).json
    listed = [path for path, operations in document["paths"].items() if "text/csv" in
              operations.get("get", {}).get("responses", {}).get("200", {}).get("content", {})]
    assert "/webhooks/{ident}/deliveries" in listed and "/stops" in listed
    wrong = []
    for path in listed:
        answer = await api.get(path.replace("{ident}", str(ids.get(path, ""))), role="super_admin",
                               headers=CSV)
        if answer.status != 200 or answer.headers["Content-Type"] != "text/csv; charset=utf-8" \
                or not answer.body.decode().splitlines()[0]:
            wrong.append((path, answer.status, answer.headers.get("Content-Type")))
    assert wrong == []


@pytest.mark.settings(webhook_allow_private=True)
async def test_station_tokens_and_an_endpoints_deliveries_answer_csv(api, make, receiver):
    await make.line("A")
    await make.line("B")
    minted = await api.post("/auth/station-tokens", {"label": "=Press A", "lines": ["A", "B"]}, role="admin")
    assert minted.status == 201, minted
    (row,) = parse(await api.get("/auth/station-tokens", role="admin", headers=CSV))
    assert (row["label"], json.loads(row["lines"])) == ("'=Press A", ["A", "B"]) and "token" not in row
    assert (await api.get("/auth/station-tokens", role="user", headers=CSV)).status == 403

    hooks = [(await api.post("/webhooks", {"url": receiver.url, "topics": ["orders"]}, role="admin")).json
             for _ in range(2)]
    for hook in (hooks[0], hooks[0], hooks[1]):
        assert (await api.post(f"/webhooks/{hook['id']}/test", role="admin")).status == 200
    listed = (await api.get(f"/webhooks/{hooks[0]['id']}/deliveries", role="admin")).json["items"]
    rows = parse(await api.get(f"/webhooks/{hooks[0]['id']}/deliveries", role="admin", headers=CSV))
    assert [row["id"] for row in rows] == [str(item["id"]) for item in listed] and len(rows) == 2
    assert {row["webhook_id"] for row in rows} == {str(hooks[0]["id"])}
    assert (await api.get("/webhooks/999999/deliveries", role="admin", headers=CSV)).status == 404
