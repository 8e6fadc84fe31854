"""Contact persons of a card: add one, edit one (name, position, phones, emails, birthday, notes).

Through the home's ``create``/``update`` (``crm.records``), so the access rules
are the API's: a card one may not see is a 404, one seen but not editable (an
office user on a salesperson's client) a 403 before any form is shown or any
value looked at. Phones and emails are typed one per line; each becomes an entry
of ``contacts``, and the domain's problem with one is shown beside the box it was
typed in, naming that line.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import access, records
from crm import vcards as cards
from crm.errors import NotFound, PermissionDenied, VersionConflict
from crm.models import ContactPerson, Counterparty
from crm.models.enums import ContactKind
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

COUNTERPARTIES = records.record_type("counterparties")
PEOPLE = records.record_type("contact-persons")
FIELDS: list[tuple[str, str]] = [
    ("full_name", "text"),
    ("position", "text"),
    ("phones", "textarea"),
    ("emails", "textarea"),
    ("birthday", "date"),
    ("notes", "textarea"),
]
LISTS = {"phones": ContactKind.PHONE.value, "emails": ContactKind.EMAIL.value}
MAX_LINES = 50  # a person has a few phones; a pasted page is not a list of them


def _shown(contact: dict[str, Any]) -> str:
    """A phone or an email as the form shows it (a phone's extension after "доб.", as it may be typed)."""
    return (
        f"{contact['value']} доб. {contact['ext']}" if contact.get("ext") else str(contact["value"])
    )


def _values(person: ContactPerson) -> dict[str, str]:
    values = {name: str(getattr(person, name) or "") for name in ("full_name", "position", "notes")}
    values["birthday"] = person.birthday.isoformat() if person.birthday else ""
    for name, kind in LISTS.items():
        values[name] = "\n".join(_shown(c) for c in person.contacts if c.get("kind") == kind)
    return values


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:MAX_LINES]


def _data(
    values: dict[str, str], before: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """The fields to write, and for each ``contacts[i]`` the form box and line it came from.

    Contacts the form does not show (addresses, others) stay as they are, and so does the
    note of a phone or an email whose line is unchanged.
    """
    notes = {(c.get("kind"), _shown(c)): c.get("note") for c in before if c.get("note")}
    contacts: list[dict[str, Any]] = []
    origin: dict[str, tuple[str, str]] = {}
    for name, kind in LISTS.items():
        for line in _lines(values[name]):
            origin[f"contacts[{len(contacts)}]"] = (name, line)
            entry: dict[str, Any] = {"kind": kind, "value": line}
            if notes.get((kind, line)):
                entry["note"] = notes[(kind, line)]
            contacts.append(entry)
    contacts += [c for c in before if c.get("kind") not in LISTS.values()]
    data: dict[str, Any] = {
        name: values[name] for name in ("full_name", "position", "birthday", "notes")
    }
    data["contacts"] = contacts
    return data, origin


def _errors(found: dict[str, str], origin: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The problems by field of the form: a contact's beside its list, naming the line."""
    errors: dict[str, str] = {}
    for key, text in found.items():
        if key in origin:
            name, line = origin[key]
            errors[name] = f"{errors[name]}; " if name in errors else ""
            errors[name] += f"{line}: {text}"
        else:
            errors[key] = text
    return errors


def _card(db: Session, visit: Visit, record_id: str) -> Counterparty:
    """The card, when the user may change it: 404 when they may not see it, 403 when only see."""
    cp = records.get(db, visit.user, COUNTERPARTIES, record_id)
    if not access.can_write(db, visit.user, cp):
        raise PermissionDenied(f"you may see but not change counterparty {record_id}")
    return cp


def _person(db: Session, visit: Visit, record_id: str, person_id: str) -> ContactPerson:
    person = records.get(db, visit.user, PEOPLE, person_id)
    if person.counterparty_id != record_id:
        raise NotFound(f"contact person {person_id} not found")
    return person


def _page(
    db: Session,
    visit: Visit,
    record_id: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    *,
    person: ContactPerson | None = None,
    version: int | None = None,
    conflict: bool = False,
    status_code: int = 200,
) -> Response:
    cp = _card(db, visit, record_id)
    errors = errors or {}
    known = {name for name, _ in FIELDS}
    return visit.page(
        db,
        "person_form.html",
        status_code=status_code,
        cp=cp,
        person=person,
        fields=FIELDS,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in known},
        version=version,
        conflict=conflict,
    )


def _typed(form: Any) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip() for name, _ in FIELDS}


async def vcards(request: Request, home: Home) -> Response:
    """The counterparty's contact persons as one ``.vcf`` (``crm.vcards``), for a phone or Outlook."""
    record_id = request.path_params["record_id"]

    def work(db: Session, visit: Visit) -> Response:
        people = cards.people_of(db, visit.user, record_id)
        cp = db.get_one(Counterparty, record_id)
        name = quote(cp.short_name or cp.legal_name)
        return Response(
            cards.export(db, visit.user, people),
            media_type="text/vcard; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}.vcf"},
        )

    return await signed_in(request, home, work)


async def new(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    empty = dict.fromkeys((name for name, _ in FIELDS), "")
    return await signed_in(request, home, lambda db, visit: _page(db, visit, record_id, empty))


async def create(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    form = await read_form(request)
    values = _typed(form)
    data, origin = _data(values, [])

    def work(db: Session, visit: Visit) -> Response:
        _card(db, visit, record_id)  # 404 or 403 before any talk of fields
        home.create(db, visit.user, PEOPLE, {**data, "counterparty_id": record_id})
        return visit.redirect(f"/counterparties/{record_id}#people-h")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        return _page(db, visit, record_id, values, _errors(found, origin), status_code=422)

    return await written(request, home, work, form=form, again=again)


async def edit_form(request: Request, home: Home) -> Response:
    record_id, person_id = request.path_params["record_id"], request.path_params["person_id"]

    def work(db: Session, visit: Visit) -> Response:
        person = _person(db, visit, record_id, person_id)
        return _page(db, visit, record_id, _values(person), person=person, version=person.version)

    return await signed_in(request, home, work)


async def save(request: Request, home: Home) -> Response:
    record_id, person_id = request.path_params["record_id"], request.path_params["person_id"]
    form = await read_form(request)
    values = _typed(form)
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None
    origin: dict[str, tuple[str, str]] = {}

    def work(db: Session, visit: Visit) -> Response:
        _card(db, visit, record_id)
        person = _person(db, visit, record_id, person_id)
        data, found = _data(values, list(person.contacts))
        origin.update(found)
        home.update(db, visit.user, PEOPLE, person_id, data, version)
        return visit.redirect(f"/counterparties/{record_id}#people-h")

    def again(
        db: Session,
        visit: Visit,
        found: dict[str, str] | None = None,
        conflict: bool = False,
        status_code: int = 422,
    ) -> Response:
        person = _person(db, visit, record_id, person_id)
        shown = _errors(found, origin) if found is not None else None
        return _page(
            db,
            visit,
            record_id,
            values,
            shown,
            person=person,
            version=version,
            conflict=conflict,
            status_code=status_code,
        )

    try:
        return await written(request, home, work, form=form, again=again)
    except VersionConflict:
        return await signed_in(
            request, home, lambda db, visit: again(db, visit, conflict=True, status_code=409)
        )
