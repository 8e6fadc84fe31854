"""A user's own settings, which they change themselves (unlike the rest of their account, which admins change)."""

from __future__ import annotations

from sqlmodel import Session

from crm import changes
from crm.errors import ValidationFailed
from crm.models import User, utcnow

LOCALES = ("ru", "en")


def set_locale(session: Session, user: User, locale: str) -> None:
    """Set the language of ``user``'s screens; the user record's version rises, so laptops get it."""
    if locale not in LOCALES:
        raise ValidationFailed(f"language must be one of {', '.join(LOCALES)}", details={"locale": "unknown language"})
    if user.locale == locale:
        return
    user.locale = locale
    user.version += 1
    user.updated_at = utcnow()
    user.updated_by = user.id
    session.add(user)
    changes.bump(session)
