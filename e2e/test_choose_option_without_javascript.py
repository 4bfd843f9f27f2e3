"""Without JavaScript: choose L and a quantity with the − / + steps, add, and the page comes back with
L and that quantity still chosen, so the next add is the same (not an S, not 1). With scripts the
steps change the field in place."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.shop import add_button, cart_contents, quantity_input

SHIRT = "/products/linen-shirt"


def test_the_option_and_quantity_survive_each_add_without_javascript(nojs_page: Page) -> None:
    page = nojs_page
    page.goto(SHIRT)
    page.get_by_role("radio", name=re.compile(r"^L\b")).check()
    # Without scripts a step is a link: it reloads the page with the quantity (and the option the page had).
    page.get_by_role("link", name="One more").click()
    expect(page).to_have_url(re.compile(r"quantity=2$"))
    expect(page.locator("#quantity")).to_have_value("2")
    page.get_by_role("radio", name=re.compile(r"^L\b")).check()

    add_button(page).click()
    expect(page.locator("#flash .alert-text")).to_have_text("Added 2 × Linen shirt (L) to your cart.")
    expect(page.get_by_role("radio", name=re.compile(r"^L\b"))).to_be_checked()
    expect(page.locator("#quantity")).to_have_value("2")

    add_button(page).click()
    expect(page.locator("#flash .alert-text")).to_have_text("Added 2 × Linen shirt (L) to your cart.")
    page.goto("/cart")
    expect(quantity_input(cart_contents(page), "Linen shirt (L)")).to_have_value("4")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)


def test_with_javascript_the_steps_change_the_field_in_place(page: Page) -> None:
    page.goto(SHIRT)
    page.get_by_role("radio", name=re.compile(r"^L\b")).check()
    page.get_by_role("link", name="One more").click()
    page.get_by_role("link", name="One more").click()
    expect(page.locator("#quantity")).to_have_value("3")
    expect(page).to_have_url(re.compile(r"/products/linen-shirt$"))
    expect(page.get_by_role("radio", name=re.compile(r"^L\b"))).to_be_checked()
    page.get_by_role("link", name="One fewer").click()
    expect(page.locator("#quantity")).to_have_value("2")
