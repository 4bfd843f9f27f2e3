"""Every kind of page passes axe-core's audit at a phone's and a desktop's width: no serious or critical
violation. The main pages are also saved as full-page screenshots (var/screenshots/<page>-<width>.png)
for a person to look at, with each page's audit summed up in var/screenshots/axe.txt.

One browser context per kind of visitor (guest, shopper with a cart, buyer, member, staff) is set up
once for the whole file and reused by its pages, so the file runs in well under a minute."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import ROOT, STAFF_EMAIL, STAFF_PASSWORD, new_context
from e2e.shop import (
    add_button,
    badge_count,
    drawer,
    expect_drawer_open,
    expect_placed_order_page,
    fill_address,
    login_form,
    new_email,
    new_password,
    place_order_button,
    register,
    submit_login,
)

WIDTHS = (375, 1280)
HEIGHT = 800
SCREENSHOTS = ROOT / "var" / "screenshots"
REPORT = SCREENSHOTS / "axe.txt"
BLOCKING = ("critical", "serious")
IMPACTS = ("critical", "serious", "moderate", "minor")
AXE = Axe()


@dataclass(frozen=True)
class Audited:
    """One page to audit: which visitor sees it, where, and whether it is screenshotted."""

    name: str
    visitor: str  # the fixture whose browser opens it
    path: str  # "{order}" stands for the number of the order the buyer placed
    screenshot: bool = False
    drawer_open: bool = False


PAGES = [
    Audited("home", "guest", "/", screenshot=True),
    Audited("category", "guest", "/?category=apparel", screenshot=True),
    Audited("search", "guest", "/search?q=linen"),
    Audited("search-empty", "guest", "/search?q=zzzzqx"),
    Audited("product", "guest", "/products/tea-tin", screenshot=True),
    Audited("product-low-stock", "guest", "/products/cotton-cap"),
    Audited("product-sold-out", "guest", "/products/silk-scarf"),
    Audited("cart-empty", "guest", "/cart"),
    Audited("login", "guest", "/login", screenshot=True),
    Audited("register", "guest", "/register"),
    Audited("404", "guest", "/no-such-page", screenshot=True),
    Audited("drawer", "shopper", "/", screenshot=True, drawer_open=True),
    Audited("cart", "shopper", "/cart", screenshot=True),
    Audited("checkout-contact", "shopper", "/checkout"),
    Audited("checkout-delivery", "shopper", "/checkout/delivery"),
    Audited("checkout-review", "shopper", "/checkout/review", screenshot=True),
    Audited("order", "buyer", "/orders/{order}", screenshot=True),
    Audited("account", "member", "/account", screenshot=True),
    Audited("staff-orders", "staff", "/staff/orders", screenshot=True),
    Audited("staff-order", "staff", "/staff/orders/{order}"),
    Audited("staff-products", "staff", "/staff/products"),
]


def visitor_page(browser: Browser, server: str) -> Iterator[Page]:
    context = new_context(browser, server, javascript=True)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def guest(browser: Browser, server: str) -> Iterator[Page]:
    """A first-time visitor with an empty cart."""
    yield from visitor_page(browser, server)


@pytest.fixture(scope="module")
def shopper(browser: Browser, server: str) -> Iterator[Page]:
    """A guest with the tea tin in the cart who has filled in checkout's contact and delivery steps."""
    for page in visitor_page(browser, server):
        fill_checkout_to_review(page)
        yield page


@pytest.fixture(scope="module")
def buyer(browser: Browser, server: str) -> Iterator[Page]:
    """A guest who has just placed an order (its number in `order_number`)."""
    for page in visitor_page(browser, server):
        fill_checkout_to_review(page)
        place_order_button(page).click()
        expect_placed_order_page(page)
        yield page


@pytest.fixture(scope="module")
def order_number(buyer: Page) -> str:
    match = re.search(r"/orders/([A-Z0-9]+)$", buyer.url)
    assert match, buyer.url
    return match.group(1)


@pytest.fixture(scope="module")
def member(browser: Browser, server: str) -> Iterator[Page]:
    """A registered shopper, logged in."""
    for page in visitor_page(browser, server):
        email, password = new_email("axe"), new_password()
        register(page, email, password)
        submit_login(page, email, password)
        expect(page.locator("#accounts-user-nav").get_by_role("button", name="Log out")).to_be_visible()
        yield page


@pytest.fixture(scope="module")
def staff(browser: Browser, server: str) -> Iterator[Page]:
    """The e2e shop's staff member, logged in."""
    for page in visitor_page(browser, server):
        page.goto("/login?next=/staff/orders")
        expect(login_form(page)).to_be_visible()
        submit_login(page, STAFF_EMAIL, STAFF_PASSWORD)
        expect(page).to_have_url(re.compile(r"/staff/orders$"))
        yield page


def fill_checkout_to_review(page: Page) -> None:
    page.goto("/products/tea-tin")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    page.goto("/checkout")
    page.locator("#checkout-contact form").get_by_label("Email").fill(new_email("axe"))
    fill_address(page, name="Grace Hopper", line1="Invalidenstraße 116", postcode="10115", city="Berlin", country="DE")
    page.get_by_role("button", name="Continue to delivery").click()
    page.get_by_role("button", name="Continue to review").click()
    expect(page).to_have_url(re.compile(r"/checkout/review$"))


@dataclass
class AuditLog:
    """What the file's audits found: a summary line per page and the rules axe checked."""

    summaries: list[str] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)

    def text(self) -> str:
        rules = ", ".join(sorted(self.rules))
        return f"axe-core rules checked ({len(self.rules)}): {rules}\n\n" + "\n".join(self.summaries) + "\n"


