"""Contact persons as vCards (3.0, what Outlook and phones read and write), one or many, and back.

* ``export(session, actor, people)`` — one vCard per person the actor may see: FN, N (the
  Russian order «Фамилия Имя Отчество» when the third word is a patronymic), ORG (the
  counterparty), TITLE, TEL (with ``;ext=``), EMAIL, BDAY, NOTE and the person's id as UID.
* ``import_cards(session, actor, counterparty_id, text)`` — every card of a ``.vcf`` file as a
  contact person of that counterparty, through ``crm.records.create_many``: the rules and the
  access of the API; all or nothing, every bad card listed by its number and name. A card
  whose person is there already (the same UID, or the same name, e-mail or phone at that
  counterparty) is skipped, so importing a file twice adds nothing.

``vobject`` reads and writes the format (folding, escaping, encodings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import vobject
from sqlalchemy import select
from sqlmodel import Session, col

from crm import records, rules, validation
from crm.errors import MalformedInput, ValidationFailed
from crm.models import ContactPerson, Counterparty, User

PEOPLE = records.record_type("contact-persons")
MAX_CARDS = records.MAX_BATCH
_PATRONYMIC = ("вич", "вна", "ична", "оглы", "кызы")


def _name_parts(full_name: str) -> tuple[str, str, str]:
    """(family, given, additional) of a full name as Russians and others write it."""
    words = full_name.split()
    if len(words) == 3 and words[2].lower().endswith(_PATRONYMIC):
        return words[0], words[1], words[2]
    if len(words) >= 2:
        return words[-1], " ".join(words[:-1]), ""
    return full_name, "", ""


def card(person: ContactPerson, counterparty: Counterparty | None) -> Any:
    """One person as a ``vobject`` vCard."""
    vcard = vobject.vCard()
    vcard.add("uid").value = person.id
    vcard.add("fn").value = person.full_name
    family, given, additional = _name_parts(person.full_name)
    vcard.add("n").value = vobject.vcard.Name(family=family, given=given, additional=additional)
    if counterparty is not None:
        vcard.add("org").value = [counterparty.short_name or counterparty.legal_name]
    if person.position:
        vcard.add("title").value = person.position
    for item in person.contacts or []:
        if item.get("kind") == "phone":
            tel = vcard.add("tel")
            tel.value = item["value"] + (f";ext={item['ext']}" if item.get("ext") else "")
            tel.type_param = "WORK"
        elif item.get("kind") == "email":
            mail = vcard.add("email")
            mail.value = item["value"]
            mail.type_param = "INTERNET"
    if person.birthday:
        vcard.add("bday").value = person.birthday.isoformat()
    if person.notes:
        vcard.add("note").value = person.notes
    return vcard


def export(session: Session, actor: User, people: list[ContactPerson]) -> str:
    """The vCards of ``people`` (already read as ``actor``, who may see each), one after another."""
    wanted = {p.counterparty_id for p in people}
    companies = {
        cp.id: cp
        for cp in session.execute(
            select(Counterparty).where(col(Counterparty.id).in_(wanted))
        ).scalars()
    }
    return "".join(card(p, companies.get(p.counterparty_id)).serialize() for p in people)


def people_of(session: Session, actor: User, counterparty_id: str) -> list[ContactPerson]:
    """The contact persons of a counterparty ``actor`` may see, by name (404 for one they may not)."""
    records.get(session, actor, records.record_type("counterparties"), counterparty_id)
    return list(
        session.execute(
            select(ContactPerson)
            .where(col(ContactPerson.counterparty_id) == counterparty_id)
            .order_by(col(ContactPerson.full_name), col(ContactPerson.id))
        ).scalars()
    )


@dataclass
class Imported:
    created: list[ContactPerson] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # names of the cards already there


def _text(component: Any, name: str) -> str | None:
    found = component.contents.get(name)
    if not found:
        return None
    value = found[0].value
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    return str(value).strip() or None


def _full_name(component: Any) -> str | None:
    name = _text(component, "fn")
    if name:
        return name
    parts = component.contents.get("n")
    if parts:
        n = parts[0].value
        return " ".join(p for p in (n.family, n.given, n.additional) if isinstance(p, str) and p)
    return None


def _person(component: Any, counterparty_id: str) -> dict[str, Any]:
    contacts: list[dict[str, Any]] = []
    for tel in component.contents.get("tel", []):
        number, _, ext = str(tel.value).partition(";ext=")
        contacts.append({"kind": "phone", "value": number.strip(), **({"ext": ext} if ext else {})})
    for mail in component.contents.get("email", []):
        contacts.append({"kind": "email", "value": str(mail.value).strip()})
    data: dict[str, Any] = {
        "counterparty_id": counterparty_id,
        "full_name": _full_name(component) or "",
        "contacts": contacts,
    }
    for key, name in (("position", "title"), ("notes", "note")):
        if found := _text(component, name):
            data[key] = found
    if birthday := _text(component, "bday"):
        data["birthday"] = birthday[:10] if len(birthday) >= 10 else birthday
    return data


def import_cards(session: Session, actor: User, counterparty_id: str, text: str) -> Imported:
    """Every card of ``text`` as a contact person of ``counterparty_id`` (see the module)."""
    records.get(session, actor, records.record_type("counterparties"), counterparty_id)
    try:
        components = list(vobject.readComponents(text, validate=False))
    except Exception as exc:  # noqa: BLE001 - vobject raises many kinds; all mean "not a vCard file"
        raise MalformedInput(f"not a vCard file: {str(exc)[:200]}") from None
    cards = [c for c in components if c.name.upper() == "VCARD"]
    if not cards:
        raise MalformedInput("no vCard in the file (BEGIN:VCARD … END:VCARD)")
    if len(cards) > MAX_CARDS:
        raise ValidationFailed(
            f"at most {MAX_CARDS} cards in one import; the file has {len(cards)}"
        )
    there = people_of(session, actor, counterparty_id)
    known_ids = {p.id for p in there}
    known_names = {validation.fold_text(p.full_name) for p in there}
    known_keys = {
        (c.get("kind"), str(c.get("value", "")).lower()) for p in there for c in p.contacts or []
    }
    result = Imported()
    items: list[dict[str, Any]] = []
    for component in cards:
        data = _person(component, counterparty_id)
        uid = _text(component, "uid")
        # The same normalising a create does, to compare with what is there.
        normalised = rules.clean_contacts({}, "contacts", data["contacts"])
        keys = {(c["kind"], str(c["value"]).lower()) for c in normalised}
        if (
            uid in known_ids
            or validation.fold_text(data["full_name"]) in known_names
            or (keys and keys & known_keys)
        ):
            result.skipped.append(data["full_name"])
            continue
        known_names.add(validation.fold_text(data["full_name"]))
        known_keys |= keys
        items.append(data)
    if items:
        try:
            result.created = records.create_many(session, actor, PEOPLE, items)
        except ValidationFailed as exc:
            named = {
                key: f"{items[int(key.split('.')[0])]['full_name'] or '?'}: {message}"
                for key, message in (exc.details or {}).items()
                if key.split(".")[0].isdigit()
            }
            raise ValidationFailed(
                f"{exc.message} (cards are numbered from 0 among those not already there)",
                details=named or exc.details,
            ) from None
    return result
