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

from tests.floor.test_wall_display import (
    ARTEFACTS,
    CONTRAST,
    PRIMARY,
    hhmm,
    legibility_problems,
    open_board,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"

SIZES = [(1920, 1080), (3840, 2160), (1280, 720)]
LONG_NAMES = ["Injection moulding and final inspection hall B", "Assembly 2", "Paint shop north wing",
              "Welding robots", "Packaging and palletising", "CNC milling centre 4"]
SHORT_NAMES = ["Assembly 1", "Assembly 2", "Paint shop", "Welding", "Packaging", "CNC milling"]

# Measured in the page, over every visible text of the board: text boxes that overlap, text cut off
# sideways or ending in "…", a name, reason or note that needs more than its two lines, tiles that
# overflow, and a page that scrolls.
LAYOUT = """() => {
  const problems = [];
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !el.closest(".visually-hidden, .tile-probe");
  };
  const texts = [...document.body.querySelectorAll("*")].filter((el) => visible(el)
    && [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
  for (const tile of document.querySelectorAll("#lines .tile")) {
    if (tile.scrollHeight > tile.clientHeight + 1 || tile.scrollWidth > tile.clientWidth + 1) {
      problems.push(`tile ${tile.dataset.line} overflows`);
    }
  }
  for (const el of document.querySelectorAll(".tile-head, .band-reason, .band-note, .row-name")) {
    if (visible(el) && el.scrollHeight > el.clientHeight + 1) {
      problems.push(`"${el.textContent.trim()}" needs more than two lines`);
    }
  }
  // An inline text that wraps has a box per line: compare those, not the box around them all.
  const boxes = texts.map((el) => [el, [...el.getClientRects()]]);
  const overlap = (ra, rb) => Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left) > 1
    && Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top) > 1;
  for (let i = 0; i < boxes.length; i += 1) {
    const [a, ra] = boxes[i];
    if (a.scrollWidth > a.clientWidth + 1 && getComputedStyle(a).display !== "inline") {
      problems.push(`"${a.textContent.trim()}" is cut off`);
    }
    if (getComputedStyle(a).textOverflow === "ellipsis") problems.push(`${a.className} ends in "…"`);
    for (let j = i + 1; j < boxes.length; j += 1) {
      const [b, rb] = boxes[j];
      if (a.contains(b) || b.contains(a)) continue;
      if (ra.some((one) => rb.some((other) => overlap(one, other)))) {
        problems.push(`"${a.textContent.trim()}" overlaps "${b.textContent.trim()}"`);
      }
    }
  }
  const de = document.documentElement;
  if (de.scrollHeight > innerHeight || de.scrollWidth > innerWidth) problems.push("the page scrolls");
  return problems;
}"""

NOTE = "Coil supplier truck delayed at the gate, forklift needed at station 3 to unload"


async def seed_lines(api, count: int, note: str = NOTE, names: list[str] = LONG_NAMES) -> dict:
    """`count` lines in a shift running now; line 1 runs far over its ideal rate (OEE over 100 %), line 2
    is stopped for a long-named reason with a note (long by default), line 3 has a planned stop."""
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
        await api.create("lines", {"code": code, "name": names[n % len(names)]})
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
        assert (await api.post("/lines/L2/stops", {"reason": "waiting_material", "note": note},
                               role="user")).status == 201
    if count >= 3:
        planned = await api.post("/lines/L3/stops", {"reason": "planned_maintenance"}, role="user")
        assert planned.status == 201, planned
    token = (await api.post("/auth/display-tokens", {"label": "Hall"}, role="admin")).json["token"]
    return {"token": token}


@pytest.mark.parametrize("count", [1, 4, 8, 12])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_no_text_overlaps_or_is_cut_with_1_to_12_lines(browser, base_url, api, count, size):
    plant = await seed_lines(api, count)
    page = await open_board(browser, base_url, plant["token"], viewport=size)
    await expect(page.locator("#lines .tile").first).to_be_visible()
    per_page = int(await page.locator("#lines").get_attribute("data-per-page"))
    await expect(page.locator("#lines .tile")).to_have_count(min(count, per_page))
    if count > per_page:
        await expect(page.locator("#lines-pager")).to_have_text(re.compile(r"^page 1 of \d+$"))
    if count >= 2:
        await expect(page.locator('.tile[data-line="L2"] .band-note')).to_contain_text("Coil supplier truck")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTEFACTS / f"board-{count}-lines-{size[0]}x{size[1]}.png"))
    assert await page.evaluate(LAYOUT) == []
    assert await legibility_problems(page, size) == []
    assert await page.evaluate(CONTRAST) == []
    oee = await page.locator('.tile[data-line="L1"] .oee-main dd').text_content()
    assert re.fullmatch(r"1\d\d%", oee), oee  # a three-digit OEE, beside A/P/Q without touching them


