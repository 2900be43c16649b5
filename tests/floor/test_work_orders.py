"""/work-orders: the plan per product × line × shift instance, its lifecycle, and records against it."""
from __future__ import annotations

import pytest

DAY = "2026-11-27"


@pytest.fixture
def plant(io_loop, make):
    async def build():
        await make.line("L1")
        await make.line("L2")
        await make.shift("early", "06:00", "14:00")
        await make.shift("late", "14:00", "22:00")
        return {"gear": await make.product(name="Gear"), "bolt": await make.product(name="Bolt"),
                "dana": await make.employee()}

    return io_loop.run_sync(build)


async def plan(api, plant, product="gear", **fields):
    body = {"product_id": plant[product]["id"], "line": "L1", "shift": "early", "date": DAY,
            "planned_quantity": 100, **fields}
    return await api.create("work-orders", body)


async def record(api, plant, product="gear", **fields):
    body = {"product_id": plant[product]["id"], "employee_id": plant["dana"]["id"], "date_produced": DAY,
            "quantity_produced": 10, **fields}
    return await api.post("/production", body, role="user")


async def test_an_admin_plans_a_work_order(api, plant):
    order = await plan(api, plant, line="l1", shift="EARLY")
    assert {key: order[key] for key in ("line", "shift", "date", "planned_quantity", "status", "good",
                                        "defective", "order_id")} == {
        "line": "L1", "shift": "early", "date": DAY, "planned_quantity": 100, "status": "planned",
        "good": 0, "defective": 0, "order_id": None}
    assert (await api.get(f"/work-orders/{order['id']}", role="user")).json == order
    released = await plan(api, plant, status="released", shift="late")
    assert released["status"] == "released"


async def test_bad_work_orders_are_422_naming_every_field(api, make, plant):
    await make.line("OLD", active=False)
    response = await api.post("/work-orders", {"product_id": 999999, "line": "L9", "shift": "night",
                                               "date": DAY, "planned_quantity": 5, "order_id": 999999},
                              role="admin")
    assert response.status == 422, response
    assert set(response.json["errors"]) == {"product_id", "line", "shift", "order_id"}
    for body, field in (({"line": "OLD"}, "line"), ({"planned_quantity": 0}, "planned_quantity"),
                        ({"status": "completed"}, "status"), ({"date": "27.11.2026"}, "date")):
        bad = await api.post("/work-orders", {"product_id": plant["gear"]["id"], "line": "L1",
                                              "shift": "early", "date": DAY, "planned_quantity": 5, **body},
                             role="admin")
        assert bad.status == 422 and field in bad.json["errors"], (body, bad)
    assert (await api.get("/work-orders", role="admin")).json["meta"]["total"] == 0


@pytest.mark.parametrize("path, final", [
    (["released", "in_progress", "completed"], "completed"),
    (["cancelled"], "cancelled"),
    (["released", "cancelled"], "cancelled"),
    (["released", "in_progress", "cancelled"], "cancelled"),
])
async def test_the_lifecycle_moves_one_step_at_a_time(api, plant, path, final):
    order = await plan(api, plant)
    for status in path:
        response = await api.patch(f"/work-orders/{order['id']}", {"status": status}, role="admin")
        assert response.status == 200 and response.json["status"] == status, response
    for status in ("planned", "released", "in_progress", "completed", "cancelled"):
        refused = await api.patch(f"/work-orders/{order['id']}", {"status": status}, role="admin")
        assert refused.status == 409 and "status" in refused.json["errors"], (status, refused)
    assert (await api.get(f"/work-orders/{order['id']}", role="admin")).json["status"] == final


async def test_status_jumps_are_409(api, plant):
    order = await plan(api, plant)
    for status in ("in_progress", "completed"):
        jump = await api.patch(f"/work-orders/{order['id']}", {"status": status}, role="admin")
        assert jump.status == 409 and "planned → " + status in jump.json["errors"]["status"][0]
    assert (await api.get(f"/work-orders/{order['id']}", role="admin")).json["status"] == "planned"


