"""Mailings (issue 15): who a letter to many reaches, and its letters queued in the mail outbox.

A mailing (``crm.models.Mailing``) goes to the people of a saved segment's clients, or of an
event's participants (of some statuses only, when it says so). :func:`plan` says who: the clients
its *owner* sees — the owner's mailbox sends it and the owner's sight picks the clients, so a
mailing never reaches a client its sender does not see, whoever presses the button. A participant
that names a contact person brings that person; one that does not, and every client of a segment,
bring all of the client's people. Each person is written to at their first email address, once per
address however many people or clients share it. Left out, and counted: whoever asked for no
mailings (``ContactPerson.no_mailings``), and whoever cannot be reached — no address, or one mail
already came back from (``FailingAddress``), or a client without people.

:func:`queue` turns a draft into letters, all or nothing in the caller's transaction: one outgoing
letter (an ``Interaction`` of kind ``letter`` with ``mail_status`` "queued", as ``mail.outbox``
takes one) per address, filed on its client and person, so the history shows it; its subject and
text are the mailing's, merge fields and all — the outbox fills them per letter when it sends it.
A ``MailingRecipient`` row ties each letter to the mailing, unique per address, and the mailing is
then queued and can no longer change: queueing it again writes nothing (never twice). The letters
are inserted in bulk and entered in the change log (``crm.changes.log_inserted``), so the laptops
pull them: a thousand through the record service took seconds of rule checks that the plan has
already made (bench/mailings.py).

What became of the letters (sent, failed, bounced) the mail bridge records on the recipients;
:func:`refresh_counts` brings the mailing's counters in line with them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import Session, col

from crm import access, changes, segments, validation
from crm.errors import NotFound, PermissionDenied, ValidationFailed
from crm.models import (
    ContactPerson,
    Counterparty,
    EventParticipant,
    FailingAddress,
    Interaction,
    Mailing,
    MailingRecipient,
    User,
    new_id,
    utcnow,
)
from crm.models.enums import InteractionKind, MailingStatus, MailStatus

__all__ = [
    "LeftOut",
    "Plan",
    "Queued",
    "Recipient",
    "Sent",
    "find",
    "letters_of",
    "plan",
    "plan_of",
    "queue",
    "refresh_counts",
    "seen_by",
]

# Why someone is left out. Opted out and unreachable are counted on the mailing; a second person at
# an address already written to is not a loss (the letter reaches that address once).
OPTED_OUT = "opted_out"
NO_ADDRESS = "no_address"
FAILING = "failing"
NO_PEOPLE = "no_people"
DUPLICATE = "duplicate"
UNREACHABLE = frozenset({NO_ADDRESS, FAILING, NO_PEOPLE})

_CHUNK = 500  # ids in one IN (…): well under SQLite's and PostgreSQL's bounds
_MERGE_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME_LIMIT = 200  # a letter participant's name (crm.rules._participants)


@dataclass(frozen=True)
class Recipient:
    """One letter of a mailing: the address, and the person and client it is filed under."""

    counterparty_id: str
    counterparty_name: str
    contact_person_id: str
    person_name: str
    email: str


@dataclass(frozen=True)
class LeftOut:
    """Someone the mailing does not write to, and why (``reason``: opted_out, no_address,
    failing, no_people, duplicate)."""

    counterparty_id: str
    counterparty_name: str
    contact_person_id: str | None
    person_name: str | None
    email: str | None
    reason: str


@dataclass
class Plan:
    """Who a mailing would write to, by client name, and who it leaves out."""

    recipients: list[Recipient] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    # Rows taken out because the asker does not see their client (``seen_by``).
    hidden: int = 0

    @property
    def opted_out(self) -> int:
        return sum(1 for x in self.left_out if x.reason == OPTED_OUT)

    @property
    def unreachable(self) -> int:
        return sum(1 for x in self.left_out if x.reason in UNREACHABLE)

    @property
    def duplicates(self) -> int:
        return sum(1 for x in self.left_out if x.reason == DUPLICATE)

    @property
    def clients(self) -> int:
        return len({r.counterparty_id for r in self.recipients})


@dataclass(frozen=True)
class Queued:
    """What :func:`queue` did: how many letters it wrote (0 when ``already`` queued)."""

    mailing: Mailing
    letters: int
    already: bool


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _owner(session: Session, mailing: Mailing) -> User:
    owner = session.get(User, mailing.owner_id) if mailing.owner_id else None
    if owner is None:
        raise ValidationFailed(
            "the mailing has no owner: its owner's sight picks its recipients",
            details={"owner_id": "is required"},
        )
    return owner


def _audience(session: Session, mailing: Mailing, owner: User) -> dict[str, set[str] | None]:
    """Counterparty id → the people named for it (None: all of its people)."""
    if mailing.segment_id is not None:
        segment = segments.of(session, owner, mailing.segment_id)
        return dict.fromkeys(segments.members(session, owner, segment.criteria))
    query = (
        select(col(EventParticipant.counterparty_id), col(EventParticipant.contact_person_id))
        .join(Counterparty, col(Counterparty.id) == col(EventParticipant.counterparty_id))
        .where(col(EventParticipant.event_id) == mailing.event_id)
        .where(access.visible_counterparties(owner))
    )
    if mailing.statuses:
        query = query.where(col(EventParticipant.status).in_(mailing.statuses))
    out: dict[str, set[str] | None] = {}
    for counterparty_id, person_id in session.execute(query):
        if person_id is None:
            out[counterparty_id] = None
        elif counterparty_id not in out or out[counterparty_id] is not None:
            named = out.setdefault(counterparty_id, set())
            assert named is not None
            named.add(person_id)
    return out


def _first_email(contacts: Any) -> str | None:
    """The person's first email address that is one, normalised."""
    for item in contacts if isinstance(contacts, list) else ():
        if isinstance(item, dict) and item.get("kind") == "email":
            try:
                return validation.normalize_email(str(item.get("value") or ""))
            except ValueError:
                continue
    return None


