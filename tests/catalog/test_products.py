"""/products CRUD: create, read, update, delete, validation, lists and stock rules."""
from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

PRODUCT_FIELDS = {"id", "sku", "name", "description", "price", "stock_quantity", "reorder_level",
                  "ideal_cycle_seconds", "created_at", "updated_at", "active"}
VALID = {"sku": "WID-001", "name": "Widget", "price": "12.50"}


def links(response) -> dict[str, str]:
    """rel → URL from an RFC 8288 Link header."""
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', response.headers["Link"])}


# -- create and read --------------------------------------------------------------------------

async def test_create_product(api):
    body = {**VALID, "description": "A fine widget", "stock_quantity": 7, "reorder_level": 3,
            "ideal_cycle_seconds": 1.5}
    response = await api.post("/products", body, role="admin")
    assert response.status == 201
    product = response.json
    assert set(product) == PRODUCT_FIELDS
    assert response.headers["Location"] == f"/products/{product['id']}"
    assert product["sku"] == "WID-001"
    assert product["price"] == "12.50"
    assert product["stock_quantity"] == 7
    assert product["reorder_level"] == 3
    assert product["description"] == "A fine widget"
    assert product["created_at"].endswith("Z") and product["updated_at"].endswith("Z")
    fetched = await api.get(response.headers["Location"], role="user")
    assert fetched.status == 200
    assert fetched.json == product


async def test_defaults_of_optional_fields(api):
    product = (await api.post("/products", VALID, role="admin")).json
    assert product["stock_quantity"] == 0
    assert product["reorder_level"] == 0
    assert product["description"] is None
    assert product["ideal_cycle_seconds"] is None


@pytest.mark.parametrize("given, stored", [("12.5", "12.50"), ("0.01", "0.01"), (3, "3.00"),
                                           ("9999999999.99", "9999999999.99")])
async def test_price_is_a_two_decimal_string(api, given, stored):
    response = await api.post("/products", {**VALID, "price": given}, role="admin")
    assert response.status == 201, response
    assert response.json["price"] == stored


async def test_opening_balance_is_the_first_stock_movement(api, make):
    product = await make.product(stock_quantity=12)
    response = await api.get(f"/products/{product['id']}/stock-movements", role="admin")
    if response.status == 404 and "No resource" in response.json["detail"]:
        pytest.skip("stock movements route not there yet")
    moves = response.json["items"]
    assert [(m["delta"], m["balance_after"], m["reason"]) for m in moves] == [(12, 12, "opening")]


async def test_head_answers_like_get_without_a_body(api, make):
    product = await make.product()
    for path in ("/products", f"/products/{product['id']}"):
        get = await api.get(path, role="user")
        head = await api.request("HEAD", path, role="user")
        assert head.status == 200, path
        assert head.body == b""
        assert head.headers["Content-Type"] == get.headers["Content-Type"]
        assert head.headers["ETag"] == get.headers["ETag"]
        assert int(head.headers["Content-Length"]) == len(get.body)
    assert (await api.request("HEAD", "/products")).status == 401


async def test_get_unknown_product_is_404(api):
    response = await api.get("/products/999999", role="user")
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"sku": None}, "sku"),
    ({"sku": ""}, "sku"),
    ({"sku": "has space"}, "sku"),
    ({"sku": "x" * 65}, "sku"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": 5}, "name"),
    ({"price": "0"}, "price"),
    ({"price": "0.00"}, "price"),
    ({"price": "-1.00"}, "price"),
    ({"price": "abc"}, "price"),
    ({"price": "NaN"}, "price"),
    ({"price": "Infinity"}, "price"),
    ({"price": "12.345"}, "price"),
    ({"price": None}, "price"),
    ({"stock_quantity": -1}, "stock_quantity"),
    ({"stock_quantity": 1.5}, "stock_quantity"),
    ({"stock_quantity": "5"}, "stock_quantity"),
    ({"stock_quantity": True}, "stock_quantity"),
    ({"stock_quantity": 2**31}, "stock_quantity"),
    ({"reorder_level": -1}, "reorder_level"),
    ({"ideal_cycle_seconds": 0}, "ideal_cycle_seconds"),
    ({"ideal_cycle_seconds": -2}, "ideal_cycle_seconds"),
    ({"description": "x" * 5001}, "description"),
    ({"colour": "red"}, "colour"),
    ({"id": 5}, "id"),
    ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
])
async def test_invalid_product_is_422_naming_the_field(api, change, field):
    body = {k: v for k, v in {**VALID, **change}.items()}
    response = await api.post("/products", body, role="admin")
    assert response.status == 422, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json["errors"], response.json
    assert (await api.get("/products", role="admin")).json["meta"]["total"] == 0


