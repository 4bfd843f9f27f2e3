"""Strict parsing of what shoppers send. Anything unexpected is an InvalidInput with a readable message."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl, quote

from litestar import Request
from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import PathParameter

from web import text
from web.headers import header, media_type
from web.problems import InvalidInput

DIGITS = re.compile(r"[0-9]{1,9}")
MAX_ID = 2**31 - 1

# An id in the URL; one beyond the database's integer range is refused (400) before any query sees it.
PathId = Annotated[int, PathParameter(ge=1, le=MAX_ID)]


URLENCODED = "application/x-www-form-urlencoded"
# What a redirect target keeps as it is: RFC 3986's reserved characters, and "%" (a target is a
# URL already, its escapes stay); letters, digits and "-._~" always stay. All else is escaped.
URL_CHARACTERS = "/?#[]@!$&'()*+,;=:%"
MAX_TARGET = 2000

# Litestar's form and query multidicts, or Fields; only their getall(key, default) is used.
MultiDict = Any


class Fields:
    """A url-encoded form's fields: every value sent under a name, in the order sent."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def getall(self, name: str, default: list[Any]) -> list[Any]:
        return self._values.get(name, default)


async def read(request: Request) -> MultiDict:
    """The form a request sends. Every form of ours is url-encoded: its body is read and parsed here
    the way Litestar does it (read as Latin-1, percent-escapes decoded as UTF-8) without the general
    machinery around it, which costs more than the parsing (bench/README.md). Anything else
    (multipart) is Litestar's.

    Bytes that are not UTF-8 arrive as U+FFFD in a url-encoded field (as from Litestar); in a
    multipart field Litestar decodes strictly, in the charset a part names (any Python codec, one
    that can make lone surrogates too), so such a field is refused here rather than a 500.
    """
    if media_type(request) != URLENCODED:
        try:
            form = await request.form()
        except (UnicodeDecodeError, LookupError):
            raise InvalidInput("The form could not be read: send its text as UTF-8.") from None
        for name, value in form.multi_items():
            if isinstance(value, str) and not text.storable(value):
                raise InvalidInput(f"The {name} contains characters that cannot be stored.", field=name)
        return form
    body = await read_body(request, request.route_handler.resolve_request_max_body_size() or math.inf)
    return Fields(parse_qsl(body.decode("latin-1"), keep_blank_values=True))


async def read_body(request: Request, limit: float) -> bytes:
    """The whole body from the ASGI channel; 413 beyond `limit`, announced or sent, as Litestar does."""
    announced = header(request, "content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise RequestEntityTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientException("The request ended before its body was complete.")
        chunk = cast("bytes", message.get("body", b""))
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def one(form: MultiDict, name: str, *, required: bool = True, label: str | None = None) -> str | None:
    """The single value of a field: refused when repeated, missing (if required) or not text."""
    values = form.getall(name, [])
    label = label or name.replace("_", " ")
    if len(values) > 1:
        raise InvalidInput(f"The {label} was sent more than once.", field=name)
    if not values or values[0] == "":
        if required:
            raise InvalidInput(f"Please give the {label}.", field=name)
        return None
    value = values[0]
    if not isinstance(value, str):
        raise InvalidInput(f"The {label} must be text.", field=name)
    return value


def whole_number(raw: str, *, name: str, label: str, minimum: int, maximum: int) -> int:
    """A plain ASCII whole number within bounds: no signs, decimals, exponents or other scripts' digits."""
    typed = raw.strip()
    if not DIGITS.fullmatch(typed):
        raise InvalidInput(f"The {label} must be a whole number from {minimum} to {maximum}.", field=name)
    value = int(typed)
    if not minimum <= value <= maximum:
        raise InvalidInput(f"The {label} must be a whole number from {minimum} to {maximum}.", field=name)
    return value


def quantity(form: MultiDict, maximum: int, *, minimum: int = 1, name: str = "quantity") -> int:
    raw = one(form, name, label="quantity")
    assert raw is not None
    return whole_number(raw, name=name, label="quantity", minimum=minimum, maximum=maximum)


def identifier(form: MultiDict, name: str, label: str) -> int:
    raw = one(form, name, label=label)
    assert raw is not None
    return whole_number(raw, name=name, label=label, minimum=1, maximum=MAX_ID)


def safe_next(target: str | None, fallback: str = "/") -> str:
    """A same-site path to go to, as a Location header can carry it, or the fallback.

    Never an open redirect: a path from the root ("/..."), not "//host" nor "/\\host" (which
    browsers read as another site), with no control characters (browsers drop tabs and line breaks,
    so "/\\t/host" is "//host"). Non-ASCII and spaces are percent-encoded and escapes already there
    are kept, so the answer is ASCII and safe_next(safe_next(x)) == safe_next(x). Total: it never
    raises, whatever the text, so a redirect worked out after the unit of work committed cannot fail.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or not text.plain(target):
        return fallback
    location = quote(target, safe=URL_CHARACTERS)
    return location if len(location) <= MAX_TARGET else fallback
