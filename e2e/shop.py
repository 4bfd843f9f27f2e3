"""What a shopper sees and does, named once for every journey."""

from __future__ import annotations

import re
import time
import uuid
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import TYPE_CHECKING

from playwright.sync_api import APIRequestContext, BrowserContext, Locator, Page, expect

if TYPE_CHECKING:
    from e2e.conftest import BrowserProblems


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


def expect_clean(page: Page, problems: BrowserProblems) -> None:
    """No console errors, uncaught errors or CSP violations so far in the context `problems` watches."""
    assert problems.csp_violations(page) == [], "Content Security Policy violations"
    assert problems.console == [], "console errors"
    assert problems.page_errors == [], "uncaught errors in the page"


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


# Accounts: registering, logging in and out as a shopper does it, through the forms.

ACCOUNT_READY = "Your email address is confirmed and your account is ready: log in to use it."
# The server's outbox folder (set by conftest's server fixture) and the account links in its mail.
OUTBOX_DIR = Path("var/outbox")
MAILED_LINK = re.compile(r"https?://[^/\s]+(/account/(?:confirm|reset)\?token=[A-Za-z0-9_-]+)")
WRONG_CREDENTIALS = (
    "That email and password do not match an account. Check them and try again."
    " Registered just now? Open the link we mailed you first."
)
LOGGED_OUT = "You have been logged out. Your cart is kept in your account."


def new_email(label: str = "shopper") -> str:
    """An address no other test uses: the server's database is shared by the whole run."""
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


def new_password() -> str:
    """Long and random, so never on the common-password list."""
    return f"correct horse {uuid.uuid4().hex[:10]} staple"


def user_nav(page: Page) -> Locator:
    return page.locator("#accounts-user-nav")


def flashes(page: Page) -> Locator:
    return page.locator("#flash .alert-text")


def login_form(page: Page) -> Locator:
    return page.locator("#accounts-login form")


def session_cookie(context: BrowserContext) -> str:
    """The value of the one cookie the browser holds, which must be the session cookie."""
    cookies = context.cookies()
    assert [cookie["name"] for cookie in cookies] == ["session"], f"expected only the session cookie: {cookies}"
    return cookies[0]["value"]


def register(page: Page, email: str, password: str, name: str = "") -> None:
    """Create an account with the /register form and confirm it with the link the shop mails (read
    from the server's outbox folder); it does not log in: it ends on /login, the email filled in."""
    page.goto("/register")
    form = page.locator("#accounts-register form")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Your name").fill(name)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account/check-email$"))
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.goto(mailed_link(email))
    page.locator("#accounts-confirm").get_by_label("Password").fill(password)
    page.get_by_role("button", name="Confirm my address").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(flashes(page)).to_have_text([ACCOUNT_READY])
    expect(login_form(page).get_by_label("Email")).to_have_value(email)
    expect(user_nav(page).get_by_role("link", name="Log in")).to_be_visible()


def mailed_link(email: str, timeout: float = 10.0) -> str:
    """The path of the newest account link mailed to `email`: the server's mail sender writes each
    message as an .eml file in OUTBOX_DIR shortly after the request that wrote it."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for path in OUTBOX_DIR.glob("*.eml"):
            mail = message_from_bytes(path.read_bytes(), policy=default)
            link = MAILED_LINK.search(str(mail.get_body(("plain",)).get_content()))  # type: ignore[union-attr]
            if mail["To"] == email and link:
                found.append((path.stat().st_mtime_ns, link.group(1)))
        if found:
            return max(found)[1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no account link was mailed to {email} within {timeout} s")
        time.sleep(0.1)


def submit_login(page: Page, email: str, password: str) -> None:
    """Fill and send the login form of the page the shopper is on (/login)."""
    form = login_form(page)
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    user_nav(page).get_by_role("button", name="Log out").click()
    expect(user_nav(page).get_by_role("link", name="Log in")).to_be_visible()


def fill_add_form(page: Page, slug: str, quantity: int, option: str | None = None) -> None:
    """Open a product page, choose the option (by its label) and the quantity, ready to add."""
    page.goto(f"/products/{slug}")
    if option:
        page.get_by_role("radio", name=re.compile(rf"^{option}\b")).check()
    page.locator("#catalog-add-form").get_by_label("Quantity").fill(str(quantity))


# Checkout and orders: the steps as a shopper fills them, the order page they land on.

ORDER_URL = re.compile(r"/orders/([A-Z0-9]+)$")


def fill_address(page: Page, *, name: str, line1: str, postcode: str, city: str, country: str) -> None:
    """Fill checkout's first step (contact and address) with a delivery address; the email is left as it is."""
    form = page.locator("#checkout-contact form")
    form.get_by_label("Full name").fill(name)
    form.get_by_label("Address", exact=True).fill(line1)
    form.get_by_label("Postcode").fill(postcode)
    form.get_by_label("Town or city").fill(city)
    form.get_by_label("Country").select_option(country)


def delivery_method(page: Page, name: str) -> Locator:
    """A delivery method's radio button at checkout's second step, by the method's name."""
    return page.locator("#checkout-delivery").get_by_role("radio", name=re.compile(rf"^{re.escape(name)}\b"))


def place_order_button(page: Page) -> Locator:
    return page.locator("#checkout-review").get_by_role("button", name=re.compile(r"^Place order"))


def expect_placed_order_page(page: Page) -> str:
    """The order page right after placing: its number in the URL and the heading, the thanks, status Placed,
    an empty cart. Returns the order number."""
    expect(page).to_have_url(ORDER_URL)
    match = ORDER_URL.search(page.url)
    assert match is not None, page.url
    number = match.group(1)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(flashes(page)).to_have_text([f"Thank you! Your order {number} is placed."])
    expect(page.locator("#orders-timeline h2")).to_have_text("Status: Placed")
    expect(badge_count(page)).to_have_text("0")
    return number


def mark_document(page: Page) -> None:
    """Tag the page's document, so a later `expect_same_document` tells an in-place swap from a page load."""
    page.evaluate("window.__e2eSameDocument = true")


def expect_same_document(page: Page) -> None:
    assert page.evaluate("window.__e2eSameDocument === true"), "the page was loaded again instead of swapped in place"
