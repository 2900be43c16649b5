"""CSV on every list: stops and display tokens too, zeros written as `0`, lists and objects as JSON."""
from __future__ import annotations

import csv
import io
import json

CSV = {"Accept": "text/csv"}


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
