"""/lines keyed by code, and production records that must name an active line and a known shift."""
from __future__ import annotations

import pytest

RECORD = {"quantity_produced": 10, "quantity_defective": 1, "date_produced": "2026-11-20"}


async def record_body(make, **fields):
    product = await make.product()
    employee = await make.employee()
    return {"product_id": product["id"], "employee_id": employee["id"], **RECORD, **fields}


async def test_admin_creates_reads_lists_and_changes_a_line(api, make):
    response = await api.post("/lines", {"code": "L2", "name": "Assembly 2"}, role="admin")
    assert response.status == 201, response
    assert response.headers["Location"] == "/lines/L2"
    assert response.json["code"] == "L2" and response.json["active"] is True
    await make.line("L1", name="Assembly 1")
    got = await api.get("/lines/L2", role="user")
    assert got.status == 200 and got.json["name"] == "Assembly 2"
    listed = await api.get("/lines", role="user")
    assert [item["code"] for item in listed.json["items"]] == ["L1", "L2"]
    changed = await api.patch("/lines/L2", {"name": "Assembly two", "active": False}, role="admin")
    assert changed.status == 200 and changed.json["name"] == "Assembly two" and not changed.json["active"]
    inactive = await api.get("/lines?active=false", role="user")
    assert [item["code"] for item in inactive.json["items"]] == ["L2"]


@pytest.mark.parametrize("body, field", [
    ({"code": "L 1", "name": "x"}, "code"),
    ({"code": "", "name": "x"}, "code"),
    ({"code": "x" * 33, "name": "x"}, "code"),
    ({"code": "status", "name": "x"}, "code"),
    ({"code": "L1"}, "name"),
    ({"code": "L1", "name": "x", "active": "yes"}, "active"),
    ({"code": "L1", "name": "x", "colour": "red"}, "colour"),
])
async def test_bad_lines_are_422_naming_the_field(api, body, field):
    response = await api.post("/lines", body, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get("/lines", role="admin")).json["meta"]["total"] == 0


async def test_codes_are_unique_and_never_change(api, make):
    await make.line("L1")
    duplicate = await api.post("/lines", {"code": "l1", "name": "again"}, role="admin")
    assert duplicate.status == 409 and "code" in duplicate.json["errors"]
    renamed = await api.patch("/lines/L1", {"code": "L9"}, role="admin")
    assert renamed.status == 422 and "code" in renamed.json["errors"]
    assert (await api.get("/lines/L9", role="admin")).status == 404
    assert (await api.get("/lines/nope", role="admin")).status == 404


async def test_a_line_in_use_cannot_be_deleted(api, make):
    await make.line("L1")
    await make.line("L2")
    await api.create("production", await record_body(make, line="L1"), role="user")
    refused = await api.delete("/lines/L1", role="admin")
    assert refused.status == 409 and "active" in refused.json["detail"]
    assert (await api.delete("/lines/L2", role="admin")).status == 204
    assert (await api.get("/lines/L2", role="admin")).status == 404


async def test_records_must_name_an_active_line(api, make):
    await make.line("L1")
    await make.line("OLD", active=False)
    body = await record_body(make)
    for line, message in (("L9", "No line"), ("OLD", "not active")):
        response = await api.post("/production", {**body, "line": line}, role="user")
        assert response.status == 422, response
        assert message in response.json["errors"]["line"][0]
    assert (await api.get("/production", role="user")).json["meta"]["total"] == 0
    created = await api.create("production", {**body, "line": "l1"}, role="user")
    assert created["line"] == "L1"  # stored as the line spells its code
    moved = await api.patch(f"/production/{created['id']}", {"line": "OLD"}, role="admin")
    assert moved.status == 422 and "line" in moved.json["errors"]
    assert (await api.get(f"/production/{created['id']}", role="user")).json["line"] == "L1"


async def test_records_must_name_a_known_shift(api, make):
    await make.shift("early", "06:00", "14:00")
    body = await record_body(make)
    unknown = await api.post("/production", {**body, "shift": "morning"}, role="user")
    assert unknown.status == 422 and "shift" in unknown.json["errors"]
    created = await api.create("production", {**body, "shift": "Early"}, role="user")
    assert created["shift"] == "early"
    assert (await api.post("/production", {**body, "shift": None}, role="user")).status == 201


async def test_imported_records_must_name_an_active_line_and_a_known_shift(api, make):
    await make.line("L1")
    await make.shift("early", "06:00", "14:00")
    row = {"product_id": (await make.product())["id"], "employee_id": (await make.employee())["id"],
           "quantity_produced": 5, "date_produced": "2026-11-20"}
    refused = await api.post("/imports/production", [{**row, "line": "L9"}, {**row, "shift": "night"}],
                             role="admin")
    assert refused.status == 422, refused
    assert {(error["row"], error["field"]) for error in refused.json["errors"]} == {(1, "line"), (2, "shift")}
    assert (await api.get("/production", role="user")).json["meta"]["total"] == 0
    taken = await api.post("/imports/production", [{**row, "line": "L1", "shift": "early"}], role="admin")
    assert taken.status == 200, taken
