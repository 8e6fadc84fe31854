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
* ``email`` and ``email_domain`` (also a counterparty's own mail domains and its
  website's); ``inn``.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    distinct,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
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
    if isinstance(record, Counterparty):
        name = validation.fold_text(f"{record.legal_name} {record.short_name or ''}")
        return keys_from(record.contacts, name, record.inn, record.website)
    return keys_from(record.contacts, validation.fold_text(record.full_name))


def keys_from(
    contacts: list[dict[str, Any]],
    folded_name: str,
    inn: str | None = None,
    website: str | None = None,
) -> list[tuple[str, str]]:
    """``keys_for`` from plain values (the replica's bulk load): ``folded_name`` is the name
    through ``validation.fold_text``, which is what ``search_name`` holds. A counterparty's own
    mail domains (contacts of kind ``domain``) and its website's domain are ``email_domain``
    keys like the domains of its addresses: the mail bridge files a letter from a new colleague
    there at once."""
    keys: set[tuple[str, str]] = set()
    site = validation.website_domain(website) if website else None
    if site:
        keys.add(("email_domain", site))
    for item in contacts:
        if item.get("kind") == ContactKind.PHONE:
            digits = item["value"].lstrip("+")
            keys.add(("phone", digits))
            keys.add(("phone_rev", digits[::-1]))
        elif item.get("kind") == ContactKind.EMAIL:
            keys.add(("email", item["value"]))
            keys.add(("email_domain", item["value"].rpartition("@")[2]))
        elif item.get("kind") == ContactKind.DOMAIN:
            keys.add(("email_domain", item["value"]))
    if inn:
        keys.add(("inn", inn))
    keys.update(("word", w[:300]) for w in _WORD.findall(folded_name))
    return sorted(keys)


def key_rows(
    record: Counterparty | ContactPerson, counterparty: Counterparty
) -> list[dict[str, Any]]:
    """The ``ContactKey`` rows of ``record``, which is ``counterparty`` or one of its people."""
    record_type = "counterparty" if isinstance(record, Counterparty) else "contact_person"
    return [
        {
            "record_type": record_type,
            "record_id": record.id,
            "counterparty_id": counterparty.id,
            "owner_id": counterparty.owner_id,
            "visibility": counterparty.visibility,
            "kind": kind,
            "key": key,
        }
        for kind, key in keys_for(record)
    ]


def reindex(
    session: Session,
    record: Counterparty | ContactPerson,
    *,
    deleted: bool = False,
    new: bool = False,
) -> None:
    """Replace the index rows of ``record`` (or drop them when it is deleted).

    A counterparty's owner and visibility are copied onto its people's rows too,
    so that a search checks access inside the index. A ``new`` record (just created) has no rows
    yet, nor people: its rows are only inserted.
    """
    if not new:
        session.execute(delete(ContactKey).where(col(ContactKey.record_id) == record.id))
    if deleted:
        return
    if isinstance(record, Counterparty):
        counterparty = record
        if not new:
            session.execute(
                update(ContactKey)
                .where(col(ContactKey.counterparty_id) == record.id)
                .values(owner_id=record.owner_id, visibility=record.visibility)
            )
    else:
        counterparty = session.get_one(Counterparty, record.counterparty_id)
    rows = key_rows(record, counterparty)
    if rows:
        session.execute(insert(ContactKey), rows)


def _prefix(kind: str, prefix: str) -> ColumnElement[bool]:
    key = col(ContactKey.key)
    return and_(col(ContactKey.kind) == kind, key >= prefix, key < prefix + _TOP)


def _query_words(text: str) -> list[str]:
    """The words to look for; a word that begins another is implied by it and dropped."""
    found = sorted(set(words(text)), key=len, reverse=True)
    kept: list[str] = []
    for w in found:
        if not any(k.startswith(w) for k in kept):
            kept.append(w)
    return kept


def _matching(q: str, actor: User, id_col: Any, record_type: str | None) -> Select[Any]:
    """The ids (``id_col`` of the index) of records matching ``q`` that ``actor`` may see.

    ``record_type`` limits name matches to counterparties' or people's names; a
    phone or email of a counterparty's people finds the counterparty as well.
    """
    seen = _visible_keys(actor)
    text = q.strip()
    if "@" in text:
        address = text.lower()
        cond = (
            _prefix("email_domain", address[1:])
            if address.startswith("@")
            else _prefix("email", address)
        )
        return select(id_col).where(cond, seen)
    if _NUMERIC_QUERY.match(text):
        raw = re.sub(r"\D", "", text)
        digits = validation.phone_search_digits(text)
        conds = [_prefix("inn", raw)] if raw else []
        if len(digits) >= 3:
            conds += [_prefix("phone", digits), _prefix("phone_rev", digits[::-1])]
            conds += [_prefix("phone", start) for start in _russian_starts(digits)]
        return select(id_col).where(or_(*conds) if conds else false(), seen)
    scope = [col(ContactKey.record_type) == record_type] if record_type else []
    wanted = _query_words(text)
    if len(wanted) <= 1:
        return select(id_col).where(_prefix("word", wanted[0]) if wanted else false(), *scope, seen)
    # Every word must begin some word of the name: one scan over all the ranges, then
    # keep the records in which each query word matched (no key can match two of them).
    which = case(*((_prefix("word", w), i) for i, w in enumerate(wanted)))
    return (
        select(id_col)
        .where(or_(*(_prefix("word", w) for w in wanted)), *scope, seen)
        .group_by(id_col)
        .having(func.count(distinct(which)) == len(wanted))
    )


def _russian_starts(digits: str) -> list[str]:
    """How the beginning of a Russian number typed without +7 may be stored (E.164, ``7…``).

    "8 (916) 12" is the trunk prefix and a mobile code (``791612…``); "812 55" or
    "916 12" an area or mobile code alone (``781255…``, ``791612…``). A fragment
    cannot say which, so each reading is tried; a full number was already
    normalised by ``phone_search_digits``.
    """
    if len(digits) >= 11 or digits[0] not in "3489":
        return []
    starts = ["7" + digits]
    if digits[0] == "8" and len(digits) >= 4:
        starts.append("7" + digits[1:])
    return starts


def _visible_keys(actor: User) -> ColumnElement[bool]:
    return access.visible_counterparties(
        actor,
        id_col=ContactKey.counterparty_id,
        owner_col=ContactKey.owner_id,
        visibility_col=ContactKey.visibility,
    )


def counterparty_condition(q: str, actor: User) -> ColumnElement[bool]:
    """Condition on ``Counterparty`` for the search box: the beginning of words of its name,
    or its INN, or a phone or email of it or of its contact persons — among what ``actor`` sees."""
    ids = _matching(q, actor, ContactKey.counterparty_id, "counterparty")
    return col(Counterparty.id).in_(ids)


def contact_person_condition(q: str, actor: User) -> ColumnElement[bool]:
    """Condition on ``ContactPerson``: the beginning of words of the name, or a phone or email."""
    ids = _matching(q, actor, ContactKey.record_id, "contact_person")
    return col(ContactPerson.id).in_(ids.where(col(ContactKey.record_type) == "contact_person"))


# A name has a few words; hundreds of them make a query plan that takes seconds on
# PostgreSQL and an expression tree SQLite refuses. Longer searches are refused.
MAX_QUERY_WORDS = 20
MAX_QUERY_CHARS = 200


def check_query(q: str) -> None:
    """Raise ``ValueError`` for a search too long to be a name, a phone or an address, or holding NUL."""
    if len(q) > MAX_QUERY_CHARS:
        raise ValueError(f"a search is at most {MAX_QUERY_CHARS} characters; got {len(q)}")
    if len(_WORD.findall(q)) > MAX_QUERY_WORDS:
        raise ValueError(f"a search is at most {MAX_QUERY_WORDS} words")
    if "\x00" in q:  # PostgreSQL refuses NUL in a text parameter
        raise ValueError("a search must not contain a NUL character")


def condition_for(model: type[Any], q: str, actor: User) -> ColumnElement[bool] | None:
    """The search condition for ``model`` (None if it cannot be searched); ``ValueError``
    when ``q`` is over the bounds of ``check_query``."""
    check_query(q)
    if model is Counterparty:
        return counterparty_condition(q, actor)
    if model is ContactPerson:
        return contact_person_condition(q, actor)
    return None
