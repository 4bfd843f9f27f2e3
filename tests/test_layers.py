"""Guardrails for the structure: who may read whose cart from the session.

Owner logic copied into routes was the root of the old shop's bugs (a product page writing to one
cart while the cart page read another), so only web/owner.py reads or writes the session keys that
say who a session belongs to, and the session store, which indexes sessions by user. The layering
itself (and that no service imports Litestar) is the import-linter contract in pyproject.toml,
run by `make lint`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parent.parent / "web"
IDENTITY_KEYS = {"user_id", "cart_id", "unmerged_cart_id"}
IDENTITY_CONSTANTS = {"USER_ID", "CART_ID", "UNMERGED_CART_ID"}
ALLOWED = {WEB / "owner.py", WEB / "sessions.py"}
SESSION_METHODS = {"get", "set", "pop", "setdefault", "__getitem__", "__contains__"}


def mentions_session(node: ast.AST) -> bool:
    """Whether an expression goes through something named like a session (v.session, scope["session"])."""
    for part in ast.walk(node):
        name = part.attr if isinstance(part, ast.Attribute) else part.id if isinstance(part, ast.Name) else None
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            name = part.value
        if name is not None and "session" in name:
            return True
    return False


def identity_reads(source: str) -> list[str]:
    """Where code reads or writes a session's identity keys: session.get("user_id"), session.data["cart_id"],
    or the owner module's key constants used anywhere."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SESSION_METHODS:
            key = node.args[0] if node.args else None
            if isinstance(key, ast.Constant) and key.value in IDENTITY_KEYS and mentions_session(node.func.value):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Subscript) and mentions_session(node.value):
            if isinstance(node.slice, ast.Constant) and node.slice.value in IDENTITY_KEYS:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Attribute) and node.attr in IDENTITY_CONSTANTS:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "path", sorted(p for p in WEB.rglob("*.py") if p not in ALLOWED), ids=lambda p: str(p.relative_to(WEB))
)
def test_only_the_owner_resolver_reads_who_a_session_belongs_to(path: Path) -> None:
    assert identity_reads(path.read_text()) == [], f"{path.name}: ask web/owner.py instead"


@pytest.mark.parametrize(
    "code",
    [
        'user = v.session.get("user_id")',
        'v.session.set("cart_id", 3)',
        'request.scope["state"]["session"].pop("unmerged_cart_id")',
        'cart = session.data["cart_id"]',
        "key = owner.CART_ID",
    ],
)
def test_the_check_sees_every_way_of_reading_the_keys(code: str) -> None:
    assert identity_reads(code)


def test_the_check_leaves_other_keys_and_other_dicts_alone() -> None:
    assert identity_reads('v.session.get("flash"); row = {"user_id": 1}; row.get("user_id")') == []
