"""What can go wrong for a shopper, independent of HTTP. errors.py turns these into responses."""

from __future__ import annotations


class Problem(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(Problem):
    status = 400
    code = "INVALID_BODY"


class NotFound(Problem):
    status = 404
    code = "NOT_FOUND"


class Conflict(Problem):
    status = 409
    code = "CONFLICT"


class Forbidden(Problem):
    status = 403
    code = "FORBIDDEN"
