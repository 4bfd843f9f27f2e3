"""The component gallery at /_components, development only: every partial in every state.

The states are web/component_fixtures.py's, rendered by the shop's own Jinja environment (strict
undefined, the same globals and filters), so a designer sees each piece as the shop renders it
without walking a journey to reach it. create_app() registers the route only outside production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from litestar import Request, Response, Router, get
from markupsafe import Markup

from web.component_fixtures import CONTAINERS, STATES, State
from web.pages import Renderer, page, renderer
from web.template_faults import template_fault

# The id of the element a partial's output begins with (its root), as templates/README.md's rule 2 says.
ROOT_ID = re.compile(r'\s*<[a-z]+ id="([^"]+)"')
# A state's autofocus (a refused message form has one) would scroll the whole gallery to it on load.
AUTOFOCUS = re.compile(r"(<[^>]*?) autofocus(?=[\s/>])")


@dataclass(frozen=True)
class Shown:
    label: str
    html: Markup
    values: tuple[str, ...]  # the names the state passes, for the designer to read what the partial needs
    fault: str = ""  # why it did not render

    @property
    def root_id(self) -> str | None:
        found = ROOT_ID.match(self.html)
        return found.group(1) if found else None


@dataclass(frozen=True)
class Section:
    template: str
    states: tuple[Shown, ...]
    container: tuple[str, str] = ("div", "")  # what each state is framed in: its list, for a list item

    @property
    def anchor(self) -> str:
        return "gallery-" + re.sub(r"[^a-z0-9]+", "-", self.template.removesuffix(".html"))

    @property
    def root_ids(self) -> list[str]:
        return list(dict.fromkeys(shown.root_id for shown in self.states if shown.root_id))


def partial_names(templates_dir: Path) -> list[str]:
    """Every partial: templates/partials/*.html and templates/<feature>/partials/*.html."""
    found = [*templates_dir.glob("partials/*.html"), *templates_dir.glob("*/partials/*.html")]
    return sorted(path.relative_to(templates_dir).as_posix() for path in found)


def show(out: Renderer, name: str, state: State) -> Shown:
    values = tuple(state.context)
    try:
        template = out.env.from_string(state.snippet) if state.snippet else out.env.get_template(name)
        html = Markup(AUTOFOCUS.sub(r"\1", template.render(dict(state.context))))
    except Exception as error:  # a slip in one partial shows in its own box; the rest of the gallery renders
        fault = template_fault(error, out.templates_dir)
        return Shown(state.label, Markup(""), values, str(fault) if fault else f"{type(error).__name__}: {error}")
    return Shown(state.label, html, values)


def section(out: Renderer, name: str) -> Section:
    shown = tuple(show(out, name, state) for state in STATES.get(name, ()))
    return Section(name, shown, CONTAINERS.get(name, ("div", "")))


@get("/_components", name="components.gallery")
async def gallery(request: Request) -> Response[str]:
    out = renderer(request)
    sections = [section(out, name) for name in partial_names(out.templates_dir)]
    # The layout as the error page has it (no cart, no session): the gallery reads nothing from the database.
    context = {"sections": sections, "cart": None, "csrf_token": "", "flashes": [], "drawer_open": False}
    return page(request, "components/gallery.html", context)


router = Router(path="/", route_handlers=[gallery])
