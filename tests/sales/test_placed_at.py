"""Orders' placed_at: now by the application clock, back-dated by admins only, never in the future;
the list filters and the reports key on it."""
from __future__ import annotations

from datetime import UTC, datetime

from core.clock import Clock

NOW = datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)


async def setup(api, make, app) -> dict[str, int]:
    app.ctx.clock = Clock("Europe/Berlin", now=lambda: NOW)
    customer, product = await make.customer(), await make.product(price="4.00")
    return {"customer_id": customer["id"], "product_id": product["id"], "quantity": 2}


async def test_placed_at_defaults_to_the_application_clock(api, make, app):
    body = await setup(api, make, app)
    response = await api.post("/orders", body, role="user")
    assert response.status == 201, response
    assert response.json["placed_at"] == "2026-03-04T10:00:00Z"
    read = await api.get(f"/orders/{response.json['id']}", role="user")
    assert read.json["placed_at"] == "2026-03-04T10:00:00Z"


async def test_an_admin_back_dates_an_order(api, make, app):
    body = await setup(api, make, app)
    response = await api.post("/orders", {**body, "placed_at": "2026-01-31T23:30:00+01:00"}, role="admin")
    assert response.status == 201, response
    assert response.json["placed_at"] == "2026-01-31T22:30:00Z"  # stored and shown in UTC
    assert response.json["created_at"] != response.json["placed_at"]
    # Filters and reports key on placement, by UTC day.
    listed = await api.get("/orders?from=2026-01-31&to=2026-01-31", role="user")
    assert [item["id"] for item in listed.json["items"]] == [response.json["id"]]
    assert (await api.get("/orders?from=2026-02-01", role="user")).json["meta"]["total"] == 0
    report = await api.get("/analytics/top-products?from=2026-01-31&to=2026-01-31", role="admin")
    assert [(item["units_sold"], item["revenue"]) for item in report.json["items"]] == [(2, "8.00")]
    later = await api.get("/analytics/top-products?from=2026-02-01", role="admin")
    assert later.json["items"] == []


async def test_placed_at_in_the_future_is_422_and_places_nothing(api, make, app):
    body = await setup(api, make, app)
    for placed in ("2026-03-04T10:00:01Z", "2027-01-01T00:00:00Z", "2026-03-04T11:00:01+01:00"):
        response = await api.post("/orders", {**body, "placed_at": placed}, role="admin")
        assert response.status == 422, (placed, response)
        assert response.json["errors"]["placed_at"] == ["Must not be in the future."]
    exactly_now = await api.post("/orders", {**body, "placed_at": "2026-03-04T10:00:00Z"}, role="admin")
    assert exactly_now.status == 201, exactly_now
    assert (await api.get("/orders", role="user")).json["meta"]["total"] == 1


async def test_a_user_cannot_set_placed_at(api, make, app):
    body = await setup(api, make, app)
    response = await api.post("/orders", {**body, "placed_at": "2026-03-01T08:00:00Z"}, role="user")
    assert response.status == 422, response
    assert "placed_at" in response.json["errors"]
    assert "admin" in response.json["errors"]["placed_at"][0]
    assert (await api.get("/orders", role="user")).json["meta"]["total"] == 0


async def test_placed_at_must_be_a_date_time(api, make, app):
    body = await setup(api, make, app)
    for bad in ("yesterday", "2026-02-30T10:00:00Z", 12, None):
        response = await api.post("/orders", {**body, "placed_at": bad}, role="admin")
        assert response.status == 422, (bad, response)
        assert "placed_at" in response.json["errors"]


async def test_orders_sort_by_placed_at(api, make, app):
    body = await setup(api, make, app)
    ids = []
    for placed in ("2026-02-10T00:00:00Z", "2026-01-05T00:00:00Z", "2026-03-01T00:00:00Z"):
        ids.append((await api.post("/orders", {**body, "placed_at": placed}, role="admin")).json["id"])
    listed = await api.get("/orders?sort_by=placed_at&sort_order=desc", role="user")
    assert [item["id"] for item in listed.json["items"]] == [ids[2], ids[0], ids[1]]
