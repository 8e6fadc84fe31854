"""The counterparty card, the forms that make and edit one, and logging an interaction from it.

Reads and writes go through ``crm.records``, so the access rules apply: a
counterparty the user may not see is a 404 here as in the API. A refused write
rolls back as a whole; the form is then shown again in a fresh read-only
transaction with the values sent and each problem beside its field.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from crm import access, claims, completeness, duplicates, records, whereabouts
from crm.errors import PermissionDenied, ValidationFailed, VersionConflict
from crm.models import Claim, ContactPerson, Counterparty, User
from crm.models.enums import (
    MAIL_BRIDGE_LOGIN,
    ContactKind,
    CounterpartyKind,
    Direction,
    InteractionKind,
    InteractionStatus,
    Stage,
    Visibility,
)
from crm.rules import CLAIM_DAYS
from web import i18n
from web.home import Home
from web.routes.duplicates import history as merge_history
from web.routes.reports import RULE_NAMES
from web.timeline import timeline, timeline_limit
from web.visit import Visit, read_form, signed_in, written

COUNTERPARTIES = records.record_type("counterparties")
PEOPLE = records.record_type("contact-persons")
CONTRACTS = records.record_type("contracts")
INTERACTIONS = records.record_type("interactions")
COMPLAINTS = records.record_type("complaints")
RECEIVABLES = records.record_type("receivables")
# The card lists its latest complaints, the open ones first.
CARD_COMPLAINTS = 50

# (field, widget) in the form's order; labels are in templates/labels.html, where the catalog sees them.
EDIT_FIELDS: list[tuple[str, str]] = [
    ("legal_name", "text"),
    ("short_name", "text"),
    ("legal_form", "text"),
    ("inn", "text"),
    ("kpp", "text"),
    ("legal_address", "textarea"),
    ("actual_address", "textarea"),
    ("website", "text"),
    ("mail_domains", "textarea"),
    ("industry", "text"),
    ("region", "text"),
    ("stage", "select"),
    ("visibility", "select"),
    ("notes", "textarea"),
]
# Not a column: the counterparty's contacts of kind ``domain``, one per line (docs/mail.md).
DOMAINS = "mail_domains"
# The new-counterparty form: its one kind (``kinds`` holds a list; the form picks the first) and one
# phone and one email, which become ``contacts``; more are added on the edit form's successors.
NEW_FIELDS: list[tuple[str, str]] = [
    ("legal_name", "text"),
    ("short_name", "text"),
    ("legal_form", "text"),
    ("kinds", "select"),
    ("inn", "text"),
    ("kpp", "text"),
    ("phone", "tel"),
    ("email", "email"),
    ("legal_address", "textarea"),
    ("website", "text"),
    ("industry", "text"),
    ("region", "text"),
    ("stage", "select"),
    ("visibility", "select"),
    ("notes", "textarea"),
]
CHOICES: dict[str, list[str]] = {
    "kinds": [k.value for k in CounterpartyKind],
    "stage": [s.value for s in Stage],
    "visibility": [v.value for v in Visibility],
    "kind": [
        InteractionKind.CALL.value,
        InteractionKind.MEETING.value,
        InteractionKind.COMPLAINT.value,
        InteractionKind.OTHER.value,
    ],
    "direction": [d.value for d in Direction],
    "status": [InteractionStatus.DONE.value, InteractionStatus.PLANNED.value],
}
LOG_FIELDS = (
    "kind",
    "direction",
    "status",
    "starts_at",
    "duration_minutes",
    "contact_person_id",
    "subject",
    "notes",
    "result",
    "next_at",
    "next_kind",
    "next_subject",
    "next_invite",
)


def website_link(website: str | None) -> str | None:
    """The website as a link's address when it is a web address (http or https with a host), else None:
    whatever else was typed (``javascript:``, ``www.x.ru`` without a scheme) is shown as text only."""
    value = (website or "").strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return (
        value
        if parts.scheme.lower() in ("http", "https") and parts.netloc and value.isprintable()
        else None
    )


def _complaints(db: Session, user: User, counterparty_id: str) -> list[Any]:
    """The card's latest complaints: the open ones first, the nearest deadline first; then the
    closed ones, the newest first."""
    latest = records.list_records(
        db,
        user,
        COMPLAINTS,
        filters={"counterparty_id": counterparty_id},
        sort="-created_at",
        limit=CARD_COMPLAINTS,
    ).items
    still = [c for c in latest if c.status in ("new", "in_work")]
    return [
        *sorted(still, key=lambda c: c.deadline),
        *(c for c in latest if c.status not in ("new", "in_work")),
    ]


def _open_invoices(db: Session, user: User, counterparty_id: str, today: date) -> dict[str, Any]:
    """The card's open invoices (its ``Receivable`` row, on the server and a laptop alike): oldest
    first, each with what is left to pay and how many days it is overdue (0: not yet)."""
    found = records.list_records(
        db, user, RECEIVABLES, filters={"counterparty_id": counterparty_id}, limit=1
    ).items
    invoices = []
    for item in found[0].invoices if found else []:
        due = date.fromisoformat(item["due_on"])
        invoices.append(
            {
                "number": item["number"],
                "issued_on": date.fromisoformat(item["issued_on"]),
                "due_on": due,
                "amount": Decimal(item["amount"]),
                "left": Decimal(item["amount"]) - Decimal(item["paid"]),
                "late": max(0, (today - due).days),
            }
        )
    return {
        "invoices": invoices,
        "owed": sum((i["left"] for i in invoices), Decimal(0)),
        "overdue": sum((i["left"] for i in invoices if i["late"]), Decimal(0)),
    }


def _heirs(db: Session, user: User, cp: Counterparty) -> list[User]:
    """Whom ``user`` may hand a claim on ``cp`` to: active people they manage who see the client."""
    people = db.execute(select(User).where(col(User.is_active)).order_by(col(User.full_name)))
    return [
        u
        for u in people.scalars()
        if u.login != MAIL_BRIDGE_LOGIN
        and access.may_manage(user, u)
        and access.can_read_counterparty(db, u, cp.id)
    ]


def _quality(db: Session, visit: Visit, cp: Counterparty) -> dict[str, Any]:
    """Under the card's name, read-only: its ABC/XYZ classes (the newest kept computation's) and
    how complete it is today (``crm.completeness``, every rule) with what it misses, in words."""
    found = completeness.of_card(
        db, visit.user, cp.id, datetime.now(ZoneInfo(visit.home.timezone)).date()
    )
    return {
        "abc": cp.abc_class,
        "xyz": cp.xyz_class,
        "score": found.score if found else None,
        "missing": [RULE_NAMES[r.key] for r in found.missing] if found else [],
    }


def _card(
    db: Session,
    visit: Visit,
    record_id: str,
    *,
    log_values: dict[str, str] | None = None,
    log_errors: dict[str, str] | None = None,
    status_code: int = 200,
    whole: bool = False,
    merged: str | None = None,
    claim_values: dict[str, str] | None = None,
    claim_errors: dict[str, str] | None = None,
    contract_values: dict[str, str] | None = None,
    contract_errors: dict[str, str] | None = None,
    terms_values: dict[str, str] | None = None,
    terms_errors: dict[str, str] | None = None,
) -> Response:
    from web.routes import suppliers

    user = visit.user
    cp = records.get(db, user, COUNTERPARTIES, record_id)
    today = datetime.now(ZoneInfo(visit.home.timezone)).date()
    held = claims.in_force(db, user, cp.id, on=today)
    only = {"counterparty_id": cp.id}
    people = records.list_records(db, user, PEOPLE, filters=only, limit=records.MAX_PAGE).items
    owner = db.get(User, cp.owner_id) if cp.owner_id else None
    now_local = datetime.now(ZoneInfo(visit.home.timezone)).strftime("%Y-%m-%dT%H:%M")
    # Merges are the server's: a laptop's replica keeps no record of them (``Home.merge`` is None).
    merges = merge_history(db, user, cp.id) if visit.home.merge is not None else []
    return visit.page(
        db,
        "counterparty.html",
        status_code=status_code,
        cp=cp,
        quality=_quality(db, visit, cp),
        people=people,
        # The card's complaints: open ones first (by deadline), then the closed, newest first.
        complaints=_complaints(db, user, cp.id),
        # What it owes on its invoices (crm.invoices): the section shows only when it owes.
        receivable=_open_invoices(db, user, cp.id, today),
        today=today,
        # Who holds the client for what (crm.claims): others' claims warn at the top of the card,
        # where a contact is logged and the next one planned; the section lists all in force.
        claims=held,
        # Its owner away today (crm.whereabouts): the office tells a calling client until when.
        owner_away=next(iter(whereabouts.away(db, today, user_ids={cp.owner_id})), None)
        if cp.owner_id
        else None,
        claimed_by_others=[h for h in held if h.holder_id != user.id],
        claims_writable={h.id for h in held if access.can_write(db, user, db.get_one(Claim, h.id))},
        # A manager (an admin) hands a claim to one of their people who sees the client.
        heirs=_heirs(db, user, cp) if held and user.role in ("manager", "admin") else [],
        claim=claim_values or {"ends_on": (today + timedelta(days=CLAIM_DAYS)).isoformat()},
        claim_errors=claim_errors or {},
        # Its contracts, newest first; who may change the client adds one below them.
        contracts=records.list_records(
            db, user, CONTRACTS, filters=only, sort="-signed_on", limit=50
        ).items,
        contract=contract_values or {},
        contract_errors=contract_errors or {},
        # A supplier's terms and price list (issue 15; web/routes/suppliers.py), or None.
        supplier=suppliers.section(
            db, visit, cp, access.can_write(db, user, cp), terms_values, terms_errors
        ),
        owner=owner,
        can_edit=access.can_write(db, user, cp),
        website=website_link(cp.website),
        history=timeline(db, user, cp.id, timeline_limit(whole)),
        open_conflicts=sum(
            1
            for c in visit.home.conflicts(db, user)
            if c["type"] == "counterparties" and c["record_id"] == cp.id
        ),
        choices=CHOICES,
        log=log_values
        or {"starts_at": now_local, "kind": "call", "status": "done", "direction": "outgoing"},
        log_errors=log_errors or {},
        merges=merges,
        # The merge just made (``?merged=`` after the merge form), said once at the top of the card.
        merged=next((m for m in merges if merged and m["id"] == merged), None),
    )


async def card(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    whole = request.query_params.get("history") == "all"
    merged = request.query_params.get("merged")
    return await signed_in(
        request, home, lambda db, visit: _card(db, visit, record_id, whole=whole, merged=merged)
    )


def _form_page(
    db: Session,
    visit: Visit,
    record_id: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    conflict: bool = False,
) -> Response:
    cp = records.get(db, visit.user, COUNTERPARTIES, record_id)
    if not access.can_write(
        db, visit.user, cp
    ):  # 404 when not seen, 403 when only seen: no form to fill in vain
        raise PermissionDenied(f"you may see but not change counterparty {record_id}")
    shown = (
        values
        if values is not None
        else {
            name: _domains_text(cp) if name == DOMAINS else getattr(cp, name) or ""
            for name, _ in EDIT_FIELDS
        }
    )
    known = {name for name, _ in EDIT_FIELDS}
    errors = errors or {}
    return visit.page(
        db,
        "counterparty_edit.html",
        status_code=status_code,
        cp=cp,
        fields=EDIT_FIELDS,
        values=shown,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in known},
        choices=CHOICES,
        version=values.get("version", cp.version) if values else cp.version,
        conflict=conflict,
    )


async def edit_form(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    return await signed_in(request, home, lambda db, visit: _form_page(db, visit, record_id))


async def save(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")) for name, _ in EDIT_FIELDS}
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None

    def work(db: Session, visit: Visit) -> Response:
        data: dict[str, Any] = {k: v for k, v in values.items() if k != DOMAINS}
        cp = records.get(db, visit.user, COUNTERPARTIES, record_id)
        if (
            values[DOMAINS].split() != _domains_text(cp).split()
        ):  # only a changed list touches contacts
            data["contacts"] = [c for c in cp.contacts if c.get("kind") != ContactKind.DOMAIN] + [
                {"kind": ContactKind.DOMAIN.value, "value": line}
                for line in values[DOMAINS].split()
            ]
        try:
            home.update(db, visit.user, COUNTERPARTIES, record_id, data, version)
        except ValidationFailed as exc:  # a bad domain is reported beside the domains' field
            if isinstance(exc.details, dict) and any(
                k.startswith("contacts[") for k in exc.details
            ):
                details = {
                    (DOMAINS if k.startswith("contacts[") else k): v for k, v in exc.details.items()
                }
                raise ValidationFailed(exc.message, details=details) from None
            raise
        return visit.redirect(f"/counterparties/{record_id}")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _form_page(db, visit, record_id, {**values, "version": version}, errors, 422)

    try:
        return await written(request, home, work, form=form, again=again)
    except VersionConflict:
        return await signed_in(
            request,
            home,
            lambda db, visit: _form_page(
                db, visit, record_id, {**values, "version": version}, None, 409, conflict=True
            ),
        )


def _domains_text(cp: Counterparty) -> str:
    return "\n".join(c["value"] for c in cp.contacts if c.get("kind") == ContactKind.DOMAIN)


def _new_page(
    db: Session,
    visit: Visit,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    similar: list[duplicates.Candidate] | None = None,
) -> Response:
    errors = errors or {}
    known = {name for name, _ in NEW_FIELDS}
    return visit.page(
        db,
        "counterparty_new.html",
        status_code=status_code,
        fields=NEW_FIELDS,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in known},
        choices=CHOICES,
        similar=similar or [],
    )


async def new_form(request: Request, home: Home) -> Response:
    """The empty form: a client, a lead, seen only by its owner and their manager (the domain's defaults)."""
    values = dict.fromkeys((name for name, _ in NEW_FIELDS), "") | {
        "kinds": CounterpartyKind.CLIENT.value,
        "stage": Stage.LEAD.value,
        "visibility": Visibility.PRIVATE.value,
    }
    return await signed_in(request, home, lambda db, visit: _new_page(db, visit, values))


def _new_counterparty(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The record to create from the form, and which form field each ``contacts[i]`` came from."""
    # The name even when blank: the rules then report it with every other problem at once.
    data: dict[str, Any] = {
        name: value
        for name, value in values.items()
        if (value or name == "legal_name") and name not in ("kinds", "phone", "email")
    }
    data["kinds"] = [values["kinds"]] if values["kinds"] else []
    contacts: list[dict[str, Any]] = []
    origin: dict[str, str] = {}
    for name, kind in (("phone", ContactKind.PHONE), ("email", ContactKind.EMAIL)):
        if values[name]:
            origin[f"contacts[{len(contacts)}]"] = name
            contacts.append({"kind": kind.value, "value": values[name]})
    data["contacts"] = contacts
    return data, origin


async def create(request: Request, home: Home) -> Response:
    """A new counterparty, owned by whoever makes it, through ``crm.records.create`` (the home's ``create``):
    the rules of the API hold; on success the new card opens."""
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name, _ in NEW_FIELDS}
    data, origin = _new_counterparty(values)

    confirmed = form.get("confirm_duplicate") == "1"

    def work(db: Session, visit: Visit) -> Response:
        if not confirmed:
            # A likely duplicate of what the user sees: shown once the values are valid, created
            # only when confirmed.
            records.validate_new(db, visit.user, COUNTERPARTIES, data)
            found = duplicates.similar(db, visit.user, data)
            if found:
                return _new_page(db, visit, values, status_code=409, similar=found[:10])
        made = home.create(db, visit.user, COUNTERPARTIES, data)
        return visit.redirect(f"/counterparties/{made.id}")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        errors: dict[str, str] = {}
        for key, message in found.items():  # contacts[0] is the phone or the email
            errors.setdefault(origin.get(key, key), message)
        return _new_page(db, visit, values, errors, 422)

    return await written(request, home, work, form=form, again=again)


def _wall_time(raw: str, zone: ZoneInfo) -> str:
    """An ISO time with its offset from what ``<input type=datetime-local>`` sends: a wall-clock
    time, which is the home's zone. ``ValueError`` when it is not a time."""
    return datetime.fromisoformat(raw.strip()).replace(tzinfo=zone).isoformat()


def _interaction(
    form: FormData, record_id: str, zone: ZoneInfo
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, str]]:
    """The contact to log and the next one to plan (or None) from the form, and the problems
    the domain cannot see (the local times)."""
    problems: dict[str, str] = {}
    data: dict[str, Any] = {"counterparty_id": record_id}
    for name in (
        "kind",
        "direction",
        "status",
        "subject",
        "notes",
        "result",
        "contact_person_id",
        "duration_minutes",
    ):
        value = str(form.get(name, "")).strip()
        if value:
            data[name] = value
    try:
        data["starts_at"] = _wall_time(str(form.get("starts_at", "")), zone)
    except ValueError:
        problems["starts_at"] = i18n.N_("Enter a date and time")
    upcoming = None
    next_at = str(form.get("next_at", "")).strip()
    if next_at:
        upcoming = {
            "counterparty_id": record_id,
            "status": "planned",
            "direction": "outgoing",
            "kind": str(form.get("next_kind", "call")),
            "subject": str(form.get("next_subject", "")),
            "contact_person_id": data.get("contact_person_id"),
        }
        try:
            upcoming["starts_at"] = _wall_time(next_at, zone)
        except ValueError:
            problems["next_at"] = i18n.N_("Enter a date and time")
    return data, upcoming, problems


def _invite(db: Session, upcoming: dict[str, Any]) -> str | None:
    """Make the planned meeting an invitation to its contact person (the outbox sends it as iTIP
    after sync); the problem, untranslated, when it cannot be one."""
    if upcoming.get("kind") != "meeting":
        return i18n.N_("Only a meeting can be sent as an invitation")
    person = db.get(ContactPerson, upcoming.get("contact_person_id") or "")
    if person is None or person.counterparty_id != upcoming["counterparty_id"]:
        return i18n.N_("Choose the contact person to invite")
    emails = [c["value"] for c in person.contacts if c.get("kind") == "email"]
    if not emails:
        return i18n.N_("The contact person has no email address")
    upcoming["participants"] = [
        {"role": "attendee", "address": emails[0], "name": person.full_name}
    ]
    upcoming["mail_status"] = "queued"
    return None


async def log_interaction(request: Request, home: Home) -> Response:
    """Log a contact and, when a time is given, plan the next one: both or neither."""
    record_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")) for name in LOG_FIELDS}
    data, upcoming, problems = _interaction(form, record_id, ZoneInfo(home.timezone))

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, COUNTERPARTIES, record_id)  # 404 before any validation talk
        found = dict(problems)
        if upcoming is not None and form.get("next_invite"):
            problem = _invite(db, upcoming)
            if problem:
                found["next_invite"] = problem
                problems["next_invite"] = problem  # translated like the local times
        for prefix, item in (("", data), ("next_", upcoming)):
            if item is None:
                continue
            try:  # both are tried, so that every problem is reported at once; any problem rolls back both
                home.create(db, visit.user, INTERACTIONS, item)
            except ValidationFailed as exc:
                details = exc.details if isinstance(exc.details, dict) else {"": exc.message}
                for key, message in details.items():
                    found.setdefault(prefix + key, message)  # ours say it better (the local time)
        if found:
            raise ValidationFailed("interaction has invalid fields", details=found)
        return visit.redirect(f"/counterparties/{record_id}#history")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        errors = {k: visit.gettext(v) if k in problems else v for k, v in found.items()}
        return _card(db, visit, record_id, log_values=values, log_errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)
