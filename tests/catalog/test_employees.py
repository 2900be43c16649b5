"""/employees CRUD: admin-only, unique email and phone, validation, lists."""
from __future__ import annotations

import re
from datetime import date

import pytest

from models import ProductionRecord

EMPLOYEE_FIELDS = {"id", "name", "position", "email", "phone", "created_at", "updated_at",
                   "active"}
VALID = {"name": "Ada Lovelace", "position": "Line lead", "email": "ada@example.com", "phone": "+4930123456"}


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', response.headers["Link"])}


async def test_create_employee(api):
    response = await api.post("/employees", VALID, role="admin")
    assert response.status == 201
    employee = response.json
    assert set(employee) == EMPLOYEE_FIELDS
    assert response.headers["Location"] == f"/employees/{employee['id']}"
    assert {k: employee[k] for k in VALID} == VALID
    assert (await api.get(response.headers["Location"], role="admin")).json == employee


async def test_email_and_phone_are_normalised(api):
    body = {**VALID, "name": "  Ada  ", "email": "  Ada@Example.COM ", "phone": "+49 (30) 123-456"}
    employee = (await api.post("/employees", body, role="admin")).json
    assert employee["name"] == "Ada"
    assert employee["email"] == "ada@example.com"
    assert employee["phone"] == "+4930123456"


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"name": None}, "name"), ({"name": "x" * 121}, "name"),
    ({"name": "bad\x07bell"}, "name"), ({"position": ""}, "position"), ({"position": 7}, "position"),
    ({"email": "not-an-email"}, "email"), ({"email": ""}, "email"), ({"email": None}, "email"),
    ({"phone": "12"}, "phone"), ({"phone": "call me"}, "phone"), ({"phone": "+0123456789"}, "phone"),
    ({"phone": 4930123456}, "phone"), ({"salary": 1000}, "salary"), ({"id": 1}, "id"),
    ({"updated_at": "2026-01-01T00:00:00Z"}, "updated_at"),
])
async def test_invalid_employee_is_422_naming_the_field(api, change, field):
    response = await api.post("/employees", {**VALID, **change}, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get("/employees", role="admin")).json["meta"]["total"] == 0


async def test_every_required_field_is_named(api):
    response = await api.post("/employees", {}, role="admin")
    assert response.status == 422
    assert set(response.json["errors"]) == {"name", "position", "email", "phone"}


@pytest.mark.parametrize("field, duplicate", [("email", "ADA@example.com"), ("phone", "+49 30 123456")])
async def test_email_and_phone_are_unique(api, make, field, duplicate):
    await make.employee(**VALID)
    other = {"name": "Grace", "position": "Operator", "email": "grace@example.com", "phone": "+4930999999"}
    response = await api.post("/employees", {**other, field: duplicate}, role="admin")
    assert response.status == 409
    assert list(response.json["errors"]) == [field]
    assert field in response.json["detail"]
    grace = await make.employee(**other)
    renamed = await api.patch(f"/employees/{grace['id']}", {field: duplicate}, role="admin")
    assert renamed.status == 409
    assert list(renamed.json["errors"]) == [field]


async def test_patch_and_put(api, make):
    employee = await make.employee(**VALID)
    patched = await api.patch(f"/employees/{employee['id']}", {"position": "Shift manager"}, role="admin")
    assert patched.status == 200
    assert patched.json["position"] == "Shift manager"
    assert patched.json["email"] == VALID["email"]
    replacement = {"name": "Ada King", "position": "Plant manager", "email": "king@example.com",
                   "phone": "+4930777777"}
    put = await api.put(f"/employees/{employee['id']}", replacement, role="admin")
    assert put.status == 200
    assert {k: put.json[k] for k in replacement} == replacement
    assert (await api.get(f"/employees/{employee['id']}", role="admin")).json == put.json
    partial_put = await api.put(f"/employees/{employee['id']}", {"name": "Only"}, role="admin")
    assert partial_put.status == 200  # as PATCH: the fields sent change, the others stay
    assert partial_put.json == {**put.json, "name": "Only", "updated_at": partial_put.json["updated_at"]}


async def test_delete(api, make):
    employee = await make.employee()
    assert (await api.delete(f"/employees/{employee['id']}", role="admin")).status == 204
    assert (await api.get(f"/employees/{employee['id']}", role="admin")).status == 404
    assert (await api.delete(f"/employees/{employee['id']}", role="admin")).status == 404
    assert (await api.patch(f"/employees/{employee['id']}", {"name": "x"}, role="admin")).status == 404


async def test_employee_with_production_records_cannot_be_deleted(app, api, make):
    employee = await make.employee()
    product = await make.product()
    async with app.ctx.db.write() as uow:
        uow.session.add(ProductionRecord(product_id=product["id"], employee_id=employee["id"],
                                         quantity_produced=5, quantity_defective=0,
                                         date_produced=date(2026, 11, 26)))
    response = await api.delete(f"/employees/{employee['id']}", role="admin")
    assert response.status == 409
    assert "production records" in response.json["detail"]
    assert (await api.get(f"/employees/{employee['id']}", role="admin")).status == 200


@pytest.mark.parametrize("role", [None, "user"])
async def test_employees_are_admin_only(api, make, role):
    employee = await make.employee()
    expected = 401 if role is None else 403
    assert (await api.get("/employees", role=role)).status == expected
    assert (await api.get(f"/employees/{employee['id']}", role=role)).status == expected
    assert (await api.post("/employees", VALID, role=role)).status == expected
    assert (await api.delete(f"/employees/{employee['id']}", role=role)).status == expected


async def test_list_filters_search_and_sorting(api, make):
    await make.employee(name="Zoe Brown", position="Operator", email="zoe@example.com")
    await make.employee(name="Adam Smith", position="Welder", email="adam@plant.example")
    await make.employee(name="Mia Stone", position="Operator", email="mia@example.com")

    async def names(query):
        response = await api.get(f"/employees?{query}", role="admin")
        assert response.status == 200, response
        return [e["name"] for e in response.json["items"]]

    assert await names("position=Operator&sort_by=name") == ["Mia Stone", "Zoe Brown"]
    assert await names("name=Adam%20Smith") == ["Adam Smith"]
    assert await names("q=STONE") == ["Mia Stone"]
    assert await names("q=plant.example") == ["Adam Smith"]
    assert await names("sort_by=name") == ["Adam Smith", "Mia Stone", "Zoe Brown"]
    assert await names("sort_by=name&sort_order=desc") == ["Zoe Brown", "Mia Stone", "Adam Smith"]
    assert await names("sort_by=email") == ["Adam Smith", "Mia Stone", "Zoe Brown"]
    assert (await names("sort_by=position&sort_order=desc"))[0] == "Adam Smith"
    for bad in ("sort_by=salary", "per_page=101", "page=0", "team=red"):
        response = await api.get(f"/employees?{bad}", role="admin")
        assert response.status == 400, bad
        assert bad.split("=")[0] in response.json["errors"]


async def test_pagination(api, make):
    for _ in range(3):
        await make.employee()
    response = await api.get("/employees?per_page=2&page=2", role="admin")
    assert response.json["meta"] == {"page": 2, "per_page": 2, "total": 3, "pages": 2, "next_cursor": None}
    assert len(response.json["items"]) == 1
    assert set(links(response)) == {"first", "last", "prev"}
