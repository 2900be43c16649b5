"""Cursor paging on every list: each row exactly once under every sort, ties and concurrent writes
included; cursors are opaque, signed and bound to their list, sort and filters."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

ROLE_OF = {"products": "user", "customers": "user", "orders": "user", "production": "user",
           "employees": "admin", "users": "super_admin"}
SORTS = {
    "products": ("id", "sku", "name", "price", "stock_quantity", "reorder_level", "created_at", "updated_at"),
    "customers": ("id", "name", "email", "created_at", "updated_at"),
    "employees": ("id", "name", "position", "email", "created_at", "updated_at"),
    "orders": ("id", "placed_at", "created_at", "total_price", "status", "updated_at"),
    "production": ("id", "date_produced", "quantity_produced", "quantity_defective", "created_at",
                   "updated_at"),
    "users": ("id", "username", "role", "created_at", "updated_at"),
}


async def walk(api, path: str, role: str, per_page: int = 3) -> tuple[list[int], list[str]]:
    """Follow next_cursor from the first page to the end: the ids seen and the cursors used."""
    joiner = "&" if "?" in path else "?"
    response = await api.get(f"{path}{joiner}per_page={per_page}", role=role)
    assert response.status == 200, response
    ids, cursors = [item["id"] for item in response.json["items"]], []
    cursor = response.json["meta"]["next_cursor"]
    while cursor:
        cursors.append(cursor)
        response = await api.get(f"{path}{joiner}per_page={per_page}&cursor={quote(cursor)}", role=role)
        assert response.status == 200, response
        assert set(response.json["meta"]) == {"per_page", "next_cursor", "prev_cursor"}
        ids += [item["id"] for item in response.json["items"]]
        cursor = response.json["meta"]["next_cursor"]
        assert len(cursors) < 50, "the walk does not end"
    return ids, cursors


async def walk_back(api, path: str, role: str, cursor: str, per_page: int = 3) -> list[int]:
    """From a cursor page, follow prev_cursor back to the start: the ids seen, in list order."""
    joiner = "&" if "?" in path else "?"
    pages: list[list[int]] = []
    while cursor:
        response = await api.get(f"{path}{joiner}per_page={per_page}&cursor={quote(cursor)}", role=role)
        assert response.status == 200, response
        pages.insert(0, [item["id"] for item in response.json["items"]])
        cursor = response.json["meta"]["prev_cursor"]
        assert len(pages) < 50
    return [ident for page in pages for ident in page]


async def fill(api, make) -> None:
    """A few rows of every resource, with ties on every sort that allows them."""
    customers = [await make.customer(name="Same name") for _ in range(3)]
    customers.append(await make.customer(name="Another"))
    products = [await make.product(price="5.00", name="Tied") for _ in range(3)]
    products += [await make.product(price=price) for price in ("1.00", "9.00", "5.00")]
    employees = [await make.employee(position="Operator") for _ in range(4)]
    for n in range(7):
        placed = await api.post("/orders", {
            "customer_id": customers[n % 4]["id"], "product_id": products[n % 3]["id"], "quantity": 1 + n % 2,
            "placed_at": "2026-03-01T08:00:00Z" if n < 4 else "2026-03-02T08:00:00Z"}, role="admin")
        assert placed.status == 201, placed
    for n in range(7):
        recorded = await api.post("/production", {
            "product_id": products[n % 2]["id"], "employee_id": employees[n % 4]["id"],
            "quantity_produced": 10 + n % 3, "quantity_defective": n % 2,
            "date_produced": "2026-03-0" + str(1 + n % 2)}, role="user")
        assert recorded.status == 201, recorded


async def test_cursor_paging_visits_every_row_once_under_every_sort(api, make):
    await fill(api, make)
    for resource, sorts in SORTS.items():
        role = ROLE_OF[resource]
        for sort in sorts:
            for order in ("asc", "desc"):
                path = f"/{resource}?sort_by={sort}&sort_order={order}"
                expected = [item["id"] for item in
                            (await api.get(f"{path}&per_page=100", role=role)).json["items"]]
                ids, cursors = await walk(api, path, role)
                assert ids == expected, (resource, sort, order)
                assert len(set(ids)) == len(ids)
                if cursors:  # and back again from the last page, by prev_cursor
                    assert await walk_back(api, path, role, cursors[-1]) == expected, (resource, sort, order)


async def test_rows_inserted_and_deleted_between_pages(api, make):
    customer = await make.customer()
    cheap, dear = await make.product(price="1.00"), await make.product(price="50.00")

    async def order(product: dict[str, Any]) -> int:
        placed = await api.post("/orders", {"customer_id": customer["id"], "product_id": product["id"],
                                            "quantity": 1}, role="user")
        assert placed.status == 201, placed
        return placed.json["id"]

    first = [await order(cheap) for _ in range(4)]
    later = [await order(dear) for _ in range(4)]
    path = "/orders?sort_by=total_price&per_page=3"
    response = await api.get(path, role="user")
    seen = [item["id"] for item in response.json["items"]]
    assert seen == first[:3]
    # Between pages: one seen row and one unseen row go, and a row joins after the cursor.
    assert (await api.delete(f"/orders/{first[0]}", role="admin")).status == 204
    assert (await api.delete(f"/orders/{later[1]}", role="admin")).status == 204
    newcomer = await order(dear)
    cursor = response.json["meta"]["next_cursor"]
    while cursor:
        response = await api.get(f"{path}&cursor={quote(cursor)}", role="user")
        assert response.status == 200, response
        seen += [item["id"] for item in response.json["items"]]
        cursor = response.json["meta"]["next_cursor"]
    assert len(seen) == len(set(seen))
    assert later[1] not in seen
    assert set(seen) == set(first + later + [newcomer]) - {later[1]}


async def test_page_meta_carries_next_cursor_and_links(api, make):
    for _ in range(5):
        await make.customer()
    first = await api.get("/customers?per_page=2", role="user")
    assert first.json["meta"]["total"] == 5 and isinstance(first.json["meta"]["next_cursor"], str)
    last = await api.get("/customers?per_page=2&page=3", role="user")
    assert last.json["meta"]["next_cursor"] is None
    page = await api.get(f"/customers?per_page=2&cursor={quote(first.json['meta']['next_cursor'])}",
                         role="user")
    assert "total" not in page.json["meta"]
    links = {part.split('rel="')[1].rstrip('"'): part.split(">")[0].lstrip("<")
             for part in page.headers["Link"].split(", ")}
    assert set(links) == {"next", "prev"}
    assert links["next"].startswith(api.base_url)
    follow = await api.get(links["next"].removeprefix(api.base_url), role="user")
    assert follow.status == 200 and len(follow.json["items"]) == 1
    assert follow.json["meta"]["next_cursor"] is None


@pytest.mark.parametrize("other", [
    "/products?per_page=2",                     # another list
    "/customers?per_page=2&sort_by=name",       # another sort
    "/customers?per_page=2&sort_order=desc",    # another direction
    "/customers?per_page=2&name=Customer%201",  # another filter
])
async def test_a_cursor_works_only_where_it_was_made(api, make, other):
    for _ in range(3):
        await make.customer()
        await make.product()
    cursor = (await api.get("/customers?per_page=2", role="user")).json["meta"]["next_cursor"]
    assert (await api.get(f"/customers?per_page=1&cursor={quote(cursor)}", role="user")).status == 200
    response = await api.get(f"{other}&cursor={quote(cursor)}", role="user")
    assert response.status == 400, response
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "cursor" in response.json["errors"]


async def test_a_tampered_cursor_is_400(api, make):
    for _ in range(3):
        await make.customer()
    cursor = (await api.get("/customers?per_page=1", role="user")).json["meta"]["next_cursor"]
    for index in range(len(cursor)):
        flipped = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1:]
        response = await api.get(f"/customers?per_page=1&cursor={quote(flipped)}", role="user")
        assert response.status == 400, (index, response)
        assert "cursor" in response.json["errors"]
    for bad in ("x", "....", "%00", "a" * 2000):
        response = await api.get(f"/customers?cursor={bad}", role="user")
        assert response.status == 400, (bad, response)
    both = await api.get(f"/customers?page=2&cursor={quote(cursor)}", role="user")
    assert both.status == 400 and "cursor" in both.json["errors"]
