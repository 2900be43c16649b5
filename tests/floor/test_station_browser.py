"""The operator station (/station) in headless Debian Chromium: fits a tablet in both orientations with
big touch targets, records counts, stops and calls, and keeps actions while the link is down — sent
once it is back, none lost and none counted twice (also when an answer is lost on the way back)."""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.floor.test_wall_display import ARTEFACTS, hhmm

SIZES = [(1024, 768), (800, 1280)]
DOCS = Path(__file__).resolve().parents[2] / "docs"

# Measured in the page: no scrolling, every control on screen and big enough to touch, no panel or
# text cut off.
FIT = """() => {
  const problems = [];
  const de = document.documentElement;
  if (de.scrollHeight > innerHeight || de.scrollWidth > innerWidth) problems.push("the page scrolls");
  for (const el of document.querySelectorAll("button, input")) {
    const r = el.getBoundingClientRect();
    if (!r.width) continue;  // hidden
    if (r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5 || r.top < 0 || r.left < 0) {
      problems.push(`${el.textContent || el.id} is off screen`);
    }
    if (r.height < 48 || r.width < 48) problems.push(`${el.textContent || el.id} is ${r.width}x${r.height}`);
  }
  for (const el of document.querySelectorAll(".panel, .figure, button, .line-name, .state, td")) {
    if (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${el.className || el.tagName} "${el.textContent.trim().slice(0, 30)}" is cut off`);
    }
  }
  return problems;
}"""


async def station_plant(api) -> dict:
    """A shift running now (3 h in, of 8), line L1 with a work order of 800 and a station token."""
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    shift = {"name": "early", "starts_at": hhmm(start), "ends_at": hhmm(start + timedelta(hours=8)),
             "break_minutes": 0}
    assert (await api.post("/shifts", shift, role="admin")).status == 201
    await api.create("lines", {"code": "L1", "name": "Final assembly north"})
    await api.create("lines", {"code": "L2", "name": "Paint shop"})
    product = await api.create("products", {"sku": "ST-1", "name": "Gear housing", "price": "9.00",
                                            "ideal_cycle_seconds": "10"})
    employee = await api.create("employees", {"name": "Ada Operator", "position": "Operator",
                                              "email": "ada@example.com", "phone": "+4940123456"})
    order = await api.create("work-orders", {"product_id": product["id"], "line": "L1", "shift": "early",
                                             "date": start.date().isoformat(), "planned_quantity": 800})
    response = await api.post("/production", {
        "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 250,
        "quantity_defective": 4, "date_produced": start.date().isoformat(), "line": "L1", "shift": "early",
        "work_order_id": order["id"]}, role="user")
    assert response.status == 201, response
    minted = await api.post("/auth/station-tokens", {"label": "L1 tablet", "lines": ["L1"]}, role="admin")
    return {"token": minted.json["token"], "employee": employee, "order": order}


async def open_station(browser, base_url, plant, size):
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]}, has_touch=True)
    page = await context.new_page()
    await page.goto(f"{base_url}/station#token={plant['token']}&line=L1")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    await expect(page.locator("#actual")).to_have_attribute("data-value", "246")
    await page.fill("#operator", str(plant["employee"]["id"]))
    await page.locator("#operator").dispatch_event("change")
    return context, page


