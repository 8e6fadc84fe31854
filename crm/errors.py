"""Domain errors.

Every error Satchel reports to a person is one of these. Each carries a stable
``code`` and a message that says what was wrong; the HTTP layer and the CLI map
them to a status or an exit code in exactly one place each
(``server/errors.py`` and ``crm/console.py``).
"""

from __future__ import annotations

from typing import Any


class SatchelError(Exception):
    """Base of all domain errors."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(SatchelError):
    """Input does not satisfy the record's rules. ``details`` maps field → message."""

    code = "validation_failed"


class NotFound(SatchelError):
    """The record does not exist, or the caller may not know that it exists."""

    code = "not_found"


class PermissionDenied(SatchelError):
    """The caller may see the record but not do this to it."""

    code = "permission_denied"


class Unauthenticated(SatchelError):
    """No valid credentials: wrong password, unknown, revoked or stale token, disabled user."""

    code = "unauthenticated"


class RateLimited(SatchelError):
    """Too many attempts; ``retry_after`` says when to try again (seconds)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Overloaded(RateLimited):
    """The server has as much work in hand as it takes; nothing was done, try after ``retry_after``."""

    code = "overloaded"


class VersionConflict(SatchelError):
    """The record changed since the version the caller based its edit on."""

    code = "version_conflict"


class AlreadyExists(SatchelError):
    """A record with the same unique key exists."""

    code = "already_exists"


class InUse(SatchelError):
    """Other records still refer to the one to delete (or the record refers to one that is gone)."""

    code = "in_use"


def refused_by_keys(message: str, sqlstate: str | None) -> SatchelError:
    """What to tell of a write the database refused for one of its keys (``message`` and
    ``sqlstate``: the database's own, which are not shown: they name tables and ids): a foreign key
    (PostgreSQL's 23503, SQLite's "FOREIGN KEY constraint failed"), or a unique value taken."""
    if sqlstate == "23503" or "foreign key" in message.lower():
        if message.lower().startswith("update or delete"):
            return InUse(
                "other records still refer to it (a deal's interactions, an event's mailings and "
                "the like); nothing was changed"
            )
        return InUse(
            "it refers to a record that is gone, or other records still refer to it; "
            "nothing was changed"
        )
    return AlreadyExists(
        "a record with the same unique value (login, name or id) already exists; "
        "nothing was changed"
    )


class ImportFailed(SatchelError):
    """An import was refused as a whole; ``details`` lists the rows and what was wrong."""

    code = "import_failed"


class MalformedInput(SatchelError):
    """The request itself cannot be read: not JSON, wrong shape, bad parameter syntax."""

    code = "malformed_input"


class TooLarge(SatchelError):
    """The request is larger than the server accepts."""

    code = "too_large"
