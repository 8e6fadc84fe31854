"""Delivery reports coming back: which of our letters did not reach whom, and what that changes.

The ingest classifies a delivery status notification as a bounce (:mod:`mail.classify`) and
never files it in a client's history; it hands it here (:func:`apply`), in the transaction
that records the letter as seen.

Which addresses failed: the RFC 3464 ``message/delivery-status`` part, per recipient
(``Final-Recipient``, else ``Original-Recipient``) with ``Action: failed``, or without an
``Action`` a permanent ``Status`` (5.x.x); ``delayed`` and ``delivered`` change nothing. Only
when a report has no such part: the ``X-Failed-Recipients`` header, and with the letter known
the addresses the text quotes (qmail's "failure notice", Exchange's own words).

Which letter: the ``Message-ID`` of the original, from the ``message/rfc822`` or
``text/rfc822-headers`` part the report carries (then its ``References``/``In-Reply-To``,
then a ``Message-ID:`` line its text quotes). The outbox makes it ``<interaction id>@<domain>``
once (:mod:`mail.outbox`), so it names one :class:`~mail.models.MailOutbox` row — a letter
sent by Satchel — and so, through its interaction, its mailing recipient. A report that names
a Message-ID not ours changes nothing. One that names none is taken only for a mailing's
letter to that very address sent in the last :data:`UNNAMED_FOR` (a forged report cannot
knock out an address we wrote to last month).

Only addresses the letter went to count. For each, in the ingest's one write:

* :class:`~crm.models.FailingAddress` — entered, or ``failures`` + 1; ``reason`` the
  diagnostic code (else the status), cut to 1000 characters. Mailings leave it out.
* the mailing recipient, if the letter was a mailing's: *bounced* (``bounced_at``), and the
  mailing's ``bounced`` count (:mod:`mail.recipients`).
* the letter: when every recipient failed, ``mail_status`` "failed" (its outbox row too) with
  ``mail_error`` saying it came back and why — a letter that did not arrive is failed for the
  people who look at it, and a person may queue it again (same Message-ID) once the address is
  put right; when only some failed, it stays "sent" and ``mail_error`` names them, as for
  recipients the SMTP server refused. Its ``status`` stays "done": it did go out. The author
  of a letter of their own gets a reminder; a mailing's letters do not (hundreds of reminders
  help nobody: the mailing counts them).

Addresses never reach a log line: what is logged is counts and ids.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from crm.models import FailingAddress, Interaction, MailingRecipient, User, utcnow
from crm.models.enums import MailStatus
from crm.validation import normalize_email
from mail import recipients
from mail.compose import bare_message_id
from mail.decode import Letter
from mail.filing import set_as_bridge
from mail.identity import parse_message_ids
from mail.models import MailOutbox
from mail.outbox import _remind as remind_author

__all__ = ["Failure", "UNNAMED_FOR", "apply", "failures", "original_ids"]

log = logging.getLogger(__name__)

UNNAMED_FOR = timedelta(days=3)
MAX_REASON = 1000
_MAX_ADDRESSES = 50
_HEADER_PARTS = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/global-headers",
)
_QUOTED_ID = re.compile(
    r"^[ \t>]*message-id:[ \t]*(<[^<>\s]{3,250}>)", re.IGNORECASE | re.MULTILINE
)
_ADDRESS = re.compile(r"[\w.+%'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


@dataclass(frozen=True)
class Failure:
    """One address a report says the letter will never reach, and why."""

    address: str
    reason: str


def _address(value: str) -> str | None:
    """``rfc822; Petr@Vector.test`` → ``petr@vector.test``; None for what is not an address."""
    _kind, _sep, rest = value.rpartition(";")
    try:
        return normalize_email(rest.strip().strip("<>"))
    except ValueError:
        return None


def _failed(fields: dict[str, str]) -> bool:
    action = fields.get("action", "").strip().lower()
    if action:
        return action == "failed"
    status = _STATUS.search(fields.get("status", ""))
    return status is not None and status.group(1) == "5"


def _reason(fields: dict[str, str]) -> str:
    reason = fields.get("diagnostic-code") or fields.get("status") or "returned"
    return " ".join(reason.split())[:MAX_REASON]


def failures(letter: Letter) -> tuple[list[Failure], bool]:
    """The addresses a report says failed, and whether it said so in RFC 3464 form.

    Without a delivery-status part only ``X-Failed-Recipients`` names them here; the
    addresses quoted in the text are weighed against the letter's recipients in :func:`apply`.
    """
    found: dict[str, Failure] = {}
    if letter.delivery_status:
        for fields in letter.delivery_status:
            address = _address(fields.get("final-recipient") or "") or _address(
                fields.get("original-recipient") or ""
            )
            if address and _failed(fields) and address not in found:
                found[address] = Failure(address, _reason(fields))
        return list(found.values())[:_MAX_ADDRESSES], True
    for raw in letter.headers.get("x-failed-recipients", "").split(","):
        address = _address(raw)
        if address and address not in found:
            found[address] = Failure(address, _text_reason(letter))
    return list(found.values())[:_MAX_ADDRESSES], False


def _text_reason(letter: Letter) -> str:
    """The likeliest reason in a non-standard report's text: the line with an SMTP reply."""
    for line in letter.text.splitlines()[:500]:
        if re.search(r"\b5\d\d[ -]|\b5\.\d{1,3}\.\d{1,3}\b", line):
            return " ".join(line.split())[:MAX_REASON]
    return " ".join(letter.subject.split())[:MAX_REASON] or "returned"