async def production_total(api) -> tuple[int, int]:
    items = (await api.get("/production?line=L1&per_page=100", role="user")).json["items"]
    return len(items), sum(item["quantity_produced"] - item["quantity_defective"] for item in items)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_the_station_fits_and_records_counts_stops_and_calls(browser, base_url, api, size,
                                                                  database_url):
    plant = await station_plant(api)
    context, page = await open_station(browser, base_url, plant, size)
    assert plant["token"] not in page.url and page.url.endswith("/station#line=L1")
    await expect(page.locator("#line-name")).to_have_text("Final assembly north")
    await expect(page.locator("#state")).to_have_attribute("data-state", "running")
    await expect(page.locator("#plan")).to_have_text("800")
    await expect(page.locator("#hour-rows tr")).to_have_count(8)
    await expect(page.locator("#hour-rows tr.current td").nth(1)).to_have_text("100")  # 800 / 8 h
    assert await page.evaluate(FIT) == []

    await page.get_by_role("button", name="+10 good").click()
    await page.get_by_role("button", name="+1 reject").click()
    await expect(page.locator("#actual")).to_have_attribute("data-value", "256")
    await expect(page.locator("#queued")).to_be_hidden()
    assert await production_total(api) == (3, 256)
    projected = int((await page.locator("#projected").text_content()).replace(",", ""))
    assert 256 * 8 / 3 * 0.95 <= projected <= 256 * 8 / 3 * 1.05  # 3 h of 8 gone

    await page.locator('#reasons [data-reason="no_material"]').click()
    await expect(page.locator("#state")).to_have_attribute("data-state", "stopped")
    await expect(page.locator("#stop-reason")).to_have_text("No material")
    (stop,) = (await api.get("/stops?line=L1&open=true", role="user")).json["items"]
    assert stop["reason"] == "no_material" and stop["reported_by"] == "test_admin"
    assert await page.evaluate(FIT) == []
    await page.get_by_role("button", name="Line runs again").click()
    await expect(page.locator("#state")).to_have_attribute("data-state", "running")
    assert (await api.get("/stops?line=L1&open=true", role="user")).json["items"] == []

    await page.get_by_role("button", name="Maintenance", exact=True).click()
    call = page.locator("#open-calls .open-call")
    await expect(call).to_have_count(1)
    await expect(call.locator(".ack")).to_be_visible()
    assert await page.evaluate(FIT) == []
    await call.locator(".ack").click()
    await expect(call.locator(".call-state")).to_have_text("on the way")
    (raised,) = (await api.get("/calls?line=L1", role="user")).json["items"]
    assert raised["kind"] == "maintenance" and raised["acknowledged_at"] is not None

    backend = "sqlite" if database_url.startswith("sqlite") else "mariadb"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTEFACTS / f"station-{size[0]}x{size[1]}-{backend}.png"))
    if os.environ.get("FACTORY_DOCS_SCREENSHOTS") and backend == "sqlite":
        await page.screenshot(path=str(DOCS / f"station-{size[0]}x{size[1]}.png"))
    await context.close()


async def test_actions_wait_while_the_link_is_down_and_count_once(browser, base_url, api):
    plant = await station_plant(api)
    context, page = await open_station(browser, base_url, plant, SIZES[0])

    await context.set_offline(True)  # the tablet's Wi-Fi drops
    for _ in range(3):
        await page.get_by_role("button", name="+10 good").click()
    await page.get_by_role("button", name="Quality", exact=True).click()
    await page.locator('#reasons [data-reason="breakdown"]').click()
    await expect(page.locator("#queued")).to_have_text("5 waiting to send")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    await expect(page.locator("#actual")).to_have_attribute("data-value", "276")  # shown, not yet sent
    await expect(page.locator("#state")).to_have_attribute("data-state", "stopped")
    assert await production_total(api) == (1, 246)
    assert json_queue_keys(await page.evaluate("localStorage.getItem('factory.station.queue.L1')")) == 5

    # Back online, but the first answer is lost on its way back (a gateway answers 502 after the server
    # did the work): the page sends the same action again with the same Idempotency-Key and gets the
    # first answer replayed, so it is counted once.
    lost = {"count": 0}

    async def lose_first_answer(route):
        if route.request.method == "POST" and lost["count"] == 0:
            lost["count"] += 1
            answer = await route.fetch()  # reaches the server …
            assert answer.status == 201
            await route.fulfill(status=502, body="")  # … but its answer never reaches the page
            return
        await route.continue_()

    await page.route("**/production", lose_first_answer)
    await context.set_offline(False)
    await expect(page.locator("#queued")).to_be_hidden(timeout=30_000)
    assert lost["count"] == 1
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    assert await production_total(api) == (4, 276)  # three records of 10, none twice
    calls = (await api.get("/calls?line=L1", role="user")).json["items"]
    assert [call["kind"] for call in calls] == ["quality"]
    stops = (await api.get("/stops?line=L1", role="user")).json["items"]
    assert [(stop["reason"], stop["ended_at"]) for stop in stops] == [("breakdown", None)]
    await expect(page.locator("#actual")).to_have_attribute("data-value", "276")
    assert await page.evaluate("localStorage.getItem('factory.station.queue.L1')") == "[]"
    await context.close()


