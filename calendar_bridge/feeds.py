"""What a feed holds, and its validators.

A feed is rebuilt from the domain on request: the same data and the same day
give the same bytes, so the ETag can be computed without building it — from
the feed's identity, the day (the window moves daily) and the company's data
version (``crm.changes``), which every write raises.

What a feed shows is what its user may see when it is built, by the REST rules
(``crm.diary`` applies them): the user's own planned contact whose counterparty
they no longer see keeps only its kind and time; a team feed holds only what
the manager may open. Every change of access is a write, so it changes the ETag.

An open complaint is an all-day event on its deadline in its responsible person's plan.

Decisions: done and cancelled interactions, done reminders and closed complaints leave the feed
(a calendar shows what is still to come); the window is 30 days back and a
year ahead; birthdays of the viewer's own clients come first when the 1 MB
budget forces a cut.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from calendar_bridge import ical
from calendar_bridge.models import FeedKind, FeedToken
from crm import changes, diary
from crm.models import Complaint, ContactPerson, Counterparty, Interaction, Reminder, User

# Raise when the bytes made from the same data change, so that clients refetch.
FORMAT = 2  # 2: an event's link opens the counterparty's card in the web UI, not the JSON API
WINDOW_BACK = timedelta(days=30)
WINDOW_AHEAD = timedelta(days=365)
DEFAULT_MINUTES = {"meeting": 60}
REMINDER_MINUTES = 15

TEXT = {
    "ru": {
        "plan": "Satchel — мой план",
        "team": "Satchel — план команды",
        "birthdays": "Satchel — дни рождения",
        "call": "Звонок",
        "meeting": "Встреча",
        "letter": "Письмо",
        "purchase": "Закупка",
        "complaint": "Рекламация",
        "complaint_due": "Срок по рекламации",
        "other": "Контакт",
        "reminder": "Напоминание",
        "birthday": "День рождения",
        "phone": "Тел.",
        "email": "Эл. почта",
        "open": "Открыть",
        "from": "От",
    },
    "en": {
        "plan": "Satchel — my plan",
        "team": "Satchel — team plan",
        "birthdays": "Satchel — birthdays",
        "call": "Call",
        "meeting": "Meeting",
        "letter": "Letter",
        "purchase": "Purchase",
        "complaint": "Complaint",
        "complaint_due": "Complaint due",
        "other": "Contact",
        "reminder": "Reminder",
        "birthday": "Birthday",
        "phone": "Phone",
        "email": "Email",
        "open": "Open",
        "from": "From",
    },
}


@dataclass(frozen=True)
class Validators:
    etag: str  # strong, quoted
    last_modified: datetime


def validators(session: Session, feed: FeedToken, user: User, today: date) -> Validators:
    """The ETag and Last-Modified of the feed as it would be built today, without building it.

    What the feed holds depends on what its user may see now; every change of
    that (a share, a visibility, an owner, a role or team) is a write and raises
    the data version. The user's role and team are named as well, so that even a
    change made behind the change log's back (a manual fix in the database)
    gives other bytes another ETag, and ``FeedCache`` never answers with a feed
    built under old access.
    """
    version, changed_at = changes.current(session)
    key = (
        f"{FORMAT}|{feed.id}|{feed.kind}|{feed.free_busy}|{user.locale}|{user.role}|{user.team_id}"
        f"|{today.isoformat()}|{version}"
    )
    midnight = datetime.combine(today, time(), UTC)
    return Validators(
        etag=f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"',
        last_modified=max(changed_at or midnight, midnight),
    )


def _name(counterparty: Counterparty | None) -> str:
    return (counterparty.short_name or counterparty.legal_name) if counterparty else ""


def _contacts(words: dict[str, str], *lists: list[dict[str, Any]] | None) -> list[str]:
    lines: list[str] = []
    for kind in ("phone", "email"):
        values = [
            c["value"] + (f" доб. {c['ext']}" if c.get("ext") else "")
            for contacts in lists
            if contacts
            for c in contacts
            if c.get("kind") == kind
        ]
        if values:
            lines.append(f"{words[kind]}: {', '.join(dict.fromkeys(values))}")
    return lines


def card_url(base_url: str, counterparty_id: str) -> str:
    """The web UI's card of a counterparty: what a person opens from a calendar (the server serves the
    screens at its root, ``public_url``); the JSON API would only answer 401 in a browser."""
    return f"{base_url}/counterparties/{counterparty_id}"


def _counterparty_ids(session: Session, interaction_ids: list[str]) -> dict[str, str]:
    """Each interaction's counterparty (``diary.planned`` rows do not carry it), in bounded IN lists."""
    found: dict[str, str] = {}
    for start in range(0, len(interaction_ids), 500):
        chunk = interaction_ids[start : start + 500]
        stmt = select(Interaction.id, Interaction.counterparty_id).where(
            col(Interaction.id).in_(chunk)
        )
        found.update({i: c for i, c in session.execute(stmt).all()})
    return found


