"""The scenarios, one file each; SCENARIOS is the order each round measures them in.

To add one: a new file here with a `Scenario` subclass (bench/scenarios/base.py says what it provides),
listed in SCENARIOS. The floor replays the add's requests of the same round, so it comes after the add.
"""

from __future__ import annotations

from bench.scenarios.add_to_cart import AddToCart
from bench.scenarios.bare import Bare
from bench.scenarios.base import Load, Scenario
from bench.scenarios.cart_page import CartPage
from bench.scenarios.floor import Floor
from bench.scenarios.place_order import PlaceOrder
from bench.scenarios.product_page import ProductPage

SCENARIOS: tuple[type[Scenario], ...] = (Bare, AddToCart, Floor, CartPage, ProductPage, PlaceOrder)

__all__ = ["SCENARIOS", "AddToCart", "Bare", "CartPage", "Floor", "Load", "PlaceOrder", "ProductPage", "Scenario"]