def json_queue_keys(raw: str) -> int:
    import json

    queue = json.loads(raw)
    assert len({action["key"] for action in queue}) == len(queue)  # one Idempotency-Key each
    return len(queue)


DAY = "2026-12-01"


@pytest.mark.plant_clock(at=f"{DAY}T06:30:00Z", zone="Europe/Berlin")
async def test_the_hourly_target_and_the_projection_leave_out_the_break(browser, base_url, api, make,
                                                                         plant_time):
    """Early shift 07:00-15:00 Berlin (06:00-14:00 UTC) with a 30-minute break at 11:00: 7.5 h of planned
    time for a plan of 750, so 100 an hour and 50 in the hour of the break. At 12:00 Berlin, 4.5 h of
    planned time have gone by with 400 good: 400 × 7.5 / 4.5 = 667 at shift end."""
    assert (await api.post("/shifts", {"name": "early", "starts_at": "07:00", "ends_at": "15:00",
                                       "breaks": [{"starts_at": "11:00", "minutes": 30}]},
                           role="admin")).status == 201
    await make.line("L1", name="Final assembly north")
    product = await make.product(ideal_cycle_seconds=20)
    employee = await make.employee()
    order = await api.create("work-orders", {"product_id": product["id"], "line": "L1", "shift": "early",
                                             "date": DAY, "planned_quantity": 750})
    plant_time.set(f"{DAY}T11:00:00Z")
    response = await api.post("/production", {
        "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 404,
        "quantity_defective": 4, "date_produced": DAY, "line": "L1", "shift": "early",
        "work_order_id": order["id"]}, role="user")
    assert response.status == 201, response
    minted = await api.post("/auth/station-tokens", {"label": "L1 tablet", "lines": ["L1"]}, role="admin")
    plant = {"token": minted.json["token"], "employee": employee}
    context = await browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    page = await context.new_page()
    await page.goto(f"{base_url}/station#token={plant['token']}&line=L1")
    await expect(page.locator("#actual")).to_have_attribute("data-value", "400")

    rows = page.locator("#hour-rows tr")
    await expect(rows).to_have_count(8)
    hours = [[await cell.text_content() for cell in await row.locator("td").all()][:2]
             for row in await rows.all()]
    assert hours == [["07:00", "100"], ["08:00", "100"], ["09:00", "100"], ["10:00", "100"],
                     ["11:00", "50"], ["12:00", "100"], ["13:00", "100"], ["14:00", "100"]], hours
    await expect(page.locator("#hour-rows tr.current td").first).to_have_text("12:00")
    status = (await api.get("/lines/status", role="user")).json["items"][0]
    await expect(page.locator("#target")).to_have_text(f"{status['plan']['expected_by_now']:,}")
    assert status["plan"]["expected_by_now"] == 450  # 4.5 h of 7.5 h of planned time: the server agrees
    await expect(page.locator("#projected")).to_have_text("667")

    # The station follows the live feed: a stop opened elsewhere (a machine, the supervisor) shows
    # without waiting for the slow re-read.
    await expect(page.locator("#conn")).to_have_attribute("data-feed", "live")
    assert (await api.post("/lines/L1/stops", {"reason": "breakdown"}, role="user")).status == 201
    await expect(page.locator("#state")).to_have_attribute("data-state", "stopped", timeout=10_000)
    call = (await api.post("/lines/L1/calls", {"kind": "material"}, role="user")).json
    await expect(page.locator(f'#open-calls .open-call[data-call-id="{call["id"]}"]')).to_have_count(
        1, timeout=10_000)
    assert await page.evaluate(FIT) == []
    await context.close()