async def test_planned_stops_and_calls_have_their_own_look(browser, base_url, api):
    plant = await seed_lines(api, 4, note="Truck late", names=SHORT_NAMES)
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


SHOWN = "nodes => nodes.map(n => n.dataset.line)"


async def every_page(page) -> list[tuple[list[str], str]]:
    """The lines on each page of the board and the note under them, one page after the other."""
    pager = page.locator("#lines-pager")
    await expect(pager).to_have_text(re.compile(r"^page 1 of \d+$"), timeout=30_000)
    pages = int((await pager.text_content()).rsplit(" ", 1)[1])
    seen = []
    for number in range(1, pages + 1):
        await expect(pager).to_have_text(f"page {number} of {pages}", timeout=30_000)
        seen.append((await page.locator("#lines .tile").evaluate_all(SHOWN),
                     await page.locator("#pinned-note").text_content()))
        assert await page.evaluate(LAYOUT) == []
    return seen


async def test_stopped_lines_and_calls_are_on_every_page(browser, base_url, api, database_url):
    plant = await seed_lines(api, 12, note="Truck late", names=SHORT_NAMES)
    assert (await api.post("/lines/L3/stops/current/end", role="user")).status == 200
    assert (await api.post("/lines/L12/calls", {"kind": "quality"}, role="user")).status == 201
    page = await open_board(browser, base_url, plant["token"], "&rotate=5")
    await expect(page.locator('.tile[data-line="L12"] .tile-call')).to_have_count(1)
    per_page = int(await page.locator("#lines").get_attribute("data-per-page"))
    assert per_page >= 3, per_page  # short names and notes: room for the two pinned lines and more
    pages = await every_page(page)
    for shown, note in pages:
        assert {"L2", "L12"} <= set(shown), shown  # stopped L2 and a call on L12
        assert note == ""
    assert set().union(*(set(shown) for shown, _ in pages)) == {f"L{n}" for n in range(1, 13)}
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTEFACTS / "wall-12-lines-paged.png"))
    if os.environ.get("FACTORY_DOCS_SCREENSHOTS") and database_url.startswith("sqlite"):
        await page.screenshot(path=str(DOCS / "wall-board.png"))  # the README's picture


async def test_more_pinned_lines_than_a_page_holds_are_named_on_every_page(browser, base_url, api):
    """Long names and a long note leave room for two tiles a page at 1920x1080: the breakdown keeps
    its slot, the other slot rotates, and the planned stop and the call are named under the tiles."""
    plant = await seed_lines(api, 6)
    assert (await api.post("/lines/L5/calls", {"kind": "material"}, role="user")).status == 201
    page = await open_board(browser, base_url, plant["token"], "&rotate=5")
    await expect(page.locator('.strip-cell[data-key="calls"] .strip-value')).to_have_text("1")
    per_page = int(await page.locator("#lines").get_attribute("data-per-page"))
    assert per_page < 4, per_page
    pages = await every_page(page)
    for shown, note in pages:
        assert "L2" in shown, shown
        for code, word in (("L3", "planned"), ("L5", "call")):
            assert code in shown or f"{code} {word}" in note, (shown, note)
    assert set().union(*(set(shown) for shown, _ in pages)) == {f"L{n}" for n in range(1, 7)}


