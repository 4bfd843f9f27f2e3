"""The files of static/ under names that carry their content's hash, cached by browsers for a year.

`static('css/shop.css')` in a template writes `/static/css/shop.<12 hex of its SHA-256>.css`; that
name is served with `Cache-Control: public, max-age=31536000, immutable`, so a returning shopper
asks for none of it again, and a changed file gets a new name, so no one is served a stale
stylesheet. The files themselves keep their names and contents (the vendored ones as upstream
ships them): only the URL carries the hash. The plain name (`/static/css/shop.css`) is still served,
with `Cache-Control: no-cache`, for whatever refers to a file directly.

A name whose hash is not the file's current one (a page rendered before a deploy, or by a worker
not yet restarted during one) is served the current file with `no-cache`, not a 404: the old page
keeps its stylesheet, close to the one it was made with, and nothing is cached for a year under a
name that does not match its bytes (which would be the stale stylesheet again, kept for good).

In production the hashes are taken once, at startup: the files do not change under a running
server (a deploy brings them with the code and restarts it). In development a file's hash is taken
again whenever its size or modification time changes, a stat per `static()` call.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import stat
from pathlib import Path, PurePath, PurePosixPath

from litestar import Router, get
from litestar.file_system import BaseLocalFileSystem
from litestar.params import FromPath
from litestar.response.file import ASGIFileResponse
from litestar.static_files import StaticFiles

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
DIGEST_LENGTH = 12
FINGERPRINTED = re.compile(rf"(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<suffix>\.[^./]+)")


def content_digest(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()[:DIGEST_LENGTH]


class Assets:
    """The static directory's files and their hashes: the URLs templates write, the files requests name."""

    def __init__(self, directory: Path, *, production: bool) -> None:
        self.directory = directory.resolve()
        self.watch = not production
        # A file's path in the directory -> (its modification time and size, its hash).
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}
        if production:
            for file in sorted(self.directory.rglob("*")):
                if file.is_file():
                    self._look(file.relative_to(self.directory).as_posix())

    def digest(self, path: str) -> str | None:
        """The hash of the file at `path` in the directory, or None when there is no such file."""
        if self.watch:
            return self._look(path)
        known = self._digests.get(path)
        return known[1] if known else None

    def _look(self, path: str) -> str | None:
        """The file's hash, taken again when its modification time or size has changed."""
        if posixpath.normpath(path) != path:  # "a/../b", "./a", "a//b": a file is known by its one plain name
            return None
        file = self.directory / path
        try:
            if not file.resolve().is_relative_to(self.directory):
                return None
            found = file.stat()
        except (OSError, ValueError):  # no such file, or a name no file can have (a NUL in it)
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        version = (found.st_mtime_ns, found.st_size)
        known = self._digests.get(path)
        if known is None or known[0] != version:
            known = self._digests[path] = (version, content_digest(file))
        return known[1]

    def url(self, path: str) -> str:
        """The template global `static(path)`: the file's fingerprinted URL, or its plain one when
        there is no such file (or its name has no extension to put the hash before)."""
        digest = self.digest(path)
        suffix = PurePosixPath(path).suffix
        if digest is None or not suffix:
            return f"/static/{path}"
        return f"/static/{path.removesuffix(suffix)}.{digest}{suffix}"

    def resolve(self, requested: str) -> tuple[str, bool]:
        """The file a request names, and whether the name carries that file's current hash. A name
        that only looks fingerprinted (no file answers to it without the hash) is taken as it is."""
        named = FINGERPRINTED.fullmatch(requested)
        if named is None:
            return requested, False
        plain = named["stem"] + named["suffix"]
        digest = self.digest(plain)
        if digest is None:
            return requested, False
        return plain, digest == named["digest"]


def router(assets: Assets) -> Router:
    """GET /static/<path>: immutable under the current hash, `no-cache` under any other name.
    Litestar's StaticFiles finds the file (never outside the directory) and sends it."""
    file_system = BaseLocalFileSystem()
    lasting, checked = (
        StaticFiles(is_html_mode=False, directories=[assets.directory], file_system=file_system, headers=headers)
        for headers in ({"cache-control": IMMUTABLE}, {"cache-control": REVALIDATE})
    )

    @get("/{file_path:path}", name="static", include_in_schema=False)
    async def static_file(file_path: FromPath[PurePath]) -> ASGIFileResponse:
        path, current = assets.resolve(file_path.as_posix().lstrip("/"))
        return await (lasting if current else checked).handle(path=path, is_head_response=False)

    return Router(path="/static", route_handlers=[static_file])
