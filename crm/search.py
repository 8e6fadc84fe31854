"""Finding counterparties and contact persons by name, INN, phone or email.

SQLite's ``LIKE`` folds ASCII only, so names are matched against a case-folded
copy (``search_name``) made by ``validation.fold_text``; phones, emails and INNs
are matched through the derived ``ContactKey`` index, where phones are kept as
E.164 digits so that "8 (916) 123-45-67", "+7 916 1234567" and "123-45-67" all
find the same number.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlmodel import Session

from crm import validation
from crm.models import ContactKey, ContactPerson, Counterparty
from crm.models.enums import ContactKind

# A query made only of these characters is a phone number or an INN, not a name.
_NUMERIC_QUERY = re.compile(r"^[\d\s+()\-.]+$")


def keys_for(record: Counterparty | ContactPerson) -> list[tuple[str, str]]:
    """The (kind, key) pairs under which ``record`` is found."""
    keys: set[tuple[str, str]] = set()
    for item in record.contacts:
        if item.get("kind") == ContactKind.PHONE:
            keys.add(("phone", item["value"].lstrip("+")))
        elif item.get("kind") == ContactKind.EMAIL:
            keys.add(("email", item["value"]))
    if isinstance(record, Counterparty) and record.inn:
        keys.add(("inn", record.inn))
    return sorted(keys)


def reindex(session: Session, record: Counterparty | ContactPerson, *, deleted: bool = False) -> None:
    """Replace the index rows of ``record`` (or drop them when it is deleted)."""
    session.execute(delete(ContactKey).where(ContactKey.record_id == record.id))  # type: ignore[arg-type]
    if deleted:
        return
    record_type = "counterparty" if isinstance(record, Counterparty) else "contact_person"
    counterparty_id = record.id if isinstance(record, Counterparty) else record.counterparty_id
    for kind, key in keys_for(record):
        session.add(ContactKey(record_type=record_type, record_id=record.id,
                               counterparty_id=counterparty_id, kind=kind, key=key))


def _key_match(q: str) -> ColumnElement[bool] | None:
    """Condition on ContactKey for a query that is an email or a number; None for a name."""
    text = q.strip()
    if "@" in text:
        return (ContactKey.kind == "email") & ContactKey.key.contains(text.lower(), autoescape=True)
    if _NUMERIC_QUERY.match(text):
        digits = validation.phone_search_digits(text)
        raw = re.sub(r"\D", "", text)
        if not raw:
            return None
        conds = [(ContactKey.kind == "inn") & ContactKey.key.startswith(raw, autoescape=True)]
        if len(digits) >= 3:
            conds.append((ContactKey.kind == "phone") & ContactKey.key.contains(digits, autoescape=True))
        return or_(*conds)
    return None


def counterparty_condition(q: str) -> ColumnElement[bool]:
    """Condition on ``Counterparty`` for the search box: name, INN, phone or email of it or its people."""
    keys = _key_match(q)
    if keys is not None:
        return Counterparty.id.in_(select(ContactKey.counterparty_id).where(keys))
    return Counterparty.search_name.contains(validation.fold_text(q), autoescape=True)


def contact_person_condition(q: str) -> ColumnElement[bool]:
    keys = _key_match(q)
    if keys is not None:
        return ContactPerson.id.in_(
            select(ContactKey.record_id).where(keys, ContactKey.record_type == "contact_person")
        )
    return ContactPerson.search_name.contains(validation.fold_text(q), autoescape=True)


def condition_for(model: type[Any], q: str) -> ColumnElement[bool] | None:
    if model is Counterparty:
        return counterparty_condition(q)
    if model is ContactPerson:
        return contact_person_condition(q)
    return None
