"""Stock shows on the product page and caps what the cart can hold."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from e2e.shop import add_button, api_quantities, badge_count, cart_contents, close_drawer_with_escape, quantity_input


def test_last_unit_can_be_added_once(context: BrowserContext, page: Page) -> None:
    page.goto("/products/cotton-cap")
    expect(page.locator(".stock")).to_have_text("Only 1 left")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    close_drawer_with_escape(page)

    add_button(page).click()
    expect(page.locator("#catalog-add-status")).to_contain_text("You already have the most we can sell of Cotton cap")
    expect(badge_count(page)).to_have_text("1")
    assert api_quantities(context.request) == {"cotton-cap": 1}


def test_sold_out_product_and_option_cannot_be_chosen(page: Page) -> None:
    page.goto("/products/silk-scarf")
    expect(page.locator("#catalog-product .stock-line")).to_have_text("Sold out")
    expect(page.get_by_text("sold out", exact=False)).to_have_count(1)  # said once
    expect(add_button(page)).to_have_count(0)

    page.goto("/products/linen-shirt")
    expect(page.get_by_role("radio", name=re.compile(r"^XL\b"))).to_be_disabled()
    expect(page.get_by_role("radio", name=re.compile(r"^L\b"))).to_be_enabled()


def test_cart_page_clamps_a_quantity_to_the_stock(context: BrowserContext, page: Page) -> None:
    page.goto("/products/linen-shirt")
    page.get_by_role("radio", name=re.compile(r"^L\b")).check()
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")

    page.goto("/cart")
    quantity = quantity_input(cart_contents(page), "Linen shirt (L)")
    quantity.fill("9")
    quantity.press("Tab")
    expect(page.locator("#toast .alert-text")).to_have_text(
        "Only 7 of Linen shirt (L) can be bought: quantity set to 7."
    )
    expect(quantity_input(cart_contents(page), "Linen shirt (L)")).to_have_value("7")
    expect(badge_count(page)).to_have_text("7")
    assert api_quantities(context.request) == {"linen-shirt": 7}
