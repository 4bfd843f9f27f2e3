"""The same journey with JavaScript off: forms post, 303 back to the product page, a flash message."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.shop import add_button, badge_count, cart_contents, drawer, quantity_input, subtotal

PRODUCT = "Test product 2"


def add_and_expect_redirect_back(page: Page) -> None:
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        add_button(page).click()
    response = posted.value
    assert response.url.endswith("/cart/items"), response.url
    assert response.status == 303, f"the add answered {response.status}, not 303 See Other"
    # Back to the product's page with the option just added still chosen.
    assert re.fullmatch(r"/products/test-2\?variant=\d+", response.headers.get("location", "")), response.headers
    expect(page).to_have_url(re.compile(r"/products/test-2\?variant=\d+$"))


def test_add_twice_without_javascript_then_cart_page_shows_two(nojs_page: Page) -> None:
    page = nojs_page
    page.goto("/products/test-2")
    expect(badge_count(page)).to_have_text("0")

    add_and_expect_redirect_back(page)
    expect(page.locator("#flash .alert-text")).to_have_text("Added 1 × Test product 2 to your cart.")
    expect(badge_count(page)).to_have_text("1")

    add_and_expect_redirect_back(page)
    expect(page.locator("#flash .alert-text")).to_have_text("Added 1 × Test product 2 to your cart.")
    expect(badge_count(page)).to_have_text("2")
    expect(page.locator("#catalog-in-cart")).to_contain_text("2 of this in your cart")
    # No script opens the drawer: it stays a closed dialog.
    expect(drawer(page)).to_be_hidden()

    # Post/Redirect/Get: a reload re-reads the page, it neither re-posts nor shows the flash again.
    page.reload()
    expect(page.locator("#flash .alert-text")).to_have_count(0)
    expect(badge_count(page)).to_have_text("2")

    # Without scripts the badge is a plain link to the cart page.
    page.locator("#cart-badge").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(quantity_input(cart_contents(page), PRODUCT)).to_have_value("2")
    expect(subtotal(cart_contents(page))).to_have_text("€15.00")
    expect(badge_count(page)).to_have_text("2")

    page.reload()
    expect(quantity_input(cart_contents(page), PRODUCT)).to_have_value("2")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)
    expect(badge_count(page)).to_have_text("2")


def test_edit_and_remove_on_the_cart_page_without_javascript(nojs_page: Page) -> None:
    page = nojs_page
    page.goto("/products/test-1")
    add_button(page).click()
    page.goto("/products/test-2")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("2")

    page.goto("/cart")
    quantity_input(cart_contents(page), "Test product 1").fill("4")
    cart_contents(page).locator("li.cart-line").filter(has_text="Test product 1").get_by_role(
        "button", name="Update"
    ).click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator("#flash .alert-text")).to_have_text("Test product 1: quantity set to 4.")
    expect(quantity_input(cart_contents(page), "Test product 1")).to_have_value("4")
    expect(subtotal(cart_contents(page))).to_have_text("€27.50")
    expect(badge_count(page)).to_have_text("5")

    cart_contents(page).get_by_role("button", name="Remove Test product 2").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.locator("#flash .alert-text")).to_have_text("Removed Test product 2 from your cart.")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)
    expect(subtotal(cart_contents(page))).to_have_text("€20.00")
    expect(badge_count(page)).to_have_text("4")
