"""What can go wrong for a shopper, independent of HTTP: every problem a request can answer with.

Services and routes raise these; errors.py turns each into a page, an htmx fragment or JSON with
its status. Nothing here imports anything of the shop's, so every layer may raise them.
"""

from __future__ import annotations


class Problem(Exception):
    status = 400
    code = "BAD_REQUEST"
    # What the page shows of the visitor (header, badge), read in the unit that refused: set on a
    # NotFound of a page, so that the 404 page keeps the shop's header (web/visit.py).
    layout: dict[str, object] | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def details(self) -> dict[str, object]:
        """What a JSON answer carries beyond error, message and field (the short lines, say)."""
        return {}


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


class NotDeliverable(Conflict):
    """The product cannot be delivered to where the shopper asked to deliver."""

    code = "NOT_DELIVERABLE"


class CsrfRejected(Forbidden):
    code = "CSRF_FAILED"


class StaffOnly(Forbidden):
    """A logged-in shopper asked for a page that only the shop's staff may see."""

    code = "STAFF_ONLY"


class LoginRequired(Problem):
    """Only a logged-in user may do this: pages send the visitor to log in (and back), /api says 401."""

    status = 401
    code = "LOGIN_REQUIRED"


class WrongCredentials(Problem):
    status = 401
    code = "INVALID_CREDENTIALS"


class UnsupportedMediaType(Problem):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class TooManyAttempts(Problem):
    status = 429
    code = "TOO_MANY_ATTEMPTS"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionNotSaved(Problem):
    """What the request did lives in the session (a login, a logout), and the session store failed
    to write it after the database had committed: the session is as it was, so the answer is that
    it was not done, to be tried again."""

    status = 503
    code = "SESSION_NOT_SAVED"
    retry_after = 5


class LiveUnavailable(Problem):
    """A live stream cannot be opened just now (the pub/sub is unreachable, or the server is stopping)."""

    status = 503
    code = "LIVE_UNAVAILABLE"


class CartMissing(NotFound):
    """The cart the session pointed at no longer exists (purged by housekeeping)."""


class EditConflict(Conflict):
    """Someone else saved this record since it was read: nothing was saved, and `current` says what it holds now."""

    code = "EDIT_CONFLICT"

    def __init__(self, message: str, current: dict[str, object]) -> None:
        super().__init__(message)
        self.current = current

    def details(self) -> dict[str, object]:
        return {"current": self.current}


class TooLarge(Problem):
    """A request body (an upload) larger than the shop accepts."""

    status = 413
    code = "TOO_LARGE"
