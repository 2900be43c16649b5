"""Station tokens: an operator's tablet writes only what the operator writes, only on its lines."""
from __future__ import annotations

import pytest

DAY = "2026-11-27"


@pytest.fixture
def plant(io_loop, make, api):
    async def build():
        for code in ("L1", "L2"):
            await make.line(code)
        await make.line("OLD", active=False)
        await make.shift("early", "06:00", "14:00")
        return {"gear": await make.product(), "dana": await make.employee()}

    return io_loop.run_sync(build)


async def mint(api, lines=("L1",), **body):
    body = {"label": "Line 1 tablet", "lines": list(lines), **body}
    response = await api.post("/auth/station-tokens", body, role="admin")
    assert response.status == 201, response
    return response


def record(plant, line="L1", **overrides):
    return {"product_id": plant["gear"]["id"], "employee_id": plant["dana"]["id"], "quantity_produced": 5,
            "date_produced": DAY, "line": line, **overrides}


async def test_only_admins_mint_and_lines_must_be_active(api, plant):
    body = {"label": "tablet", "lines": ["L1"]}
    assert (await api.post("/auth/station-tokens", body, role="user")).status == 403
    assert (await api.post("/auth/station-tokens", body)).status == 401
    for lines, field in ((["NOPE"], "lines"), (["OLD"], "lines"), ([], "lines"), (["a b"], "lines")):
        refused = await api.post("/auth/station-tokens", {"label": "t", "lines": lines}, role="admin")
        assert refused.status == 422 and field in refused.json["errors"], (lines, refused)
    assert (await api.get("/auth/station-tokens", role="admin")).json["items"] == []
    minted = await mint(api, ["L2", "L1"])
    assert minted.json["lines"] == ["L1", "L2"]
    assert minted.headers["Location"] == f"/auth/station-tokens/{minted.json['id']}"
    me = await api.get("/auth/me", token=minted.json["token"])
    assert me.status == 200 and me.json["role"] == "user" and me.json["token_kind"] == "station"


async def test_a_station_writes_for_its_lines_only(api, plant):
    token = (await mint(api)).json["token"]
    made = await api.post("/production", record(plant), token=token)
    assert made.status == 201, made
    assert (await api.post("/production", record(plant, "L2"), token=token)).status == 403
    assert (await api.post("/production", record(plant, None), token=token)).status == 403
    changed = await api.patch(f"/production/{made.json['id']}", {"quantity_produced": 9}, token=token)
    assert changed.status == 403
    assert (await api.delete(f"/production/{made.json['id']}", token=token)).status == 403

    assert (await api.post("/lines/L1/stops", {"reason": "breakdown"}, token=token)).status == 201
    assert (await api.post("/lines/L2/stops", {"reason": "breakdown"}, token=token)).status == 403
    stop = (await api.get("/stops?open=true", token=token)).json["items"][0]
    assert (await api.patch(f"/stops/{stop['id']}", {"reason": "quality"}, token=token)).status == 403
    assert (await api.post("/lines/L1/stops/current/end", token=token)).status == 200
    assert (await api.post("/lines/L2/stops/current/end", token=token)).status == 403

    own = await api.post("/lines/L1/calls", {"kind": "material"}, token=token)
    assert own.status == 201, own
    assert (await api.post("/lines/L2/calls", {"kind": "material"}, token=token)).status == 403
    other = (await api.post("/lines/L2/calls", {"kind": "quality"}, role="user")).json
    assert (await api.post(f"/calls/{other['id']}/acknowledge", token=token)).status == 403
    assert (await api.post(f"/calls/{own.json['id']}/acknowledge", token=token)).status == 200
    assert (await api.post(f"/calls/{own.json['id']}/resolve", token=token)).status == 403
    assert (await api.get(f"/calls/{other['id']}", role="user")).json["acknowledged_at"] is None

    # What the station reads works; anything else (an admin minted it) is refused.
    for path in ("/lines/status", "/shifts/current", "/stop-reasons", "/work-orders", "/stops", "/calls",
                 "/production"):
        assert (await api.get(path, token=token)).status == 200, path
    for method, path, body in (("GET", "/customers", None), ("GET", "/orders", None),
                               ("POST", "/orders", {"customer_id": 1, "product_id": 1, "quantity": 1}),
                               ("POST", "/work-orders", {}), ("GET", "/analytics/calls", None),
                               ("POST", "/auth/station-tokens", {"label": "x", "lines": ["L1"]}),
                               ("GET", "/lines", None), ("GET", "/dashboard/state", None),
                               ("POST", "/auth/display-tokens", {"label": "x"})):
        response = await api.request(method, path, json_body=body, token=token)
        assert response.status == 403, (method, path, response)
    assert len((await api.get("/production", role="user")).json["items"]) == 1


async def test_revoked_at_once_and_listed_with_who_did(api, plant):
    minted = (await mint(api, ["L1", "L2"])).json
    assert (await api.get("/calls", token=minted["token"])).status == 200
    assert (await api.delete(f"/auth/station-tokens/{minted['id']}", role="user")).status == 403
    assert (await api.delete(f"/auth/station-tokens/{minted['id']}", role="admin")).status == 204
    assert (await api.get("/calls", token=minted["token"])).status == 401
    assert (await api.delete("/auth/station-tokens/999999", role="admin")).status == 404
    display = (await api.post("/auth/display-tokens", {"label": "wall"}, role="admin")).json
    assert (await api.delete(f"/auth/station-tokens/{display['id']}", role="admin")).status == 404
    (item,) = (await api.get("/auth/station-tokens", role="admin")).json["items"]
    assert item["id"] == minted["id"] and item["lines"] == ["L1", "L2"] and item["revoked_at"]
    assert item["minted_by"]["username"] == item["revoked_by"]["username"] == "test_admin"
    # Display tokens and station tokens stay apart.
    walls = (await api.get("/auth/display-tokens", role="admin")).json["items"]
    assert [wall["id"] for wall in walls] == [display["id"]]


@pytest.mark.settings(rate_limits="read=3/60")
async def test_each_tablet_spends_a_budget_of_its_own(api, plant):
    """Tablets act for the admin who minted them, but neither they nor the admin eat each other's
    rate budget: a hall of tablets on one admin's tokens must not refuse the admin, or each other."""
    first, second = (await mint(api)).json["token"], (await mint(api)).json["token"]
    for _ in range(3):
        assert (await api.get("/stop-reasons", token=first)).status == 200
    refused = await api.get("/stop-reasons", token=first)
    assert refused.status == 429 and refused.headers["Content-Type"].startswith("application/problem+json")
    assert (await api.get("/stop-reasons", token=second)).status == 200
    assert (await api.get("/stop-reasons", role="admin")).status == 200


async def test_two_tablets_never_meet_on_one_idempotency_key(api, plant):
    """The same Idempotency-Key from two tablets (and from the admin) is three requests, not one replayed."""
    tokens = [(await mint(api)).json["token"], (await mint(api)).json["token"]]
    key = {"Idempotency-Key": "count-1"}
    made = [await api.post("/production", record(plant), token=token, headers=key) for token in tokens]
    assert [response.status for response in made] == [201, 201], made
    assert made[0].json["id"] != made[1].json["id"]
    again = await api.post("/production", record(plant), token=tokens[0], headers=key)
    assert again.status == 201 and again.json["id"] == made[0].json["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    mine = await api.post("/production", record(plant), role="admin", headers=key)
    assert mine.status == 201 and mine.json["id"] not in {made[0].json["id"], made[1].json["id"]}
    assert len((await api.get("/production?per_page=100", role="user")).json["items"]) == 3
