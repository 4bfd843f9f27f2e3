"""A guest with JavaScript checks out: each step swaps in place (the address bar follows), the order is placed."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import BrowserProblems
from e2e.shop import (
    add_button,
    badge_count,
    delivery_method,
    drawer,
    expect_clean,
    expect_drawer_open,
    expect_placed_order_page,
    expect_same_document,
    fill_address,
    flashes,
    mark_document,
    new_email,
    place_order_button,
    quantity_input,
)

TEA_TIN = "Tea tin"  # €14.00, 60 in stock: the product the checkout journeys buy


def test_guest_checks_out_with_javascript(browser_problems: BrowserProblems, page: Page) -> None:
    email = new_email("guest")
    page.goto("/products/tea-tin")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    expect_drawer_open(page)
    expect(quantity_input(drawer(page), TEA_TIN)).to_have_value("1")

    drawer(page).get_by_role("link", name="Check out").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator("#checkout-contact [aria-current=step]")).to_have_text("Contact and address")
    mark_document(page)

    page.locator("#checkout-contact form").get_by_label("Email").fill(email)
    fill_address(page, name="Ada Lovelace", line1="Invalidenstraße 116", postcode="10115", city="Berlin", country="DE")
    page.get_by_role("button", name="Continue to delivery").click()
    expect(page).to_have_url(re.compile(r"/checkout/delivery$"))
    delivery = page.locator("#checkout-delivery")
    expect(delivery).to_contain_text("To Ada Lovelace, Invalidenstraße 116, 10115 Berlin, DE.")
    # The address also chose where to deliver: the header says so without a reload.
    expect(page.locator("#locality-deliver-to")).to_have_text("Deliver to DE 10115")
    expect(delivery.get_by_role("radio")).to_have_count(3)
    expect(delivery_method(page, "Standard delivery")).to_be_checked()
    delivery_method(page, "Express delivery").check()
    page.get_by_role("button", name="Continue to review").click()

    expect(page).to_have_url(re.compile(r"/checkout/review$"))
    summary = page.locator("#checkout-review table.order-summary")
    expect(summary.locator("tbody tr")).to_have_text([re.compile(r"^Tea tin\s*1\s*€14\.00\s*€14\.00$")])
    expect(summary.locator("tr.order-total td")).to_have_text("€23.90")
    expect(page.locator("#checkout-review")).to_contain_text(f"Confirmation to {email}.")
    expect(place_order_button(page)).to_have_text("Place order: pay €23.90 on delivery")
    expect_same_document(page)  # three steps, one page load: htmx swapped each step in
    expect_clean(page, browser_problems)

    place_order_button(page).click()
    number = expect_placed_order_page(page)
    expect(page.locator("#orders-order table.order-summary tr.order-total td")).to_have_text("€23.90")
    expect(page.locator("#orders-account-offer h2")).to_have_text("Keep track of this order")
    expect(page.locator("#orders-account-offer")).to_contain_text(f"Create an account with {email}")
    expect_clean(page, browser_problems)

    # The order page is the shopper's to come back to; the thanks were said once.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(flashes(page)).to_have_count(0)
    expect(badge_count(page)).to_have_text("0")
    page.locator("#cart-badge").click()
    expect_drawer_open(page)
    expect(drawer(page).locator("li.cart-line")).to_have_count(0)
    expect_clean(page, browser_problems)