def _failing(session: Session, addresses: Iterable[str]) -> set[str]:
    wanted = sorted(set(addresses))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        found.update(
            session.execute(
                select(col(FailingAddress.email)).where(col(FailingAddress.email).in_(chunk))
            ).scalars()
        )
    return found


def plan(session: Session, mailing: Mailing) -> Plan:
    """Who ``mailing`` would write to now and who it leaves out (see the module's docstring): a
    query for the clients, one per 500 of them for their names and people, one per 500 addresses
    for the failing ones."""
    owner = _owner(session, mailing)
    audience = _audience(session, mailing, owner)
    ids = sorted(audience)
    names: dict[str, str] = {}
    people: dict[str, list[ContactPerson]] = {}
    for chunk in _chunks(ids):
        for cp_id, short, legal in session.execute(
            select(
                col(Counterparty.id), col(Counterparty.short_name), col(Counterparty.legal_name)
            ).where(col(Counterparty.id).in_(chunk))
        ):
            names[cp_id] = short or legal or ""
        for person in session.execute(
            select(ContactPerson).where(col(ContactPerson.counterparty_id).in_(chunk))
        ).scalars():
            people.setdefault(person.counterparty_id, []).append(person)
    emails = {
        person.id: _first_email(person.contacts) for group in people.values() for person in group
    }
    failing = _failing(session, (e for e in emails.values() if e))
    out = Plan()
    taken: set[str] = set()
    for cp_id in sorted(ids, key=lambda i: (names.get(i, "").casefold(), i)):
        name = names.get(cp_id, "")
        named = audience[cp_id]
        chosen = sorted(
            (p for p in people.get(cp_id, []) if named is None or p.id in named),
            key=lambda p: (p.full_name.casefold(), p.id),
        )
        if not chosen:
            out.left_out.append(LeftOut(cp_id, name, None, None, None, NO_PEOPLE))
        for person in chosen:
            email = emails.get(person.id)
            reason = (
                OPTED_OUT
                if person.no_mailings
                else NO_ADDRESS
                if email is None
                else FAILING
                if email in failing
                else DUPLICATE
                if email in taken
                else None
            )
            if reason is not None:
                out.left_out.append(
                    LeftOut(cp_id, name, person.id, person.full_name, email, reason)
                )
                continue
            assert email is not None
            taken.add(email)
            out.recipients.append(Recipient(cp_id, name, person.id, person.full_name, email))
    return out


