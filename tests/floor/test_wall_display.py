"""The wall display (/dashboard) in headless Debian Chromium: fits every screen, the kiosk link, live stops,
the plant's day, and the stale banner when the server stops answering (a paused `python server.py`)."""
from __future__ import annotations

import os
import re
import signal
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import async_playwright, expect

from tests.conftest import BROWSER_WAIT_MS, CHROMIUM, CHROMIUM_ARGS, PASSWORDS, Api, skip_unless_available
from tests.servers import ServerProcess, server_env

VIEWPORTS = [(1920, 1080), (1280, 720), (1280, 800), (3840, 2160)]
# Screenshots outlive pytest's rotating tmp folders (the machine's other runs would sweep them away).
ARTEFACTS = Path(os.environ.get("FACTORY_TEST_ARTEFACTS")
                 or Path(tempfile.gettempdir()) / "factory-test-artefacts")
LINE_NAMES = ["Assembly 1", "Assembly 2", "Paint shop", "Welding robots", "Packaging", "CNC milling",
              "Injection moulding", "Final inspection"]

# Measured in the page: the document against the viewport, every tile and list row inside the screen
# and inside its box, and the root size against the viewport (4K gets twice the text of 1080p).
FIT = """() => {
  const de = document.documentElement;
  const problems = [];
  const outside = (el, box) => {
    const r = el.getBoundingClientRect();
    return r.bottom > box.bottom + 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5;
  };
  const screen = {top: 0, bottom: innerHeight, right: innerWidth};
  for (const el of document.querySelectorAll(".topbar, .card, .tile, .row")) {
    if (outside(el, screen)) problems.push(`${el.className} ${el.textContent.slice(0, 40)} is off screen`);
  }
  for (const tile of document.querySelectorAll(".tile")) {
    if (tile.scrollHeight > tile.clientHeight + 1 || tile.scrollWidth > tile.clientWidth + 1) {
      problems.push(`tile ${tile.dataset.line} overflows`);
    }
  }
  for (const list of document.querySelectorAll(".rows")) {
    for (const row of list.children) {
      if (outside(row, list.getBoundingClientRect())) problems.push(`row ${row.textContent} is cut off`);
    }
  }
  for (const el of document.querySelectorAll("body, .tile-name, .row-name")) {
    const style = getComputedStyle(el);
    if (style.wordBreak !== "normal" || !["normal", "break-word"].includes(style.overflowWrap)
        && style.whiteSpace !== "nowrap") problems.push(`${el.className} may break words`);
  }
  return {height: de.scrollHeight, width: de.scrollWidth, problems,
          rootPx: parseFloat(getComputedStyle(de).fontSize), innerWidth, innerHeight};
}"""

# WCAG contrast of every visible text against the background behind it.
CONTRAST = """() => {
  const channels = (css) => css.match(/[\\d.]+/g).map(Number);
  const luminance = (css) => {
    const [r, g, b] = channels(css).slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const css = getComputedStyle(node).backgroundColor;
      const c = channels(css);
      if (c.length === 3 || c[3] > 0.5) return css;
    }
    return "rgb(0, 0, 0)";
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.closest(".visually-hidden")) continue;
    const [a, b] = [luminance(getComputedStyle(el).color), luminance(background(el))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const what = `${el.className || el.tagName} "${el.textContent.trim().slice(0, 30)}"`;
    if (ratio < 4.5) low.push(`${what} ${ratio.toFixed(2)}`);
  }
  return low;
}"""


PRIMARY = ".band-state, .band-timer, .plan-good, .plan-of, .oee-main dd"

# The computed font size of every visible text on the board, and whether it is a primary figure.
FONT_SIZES = """(primary) => [...document.body.querySelectorAll("*")].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !el.closest(".visually-hidden, .tile-probe")
      && [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  }).map((el) => [parseFloat(getComputedStyle(el).fontSize), el.matches(primary),
                  `${el.className || el.tagName} "${el.textContent.trim().slice(0, 30)}"`])"""


async def legibility_problems(page, size) -> list[str]:
    """Texts under the floors at 4 m on a 55-inch 1080p TV: every text 31 px and the primary figures
    52 px at 1920x1080, twice that at 3840x2160, and the same share of the screen at any other size
    (1.55 and 2.6 times the root size, which follows the screen)."""
    root = await page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    scale = min(size[0] / 1920, size[1] / 1080)
    assert abs(root - 20 * scale) < 0.05, root  # 20 px at 1080p, 40 px at 4K
    floor, primary_floor = 31 * scale, 52 * scale
    sizes = await page.evaluate(FONT_SIZES, PRIMARY)
    assert sum(1 for _, primary, _ in sizes if primary) >= 3, sizes
    return [f"{what}: {px} px" for px, primary, what in sizes
            if px < (primary_floor if primary else floor) - 0.05]


