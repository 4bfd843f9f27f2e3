"""Editing the cart with JavaScript: htmx swaps the edited part, the badge and the drawer (the cart
page's contents on the cart page) in place."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from e2e.shop import (
    add_button,
    api_add,
    api_quantities,
    badge_count,
    cart_contents,
    drawer,
    expect_drawer_closed,
    expect_drawer_open,
    line,
    quantity_input,
    subtotal,
)


def test_change_quantity_on_the_cart_page_updates_subtotal_and_badge(context: BrowserContext, page: Page) -> None:
    api_add(context.request, "test-1")
    api_add(context.request, "test-2")
    page.goto("/cart")
    expect(badge_count(page)).to_have_text("2")
    expect(subtotal(cart_contents(page))).to_have_text("€12.50")

    quantity = quantity_input(cart_contents(page), "Test product 1")
    quantity.fill("3")
    with page.expect_response(re.compile(r"/cart/lines/\d+/quantity$")) as answered:
        quantity.press("Tab")  # leaving the field fires `change`: the form submits itself
    assert answered.value.status == 200
    assert answered.value.request.headers.get("hx-request") == "true"

    expect(subtotal(cart_contents(page))).to_have_text("€22.50")
    expect(cart_contents(page).locator(".subtotal")).to_contain_text("(4 items)")
    expect(line(cart_contents(page), "Test product 1").locator(".line-total")).to_have_text("€15.00")
    expect(badge_count(page)).to_have_text("4")
    expect(drawer(page)).to_have_count(0)  # the cart page is the cart: it has no drawer
    expect(page.locator("#toast .alert-text")).to_have_text("Test product 1: quantity set to 3.")
    expect(page).to_have_url(re.compile(r"/cart$"))
    assert api_quantities(context.request) == {"test-1": 3, "test-2": 1}

    page.reload()
    expect(quantity_input(cart_contents(page), "Test product 1")).to_have_value("3")
    expect(badge_count(page)).to_have_text("4")


def test_remove_a_line_on_the_cart_page_updates_the_lines_and_badge(context: BrowserContext, page: Page) -> None:
    api_add(context.request, "test-1", 2)
    api_add(context.request, "test-2", 3)
    page.goto("/cart")
    expect(badge_count(page)).to_have_text("5")

    cart_contents(page).get_by_role("button", name="Remove Test product 2").click()
    expect(line(cart_contents(page), "Test product 2")).to_have_count(0)
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)
    expect(badge_count(page)).to_have_text("2")
    expect(subtotal(cart_contents(page))).to_have_text("€10.00")
    expect(quantity_input(cart_contents(page), "Test product 1")).to_have_value("2")
    expect(page).to_have_url(re.compile(r"/cart$"))

    cart_contents(page).get_by_role("button", name="Remove Test product 1").click()
    expect(badge_count(page)).to_have_text("0")
    expect(cart_contents(page).locator(".empty")).to_contain_text("Your cart is empty.")
    assert api_quantities(context.request) == {}


def test_quantity_zero_on_the_cart_page_removes_the_line(context: BrowserContext, page: Page) -> None:
    api_add(context.request, "test-2", 2)
    api_add(context.request, "test-1", 1)
    page.goto("/cart")
    quantity = quantity_input(cart_contents(page), "Test product 2")
    quantity.fill("0")
    quantity.press("Enter")  # Enter submits too
    expect(line(cart_contents(page), "Test product 2")).to_have_count(0)
    expect(badge_count(page)).to_have_text("1")
    expect(page.locator("#toast .alert-text")).to_have_text("Removed Test product 2 from your cart.")


def test_edit_inside_the_open_drawer_keeps_it_open(page: Page) -> None:
    page.goto("/products/test-1")
    add_button(page).click()
    expect_drawer_open(page)

    quantity = quantity_input(drawer(page), "Test product 1")
    quantity.fill("3")
    quantity.press("Enter")
    expect(badge_count(page)).to_have_text("3")
    expect(quantity_input(drawer(page), "Test product 1")).to_have_value("3")
    expect(subtotal(drawer(page))).to_have_text("€15.00")
    # The shopper is still looking at the drawer they were editing, which says what the edit did:
    # the page's own message region is behind the dialog's backdrop.
    expect_drawer_open(page)
    expect(drawer(page).locator("#cart-drawer-status .alert-text")).to_have_text("Test product 1: quantity set to 3.")
    expect(page.locator("#toast .alert")).to_have_count(0)

    drawer(page).get_by_role("button", name="Remove Test product 1").click()
    expect(badge_count(page)).to_have_text("0")
    expect(drawer(page).locator(".empty")).to_have_text("Your cart is empty.")
    expect_drawer_open(page)

    page.keyboard.press("Escape")
    expect_drawer_closed(page)


def test_edit_in_the_drawer_refreshes_the_count_on_the_product_page(page: Page) -> None:
    page.goto("/products/test-2")
    add_button(page).click()
    expect(page.locator("#catalog-add-status")).to_contain_text("Added 1 × Test product 2")
    expect(page.locator("#catalog-in-cart")).to_have_text("1 of this in your cart")

    quantity = quantity_input(drawer(page), "Test product 2")
    quantity.fill("3")
    quantity.press("Enter")
    expect(badge_count(page)).to_have_text("3")
    expect(page.locator("#catalog-in-cart")).to_have_text("3 of this in your cart")
    expect(page.locator("#catalog-add-status")).not_to_contain_text("in your cart")
