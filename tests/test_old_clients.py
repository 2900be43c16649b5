"""Clients of the system this one replaces work unchanged: every habit of theirs, through the real server."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("resource, extra, change, kept", [
    ("products", {"description": "kept"}, {"price": "14.00"}, ("sku", "name", "description")),
    ("customers", {"address": "Hall 2"}, {"phone": "+4930999999"}, ("name", "email", "address")),
    ("employees", {}, {"position": "Shift lead"}, ("name", "email", "phone")),
])
async def test_put_with_some_fields_updates_those_and_keeps_the_rest(api, make, resource, extra, change,
                                                                      kept):
    made = await getattr(make, resource[:-1])(**extra)
    response = await api.put(f"/{resource}/{made['id']}", change, role="admin")
    assert response.status == 200, response
    for name, value in change.items():
        assert response.json[name] == value
    for name in kept:
        assert response.json[name] == made[name], name
    assert (await api.get(f"/{resource}/{made['id']}", role="admin")).json == response.json


async def test_put_still_validates_every_field_it_gets(api, make):
    product = await make.product(price="5.00")
    refused = await api.put(f"/products/{product['id']}", {"price": "-1", "name": ""}, role="admin")
    assert refused.status == 422
    assert {"price", "name"} <= set(refused.json["errors"])
    unknown = await api.put(f"/products/{product['id']}", {"colour": "red"}, role="admin")
    assert unknown.status == 422 and "colour" in unknown.json["errors"]
    assert (await api.get(f"/products/{product['id']}", role="admin")).json == product
    document = (await api.get("/openapi.json")).json
    put = document["paths"]["/products/{ident}"]["put"]
    assert "validated" in put["description"] and "the fields sent" in put["description"]


async def test_a_product_created_without_sku_gets_one_made_from_its_id(api, make):
    made = await api.create("products", {"name": "No SKU", "price": "2.00"})
    assert made["sku"] == f"SKU-{made['id']:06d}"
    # A SKU someone already chose is never taken twice: the next such product gets a suffix.
    taken = f"SKU-{made['id'] + 2:06d}"
    await make.product(sku=taken)
    clash = await api.create("products", {"name": "Also no SKU", "price": "2.00"})
    assert clash["id"] == made["id"] + 2
    assert clash["sku"] == f"{taken}-2"
    assert (await api.get(f"/products?sku={clash['sku']}", role="user")).json["meta"]["total"] == 1
    refused = await api.post("/products", {"name": "Bad", "price": "2.00", "sku": ""}, role="admin")
    assert refused.status == 422  # given, it is still checked


@pytest.mark.parametrize("resource", ["customers", "employees"])
async def test_customers_and_employees_sort_by_phone(api, make, resource):
    phones = ["+4930500003", "+4930500001", "+4930500002"]
    for phone in phones:
        await getattr(make, resource[:-1])(phone=phone)
    listed = await api.get(f"/{resource}?sort_by=phone&per_page=2", role="admin")
    assert listed.status == 200, listed
    assert [row["phone"] for row in listed.json["items"]] == sorted(phones)[:2]
    rest = await api.get(f"/{resource}?sort_by=phone&per_page=2&cursor={listed.json['meta']['next_cursor']}",
                         role="admin")
    assert [row["phone"] for row in rest.json["items"]] == sorted(phones)[2:]
    down = await api.get(f"/{resource}?sort_by=phone&sort_order=desc", role="admin")
    assert [row["phone"] for row in down.json["items"]] == sorted(phones, reverse=True)


async def test_include_meta_false_answers_the_rows_alone(api, make):
    made = [await make.product() for _ in range(3)]
    rows = await api.get("/products?include_meta=false&per_page=2", role="user")
    assert rows.status == 200
    assert rows.json == made[:2]
    assert 'rel="next"' in rows.headers["Link"]  # paging stays in the Link header
    full = await api.get("/products?include_meta=true&per_page=2", role="user")
    assert full.json["items"] == made[:2] and full.json["meta"]["total"] == 3
    cursor = full.json["meta"]["next_cursor"]
    tail = await api.get(f"/products?include_meta=false&per_page=2&cursor={cursor}", role="user")
    assert tail.json == made[2:]
    movements = await api.get(f"/products/{made[0]['id']}/stock-movements?include_meta=0", role="user")
    assert movements.status == 200 and isinstance(movements.json, list)
    assert (await api.get("/products?include_meta=maybe", role="user")).status == 400


async def test_the_old_paths_answer_as_the_new_ones(api):
    assert (await api.get("/health")).json == (await api.get("/healthz")).json == {"status": "ok"}
    old, new = await api.get("/swagger.json"), await api.get("/openapi.json")
    assert old.status == new.status == 200
    assert old.json == new.json
    assert {"/health", "/swagger.json"} <= set(new.json["paths"])


async def test_the_login_answer_also_carries_token(api):
    for path in ("/auth/login", "/login"):
        answer = await api.post(path, {"username": "test_user", "password": "user-pass-123"})
        assert answer.status == 200, answer
        assert answer.json["token"] == answer.json["access_token"]
        me = await api.get("/auth/me", token=answer.json["token"])
        assert me.status == 200 and me.json["username"] == "test_user"
