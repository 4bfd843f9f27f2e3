"""Templates for a designer at work: in development an edited template shows on the next request and
a broken one names its file and line on the error page; production does neither."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import BASE_URL
from web.app import create_app
from web.settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ERROR_PAGE = "errors/error.html"
BREADCRUMBS = "catalog/partials/breadcrumbs.html"  # on the catalogue, "/"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    return copy


def shop(settings: Settings, templates: Path, *, production: bool) -> Iterator[TestClient[Litestar]]:
    if production:
        settings = settings.with_overrides(app_env="production", cookie_secure=True, secret_key="k" * 32)
    app = create_app(settings.with_overrides(templates_dir=templates))
    with TestClient(app, base_url="https://shop.test" if production else BASE_URL) as client:
        yield client
    app.state.shop.db.dispose()


@pytest.fixture
def development(settings: Settings, templates: Path) -> Iterator[TestClient[Litestar]]:
    yield from shop(settings, templates, production=False)


@pytest.fixture
def production(settings: Settings, templates: Path) -> Iterator[TestClient[Litestar]]:
    yield from shop(settings, templates, production=True)


def edit(path: Path, old: str, new: str) -> None:
    """Change a template on disk, with a later modification time (as an editor's save gives it)."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    later = os.stat(path).st_mtime + 5
    os.utime(path, (later, later))


def test_an_edited_template_shows_on_the_next_request_in_development(
    development: TestClient[Litestar], templates: Path
) -> None:
    assert "Back to the shop" in development.get("/nope").text
    edit(templates / ERROR_PAGE, "Back to the shop", "Back to the catalogue")
    assert "Back to the catalogue" in development.get("/nope").text


def test_a_shop_started_after_an_edit_shows_it_though_the_process_compiled_the_old_one(
    settings: Settings, templates: Path
) -> None:
    """Compiled templates are kept for the process (web/pages.py, COMPILED), keyed by file and
    checked against the source: a second app on the same folder, in production where a template is
    loaded once, gets the edited file, and another folder's template of the same name is its own."""
    first = shop(settings, templates, production=True)
    assert "Back to the shop" in next(first).get("/nope").text
    edit(templates / ERROR_PAGE, "Back to the shop", "Back to the catalogue")
    for client in shop(settings, templates, production=True):
        assert "Back to the catalogue" in client.get("/nope").text
    for client in shop(settings, TEMPLATES, production=True):
        assert "Back to the shop" in client.get("/nope").text
    next(first, None)  # the first shop, stopped


def test_production_keeps_the_templates_it_loaded(production: TestClient[Litestar], templates: Path) -> None:
    assert "Back to the shop" in production.get("/nope").text
    edit(templates / ERROR_PAGE, "Back to the shop", "Back to the catalogue")
    assert "Back to the shop" in production.get("/nope").text


def break_breadcrumbs(templates: Path) -> int:
    """An undefined name in the breadcrumbs, on a line of its own; its line number."""
    edit(templates / BREADCRUMBS, "</nav>", "  {{ crumbs_hint }}\n</nav>")
    return (templates / BREADCRUMBS).read_text().splitlines().index("  {{ crumbs_hint }}") + 1


def test_a_broken_template_names_its_file_and_line_in_development(
    development: TestClient[Litestar], templates: Path
) -> None:
    line = break_breadcrumbs(templates)
    response = development.get("/")
    assert response.status_code == 500
    assert (
        f"Template error in {BREADCRUMBS}, line {line}: UndefinedError: &#39;crumbs_hint&#39; is undefined"
        in response.text
    )
    assert f"{line} | {{{{ crumbs_hint }}}}" in response.text  # the line itself, as it is in the file
    assert "Error id: <code>" in response.text


def test_an_htmx_request_gets_the_file_and_line_in_its_toast_in_development(
    development: TestClient[Litestar], templates: Path
) -> None:
    line = break_breadcrumbs(templates)
    response = development.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 500
    assert 'id="toast"' in response.text
    assert f"Template error in {BREADCRUMBS}, line {line}" in response.text


def test_a_broken_layout_still_names_its_file_and_line_in_development(
    development: TestClient[Litestar], templates: Path
) -> None:
    """The error page extends base.html too: broken, it cannot be shown, so the answer is the text alone."""
    edit(templates / "base.html", '<main id="main">', '<main id="main">{{ banner }}')
    response = development.get("/")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert "Template error in base.html, line " in response.text and "'banner' is undefined" in response.text


def test_production_shows_the_usual_error_page_with_its_id(production: TestClient[Litestar], templates: Path) -> None:
    break_breadcrumbs(templates)
    response = production.get("/")
    assert response.status_code == 500
    assert "Something went wrong on our side. Please try again." in response.text
    assert "Error id: <code>" in response.text
    assert "breadcrumbs.html" not in response.text and "crumbs_hint" not in response.text
