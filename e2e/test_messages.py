"""Messages (templates/partials/alert.html): in the fixed region, they go by themselves after six
seconds unless the pointer or the focus is on them, errors stay, and closing one keeps the focus
on the page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.shop import api_add, badge_count

SIX_SECONDS = 6_000


def added_from_the_cart_page(page: Page) -> None:
    """An edit on the cart page: its message arrives in the page's region (#toast)."""
    api_add(page.context.request, "test-1", 1)
    page.goto("/cart")
    quantity = page.locator("#cart-contents input[name=quantity]").first
    quantity.fill("2")
    quantity.press("Enter")
    expect(badge_count(page)).to_have_text("2")
    expect(page.locator("#toast .alert-text")).to_have_text("Test product 1: quantity set to 2.")


def test_a_message_goes_after_six_seconds_but_not_while_hovered_or_focused(page: Page) -> None:
    page.clock.install()
    added_from_the_cart_page(page)
    alert = page.locator("#toast .alert")
    alert.hover()
    page.clock.run_for(SIX_SECONDS * 2)
    expect(alert).to_have_count(1)
    alert.get_by_role("button", name="Dismiss this message").focus()
    page.mouse.move(0, 0)  # the pointer leaves; the focus is still on it
    page.clock.run_for(SIX_SECONDS * 2)
    expect(alert).to_have_count(1)
    page.locator("#cart-contents input[name=quantity]").first.focus()  # and now the focus leaves too
    page.clock.run_for(SIX_SECONDS + 500)
    expect(alert).to_have_count(0)


def test_closing_a_message_keeps_the_focus_on_the_page(page: Page) -> None:
    added_from_the_cart_page(page)
    close = page.locator("#toast .alert").get_by_role("button", name="Dismiss this message")
    close.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#toast .alert")).to_have_count(0)
    assert page.evaluate("document.activeElement.id") == "main"


def test_an_error_stays_until_dismissed(page: Page) -> None:
    page.clock.install()
    api_add(page.context.request, "test-1", 1)
    page.goto("/cart")
    # A form out of date (as after the session expired): the edit is refused with an error.
    page.evaluate("document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRF-Token': 'stale'}))")
    page.locator("#cart-contents input[name=csrf_token]").first.evaluate("field => field.value = 'stale'")
    quantity = page.locator("#cart-contents input[name=quantity]").first
    quantity.fill("2")
    quantity.press("Enter")
    error = page.locator("#toast .alert-error")
    expect(error).to_have_count(1)
    page.clock.run_for(SIX_SECONDS * 3)
    expect(error).to_have_count(1)
    error.get_by_role("button", name="Dismiss this message").click()
    expect(error).to_have_count(0)
