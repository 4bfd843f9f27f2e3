"""What text the shop keeps, from any field of a form, a query or a JSON body. No HTTP here.

Text holds no control characters (C0, DEL and C1: PostgreSQL refuses NUL with an error, and an
escape sequence or a line break in a name or an email is never what was meant), except the line
breaks and tabs a field keeps (an order message), and nothing UTF-8 cannot hold: a lone surrogate,
which JSON can send as "\\ud800" and no database stores. Every field is checked against these two
rules here, and nowhere else.
"""

from __future__ import annotations

import re

from web.problems import InvalidInput

CONTROLS = "\x00-\x1f\x7f-\x9f"  # Unicode's Cc: C0, DEL and C1
SURROGATES = "\ud800-\udfff"  # Unicode's Cs
CONTROL = re.compile(f"[{CONTROLS}]")
SURROGATE = re.compile(f"[{SURROGATES}]")
UNFIT = re.compile(f"[{CONTROLS}{SURROGATES}]")


def has_controls(value: str, keep: str = "") -> bool:
    """Whether `value` holds a control character other than those in `keep`."""
    if not keep:
        return CONTROL.search(value) is not None
    return any(found.group() not in keep for found in CONTROL.finditer(value))


def storable(value: str) -> bool:
    """Whether UTF-8, and so the database, can hold `value`: no lone surrogates."""
    return SURROGATE.search(value) is None


def plain(value: str) -> bool:
    """Text with neither control characters nor lone surrogates."""
    return UNFIT.search(value) is None


def check(value: str, field: str, label: str) -> str:
    """`value` unchanged when plain(), else InvalidInput naming `field` and saying what is wrong."""
    if has_controls(value):
        raise InvalidInput(
            f"The {label} contains control characters (such as NUL or a line break): remove them and try again.",
            field=field,
        )
    if not storable(value):
        raise InvalidInput(
            f"The {label} contains characters that cannot be stored: remove them and try again.", field=field
        )
    return value
