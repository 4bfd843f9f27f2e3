"""Accounts with JavaScript on: a guest cart follows the shopper into their account at login.

Registering does not log in, so every journey logs in through the /login form. Login and logout
each start a new session (a new cookie value); the user's cart stays with the account.
"""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from e2e.shop import (
    WRONG_CREDENTIALS,
    add_button,
    badge_count,
    cart_contents,
    close_drawer_with_escape,
    drawer,
    expect_drawer_open,
    fill_add_form,
    flashes,
    line,
    log_out,
    login_form,
    new_email,
    new_password,
    quantity_input,
    register,
    session_cookie,
    submit_login,
    user_nav,
)

NAME = "Ada"
TEST_1 = "Test product 1"
TOTE = "Canvas tote (Black)"


def add_from_product_page(page: Page, slug: str, quantity: int, badge_after: int, option: str | None = None) -> None:
    fill_add_form(page, slug, quantity, option)
    add_button(page).click()
    expect(badge_count(page)).to_have_text(str(badge_after))
    close_drawer_with_escape(page)


def expect_cart_page(page: Page, quantities: dict[str, int]) -> None:
    page.goto("/cart")
    lines = cart_contents(page).locator("li.cart-line")
    expect(lines).to_have_count(len(quantities))
    for title, quantity in quantities.items():
        expect(quantity_input(cart_contents(page), title)).to_have_value(str(quantity))
    expect(badge_count(page)).to_have_text(str(sum(quantities.values())))


def expect_logged_in_as(page: Page, name: str) -> None:
    expect(user_nav(page).get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(user_nav(page).get_by_role("button", name="Log out")).to_be_visible()
    expect(user_nav(page).get_by_role("link", name="Log in")).to_have_count(0)
    expect(drawer(page).locator(".drawer-login")).to_have_count(0)


def test_guest_cart_is_merged_at_login_and_kept_with_the_account_after_logout(
    other_context: BrowserContext, context: BrowserContext, page: Page
) -> None:
    email, password = new_email("merge"), new_password()
    register(other_context.new_page(), email, password, NAME)

    # A guest, in a browser that has never seen the account, fills a cart.
    add_from_product_page(page, "test-1", 2, badge_after=2)
    add_from_product_page(page, "canvas-tote", 1, badge_after=3, option="Black")
    guest = session_cookie(context)

    # The badge opens the drawer, which invites the guest to log in and come back here.
    page.locator("#cart-badge").click()
    expect_drawer_open(page)
    expect(drawer(page).locator(".drawer-login")).to_have_text("Log in to keep this cart in your account.")
    drawer(page).get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/products/canvas-tote$"))
    assert session_cookie(context) == guest, "opening the login page must not change the session"

    submit_login(page, email, password)
    expect(page).to_have_url(re.compile(r"/products/canvas-tote$"))
    expect(flashes(page)).to_have_text([f"Welcome, {NAME}.", "3 items from your guest cart were added to your cart."])
    expect(badge_count(page)).to_have_text("3")
    expect_logged_in_as(page, NAME)
    user = session_cookie(context)
    assert user != guest, "login must rotate the session ID"

    expect_cart_page(page, {TEST_1: 2, TOTE: 1})
    # The flashes were shown once: the next page does not repeat them.
    expect(flashes(page)).to_have_count(0)

    log_out(page)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(flashes(page)).to_have_text(["You have been logged out. Your cart is kept in your account."])
    expect(badge_count(page)).to_have_text("0")
    guest_again = session_cookie(context)
    assert len({guest, user, guest_again}) == 3, "logout must rotate the session ID again"
    page.goto("/cart")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(0)
    expect(cart_contents(page)).to_contain_text("Your cart is empty.")
    expect(badge_count(page)).to_have_text("0")

    # Back in: the account's cart is there, and an empty guest cart reports no merge.
    user_nav(page).get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/cart$"))
    submit_login(page, email, password)
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(flashes(page)).to_have_text([f"Welcome back, {NAME}."])
    expect(badge_count(page)).to_have_text("3")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(2)
    expect(quantity_input(cart_contents(page), TEST_1)).to_have_value("2")
    expect(quantity_input(cart_contents(page), TOTE)).to_have_value("1")
    expect_logged_in_as(page, NAME)
    user_again = session_cookie(context)
    assert len({guest, user, guest_again, user_again}) == 4, "each login and logout must mint a new session ID"


def test_guest_lines_are_added_to_the_cart_the_account_already_has(
    other_context: BrowserContext, context: BrowserContext, page: Page
) -> None:
    email, password = new_email("existing"), new_password()
    first = other_context.new_page()
    register(first, email, password)
    submit_login(first, email, password)
    expect(first).to_have_url(re.compile(r"/$"))
    expect(first.locator("#flash")).not_to_contain_text("guest cart")
    add_from_product_page(first, "test-2", 1, badge_after=1)

    # Elsewhere, a guest puts two more of the same product in the cart, then logs in.
    add_from_product_page(page, "test-2", 2, badge_after=2)
    page.goto("/login?next=/cart")
    submit_login(page, email, password)
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(flashes(page)).to_have_text(
        ["Welcome back, " + email + ".", "2 items from your guest cart were added to your cart."]
    )
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)
    expect(quantity_input(cart_contents(page), "Test product 2")).to_have_value("3")
    expect(badge_count(page)).to_have_text("3")

    # One cart per account: the first browser, still logged in, sees the merged line too.
    expect_cart_page(first, {"Test product 2": 3})


