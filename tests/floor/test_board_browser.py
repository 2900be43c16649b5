"""The wall board's second round, measured in headless Chromium against the real server: no text
overlaps or is cut at any size with 1 to 12 lines (three-digit OEE, long names, reasons and notes),
planned stops and breaks in their own look, open calls on the tiles with running timers, stopped
lines and calls pinned to every page, the plant strip, and view=lines really larger."""
from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.floor.test_wall_display import ARTEFACTS, CONTRAST, hhmm, open_board

DOCS = Path(__file__).resolve().parents[2] / "docs"

SIZES = [(1920, 1080), (1280, 720)]
LONG_NAMES = ["Injection moulding and final inspection hall B", "Assembly 2", "Paint shop north wing",
              "Welding robots", "Packaging and palletising", "CNC milling centre 4"]

# Measured in the page: text boxes of one tile that overlap, text cut off sideways, tiles that
# overflow, and text that is still cut with an ellipsis.
LAYOUT = """() => {
  const problems = [];
  const texts = (root) => [...root.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().width
    && [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
  for (const tile of document.querySelectorAll(".tile")) {
    if (tile.scrollHeight > tile.clientHeight + 1 || tile.scrollWidth > tile.clientWidth + 1) {
      problems.push(`tile ${tile.dataset.line} overflows`);
    }
    const boxes = texts(tile).map((el) => [el, el.getBoundingClientRect()]);
    for (let i = 0; i < boxes.length; i += 1) {
      const [a, ra] = boxes[i];
      if (a.scrollWidth > a.clientWidth + 1 && getComputedStyle(a).display !== "inline") {
        problems.push(`${tile.dataset.line}: "${a.textContent.trim()}" is cut off`);
      }
      if (getComputedStyle(a).textOverflow === "ellipsis") problems.push(`${a.className} ends in "…"`);
      for (let j = i + 1; j < boxes.length; j += 1) {
        const [b, rb] = boxes[j];
        if (a.contains(b) || b.contains(a)) continue;
        const x = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const y = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (x > 1 && y > 1) {
          problems.push(`${tile.dataset.line}: "${a.textContent.trim()}" overlaps "${b.textContent.trim()}"`);
        }
      }
    }
  }
  const de = document.documentElement;
  if (de.scrollHeight > innerHeight || de.scrollWidth > innerWidth) problems.push("the page scrolls");
  return problems;
}"""


async def seed_lines(api, count: int) -> dict:
    """`count` lines in a shift running now; line 1 runs far over its ideal rate (OEE over 100 %), line 2
    is stopped for a long-named reason with a long note, line 3 has a planned stop."""
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    shift = {"name": "early", "starts_at": hhmm(start), "ends_at": hhmm(start + timedelta(hours=8))}
    assert (await api.post("/shifts", shift, role="admin")).status == 201
    day = start.date().isoformat()
    employee = await api.create("employees", {"name": "Ada Operator", "position": "Operator",
                                              "email": "ada@example.com", "phone": "+4940123456"})
    await api.create("stop-reasons", {"code": "waiting_material", "label": "Waiting for material from the "
                                      "central warehouse"})
    for n in range(count):
        code = f"L{n + 1}"
        await api.create("lines", {"code": code, "name": LONG_NAMES[n % len(LONG_NAMES)]})
        product = await api.create("products", {"sku": f"B-{n}", "name": f"Housing {n}", "price": "5.00",
                                                "ideal_cycle_seconds": "6"})
        order = await api.create("work-orders", {"product_id": product["id"], "line": code, "shift": "early",
                                                 "date": day, "planned_quantity": 1800})
        made = 2500 if n == 0 else 600 + 40 * n  # 3 h at 6 s is 1,800: line 1 runs at 139 %
        response = await api.post("/production", {
            "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": made,
            "date_produced": day, "line": code, "shift": "early", "work_order_id": order["id"]}, role="user")
        assert response.status == 201, response
    if count >= 2:
        note = "Coil supplier truck delayed at the gate, forklift needed at station 3 to unload"
        assert (await api.post("/lines/L2/stops", {"reason": "waiting_material", "note": note},
                               role="user")).status == 201
    if count >= 3:
        planned = await api.post("/lines/L3/stops", {"reason": "planned_maintenance"}, role="user")
        assert planned.status == 201, planned
    token = (await api.post("/auth/display-tokens", {"label": "Hall"}, role="admin")).json["token"]
    return {"token": token}


