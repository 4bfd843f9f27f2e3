"""Two tabs of one shopper: a change in one shows in the other when it becomes visible again."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from e2e.shop import (
    add_button,
    badge_count,
    cart_contents,
    close_drawer_with_escape,
    drawer,
    expect_drawer_open,
    quantity_input,
)

REFRESH_TIMEOUT_MS = 5_000


def show_again(page: Page) -> None:
    """What the shopper's switch back to a tab does. Headless tabs may all report 'visible' all along,
    so the event that shop.js listens to is dispatched as well."""
    page.bring_to_front()
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_badge_in_the_other_tab_agrees_once_it_is_visible(context: BrowserContext) -> None:
    tab_a = context.new_page()
    tab_b = context.new_page()
    tab_a.goto("/products/test-1")
    tab_b.goto("/products/test-2")
    expect(badge_count(tab_a)).to_have_text("0")
    expect(badge_count(tab_b)).to_have_text("0")

    tab_a.bring_to_front()
    add_button(tab_a).click()
    expect(badge_count(tab_a)).to_have_text("1")
    # Tab B still shows the page it loaded before the add.
    expect(badge_count(tab_b)).to_have_text("0")

    show_again(tab_b)
    expect(badge_count(tab_b)).to_have_text("1", timeout=REFRESH_TIMEOUT_MS)
    expect(quantity_input(drawer(tab_b), "Test product 1")).to_have_value("1", timeout=REFRESH_TIMEOUT_MS)

    # And back: an add in tab B reaches tab A's badge and drawer.
    add_button(tab_b).click()
    expect(badge_count(tab_b)).to_have_text("2")
    show_again(tab_a)
    expect(badge_count(tab_a)).to_have_text("2", timeout=REFRESH_TIMEOUT_MS)
    expect(quantity_input(drawer(tab_a), "Test product 2")).to_have_value("1", timeout=REFRESH_TIMEOUT_MS)


def test_open_drawer_stays_open_and_fresh_when_the_tab_is_shown_again(context: BrowserContext) -> None:
    tab_a = context.new_page()
    tab_b = context.new_page()
    tab_a.goto("/products/test-2")
    add_button(tab_a).click()
    expect(badge_count(tab_a)).to_have_text("1")
    expect_drawer_open(tab_a)

    tab_b.goto("/products/test-1")
    add_button(tab_b).click()
    expect(badge_count(tab_b)).to_have_text("2")

    show_again(tab_a)
    expect(badge_count(tab_a)).to_have_text("2", timeout=REFRESH_TIMEOUT_MS)
    expect(quantity_input(drawer(tab_a), "Test product 1")).to_have_value("1", timeout=REFRESH_TIMEOUT_MS)
    expect_drawer_open(tab_a)


def test_cart_page_in_the_other_tab_catches_up_once_it_is_visible(context: BrowserContext) -> None:
    """The cart page has no drawer: what it refreshes is its own list of lines, and the badge."""
    shop = context.new_page()
    cart = context.new_page()
    shop.goto("/products/test-1")
    add_button(shop).click()
    expect(badge_count(shop)).to_have_text("1")
    close_drawer_with_escape(shop)

    cart.goto("/cart")
    expect(drawer(cart)).to_have_count(0)
    expect(quantity_input(cart_contents(cart), "Test product 1")).to_have_value("1")

    shop.bring_to_front()
    add_button(shop).click()
    expect(badge_count(shop)).to_have_text("2")
    expect(badge_count(cart)).to_have_text("1")

    show_again(cart)
    expect(badge_count(cart)).to_have_text("2", timeout=REFRESH_TIMEOUT_MS)
    expect(quantity_input(cart_contents(cart), "Test product 1")).to_have_value("2", timeout=REFRESH_TIMEOUT_MS)
