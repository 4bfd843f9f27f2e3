"""The component gallery at /_components: every partial in every state in development, nothing in production."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL
from web.app import create_app
from web.component_fixtures import STATES
from web.components import partial_names
from web.settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SHOWN = re.compile(r'<section id="gallery-[^"]+" class="gallery-section" data-template="([^"]+)"')


@pytest.fixture
def own_templates(settings: Settings, tmp_path: Path) -> Iterator[tuple[TestClient[Litestar], Path]]:
    """A development app reading a copy of the templates, for a test to change."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    app = create_app(settings.with_overrides(templates_dir=templates))
    with TestClient(app, base_url=BASE_URL) as client:
        yield client, templates
    app.state.shop.db.dispose()


def test_every_partial_file_is_found() -> None:
    """The gallery's list is the files themselves, so a new partial shows up (empty) on its own."""
    names = partial_names(TEMPLATES)
    assert "cart/partials/badge.html" in names and "partials/flash.html" in names
    assert len(names) == len(list(TEMPLATES.glob("partials/*.html")) + list(TEMPLATES.glob("*/partials/*.html")))


def test_every_partial_has_states_and_no_state_names_a_missing_file() -> None:
    """Fails when a partial is added without showing it in web/component_fixtures.py, or removed and left there."""
    assert sorted(STATES) == partial_names(TEMPLATES)
    assert all(STATES.values())


def test_the_gallery_shows_every_partial_in_every_state_in_development(client: TestClient[Litestar]) -> None:
    response = client.get("/_components")
    assert response.status_code == 200
    html = response.text
    assert SHOWN.findall(html) == partial_names(TEMPLATES)
    assert html.count('<div class="gallery-state">') == sum(len(states) for states in STATES.values())
    assert "gallery-broken" not in html
    # The gallery's heading has the focus; a state's own autofocus would scroll the gallery to it on load.
    assert html.count(" autofocus") == 1 and '<h1 tabindex="-1" autofocus>Components</h1>' in html
    assert '<h2 id="gallery-cart-partials-drawer-title"><code>templates/cart/partials/drawer.html</code>' in html
    assert "<code>#cart-drawer</code>" in html


def test_the_gallery_shows_the_states_asked_for(client: TestClient[Litestar]) -> None:
    html = client.get("/_components").text
    assert 'data-count="12"' in html  # the badge with many items
    assert "Cannot be delivered to CH" in html  # the undeliverable line
    assert "Only 3 left of Tea tin: quantity reduced to 3." in html  # the clamp notice
    assert 'class="stock stock-out">Sold out' in html and "product-card-sold-out" in html
    assert 'aria-current="step">Delivery' in html
    assert 'class="status-chip status-cancelled"' in html
    assert "Storefront staff · Grace" in html
    assert 'id="email-error" class="field-error"' in html


def test_a_form_in_the_gallery_carries_no_real_token(client: TestClient[Litestar]) -> None:
    """What a designer sends from the gallery is refused, so it changes nothing."""
    html = client.get("/_components").text
    assert 'name="csrf_token" value="gallery-token"' in html
    assert "X-CSRF-Token" not in html
    assert client.post("/cart/clear", data={"csrf_token": "gallery-token"}).status_code == 403


def test_there_is_no_gallery_in_production(settings: Settings) -> None:
    production = settings.with_overrides(app_env="production", cookie_secure=True, secret_key="k" * 32)
    app = create_app(production)
    with TestClient(app, base_url="https://shop.test") as client:
        assert client.get("/_components").status_code == 404
    app.state.shop.db.dispose()


def test_a_broken_partial_shows_where_in_its_own_box_and_the_rest_still_renders(
    own_templates: tuple[TestClient[Litestar], Path],
) -> None:
    client, templates = own_templates
    badge = templates / "cart/partials/badge.html"
    badge.write_text(badge.read_text() + "{{ badge_colour }}\n")
    html = client.get("/_components").text
    line = len(badge.read_text().splitlines())
    assert html.count("gallery-broken") == len(STATES["cart/partials/badge.html"])
    assert (
        f"Template error in cart/partials/badge.html, line {line}: UndefinedError: &#39;badge_colour&#39; is undefined"
        in html
    )
    assert 'id="cart-drawer"' in html


def test_a_new_partial_without_states_is_shown_as_missing_them(
    own_templates: tuple[TestClient[Litestar], Path],
) -> None:
    client, templates = own_templates
    (templates / "cart/partials/promo.html").write_text('<p id="cart-promo">Free delivery this week</p>\n')
    html = client.get("/_components").text
    assert 'data-template="cart/partials/promo.html"' in html
    assert "No states yet: add them to STATES in web/component_fixtures.py." in html
