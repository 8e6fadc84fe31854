"""The outbox: letters written in Satchel go out once, from the right mailbox, and file back.

A letter composed on a laptop (offline too) is an Interaction of kind ``letter`` with
``mail_status`` "queued"; once it reaches the server by sync, :func:`send_due` sends it.
The server keeps one :class:`~mail.models.MailOutbox` row per letter: its ``state`` is
the truth for the sender, the interaction's ``mail_status`` what people see. The bridge
changes the interaction through the ORM as its own user, so the change log carries
every step back to the laptops.

One letter's way:

1. :func:`enqueue` gives it a row, a mailbox (its responsible's own box, else the first
   shared box that can send) and its Message-ID, made once: ``<interaction id>@<mailbox
   domain>``. That id is how replies file back to it (:mod:`mail.matching`, rule
   ``own_reference``) and how a copy of it anywhere is known as this letter.
2. The claim: a conditional UPDATE moves the row ``queued → sending`` (of two workers
   only one wins it) and the interaction to "sending", in one commit, *before* the SMTP
   transaction starts. The message is built in that transaction: a letter that cannot
   be built (an unknown merge field, a line break in a header value) fails there and
   never reaches a server.
3. SMTP (aiosmtplib: implicit TLS, STARTTLS or plain as the mailbox says; AUTH only
   where the server offers it). Then, in one commit: *sent* — the row, the interaction
   (mail_status "sent", status "done") and a :class:`~mail.models.MailMessage` under
   the letter's identity, so that the ingest knows the Sent-folder copy as this letter;
   a 4xx reply or a lost connection — queued again after 1, 2, 4 … minutes (at most
   6 h), failed after :data:`MAX_ATTEMPTS` tries; a 5xx reply — *failed* at once.
4. A copy of the very bytes sent (kept meanwhile in ``<data_dir>/mail-outbox/``) is
   APPENDed, ``\\Seen``, to the mailbox's Sent folder unless the provider files its own.
   A failed APPEND is tried again by later runs; it never causes a resend.

Never twice: a row still "sending" after a crash is never sent again by itself
(:func:`recover`). If a Sent folder holds a letter with its Message-ID it went out;
otherwise it becomes "uncertain" and its author is asked to check with the recipient
and queue it again. Every failed or uncertain letter makes a reminder for its author.

What is sent is composed by :mod:`mail.compose`: no user input reaches a header
unchecked, and Bcc recipients are in the envelope only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiosmtplib
from imapclient import IMAPClient
from sqlalchemy import and_, func, or_, select, update
from sqlmodel import Session, col

from crm import records
from crm.database import Database
from crm.errors import NotFound, SatchelError, ValidationFailed
from crm.models import Interaction, User, utcnow
from crm.models.enums import InteractionKind, MailStatus
from crm.validation import normalize_email
from mail import leases, recipients
from mail.compose import LetterRefused, Outgoing, bare_message_id, build_message, parent_letter
from mail.filing import bridge_user as _bridge_user
from mail.filing import set_as_bridge as _set
from mail.identity import normalize_message_id
from mail.imap import ImapError, connect, find_folders
from mail.models import Mailbox, MailMessage, MailOutbox
from mail.secrets import SecretBox, SecretError, box_for
from mail.unsubscribe import Signer

if TYPE_CHECKING:  # mail depends on crm only; the server hands in its settings
    from mail.bridge import BridgeSettings as Config

__all__ = [
    "MAX_ATTEMPTS",
    "LetterRefused",
    "Outgoing",
    "SendReport",
    "build_message",
    "choose_mailbox",
    "enqueue",
    "recover",
    "retry",
    "send_due",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_DELAY = timedelta(seconds=60)
MAX_DELAY = timedelta(hours=6)
LEASE = timedelta(minutes=10)  # a claim older than this, still "sending", is a crash
COPY_RETRY_FOR = timedelta(days=3)  # how long a failed APPEND to Sent is tried again
SMTP_TIMEOUT = 30.0
HOUR = timedelta(hours=1)  # the window Mailbox.send_per_hour counts in
IMAP_TIMEOUT = 30.0
SPOOL_DIR = "mail-outbox"

QUEUED, SENDING, SENT = MailStatus.QUEUED.value, MailStatus.SENDING.value, MailStatus.SENT.value
FAILED, UNCERTAIN = MailStatus.FAILED.value, MailStatus.UNCERTAIN.value

_SAFE_NAME = re.compile(r"[0-9a-f-]{36}")
_UNCERTAIN = (
    "the server stopped while sending this letter, so it may or may not have gone out; "
    "check with the recipient and queue it again to resend"
)


@dataclass
class SendReport:
    """What one run did, letter by letter."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    copies: int = 0  # copies APPENDed to Sent folders
    throttled: int = 0  # letters left queued: their mailbox sent its letters of the hour
    skipped: bool = False  # another worker holds the outbox (mail.leases): this run sent nothing


