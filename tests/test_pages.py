"""Rendering helpers: partial() renders a partial from its values alone and reuses the HTML."""

from __future__ import annotations

import dataclasses
import inspect
import os
from itertools import count
from pathlib import Path

import jinja2
import jinja2.runtime
import pytest
from jinja2 import UndefinedError
from litestar import Litestar

from web.cart.store import CartView, Line
from web.pages import Renderer
from web.settings import Settings


def renderer(app: Litestar, settings: Settings, templates: Path, **files: str) -> Renderer:
    for name, text in files.items():
        (templates / name).write_text(text)
    made = Renderer(dataclasses.replace(settings, templates_dir=templates), app)
    renders = count(1)
    made.env.globals["render_number"] = lambda: next(renders)
    return made


def test_a_partial_is_rendered_once_for_the_same_values(app: Litestar, settings: Settings, tmp_path: Path) -> None:
    out = renderer(app, settings, tmp_path, **{"line.html": "{{ name }} x{{ qty }} #{{ render_number() }}"})
    page = out.env.from_string("{{ partial('line.html', name=name, qty=qty) }}")

    assert page.render(name="Tea", qty=1) == "Tea x1 #1"
    assert page.render(name="Tea", qty=1) == "Tea x1 #1"  # the same values: the same HTML, not rendered again
    assert page.render(name="Tea", qty=2) == "Tea x2 #2"  # any value changed: rendered afresh
    assert page.render(name="Mug", qty=1) == "Mug x1 #3"


def test_a_partial_is_escaped_once(app: Litestar, settings: Settings, tmp_path: Path) -> None:
    out = renderer(app, settings, tmp_path, **{"p.html": "<b>{{ name }}</b>"})
    html = out.env.from_string("{{ partial('p.html', name=name) }}").render(name="<script>")
    assert html == "<b>&lt;script&gt;</b>"


def test_a_partial_sees_only_its_values_and_the_globals(app: Litestar, settings: Settings, tmp_path: Path) -> None:
    """So nothing outside its key can change its HTML: a name it was not given is an error."""
    out = renderer(app, settings, tmp_path, **{"p.html": "{{ name }} {{ user }}"})
    with pytest.raises(UndefinedError):
        out.env.from_string("{{ partial('p.html', name='Tea') }}").render(user="someone")


@pytest.mark.parametrize(
    "value",
    [["Tea"], {"name": "Tea"}, CartView(), ("Tea", ["mutable inside"]), object()],
    ids=["list", "dict", "dataclass", "tuple holding a list", "plain object"],
)
def test_a_partial_refuses_values_that_could_change_under_its_kept_html(
    app: Litestar, settings: Settings, tmp_path: Path, value: object
) -> None:
    """A plain object hashes by identity: mutated, it would still find the HTML rendered before."""
    out = renderer(app, settings, tmp_path, **{"p.html": "{{ v }}"})
    with pytest.raises(TypeError, match=r"partial\('p.html'\): v is a \w+; every value must be immutable"):
        out.env.from_string("{{ partial('p.html', v=v) }}").render(v=value)


def test_a_partial_takes_text_numbers_none_and_cart_lines(app: Litestar, settings: Settings, tmp_path: Path) -> None:
    out = renderer(app, settings, tmp_path, **{"p.html": "{{ s }} {{ n }} {{ f }} {{ b }} {{ z }} {{ line.title }}"})
    line = Line(1, 2, "tea", "Tea", "", "tea.svg", 500, 3)
    page = out.env.from_string("{{ partial('p.html', s='a', n=1, f=1.5, b=true, z=none, line=line) }}")
    assert page.render(line=line) == "a 1 1.5 True None Tea"


def test_a_type_error_inside_a_partial_keeps_its_own_message(app: Litestar, settings: Settings, tmp_path: Path) -> None:
    """A slip in the template (here a list used as a dict key) is not blamed on the values."""
    out = renderer(app, settings, tmp_path, **{"p.html": "{{ [name] in {} }}"})
    with pytest.raises(TypeError, match="unhashable") as raised:
        out.env.from_string("{{ partial('p.html', name='Tea') }}").render()
    assert "partial(" not in str(raised.value)


def test_an_edited_partial_is_shown_at_once_in_development(app: Litestar, settings: Settings, tmp_path: Path) -> None:
    assert not settings.production
    out = renderer(app, settings, tmp_path, **{"p.html": "old {{ n }}"})
    page = out.env.from_string("{{ partial('p.html', n=1) }}")
    assert page.render() == "old 1"
    (tmp_path / "p.html").write_text("new {{ n }}")
    later = os.stat(tmp_path / "p.html").st_mtime + 5
    os.utime(tmp_path / "p.html", (later, later))
    assert page.render() == "new 1"


def test_the_jinja_internals_our_stand_ins_rely_on_are_still_there() -> None:
    """ShopEnvironment replaces make_globals(d), which Jinja 3.1 calls for every template it loads
    and whose result it keeps as the template's globals. An upgrade that changes this must fail
    here, loudly, rather than render wrongly; then re-measure (docs/design.md §8) and adapt."""
    assert jinja2.__version__.startswith("3.1."), f"Jinja {jinja2.__version__}: check ShopEnvironment"
    assert list(inspect.signature(jinja2.Environment.make_globals).parameters) == ["self", "d"]
    assert "self.make_globals(globals)" in inspect.getsource(jinja2.Environment._load_template)


def test_templates_get_plain_dict_globals_that_see_every_registered_function(app: Litestar) -> None:
    """ShopEnvironment copies the globals into each template once: a later global would be missed,
    so the Renderer registers all of them before any template loads."""
    out = app.state.renderer
    template = out.env.get_template("cart/partials/badge.html")
    assert type(template.globals) is dict
    assert {"url", "static", "partial", "max_line_quantity"} <= set(template.globals)