@pytest.mark.parametrize("missing", ["name", "price"])  # sku may be left out: made from the id
async def test_required_fields(api, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    response = await api.post("/products", body, role="admin")
    assert response.status == 422
    assert list(response.json["errors"]) == [missing]


@pytest.mark.parametrize("body", [[], "widget", 5, None])
async def test_body_must_be_an_object(api, body):
    response = await api.request("POST", "/products", body=json.dumps(body),
                                 headers={"Content-Type": "application/json"}, role="admin")
    assert response.status == 422


async def test_sku_is_unique(api, make):
    await make.product(sku="DUP-1")
    response = await api.post("/products", {**VALID, "sku": "DUP-1"}, role="admin")
    assert response.status == 409
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert list(response.json["errors"]) == ["sku"]
    assert "sku" in response.json["detail"]
    same_but_case = await api.post("/products", {**VALID, "sku": "dup-1"}, role="admin")
    assert same_but_case.status == 409
    other = await make.product(sku="DUP-2")
    renamed = await api.patch(f"/products/{other['id']}", {"sku": "DUP-1"}, role="admin")
    assert renamed.status == 409
    assert list(renamed.json["errors"]) == ["sku"]
    # Keeping its own sku is not a conflict.
    assert (await api.patch(f"/products/{other['id']}", {"sku": "DUP-2"}, role="admin")).status == 200


# -- update -----------------------------------------------------------------------------------

async def test_patch_changes_only_what_is_given(api, make):
    product = await make.product(stock_quantity=4, description="old")
    response = await api.patch(f"/products/{product['id']}", {"name": "Renamed", "price": "99.90"},
                               role="admin")
    assert response.status == 200
    changed = response.json
    assert changed["name"] == "Renamed"
    assert changed["price"] == "99.90"
    for unchanged in ("sku", "description", "stock_quantity", "reorder_level", "created_at", "id"):
        assert changed[unchanged] == product[unchanged], unchanged
    assert changed["updated_at"] >= product["updated_at"]
    assert (await api.get(f"/products/{product['id']}", role="user")).json == changed


async def test_patch_with_empty_object_changes_nothing(api, make):
    product = await make.product()
    response = await api.patch(f"/products/{product['id']}", {}, role="admin")
    assert response.status == 200
    assert {k: v for k, v in response.json.items() if k != "updated_at"} == \
        {k: v for k, v in product.items() if k != "updated_at"}


@pytest.mark.parametrize("change, field", [({"price": "0"}, "price"), ({"name": None}, "name"),
                                           ({"sku": "bad sku"}, "sku"), ({"weight": 3}, "weight")])
async def test_invalid_patch_is_422_and_changes_nothing(api, make, change, field):
    product = await make.product()
    response = await api.patch(f"/products/{product['id']}", change, role="admin")
    assert response.status == 422
    assert field in response.json["errors"]
    assert (await api.get(f"/products/{product['id']}", role="user")).json == product


async def test_stock_quantity_cannot_be_patched(api, make):
    product = await make.product(stock_quantity=5)
    response = await api.patch(f"/products/{product['id']}", {"stock_quantity": 50}, role="admin")
    assert response.status == 422
    assert "stock_quantity" in response.json["errors"]
    assert (await api.get(f"/products/{product['id']}", role="user")).json["stock_quantity"] == 5
    # Restating the current value is harmless.
    same = await api.patch(f"/products/{product['id']}", {"stock_quantity": 5}, role="admin")
    assert same.status == 200


async def test_put_updates_the_fields_sent(api, make):
    product = await make.product(stock_quantity=5, description="old", reorder_level=2)
    body = {"sku": "NEW-SKU", "name": "Replaced", "price": "7.00", "reorder_level": 1}
    response = await api.put(f"/products/{product['id']}", body, role="admin")
    assert response.status == 200, response
    replaced = response.json
    assert replaced["sku"] == "NEW-SKU"
    assert replaced["name"] == "Replaced"
    assert replaced["price"] == "7.00"
    assert replaced["reorder_level"] == 1
    assert replaced["description"] == "old"  # as PATCH: what is not sent is kept (clients of the old system)
    assert replaced["stock_quantity"] == 5
    assert (await api.get(f"/products/{product['id']}", role="user")).json == replaced


async def test_put_cannot_change_stock(api, make):
    product = await make.product(stock_quantity=5)
    body = {**VALID, "stock_quantity": 9}
    response = await api.put(f"/products/{product['id']}", body, role="admin")
    assert response.status == 422
    assert "stock_quantity" in response.json["errors"]


async def test_put_validates_each_field_sent(api, make):
    product = await make.product()
    response = await api.put(f"/products/{product['id']}", {"name": "", "price": "0"}, role="admin")
    assert response.status == 422
    assert {"name", "price"} <= set(response.json["errors"])


async def test_update_unknown_product_is_404(api):
    assert (await api.patch("/products/999999", {"name": "x"}, role="admin")).status == 404
    assert (await api.put("/products/999999", VALID, role="admin")).status == 404


# -- delete -----------------------------------------------------------------------------------

async def test_delete_product(api, make):
    product = await make.product(stock_quantity=3)
    response = await api.delete(f"/products/{product['id']}", role="admin")
    assert response.status == 204
    assert response.body == b""
    assert (await api.get(f"/products/{product['id']}", role="user")).status == 404
    assert (await api.delete(f"/products/{product['id']}", role="admin")).status == 404


@pytest.mark.parametrize("role", ["user"])
async def test_users_read_but_do_not_write_products(api, make, role):
    product = await make.product()
    assert (await api.get("/products", role=role)).status == 200
    assert (await api.get(f"/products/{product['id']}", role=role)).status == 200
    assert (await api.post("/products", VALID, role=role)).status == 403
    assert (await api.patch(f"/products/{product['id']}", {"name": "x"}, role=role)).status == 403
    assert (await api.delete(f"/products/{product['id']}", role=role)).status == 403


# -- lists ------------------------------------------------------------------------------------

async def test_list_envelope_and_default_order(api, make):
    created = [await make.product() for _ in range(3)]
    response = await api.get("/products", role="user")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json["meta"] == {"page": 1, "per_page": 20, "total": 3, "pages": 1, "next_cursor": None}
    assert response.json["items"] == created


async def test_empty_list(api):
    response = await api.get("/products", role="user")
    assert response.json == {"items": [], "meta": {"page": 1, "per_page": 20, "total": 0, "pages": 0,
                                                    "next_cursor": None}}
    assert set(links(response)) >= {"first", "last"}


async def test_pagination_meta_and_link_header(api, make):
    ids = [(await make.product())["id"] for _ in range(5)]
    first = await api.get("/products?per_page=2", role="user")
    meta = first.json["meta"]
    assert isinstance(meta.pop("next_cursor"), str)
    assert meta == {"page": 1, "per_page": 2, "total": 5, "pages": 3}
    assert [p["id"] for p in first.json["items"]] == ids[:2]
    rels = links(first)
    assert set(rels) == {"first", "last", "next"}
    assert "page=2" in rels["next"] and "per_page=2" in rels["next"]
    assert "page=3" in rels["last"]
    middle = await api.get("/products?per_page=2&page=2", role="user")
    assert [p["id"] for p in middle.json["items"]] == ids[2:4]
    rels = links(middle)
    assert set(rels) == {"first", "last", "prev", "next"}
    assert "page=1" in rels["prev"] and "page=3" in rels["next"] and "page=1" in rels["first"]
    last = await api.get("/products?per_page=2&page=3", role="user")
    assert [p["id"] for p in last.json["items"]] == ids[4:]
    assert set(links(last)) == {"first", "last", "prev"}
    # The links are absolute and can be followed as they are.
    assert rels["next"].startswith("http://")
    path = rels["next"].split("://", 1)[1].split("/", 1)[1]
    followed = await api.get("/" + path, role="user")
    assert followed.json == last.json
    beyond = await api.get("/products?per_page=2&page=9", role="user")
    assert beyond.status == 200
    assert beyond.json["items"] == []
    assert beyond.json["meta"]["total"] == 5


async def test_link_header_keeps_filters(api, make):
    for n in range(3):
        await make.product(name=f"Gear {n}")
    response = await api.get("/products?q=Gear&per_page=1&sort_by=name", role="user")
    for url in links(response).values():
        assert "q=Gear" in url and "sort_by=name" in url and "per_page=1" in url


@pytest.mark.parametrize("query, param", [
    ("per_page=101", "per_page"), ("per_page=0", "per_page"), ("page=0", "page"), ("page=-1", "page"),
    ("page=abc", "page"), ("per_page=1.5", "per_page"), ("sort_by=password", "sort_by"),
    ("sort_by=description", "sort_by"), ("sort_order=sideways", "sort_order"), ("colour=red", "colour"),
    ("low_stock=maybe", "low_stock"),
])
async def test_bad_list_query_is_400_naming_the_parameter(api, query, param):
    response = await api.get(f"/products?{query}", role="user")
    assert response.status == 400, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert param in response.json["errors"]
    assert param in response.json["detail"]


async def test_per_page_100_is_allowed(api):
    response = await api.get("/products?per_page=100", role="user")
    assert response.status == 200
    assert response.json["meta"]["per_page"] == 100


@pytest.mark.parametrize("field", ["id", "sku", "name", "price", "stock_quantity", "reorder_level",
                                   "created_at", "updated_at"])
async def test_sorting_by_each_allowed_field(api, make, field):
    await make.product(sku="B-2", name="beta", price="30.00", stock_quantity=1, reorder_level=5)
    await make.product(sku="A-1", name="gamma", price="5.00", stock_quantity=9, reorder_level=0)
    await make.product(sku="C-3", name="alpha", price="12.00", stock_quantity=4, reorder_level=2)
    for order in ("asc", "desc"):
        items = (await api.get(f"/products?sort_by={field}&sort_order={order}", role="user")).json["items"]
        keys = [_sort_key(item[field]) for item in items]
        assert keys == sorted(keys, reverse=order == "desc"), (field, order)


def _sort_key(value):
    return Decimal(value) if isinstance(value, str) and re.fullmatch(r"-?\d+\.\d\d", value) else value


async def test_price_sorts_as_a_number(api, make):
    for price in ("100.00", "9.00", "20.00"):
        await make.product(price=price)
    items = (await api.get("/products?sort_by=price", role="user")).json["items"]
    assert [p["price"] for p in items] == ["9.00", "20.00", "100.00"]


async def test_filters_and_search(api, make):
    await make.product(sku="BOLT-10", name="Hex bolt", stock_quantity=2, reorder_level=5)
    await make.product(sku="NUT-10", name="Hex nut", stock_quantity=50, reorder_level=5)
    await make.product(sku="WASH-1", name="Washer 100%", stock_quantity=5, reorder_level=5)

    async def skus(query):
        response = await api.get(f"/products?{query}", role="user")
        assert response.status == 200, response
        return sorted(p["sku"] for p in response.json["items"])

    assert await skus("q=hex") == ["BOLT-10", "NUT-10"]
    assert await skus("q=HEX%20NUT") == ["NUT-10"]
    assert await skus("q=nut-1") == ["NUT-10"]
    assert await skus("q=100%25") == ["WASH-1"]      # % is a literal, not a wildcard
    assert await skus("q=_") == []                    # ... and so is _
    assert await skus("sku=NUT-10") == ["NUT-10"]
    assert await skus("name=Hex%20bolt") == ["BOLT-10"]
    assert await skus("low_stock=true") == ["BOLT-10", "WASH-1"]
    assert await skus("low_stock=false") == ["NUT-10"]
    assert await skus("q=hex&low_stock=true") == ["BOLT-10"]
    total = (await api.get("/products?q=hex&per_page=1", role="user")).json["meta"]
    assert isinstance(total.pop("next_cursor"), str)
    assert total == {"page": 1, "per_page": 1, "total": 2, "pages": 2}
