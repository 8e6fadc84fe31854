"""The rules each record type must satisfy, checked on the whole record after every edit.

Each ``check_*`` function receives the record as it would be stored, collects
every problem into ``problems`` (field → message) instead of stopping at the
first, fills derived fields, and never touches the database except to look up
records it refers to.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, inspect, select
from sqlalchemy.orm.exc import ObjectDeletedError
from sqlmodel import Session, col

from crm import access, own_domains, segments, validation
from crm.errors import AlreadyExists, ValidationFailed
from crm.models import (
    Absence,
    Claim,
    Complaint,
    ContactPerson,
    ContactRule,
    Contract,
    Counterparty,
    Deal,
    EventCost,
    EventParticipant,
    Interaction,
    Invoice,
    LetterTemplate,
    Mailing,
    MarketingEvent,
    PriceItem,
    Receivable,
    Reminder,
    Sale,
    SalesSummary,
    Segment,
    Share,
    SupplierTerms,
    Team,
    User,
)
from crm.models.base import utcnow
from crm.models.enums import (
    MAIL_BRIDGE_LOGIN,
    AbcClass,
    AbsenceKind,
    ComplaintCause,
    ComplaintStatus,
    ComplaintSubject,
    ContactKind,
    ContractStatus,
    CounterpartyKind,
    DealStage,
    Direction,
    EventKind,
    Importance,
    InteractionKind,
    InteractionStatus,
    MailingStatus,
    MailStatus,
    ParticipantStatus,
    ReminderStatus,
    Role,
    Stage,
    Visibility,
)

Problems = dict[str, str]


def _claims_no_own_domain(session: Session, problems: Problems, cp: Counterparty) -> None:
    """A new claim (a created counterparty, changed contacts or website) of an own domain is refused;
    one stored before does not block editing the rest of the card."""
    claimed = (
        []
        if _kept(cp, "contacts")
        else [
            (f"contacts[{i}]", item["value"])
            for i, item in enumerate(cp.contacts or [])
            if isinstance(item, dict)
            and item.get("kind") == ContactKind.DOMAIN
            and item.get("value")
        ]
    )
    site = (
        validation.website_domain(cp.website) if cp.website and not _kept(cp, "website") else None
    )
    if site:
        claimed.append(("website", site))
    if not claimed:
        return
    own = own_domains.of_company(session)
    for where, domain in claimed:
        if where not in problems and domain in own:
            problems[where] = (
                f"mail domain {domain}: the company's own (a colleague's address or a mailbox is on it), "
                "not a counterparty's"
            )


def _one_of(problems: Problems, field: str, value: Any, enum: type[StrEnum]) -> None:
    allowed = [e.value for e in enum]
    if value not in allowed:
        problems[field] = f"must be one of {', '.join(allowed)}; got {value!r}"


def _not_blank(problems: Problems, field: str, value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        problems[field] = "must not be empty"
    return value


@cache
def _exists_statement(model: Any, column: str) -> Any:
    """Built once per (model, column): building a statement costs more than SQLite running it."""
    return select(getattr(model, column)).where(model.id == bindparam("record_id"))


def _exists(
    session: Session,
    problems: Problems,
    field: str,
    model: Any,
    record_id: str | None,
    column: str = "id",
) -> Any:
    """``column`` of the record ``record_id`` refers to, or None (and a problem) when there is none.

    Reads the one column, not the record: loading a counterparty with its JSON
    to learn that it exists was most of the cost of logging a call.
    """
    if record_id is None:
        return None
    # A record this transaction already holds answers without a round trip (it is in the identity
    # map only while it exists here: a flushed delete or a rolled-back create takes it out).
    held = session.identity_map.get(session.identity_key(model, record_id))
    if held is not None and held not in session.deleted:
        try:
            return getattr(held, column)
        except ObjectDeletedError:  # expired, and gone when reloaded: ask the database below
            pass
    # Core, not ORM, execution: these look at records other than the one being written.
    found = (
        session.connection()
        .execute(_exists_statement(model, column), {"record_id": record_id})
        .first()
    )
    if found is None:
        problems[field] = f"no {model.__name__} with id {record_id}"
        return None
    return found[0]


def _parent(
    session: Session,
    problems: Problems,
    actor: User,
    memo: access.Memo,
    counterparty_id: str | None,
) -> Any:
    """``_exists`` of a record's counterparty. One the actor was found to see (or change) in this
    operation exists — the access question that said so read its row, and ``memo`` lives only as
    long as no counterparty can go (one create, or a batch that deletes none) — so a child created
    under a client its author sees costs no second round trip to learn that the client is there."""
    if counterparty_id is not None and (
        memo.known(actor, counterparty_id, write=False)
        or memo.known(actor, counterparty_id, write=True)
    ):
        return counterparty_id
    return _exists(session, problems, "counterparty_id", Counterparty, counterparty_id)


def _kept(record: Any, *names: str) -> bool:
    """Whether ``record`` is a stored one whose ``names`` keep the values it was loaded with."""
    state = inspect(record)
    if not state.persistent:
        return False
    for name in names:
        history = state.attrs[name].history
        if history.added and not (history.deleted and history.deleted[0] == history.added[0]):
            return False
    return True


def _active_user(
    session: Session, problems: Problems, field: str, user_id: str | None, actor: User
) -> None:
    if user_id is None:
        return
    user = actor if user_id == actor.id else session.get(User, user_id)
    if user is None:
        problems[field] = f"no User with id {user_id}"
    elif (
        not user.is_active and user.login != MAIL_BRIDGE_LOGIN
    ):  # the bridge cannot log in, but files
        problems[field] = f"user {user.login} is disabled"


def _sees(
    session: Session,
    problems: Problems,
    field: str,
    user_id: str | None,
    counterparty_id: str | None,
    actor: User,
    memo: access.Memo,
) -> None:
    """The person a record is given to (responsible, assignee) must see its counterparty: else it
    would land in their agenda, calendar and laptop naming a client they may not open."""
    if user_id is None or counterparty_id is None or field in problems or user_id == actor.id:
        return
    if not access.can_read_counterparty(session, actor, counterparty_id, memo):
        return  # the actor's own sight is checked after the rules, and answers as if it were missing
    user = session.get(User, user_id)
    if user is not None and not access.can_read_counterparty(session, user, counterparty_id, memo):
        problems[field] = (
            f"user {user.login} cannot see this counterparty; share it with them or hand it over first"
        )


def clean_contacts(problems: Problems, field: str, contacts: Any) -> list[dict[str, Any]]:
    """Normalise typed contact info: phones to E.164 (+ extension), emails lower-cased."""
    if not isinstance(contacts, list):
        problems[field] = "must be a list of {kind, value, note}"
        return []
    cleaned: list[dict[str, Any]] = []
    for i, item in enumerate(contacts):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            problems[where] = "must be an object with kind and value"
            continue
        kind = item.get("kind")
        raw = str(item.get("value") or "").strip()
        unknown = set(item) - {"kind", "value", "note", "ext"}
        if unknown:
            problems[where] = f"unknown keys: {', '.join(sorted(unknown))}"
            continue
        if kind not in [k.value for k in ContactKind]:
            problems[where] = f"kind must be one of {', '.join(k.value for k in ContactKind)}"
            continue
        if not raw:
            problems[where] = "value must not be empty"
            continue
        entry: dict[str, Any] = {"kind": kind, "value": raw}
        try:
            if kind == ContactKind.PHONE:
                entry["value"] = validation.normalize_phone(raw)
                ext = item.get("ext") or validation.phone_extension(raw)
                if ext:
                    entry["ext"] = str(ext)
            elif kind == ContactKind.EMAIL:
                entry["value"] = validation.normalize_email(raw)
            elif kind == ContactKind.DOMAIN:
                entry["value"] = validation.mail_domain(raw)
        except ValueError as exc:
            problems[where] = str(exc)
            continue
        note = item.get("note")
        if note:
            entry["note"] = str(note).strip()
        cleaned.append(entry)
    return cleaned


_SOLE_TRADER_FORMS = frozenset({"ИП", "ИНДИВИДУАЛЬНЫЙ ПРЕДПРИНИМАТЕЛЬ", "КФХ", "ГКФХ"})
_ORGANISATION_FORMS = frozenset(
    {
        "ООО",
        "АО",
        "ПАО",
        "ЗАО",
        "ОАО",
        "НАО",
        "ОДО",
        "АНО",
        "НКО",
        "ГУП",
        "МУП",
        "ФГУП",
        "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ",
        "АКЦИОНЕРНОЕ ОБЩЕСТВО",
    }
)


def check_counterparty(
    session: Session, actor: User, cp: Counterparty, problems: Problems, memo: access.Memo
) -> None:
    cp.legal_name = _not_blank(problems, "legal_name", cp.legal_name)
    if not isinstance(cp.kinds, list) or not cp.kinds:
        problems["kinds"] = "must list at least one of " + ", ".join(
            k.value for k in CounterpartyKind
        )
    else:
        for kind in cp.kinds:
            _one_of(problems, "kinds", kind, CounterpartyKind)
        cp.kinds = list(dict.fromkeys(cp.kinds))
    _one_of(problems, "stage", cp.stage, Stage)
    _one_of(problems, "visibility", cp.visibility, Visibility)
    if cp.inn:
        try:
            cp.inn = validation.validate_inn(cp.inn)
        except ValueError as exc:
            problems["inn"] = str(exc)
    if cp.kpp:
        try:
            cp.kpp = validation.validate_kpp(cp.kpp)
        except ValueError as exc:
            problems["kpp"] = str(exc)
        if cp.inn and len(cp.inn) == 12:
            problems["kpp"] = "a sole trader (12-digit INN) has no KPP"
    form = (cp.legal_form or "").strip().upper().replace(".", "")
    if cp.inn and "inn" not in problems:
        if form in _SOLE_TRADER_FORMS and len(cp.inn) != 12:
            problems["inn"] = "a sole trader (ИП) has a 12-digit INN"
        elif form in _ORGANISATION_FORMS and len(cp.inn) != 10:
            problems["inn"] = "an organisation has a 10-digit INN"
    if not isinstance(cp.tags, list) or not all(isinstance(t, str) for t in cp.tags):
        problems["tags"] = "must be a list of strings"
    cp.contacts = clean_contacts(problems, "contacts", cp.contacts)
    _claims_no_own_domain(session, problems, cp)
    _active_user(session, problems, "owner_id", cp.owner_id, actor)
    cp.search_name = validation.fold_text(f"{cp.legal_name} {cp.short_name or ''}")


def check_contact_person(
    session: Session,
    actor: User,
    person: ContactPerson,
    problems: Problems,
    memo: access.Memo,
) -> None:
    person.full_name = _not_blank(problems, "full_name", person.full_name)
    _parent(session, problems, actor, memo, person.counterparty_id)
    person.contacts = clean_contacts(problems, "contacts", person.contacts)
    for i, item in enumerate(person.contacts):
        if item.get("kind") == ContactKind.DOMAIN:  # a person has addresses; a company has domains
            problems[f"contacts[{i}]"] = (
                "a mail domain belongs to the counterparty, not to a contact person"
            )
    if not 0 <= person.birthday_remind_days <= 60:
        problems["birthday_remind_days"] = "must be between 0 and 60"
    person.search_name = validation.fold_text(person.full_name)


def _belongs(
    session: Session,
    problems: Problems,
    field: str,
    model: Any,
    record_id: str | None,
    counterparty_id: str,
) -> None:
    """``record_id`` must be one of the counterparty's own: one elsewhere answers like one that does
    not exist (it may be under a counterparty the user may not see, whose existence is not theirs to learn)."""
    if record_id is None:
        return
    if _exists(session, {}, field, model, record_id, "counterparty_id") != counterparty_id:
        problems[field] = f"no {model.__name__} with id {record_id} at this counterparty"


def check_interaction(
    session: Session, actor: User, item: Interaction, problems: Problems, memo: access.Memo
) -> None:
    _one_of(problems, "kind", item.kind, InteractionKind)
    _one_of(problems, "direction", item.direction, Direction)
    _one_of(problems, "status", item.status, InteractionStatus)
    _one_of(problems, "importance", item.importance, Importance)
    _parent(session, problems, actor, memo, item.counterparty_id)
    _belongs(
        session,
        problems,
        "contact_person_id",
        ContactPerson,
        item.contact_person_id,
        item.counterparty_id,
    )
    _belongs(session, problems, "deal_id", Deal, item.deal_id, item.counterparty_id)
    _belongs(session, problems, "reply_to_id", Interaction, item.reply_to_id, item.counterparty_id)
    _active_user(session, problems, "responsible_id", item.responsible_id, actor)
    if not _kept(item, "responsible_id", "counterparty_id"):
        _sees(
            session,
            problems,
            "responsible_id",
            item.responsible_id,
            item.counterparty_id,
            actor,
            memo,
        )
    if item.duration_minutes is not None and not 0 <= item.duration_minutes <= 7 * 24 * 60:
        problems["duration_minutes"] = "must be between 0 and 10080 (a week)"
    _check_letter(actor, item, problems)


PARTICIPANT_ROLES = ("from", "to", "cc", "bcc", "attendee")
# An attendee's answer to a meeting invitation (iTIP PARTSTAT).
ATTENDEE_STATUSES = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")
MAX_PARTICIPANTS = 100
# What a person may ask of an outgoing letter; the bridge moves it on from there.
_ASKED = {
    None: (None, MailStatus.QUEUED),
    MailStatus.FAILED: (MailStatus.QUEUED,),
    MailStatus.UNCERTAIN: (MailStatus.QUEUED,),
    MailStatus.QUEUED: (None,),
}
# What attendees of a meeting were told: a change sends them an update (or a cancellation).
_MEETING_INVITED = (
    "starts_at",
    "duration_minutes",
    "status",
    "subject",
    "participants",
    "counterparty_id",
)
_LETTER_CONTENT = (
    "participants",
    "subject",
    "notes",
    "counterparty_id",
    "contact_person_id",
    "reply_to_id",
)


def _participants(problems: Problems, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) > MAX_PARTICIPANTS:
        problems["participants"] = f"must be a list of at most {MAX_PARTICIPANTS} addresses"
        return []
    out = []
    for item in value:
        if not isinstance(item, dict) or item.get("role") not in PARTICIPANT_ROLES:
            problems["participants"] = (
                f"each needs a role ({', '.join(PARTICIPANT_ROLES)}) and an address"
            )
            continue
        name = str(item.get("name") or "").strip()
        if any(c in name for c in "\r\n\0") or len(name) > 200:
            problems["participants"] = "a name must be one line of at most 200 characters"
            continue
        try:
            address = validation.normalize_email(str(item.get("address") or ""))
        except ValueError as exc:
            problems["participants"] = str(exc)
            continue
        entry = {"role": item["role"], "name": name, "address": address}
        if item["role"] == "attendee":
            status = str(item.get("status") or "NEEDS-ACTION").upper()
            if status not in ATTENDEE_STATUSES:
                problems["participants"] = (
                    f"an attendee's status is one of {', '.join(ATTENDEE_STATUSES)}"
                )
                continue
            entry["status"] = status
        out.append(entry)
    return out


def _check_letter(actor: User, item: Interaction, problems: Problems) -> None:
    """Participants are addresses; an outgoing letter is well formed and moves only forward.

    People may queue a letter, take it back while it waits, and queue it again after
    it failed; the bridge alone marks it sending, sent, failed or uncertain. Once on
    its way, its content no longer changes: what was sent is what the history shows.
    """
    item.participants = _participants(problems, item.participants or [])
    if item.mail_status is not None:
        _one_of(problems, "mail_status", item.mail_status, MailStatus)
    if actor.login == MAIL_BRIDGE_LOGIN:
        return
    state = inspect(item)
    old_status: Any = None
    meeting = item.kind == InteractionKind.MEETING
    if state.persistent:
        history = state.attrs.mail_status.history
        old_status = history.deleted[0] if history.deleted else item.mail_status
        if (
            meeting
            and old_status in (MailStatus.SENT, MailStatus.FAILED, MailStatus.UNCERTAIN)
            and item.mail_status == old_status
            and any(state.attrs[name].history.has_changes() for name in _MEETING_INVITED)
        ):
            # Attendees hold an invitation: a new time, place or a cancellation goes to them too.
            item.mail_status = MailStatus.QUEUED
        elif (
            not meeting
            and old_status in (MailStatus.SENDING, MailStatus.SENT)
            and any(
                state.attrs[name].history.has_changes()
                for name in (*_LETTER_CONTENT, "mail_status")
            )
        ):
            problems["mail_status"] = f"this letter is {old_status}: it can no longer be changed"
            return
    if (
        item.mail_status != old_status
        and item.mail_status not in _ASKED.get(old_status, ())
        and not (
            meeting and item.mail_status == MailStatus.QUEUED and old_status == MailStatus.SENT
        )
    ):
        problems["mail_status"] = (
            f"cannot go from {old_status or 'none'} to {item.mail_status or 'none'}; "
            "the mail bridge marks letters sending, sent or failed"
        )
    if item.mail_status == MailStatus.QUEUED:
        if meeting:
            if not any(p["role"] == "attendee" for p in item.participants):
                problems["participants"] = "an invitation needs at least one attendee"
            if item.status == InteractionStatus.DONE:
                problems["mail_status"] = "a meeting that took place is not sent as an invitation"
        elif item.kind != InteractionKind.LETTER or item.direction != "outgoing":
            problems["mail_status"] = "only an outgoing letter or a meeting invitation can be sent"
        elif not any(p["role"] in ("to", "cc", "bcc") for p in item.participants):
            problems["participants"] = "a letter to send needs at least one recipient"
        if any(c in item.subject for c in "\r\n\0"):
            problems["subject"] = "the subject of a letter must be one line"


# Record types a reminder may point at, and how to find the counterparty behind each.
REMINDER_SUBJECTS: dict[str, type] = {
    "counterparty": Counterparty,
    "contact_person": ContactPerson,
    "interaction": Interaction,
    "deal": Deal,
}


def check_reminder(
    session: Session, actor: User, item: Reminder, problems: Problems, memo: access.Memo
) -> None:
    item.title = _not_blank(problems, "title", item.title)
    _one_of(problems, "status", item.status, ReminderStatus)
    _active_user(session, problems, "assignee_id", item.assignee_id, actor)
    kept_counterparty, item.counterparty_id = item.counterparty_id, None
    if (item.subject_type is None) != (item.subject_id is None):
        problems["subject_id"] = "subject_type and subject_id go together"
    elif item.subject_type is not None:
        model = REMINDER_SUBJECTS.get(item.subject_type)
        if model is None:
            problems["subject_type"] = "must be one of " + ", ".join(REMINDER_SUBJECTS)
        else:
            column = "id" if model is Counterparty else "counterparty_id"
            kept = _kept(item, "subject_type", "subject_id")
            # An edit that leaves the subject alone is not refused for it: the subject may be
            # gone, or out of a laptop's replica since its counterparty left the user's scope
            # while the reminder stayed theirs; the counterparty it was filed under stays.
            found = _exists(
                session, {} if kept else problems, "subject_id", model, item.subject_id, column
            )
            # Filed under its subject's counterparty when the subject is set; an edit that leaves the
            # subject alone leaves it filed where it was, though the subject moved since (else the
            # assignee would hold the id of a client the subject moved to, which they may not see).
            item.counterparty_id = (
                kept_counterparty if kept and (found is None or kept_counterparty) else found
            )
    if not _kept(item, "assignee_id", "subject_type", "subject_id"):
        _sees(session, problems, "assignee_id", item.assignee_id, item.counterparty_id, actor, memo)


def check_deal(
    session: Session, actor: User, deal: Deal, problems: Problems, memo: access.Memo
) -> None:
    deal.title = _not_blank(problems, "title", deal.title)
    _one_of(problems, "stage", deal.stage, DealStage)
    _parent(session, problems, actor, memo, deal.counterparty_id)
    for field in ("amount", "closed_volume"):
        value = getattr(deal, field)
        if value is not None and Decimal(value) < 0:
            problems[field] = "must not be negative"
    if deal.probability is not None and not 0 <= deal.probability <= 100:
        problems["probability"] = "must be between 0 and 100"
    if not (len(deal.currency) == 3 and deal.currency.isalpha()):
        problems["currency"] = "must be a three-letter ISO 4217 code such as RUB"
    deal.currency = deal.currency.upper()
    if deal.stage == DealStage.LOST and not (deal.lost_reason or "").strip():
        problems["lost_reason"] = "a lost deal must say why it was lost"
    _active_user(session, problems, "owner_id", deal.owner_id, actor)
    _exists(session, problems, "event_id", MarketingEvent, deal.event_id)
    if not problems:
        _stamp_stage(deal, actor)


CLOSED_STAGES = frozenset({DealStage.WON.value, DealStage.LOST.value})


def _stamp_stage(deal: Deal, actor: User) -> None:
    """Keep a deal's stage history and closing day (never written by hand): a new deal, or a stored
    one whose stage changed, appends ``{"stage", "at", "by"}`` to ``stages``; reaching won or lost
    sets ``closed_on`` to that day (UTC), reopening clears it."""
    state = inspect(deal)
    if state.persistent:
        history = state.attrs.stage.history
        if not history.added or (history.deleted and history.deleted[0] == history.added[0]):
            return
        at = utcnow()
    else:
        at = deal.created_at or utcnow()
    stamp = at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    deal.stages = [*(deal.stages or ()), {"stage": deal.stage, "at": stamp, "by": actor.id}]
    deal.closed_on = at.date() if deal.stage in CLOSED_STAGES else None


# A complaint's way: new → in_work → resolved | rejected, or closed straight from new.
COMPLAINT_MOVES: dict[str, frozenset[str]] = {
    ComplaintStatus.NEW: frozenset(
        {ComplaintStatus.IN_WORK, ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED}
    ),
    ComplaintStatus.IN_WORK: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED}),
    ComplaintStatus.RESOLVED: frozenset(),
    ComplaintStatus.REJECTED: frozenset(),
}
CLOSED_COMPLAINT = frozenset({ComplaintStatus.RESOLVED.value, ComplaintStatus.REJECTED.value})
# A complaint registered without a deadline is to be settled within this many days.
COMPLAINT_DAYS = 10


def check_complaint(
    session: Session, actor: User, item: Complaint, problems: Problems, memo: access.Memo
) -> None:
    """A complaint names its counterparty (and maybe one of its people), what it is about and a
    description; it moves only forward (``COMPLAINT_MOVES``), and a closed one says what was done
    and why it arose. Its responsible person defaults to the counterparty's owner, its deadline to
    ten days after it was registered; ``resolved_at`` is stamped when it is closed."""
    state = inspect(item)
    _one_of(problems, "subject", item.subject, ComplaintSubject)
    _one_of(problems, "status", item.status, ComplaintStatus)
    if item.cause is not None:
        _one_of(problems, "cause", item.cause, ComplaintCause)
    item.description = _not_blank(problems, "description", item.description)
    item.product = (item.product or "").strip() or None
    owner = _exists(
        session, problems, "counterparty_id", Counterparty, item.counterparty_id, "owner_id"
    )
    _belongs(
        session,
        problems,
        "contact_person_id",
        ContactPerson,
        item.contact_person_id,
        item.counterparty_id,
    )
    if state.persistent and state.attrs.counterparty_id.history.deleted:
        # A journal entry stays with the client it was registered against: moved, it would leave
        # the sight of those who registered and answer for it.
        problems["counterparty_id"] = "a complaint stays with its counterparty; register a new one"
    if item.responsible_id is None:
        item.responsible_id = owner
    if item.responsible_id is None and "counterparty_id" not in problems:
        problems["responsible_id"] = "is required (the counterparty has no owner to default to)"
    _active_user(session, problems, "responsible_id", item.responsible_id, actor)
    if not _kept(item, "responsible_id", "counterparty_id"):
        _sees(
            session,
            problems,
            "responsible_id",
            item.responsible_id,
            item.counterparty_id,
            actor,
            memo,
        )
    if item.deadline is None:
        item.deadline = (item.created_at or utcnow()).date() + timedelta(days=COMPLAINT_DAYS)
    if not state.persistent:
        item.registered_by = actor.id
    if "status" in problems:
        return
    old = item.status
    if state.persistent:
        history = state.attrs.status.history
        old = history.deleted[0] if history.deleted else item.status
    if old != item.status and item.status not in COMPLAINT_MOVES.get(old, frozenset()):
        allowed = ", ".join(sorted(COMPLAINT_MOVES.get(old, frozenset()))) or "none: it is closed"
        problems["status"] = f"a complaint goes from {old} only to {allowed}; not to {item.status}"
        return
    if item.status in CLOSED_COMPLAINT:
        item.resolution = (item.resolution or "").strip() or None
        if item.resolution is None:
            problems["resolution"] = f"a {item.status} complaint must say what was done or why not"
        if item.cause is None and "cause" not in problems:
            problems["cause"] = f"a {item.status} complaint must name its cause: " + ", ".join(
                c.value for c in ComplaintCause
            )
        if item.resolved_at is None or old not in CLOSED_COMPLAINT:
            item.resolved_at = utcnow()
    else:
        item.resolved_at = None


# A claim lasts 90 days unless it says otherwise, and a year at most: renewed, it is seen again.
CLAIM_DAYS = 90
CLAIM_MAX_DAYS = 366


def _overlapping(session: Session, model: Any, item: Any, *same: str) -> list[Any]:
    """The other records of ``model`` with the same ``same`` fields as ``item`` whose days
    (``starts_on``…``ends_on``) meet its days: stored ones, and those of the same batch not yet
    written (``session.new``: a batch's earlier items, or a push's)."""

    def meets(other: Any) -> bool:
        return (
            other is not item
            and other.id != item.id
            and all(getattr(other, f) == getattr(item, f) for f in same)
            and other.starts_on is not None
            and other.ends_on is not None
            and other.starts_on <= item.ends_on
            and other.ends_on >= item.starts_on
        )

    pending = [o for o in session.new if isinstance(o, model) and meets(o)]
    with session.no_autoflush:
        stored = session.execute(
            select(model).where(
                *(getattr(model, f) == getattr(item, f) for f in same),
                model.id != item.id,
                model.starts_on <= item.ends_on,
                model.ends_on >= item.starts_on,
            )
        ).scalars()
        return [*pending, *(o for o in stored if o not in pending)]


def _required_again(item: Any, problems: Problems, *names: str) -> None:
    """A stored record's field that defaults on creation may not be emptied later (a null would
    quietly take the default again: the caller as holder, another 90 days)."""
    state = inspect(item)
    if not state.persistent:
        return
    for name in names:
        if getattr(item, name) is None:
            problems[name] = "is required"


# A claim lasts 90 days unless it says otherwise, and a year at most (366 days, both ends counted):
# renewed, it is seen again.
CLAIM_DAYS = 90
CLAIM_MAX_DAYS = 366


def check_claim(
    session: Session, actor: User, item: Claim, problems: Problems, memo: access.Memo
) -> None:
    """A claim names its counterparty and a product group or direction; its holder (by default the
    acting user) must see the client. It runs from ``starts_on`` (by default the day it is made)
    to ``ends_on`` (90 days later by default, a year at most) and lapses by itself. Two claims on
    the same group of the same client (case, ё and spacing aside) may not overlap in time: the
    refusal says who holds it until when — but only to whoever sees the client. It stays with its
    counterparty. A claim of a holder who has since been disabled may still be ended or changed."""
    state = inspect(item)
    _required_again(item, problems, "holder_id", "starts_on", "ends_on")
    item.product_group = " ".join(_not_blank(problems, "product_group", item.product_group).split())
    _parent(session, problems, actor, memo, item.counterparty_id)
    if state.persistent and state.attrs.counterparty_id.history.deleted:
        problems["counterparty_id"] = "a claim stays with its counterparty; make a new one"
    if item.holder_id is None and not state.persistent:
        item.holder_id = actor.id
    if not _kept(item, "holder_id", "counterparty_id"):
        _active_user(session, problems, "holder_id", item.holder_id, actor)
        _sees(session, problems, "holder_id", item.holder_id, item.counterparty_id, actor, memo)
    if item.starts_on is None and not state.persistent:
        item.starts_on = (item.created_at or utcnow()).date()
    if item.ends_on is None and item.starts_on is not None and not state.persistent:
        item.ends_on = item.starts_on + timedelta(days=CLAIM_DAYS)
    if problems or item.starts_on is None or item.ends_on is None:
        return
    if item.ends_on < item.starts_on:
        problems["ends_on"] = "must not be before starts_on"
    elif (item.ends_on - item.starts_on).days >= CLAIM_MAX_DAYS:
        problems["ends_on"] = f"a claim lasts at most {CLAIM_MAX_DAYS} days; renew it when it ends"
    if problems or not memo.matches(session, actor, item.counterparty_id, write=False):
        # Who may not see the client learns nothing of its claims: the access check refuses the
        # claim next, as if the client did not exist.
        return
    group = validation.fold_text(item.product_group)
    for other in _overlapping(session, Claim, item, "counterparty_id"):
        if validation.fold_text(other.product_group) == group:
            holder = session.get(User, other.holder_id) if other.holder_id else None
            who = (holder.full_name or holder.login) if holder else "someone"
            problems["product_group"] = (
                f"{other.product_group} of this counterparty is claimed by {who} until "
                f"{other.ends_on}"
            )
            return


# An absence is at most a year long (366 days, both ends counted; a long leave is entered again).
ABSENCE_MAX_DAYS = 366


def check_absence(
    session: Session, actor: User, item: Absence, problems: Problems, memo: access.Memo
) -> None:
    """An absence names its employee (an active user when it is entered or given to them), its
    kind, and its first and last day (a year at most); a trip may name its city. One person's
    absences may not overlap: the refusal says which one is in the way."""
    _one_of(problems, "kind", item.kind, AbsenceKind)
    _exists(session, problems, "user_id", User, item.user_id)
    if "user_id" not in problems and not _kept(item, "user_id"):
        _active_user(session, problems, "user_id", item.user_id, actor)
    item.city = " ".join((item.city or "").split()) or None
    if item.starts_on is None:
        problems["starts_on"] = "is required"
    if item.ends_on is None:
        problems["ends_on"] = "is required"
    if problems:
        return
    if item.ends_on < item.starts_on:
        problems["ends_on"] = "must not be before starts_on"
        return
    if (item.ends_on - item.starts_on).days >= ABSENCE_MAX_DAYS:
        problems["ends_on"] = f"an absence lasts at most {ABSENCE_MAX_DAYS} days"
        return
    for other in _overlapping(session, Absence, item, "user_id"):
        problems["starts_on"] = (
            f"overlaps their {other.kind} from {other.starts_on} to {other.ends_on}"
        )
        return
    _check_substitute(session, actor, item, problems)


def _check_substitute(session: Session, actor: User, item: Absence, problems: Problems) -> None:
    """A substitute is another active colleague (not the mail bridge), who sees the absent one's
    clients on the absence's days (``crm.access``). Naming one lends another's clients: the absent
    one names them, or whoever keeps their absences (their manager, the office, an admin)."""
    if item.substitute_id is None:
        return
    if item.substitute_id == item.user_id:
        problems["substitute_id"] = "a substitute is someone else"
        return
    substitute = _exists(session, problems, "substitute_id", User, item.substitute_id, "login")
    if substitute is None:
        return
    if substitute == MAIL_BRIDGE_LOGIN:
        problems["substitute_id"] = "the mail bridge cannot stand in for anyone"
        return
    if not _kept(item, "substitute_id"):
        _active_user(session, problems, "substitute_id", item.substitute_id, actor)


def check_share(
    session: Session, actor: User, share: Share, problems: Problems, memo: access.Memo
) -> None:
    _parent(session, problems, actor, memo, share.counterparty_id)
    if (share.user_id is None) == (share.team_id is None):
        problems["user_id"] = "share with exactly one of user_id or team_id"
    _exists(session, problems, "user_id", User, share.user_id)
    _exists(session, problems, "team_id", Team, share.team_id)


def check_user(
    session: Session, actor: User, user: User, problems: Problems, memo: access.Memo
) -> None:
    user.login = _not_blank(problems, "login", user.login).lower()
    user.full_name = _not_blank(problems, "full_name", user.full_name)
    _one_of(problems, "role", user.role, Role)
    if user.locale not in ("ru", "en"):
        problems["locale"] = "must be ru or en"
    if user.email:
        try:
            user.email = validation.normalize_email(user.email)
        except ValueError as exc:
            problems["email"] = str(exc)
    _exists(session, problems, "team_id", Team, user.team_id)


def _same_name(name: str) -> str:
    """A name as people tell names apart: composed, without invisible format characters, case-folded."""
    composed = unicodedata.normalize("NFC", name)
    return "".join(c for c in composed if unicodedata.category(c) != "Cf").strip().casefold()


def check_letter_template(
    session: Session,
    actor: User,
    template: LetterTemplate,
    problems: Problems,
    memo: access.Memo,
) -> None:
    template.name = _not_blank(problems, "name", template.name)
    folded = _same_name(template.name)
    with session.no_autoflush:
        clash = [
            n
            for i, n in session.execute(
                select(col(LetterTemplate.id), col(LetterTemplate.name))
            ).all()
            if i != template.id and _same_name(n) == folded
        ]
    if clash:
        problems["name"] = f"a template named {clash[0]!r} exists already"
    if any(c in (template.subject or "") for c in "\r\n\x00"):
        problems["subject"] = "the subject of a letter must be one line"
    if not (template.subject or "").strip() and not (template.body or "").strip():
        problems["body"] = "a template needs a subject or a text"


def check_team(
    session: Session, actor: User, team: Team, problems: Problems, memo: access.Memo
) -> None:
    team.name = _not_blank(problems, "name", team.name)
    # "Москва" and "москва" are one team to people; SQL's lower() folds ASCII only, and a
    # company has few teams, so the names are compared here.
    folded = team.name.casefold()
    with session.no_autoflush:
        clash = [
            n
            for i, n in session.execute(select(col(Team.id), col(Team.name))).all()
            if i != team.id and n.casefold() == folded
        ]
    if clash:
        raise AlreadyExists(f"a team named {clash[0]!r} exists already")


def check_sale(
    session: Session, actor: User, sale: Sale, problems: Problems, memo: access.Memo
) -> None:
    sale.number = _not_blank(problems, "number", sale.number)
    _parent(session, problems, actor, memo, sale.counterparty_id)
    _exists(session, problems, "salesperson_id", User, sale.salesperson_id)
    if sale.cost is not None and Decimal(sale.cost) < 0:
        problems["cost"] = "must not be negative"


def check_contract(
    session: Session, actor: User, item: Contract, problems: Problems, memo: access.Memo
) -> None:
    """A contract names its counterparty and number; its validity does not end before it starts;
    its deferment is 0 to 365 days and its amount not negative."""
    item.number = _not_blank(problems, "number", item.number)
    _one_of(problems, "status", item.status, ContractStatus)
    _parent(session, problems, actor, memo, item.counterparty_id)
    if item.starts_on is not None and item.ends_on is not None and item.ends_on < item.starts_on:
        problems["ends_on"] = "must not be before starts_on"
    if item.payment_days is not None and not 0 <= item.payment_days <= 365:
        problems["payment_days"] = "must be between 0 and 365 days"
    if item.amount is not None and Decimal(item.amount) < 0:
        problems["amount"] = "must not be negative"


def check_invoice(
    session: Session, actor: User, item: Invoice, problems: Problems, memo: access.Memo
) -> None:
    item.number = _not_blank(problems, "number", item.number)
    _parent(session, problems, actor, memo, item.counterparty_id)
    _exists(session, problems, "salesperson_id", User, item.salesperson_id)
    if item.amount is not None and Decimal(item.amount) < 0:
        problems["amount"] = "must not be negative"
    if item.due_on is not None and item.issued_on is not None and item.due_on < item.issued_on:
        problems["due_on"] = "must not be before issued_on"


def check_receivable(
    session: Session, actor: User, item: Receivable, problems: Problems, memo: access.Memo
) -> None:
    # Never written by hand (crm.access refuses every write); the server computes them.
    problems["invoices"] = "receivables are computed from the invoices and payments, not written"


CONTACT_RULE_MAX_DAYS = 366


def check_contact_rule(
    session: Session, actor: User, item: ContactRule, problems: Problems, memo: access.Memo
) -> None:
    """One rule per ABC class: contact every 1 to 366 days, counting the kinds it names."""
    item.abc_class = (item.abc_class or "").strip().upper()
    _one_of(problems, "abc_class", item.abc_class, AbcClass)
    if item.days is None or not 1 <= item.days <= CONTACT_RULE_MAX_DAYS:
        problems["days"] = f"must be between 1 and {CONTACT_RULE_MAX_DAYS}"
    kinds = item.kinds
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        problems["kinds"] = "must be a list of interaction kinds"
    else:
        for kind in kinds:
            _one_of(problems, "kinds", kind, InteractionKind)
        item.kinds = list(dict.fromkeys(kinds))
    if "abc_class" in problems or _kept(item, "abc_class"):
        return
    if actor.role not in (Role.ADMIN, Role.MANAGER):
        return  # crm.access refuses them: the refusal is theirs to hear, not a clash
    clash = session.execute(
        select(col(ContactRule.id)).where(
            col(ContactRule.abc_class) == item.abc_class, col(ContactRule.id) != item.id
        )
    ).first()
    if clash is not None or any(
        isinstance(other, ContactRule) and other is not item and other.abc_class == item.abc_class
        for other in session.new
    ):
        problems["abc_class"] = f"class {item.abc_class} has its rule already; change that one"


def check_segment(
    session: Session, actor: User, item: Segment, problems: Problems, memo: access.Memo
) -> None:
    """A segment has a name and criteria ``crm.segments`` knows (values trimmed, repeats dropped);
    its owner is the user who saved it unless a manager gives it to one of their people."""
    item.name = " ".join(_not_blank(problems, "name", item.name).split())
    found = segments.check_criteria(item.criteria)
    problems.update(found)
    if not found:
        try:
            # A login is taken for its user's id, as the commands take it; nobody's is refused.
            item.criteria = segments.with_owner_ids(session, segments.normalised(item.criteria))
        except ValueError as exc:
            problems["criteria"] = str(exc)
    if item.owner_id is None:
        item.owner_id = actor.id
    _exists(session, problems, "owner_id", User, item.owner_id)
    if "name" not in problems and not _kept(item, "name"):
        # Doors name a segment by its name: two of one name would make it ambiguous for everyone.
        key = item.name.casefold()
        taken = [
            (other_id, owner)
            for other_id, name, owner in session.execute(
                select(col(Segment.id), col(Segment.name), col(Segment.owner_id))
            )
            if other_id != item.id and " ".join(name.split()).casefold() == key
        ]
        if taken or any(
            isinstance(o, Segment) and o is not item and o.name.casefold() == key
            for o in session.new
        ):
            problems["name"] = "a segment of this name exists already; choose another name"
    if "owner_id" not in problems and not _kept(item, "owner_id"):
        owned = session.execute(
            select(func.count())
            .select_from(Segment)
            .where(col(Segment.owner_id) == item.owner_id, col(Segment.id) != item.id)
        ).scalar_one()
        owned += sum(
            1
            for o in session.new
            if isinstance(o, Segment) and o is not item and o.owner_id == item.owner_id
        )
        if owned >= segments.MAX_PER_OWNER:
            problems["owner_id"] = (
                f"a user keeps at most {segments.MAX_PER_OWNER} segments; delete one first"
            )


def check_marketing_event(
    session: Session, actor: User, item: MarketingEvent, problems: Problems, memo: access.Memo
) -> None:
    """An event has a name and a kind; it does not end before it starts; its budget is not
    negative; its owner defaults to who enters it."""
    item.name = " ".join(_not_blank(problems, "name", item.name).split())
    _one_of(problems, "kind", item.kind, EventKind)
    if item.starts_on is not None and item.ends_on is not None and item.ends_on < item.starts_on:
        problems["ends_on"] = "must not be before starts_on"
    if item.budget is not None and Decimal(item.budget) < 0:
        problems["budget"] = "must not be negative"
    if item.owner_id is None:
        item.owner_id = actor.id
    _exists(session, problems, "owner_id", User, item.owner_id)
    if not _kept(item, "owner_id"):
        _active_user(session, problems, "owner_id", item.owner_id, actor)


def check_mailing(
    session: Session, actor: User, item: Mailing, problems: Problems, memo: access.Memo
) -> None:
    """A mailing has a name, a subject and a text, and goes to a segment's clients or an event's
    participants (one of the two; of the event's, maybe only some statuses). Its owner (whose
    mailbox sends it, whose sight picks the recipients) defaults to who writes it. Once queued it
    is history: nothing of it changes (``crm.mailings`` queues it)."""
    if inspect(item).persistent and item.status != MailingStatus.DRAFT.value:
        problems["status"] = "the mailing is queued: its letters are written; copy it to change it"
        return
    item.name = " ".join(_not_blank(problems, "name", item.name).split())
    if not (item.subject or "").strip():
        problems["subject"] = "must not be empty"
    if not (item.body or "").strip():
        problems["body"] = "must not be empty"
    if (item.event_id is None) == (item.segment_id is None):
        problems["segment_id"] = "send to exactly one of segment_id or event_id"
    _exists(session, problems, "event_id", MarketingEvent, item.event_id)
    _exists(session, problems, "segment_id", Segment, item.segment_id)
    statuses = item.statuses if isinstance(item.statuses, list) else None
    if statuses is None or any(s not in set(ParticipantStatus) for s in statuses):
        problems["statuses"] = "a list of " + ", ".join(ParticipantStatus)
    elif statuses and item.event_id is None:
        problems["statuses"] = "only an event's participants have statuses"
    else:
        item.statuses = sorted(set(statuses))
    if item.owner_id is None:
        item.owner_id = actor.id
    _exists(session, problems, "owner_id", User, item.owner_id)
    if not _kept(item, "owner_id"):
        _active_user(session, problems, "owner_id", item.owner_id, actor)


def check_event_cost(
    session: Session, actor: User, item: EventCost, problems: Problems, memo: access.Memo
) -> None:
    item.item = " ".join(_not_blank(problems, "item", item.item).split())
    _exists(session, problems, "event_id", MarketingEvent, item.event_id)
    if item.amount is None or Decimal(item.amount) < 0:
        problems["amount"] = "must not be negative"
    state = inspect(item)
    if state.persistent and state.attrs.event_id.history.deleted:
        problems["event_id"] = "a cost stays with its event; enter it anew under the other"


def check_event_participant(
    session: Session, actor: User, item: EventParticipant, problems: Problems, memo: access.Memo
) -> None:
    """A participant is a counterparty (maybe one of its people) at an event, once; invited,
    registered, attended or declined."""
    _one_of(problems, "status", item.status, ParticipantStatus)
    _exists(session, problems, "event_id", MarketingEvent, item.event_id)
    _parent(session, problems, actor, memo, item.counterparty_id)
    _belongs(
        session,
        problems,
        "contact_person_id",
        ContactPerson,
        item.contact_person_id,
        item.counterparty_id,
    )
    if problems or _kept(item, "event_id", "counterparty_id", "contact_person_id"):
        return
    twin = session.execute(
        select(col(EventParticipant.id)).where(
            col(EventParticipant.event_id) == item.event_id,
            col(EventParticipant.counterparty_id) == item.counterparty_id,
            col(EventParticipant.contact_person_id).is_(None)
            if item.contact_person_id is None
            else col(EventParticipant.contact_person_id) == item.contact_person_id,
            col(EventParticipant.id) != item.id,
        )
    ).first()
    if twin is not None or any(
        isinstance(o, EventParticipant)
        and o is not item
        and (o.event_id, o.counterparty_id, o.contact_person_id)
        == (item.event_id, item.counterparty_id, item.contact_person_id)
        for o in session.new
    ):
        problems["counterparty_id"] = "is a participant of this event already"


def check_supplier_terms(
    session: Session, actor: User, item: SupplierTerms, problems: Problems, memo: access.Memo
) -> None:
    """A supplier's terms: one record per supplier (a counterparty whose kinds include
    "supplier" when its terms are entered); lead time 0 to 365 days, rating 1 to 5; the terms
    stay with their supplier."""
    kinds = _exists(
        session, problems, "counterparty_id", Counterparty, item.counterparty_id, "kinds"
    )
    state = inspect(item)
    if state.persistent and state.attrs.counterparty_id.history.deleted:
        problems["counterparty_id"] = (
            "terms stay with their supplier; enter them anew under the other"
        )
    elif not state.persistent and item.counterparty_id and "counterparty_id" not in problems:
        if "supplier" not in (kinds or []):
            problems["counterparty_id"] = (
                "is not a supplier: add the kind supplier to its card first"
            )
    if item.lead_time_days is not None and not 0 <= item.lead_time_days <= 365:
        problems["lead_time_days"] = "must be between 0 and 365 days"
    if item.rating is not None and not 1 <= item.rating <= 5:
        problems["rating"] = "must be between 1 and 5"
    if problems or _kept(item, "counterparty_id"):
        return
    twin = session.execute(
        select(col(SupplierTerms.id)).where(
            col(SupplierTerms.counterparty_id) == item.counterparty_id,
            col(SupplierTerms.id) != item.id,
        )
    ).first()
    if twin is not None or any(
        isinstance(o, SupplierTerms) and o is not item and o.counterparty_id == item.counterparty_id
        for o in session.new
    ):
        problems["counterparty_id"] = "has its terms already; change those"


def check_price_item(
    session: Session, actor: User, item: PriceItem, problems: Problems, memo: access.Memo
) -> None:
    item.product = " ".join(_not_blank(problems, "product", item.product).split())
    item.product_key = validation.fold_text(item.product)
    _parent(session, problems, actor, memo, item.counterparty_id)
    if item.price is None or Decimal(item.price) < 0:
        problems["price"] = "must not be negative"
    elif Decimal(item.price) != Decimal(item.price).quantize(Decimal("0.0001")):
        problems["price"] = "has more than four decimals"
    if not (len(item.currency or "") == 3 and item.currency.isalpha()):
        problems["currency"] = "must be a three-letter ISO 4217 code such as RUB"
    item.currency = (item.currency or "").upper()
    if item.valid_from is None:
        problems["valid_from"] = "must be given"
    # PostgreSQL refuses an overlong value mid-import; SQLite would keep it.
    for name, limit in (("product", 500), ("article", 100), ("unit", 20)):
        value = getattr(item, name)
        if value is not None and len(value) > limit:
            problems[name] = f"longer than {limit} characters"


def check_sales_summary(
    session: Session, actor: User, summary: SalesSummary, problems: Problems, memo: access.Memo
) -> None:
    # Never written by hand (crm.access refuses every write); the server computes them.
    problems["months"] = "sales totals are computed from the sales, not written"


Check = Callable[[Session, User, Any, Problems, access.Memo], None]


def run_check(
    check: Check, session: Session, actor: User, record: Any, memo: access.Memo | None = None
) -> None:
    """Apply ``check``; raise ``ValidationFailed`` listing every problem found. ``memo`` is a
    batch's (``records.create_many``, the mail bridge); a single record gets a fresh one."""
    problems: Problems = {}
    check(session, actor, record, problems, access.Memo() if memo is None else memo)
    if problems:
        fields = ", ".join(sorted(problems))
        raise ValidationFailed(f"{type(record).__name__} is not valid: {fields}", details=problems)
