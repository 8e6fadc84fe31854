"""Finding counterparties and contact persons by name, INN, phone or email.

Every searchable value is written, normalised, into the derived ``ContactKey``
index, and every search is a prefix range on that index — no scan of the
records, whatever the database:

* ``word``: each word of a name, case-folded (``ё`` = ``е``), so a name is
  found by the beginning of any of its words, Cyrillic in any case (SQLite's
  own ``LIKE`` folds ASCII only);
* ``phone`` and ``phone_rev``: E.164 digits and the same reversed, so that
  "8 (916) 123-45-67", "+7 916" (a prefix) and "123-45-67" (a suffix) all find
  +79161234567;
* ``email`` and ``email_domain``; ``inn``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlmodel import Session, col

from crm import access, validation
from crm.models import ContactKey, ContactPerson, Counterparty, User
from crm.models.enums import ContactKind

# A query made only of these characters is a phone number or an INN, not a name.
_NUMERIC_QUERY = re.compile(r"^[\d\s+()\-.]+$")
_WORD = re.compile(r"\w+")
# Above every character a key may hold: the end of a prefix range under binary collation.
_TOP = "\uffff"


def words(text: str) -> list[str]:
    """The case-folded words of ``text``, as the index keeps them."""
    return _WORD.findall(validation.fold_text(text))


def keys_for(record: Counterparty | ContactPerson) -> list[tuple[str, str]]:
    """The (kind, key) pairs under which ``record`` is found."""
    keys: set[tuple[str, str]] = set()
    for item in record.contacts:
        if item.get("kind") == ContactKind.PHONE:
            digits = item["value"].lstrip("+")
            keys.add(("phone", digits))
            keys.add(("phone_rev", digits[::-1]))
        elif item.get("kind") == ContactKind.EMAIL:
            keys.add(("email", item["value"]))
            keys.add(("email_domain", item["value"].rpartition("@")[2]))
    if isinstance(record, Counterparty):
        if record.inn:
            keys.add(("inn", record.inn))
        name = f"{record.legal_name} {record.short_name or ''}"
    else:
        name = record.full_name
    keys.update(("word", w[:300]) for w in words(name))
    return sorted(keys)


def key_rows(record: Counterparty | ContactPerson, counterparty: Counterparty) -> list[dict[str, Any]]:
    """The ``ContactKey`` rows of ``record``, which is ``counterparty`` or one of its people."""
    record_type = "counterparty" if isinstance(record, Counterparty) else "contact_person"
    return [{"record_type": record_type, "record_id": record.id, "counterparty_id": counterparty.id,
             "owner_id": counterparty.owner_id, "visibility": counterparty.visibility, "kind": kind, "key": key}
            for kind, key in keys_for(record)]


def reindex(session: Session, record: Counterparty | ContactPerson, *, deleted: bool = False) -> None:
    """Replace the index rows of ``record`` (or drop them when it is deleted).

    A counterparty's owner and visibility are copied onto its people's rows too,
    so that a search checks access inside the index.
    """
    session.execute(delete(ContactKey).where(col(ContactKey.record_id) == record.id))
    if deleted:
        return
    if isinstance(record, Counterparty):
        counterparty = record
        session.execute(update(ContactKey).where(col(ContactKey.counterparty_id) == record.id)
                        .values(owner_id=record.owner_id, visibility=record.visibility))
    else:
        counterparty = session.get_one(Counterparty, record.counterparty_id)
    rows = key_rows(record, counterparty)
    if rows:
        session.execute(insert(ContactKey), rows)


def _prefix(kind: str, prefix: str) -> ColumnElement[bool]:
    return and_(ContactKey.kind == kind, ContactKey.key >= prefix, ContactKey.key < prefix + _TOP)


def _key_conditions(q: str) -> tuple[bool, list[ColumnElement[bool]]]:
    """Whether ``q`` is a name, and the ContactKey conditions that must each hold for some key."""
    text = q.strip()
    if "@" in text:
        address = text.lower()
        if address.startswith("@"):
            return False, [_prefix("email_domain", address[1:])]
        return False, [_prefix("email", address)]
    if _NUMERIC_QUERY.match(text):
        raw = re.sub(r"\D", "", text)
        digits = validation.phone_search_digits(text)
        conds = [_prefix("inn", raw)] if raw else []
        if len(digits) >= 3:
            conds += [_prefix("phone", digits), _prefix("phone_rev", digits[::-1])]
        return False, [or_(*conds)] if conds else [ContactKey.id.is_(None)]
    found = words(text)
    return True, [_prefix("word", w) for w in found] if found else [ContactKey.id.is_(None)]


def _visible_keys(actor: User) -> ColumnElement[bool]:
    return access.visible_counterparties(actor, id_col=ContactKey.counterparty_id, owner_col=ContactKey.owner_id,
                                         visibility_col=ContactKey.visibility)


def counterparty_condition(q: str, actor: User) -> ColumnElement[bool]:
    """Condition on ``Counterparty`` for the search box: the beginning of a word of its name,
    or its INN, or a phone or email of it or of its contact persons — among what ``actor`` sees."""
    is_name, conds = _key_conditions(q)
    scope = [ContactKey.record_type == "counterparty"] if is_name else []
    seen = _visible_keys(actor)
    return and_(*(Counterparty.id.in_(select(ContactKey.counterparty_id).where(cond, *scope, seen))
                  for cond in conds))


def contact_person_condition(q: str, actor: User) -> ColumnElement[bool]:
    """Condition on ``ContactPerson``: the beginning of a word of the name, or a phone or email."""
    _, conds = _key_conditions(q)
    scope = ContactKey.record_type == "contact_person"
    seen = _visible_keys(actor)
    return and_(*(ContactPerson.id.in_(select(ContactKey.record_id).where(cond, scope, seen)) for cond in conds))


def condition_for(model: type[Any], q: str, actor: User) -> ColumnElement[bool] | None:
    if model is Counterparty:
        return counterparty_condition(q, actor)
    if model is ContactPerson:
        return contact_person_condition(q, actor)
    return None
