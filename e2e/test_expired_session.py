"""A shopper whose session is gone (cookie expired or cleared) gets a readable refusal, then carries on."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from e2e.shop import add_button, api_quantities, badge_count

EXPIRED = "Your session has expired or this form is out of date. Reload the page and try again."


def test_add_with_a_lost_session_is_refused_in_a_toast_then_works_after_reload(
    context: BrowserContext, page: Page
) -> None:
    page.goto("/products/test-1")
    expect(badge_count(page)).to_have_text("0")
    context.clear_cookies()

    with page.expect_response(lambda response: response.url.endswith("/cart/items")) as answered:
        add_button(page).click()
    assert answered.value.status == 403
    expect(page.locator("#toast .alert-text")).to_have_text(EXPIRED)
    expect(badge_count(page)).to_have_text("0")
    # The page keeps its content: the refusal arrives in the toast, not as a page inside the page.
    expect(page.locator("#catalog-add-form")).to_be_visible()
    expect(page.locator("h1")).to_have_count(1)
    assert len(context.cookies()) <= 1

    page.reload()
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    assert api_quantities(context.request) == {"test-1": 1}


def test_without_javascript_a_lost_session_gets_a_403_page(nojs_context: BrowserContext, nojs_page: Page) -> None:
    page = nojs_page
    page.goto("/products/test-2")
    nojs_context.clear_cookies()

    with page.expect_response(lambda response: response.url.endswith("/cart/items")) as answered:
        add_button(page).click()
    assert answered.value.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text(EXPIRED)

    page.goto("/products/test-2")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