async def test_records_fill_a_work_order_and_start_it(api, plant):
    order = await plan(api, plant)
    first = await record(api, plant, work_order_id=order["id"], quantity_produced=30, quantity_defective=2)
    assert first.status == 201, first
    assert (first.json["line"], first.json["shift"]) == ("L1", "early")  # filled in from the order
    await record(api, plant, work_order_id=order["id"], line="L1", quantity_produced=12)
    await record(api, plant, line="L1", shift="early", quantity_produced=99)  # not against the order
    got = (await api.get(f"/work-orders/{order['id']}", role="user")).json
    assert (got["good"], got["defective"], got["status"]) == (40, 2, "in_progress")

    moved = await api.patch(f"/production/{first.json['id']}", {"work_order_id": None}, role="admin")
    assert moved.status == 200, moved
    got = (await api.get(f"/work-orders/{order['id']}", role="user")).json
    assert (got["good"], got["defective"]) == (12, 0)
    listed = (await api.get("/work-orders?status=in_progress", role="user")).json["items"]
    assert [(item["id"], item["good"]) for item in listed] == [(order["id"], 12)]


async def test_a_record_must_match_its_work_order(api, plant):
    order = await plan(api, plant)
    cases = ((dict(product="bolt"), "product_id"), (dict(line="L2"), "line"), (dict(shift="late"), "shift"))
    for fields, field in cases:
        response = await record(api, plant, work_order_id=order["id"], **fields)
        assert response.status == 422 and field in response.json["errors"], (fields, response)
    missing = await record(api, plant, work_order_id=999999)
    assert missing.status == 422 and "work_order_id" in missing.json["errors"]
    await api.patch(f"/work-orders/{order['id']}", {"status": "cancelled"}, role="admin")
    cancelled = await record(api, plant, work_order_id=order["id"])
    assert cancelled.status == 409
    assert (await api.get("/production", role="user")).json["meta"]["total"] == 0
    assert (await api.get(f"/work-orders/{order['id']}", role="user")).json["good"] == 0


async def test_a_work_order_with_records_keeps_its_place_and_is_not_deleted(api, plant):
    order = await plan(api, plant)
    empty = await plan(api, plant, line="L2")
    await record(api, plant, work_order_id=order["id"])
    for body in ({"line": "L2"}, {"date": "2026-11-28"}, {"product_id": plant["bolt"]["id"]}):
        refused = await api.patch(f"/work-orders/{order['id']}", body, role="admin")
        assert refused.status == 409, (body, refused)
    more = await api.patch(f"/work-orders/{order['id']}", {"planned_quantity": 120}, role="admin")
    assert more.status == 200 and more.json["planned_quantity"] == 120
    assert (await api.delete(f"/work-orders/{order['id']}", role="admin")).status == 409
    moved = await api.patch(f"/work-orders/{empty['id']}", {"shift": "late", "line": "l1"}, role="admin")
    assert moved.status == 200 and (moved.json["line"], moved.json["shift"]) == ("L1", "late")
    assert (await api.delete(f"/work-orders/{empty['id']}", role="admin")).status == 204


async def test_lists_filter_the_plan(api, plant):
    a = await plan(api, plant)
    b = await plan(api, plant, product="bolt", line="L2", shift="late")
    c = await plan(api, plant, date="2026-11-28")

    async def ids(query):
        response = await api.get(f"/work-orders?{query}", role="user")
        assert response.status == 200, response
        return [item["id"] for item in response.json["items"]]

    assert await ids(f"date={DAY}") == [a["id"], b["id"]]
    assert await ids("from=2026-11-28") == [c["id"]]
    assert await ids(f"to={DAY}&line=L2") == [b["id"]]
    assert await ids("shift=early") == [a["id"], c["id"]]
    assert await ids(f"product_id={plant['bolt']['id']}") == [b["id"]]
    assert await ids("status=planned&sort_by=date&sort_order=desc") == [c["id"], b["id"], a["id"]]
    assert (await api.get("/work-orders?status=done", role="user")).status == 400


async def test_an_archived_product_is_not_planned(api, plant):
    archived = await api.patch(f"/products/{plant['bolt']['id']}", {"active": False}, role="admin")
    assert archived.status == 200, archived
    response = await api.post("/work-orders", {"product_id": plant["bolt"]["id"], "line": "L1",
                                               "shift": "early", "date": DAY, "planned_quantity": 5},
                              role="admin")
    assert response.status == 422 and "product_id" in response.json["errors"], response
