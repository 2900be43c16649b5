"""HTTP as clients expect it: gzip over 1 KiB, OPTIONS answers `Allow`, Idempotency-Key compares JSON."""
from __future__ import annotations

import gzip
import json

import pytest

KEY = "0d9f6c1e-5b2a-4e8f-9c3d-7a1b2c3d4e5f"


async def raw_get(api, path, *, role=None, **headers):
    """A GET that leaves the body as sent (no transparent decompression)."""
    if role is not None:
        headers["Authorization"] = f"Bearer {await api.token(role)}"
    return await api.client.fetch(api.base_url + path, headers=headers, raise_error=False,
                                  decompress_response=False, request_timeout=60)


async def test_a_large_answer_is_gzipped_when_the_client_accepts_it(api):
    plain = await raw_get(api, "/openapi.json")
    packed = await raw_get(api, "/openapi.json", **{"Accept-Encoding": "gzip, deflate"})
    assert plain.code == packed.code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert len(packed.body) < len(plain.body) / 4
    assert gzip.decompress(packed.body) == plain.body


async def test_a_small_answer_is_sent_as_it_is(api):
    response = await raw_get(api, "/healthz", **{"Accept-Encoding": "gzip"})
    assert response.code == 200 and len(response.body) < 1024
    assert "Content-Encoding" not in response.headers
    assert json.loads(response.body) == {"status": "ok"}


async def test_lists_problems_and_csv_exports_are_compressed_too(api, make):
    for n in range(30):
        await make.product(name=f"A product with a long enough name to fill the page {n}")
    page = await raw_get(api, "/products?per_page=30", role="user", **{"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(page.body))["items"]) == 30
    # A streamed CSV export: compressed chunk by chunk, the same rows as without compression.
    csv_plain = await raw_get(api, "/products", role="user", Accept="text/csv")
    csv_packed = await raw_get(api, "/products", role="user", Accept="text/csv",
                               **{"Accept-Encoding": "gzip"})
    assert csv_packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(csv_packed.body) == csv_plain.body
    assert csv_plain.body.count(b"\n") == 31
    # A problem document over 1 KiB (every row of an import refused) is JSON too.
    rows = [{"sku": "", "name": "", "price": "-1"} for _ in range(20)]
    token = await api.token("admin")
    refused = await api.client.fetch(api.base_url + "/imports/products", method="POST", body=json.dumps(rows),
                                     headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip",
                                              "Content-Type": "application/json"},
                                     raise_error=False, decompress_response=False)
    assert refused.code == 422
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(refused.body))["status"] == 422


async def test_etag_and_304_work_on_compressed_answers(api, make):
    for n in range(30):
        await make.product(name=f"Product with a name long enough to pass one KiB {n}")
    first = await raw_get(api, "/products?per_page=30", role="user", **{"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip"
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')  # the gzip bytes differ from the identity answer's
    again = await raw_get(api, "/products?per_page=30", role="user",
                          **{"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.code == 304 and again.body == b""
    plain = await raw_get(api, "/products?per_page=30", role="user")
    assert not plain.headers["ETag"].startswith("W/")
    # The identity ETag matches the compressed answer too (weak comparison), and the other way round.
    assert (await raw_get(api, "/products?per_page=30", role="user",
                          **{"Accept-Encoding": "gzip", "If-None-Match": plain.headers["ETag"]})).code == 304
    assert (await raw_get(api, "/products?per_page=30", role="user", **{"If-None-Match": etag})).code == 304
    docs = await raw_get(api, "/openapi.json", **{"Accept-Encoding": "gzip"})
    assert (await raw_get(api, "/openapi.json", **{"Accept-Encoding": "gzip",
                                                   "If-None-Match": docs.headers["ETag"]})).code == 304


@pytest.mark.parametrize("path, allowed", [
    ("/products", "GET, HEAD, OPTIONS, POST"),
    ("/products/1", "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"),
    ("/auth/login", "OPTIONS, POST"),
    ("/lines/L1/stops/current/end", "OPTIONS, POST"),
    ("/healthz", "GET, HEAD, OPTIONS"),
])
async def test_options_answers_204_with_the_routes_methods(api, path, allowed):
    response = await api.request("OPTIONS", path)
    assert response.status == 204, response
    assert response.headers["Allow"] == allowed
    assert response.body == b""


async def test_idempotency_key_compares_bodies_as_json(api, make, app):
    customer = await make.customer()
    product = await make.product(price="4.00", stock_quantity=10)
    compact = json.dumps({"customer_id": customer["id"],
                          "items": [{"product_id": product["id"], "quantity": 2}]}, separators=(",", ":"))
    reordered = (f'{{\n  "items": [ {{ "quantity": 2, "product_id": {product["id"]} }} ],\n'
                 f'  "customer_id": {customer["id"]}\n}}\n')
    headers = {"Idempotency-Key": KEY, "Content-Type": "application/json"}
    first = await api.request("POST", "/orders", body=compact, role="user", headers=headers)
    assert first.status == 201, first
    again = await api.request("POST", "/orders", body=reordered, role="user", headers=headers)
    assert again.status == 201, again
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.body == first.body
    listed = await api.get("/orders", role="user")
    assert listed.json["meta"]["total"] == 1
    # Another value is another body, however it is spelled.
    other = reordered.replace('"quantity": 2', '"quantity": 3')
    refused = await api.request("POST", "/orders", body=other, role="user", headers=headers)
    assert refused.status == 422, refused
    assert "Idempotency-Key" in refused.json["errors"]
    # An array body too (imports): order of keys inside the rows does not matter, order of rows does.
    rows = [{"sku": "J-1", "name": "One", "price": "1.00"}, {"sku": "J-2", "name": "Two", "price": "2.00"}]
    key = {"Idempotency-Key": "rows-" + KEY[5:], "Content-Type": "application/json"}
    done = await api.request("POST", "/imports/products", body=json.dumps(rows), role="admin", headers=key)
    assert done.status == 200, done
    spaced = json.dumps([{k: row[k] for k in reversed(list(row))} for row in rows], indent=2)
    replay = await api.request("POST", "/imports/products", body=spaced, role="admin", headers=key)
    assert replay.status == 200 and replay.headers["Idempotent-Replayed"] == "true"
    swapped = await api.request("POST", "/imports/products", body=json.dumps(rows[::-1]), role="admin",
                                headers=key)
    assert swapped.status == 422, swapped

