"""A form sent by htmx is busy while its request is in flight: its button is disabled (so a double
click sends once) and the form says aria-busy; both end with the answer."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from e2e.shop import add_button, api_quantities, badge_count, drawer, expect_drawer_open, quantity_input


def held(page: Page, pattern: str) -> list[Route]:
    """Requests matching `pattern` wait, listed, until the test lets them go (`route.continue_()`)."""
    waiting: list[Route] = []
    page.route(pattern, lambda route: waiting.append(route))
    return waiting


def let_go(waiting: list[Route]) -> None:
    for route in waiting:
        route.continue_()


def test_a_double_click_on_add_to_cart_adds_once_and_the_form_looks_busy_meanwhile(page: Page) -> None:
    page.goto("/products/test-1")
    sent = held(page, "**/cart/items")
    add_button(page).dblclick()
    form = page.locator("#catalog-add-form")
    expect(form).to_have_attribute("aria-busy", "true")
    expect(add_button(page)).to_be_disabled()
    let_go(sent)
    expect(badge_count(page)).to_have_text("1")
    expect_drawer_open(page)
    expect(form).not_to_have_attribute("aria-busy", "true")
    expect(add_button(page)).to_be_enabled()
    page.wait_for_timeout(300)  # a second request, had one been queued, would be on its way by now
    assert len(sent) == 1
    assert api_quantities(page.context.request) == {"test-1": 1}


def test_the_drawer_update_button_is_disabled_while_its_quantity_is_sent(page: Page) -> None:
    page.goto("/products/test-1")
    add_button(page).click()
    expect_drawer_open(page)
    sent = held(page, "**/cart/lines/*/quantity")
    quantity_input(drawer(page), "Test product 1").fill("2")
    update = drawer(page).get_by_role("button", name="Update the quantity of Test product 1")
    update.click()
    expect(update).to_be_disabled()
    let_go(sent)
    expect(badge_count(page)).to_have_text("2")
    assert len(sent) == 1
