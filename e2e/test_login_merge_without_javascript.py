"""The login-merge journey with JavaScript off: plain forms, 303 redirects, flash messages."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from playwright.sync_api import BrowserContext, Page, expect

from e2e.shop import (
    LOGGED_OUT,
    add_button,
    badge_count,
    cart_contents,
    drawer,
    fill_add_form,
    flashes,
    log_out,
    new_email,
    new_password,
    quantity_input,
    register,
    session_cookie,
    submit_login,
    user_nav,
)

NAME = "Grace"
TEST_1 = "Test product 1"
SHIRT = "Linen shirt (M)"


def post_add(page: Page, slug: str, quantity: int, flash: str, option: str | None = None) -> None:
    """Add with the product form: it posts, and the server answers 303 back to the product page."""
    fill_add_form(page, slug, quantity, option)
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        add_button(page).click()
    assert posted.value.status == 303, f"the add answered {posted.value.status}, not 303 See Other"
    # Back to the option and quantity as chosen (a quantity of 1 is left out of the address).
    chosen = "" if quantity == 1 else f"&quantity={quantity}"
    expect(page).to_have_url(re.compile(rf"/products/{slug}\?variant=\d+{chosen}$"))
    expect(flashes(page)).to_have_text([flash])


def log_in_from_header(page: Page, email: str, password: str, next_path: str) -> None:
    """The header's Log in link carries the current path; the login form posts and 303s back there."""
    user_nav(page).get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(quote(next_path, safe="/")) + "$"))
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        submit_login(page, email, password)
    assert posted.value.status == 303, f"the login answered {posted.value.status}, not 303 See Other"
    assert posted.value.headers.get("location") == next_path, posted.value.headers
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def expect_cart(page: Page, quantities: dict[str, int]) -> None:
    page.goto("/cart")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(len(quantities))
    for title, quantity in quantities.items():
        expect(quantity_input(cart_contents(page), title)).to_have_value(str(quantity))
    expect(badge_count(page)).to_have_text(str(sum(quantities.values())))


def test_login_merge_and_logout_without_javascript(
    other_nojs_context: BrowserContext, nojs_context: BrowserContext, nojs_page: Page
) -> None:
    page = nojs_page
    email, password = new_email("nojs"), new_password()
    register(other_nojs_context.new_page(), email, password, NAME)

    post_add(page, "test-1", 2, "Added 2 × Test product 1 to your cart.")
    post_add(page, "linen-shirt", 1, "Added 1 × Linen shirt (M) to your cart.", option="M")
    expect(badge_count(page)).to_have_text("3")
    # No script: the drawer stays a closed dialog, still offering the guest to log in.
    expect(drawer(page)).to_be_hidden()
    expect(drawer(page).locator(".drawer-login")).to_have_count(1)
    guest = session_cookie(nojs_context)

    # Back on the shirt's page with M still chosen (?variant=), and the login returns there.
    expect(page.get_by_role("radio", name=re.compile(r"^M\b"))).to_be_checked()
    here = urlsplit(page.url)
    log_in_from_header(page, email, password, f"{here.path}?{here.query}")
    expect(flashes(page)).to_have_text([f"Welcome, {NAME}.", "3 items from your guest cart were added to your cart."])
    expect(badge_count(page)).to_have_text("3")
    expect(user_nav(page).get_by_role("link", name=NAME, exact=True)).to_be_visible()
    expect(user_nav(page).get_by_role("link", name="Log in")).to_have_count(0)
    user = session_cookie(nojs_context)
    assert user != guest, "login must rotate the session ID"
    expect_cart(page, {TEST_1: 2, SHIRT: 1})

    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        log_out(page)
    assert posted.value.status == 303, posted.value.status
    expect(flashes(page)).to_have_text([LOGGED_OUT])
    expect(badge_count(page)).to_have_text("0")
    guest_again = session_cookie(nojs_context)
    assert len({guest, user, guest_again}) == 3, "logout must rotate the session ID again"
    expect_cart(page, {})
    expect(cart_contents(page)).to_contain_text("Your cart is empty.")

    log_in_from_header(page, email, password, "/cart")
    expect(flashes(page)).to_have_text([f"Welcome back, {NAME}."])
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(2)
    expect(quantity_input(cart_contents(page), TEST_1)).to_have_value("2")
    expect(quantity_input(cart_contents(page), SHIRT)).to_have_value("1")
    expect(badge_count(page)).to_have_text("3")
    user_again = session_cookie(nojs_context)
    assert len({guest, user, guest_again, user_again}) == 4, "each login and logout must mint a new session ID"
