"""/dashboard in headless Debian Chromium: sign in by hand, watch production arrive live, resume after a drop.

The wall screen's own behaviour (kiosk link, fit, stops, stale banner) is in test_wall_display.py."""
from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import expect

from tests.conftest import PASSWORDS


async def record(api, product, employee, produced, defective=0, line="L1"):
    response = await api.post("/production", {
        "product_id": product["id"], "employee_id": employee["id"], "quantity_produced": produced,
        "quantity_defective": defective, "date_produced": datetime.now(UTC).date().isoformat(),
        "line": line}, role="user")
    assert response.status == 201, response
    return response.json


async def test_signed_in_screen_shows_production_as_it_is_recorded_and_after_a_drop(
        browser, base_url, api, make, app):
    product, employee = await make.product(name="Gearbox", reorder_level=5), await make.employee()
    await make.line("L1")
    page = await browser.new_page()
    await page.goto(f"{base_url}/dashboard")
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "signed-out")
    await page.fill("#username", "test_user")
    await page.fill("#password", PASSWORDS["user"])
    await page.click("#signin-submit")
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    await expect(page.locator("#units-today-total")).to_have_text("0")
    await expect(page.locator("#signout")).to_be_visible()  # a person at a desk signs out

    await record(api, product, employee, produced=1212, defective=2)
    await expect(page.locator("#units-today-total")).to_have_text("1,210")
    await expect(page.locator(f'#by-product .row[data-product-id="{product["id"]}"]')).to_have_attribute(
        "data-good", "1210")
    await expect(page.locator("#low-count")).to_be_hidden()

    # The server drops every link; the page reconnects by itself and resumes with `since`.
    app.ctx.live_feed.close_all(1012, "restarting")
    await record(api, product, employee, produced=5)
    await expect(page.locator("#units-today-total")).to_have_text("1,215")
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    last_id = (await api.get("/dashboard/state", role="user")).json["last_event_id"]
    await expect(page.locator("body")).to_have_attribute("data-last-event-id", str(last_id))


async def test_a_wall_screen_signs_in_with_a_display_token(browser, base_url, api, make):
    page = await browser.new_page()
    minted = await api.post("/auth/display-tokens", {"label": "Hall 3"}, role="admin")
    product, employee = await make.product(), await make.employee()
    await make.line("L1")
    await record(api, product, employee, produced=7)
    await page.goto(f"{base_url}/dashboard")
    await page.fill("#display-token", minted.json["token"])
    await page.click("#display-token-submit")
    await expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
    await expect(page.locator("#units-today-total")).to_have_text("7")
    await expect(page.locator("#signout")).to_be_hidden()  # a wall screen has no sign-out
    await record(api, product, employee, produced=3)
    await expect(page.locator("#units-today-total")).to_have_text("10")
