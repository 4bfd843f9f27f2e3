"""A shopper with JavaScript adds a product twice from its page: badge, drawer and cart page agree."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.shop import (
    add_button,
    badge_count,
    cart_contents,
    drawer,
    expect_drawer_closed,
    expect_drawer_open,
    quantity_input,
    subtotal,
)

PRODUCT = "Test product 1"


def test_add_twice_then_badge_drawer_and_cart_page_show_two(page: Page) -> None:
    page.goto("/products/test-1")
    expect(badge_count(page)).to_have_text("0")
    expect_drawer_closed(page)

    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    expect_drawer_open(page)
    expect(quantity_input(drawer(page), PRODUCT)).to_have_value("1")

    # The drawer is modal: the shopper closes it (Escape) to reach the button again.
    page.keyboard.press("Escape")
    expect_drawer_closed(page)

    add_button(page).click()
    expect(badge_count(page)).to_have_text("2")
    expect_drawer_open(page)
    expect(quantity_input(drawer(page), PRODUCT)).to_have_value("2")
    expect(subtotal(drawer(page))).to_have_text("€10.00")
    expect(page.locator("#catalog-in-cart")).to_contain_text("2 of this in your cart")
    # htmx swapped fragments: the shopper never left the product page.
    expect(page).to_have_url(re.compile(r"/products/test-1$"))

    page.get_by_role("link", name="View cart").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(quantity_input(cart_contents(page), PRODUCT)).to_have_value("2")
    expect(badge_count(page)).to_have_text("2")

    page.reload()
    expect(quantity_input(cart_contents(page), PRODUCT)).to_have_value("2")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)
    expect(subtotal(cart_contents(page))).to_have_text("€10.00")
    expect(badge_count(page)).to_have_text("2")


def test_badge_opens_the_drawer_and_escape_closes_it(page: Page) -> None:
    page.goto("/products/test-2")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    expect_drawer_open(page)

    page.keyboard.press("Escape")
    expect_drawer_closed(page)

    # With scripts on, the badge opens the drawer instead of leaving the page.
    page.locator("#cart-badge").click()
    expect_drawer_open(page)
    expect(quantity_input(drawer(page), "Test product 2")).to_have_value("1")
    expect(page).to_have_url(re.compile(r"/products/test-2$"))

    page.keyboard.press("Escape")
    expect_drawer_closed(page)