def test_wrong_password_keeps_the_shopper_a_guest_with_their_cart(
    other_context: BrowserContext, context: BrowserContext, page: Page
) -> None:
    email, password = new_email("wrong"), new_password()
    register(other_context.new_page(), email, password, NAME)

    add_from_product_page(page, "test-1", 1, badge_after=1)
    guest = session_cookie(context)
    user_nav(page).get_by_role("link", name="Log in").click()

    with page.expect_response(lambda response: response.request.method == "POST") as answered:
        submit_login(page, email, password + "!")
    assert answered.value.status == 401, answered.value.status
    expect(page.locator("#accounts-login #form-error")).to_have_text(WRONG_CREDENTIALS)
    expect(login_form(page).get_by_label("Email")).to_have_value(email)
    expect(login_form(page).get_by_label("Password")).to_have_value("")
    # An unknown email reads exactly the same: the page never tells which part was wrong.
    submit_login(page, new_email("nobody"), password)
    expect(page.locator("#accounts-login #form-error")).to_have_text(WRONG_CREDENTIALS)

    # Still a guest, with the same session and cart; the way back to the product page is kept.
    expect(user_nav(page).get_by_role("button", name="Log out")).to_have_count(0)
    expect(user_nav(page).get_by_role("link", name="Log in")).to_have_attribute("href", "/login?next=/products/test-1")
    expect(drawer(page).get_by_role("link", name="Log in", include_hidden=True)).to_have_attribute(
        "href", "/login?next=/products/test-1"
    )
    expect(badge_count(page)).to_have_text("1")
    assert session_cookie(context) == guest, "a failed login must leave the guest session as it was"
    cart_tab = context.new_page()
    expect_cart_page(cart_tab, {TEST_1: 1})
    expect(line(cart_contents(cart_tab), TEST_1)).to_be_visible()
    cart_tab.close()
    assert session_cookie(context) == guest

    # The right password, in the same form, logs in and brings the intact cart along.
    submit_login(page, email, password)
    expect(page).to_have_url(re.compile(r"/products/test-1$"))
    expect(flashes(page).first).to_have_text(f"Welcome, {NAME}.")
    expect(badge_count(page)).to_have_text("1")
    expect_logged_in_as(page, NAME)
    assert session_cookie(context) != guest
