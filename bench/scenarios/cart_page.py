"""The cart page, a full page, for a shopper with three lines in the cart (read-only in steady state)."""

from __future__ import annotations

from bench.scenarios.base import Load, Scenario


class CartPage(Scenario):
    title = "cart page GET /cart (3 lines)"
    name = "cart_page"

    def setup(self) -> None:
        shop = self.stack.shop
        self.server = shop.server
        self.cookie = f"Cookie: {shop.client.cookie_header(shop.regular)}"

    def load(self, number: int) -> Load:
        return Load("/cart", self.stack.plain_script, [self.cookie])