# Per primary figure, the font sizes of its nodes on the page's tiles.
PRIMARY_SIZES = """(selectors) => Object.fromEntries(selectors.split(", ").map((selector) => [selector,
  [...document.querySelectorAll(`#lines .tile ${selector}`)]
    .map((n) => parseFloat(getComputedStyle(n).fontSize))]))"""


@pytest.mark.parametrize("count", [3, 6, 8])
async def test_view_lines_really_enlarges(browser, base_url, api, count):
    """The same lines on the same screen: view=lines (no side column) shows every primary figure larger
    than the plant view does, with 5 to 8 lines as with fewer, and still fits without overlap."""
    plant = await seed_lines(api, count, note="Truck late", names=SHORT_NAMES)
    plant_view = await open_board(browser, base_url, plant["token"])
    lines_view = await open_board(browser, base_url, plant["token"], "&view=lines")
    await expect(lines_view.locator(".side")).to_be_hidden()
    for view in (plant_view, lines_view):
        await expect(view.locator('.tile[data-line="L2"]')).to_have_attribute("data-look", "stopped")
    plant_sizes = await plant_view.evaluate(PRIMARY_SIZES, PRIMARY)
    lines_sizes = await lines_view.evaluate(PRIMARY_SIZES, PRIMARY)
    for selector in PRIMARY.split(", "):
        if plant_sizes[selector]:
            assert min(lines_sizes[selector]) >= 1.25 * max(plant_sizes[selector]), (selector, lines_sizes,
                                                                                    plant_sizes)
    assert await lines_view.evaluate(LAYOUT) == []
    assert await legibility_problems(lines_view, (1920, 1080)) == []


# ---- the board on real data, the app's clock fixed: the plant strip, OFFLINE, BREAK, last_shift

DAY = "2026-12-01"  # a Tuesday


async def hall(api, make, plant_time) -> dict:
    """Shift early 06:00-14:00 UTC with a 30-minute break at 10:00. Four lines, each with a plan of 1,600
    and production recorded at 09:00: L1 and L4 run, L2 stands for a breakdown, L3's one machine has
    never reported (offline). A maintenance call on L4."""
    assert (await api.post("/shifts", {"name": "early", "starts_at": "06:00", "ends_at": "14:00",
                                       "breaks": [{"starts_at": "10:00", "minutes": 30}]},
                           role="admin")).status == 201
    employee = await make.employee()
    for n, name in enumerate(["Assembly 1", "Assembly 2", "Press shop", "Packaging"], start=1):
        code = f"L{n}"
        await make.line(code, name=name)
        product = await make.product(ideal_cycle_seconds=9)
        order = await api.create("work-orders", {"product_id": product["id"], "line": code, "shift": "early",
                                                 "date": DAY, "planned_quantity": 1600})
        response = await api.post("/production", {
            "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 500 + 100 * n,
            "quantity_defective": n, "date_produced": DAY, "line": code, "shift": "early",
            "work_order_id": order["id"]}, role="user")
        assert response.status == 201, response
    assert (await api.post("/lines/L2/stops", {"reason": "breakdown"}, role="user")).status == 201
    await api.create("machines", {"name": "Press 3", "line": "L3", "protocol": "json"})
    assert (await api.post("/lines/L4/calls", {"kind": "maintenance"}, role="user")).status == 201
    token = (await api.post("/auth/display-tokens", {"label": "Hall"}, role="admin")).json["token"]
    return {"token": token}


def percent(value) -> str:
    return "—" if value is None else f"{round(value * 100)}%"


