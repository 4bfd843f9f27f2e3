"""Whatever the shopper does, the browser holds one cookie: the HttpOnly, SameSite=Lax session cookie."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Cookie, Page, expect

from e2e.shop import add_button, badge_count, cart_contents, close_drawer_with_escape, quantity_input

# A first visit's ID (random, the masked minute it was minted, our MAC), or a rotated one (256 random bits).
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{32}\.[0-9a-f]{8}\.[A-Za-z0-9_-]{22}|[A-Za-z0-9_-]{43}")


def the_one_cookie(context: BrowserContext) -> Cookie:
    cookies = context.cookies()
    assert [cookie["name"] for cookie in cookies] == ["session"], f"expected only the session cookie: {cookies}"
    cookie = cookies[0]
    assert cookie["httpOnly"] is True, cookie
    assert cookie["sameSite"] == "Lax", cookie
    assert cookie["path"] == "/", cookie
    assert SESSION_ID.fullmatch(cookie["value"]), f"the session cookie holds more than an opaque ID: {cookie}"
    return cookie


def test_browse_add_edit_keeps_one_httponly_cookie(context: BrowserContext, page: Page) -> None:
    page.goto("/")
    first = the_one_cookie(context)

    page.get_by_role("link", name="Linen shirt").first.click()
    expect(page).to_have_url(re.compile(r"/products/linen-shirt$"))
    page.get_by_role("radio", name=re.compile(r"^M\b")).check()
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    close_drawer_with_escape(page)

    page.goto("/cart")
    quantity = quantity_input(cart_contents(page), "Linen shirt (M)")
    quantity.fill("2")
    quantity.press("Tab")
    expect(badge_count(page)).to_have_text("2")

    assert page.evaluate("document.cookie") == "", "a script can read a cookie: it must be HttpOnly"
    last = the_one_cookie(context)
    # The same session throughout: no ID minted per request, none rotated behind the shopper's back.
    assert last["value"] == first["value"]
    # The API sees the same cart through the same cookie: no second cookie or token for scripts.
    api = context.request.get("/api/cart")
    assert api.status == 200, api.text()
    assert [(item["productId"], item["qty"]) for item in api.json()["items"]] == [("linen-shirt", 2)]
    assert the_one_cookie(context)["value"] == first["value"]


def test_without_javascript_the_flow_keeps_one_cookie(nojs_context: BrowserContext, nojs_page: Page) -> None:
    page = nojs_page
    page.goto("/products/test-1")
    first = the_one_cookie(nojs_context)
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    page.goto("/cart")
    cart_contents(page).get_by_role("button", name="Remove Test product 1").click()
    expect(badge_count(page)).to_have_text("0")
    assert the_one_cookie(nojs_context)["value"] == first["value"]