def original_ids(letter: Letter) -> list[str]:
    """The Message-IDs the report names as the original letter's, bare, surest first."""
    ids: list[str] = []
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    for part in letter.attachments:
        if part.content_type not in _HEADER_PARTS or not part.data:
            continue
        try:
            headers = parser.parsebytes(part.data[: 256 * 1024])
        except Exception:  # noqa: BLE001 - a broken part names nothing
            continue
        ids += parse_message_ids(str(headers.get("message-id") or ""), limit=1)
    ids += letter.thread_ids[-5:]
    ids += _QUOTED_ID.findall(letter.text[:200_000])[:5]
    bare = [b for b in (bare_message_id(i) for i in ids) if b]
    return list(dict.fromkeys(bare))[:20]


def _letter_recipients(item: Interaction) -> set[str]:
    out = set()
    for person in item.participants or []:
        if isinstance(person, dict) and person.get("role") in ("to", "cc", "bcc", "attendee"):
            try:
                out.add(normalize_email(str(person.get("address") or "")))
            except ValueError:
                continue
    return out


def _named(session: Session, ids: list[str]) -> MailOutbox | None:
    if not ids:
        return None
    rows = session.execute(select(MailOutbox).where(col(MailOutbox.message_id).in_(ids))).scalars()
    by_id = {row.message_id: row for row in rows}
    return next((by_id[i] for i in ids if i in by_id), None)


def _unnamed(session: Session, found: list[Failure], now: datetime) -> MailOutbox | None:
    """A report naming no letter: a mailing's letter to its one failed address, sent lately."""
    if len(found) != 1:
        return None
    row = session.execute(
        select(MailOutbox)
        .join(
            MailingRecipient, col(MailingRecipient.interaction_id) == col(MailOutbox.interaction_id)
        )
        .where(
            col(MailingRecipient.email) == found[0].address,
            col(MailingRecipient.state) == recipients.SENT,
            col(MailOutbox.state) == MailStatus.SENT.value,
            col(MailOutbox.sent_at) >= now - UNNAMED_FOR,
        )
        .order_by(col(MailOutbox.sent_at).desc())
        .limit(1)
    ).scalar_one_or_none()
    return row


def _fail_address(
    session: Session, failure: Failure, mailing_id: str | None, now: datetime
) -> None:
    row = session.get(FailingAddress, failure.address)
    if row is None:
        row = FailingAddress(
            email=failure.address,
            reason=failure.reason,
            failures=1,
            first_failed_at=now,
            last_failed_at=now,
            mailing_id=mailing_id,
        )
    else:
        row.failures += 1
        row.reason = failure.reason
        row.last_failed_at = now
        row.mailing_id = mailing_id or row.mailing_id
    session.add(row)
    session.flush()  # a second report in the same batch finds it


def apply(session: Session, bridge: User, letter: Letter) -> str:
    """Take a delivery report into account (in the caller's transaction); what it did, in words."""
    now = utcnow()
    found, standard = failures(letter)
    ids = original_ids(letter)
    row = _named(session, ids)
    if row is None and ids:
        log.info("a delivery report names no letter sent by Satchel: nothing changed")
        return "names no letter sent by Satchel"
    if row is None:
        row = _unnamed(session, found, now)
    if row is None:
        log.info(
            "a delivery report (%d failed addresses) names no letter: nothing changed", len(found)
        )
        return "names no letter"
    item = session.get(Interaction, row.interaction_id)
    if item is None:
        return "its letter was deleted"
    wrote_to = _letter_recipients(item)
    if not found and not standard:
        # A report in its own words: the addresses it quotes that the letter went to.
        quoted = {a.lower() for a in _ADDRESS.findall(letter.text[:200_000])}
        reason = _text_reason(letter)
        found = [Failure(a, reason) for a in sorted(quoted & wrote_to)][:_MAX_ADDRESSES]
    failed = [f for f in found if f.address in wrote_to]
    if len(failed) < len(found):
        log.info(
            "a delivery report about letter %s names %d addresses it did not go to: left alone",
            item.id,
            len(found) - len(failed),
        )
    if not failed:
        return f"letter {item.id}: no recipient failed"
    recipient = recipients.recipient_of(session, item.id)
    for failure in failed:
        _fail_address(session, failure, recipient.mailing_id if recipient else None, now)
    if recipient is not None and recipient.email in {f.address for f in failed}:
        recipients.move(session, bridge, recipient, recipients.BOUNCED, at=now)
    _mark_letter(session, bridge, item, row, failed, wrote_to, mailing=recipient is not None)
    log.info("letter %s came back from %d of its addresses", item.id, len(failed))
    return f"letter {item.id} came back from {len(failed)} of its addresses"


def _mark_letter(
    session: Session,
    bridge: User,
    item: Interaction,
    row: MailOutbox,
    failed: list[Failure],
    wrote_to: set[str],
    *,
    mailing: bool,
) -> None:
    if item.mail_status != MailStatus.SENT.value:
        return  # queued again meanwhile, or failed already: the report changes nothing of it
    said = "; ".join(f"{f.address}: {f.reason}" for f in failed)
    if len(failed) >= len(wrote_to):
        error = f"the letter came back undelivered: {said}"
        row.state = MailStatus.FAILED.value
        row.last_error = error
        session.add(row)
        set_as_bridge(session, bridge, item, mail_status=MailStatus.FAILED.value, mail_error=error)
    else:
        error = f"not delivered to: {said}"
        set_as_bridge(session, bridge, item, mail_error=error)
    if not mailing:
        remind_author(session, bridge, item, "Письмо вернулось", error)
