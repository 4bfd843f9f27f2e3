"""The product page: `GET /products/test-1`, a full page, for a shopper with 3 lines in the cart (read-only)."""

from __future__ import annotations

from bench.scenarios.base import Load, Scenario
from bench.shop import ADD_PRODUCTS


class ProductPage(Scenario):
    title = f"product page GET /products/{ADD_PRODUCTS[0]}"
    name = "product_page"

    def setup(self) -> None:
        shop = self.stack.shop
        self.server = shop.server
        self.cookie = f"Cookie: {shop.client.cookie_header(shop.regular)}"

    def load(self, number: int) -> Load:
        return Load(f"/products/{ADD_PRODUCTS[0]}", self.stack.plain_script, [self.cookie])
