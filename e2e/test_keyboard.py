"""A shopper with the keyboard only (Tab, Enter, Space, Escape, the arrow keys of a number field) adds
to the cart and edits it in the drawer and on the cart page, and never loses their place: after a
quantity edit focus stays on that line's quantity field, after Remove it moves to the next line's
quantity field (to the cart's heading once the cart is empty), and Escape closes the drawer with
focus back on the control that opened it."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.shop import (
    add_button,
    api_add,
    badge_count,
    cart_contents,
    drawer,
    expect_drawer_closed,
    expect_drawer_open,
    quantity_input,
)
from e2e.shop import line as cart_line

MOST_TABS = 60  # more than any page here has focusable elements before the one a test wants


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(MOST_TABS):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{MOST_TABS} presses of Tab never reached {target}")


def titles(scope: Locator) -> list[str]:
    """The cart's line titles in the order shown."""
    return scope.locator("li.cart-line .cart-line-info > a").all_inner_texts()


def remove_button(scope: Locator, title: str) -> Locator:
    return cart_line(scope, title).get_by_role("button", name=re.compile(r"^Remove\b"))


def raise_quantity_by_one(page: Page, field: Locator) -> None:
    """The focused number field one up with the arrow key, sent with Enter (its form's submit)."""
    tab_to(page, field)
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")


def test_keyboard_shopper_adds_and_changes_a_quantity_in_the_drawer(page: Page) -> None:
    page.goto("/products/scented-candle")
    tab_to(page, add_button(page))
    page.keyboard.press("Enter")
    expect(badge_count(page)).to_have_text("1")
    expect_drawer_open(page)

    raise_quantity_by_one(page, quantity_input(drawer(page), "Scented candle"))
    expect(badge_count(page)).to_have_text("2")
    expect(drawer(page).locator(".subtotal strong")).to_have_text("€44.00")  # the drawer was swapped
    expect_drawer_open(page)
    expect(quantity_input(drawer(page), "Scented candle")).to_have_value("2")
    expect(quantity_input(drawer(page), "Scented candle")).to_be_focused()

    page.keyboard.press("Escape")
    expect_drawer_closed(page)
    expect(add_button(page)).to_be_focused()


def test_escape_gives_the_focus_back_to_the_badge_that_opened_the_drawer(page: Page) -> None:
    page.goto("/")
    badge = page.locator("#cart-badge")
    tab_to(page, badge)
    page.keyboard.press("Enter")
    expect_drawer_open(page)
    page.keyboard.press("Escape")
    expect_drawer_closed(page)
    expect(badge).to_be_focused()


def test_remove_in_the_drawer_moves_the_focus_to_the_next_line_then_to_the_heading(
    context: BrowserContext, page: Page
) -> None:
    api_add(context.request, "scented-candle")
    api_add(context.request, "espresso-cups")
    page.goto("/")
    tab_to(page, page.locator("#cart-badge"))
    page.keyboard.press("Enter")
    expect_drawer_open(page)
    first, second = titles(drawer(page))

    tab_to(page, remove_button(drawer(page), first))
    page.keyboard.press("Enter")
    expect(drawer(page).locator("li.cart-line")).to_have_count(1)
    expect_drawer_open(page)
    expect(quantity_input(drawer(page), second)).to_be_focused()

    tab_to(page, remove_button(drawer(page), second))
    page.keyboard.press("Space")
    expect(drawer(page).locator("li.cart-line")).to_have_count(0)
    expect_drawer_open(page)
    expect(drawer(page).get_by_role("heading", name="Your cart")).to_be_focused()

    page.keyboard.press("Escape")
    expect_drawer_closed(page)
    expect(page.locator("#cart-badge")).to_be_focused()


def test_cart_page_edits_and_removes_keep_the_focus_in_place(context: BrowserContext, page: Page) -> None:
    api_add(context.request, "scented-candle")
    api_add(context.request, "espresso-cups")
    page.goto("/cart")
    first, second = titles(cart_contents(page))

    raise_quantity_by_one(page, quantity_input(cart_contents(page), first))
    expect(badge_count(page)).to_have_text("3")
    expect(quantity_input(cart_contents(page), first)).to_have_value("2")
    expect(quantity_input(cart_contents(page), first)).to_be_focused()

    tab_to(page, remove_button(cart_contents(page), first))
    page.keyboard.press("Enter")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(1)
    expect(quantity_input(cart_contents(page), second)).to_be_focused()

    tab_to(page, remove_button(cart_contents(page), second))
    page.keyboard.press("Space")
    expect(cart_contents(page).locator("li.cart-line")).to_have_count(0)
    expect(badge_count(page)).to_have_text("0")
    expect(page.get_by_role("heading", level=1, name="Your cart")).to_be_focused()


def test_a_refused_login_puts_the_focus_on_the_email_field_that_its_message_describes(page: Page) -> None:
    page.goto("/login")
    form = page.locator("#accounts-login form")
    form.get_by_label("Email").fill("nobody@example.com")
    form.get_by_label("Password").fill("wrong password here")
    form.get_by_label("Password").press("Enter")
    expect(page.locator("#form-error")).to_contain_text("do not match an account")
    email = form.get_by_label("Email")
    expect(email).to_be_focused()
    expect(email).to_have_accessible_description(re.compile("do not match an account"))


def test_a_form_swapped_in_answers_enter_at_once_without_leaving_the_page(context: BrowserContext, page: Page) -> None:
    """htmx wires a swapped-in form up when the swap settles. The shopper's Enter in the new quantity
    field, pressed the moment the swap lands (here: the next task after it), must be an htmx request,
    not a plain page POST that reloads the cart and drops the focus."""
    api_add(context.request, "scented-candle")
    page.goto("/cart")
    field = quantity_input(cart_contents(page), "Scented candle")
    page.evaluate(
        """() => document.addEventListener("htmx:afterSwap", function once(event) {
             if (event.detail.target.id !== "cart-contents") return;
             document.removeEventListener("htmx:afterSwap", once);
             setTimeout(() => document.querySelector("#cart-contents form.cart-line-quantity").requestSubmit(), 0);
           })"""
    )
    page_loads: list[str] = []
    page.on("request", lambda request: page_loads.append(request.url) if request.is_navigation_request() else None)
    with page.expect_response(lambda response: response.request.method == "POST") as first:
        tab_to(page, field)
        page.keyboard.press("ArrowUp")  # a number field's change: the first request
    assert first.value.ok
    with page.expect_response(lambda response: response.request.method == "POST") as second:
        pass  # the requestSubmit() of the swapped-in form
    assert second.value.request.headers.get("hx-request") == "true"
    expect(quantity_input(cart_contents(page), "Scented candle")).to_have_value("2")
    expect(quantity_input(cart_contents(page), "Scented candle")).to_be_focused()
    assert page_loads == []
