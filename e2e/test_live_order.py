"""The shopper's order page follows the order live: staff in another browser move it and write, the
shopper sees both without a reload, answers, and staff see the answer on their open page."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import STAFF_EMAIL, STAFF_PASSWORD, BrowserProblems
from e2e.shop import (
    add_button,
    drawer,
    expect_clean,
    expect_placed_order_page,
    expect_same_document,
    fill_address,
    login_form,
    mark_document,
    new_email,
    place_order_button,
    submit_login,
)


def place_as_guest(page: Page) -> str:
    page.goto("/products/tea-tin")
    add_button(page).click()
    drawer(page).get_by_role("link", name="Check out").click()
    page.locator("#checkout-contact form").get_by_label("Email").fill(new_email("live"))
    fill_address(page, name="Lise Meitner", line1="Hahn-Meitner-Platz 1", postcode="14109", city="Berlin", country="DE")
    page.get_by_role("button", name="Continue to delivery").click()
    page.get_by_role("button", name="Continue to review").click()
    place_order_button(page).click()
    return expect_placed_order_page(page)


def staff_order_page(staff: Page, number: str) -> None:
    staff.goto(f"/login?next=/staff/orders/{number}")
    expect(login_form(staff)).to_be_visible()
    submit_login(staff, STAFF_EMAIL, STAFF_PASSWORD)
    expect(staff.get_by_role("heading", level=1)).to_have_text(f"Order {number}")


def test_staff_moves_and_messages_reach_the_open_order_page_live(
    browser_problems: BrowserProblems, page: Page, other_context: BrowserContext
) -> None:
    number = place_as_guest(page)
    mark_document(page)

    staff = other_context.new_page()
    staff_order_page(staff, number)
    mark_document(staff)
    actions = staff.locator("#staff-order-actions")
    actions.get_by_role("button", name="Mark packed").click()
    expect(actions.get_by_role("button", name="Mark shipped")).to_be_visible()
    actions.get_by_role("button", name="Mark shipped").click()
    expect(actions.get_by_role("button", name="Mark delivered")).to_be_visible()

    # The shopper's page, untouched since it loaded, now says so: status, history, no cancel button.
    timeline = page.locator("#orders-timeline")
    expect(timeline.locator("h2")).to_have_text("Status: Shipped")
    expect(timeline.locator("li.timeline-event")).to_have_count(3)
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)

    # Staff write; the shopper's thread shows it, signed by the shop.
    staff.get_by_label("Reply to the customer").fill("Your tea tin is on its way.\nTracking follows by mail.")
    staff.get_by_role("button", name="Send message").click()
    expect(staff.get_by_label("Reply to the customer")).to_have_value("")
    thread = page.locator("#order-messages li.message")
    expect(thread).to_have_count(1)
    expect(thread.locator(".message-author")).to_have_text("Storefront staff")
    expect(thread.locator(".message-text")).to_have_text("Your tea tin is on its way.\nTracking follows by mail.")

    # The shopper answers: once on their own page (its answer and its stream both carry it), and
    # live on the staff's open page.
    page.get_by_label("Write to the shop").fill("Thank you! Can you leave it with the neighbours?")
    page.get_by_role("button", name="Send message").click()
    expect(thread).to_have_count(2)
    expect(thread.nth(1).locator(".message-author")).to_have_text("You")
    staff_thread = staff.locator("#order-messages li.message")
    expect(staff_thread).to_have_count(2)
    expect(staff_thread.nth(1).locator(".message-author")).to_have_text("Customer")
    expect(staff_thread.nth(1).locator(".message-text")).to_have_text(
        "Thank you! Can you leave it with the neighbours?"
    )
    page.wait_for_timeout(500)  # the stream's copy of the shopper's own message has arrived by now
    expect(thread).to_have_count(2)

    expect_same_document(page)
    expect_same_document(staff)
    expect_clean(page, browser_problems)
    expect_clean(staff, browser_problems)
