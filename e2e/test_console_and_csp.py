"""With JavaScript on, the shop's pages run clean: no console errors, no uncaught errors, no CSP violations."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from e2e.conftest import BrowserProblems
from e2e.shop import (
    add_button,
    badge_count,
    cart_contents,
    close_drawer_with_escape,
    drawer,
    expect_clean,
    expect_drawer_open,
    quantity_input,
)


def test_product_and_cart_pages_log_no_errors_and_break_no_csp(browser_problems: BrowserProblems, page: Page) -> None:
    page.goto("/")
    expect(page.locator(".product-card").first).to_be_visible()
    expect_clean(page, browser_problems)

    page.goto("/products/linen-shirt")
    # The scripts ran (htmx and shop.js are external files, allowed by script-src 'self').
    assert page.evaluate("typeof window.htmx") == "object"
    add_button(page).click()
    expect(badge_count(page)).to_have_text("1")
    close_drawer_with_escape(page)
    expect_clean(page, browser_problems)

    page.locator("#cart-badge").click()
    expect_drawer_open(page)
    quantity = quantity_input(drawer(page), "Linen shirt (S)")
    quantity.fill("2")
    quantity.press("Enter")
    expect(badge_count(page)).to_have_text("2")
    close_drawer_with_escape(page)
    expect_clean(page, browser_problems)

    page.goto("/cart")
    cart_contents(page).get_by_role("button", name="Remove Linen shirt (S)").click()
    expect(badge_count(page)).to_have_text("0")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # the refresh a tab switch makes
    expect(cart_contents(page).locator(".empty")).to_contain_text("Your cart is empty.")
    expect_clean(page, browser_problems)


def test_an_inline_script_is_refused_and_reported(browser_problems: BrowserProblems, page: Page) -> None:
    """The CSP holds (script-src 'self' refuses an injected inline script), and the collector the check
    above relies on does report CSP violations and console errors."""
    page.goto("/products/test-1")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.append(script);
          console.error("boom");
        }"""
    )
    assert page.evaluate("window.inlineRan === undefined"), "an inline script ran despite script-src 'self'"
    page.wait_for_function("window.__cspViolations.length > 0")
    assert any("script-src" in violation for violation in browser_problems.csp_violations(page))
    assert any("boom" in message for message in browser_problems.console)