def _interaction(
    row: Any, words: dict[str, str], who: str | None, base_url: str, counterparty_id: str | None
) -> ical.TimedEvent:
    """An event for a row of ``diary.planned``.

    A row whose counterparty the viewer may no longer see (``seen`` false) has
    its details None: the event keeps the time and the kind, so the slot stays
    taken, and nothing else — not even the link, which would answer 404. The
    link of any other opens its counterparty's card.
    """
    hidden = not row.seen
    title = words.get(row.kind, words["other"])
    if not hidden:
        title += f": {row.short_name or row.legal_name}"
    if row.person_name:
        title += f" — {row.person_name}"
    if row.subject:
        title += f" ({row.subject})"
    if who:
        title = f"[{who}] {title}"
    minutes = row.duration_minutes or DEFAULT_MINUTES.get(row.kind, 30)
    link = None if hidden or not counterparty_id else card_url(base_url, counterparty_id)
    description = "\n".join(
        [
            *_contacts(words, row.person_contacts, row.counterparty_contacts),
            *([row.notes] if row.notes else []),
            *([f"{words['open']}: {link}"] if link else []),
        ]
    )
    before = (
        row.starts_at - row.remind_at if row.remind_at and row.remind_at <= row.starts_at else None
    )
    return ical.TimedEvent(
        uid=f"{row.id}@satchel",
        summary=title,
        start=row.starts_at,
        end=row.starts_at + timedelta(minutes=minutes),
        last_modified=row.updated_at,
        sequence=row.version,
        location=row.actual_address or row.legal_address,
        description=description or None,
        url=link,
        alarm_before=before,
        categories=(row.kind,),
    )


def _reminder(
    item: Reminder,
    cp: Counterparty | None,
    words: dict[str, str],
    who: str | None,
    base_url: str,
    author: str | None = None,
) -> ical.TimedEvent:
    title = f"{words['reminder']}: {item.title}" + (f" — {_name(cp)}" if cp else "")
    if who:
        title = f"[{who}] {title}"
    # The card when the reminder is about a counterparty the viewer sees; a personal one has no page of its own.
    link = card_url(base_url, cp.id) if cp else f"{base_url}/api/v1/reminders/{item.id}"
    description = "\n".join(
        [
            # A message from a colleague says whose it is (``diary.reminder_authors``).
            *([f"{words['from']}: {author}"] if author else []),
            *_contacts(words, cp.contacts if cp else None),
            *([item.notes] if item.notes else []),
            f"{words['open']}: {link}",
        ]
    )
    before = (
        item.due_at - item.remind_at if item.remind_at and item.remind_at <= item.due_at else None
    )
    return ical.TimedEvent(
        uid=f"{item.id}@satchel",
        summary=title,
        start=item.due_at,
        end=item.due_at + timedelta(minutes=REMINDER_MINUTES),
        last_modified=item.updated_at,
        sequence=item.version,
        description=description,
        url=link,
        alarm_before=before,
        categories=("reminder",),
    )


def _complaint(
    item: Complaint, cp: Counterparty, words: dict[str, str], who: str | None, base_url: str
) -> ical.AllDay:
    """An all-day event on an open complaint's deadline, linking to its counterparty's card."""
    assert item.deadline is not None  # the rules give every complaint one
    title = f"{words['complaint_due']}: {_name(cp)}" + (
        f" ({item.product})" if item.product else ""
    )
    if who:
        title = f"[{who}] {title}"
    link = card_url(base_url, cp.id)
    return ical.AllDay(
        uid=f"{item.id}@satchel",
        summary=title,
        day=item.deadline,
        last_modified=item.updated_at,
        sequence=item.version,
        description="\n".join(
            [item.description, *_contacts(words, cp.contacts), f"{words['open']}: {link}"]
        ),
        url=link,
        categories=("complaint",),
    )


def _birthday(person: ContactPerson, cp: Counterparty, words: dict[str, str]) -> ical.Birthday:
    assert person.birthday is not None
    return ical.Birthday(
        uid=f"birthday-{person.id}@satchel",
        summary=f"{words['birthday']}: {person.full_name} ({_name(cp)})",
        born=person.birthday,
        last_modified=person.updated_at,
        remind_days=person.birthday_remind_days,
        description="\n".join(
            [*([person.position] if person.position else []), *_contacts(words, person.contacts)]
        ),
    )


def build(session: Session, feed: FeedToken, user: User, now: datetime, base_url: str) -> bytes:
    """The feed's bytes as of ``now``."""
    words = TEXT.get(user.locale, TEXT["ru"])
    midnight = datetime.combine(now.astimezone(UTC).date(), time(), UTC)
    since, until = midnight - WINDOW_BACK, midnight + WINDOW_AHEAD
    events: list[ical.FeedItem] = []
    if feed.kind == FeedKind.BIRTHDAYS:
        events = [_birthday(p, c, words) for p, c in diary.birthdays(session, user)]
    else:
        members = diary.team(session, user) if feed.kind == FeedKind.TEAM else [user]
        names = {m.id: m.full_name for m in members} if feed.kind == FeedKind.TEAM else {}
        people = [m.id for m in members]
        rows = diary.planned(session, user, people, since, until)
        whose = _counterparty_ids(session, [row.id for row in rows if row.seen])
        events += [
            _interaction(
                row, words, names.get(row.responsible_id or ""), base_url, whose.get(row.id)
            )
            for row in rows
        ]
        reminders = diary.reminders(session, user, people, since, until)
        authors = diary.reminder_authors(session, [r for r, _ in reminders])
        events += [
            _reminder(r, c, words, names.get(r.assignee_id), base_url, authors.get(r.id))
            for r, c in reminders
        ]
        events += [
            _complaint(c, cp, words, names.get(c.responsible_id or ""), base_url)
            for c, cp in diary.complaints(session, user, people, since.date(), until.date())
        ]
    return ical.feed(words[feed.kind], events, free_busy=feed.free_busy)
