"""templates/README.md, the designer's map, is checked against the templates it maps: every template
file is named in it, its Partials table lists every partial and no missing one, and each partial's
root id is the one the table gives, as the partial renders in the component gallery's states."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar

from web.component_fixtures import STATES
from web.components import partial_names, show

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
README = (TEMPLATES / "README.md").read_text()
TEMPLATE_FILES = sorted(
    path.relative_to(TEMPLATES).as_posix()
    for path in TEMPLATES.rglob("*")
    if path.is_file() and path.name != "README.md"
)
NAMED = set(re.findall(r"`([^`\s]+\.(?:html|txt))`", README))


def partials_table(readme: str) -> dict[str, str]:
    """The Partials table's rows: the partial's path → its "root id" cell."""
    section = readme.split("\n## Partials\n", 1)[1].split("\n#", 1)[0]
    rows = {}
    for row in re.findall(r"^\| `([^`]+)` \| (.*?) \|", section, flags=re.M):
        rows[row[0]] = row[1]
    return rows


def id_patterns(cell: str) -> list[re.Pattern[str]]:
    """The ids a root cell allows, outside its parentheses: `#cart-line-<line id>` allows any line id;
    "none" allows none."""
    outside = re.sub(r"\([^)]*\)", "", cell)
    ids = re.findall(r"`#([^`]+)`", outside)
    return [
        re.compile(
            "".join(".+" if part.startswith("<") else re.escape(part) for part in re.split(r"(<[^>]+>)", id_)) + "$"
        )
        for id_ in ids
    ]


TABLE = partials_table(README)


def test_the_checks_read_the_readme() -> None:
    assert "cart/partials/badge.html" in TABLE and "partials/toast.html" in TABLE
    assert [p.pattern for p in id_patterns("`#cart-line-<line id>`")] == [r"cart\-line\-.+$"]
    assert id_patterns('none (a `<span class="stock">`)') == []
    assert [p.pattern for p in id_patterns("`#orders-messages` (the heading is `#messages`)")] == [r"orders\-messages$"]


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_every_template_is_named_in_the_readme(name: str) -> None:
    assert name in NAMED, f"templates/README.md does not name `{name}`"


def test_the_partials_table_lists_every_partial_and_only_those() -> None:
    assert sorted(TABLE) == partial_names(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_a_partial_renders_with_the_root_id_the_readme_gives(app: Litestar, name: str) -> None:
    """Each state's output begins with an element whose first attribute is one of the ids given (or, for
    "none", with no id); a state that renders nothing (pagination of one page) has none to check."""
    allowed = id_patterns(TABLE[name])
    shown = [show(app.state.renderer, name, state) for state in STATES[name]]
    assert not [state.fault for state in shown if state.fault]
    roots = [state.root_id for state in shown if state.html.strip()]
    if not allowed:
        assert roots == [None] * len(roots), f"{name}: the README says it has no root id"
        return
    assert roots, name
    for root in roots:
        assert root is not None and any(pattern.match(root) for pattern in allowed), f"{name}: root id {root}"