def _visible(session: Session, actor: User, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    seen: set[str] = set()
    for chunk in _chunks(wanted):
        seen.update(
            session.execute(
                select(col(Counterparty.id)).where(
                    col(Counterparty.id).in_(chunk), access.visible_counterparties(actor)
                )
            ).scalars()
        )
    return seen


def seen_by(session: Session, actor: User, found: Plan) -> Plan:
    """``found`` as ``actor`` may be shown it: the rows of clients they do not see taken out (and
    counted in ``hidden``). The counts of the whole stay the mailing's business, not the rows."""
    seen = _visible(
        session,
        actor,
        [r.counterparty_id for r in found.recipients] + [x.counterparty_id for x in found.left_out],
    )
    out = Plan(
        [r for r in found.recipients if r.counterparty_id in seen],
        [x for x in found.left_out if x.counterparty_id in seen],
    )
    out.hidden = (
        len(found.recipients) + len(found.left_out) - len(out.recipients) - len(out.left_out)
    )
    return out


@dataclass(frozen=True)
class Sent:
    """A letter a queued mailing wrote, and where it stands (queued, sent, failed, bounced)."""

    recipient: Recipient
    interaction_id: str | None
    state: str


def letters_of(session: Session, actor: User, mailing: Mailing) -> tuple[list[Sent], int]:
    """The letters a queued mailing wrote whose clients ``actor`` sees, by client and person, and
    how many others there are."""
    rows = session.execute(
        select(
            MailingRecipient,
            col(Counterparty.short_name),
            col(Counterparty.legal_name),
            col(ContactPerson.full_name),
        )
        .join(Counterparty, col(Counterparty.id) == col(MailingRecipient.counterparty_id))
        .outerjoin(ContactPerson, col(ContactPerson.id) == col(MailingRecipient.contact_person_id))
        .where(col(MailingRecipient.mailing_id) == mailing.id)
    ).all()
    seen = _visible(session, actor, [row[0].counterparty_id for row in rows])
    out = [
        Sent(
            Recipient(
                r.counterparty_id,
                short or legal or "",
                r.contact_person_id or "",
                person or "",
                r.email,
            ),
            r.interaction_id,
            r.state,
        )
        for r, short, legal, person in rows
        if r.counterparty_id in seen
    ]
    out.sort(
        key=lambda s: (
            s.recipient.counterparty_name.casefold(),
            s.recipient.person_name,
            s.recipient.email,
        )
    )
    return out, len(rows) - len(out)


def find(session: Session, actor: User, mailing_id: str) -> Mailing:
    """The mailing, or ``NotFound`` when there is none or ``actor`` may not see it."""
    mailing = session.get(Mailing, mailing_id[:36]) if mailing_id else None
    if mailing is None or not access.can_read(session, actor, mailing):
        raise NotFound(f"mailing {mailing_id[:40]} not found")
    return mailing


def plan_of(session: Session, actor: User, mailing_id: str) -> tuple[Mailing, Plan]:
    """The mailing ``actor`` asks about and its plan (everyone who sees a mailing sees its plan;
    the doors list only the clients the asker sees too)."""
    mailing = find(session, actor, mailing_id)
    return mailing, plan(session, mailing)


def _check_text(mailing: Mailing, known_fields: Collection[str] | None) -> None:
    """Refuse before a thousand letters fail one by one at the outbox: a subject of more than one
    line, a merge field the outbox does not know."""
    problems: dict[str, str] = {}
    if any(c in mailing.subject for c in "\r\n\0"):
        problems["subject"] = "the subject of a letter must be one line"
    if known_fields is not None:
        for name, text in (("subject", mailing.subject), ("body", mailing.body)):
            unknown = sorted(set(_MERGE_FIELD.findall(text)) - set(known_fields))
            if unknown:
                problems[name] = (
                    "unknown merge field "
                    + ", ".join("{{" + u[:40] + "}}" for u in unknown)
                    + "; known: "
                    + ", ".join("{{" + f + "}}" for f in known_fields)
                )
    if problems:
        raise ValidationFailed("the mailing cannot be sent as written", details=problems)


def _letters(
    mailing: Mailing, actor: User, recipients: Sequence[Recipient]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The interaction rows of the letters and the recipient rows linking them, every column."""
    now = utcnow()
    base = Interaction(
        counterparty_id="",
        starts_at=now,
        kind=InteractionKind.LETTER.value,
        direction="outgoing",
        status="planned",
        subject=mailing.subject,
        notes=mailing.body,
        responsible_id=mailing.owner_id,
        mail_status=MailStatus.QUEUED.value,
        created_at=now,
        updated_at=now,
        created_by=actor.id,
        updated_by=actor.id,
    )
    keys = [c.key for c in Interaction.__table__.columns]  # type: ignore[attr-defined]
    template = {k: getattr(base, k) for k in keys}
    letters: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for r in recipients:
        row = dict(template)
        letter_id = new_id()
        name = " ".join(r.person_name.split())[:_NAME_LIMIT]
        row.update(
            id=letter_id,
            counterparty_id=r.counterparty_id,
            contact_person_id=r.contact_person_id,
            participants=[{"role": "to", "name": name, "address": r.email}],
            attachments=[],
        )
        letters.append(row)
        links.append(
            {
                "id": new_id(),
                "mailing_id": mailing.id,
                "counterparty_id": r.counterparty_id,
                "contact_person_id": r.contact_person_id,
                "email": r.email,
                "interaction_id": letter_id,
                "state": "queued",
                "bounced_at": None,
            }
        )
    return letters, links


def queue(
    session: Session,
    actor: User,
    mailing_id: str,
    *,
    known_fields: Collection[str] | None = None,
) -> Queued:
    """Queue the draft ``mailing_id``'s letters in the outbox (see the module's docstring).

    ``NotFound`` when ``actor`` does not see it, ``PermissionDenied`` when they may not keep it
    (its owner, the owner's manager, the office, an admin do), ``ValidationFailed`` when it would
    write to nobody or its text cannot be sent (``known_fields``: the merge fields the outbox
    fills, checked when given). A mailing queued already is answered as it is, nothing written.
    """
    find(session, actor, mailing_id)
    # Read afresh under a lock: of two who press the button at once, the second finds it queued.
    mailing = session.execute(
        select(Mailing)
        .where(col(Mailing.id) == mailing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if not access.can_write(session, actor, mailing):
        raise PermissionDenied(
            f"you may see but not send mailing {mailing.id}: its owner, their manager, "
            "the office or an admin does"
        )
    if mailing.status != MailingStatus.DRAFT.value:
        return Queued(mailing, 0, already=True)
    _check_text(mailing, known_fields)
    found = plan(session, mailing)
    if not found.recipients:
        raise ValidationFailed(
            "the mailing reaches nobody: "
            f"{found.opted_out} opted out, {found.unreachable} cannot be reached",
            details={"recipients": "nobody to write to"},
        )
    letters, links = _letters(mailing, actor, found.recipients)
    connection = session.connection()
    for start in range(0, len(letters), _CHUNK):
        connection.execute(insert(Interaction), letters[start : start + _CHUNK])
        changes.log_inserted(session, Interaction, letters[start : start + _CHUNK])
        connection.execute(insert(MailingRecipient), links[start : start + _CHUNK])
    now = utcnow()
    mailing.status = MailingStatus.QUEUED.value
    mailing.queued_at = now
    mailing.recipients = len(letters)
    mailing.sent = mailing.failed = mailing.bounced = 0
    mailing.opted_out = found.opted_out
    mailing.unreachable = found.unreachable
    mailing.version += 1
    mailing.updated_at = now
    mailing.updated_by = actor.id
    session.add(mailing)
    session.flush()
    changes.bump(session)
    return Queued(mailing, len(letters), already=False)


def refresh_counts(
    session: Session, mailing_id: str, actor_id: str | None = None
) -> Mailing | None:
    """Bring the mailing's sent, failed and bounced counts in line with its recipients' states
    (a bounced letter was sent, so it counts in both); a change is a new version of the mailing,
    which the laptops pull. None when there is no such mailing."""
    mailing = session.get(Mailing, mailing_id)
    if mailing is None:
        return None
    states = dict(
        session.execute(
            select(col(MailingRecipient.state), func.count())
            .where(col(MailingRecipient.mailing_id) == mailing_id)
            .group_by(col(MailingRecipient.state))
        ).all()
    )
    counts = {
        "sent": states.get("sent", 0) + states.get("bounced", 0),
        "failed": states.get("failed", 0),
        "bounced": states.get("bounced", 0),
    }
    if all(getattr(mailing, k) == v for k, v in counts.items()):
        return mailing
    for name, value in counts.items():
        setattr(mailing, name, value)
    mailing.version += 1
    mailing.updated_at = utcnow()
    if actor_id is not None:
        mailing.updated_by = actor_id
    session.add(mailing)
    session.flush()
    return mailing
