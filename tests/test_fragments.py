"""Fragments say what they show, pages say which they carry, and a change answers with exactly those."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import Shopper, htmx_headers, page_name
from web.fragments import EVERY_PAGE, SHOWN_ON, TARGETS, Fragment

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
DECLARED = {fragment.root_id for fragments in [EVERY_PAGE, *SHOWN_ON.values()] for fragment in fragments}
HX_HEADERS = re.compile(r"<body[^>]*hx-headers='([^']*)'")


def root_id(template: str) -> str:
    """The id of a partial's first element, past its Jinja comment."""
    text = re.sub(r"\{#.*?#\}", "", (TEMPLATES / template).read_text(), flags=re.S)
    found = re.search(r'<[a-z]+ id="([^"{]+)"', text)
    assert found, template
    return found.group(1)


def ids_in(html: str) -> set[str]:
    return set(re.findall(r' id="([^"]+)"', html)) & DECLARED


@pytest.mark.parametrize("fragment", TARGETS.values(), ids=lambda fragment: fragment.root_id)
def test_each_fragment_is_declared_with_its_templates_root_id(fragment: Fragment) -> None:
    assert root_id(fragment.template) == fragment.root_id


@pytest.fixture
def filled(shopper: Shopper) -> Shopper:
    shopper.add("test-1", 2)
    return shopper


@pytest.mark.parametrize(
    ("path", "shows"),
    [
        ("/", {"locality-deliver-to", "cart-badge", "cart-drawer"}),
        ("/?category=apparel", {"locality-deliver-to", "cart-badge", "cart-drawer"}),
        (
            "/products/test-1",
            {"locality-deliver-to", "cart-badge", "cart-drawer", "catalog-in-cart", "catalog-delivery"},
        ),
        ("/cart", {"locality-deliver-to", "cart-badge", "cart-contents"}),
        ("/login", {"locality-deliver-to", "cart-badge", "cart-drawer"}),
    ],
)
def test_a_page_carries_the_fragments_it_declares_and_names_itself(filled: Shopper, path: str, shows: set[str]) -> None:
    html = filled.visit(path).text
    assert ids_in(html) == shows
    sent = json.loads(HX_HEADERS.search(html).group(1))  # type: ignore[union-attr]
    if path != "/login":
        assert sent["X-Page"] == page_name(path)
    declared = SHOWN_ON.get(sent["X-Page"].partition(":")[0], EVERY_PAGE)
    assert {fragment.root_id for fragment in declared} == shows


@pytest.mark.parametrize(
    ("page", "target", "answered"),
    [
        ("/products/test-1", "cart-drawer", {"cart-drawer", "cart-badge", "catalog-in-cart"}),
        ("/products/test-2", "cart-drawer", {"cart-drawer", "cart-badge", "catalog-in-cart"}),
        ("/cart", "cart-contents", {"cart-contents", "cart-badge"}),
        ("/", "cart-drawer", {"cart-drawer", "cart-badge"}),
    ],
)
def test_an_edit_answers_its_target_then_what_else_the_page_shows(
    filled: Shopper, page: str, target: str, answered: set[str]
) -> None:
    line = filled.cart()["items"][0]["id"]
    response = filled.post(f"/cart/lines/{line}/quantity", {"quantity": "3"}, htmx=True, page=page, target=target)
    assert response.status_code == 200, response.text
    assert ids_in(response.text) == answered
    first = re.match(r'\s*<[a-z]+ id="([^"]+)"([^>]*)>', response.text)
    assert first and first.group(1) == target and "hx-swap-oob" not in first.group(2)
    for other in answered - {target}:
        assert re.search(rf'<[a-z]+ id="{other}"[^>]*hx-swap-oob="true"', response.text), other
    held = re.search(r'id="catalog-in-cart".*?</p>', response.text, re.S)
    if page == "/products/test-1":
        assert held and "3 of this in your cart" in held.group(0)
    elif held:
        assert "of this in your cart" not in held.group(0)  # test-2's page: none of test-2 in the cart


def test_a_page_name_nothing_declares_gets_the_header_and_drawer(filled: Shopper) -> None:
    headers = {**htmx_headers(filled.csrf, "/", "cart-drawer"), "X-Page": "no.such.page:<script>"}
    response = filled.client.get("/cart/drawer", headers=headers)
    assert response.status_code == 200
    assert ids_in(response.text) == {"cart-drawer", "cart-badge", "locality-deliver-to"}
    assert "<script>" not in response.text


def test_an_add_announces_itself_in_its_status_and_leaves_the_toast_empty(filled: Shopper) -> None:
    response = filled.add("test-1", 1, htmx=True)
    status = re.match(r'\s*<p id="catalog-add-status"[^>]*>(.*?)</p>', response.text, re.S)
    assert status and "Added 1 × Test product 1" in status.group(1)
    toast = re.search(r'<div id="toast"[^>]*>(.*?)</div>', response.text, re.S)
    assert toast and toast.group(1).strip() == ""


def test_a_page_key_is_sent_as_json_so_no_slug_can_break_the_header(app: Litestar) -> None:
    """The X-Page value sits in a JSON attribute; Jinja's tojson keeps quotes and markup out of it."""
    out = app.state.renderer
    html = out.render(
        "base.html",
        {"csrf_token": "t", "page_name": "catalog.product:a'b\"<c>", "cart": None, "flashes": [], "request_path": "/"},
    )
    sent = json.loads(HX_HEADERS.search(html).group(1))  # type: ignore[union-attr]
    assert sent["X-Page"] == "catalog.product:a'b\"<c>"


def test_the_refresh_of_a_tab_answers_everything_it_shows_without_a_toast(client: TestClient[Litestar]) -> None:
    """Another tab may have changed the cart or where to deliver: the refresh brings both."""
    shopper = Shopper(client)
    shopper.add("test-1", 1)
    response = client.get("/cart/drawer", headers=htmx_headers(shopper.csrf, "/cart", "cart-contents"))
    assert ids_in(response.text) == {"cart-contents", "cart-badge", "locality-deliver-to"}
    on_product = client.get("/cart/drawer", headers=htmx_headers(shopper.csrf, "/products/test-1", "cart-drawer"))
    assert ids_in(on_product.text) == {
        "cart-drawer",
        "cart-badge",
        "locality-deliver-to",
        "catalog-in-cart",
        "catalog-delivery",
    }
    assert 'id="toast"' not in response.text