@pytest.mark.plant_clock(at=f"{DAY}T09:00:00Z")
async def test_the_plant_strip_offline_and_break_from_the_servers_figures(browser, base_url, api, make,
                                                                         plant_time):
    plant = await hall(api, make, plant_time)
    plant_time.set(f"{DAY}T10:10:00Z")  # ten minutes into the break
    status = (await api.get("/lines/status", role="user")).json
    states = {item["line"]: item["state"] for item in status["items"]}
    assert states == {"L1": "running", "L2": "stopped", "L3": "offline", "L4": "running"}, states
    assert status["items"][0]["shift"]["on_break"] is True
    page = await open_board(browser, base_url, plant["token"], "&rotate=5")  # each line up within 10 s

    strip = page.locator("#plant-strip")
    for key, value in (("oee", percent(status["plant"]["oee"])), ("running", "2"), ("stopped", "1"),
                       ("offline", "1"), ("calls", "1")):
        await expect(strip.locator(f'.strip-cell[data-key="{key}"] .strip-value')).to_have_text(value)
    assert status["plant"]["oee"] is not None

    # A scheduled break while running: BREAK in its own colour, until the break's end.
    for code in ("L1", "L4"):
        tile = page.locator(f'.tile[data-line="{code}"]')
        await expect(tile).to_have_attribute("data-look", "break")
        await expect(tile.locator(".band-state")).to_have_text("BREAK")
        await expect(tile.locator(".band-reason")).to_have_text("Until 10:30")
    # Every machine of the line offline: OFFLINE, grey.
    offline = page.locator('.tile[data-line="L3"]')
    await expect(offline).to_have_attribute("data-look", "offline")
    await expect(offline.locator(".band-state")).to_have_text("OFFLINE")
    await expect(offline.locator(".band-reason")).to_have_text("Machines offline")
    stopped = page.locator('.tile[data-line="L2"]')
    await expect(stopped.locator(".band-state")).to_have_text("STOPPED")
    colour = "el => getComputedStyle(el).backgroundColor"
    bands = {code: await page.locator(f'.tile[data-line="{code}"] .band').evaluate(colour)
             for code in ("L1", "L2", "L3")}
    assert len(set(bands.values())) == 3, bands  # break, breakdown and offline each their own colour
    # The tiles' figures are the server's.
    for item in status["items"]:
        tile = page.locator(f'.tile[data-line="{item["line"]}"]')
        await expect(tile.locator(".plan-good")).to_have_attribute("data-value", str(item["plan"]["good"]))
        await expect(tile.locator(".oee-main dd")).to_have_text(percent(item["oee"]["oee"]))
    assert await page.evaluate(LAYOUT) == []
    assert await legibility_problems(page, (1920, 1080)) == []
    assert await page.evaluate(CONTRAST) == []

    plant_time.set(f"{DAY}T10:40:00Z")  # the break is over: the board sees it at its next refresh
    assert (await api.post("/lines/L1/stops", {"reason": "changeover"}, role="user")).status == 201
    assert (await api.post("/lines/L1/stops/current/end", role="user")).status == 200
    await expect(page.locator('.tile[data-line="L1"]')).to_have_attribute("data-look",
                                                                          re.compile("^(running|slow)$"))


@pytest.mark.plant_clock(at=f"{DAY}T09:00:00Z")
async def test_between_shifts_each_tile_shows_the_last_shifts_result(browser, base_url, api, make,
                                                                     plant_time):
    plant = await hall(api, make, plant_time)
    assert (await api.post("/lines/L2/stops/current/end", role="user")).status == 200
    plant_time.set(f"{DAY}T15:30:00Z")  # the early shift ended at 14:00; no shift now
    status = (await api.get("/lines/status", role="user")).json["items"]
    page = await open_board(browser, base_url, plant["token"])
    for item in status:
        if item["state"] == "offline":
            continue
        assert item["state"] == "idle" and item["last_shift"]["name"] == "early", item
        last = item["last_shift"]
        tile = page.locator(f'.tile[data-line="{item["line"]}"]')
        await expect(tile).to_have_attribute("data-look", "idle")
        await expect(tile.locator(".last-label")).to_have_text("Last shift early")
        await expect(tile.locator(".last-shift .plan-good")).to_have_attribute("data-value",
                                                                              str(last["plan"]["good"]))
        await expect(tile.locator(".last-shift .plan-of")).to_have_text("/ 1,600")
        await expect(tile.locator(".oee-main dd")).to_have_text(percent(last["oee"]["oee"]))
        assert last["oee"]["oee"] is not None
    await expect(page.locator('.strip-cell[data-key="idle"] .strip-value')).to_have_text("3")
    assert await page.evaluate(LAYOUT) == []
    assert await legibility_problems(page, (1920, 1080)) == []
