"""/customers CRUD: users read, admins write, unique email, validation, lists."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from models import Order

CUSTOMER_FIELDS = {"id", "name", "email", "phone", "address", "created_at", "updated_at",
                   "active"}
VALID = {"name": "Acme GmbH", "email": "buyer@acme.example", "phone": "+4989123456"}


def links(response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', response.headers["Link"])}


async def test_create_customer(api):
    response = await api.post("/customers", {**VALID, "address": "Hauptstr. 1, München"}, role="admin")
    assert response.status == 201
    customer = response.json
    assert set(customer) == CUSTOMER_FIELDS
    assert response.headers["Location"] == f"/customers/{customer['id']}"
    assert customer["address"] == "Hauptstr. 1, München"
    assert (await api.get(response.headers["Location"], role="user")).json == customer


async def test_address_is_optional(api):
    customer = (await api.post("/customers", VALID, role="admin")).json
    assert customer["address"] is None
    cleared = await api.patch(f"/customers/{customer['id']}", {"address": None}, role="admin")
    assert cleared.status == 200


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": ["Acme"]}, "name"),
    ({"email": "acme"}, "email"), ({"email": None}, "email"), ({"phone": "0"}, "phone"),
    ({"phone": None}, "phone"), ({"address": "x" * 501}, "address"), ({"address": "a\x00b"}, "address"),
    ({"vip": True}, "vip"), ({"id": 3}, "id"),
])
async def test_invalid_customer_is_422_naming_the_field(api, change, field):
    response = await api.post("/customers", {**VALID, **change}, role="admin")
    assert response.status == 422, response
    assert field in response.json["errors"]
    assert (await api.get("/customers", role="user")).json["meta"]["total"] == 0


async def test_every_required_field_is_named(api):
    response = await api.post("/customers", {}, role="admin")
    assert response.status == 422
    assert set(response.json["errors"]) == {"name", "email", "phone"}


async def test_email_is_unique_but_phone_is_not(api, make):
    await make.customer(**VALID)
    response = await api.post("/customers", {**VALID, "name": "Other", "email": "BUYER@acme.example"},
                              role="admin")
    assert response.status == 409
    assert list(response.json["errors"]) == ["email"]
    shared_phone = await api.post("/customers", {**VALID, "email": "other@acme.example"}, role="admin")
    assert shared_phone.status == 201
    clash = await api.patch(f"/customers/{shared_phone.json['id']}", {"email": VALID["email"]}, role="admin")
    assert clash.status == 409
    assert list(clash.json["errors"]) == ["email"]


async def test_patch_and_put(api, make):
    customer = await make.customer(address="Old street 1")
    patched = await api.patch(f"/customers/{customer['id']}", {"name": "Renamed AG"}, role="admin")
    assert patched.status == 200
    assert patched.json["name"] == "Renamed AG"
    assert patched.json["address"] == "Old street 1"
    put = await api.put(f"/customers/{customer['id']}", VALID, role="admin")
    assert put.status == 200
    assert {k: put.json[k] for k in VALID} == VALID
    assert put.json["address"] == "Old street 1"  # PUT keeps what it does not send, as PATCH
    assert (await api.get(f"/customers/{customer['id']}", role="user")).json == put.json


async def test_delete(api, make):
    customer = await make.customer()
    response = await api.delete(f"/customers/{customer['id']}", role="admin")
    assert response.status == 204
    assert (await api.get(f"/customers/{customer['id']}", role="user")).status == 404
    assert (await api.delete(f"/customers/{customer['id']}", role="admin")).status == 404


async def test_customer_with_orders_cannot_be_deleted(app, api, make):
    customer = await make.customer()
    async with app.ctx.db.write() as uow:
        uow.session.add(Order(customer_id=customer["id"], status="pending", total_price=Decimal("0.00")))
    response = await api.delete(f"/customers/{customer['id']}", role="admin")
    assert response.status == 409
    assert "orders" in response.json["detail"]
    assert (await api.get(f"/customers/{customer['id']}", role="user")).status == 200


async def test_users_read_but_do_not_write(api, make):
    customer = await make.customer()
    assert (await api.get("/customers", role="user")).status == 200
    assert (await api.get(f"/customers/{customer['id']}", role="user")).status == 200
    assert (await api.post("/customers", VALID, role="user")).status == 403
    assert (await api.put(f"/customers/{customer['id']}", VALID, role="user")).status == 403
    assert (await api.delete(f"/customers/{customer['id']}", role="user")).status == 403
    assert (await api.get("/customers")).status == 401


async def test_list_filters_search_sorting_and_pages(api, make):
    await make.customer(name="Bravo Ltd", email="b@bravo.example")
    await make.customer(name="Alpha Inc", email="a@alpha.example")
    await make.customer(name="Charlie Co", email="c@charlie.example")

    async def names(query):
        response = await api.get(f"/customers?{query}", role="user")
        assert response.status == 200, response
        return [c["name"] for c in response.json["items"]]

    assert await names("") == ["Bravo Ltd", "Alpha Inc", "Charlie Co"]
    assert await names("sort_by=name") == ["Alpha Inc", "Bravo Ltd", "Charlie Co"]
    assert await names("sort_by=email&sort_order=desc") == ["Charlie Co", "Bravo Ltd", "Alpha Inc"]
    assert await names("sort_by=id&sort_order=desc") == ["Charlie Co", "Alpha Inc", "Bravo Ltd"]
    assert await names("name=Alpha%20Inc") == ["Alpha Inc"]
    assert await names("q=charlie") == ["Charlie Co"]
    assert await names("q=bravo.example") == ["Bravo Ltd"]
    page = await api.get("/customers?per_page=1&page=2&sort_by=name", role="user")
    assert [c["name"] for c in page.json["items"]] == ["Bravo Ltd"]
    meta = page.json["meta"]
    assert isinstance(meta.pop("next_cursor"), str)
    assert meta == {"page": 2, "per_page": 1, "total": 3, "pages": 3}
    assert set(links(page)) == {"first", "last", "prev", "next"}
    for bad in ("sort_by=address", "per_page=101", "page=0", "city=Berlin"):
        response = await api.get(f"/customers?{bad}", role="user")
        assert response.status == 400, bad
        assert bad.split("=")[0] in response.json["errors"]
