"""/docs in headless Debian Chromium: sign in through Swagger UI, Authorize, Try it out on GET /products."""
from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import PASSWORDS

pytestmark = pytest.mark.sqlite_only  # the page does not depend on the database
async def try_it_out(page: Any, operation: str, body: dict[str, Any] | None = None) -> Any:
    """Open an operation, press Try it out (with `body`), Execute; return the live response row."""
    block = page.locator(f"#{operation}")
    await block.locator(".opblock-summary").first.click()
    await block.locator(".try-out__btn").click()
    if body is not None:
        await block.locator("textarea.body-param__text").fill(json.dumps(body))
    await block.locator(".execute").click()
    return block.locator(".live-responses-table .response")


async def test_sign_in_authorize_and_list_products_from_the_docs_page(browser: Any, base_url: str,
                                                                      make: Any) -> None:
    await make.product(sku="DOCS-1", name="Seen through Swagger")
    page = await browser.new_page()
    outside, problems = [], []
    page.on("request", lambda request: request.url.startswith(base_url) or outside.append(request.url))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(f"{base_url}/docs")
    await expect(page.locator(".information-container .title")).to_contain_text("Factory Management System")

    # Sign in through the page: POST /auth/login with the test user's credentials.
    login = await try_it_out(page, "operations-auth-post_login",
                             {"username": "test_user", "password": PASSWORDS["user"]})
    await expect(login.locator(".response-col_status")).to_have_text("200")
    answer = await login.locator(".response-col_description pre").first.inner_text()
    token = json.loads(answer)["access_token"]

    # Authorize with it, then Try it out on GET /products.
    await page.locator(".auth-wrapper .authorize").click()
    await page.locator(".auth-container input").fill(token)
    await page.locator(".auth-btn-wrapper .authorize").click()
    await page.locator(".auth-btn-wrapper .btn-done").click()
    products = await try_it_out(page, "operations-products-get_products")
    await expect(products.locator(".response-col_status")).to_have_text("200")
    await expect(products.locator(".response-col_description")).to_contain_text("Seen through Swagger")
    await expect(page.locator("#operations-products-get_products .request-url")).to_contain_text(
        f"{base_url}/products")
    assert outside == []  # offline: no CDN, no validator badge
    assert problems == []  # no CSP violation or script error


async def test_without_authorize_try_it_out_gets_the_documented_401(browser: Any, base_url: str) -> None:
    page = await browser.new_page()
    await page.goto(f"{base_url}/docs")
    products = await try_it_out(page, "operations-products-get_products")
    await expect(products.locator(".response-col_status")).to_have_text("401")
