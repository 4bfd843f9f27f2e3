"""A logged-in shopper checks out, then finds the order under "My orders" and opens it."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import BrowserProblems
from e2e.shop import (
    api_add,
    cart_contents,
    delivery_method,
    expect_clean,
    expect_placed_order_page,
    fill_address,
    new_email,
    new_password,
    place_order_button,
    register,
    submit_login,
    user_nav,
)


def test_logged_in_shopper_sees_the_order_in_my_orders(
    browser_problems: BrowserProblems, context: BrowserContext, page: Page
) -> None:
    email, password = new_email("orders"), new_password()
    register(page, email, password, "Grace")
    submit_login(page, email, password)
    expect(user_nav(page).get_by_role("link", name="Grace", exact=True)).to_be_visible()
    api_add(context.request, "tea-tin", 2)

    page.goto("/cart")
    cart_contents(page).get_by_role("link", name="Check out").click()
    contact = page.locator("#checkout-contact form")
    expect(contact.get_by_label("Email")).to_have_value(email)  # the account's address, ready
    fill_address(page, name="Grace Hopper", line1="Unter den Linden 5", postcode="10117", city="Berlin", country="DE")
    expect(contact.get_by_label("Save this address to my account")).to_be_checked()
    page.get_by_role("button", name="Continue to delivery").click()
    delivery_method(page, "Pick up at our Berlin shop").check()
    page.get_by_role("button", name="Continue to review").click()
    expect(page.locator("#checkout-review tr.order-total td")).to_have_text("€28.00")
    place_order_button(page).click()

    number = expect_placed_order_page(page)
    expect(page.locator("#orders-account-offer")).to_have_count(0)  # an account already has it

    user_nav(page).get_by_role("link", name="My orders").click()
    expect(page).to_have_url(re.compile(r"/orders$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    rows = page.locator("#orders-list li.order-row")
    expect(rows).to_have_count(1)
    expect(rows.get_by_role("link")).to_have_text(f"Order {number}")
    expect(rows.locator(".status-chip")).to_have_text("Placed")
    expect(rows).to_contain_text("2 items")
    expect(rows).to_contain_text("€28.00")

    rows.get_by_role("link", name=f"Order {number}").click()
    expect(page).to_have_url(re.compile(rf"/orders/{number}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(page.locator("#orders-timeline h2")).to_have_text("Status: Placed")
    expect(page.locator("#orders-order")).to_contain_text("Pick up at our Berlin shop")
    expect_clean(page, browser_problems)
