"""Going back shows the cart as it is now, not a snapshot from before the last change."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.shop import add_button, badge_count, cart_contents, quantity_input


def test_back_to_the_product_page_after_editing_the_cart(page: Page) -> None:
    page.goto("/products/test-2")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")

    page.get_by_role("link", name="View cart").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    quantity = quantity_input(cart_contents(page), "Test product 2")
    quantity.fill("3")
    quantity.press("Tab")
    expect(badge_count(page)).to_have_text("3")

    page.go_back()
    expect(page).to_have_url(re.compile(r"/products/test-2$"))
    expect(badge_count(page)).to_have_text("3")
    expect(page.locator("#catalog-in-cart")).to_contain_text("3 of this in your cart")
