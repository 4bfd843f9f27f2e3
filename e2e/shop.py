"""What a shopper sees and does, named once for every journey."""

from __future__ import annotations

from playwright.sync_api import APIRequestContext, Locator, Page, expect


def badge_count(page: Page) -> Locator:
    return page.locator("#cart-badge .cart-count")


def drawer(page: Page) -> Locator:
    return page.locator("#cart-drawer")


def cart_contents(page: Page) -> Locator:
    return page.locator("#cart-contents")


def line(scope: Locator, title: str) -> Locator:
    """One cart line (in the drawer or on the cart page), found by the product title it links to.

    Hidden elements count too: a closed drawer still holds the lines it will show when opened."""
    link = scope.page.get_by_role("link", name=title, exact=True, include_hidden=True)
    return scope.locator("li.cart-line").filter(has=link)


def quantity_input(scope: Locator, title: str) -> Locator:
    return line(scope, title).locator("input[name=quantity]")


def subtotal(scope: Locator) -> Locator:
    return scope.locator(".subtotal strong")


def add_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Add to cart")


def expect_drawer_open(page: Page) -> None:
    expect(drawer(page)).to_be_visible()
    expect(drawer(page)).to_have_js_property("open", True)


def expect_drawer_closed(page: Page) -> None:
    expect(drawer(page)).to_be_hidden()
    expect(drawer(page)).to_have_js_property("open", False)


def close_drawer_with_escape(page: Page) -> None:
    """The drawer opens just after the badge changes (htmx settles it): wait for it, then press Escape."""
    expect_drawer_open(page)
    page.keyboard.press("Escape")
    expect_drawer_closed(page)


def api_add(request: APIRequestContext, product_id: str, qty: int = 1) -> None:
    """Add through the JSON API with the shopper's own cookie jar (a context's `request` shares it)."""
    response = request.post("/api/cart", data={"productId": product_id, "qty": qty})
    assert response.status == 201, f"POST /api/cart answered {response.status}: {response.text()}"


def api_quantities(request: APIRequestContext) -> dict[str, int]:
    """productId -> quantity, as the server's JSON API sees this shopper's cart."""
    response = request.get("/api/cart")
    assert response.status == 200, f"GET /api/cart answered {response.status}: {response.text()}"
    quantities: dict[str, int] = {}
    for item in response.json()["items"]:
        quantities[item["productId"]] = quantities.get(item["productId"], 0) + item["qty"]
    return quantities