@pytest.mark.parametrize("count", [1, 5, 12])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_no_text_overlaps_or_is_cut_with_1_to_12_lines(browser, base_url, api, count, size):
    plant = await seed_lines(api, count)
    page = await open_board(browser, base_url, plant["token"], viewport=size)
    await expect(page.locator(".tile")).to_have_count(min(count, 8))
    if count >= 2:
        await expect(page.locator('.tile[data-line="L2"] .band-note')).to_contain_text("Coil supplier truck")
    assert await page.evaluate(LAYOUT) == []
    assert await page.evaluate(CONTRAST) == []
    oee = await page.locator('.tile[data-line="L1"] .oee-main dd').text_content()
    assert re.fullmatch(r"1\d\d%", oee), oee  # a three-digit OEE, beside A/P/Q without touching them


async def test_planned_stops_and_calls_have_their_own_look(browser, base_url, api):
    plant = await seed_lines(api, 4)
    page = await open_board(browser, base_url, plant["token"])
    planned = page.locator('.tile[data-line="L3"]')
    await expect(planned).to_have_attribute("data-look", "planned")
    await expect(planned.locator(".band-state")).to_have_text("PLANNED")
    stopped = page.locator('.tile[data-line="L2"]')
    await expect(stopped).to_have_attribute("data-look", "stopped")
    colour = "el => getComputedStyle(el).backgroundColor"
    assert await planned.locator(".band").evaluate(colour) != await stopped.locator(".band").evaluate(colour)
    await expect(page.locator('.strip-cell[data-key="stopped"] .strip-value')).to_have_text("2")

    call = (await api.post("/lines/L4/calls", {"kind": "maintenance"}, role="user")).json
    shown = page.locator(f'.tile[data-line="L4"] .tile-call[data-call-id="{call["id"]}"]')
    await expect(shown).to_have_attribute("data-stage", "open")
    await expect(shown.locator(".call-kind")).to_have_text("Maintenance")
    await expect(shown.locator(".call-timer")).to_have_text(re.compile(r"^00:0[1-9]$"))  # it runs
    await expect(page.locator('.strip-cell[data-key="calls"] .strip-value')).to_have_text("1")
    assert (await api.post(f"/calls/{call['id']}/acknowledge", role="user")).status == 200
    await expect(shown).to_have_attribute("data-stage", "acknowledged")
    assert await page.evaluate(LAYOUT) == []
    assert (await api.post(f"/calls/{call['id']}/resolve", role="user")).status == 200
    await expect(shown).to_have_count(0)
    await expect(page.locator('.strip-cell[data-key="calls"] .strip-value')).to_have_text("0")

    # The stopping line keeps its size: every tile of the page has the same text size, stopped or not.
    assert (await api.post("/lines/L1/stops", {"reason": "breakdown"}, role="user")).status == 201
    await expect(page.locator('.tile[data-line="L1"]')).to_have_attribute("data-look", "stopped")
    sizes = await page.locator(".tile .plan-good").evaluate_all(
        "nodes => nodes.map(n => getComputedStyle(n).fontSize)")
    assert len(set(sizes)) == 1, sizes


async def test_stopped_lines_and_calls_are_on_every_page(browser, base_url, api, database_url):
    plant = await seed_lines(api, 12)
    assert (await api.post("/lines/L12/calls", {"kind": "quality"}, role="user")).status == 201
    page = await open_board(browser, base_url, plant["token"])
    pager = page.locator("#lines-pager")
    await expect(pager).to_have_text("page 1 of 2")
    shown = "nodes => nodes.map(n => n.dataset.line)"
    first = await page.locator(".tile").evaluate_all(shown)
    assert {"L2", "L3", "L12"} <= set(first), first  # stopped L2, planned stop L3, a call on L12
    await expect(pager).to_have_text("page 2 of 2", timeout=20_000)
    second = await page.locator(".tile").evaluate_all(shown)
    assert {"L2", "L3", "L12"} <= set(second), second
    assert set(first) | set(second) == {f"L{n}" for n in range(1, 13)}
    assert await page.evaluate(LAYOUT) == []
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTEFACTS / "wall-12-lines-paged.png"))
    if os.environ.get("FACTORY_DOCS_SCREENSHOTS") and database_url.startswith("sqlite"):
        await page.screenshot(path=str(DOCS / "wall-board.png"))  # the README's picture


async def test_view_lines_really_enlarges(browser, base_url, api):
    plant = await seed_lines(api, 4)
    size = "() => parseFloat(getComputedStyle(document.querySelector('.tile .plan-good')).fontSize)"
    plant_view = await open_board(browser, base_url, plant["token"])
    lines_view = await open_board(browser, base_url, plant["token"], "&view=lines")
    assert await lines_view.evaluate(size) >= 1.1 * await plant_view.evaluate(size)
    assert await lines_view.evaluate(LAYOUT) == []