@pytest.fixture(scope="module")
def audit_log() -> Iterator[AuditLog]:
    """Written to REPORT (and printed) when the file is done."""
    log = AuditLog()
    yield log
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(log.text())
    print(f"\n{log.text()}")


def violations_by_impact(response: dict[str, Any]) -> str:
    """E.g. "serious 1 (color-contrast x3), moderate 0, ...": rules violated per impact, with their node counts."""
    parts = []
    for impact in IMPACTS:
        rules = [rule for rule in response["violations"] if rule["impact"] == impact]
        named = ", ".join(f"{rule['id']} x{len(rule['nodes'])}" for rule in rules)
        parts.append(f"{impact} {len(rules)}" + (f" ({named})" if named else ""))
    return "; ".join(parts)


def targets(rule: dict[str, Any]) -> list[str]:
    """The CSS selectors of the elements a rule found."""
    return [" ".join(node["target"]) for node in rule["nodes"]]


def to_review(response: dict[str, Any]) -> str:
    """The rules axe could not decide (contrast over an image, say), with where: for a person to check."""
    return ", ".join(f"{rule['id']} at {targets(rule)}" for rule in response["incomplete"]) or "nothing"


def blocking_report(response: dict[str, Any]) -> str:
    lines = []
    for rule in response["violations"]:
        if rule["impact"] in BLOCKING:
            lines.append(f"{rule['impact']} {rule['id']}: {rule['help']} at {targets(rule)}")
    return "\n".join(lines)


def sideways(page: Page, width: int) -> str:
    """A note when the page is wider than the viewport (it scrolls sideways: WCAG's reflow), for a person to fix."""
    wide = int(page.evaluate("document.documentElement.scrollWidth"))
    return f"; SCROLLS SIDEWAYS: {wide} px wide" if wide > width else ""


def address(request: pytest.FixtureRequest, audited: Audited) -> str:
    """The page's path; the buyer places an order only for the tests that need its number."""
    if "{order}" not in audited.path:
        return audited.path
    return audited.path.format(order=request.getfixturevalue("order_number"))


def show(page: Page, audited: Audited, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    expected = 404 if audited.name == "404" else 200
    assert response.status == expected, f"{path} answered {response.status}"
    if audited.drawer_open:
        page.locator("#cart-badge").click()
        expect_drawer_open(page)
        expect(drawer(page).locator("li.cart-line")).to_have_count(1)


@pytest.mark.parametrize(
    ("audited", "width"),
    [pytest.param(audited, width, id=f"{audited.name}-{width}") for audited in PAGES for width in WIDTHS],
)
def test_page_has_no_serious_accessibility_violations(
    request: pytest.FixtureRequest, audit_log: AuditLog, audited: Audited, width: int
) -> None:
    page: Page = request.getfixturevalue(audited.visitor)
    path = address(request, audited)
    page.set_viewport_size({"width": width, "height": HEIGHT})
    show(page, audited, path)
    if audited.screenshot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # The open drawer and its backdrop are fixed to the viewport: a full-page picture would show
        # the rest of the page below them as if they did not cover it.
        full_page = not audited.drawer_open
        page.screenshot(path=str(SCREENSHOTS / f"{audited.name}-{width}.png"), full_page=full_page)

    response = AXE.run(page).response
    summary = (
        f"{audited.name}-{width} ({path}): {len(response['passes'])} rules passed, "
        f"to review: {to_review(response)}; violations: {violations_by_impact(response)}{sideways(page, width)}"
    )
    print(summary)
    audit_log.summaries.append(summary)
    audit_log.rules.update(rule["id"] for kind in ("passes", "violations", "incomplete") for rule in response[kind])
    assert blocking_report(response) == "", "serious or critical accessibility violations"
    # Responsive from 320 px: nothing scrolls sideways, and the header keeps to one row.
    assert sideways(page, width) == "", f"{path} at {width} px"
    header = page.locator(".site-header").bounding_box()
    assert header is not None and header["height"] <= 72, f"the header is {header} at {width} px"


def test_the_audit_finds_a_violation_on_a_page_that_has_one(guest: Page) -> None:
    """axe runs inside the shop's Content Security Policy: a page it could not audit would pass them all."""
    guest.goto("/")
    guest.evaluate("document.querySelector('main').append(document.createElement('input'))")
    violated = {rule["id"]: rule["impact"] for rule in AXE.run(guest).response["violations"]}
    assert violated.get("label") == "critical", violated


NARROWEST = 320
# The elements that reach past the viewport's right edge (outside a container that scrolls sideways
# by design, like the phone's category pills): what to fix when a page scrolls sideways.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (e) => e.closest('.categories');
  return [...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && !scrolls(e))
    .slice(0, 6)
    .map((e) => `${e.tagName.toLowerCase()}.${e.className} → ${Math.round(e.getBoundingClientRect().right)} px`);
}"""


@pytest.mark.parametrize("audited", [pytest.param(audited, id=audited.name) for audited in PAGES])
def test_page_fits_the_narrowest_phone_with_a_one_row_header(request: pytest.FixtureRequest, audited: Audited) -> None:
    page: Page = request.getfixturevalue(audited.visitor)
    page.set_viewport_size({"width": NARROWEST, "height": HEIGHT})
    show(page, audited, address(request, audited))
    assert sideways(page, NARROWEST) == "", page.evaluate(OVERFLOWING)
    header = page.locator(".site-header").bounding_box()
    assert header is not None and header["height"] <= 64, header
