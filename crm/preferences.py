"""A user's own settings, which they change themselves (unlike the rest of their account, which admins change).

They are ordinary fields of the user's record (``crm.access.OWN_SETTINGS``), changed through
``crm.records.update`` like any edit — so the change log carries them to the user's laptops,
and a laptop's change reaches the server through its outbox like any other.
"""

from __future__ import annotations

from sqlmodel import Session

from crm import records
from crm.errors import ValidationFailed
from crm.models import User

LOCALES = ("ru", "en")


def check_locale(locale: str) -> None:
    if locale not in LOCALES:
        raise ValidationFailed(
            f"language must be one of {', '.join(LOCALES)}", details={"locale": "unknown language"}
        )


def set_locale(session: Session, user: User, locale: str) -> None:
    """Set the language of ``user``'s screens (their own record's ``locale``)."""
    check_locale(locale)
    records.update(session, user, records.record_type("users"), user.id, {"locale": locale})
