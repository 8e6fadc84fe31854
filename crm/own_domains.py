"""The company's own mail domains, which no counterparty may claim (``crm.rules``).

They come from the users' addresses, and from whatever else registers a source here: the
mail bridge registers its mailboxes' (``mail/models.py``), since crm imports no mail code.
A module of its own, light to import, so that registering costs the mail bridge nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlmodel import Session, col

from crm.models import User

SOURCES: list[Callable[[Session], set[str]]] = []


def register(source: Callable[[Session], set[str]]) -> None:
    """Add a source of own domains (once, however often it is registered)."""
    if source not in SOURCES:
        SOURCES.append(source)


def of_company(session: Session) -> set[str]:
    """The company's own mail domains: of its users' addresses and of every registered source.
    A counterparty never claims one (every colleague's letter would be filed to that client)."""
    found = {
        email.rpartition("@")[2].strip().lower()
        for email in session.execute(
            select(col(User.email)).where(col(User.email).is_not(None))
        ).scalars()
        if email and "@" in email
    }
    for source in SOURCES:
        found |= source(session)
    return found