# Polled in the page (a function, not a string: the page's CSP forbids eval).
STATE_IS = "([line, state]) => document.querySelector(`.tile[data-line='${line}']`)?.dataset.state === state"


@pytest.fixture
def chromium(io_loop):
    """Chromium without an in-process server (conftest's `browser` brings one): for a real server.py."""
    skip_unless_available(os.path.exists(CHROMIUM), f"browser tests need Debian's chromium at {CHROMIUM}")

    async def launch():
        playwright = await async_playwright().start()
        return playwright, await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    playwright, browser = io_loop.run_sync(launch)
    expect.set_options(timeout=BROWSER_WAIT_MS)
    yield browser
    io_loop.run_sync(browser.close)
    io_loop.run_sync(playwright.stop)


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


async def seed_plant(api: Api, zone: ZoneInfo = ZoneInfo("UTC")) -> dict:
    """8 lines in a shift that is running now, each with a plan and production; 12 products, 3 of them low."""
    local = datetime.now(UTC).astimezone(zone)
    start = (local - timedelta(hours=3)).replace(second=0, microsecond=0)
    shift = {"name": "early", "starts_at": hhmm(start), "ends_at": hhmm(start + timedelta(hours=8)),
             "break_minutes": 30}
    assert (await api.post("/shifts", shift, role="admin")).status == 201
    day = start.date().isoformat()
    products = []
    for n in range(12):
        low = n >= 9  # never made today, so nothing tops them up
        products.append(await api.create("products", {
            "sku": f"WALL-{n:02d}", "name": f"Gear housing type {n + 1}", "price": "12.50",
            "stock_quantity": 2 if low else 500, "reorder_level": 20, "ideal_cycle_seconds": "6"}))
    employee = await api.create("employees", {"name": "Ada Operator", "position": "Operator",
                                              "email": "ada@example.com", "phone": "+4940123456"})
    for n, name in enumerate(LINE_NAMES):
        code = f"L{n + 1}"
        assert (await api.post("/lines", {"code": code, "name": name}, role="admin")).status == 201
        product = products[n]
        order = await api.create("work-orders", {"product_id": product["id"], "line": code, "shift": "early",
                                                 "date": day, "planned_quantity": 1200 + 150 * n})
        made = int(order["planned_quantity"] * 3 / 8 * (0.86 if n % 3 == 1 else 1.12))  # 3 h of 8
        for produced in (made // 2, made - made // 2):
            response = await api.post("/production", {
                "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": produced,
                "quantity_defective": n % 3, "date_produced": day, "line": code, "shift": "early",
                "work_order_id": order["id"]}, role="user")
            assert response.status == 201, response
    for product in products[8:9]:  # made on no line: still part of the plant's production day
        response = await api.post("/production", {
            "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": 1500,
            "date_produced": day}, role="user")
        assert response.status == 201, response
    customer = await api.create("customers", {"name": "Harbour Cranes Ltd", "email": "buy@example.com",
                                              "phone": "+4940654321"})
    for n in range(4):  # four placed today, two of them shipped
        order = await api.create("orders", {"customer_id": customer["id"],
                                            "items": [{"product_id": products[4 + n]["id"], "quantity": 40}]})
        for status in ("confirmed", "in_production", "shipped")[:3 if n < 2 else 1]:
            assert (await api.patch(f"/orders/{order['id']}", {"status": status}, role="admin")).status == 200
    assert (await api.post("/lines/L2/stops", {"reason": "breakdown"}, role="user")).status == 201
    token = (await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")).json["token"]
    return {"token": token, "products": products}


async def open_board(browser, base_url: str, token: str, fragment: str = "", viewport=(1920, 1080),
                     **context):
    page = await (await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                            **context)).new_page()
    await page.goto(f"{base_url}/dashboard#token={token}{fragment}")
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    return page


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
async def test_the_board_fits_the_screen_with_8_lines_and_12_products(browser, base_url, api, viewport,
                                                                      database_url):
    plant = await seed_plant(api)
    page = await open_board(browser, base_url, plant["token"], viewport=viewport)
    await expect(page.locator('.tile[data-line="L2"]')).to_have_attribute("data-state", "stopped")
    await expect(page.locator("#by-product .row").first).to_be_visible()
    # As many tiles as fit at the legibility floors (test_board_browser.py); the rest rotate in pages.
    per_page = int(await page.locator("#lines").get_attribute("data-per-page"))
    await expect(page.locator("#lines .tile")).to_have_count(min(8, per_page))
    if per_page < 8:
        await expect(page.locator("#lines-pager")).to_have_text(re.compile(r"^page 1 of \d$"))

    fit = await page.evaluate(FIT)
    assert fit["height"] <= viewport[1] and fit["width"] <= viewport[0], fit
    assert fit["problems"] == []
    assert await legibility_problems(page, viewport) == []  # the side column's lists too
    # Text grows with the screen: the root size is the same share of every 16:9 screen.
    assert fit["rootPx"] >= min(viewport[0] / 96, viewport[1] / 54) - 0.1, fit
    assert await page.evaluate(CONTRAST) == []

    # Nine products made today: those that do not fit rotate in pages, never overflow.
    shown = await page.locator("#by-product .row").count()
    assert 1 <= shown <= 9
    if shown < 9:
        pages = -(-9 // shown)
        await expect(page.locator("#by-product-pager")).to_have_text(re.compile(f"^page \\d of {pages}$"))
    # Thousands separators: 1,500 good units of the product made on no line.
    await expect(page.locator(f'#by-product .row[data-product-id="{plant["products"][8]["id"]}"] .row-figure')
                 ).to_have_text("1,500")
    await expect(page.locator("#low-count")).to_have_text("3")
    for figure, value in (("shipped", "2"), ("placed", "4"), ("open", "2")):
        await expect(page.locator(f"#orders-{figure}")).to_have_text(value)
    for pace in await page.locator(".tile .pace").all_text_contents():
        assert re.fullmatch(r"\+[\d,]+ ahead|−[\d,]+ behind|on plan", pace), pace

    backend = "sqlite" if database_url.startswith("sqlite") else "mariadb"
    shot = ARTEFACTS / f"wall-{viewport[0]}x{viewport[1]}-{backend}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shot))
    print(f"screenshot: {shot}")


async def test_more_lines_than_fit_rotate_in_pages(browser, base_url, api):
    token = (await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")).json["token"]
    for n in range(1, 11):
        await api.create("lines", {"code": f"L{n:02d}", "name": f"Line {n}"})
    page = await open_board(browser, base_url, token)
    await expect(page.locator(".tile")).to_have_count(8)
    await expect(page.locator("#lines-pager")).to_have_text("page 1 of 2")
    fit = await page.evaluate(FIT)
    assert fit["height"] <= 1080 and fit["problems"] == [], fit


async def test_the_kiosk_link_signs_in_without_a_keystroke_and_shows_only_its_lines(browser, base_url, api):
    plant = await seed_plant(api)
    page = await open_board(browser, base_url, plant["token"], "&line=L1,L2&view=lines")
    await expect(page.locator(".tile")).to_have_count(2)
    assert await page.locator(".tile").evaluate_all("tiles => tiles.map(t => t.dataset.line)") == ["L1", "L2"]
    await expect(page.locator("#signout")).to_be_hidden()
    await expect(page.locator("#signin-view")).to_be_hidden()
    await expect(page.locator(".side")).to_be_hidden()
    # One live region, for stops and starts; the connection state is not announced.
    live = "[aria-live], [role=status], [role=alert], [role=log]"
    assert await page.evaluate(f"[...document.querySelectorAll('{live}')].map(n => n.id)") == ["announcer"]
    # The token left the address bar (and history); the screen keeps it for reloads.
    assert plant["token"] not in page.url
    assert page.url.endswith("/dashboard#line=L1%2CL2&view=lines"), page.url
    assert await page.evaluate("localStorage.getItem('factory.dashboard.displayToken')") == plant["token"]
    await page.reload()
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    await expect(page.locator(".tile")).to_have_count(2)
    await expect(page.locator("#signout")).to_be_hidden()


async def test_a_stop_posted_over_http_shows_on_its_line_within_a_second(browser, base_url, api):
    plant = await seed_plant(api)
    page = await open_board(browser, base_url, plant["token"], "&line=L2,L5")
    tile = page.locator('.tile[data-line="L5"]')
    await expect(tile).to_have_attribute("data-state", "running")

    assert (await api.post("/lines/L5/stops", {"reason": "no_material"}, role="user")).status == 201
    await page.wait_for_function(STATE_IS, arg=["L5", "stopped"], timeout=1000)
    await expect(tile.locator(".band-reason")).to_have_text("No material")
    await expect(tile.locator(".band-timer")).to_have_text(re.compile(r"^00:0\d$"))
    await expect(page.locator("#announcer")).to_have_text("Line L5, Packaging stopped: No material.")

    assert (await api.post("/lines/L5/stops/current/end", role="user")).status == 200
    await page.wait_for_function(STATE_IS, arg=["L5", "running"], timeout=1000)
    await expect(page.locator("#announcer")).to_have_text("Line L5, Packaging running again.")

    # A stop that has lasted over an hour (corrected by an admin) still fits its tile.
    stop = (await api.get("/stops?line=L2&open=true", role="user")).json["items"][0]
    started = (datetime.now(UTC) - timedelta(hours=1, minutes=23)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await api.patch(f"/stops/{stop['id']}", {"started_at": started}, role="admin")).status == 200
    timer = page.locator('.tile[data-line="L2"] .band-timer')
    await expect(timer).to_have_text(re.compile(r"^1:2[34]:\d\d$"))
    assert (await page.evaluate(FIT))["problems"] == []


async def test_production_on_a_line_moves_its_tile_live(browser, base_url, api):
    plant = await seed_plant(api)
    page = await open_board(browser, base_url, plant["token"], "&line=L4")
    good = page.locator('.tile[data-line="L4"] .plan-good')
    before = int(await good.get_attribute("data-value"))
    order = (await api.get("/work-orders?line=L4", role="user")).json["items"][0]
    employee = (await api.get("/employees", role="admin")).json["items"][0]
    response = await api.post("/production", {
        "product_id": order["product_id"], "employee_id": employee["id"], "quantity_produced": 1000,
        "date_produced": order["date"], "line": "L4", "shift": "early", "work_order_id": order["id"]},
        role="user")
    assert response.status == 201, response
    await expect(good).to_have_attribute("data-value", str(before + 1000))
    await expect(good).to_have_text(f"{before + 1000:,}")
    await expect(page.locator('.tile[data-line="L4"] .pace')).to_have_attribute("data-pace", "ahead")


def zone_on_another_day() -> tuple[str, str]:
    """A zone whose date differs from UTC's right now (one of UTC+14 / UTC-12 always does)."""
    now = datetime.now(UTC)
    for name in ("Pacific/Kiritimati", "Etc/GMT+12"):
        if now.astimezone(ZoneInfo(name)).date() != now.date():
            return name, now.astimezone(ZoneInfo(name)).date().isoformat()
    raise AssertionError("UTC+14 and UTC-12 cannot both share UTC's date")


PLANT_ZONE, PLANT_DAY = zone_on_another_day()


@pytest.mark.settings(timezone=PLANT_ZONE)
async def test_the_plant_day_and_clock_are_the_servers_not_the_browsers(browser, base_url, api):
    token = (await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")).json["token"]
    page = await open_board(browser, base_url, token, timezone_id="UTC")  # the browser's day is UTC's
    day = page.locator("#plant-day")
    await expect(day).to_have_attribute("data-date", PLANT_DAY)
    await expect(day).to_have_attribute("data-timezone", PLANT_ZONE)
    shown = (await page.locator("#clock").text_content())[:5]
    now = datetime.now(ZoneInfo(PLANT_ZONE))
    assert shown in {hhmm(now - timedelta(minutes=1)), hhmm(now)}, (shown, now)


async def test_the_stale_banner_shows_when_the_server_is_paused_and_goes_when_it_resumes(chromium, tmp_path):
    server = ServerProcess(tmp_path, server_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'factory.db'}"))
    api = None
    try:
        await server.wait_ready()
        api = Api(server.base_url)
        admin = (await api.login("admin", PASSWORDS["super_admin"])).json["access_token"]
        token = (await api.post("/auth/display-tokens", {"label": "Hall 3"}, token=admin)).json["token"]
        page = await open_board(chromium, server.base_url, token)
        banner = page.locator("#stale-banner")
        await expect(banner).to_be_hidden()

        server.proc.send_signal(signal.SIGSTOP)  # a hung server or a dead link: no close, no answer
        await expect(banner).to_be_visible(timeout=20_000)
        await expect(banner).to_have_text(re.compile(r"^Connection lost — figures from \d\d:\d\d:\d\d$"))
        await expect(page.locator("#announcer")).to_have_text("")  # nothing to hear but stops and starts
        await expect(page.locator("body")).to_have_class("on-board stale")
        assert float(await page.evaluate("getComputedStyle(document.querySelector('.board')).opacity")) < 1

        server.proc.send_signal(signal.SIGCONT)
        await expect(banner).to_be_hidden(timeout=5_000)
        await expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    finally:
        server.proc.send_signal(signal.SIGCONT)
        if api is not None:
            api.client.close()
        server.stop()
