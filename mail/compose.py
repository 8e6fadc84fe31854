"""Composing an outgoing letter: the exact bytes to send, or the reason it cannot be sent.

Subject and text have their merge fields filled (:mod:`mail.templates`); every header is
built with :mod:`email.headerregistry`, never by concatenation, and any value a person
wrote that holds a line break or a control character refuses the letter. A meeting
carries its iTIP invitation (REQUEST or CANCEL) as a ``text/calendar`` alternative, made
by the codec the server hands in with its settings (:mod:`mail.invites`).
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from sqlmodel import Session

from crm.models import Counterparty, Interaction, User
from crm.models.enums import InteractionKind
from crm.validation import normalize_email
from mail.invites import InvitationCodec
from mail.models import Mailbox
from mail.templates import TemplateError, merge

__all__ = [
    "MAX_SUBJECT",
    "LetterRefused",
    "Outgoing",
    "bare_message_id",
    "build_message",
    "parent_letter",
]

MAX_SUBJECT = 500  # Interaction.subject

# Characters no header value may hold: every line break str.splitlines() knows, NUL and
# the other C0 controls but TAB. Refused, not cleaned: the author sees what was wrong.
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


class LetterRefused(ValueError):
    """The letter cannot be sent as written; the message (its ``mail_error``) says why."""


@dataclass(frozen=True)
class Outgoing:
    """One built letter: the exact bytes to send and to file, and its SMTP envelope."""

    interaction_id: str
    mailbox: Mailbox
    message_id: str  # bare: no angle brackets
    subject: str  # merge fields filled: what the history shows once it is sent
    body: str
    raw: bytes
    sender: str
    recipients: tuple[str, ...]
    smtputf8: bool


def _one_line(what: str, value: str) -> str:
    if _UNSAFE.search(value):
        raise LetterRefused(
            f"{what} contains a line break or a control character ({value[:80]!r}); "
            "the letter was not sent, so that nothing written in it can add a header"
        )
    return value


def _address(what: str, value: Any) -> str:
    try:
        return normalize_email(str(value or ""))
    except ValueError as exc:
        raise LetterRefused(f"{what}: {exc}") from None


def parent_letter(session: Session, item: Interaction) -> Interaction | None:
    """The letter this one answers, when it has a Message-ID to refer to."""
    if not item.reply_to_id:
        return None
    parent = session.get(Interaction, item.reply_to_id)
    return parent if parent is not None and parent.message_id else None


def build_message(
    session: Session,
    item: Interaction,
    mailbox: Mailbox,
    message_id: str,
    *,
    invitations: InvitationCodec | None = None,
    date: datetime | None = None,
    unsubscribe_url: str | None = None,
) -> Outgoing:
    """The letter as it will be sent, or :class:`LetterRefused` saying why it cannot be.

    Subject and body have their merge fields filled (:mod:`mail.templates`). From is
    the salesperson's name at the mailbox's address; To and Cc come from the
    participants, Bcc only into the envelope. A mailing's letter has ``unsubscribe_url``
    (:mod:`mail.unsubscribe`): it goes into ``List-Unsubscribe`` (RFC 2369), with
    ``List-Unsubscribe-Post`` (RFC 8058 one-click) when it is HTTPS, as that RFC requires.
    """
    meeting = item.kind == InteractionKind.MEETING
    if not meeting and (item.kind != InteractionKind.LETTER or item.direction != "outgoing"):
        raise LetterRefused("only an outgoing letter or a meeting invitation can be sent")
    sender = _address(f"the address of mailbox {mailbox.name}", mailbox.address)
    try:
        subject, body = merge(session, item, sender_address=sender)
    except TemplateError as exc:
        raise LetterRefused(str(exc)) from None
    _one_line("the subject", subject)
    if len(subject) > MAX_SUBJECT:
        raise LetterRefused(
            f"the subject is {len(subject)} characters long with its merge fields filled; "
            f"at most {MAX_SUBJECT} fit"
        )
    author_id = item.responsible_id or item.created_by
    author = session.get(User, author_id) if author_id else None
    author_name = _one_line("the sender's name", (author.full_name if author else "").strip())
    headers: dict[str, list[Address]] = {"to": [], "cc": []}
    envelope: list[str] = []
    for person in item.participants or []:
        role = person.get("role") if isinstance(person, dict) else None
        if role == "from":
            continue  # a letter goes from its mailbox, whatever the participants say
        if role == "attendee":
            role = "to"
        if role not in ("to", "cc", "bcc"):
            raise LetterRefused(
                f"a participant has no recipient role (to, cc or bcc): {person!r:.120}"
            )
        address = _address(f"recipient {str(person.get('address'))[:80]!r}", person.get("address"))
        name = _one_line(f"the name of recipient {address}", str(person.get("name") or "").strip())
        if role != "bcc":
            headers[role].append(_make_address(name, address))
        envelope.append(address)
    recipients = tuple(dict.fromkeys(envelope))
    if not recipients:
        raise LetterRefused("a letter to send needs at least one recipient")
    smtputf8 = not all(a.isascii() for a in (sender, *recipients))
    policy = email.policy.SMTPUTF8 if smtputf8 else email.policy.SMTP.clone(cte_type="7bit")
    msg = EmailMessage(policy=policy)
    msg["From"] = _make_address(author_name, sender)
    if headers["to"]:
        msg["To"] = tuple(headers["to"])
    if headers["cc"]:
        msg["Cc"] = tuple(headers["cc"])
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime((date or datetime.now(UTC)).astimezone())
    msg["Message-ID"] = f"<{_message_id('the Message-ID', message_id)}>"
    parent = parent_letter(session, item)
    answered = (
        _known_id("the Message-ID of the letter answered", parent.message_id) if parent else None
    )
    if parent is not None and answered is not None:
        root = _known_id("the thread of the letter answered", parent.thread_id)
        msg["In-Reply-To"] = f"<{answered}>"
        msg["References"] = " ".join(f"<{i}>" for i in dict.fromkeys((root or answered, answered)))
    msg["X-Satchel-Letter"] = _one_line("the letter's id", item.id)
    if unsubscribe_url is not None:
        link = _unsubscribe_url(unsubscribe_url)
        msg["List-Unsubscribe"] = _Unfolded("List-Unsubscribe", f"<{link}>")
        if unsubscribe_url.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(body, charset="utf-8")
    if meeting:
        method = "CANCEL" if item.status == "cancelled" else "REQUEST"
        ics = _invitation(invitations, session, item, method, author_name, sender)
        # Outlook and phones take the calendar object as an alternative to the text, with the method
        # on the part's Content-Type as well as inside it (RFC 6047 §2.4).
        msg.add_alternative(
            ics,
            maintype="text",
            subtype="calendar",
            params={"method": method, "charset": "utf-8"},
            cte="base64",
        )
        msg.replace_header(
            "Subject", ("Отменено: " if method == "CANCEL" else "Приглашение: ") + subject
        )
    return Outgoing(
        interaction_id=item.id,
        mailbox=mailbox,
        message_id=message_id,
        subject=subject,
        body=body,
        raw=msg.as_bytes(),
        sender=sender,
        recipients=recipients,
        smtputf8=smtputf8,
    )


def _invitation(
    calendar: InvitationCodec | None,
    session: Session,
    item: Interaction,
    method: str,
    organizer_name: str,
    organizer: str,
) -> bytes:
    """The iTIP object of a meeting: REQUEST (first or updated, SEQUENCE = the record's version) or CANCEL."""
    if calendar is None:
        raise LetterRefused(
            "meeting invitations are not available on this server (no calendar bridge)"
        )
    attendees = [
        (str(p.get("name") or ""), str(p["address"]), str(p.get("status") or "NEEDS-ACTION"))
        for p in item.participants or []
        if p.get("role") == "attendee"
    ]
    counterparty = session.get(Counterparty, item.counterparty_id)
    location = (counterparty.actual_address or counterparty.legal_address) if counterparty else None
    try:
        return calendar.invitation(
            uid=f"{item.id}@satchel",
            sequence=item.version,
            method=method,
            summary=item.subject or "Встреча",
            start=item.starts_at,
            end=item.starts_at + timedelta(minutes=item.duration_minutes or 60),
            organizer=(organizer_name, organizer),
            attendees=attendees,
            location=location,
            description=item.notes,
            stamp=item.updated_at,
        )
    except ValueError as exc:
        raise LetterRefused(f"the invitation cannot be made: {exc}") from None


# An absolute http(s) URL of printable ASCII, nothing that could end the <…> it is written in.
_URL = re.compile(r"https?://[!#-;=?-\[\]_a-z~]{1,900}", re.IGNORECASE)


class _Unfolded(str):
    """A header value written as it is, on one line: the email package would otherwise turn a
    line over 78 characters without a space to fold at (a long URL) into RFC 2047 encoded
    words, which no mail client reads as a URL. Only for checked ASCII far under 998 characters."""

    name: str

    def __new__(cls, name: str, value: str) -> _Unfolded:
        made = super().__new__(cls, value)
        made.name = name
        return made

    def fold(self, *, policy: Any) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _unsubscribe_url(url: str) -> str:
    if not _URL.fullmatch(url):
        raise LetterRefused(
            f"the unsubscribe link {url[:80]!r} cannot be written in a header: "
            "check the server's public_url setting"
        )
    return url


def _make_address(name: str, address: str) -> Address:
    try:
        return Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise LetterRefused(f"address {address!r} cannot be written in a header: {exc}") from None


def _message_id(what: str, value: str | None) -> str:
    bare = _known_id(what, value)
    if bare is None:
        raise LetterRefused(f"{what} is not a valid Message-ID: {str(value)[:80]!r}")
    return bare


def bare_message_id(message_id: str | None) -> str | None:
    """A Message-ID without angle brackets, lower-case."""
    if not message_id:
        return None
    return message_id.strip().strip("<>").strip().lower() or None


def _known_id(what: str, value: str | None) -> str | None:
    """A Message-ID fit for a header, bare; None for what is none (a ``sha256:`` fingerprint thread)."""
    bare = bare_message_id(value)
    if bare is None:
        return None
    _one_line(what, bare)
    return None if any(c in bare for c in "<> \t") or "@" not in bare else bare
