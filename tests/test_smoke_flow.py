from tests.conftest import Shopper


def test_add_twice_then_cart_shows_two(shopper: Shopper) -> None:
    shopper.visit("/products/test-1")
    assert shopper.add("test-1").status_code == 303
    assert shopper.add("test-1", htmx=True).status_code == 200
    assert shopper.quantities() == {f"test-1:{shopper.cart()['items'][0]['variantId']}": 2}
