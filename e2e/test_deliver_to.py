"""Deliver to: changing where things go flags, but never removes, the cart lines that cannot go there.

The chef's knife may only be delivered within Germany (DE); the other products go everywhere served.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from e2e.conftest import BrowserProblems
from e2e.shop import (
    add_button,
    badge_count,
    cart_contents,
    close_drawer_with_escape,
    drawer,
    expect_clean,
    expect_drawer_open,
    expect_same_document,
    flashes,
    line,
    mark_document,
    quantity_input,
)

KNIFE = "Chef's knife"
NOT_TO_US = "Cannot be delivered to US: remove it or change where to deliver."
NOW_TO_US = (
    "Delivering to US 10001. 1 item in your cart cannot be delivered there: remove it or change where to deliver."
)


def deliver_to_control(page: Page) -> Locator:
    return page.locator("#locality-deliver-to")


def choose_in_header(page: Page, country: str, postcode: str) -> None:
    """With JavaScript: the header's link opens its small form in place, which is sent from there."""
    deliver_to_control(page).get_by_role("link").click()
    control = deliver_to_control(page)
    control.get_by_label("Country").select_option(country)
    control.get_by_label("Postcode").fill(postcode)
    control.get_by_role("button", name="Deliver here").click()
    expect(control).to_have_text(f"Deliver to {country} {postcode}")


def test_changing_deliver_to_flags_the_knife_in_the_drawer_without_a_reload(
    browser_problems: BrowserProblems, page: Page
) -> None:
    page.goto("/products/chef-knife")
    expect(deliver_to_control(page)).to_have_text("Choose where to deliver")
    mark_document(page)
    choose_in_header(page, "DE", "10115")
    expect(page.locator("#catalog-delivery")).to_contain_text("Delivers to DE 10115 in 1-2 working days, from €4.90.")

    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    expect_drawer_open(page)
    expect(line(drawer(page), KNIFE).locator(".line-undeliverable")).to_have_count(0)
    close_drawer_with_escape(page)

    choose_in_header(page, "US", "10001")
    expect(page.locator("#toast .alert-text")).to_have_text(NOW_TO_US)
    expect(page.locator("#catalog-delivery")).to_contain_text("Not available for delivery to US.")
    expect(add_button(page)).to_be_disabled()
    # The answer re-rendered the drawer too, while it was closed.
    expect(line(drawer(page), KNIFE).locator(".line-undeliverable")).to_have_text(NOT_TO_US)

    page.locator("#cart-badge").click()
    expect_drawer_open(page)
    knife = line(drawer(page), KNIFE)
    expect(knife.locator(".line-undeliverable")).to_be_visible()
    expect(knife.locator(".line-undeliverable")).to_have_text(NOT_TO_US)
    expect(quantity_input(drawer(page), KNIFE)).to_have_value("1")  # flagged, still in the cart
    expect(badge_count(page)).to_have_text("1")
    expect(drawer(page).get_by_role("link", name="Check out")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/products/chef-knife$"))
    expect_same_document(page)
    expect_clean(page, browser_problems)


def test_deliver_to_page_without_javascript_returns_to_the_product(nojs_page: Page) -> None:
    page = nojs_page
    page.goto("/products/chef-knife")
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")

    deliver_to_control(page).get_by_role("link", name="Choose where to deliver").click()
    # (The add came back to the product with its option chosen: ?variant=, carried along.)
    expect(page).to_have_url(re.compile(r"/deliver-to\?next=/products/chef-knife%3Fvariant%3D\d+$"))
    form = page.locator("#locality-page form")
    # By name, not label: the page's header repeats this form with the same ids, so its labels name
    # the header's fields (a bug reported to the app's owner).
    form.locator("select[name=country]").select_option("US")
    form.locator("input[name=postcode]").fill("10001")
    form.get_by_role("button", name="Deliver here").click()

    expect(page).to_have_url(re.compile(r"/products/chef-knife\?variant=\d+$"))
    expect(flashes(page)).to_have_text([NOW_TO_US])
    expect(deliver_to_control(page)).to_have_text("Deliver to US 10001")
    expect(page.locator("#catalog-delivery")).to_contain_text("Not available for delivery to US.")
    expect(add_button(page)).to_be_disabled()

    page.goto("/cart")
    expect(line(cart_contents(page), KNIFE).locator(".line-undeliverable")).to_have_text(NOT_TO_US)
    expect(quantity_input(cart_contents(page), KNIFE)).to_have_value("1")
    expect(cart_contents(page).get_by_role("link", name="Check out")).to_have_count(0)