# ---------------------------------------------------------------- helpers


def _locked(session: Session, model: Any, key: str) -> Any:
    """The row, read afresh and locked until commit (SQLite's writer lock does that anyway)."""
    column = col(model.interaction_id) if model is MailOutbox else model.id
    return session.execute(
        select(model)
        .where(column == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _identity(bare: str) -> str:
    """The form :mod:`mail.identity` gives a Message-ID: the key the ingest knows a letter by."""
    return normalize_message_id(bare) or bare


def _spool_path(config: Config, interaction_id: str) -> Path:
    name = (
        interaction_id
        if _SAFE_NAME.fullmatch(interaction_id)
        else hashlib.sha256(interaction_id.encode()).hexdigest()
    )
    return Path(config.data_dir) / SPOOL_DIR / f"{name}.eml"


def _spool(config: Config, interaction_id: str, raw: bytes) -> None:
    """Keep the bytes about to be sent until their copy is in the Sent folder."""
    target = _spool_path(config, interaction_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unspool(config: Config, interaction_id: str) -> None:
    _spool_path(config, interaction_id).unlink(missing_ok=True)


T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# ---------------------------------------------------------------- telling people


def _remind(session: Session, bridge: User, item: Interaction, title: str, notes: str) -> None:
    """A reminder for the letter's author (else its responsible), due now, pointing at it."""
    for candidate in (item.created_by, item.responsible_id):
        if not candidate or candidate == bridge.id:
            continue
        user = session.get(User, candidate)
        if user is not None and user.is_active:
            break
    else:
        log.warning("letter %s: nobody active to tell that %s", item.id, title)
        return
    subject = " ".join((item.subject or "").split()) or "(без темы)"
    data = {
        "title": f"{title}: {subject}"[:500],
        "notes": notes,
        "due_at": utcnow(),
        "assignee_id": user.id,
        "subject_type": "interaction",
        "subject_id": item.id,
    }
    try:
        with session.begin_nested():
            records.create(session, bridge, records.record_type("reminders"), data)
    except SatchelError as exc:  # the letter's state matters more than the reminder
        log.warning("letter %s: reminder not created: %s", item.id, exc)


def _fail(
    session: Session,
    bridge: User,
    item: Interaction,
    row: MailOutbox | None,
    error: str,
    config: Config | None = None,
) -> None:
    """Mark the letter failed (row and interaction) and tell its author."""
    if row is not None:
        row.state = FAILED
        row.last_error = error
        session.add(row)
    _set(session, bridge, item, mail_status=FAILED, mail_error=error)
    if not _settle_recipient(session, bridge, item, recipients.FAILED):
        # A mailing's letters are counted on the mailing: a reminder each would bury its owner.
        _remind(session, bridge, item, "Письмо не отправлено", error)
    if config is not None:
        _unspool(config, item.id)


def _settle_recipient(session: Session, bridge: User, item: Interaction, state: str) -> bool:
    """A mailing's letter: its recipient and the mailing's counts move with it, in this commit
    (mail.recipients); whether the letter is a mailing's."""
    if item.kind != InteractionKind.LETTER:
        return False
    recipient = recipients.recipient_of(session, item.id)
    if recipient is None:
        return False
    recipients.move(session, bridge, recipient, state)
    return True


def _remember(session: Session, item: Interaction, row: MailOutbox) -> None:
    """Enter the sent letter under its identity: its copy in Sent is then this letter, not a new one."""
    key = _identity(row.message_id)[:500]
    known = session.get(MailMessage, key)
    if known is None:
        known = MailMessage(key=key, kind="business")
    known.kind = "business"
    known.reason = "sent by Satchel"
    known.interaction_id = item.id
    known.counterparty_id = item.counterparty_id
    known.thread_id = item.thread_id
    known.mailbox_id = row.mailbox_id
    session.add(known)


def _mark_sent(
    session: Session,
    bridge: User,
    item: Interaction,
    row: MailOutbox,
    *,
    copy_saved: bool,
    note: str | None = None,
    out: Outgoing | None = None,
) -> None:
    """Sent: the row, the interaction (with the text as merged and sent) and the identity."""
    row.state = SENT
    row.sent_at = utcnow()
    row.last_error = note
    row.copy_saved = copy_saved
    session.add(row)
    content: dict[str, Any] = {}
    if out is not None and out.subject != (item.subject or ""):
        content["subject"] = out.subject
    if out is not None and out.body != (item.notes or ""):
        content["notes"] = out.body
    if item.kind == InteractionKind.MEETING:  # an invitation went; the meeting is still to come
        _set(session, bridge, item, mail_status=SENT, mail_error=note)
    else:
        _set(session, bridge, item, mail_status=SENT, status="done", mail_error=note, **content)
        _settle_recipient(session, bridge, item, recipients.SENT)
    _remember(session, item, row)


# ---------------------------------------------------------------- choosing and queueing


def _usable(mailbox: Mailbox | None) -> bool:
    return mailbox is not None and mailbox.enabled and bool(mailbox.smtp_host)


def choose_mailbox(session: Session, item: Interaction) -> Mailbox | None:
    """The box a letter goes from: its responsible's (else author's) own, else the first shared one."""
    owner = item.responsible_id or item.created_by
    smtp_host = col(Mailbox.smtp_host)
    can_send = (col(Mailbox.enabled) == True, smtp_host.is_not(None), smtp_host != "")  # noqa: E712
    if owner:
        mine = (col(Mailbox.kind) == "personal", col(Mailbox.owner_id) == owner)
        own = (
            session.execute(select(Mailbox).where(*mine, *can_send).order_by(col(Mailbox.name)))
            .scalars()
            .first()
        )
        if own is not None:
            return own
    return (
        session.execute(
            select(Mailbox)
            .where(col(Mailbox.kind) == "shared", *can_send)
            .order_by(col(Mailbox.name))
        )
        .scalars()
        .first()
    )


def _enqueue(session: Session, report: SendReport, now: datetime) -> int:
    bridge: User | None = None
    count = 0
    waiting = (
        session.execute(
            select(Interaction)
            .where(col(Interaction.mail_status) == QUEUED)
            .order_by(col(Interaction.updated_at))
        )
        .scalars()
        .all()
    )
    for item in waiting:
        row = session.get(MailOutbox, item.id)
        meeting = item.kind == InteractionKind.MEETING
        if row is not None and (
            row.state in (QUEUED, SENDING) or (row.state == SENT and not meeting)
        ):
            continue
        bridge = bridge or _bridge_user(session)
        mailbox = choose_mailbox(session, item)
        if mailbox is None:
            _fail(
                session,
                bridge,
                item,
                row,
                "no mailbox to send from: the responsible person has no personal "
                "mailbox and there is no enabled shared one with an SMTP server",
            )
            report.failed += 1
            continue
        try:
            domain = normalize_email(mailbox.address).rpartition("@")[2]
        except ValueError as exc:
            _fail(
                session, bridge, item, row, f"mailbox {mailbox.name} has an invalid address: {exc}"
            )
            report.failed += 1
            continue
        # A letter's Message-ID is made once; each invitation (first, update, cancellation) is a letter of its own.
        bare = (
            f"{item.id}.{item.version}@{domain}"
            if meeting
            else bare_message_id(item.message_id) or f"{item.id}@{domain}"
        )
        if row is None:
            row = MailOutbox(interaction_id=item.id, message_id=bare)
        elif meeting:
            row.message_id = bare
        row.mailbox_id = mailbox.id
        row.state = QUEUED
        row.attempts = 0
        row.next_attempt_at = now
        row.last_error = None
        row.sent_at = None
        row.copy_saved = False
        session.add(row)
        parent = parent_letter(session, item)
        thread = (parent.thread_id or parent.message_id) if parent is not None else _identity(bare)
        if meeting:
            thread = item.thread_id or _identity(bare)
        _set(
            session,
            bridge,
            item,
            message_id=_identity(row.message_id),
            thread_id=thread,
            mail_error=None,
        )
        count += 1
    return count


def enqueue(session: Session, config: Config, *, now: datetime | None = None) -> int:
    """Give every queued letter without a live outbox row one (or reset its failed one); how many.

    The Message-ID is made here, once, and kept through every retry. A letter with
    no mailbox to go from is marked failed and its author told.
    """
    return _enqueue(session, SendReport(), now or utcnow())


# ---------------------------------------------------------------- sending


class _Throttled(Exception):
    """The letter's mailbox has sent its letters of the hour: the claim is rolled back."""

    def __init__(self, mailbox_id: str) -> None:
        super().__init__(mailbox_id)
        self.mailbox_id = mailbox_id


def _room(session: Session, mailbox: Mailbox, now: datetime, interaction_id: str) -> bool:
    """Whether ``mailbox`` may send letter ``interaction_id`` now: fewer than ``send_per_hour``
    of its other letters were sent, or claimed for sending, in the hour before ``now`` (a row out
    of the queue keeps its claim's time in ``next_attempt_at``; ``sent_at`` is the clock's). A
    rolling hour, counted from the outbox table: no counter to drift.

    Its row is locked first, so that two workers counting at once take turns (PostgreSQL; on
    SQLite the writer lock does that anyway)."""
    limit = mailbox.send_per_hour
    if limit is None:
        return True
    session.execute(
        select(col(Mailbox.id)).where(col(Mailbox.id) == mailbox.id).with_for_update()
    ).first()
    busy = session.execute(
        select(func.count())
        .select_from(MailOutbox)
        .where(
            col(MailOutbox.mailbox_id) == mailbox.id,
            col(MailOutbox.interaction_id) != interaction_id,
            or_(
                col(MailOutbox.state) == SENDING,
                col(MailOutbox.sent_at) > now - HOUR,
                and_(col(MailOutbox.state) != QUEUED, col(MailOutbox.next_attempt_at) > now - HOUR),
            ),
        )
    ).scalar_one()
    return int(busy) < limit


def _claim(
    database: Database,
    config: Config,
    interaction_id: str,
    now: datetime,
    report: SendReport,
    signer: Signer | None = None,
    worker: leases.Worker | None = None,
) -> Outgoing | None:
    """Take one due letter: queued → sending, committed before any byte goes out; None if not ours.

    A letter whose mailbox sent its letters of the hour (``Mailbox.send_per_hour``) is left
    as it was, queued and due: :class:`_Throttled` rolls the claim back.
    """
    with database.write() as session:
        if worker is not None:
            worker.renew(session, leases.OUTBOX)  # claimed only while this worker holds the outbox
        taken = session.execute(
            update(MailOutbox)
            .where(
                col(MailOutbox.interaction_id) == interaction_id,
                col(MailOutbox.state) == QUEUED,
                col(MailOutbox.next_attempt_at) <= now,
            )
            # While "sending", next_attempt_at is when the claim was made (see recover).
            .values(state=SENDING, attempts=MailOutbox.attempts + 1, next_attempt_at=now)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]  # a DML result is a CursorResult
            return None  # another worker has it, or it is no longer due
        row = _locked(session, MailOutbox, interaction_id)
        item = _locked(session, Interaction, interaction_id)
        if item is None or item.mail_status != QUEUED:
            # Taken back (or deleted) since it was queued: forget it; queued again, it gets a new row
            # with the same Message-ID (kept on the interaction).
            session.delete(row)
            return None
        bridge = _bridge_user(session)
        mailbox = session.get(Mailbox, row.mailbox_id) if row.mailbox_id else None
        if not _usable(mailbox):
            mailbox = choose_mailbox(session, item)
        if mailbox is None:
            _fail(
                session,
                bridge,
                item,
                row,
                "no mailbox to send from: the mailbox chosen for this letter "
                "was disabled and there is no other",
                config,
            )
            report.failed += 1
            return None
        if not _room(session, mailbox, now, interaction_id):
            raise _Throttled(mailbox.id)
        row.mailbox_id = mailbox.id
        recipient = recipients.recipient_of(session, item.id) if item.kind == "letter" else None
        unsubscribe = (
            (signer or Signer.for_settings(config)).link(config.public_url, recipient.id)
            if recipient is not None
            else None
        )
        try:
            out = build_message(
                session,
                item,
                mailbox,
                row.message_id,
                invitations=config.invitations,
                unsubscribe_url=unsubscribe,
            )
        except LetterRefused as exc:
            _fail(session, bridge, item, row, str(exc), config)
            report.failed += 1
            return None
        _spool(config, interaction_id, out.raw)
        session.add(row)
        _set(session, bridge, item, mail_status=SENDING)
        return out


async def _smtp(out: Outgoing, secret: str, timeout: float) -> dict[str, Any]:
    """One SMTP transaction; the recipients refused (the others took the letter)."""
    box = out.mailbox
    security = box.smtp_security
    client = aiosmtplib.SMTP(
        hostname=box.smtp_host,
        port=box.smtp_port,
        timeout=timeout,
        use_tls=security == "ssl",
        start_tls=security == "starttls",
        tls_context=ssl.create_default_context() if security != "plain" else None,
    )
    await client.connect()
    try:
        if secret and client.supports_extension("auth"):
            if box.auth == "xoauth2":
                await client.auth_xoauth2(box.login, secret)
            else:
                await client.login(box.login, secret)
        refused, _reply = await client.sendmail(
            out.sender,
            list(out.recipients),
            out.raw,
            mail_options=["SMTPUTF8"] if out.smtputf8 else None,
        )
    finally:
        # The letter is out (or not) by now: a failing QUIT must not make it look unsent.
        try:
            await client.quit()
        except Exception:  # noqa: BLE001
            client.close()
    return dict(refused)


def _verdict(exc: BaseException, box: Mailbox) -> tuple[str, str]:
    """("retry" | "fail" | "uncertain", what to tell) for an exception of the SMTP step."""
    where = f"{box.smtp_host}:{box.smtp_port}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        replies = [(e.code, f"{e.recipient}: {e.code} {e.message}") for e in exc.recipients]
        text = "every recipient was refused: " + "; ".join(r for _c, r in replies)
        return ("retry" if any(400 <= c < 500 for c, _r in replies) else "fail"), text
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # The mailbox's password, not the letter, is wrong: tried again once someone fixes it.
        return "retry", f"{where} refused the login of {box.login}: {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return ("fail" if 500 <= exc.code < 600 else "retry"), f"{exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return "fail", f"{where}: {exc.message}"
    if isinstance(exc, SecretError):
        return "retry", str(exc)
    if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
        return "retry", f"{where}: {type(exc).__name__}: {exc}"
    return "uncertain", f"{_UNCERTAIN} ({type(exc).__name__}: {exc})"


def _record_sent(
    database: Database, config: Config, out: Outgoing, refused: dict[str, Any]
) -> None:
    """The letter went: row, interaction and identity in one commit."""
    note = None
    if refused:
        note = "not delivered to: " + "; ".join(
            f"{a}: {getattr(r, 'code', '')} {getattr(r, 'message', r)}" for a, r in refused.items()
        )
    with database.write() as session:
        bridge = _bridge_user(session)
        row = _locked(session, MailOutbox, out.interaction_id)
        item = _locked(session, Interaction, out.interaction_id)
        _mark_sent(
            session,
            bridge,
            item,
            row,
            copy_saved=out.mailbox.provider_saves_sent,
            note=note,
            out=out,
        )
        if note:
            _remind(session, bridge, item, "Письмо доставлено не всем", note)
    if out.mailbox.provider_saves_sent:
        _unspool(config, out.interaction_id)


def _record_retry(
    database: Database, config: Config, out: Outgoing, error: str, now: datetime, report: SendReport
) -> None:
    """A passing failure: queued again after the back-off, or failed after the last attempt."""
    with database.write() as session:
        bridge = _bridge_user(session)
        row = _locked(session, MailOutbox, out.interaction_id)
        item = _locked(session, Interaction, out.interaction_id)
        if row.attempts >= MAX_ATTEMPTS:
            _fail(
                session,
                bridge,
                item,
                row,
                f"gave up after {row.attempts} attempts; the last: {error}",
                config,
            )
            report.failed += 1
            return
        row.state = QUEUED
        row.next_attempt_at = now + min(FIRST_DELAY * 2 ** (row.attempts - 1), MAX_DELAY)
        row.last_error = error
        session.add(row)
        _set(
            session,
            bridge,
            item,
            mail_status=QUEUED,
            mail_error=f"{error} — will try again after {row.next_attempt_at:%Y-%m-%d %H:%M} UTC "
            f"(attempt {row.attempts} of {MAX_ATTEMPTS})",
        )
        report.retrying += 1


def _record_failed(
    database: Database, config: Config, out: Outgoing, error: str, state: str
) -> None:
    with database.write() as session:
        bridge = _bridge_user(session)
        row = _locked(session, MailOutbox, out.interaction_id)
        item = _locked(session, Interaction, out.interaction_id)
        if state == FAILED:
            _fail(session, bridge, item, row, error, config)
        else:
            _uncertain(session, bridge, item, row, error, config)


def _uncertain(
    session: Session, bridge: User, item: Interaction, row: MailOutbox, error: str, config: Config
) -> None:
    row.state = UNCERTAIN
    row.last_error = error
    session.add(row)
    _set(session, bridge, item, mail_status=UNCERTAIN, mail_error=error)
    _remind(session, bridge, item, "Письмо могло не уйти", error)
    _unspool(config, item.id)


def _deliver(
    database: Database,
    config: Config,
    secrets: SecretBox,
    out: Outgoing,
    now: datetime,
    report: SendReport,
    timeout: float,
) -> None:
    try:
        secret = secrets.decrypt(out.mailbox.secret) if out.mailbox.secret else ""
        refused = _run(_smtp(out, secret, timeout))
    except Exception as exc:  # noqa: BLE001 - every failure is recorded; what kind decides how
        verdict, error = _verdict(exc, out.mailbox)
        log.info("letter %s not sent (%s): %s", out.interaction_id, verdict, error)
        if verdict == "retry":
            _record_retry(database, config, out, error, now, report)
        elif verdict == "fail":
            _record_failed(database, config, out, error, FAILED)
            report.failed += 1
        else:
            _record_failed(database, config, out, error, UNCERTAIN)
            report.uncertain += 1
        return
    _record_sent(database, config, out, refused)
    report.sent += 1


def send_due(
    database: Database,
    config: Config,
    *,
    now: datetime | None = None,
    smtp_timeout: float = SMTP_TIMEOUT,
    worker: leases.Worker | None = None,
) -> SendReport:
    """One run of the outbox: recover crashed sends, queue new letters, send what is due, save copies.

    SMTP runs in an event loop of its own (in a helper thread when the caller's thread
    already runs one). ``now`` is the clock the schedule is read by (tests move it on).

    With a ``worker`` (``mail.leases``), only while it holds the outbox's lease: another worker's
    run does nothing. Taking the lease from nobody or from a worker gone, it settles every letter
    left "sending" at once (nobody else can be sending them); every letter it claims renews it.
    """
    now = now or utcnow()
    report = SendReport()
    taken = True
    if worker is not None:
        held = worker.acquire(database, leases.OUTBOX)
        if held is None:
            report.skipped = True
            return report
        taken = held
    secrets = box_for(config)
    signer = Signer.for_settings(config)
    report = recover(database, config, now=now, at_start=worker is not None and taken)
    with (
        database.read() as session
    ):  # the worker asks every few seconds: write only when there is news
        queued = session.execute(
            select(col(Interaction.id)).where(col(Interaction.mail_status) == QUEUED).limit(1)
        ).first()
    if queued is not None:
        with database.write() as session:
            _enqueue(session, report, now)
    with database.read() as session:
        next_attempt_at = col(MailOutbox.next_attempt_at)
        due = session.execute(
            select(col(MailOutbox.interaction_id), col(MailOutbox.mailbox_id))
            .where(col(MailOutbox.state) == QUEUED, next_attempt_at <= now)
            .order_by(next_attempt_at)
        ).all()
    full: set[str] = set()  # mailboxes that sent their letters of the hour
    for interaction_id, mailbox_id in due:
        if mailbox_id in full:
            report.throttled += 1
            continue
        try:
            out = _claim(database, config, interaction_id, now, report, signer, worker)
        except _Throttled as exc:
            full.add(exc.mailbox_id)
            report.throttled += 1
            continue
        if out is not None:
            _deliver(database, config, secrets, out, now, report, smtp_timeout)
    report.copies += _save_copies(database, config, secrets, now)
    return report


# ---------------------------------------------------------------- the Sent folder


def _sent_folders(client: IMAPClient) -> list[str]:
    return [
        f.name for f in find_folders(client) if f.role == "sent" and "\\noselect" not in f.flags
    ]


def _holds(client: IMAPClient, folder: str, message_id: str) -> bool:
    client.select_folder(folder, readonly=True)
    return bool(client.search(["HEADER", "Message-ID", f"<{message_id}>"]))


def _in_sent(config: Config, secrets: SecretBox, mailbox: Mailbox, message_id: str) -> bool:
    """Whether any Sent folder of ``mailbox`` holds a letter with this Message-ID."""
    with connect(mailbox, secrets, timeout=IMAP_TIMEOUT) as client:
        return any(_holds(client, folder, message_id) for folder in _sent_folders(client))


def _save_copies(database: Database, config: Config, secrets: SecretBox, now: datetime) -> int:
    """APPEND the copies still owed to Sent folders (the letters sent lately); how many were saved."""
    with database.read() as session:
        owed = session.execute(
            select(MailOutbox, Mailbox)
            .join(Mailbox, col(Mailbox.id) == col(MailOutbox.mailbox_id))
            .where(
                col(MailOutbox.state) == SENT,
                col(MailOutbox.copy_saved) == False,  # noqa: E712
                col(Mailbox.provider_saves_sent) == False,  # noqa: E712
                col(MailOutbox.sent_at) >= now - COPY_RETRY_FOR,
            )
            .order_by(col(MailOutbox.sent_at))
        ).all()
    by_box: dict[str, tuple[Mailbox, list[MailOutbox]]] = {}
    for row, mailbox in owed:
        by_box.setdefault(mailbox.id, (mailbox, []))[1].append(row)
    saved = 0
    for mailbox, owed_rows in by_box.values():
        # Without the bytes sent (data_dir lost) there is nothing to copy; the letter itself is fine.
        rows = [row for row in owed_rows if _spool_path(config, row.interaction_id).exists()]
        if not rows:
            continue
        done: list[str] = []
        error = None
        try:
            with connect(mailbox, secrets, timeout=IMAP_TIMEOUT) as client:
                folders = _sent_folders(client)
                if not folders:
                    raise ImapError(f"{mailbox.name} has no Sent folder")
                for row in rows:
                    path = _spool_path(config, row.interaction_id)
                    if not _holds(client, folders[0], row.message_id):
                        client.append(
                            folders[0], path.read_bytes(), flags=(b"\\Seen",), msg_time=row.sent_at
                        )
                    done.append(row.interaction_id)
        except (ImapError, OSError) as exc:
            error = f"copy not saved in Sent (tried again later): {exc}"
            log.warning("mailbox %s: %s", mailbox.name, error)
        with database.write() as session:
            for row in rows:
                stored = _locked(session, MailOutbox, row.interaction_id)
                if row.interaction_id in done:
                    stored.copy_saved = True
                    if (stored.last_error or "").startswith("copy not saved"):
                        stored.last_error = None
                elif error:
                    stored.last_error = error
                session.add(stored)
        for interaction_id in done:
            _unspool(config, interaction_id)
        saved += len(done)
    return saved


# ---------------------------------------------------------------- crashes and retries


def recover(
    database: Database,
    config: Config,
    *,
    now: datetime | None = None,
    lease: timedelta = LEASE,
    at_start: bool = False,
) -> SendReport:
    """Settle the letters left "sending" by a process that stopped: never by sending them again.

    Only claims older than ``lease``, or every one when ``at_start`` (the worker starts:
    nothing of ours can be sending). A Sent folder holding the letter's Message-ID
    (the provider's copy) means it went: sent. Otherwise it is uncertain, and its
    author is told to check with the recipient and queue it again.
    """
    now = now or utcnow()
    report = SendReport()
    query = select(MailOutbox).where(col(MailOutbox.state) == SENDING)
    if not at_start:
        query = query.where(col(MailOutbox.next_attempt_at) <= now - lease)
    with database.read() as session:
        stuck = session.execute(query).scalars().all()
        boxes = {
            row.mailbox_id: session.get(Mailbox, row.mailbox_id) for row in stuck if row.mailbox_id
        }
    if not stuck:
        return report
    secrets = box_for(config)
    for row in stuck:
        mailbox = boxes.get(row.mailbox_id)
        found, why = False, ""
        if mailbox is not None:
            try:
                found = _in_sent(config, secrets, mailbox, row.message_id)
            except (ImapError, OSError, SecretError) as exc:
                why = f" (its Sent folder could not be searched: {exc})"
        with database.write() as session:
            stored = _locked(session, MailOutbox, row.interaction_id)
            item = _locked(session, Interaction, row.interaction_id)
            if stored is None or stored.state != SENDING or item is None:
                continue
            bridge = _bridge_user(session)
            if found:
                _mark_sent(session, bridge, item, stored, copy_saved=True)
                _unspool(config, row.interaction_id)
                report.sent += 1
                log.info(
                    "letter %s was found in Sent after a crash: marked sent", row.interaction_id
                )
            else:
                _uncertain(session, bridge, item, stored, _UNCERTAIN + why, config)
                report.uncertain += 1
                log.warning(
                    "letter %s: sending was interrupted; marked uncertain", row.interaction_id
                )
    return report


def retry(database: Database, interaction_id: str) -> None:
    """An administrator's retry of a failed or uncertain letter: queued again, same Message-ID."""
    with database.write() as session:
        item = _locked(session, Interaction, interaction_id)
        if item is None:
            raise NotFound(f"interaction {interaction_id} not found")
        row = _locked(session, MailOutbox, interaction_id)
        state = row.state if row is not None else item.mail_status
        if state not in (FAILED, UNCERTAIN):
            raise ValidationFailed(
                f"letter {interaction_id} is {state or 'not a letter to send'}; "
                "only a failed or uncertain letter can be sent again"
            )
        if row is not None:
            row.state = QUEUED
            row.attempts = 0
            row.next_attempt_at = utcnow()
            row.last_error = None
            session.add(row)
        _set(session, _bridge_user(session), item, mail_status=QUEUED, mail_error=None)
