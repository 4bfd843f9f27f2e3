"""A guest without JavaScript checks out: each step is a form that posts and answers 303 to the next (PRG)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from e2e.shop import (
    ORDER_URL,
    add_button,
    badge_count,
    cart_contents,
    delivery_method,
    expect_placed_order_page,
    fill_address,
    flashes,
    new_email,
    place_order_button,
    quantity_input,
)


def submit_and_expect_see_other(page: Page, button: Locator, location: re.Pattern[str]) -> None:
    """Press a form's button: the POST answers 303 See Other to `location`, and the browser follows."""
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        button.click()
    response = posted.value
    assert response.status == 303, f"POST {response.url} answered {response.status}, not 303 See Other"
    assert location.fullmatch(response.headers.get("location", "")), response.headers
    expect(page).to_have_url(re.compile(re.escape(response.headers["location"]) + "$"))


def test_guest_checks_out_without_javascript(nojs_page: Page) -> None:
    page = nojs_page
    email = new_email("nojs-guest")
    page.goto("/products/tea-tin")
    add_button(page).click()
    expect(flashes(page)).to_have_text(["Added 1 × Tea tin to your cart."])

    page.locator("#cart-badge").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(quantity_input(cart_contents(page), "Tea tin")).to_have_value("1")
    cart_contents(page).get_by_role("link", name="Check out").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))

    page.locator("#checkout-contact form").get_by_label("Email").fill(email)
    fill_address(page, name="Bo Jansen", line1="Damrak 1", postcode="1012 AB", city="Amsterdam", country="NL")
    submit_and_expect_see_other(
        page, page.get_by_role("button", name="Continue to delivery"), re.compile(r"/checkout/delivery")
    )
    expect(flashes(page)).to_have_text(["Delivering to NL 1012 AB from now on."])
    expect(page.locator("#locality-deliver-to")).to_have_text("Deliver to NL 1012 AB")
    # The EU zone: no pickup, standard chosen unless the shopper picks another.
    expect(page.locator("#checkout-delivery").get_by_role("radio")).to_have_count(2)
    expect(delivery_method(page, "Standard delivery")).to_be_checked()
    submit_and_expect_see_other(
        page, page.get_by_role("button", name="Continue to review"), re.compile(r"/checkout/review")
    )

    review = page.locator("#checkout-review")
    expect(review.locator("table.order-summary tbody tr")).to_have_text([re.compile(r"^Tea tin\s*1\s*€14\.00")])
    expect(review.locator("tr.order-total td")).to_have_text("€23.90")
    expect(review).to_contain_text("Standard delivery, expected by")
    submit_and_expect_see_other(page, place_order_button(page), re.compile(r"/orders/[A-Z0-9]+"))

    number = expect_placed_order_page(page)
    expect(page.locator("#orders-order")).to_contain_text("Bo Jansen")
    expect(page.locator("#orders-account-offer h2")).to_have_text("Keep track of this order")

    # Post/Redirect/Get: a reload shows the order again, it places nothing and says no thanks twice.
    page.reload()
    expect(page).to_have_url(ORDER_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Order {number}")
    expect(flashes(page)).to_have_count(0)
    expect(badge_count(page)).to_have_text("0")
    page.goto("/cart")
    expect(cart_contents(page)).to_contain_text("Your cart is empty.")
