"""Where a template went wrong: its name and line, for development's error page and the component gallery.

Jinja rewrites a traceback so that each template it passed through is a frame of its own, with the
template's file and line; the innermost such frame is where the template failed. Production never
shows this: its error page gives only the error id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from traceback import extract_tb


@dataclass(frozen=True)
class TemplateFault:
    name: str  # as the loader knows it: "cart/partials/drawer.html"
    line: int
    source: str  # that line of the template, as it is on disk
    error: str  # "UndefinedError: 'nope' is undefined"

    def __str__(self) -> str:
        return f"Template error in {self.name}, line {self.line}: {self.error}"


def template_fault(error: BaseException, templates_dir: Path) -> TemplateFault | None:
    """The innermost template under `templates_dir` that `error` passed through, or None when it
    came from Python alone."""
    for frame in reversed(extract_tb(error.__traceback__)):
        path = Path(frame.filename)
        if frame.lineno and path.is_relative_to(templates_dir):
            name = path.relative_to(templates_dir).as_posix()
            return TemplateFault(name, frame.lineno, (frame.line or "").strip(), f"{type(error).__name__}: {error}")
    return None
