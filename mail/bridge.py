"""The mail bridge as the server runs it: mailboxes, runs, the worker loop, status, review.

The functions here are what ``satchel mail …`` commands call; they take the
server's :class:`~server.config.Config`-like settings object and a database.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session, col

from crm import accounts, records
from crm.database import Database
from crm.errors import AlreadyExists, NotFound, SatchelError, ValidationFailed
from crm.models import User, utcnow
from crm.models.enums import MailStatus
from crm.validation import email_domain, normalize_email
from mail import filing, leases, outbox
from mail.decode import Letter
from mail.imap import ImapError, connect, find_folders
from mail.ingest import Ingest, MailboxReport, Progress, file_waiting, reads
from mail.invites import InvitationCodec
from mail.matching import Match, Matcher
from mail.models import Mailbox, MailMessage, MailOutbox, MailReview, MailSuggestion
from mail.secrets import SecretBox, SecretError, box_for

__all__ = [
    "BridgeSettings",
    "add_mailbox",
    "blob_store",
    "ingest_for",
    "list_reviews",
    "mailboxes",
    "run_once",
    "secret_box",
    "serve",
    "settle_review",
    "test_mailbox",
]

log = logging.getLogger(__name__)


class BridgeSettings(Protocol):
    """What the bridge reads from the server's settings; read-only, so a frozen ``Config`` matches."""

    @property
    def data_dir(self) -> str: ...

    @property
    def secret_key(self) -> str | None: ...

    @property
    def public_url(self) -> str:
        """The server's address as people reach it: a mailing's unsubscribe links point there."""
        ...

    @property
    def mail_attachment_max_bytes(self) -> int: ...

    @property
    def mail_poll_seconds(self) -> int: ...

    @property
    def company_domain_list(self) -> list[str]: ...

    @property
    def invitations(self) -> InvitationCodec | None:
        """Meetings' iTIP invitations out and their replies in (the server: ``calendar_bridge.invitations``)."""
        ...


def secret_box(settings: BridgeSettings) -> SecretBox:
    return box_for(settings)


def blob_store(settings: BridgeSettings) -> filing.BlobStore:
    return filing.BlobStore(Path(settings.data_dir) / "mail-blobs")


def ingest_for(database: Database, settings: BridgeSettings, **kwargs: Any) -> Ingest:
    return Ingest(
        database,
        secrets=secret_box(settings),
        company_domains=settings.company_domain_list,
        blobs=blob_store(settings),
        max_attachment_bytes=settings.mail_attachment_max_bytes,
        invitations=settings.invitations,
        **kwargs,
    )


# -- mailboxes

_SECURITY = ("ssl", "starttls", "plain")


def add_mailbox(
    session: Session,
    settings: BridgeSettings,
    *,
    name: str,
    address: str,
    imap_host: str,
    login: str | None = None,
    password: str | None = None,
    oauth_token: str | None = None,
    imap_port: int | None = None,
    imap_security: str = "ssl",
    smtp_host: str | None = None,
    smtp_port: int | None = None,
    smtp_security: str = "ssl",
    owner: str | None = None,
    provider_saves_sent: bool = False,
    send_per_hour: int | None = None,
    folders: list[str] | None = None,
    private_addresses: list[str] | None = None,
    private_domains: list[str] | None = None,
    private_folders: list[str] | None = None,
) -> Mailbox:
    """Configure a mailbox; ``owner`` (a login) makes it that salesperson's personal box. Every
    problem is reported at once (``ValidationFailed``); a name or address another mailbox has
    already is ``AlreadyExists``."""
    problems = _problems(
        {
            "name": name,
            "address": address,
            "imap_host": imap_host,
            "imap_port": imap_port,
            "imap_security": imap_security,
            "smtp_host": smtp_host,
            "smtp_port": smtp_port,
            "smtp_security": smtp_security,
            "login": login,
            "send_per_hour": send_per_hour,
        },
        {
            "folders": folders or [],
            "private_addresses": private_addresses or [],
            "private_domains": private_domains or [],
            "private_folders": private_folders or [],
        },
    )
    if (password is None) == (oauth_token is None):
        problems["password"] = "give a password or an XOAUTH2 token"
    owner_id = None
    if owner:
        try:
            owner_id = accounts.find_user(session, owner).id
        except NotFound:
            problems["owner"] = f"no user {owner}"
    if problems:
        raise ValidationFailed(
            "the mailbox is not valid: " + "; ".join(f"{k} {v}" for k, v in problems.items()),
            details=problems,
        )
    address = normalize_email(address)
    _not_taken(session, name.strip(), address, None)
    box = secret_box(settings)
    mailbox = Mailbox(
        name=name.strip(),
        address=address,
        kind="personal" if owner_id else "shared",
        owner_id=owner_id,
        imap_host=imap_host,
        imap_port=imap_port or {"ssl": 993}.get(imap_security, 143),
        imap_security=imap_security,
        login=login or address,
        secret=box.encrypt(oauth_token if oauth_token is not None else password or ""),
        auth="xoauth2" if oauth_token is not None else "password",
        smtp_host=smtp_host,
        smtp_port=smtp_port or {"ssl": 465, "starttls": 587}.get(smtp_security, 25),
        smtp_security=smtp_security,
        provider_saves_sent=provider_saves_sent,
        send_per_hour=send_per_hour or None,  # 0: no limit
        folders=folders or [],
        private_addresses=[normalize_email(a) for a in private_addresses or []],
        private_domains=[_domain(d) for d in private_domains or []],
        private_folders=[f.strip() for f in private_folders or []],
    )
    session.add(mailbox)
    session.flush()
    return mailbox


_EDITABLE = (
    "address",
    "imap_host",
    "imap_port",
    "imap_security",
    "login",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "owner",
    "provider_saves_sent",
    "send_per_hour",
)
_LISTS = ("folders", "private_addresses", "private_domains", "private_folders")
MAX_SEND_PER_HOUR = 100_000


def _loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# A host name or an address: letters, digits, dots, hyphens (IPv6 bare, as sockets take it) — nothing
# that could end a protocol line or a log line.
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45}")


def _text(value: str) -> bool:
    """Non-empty, at most 200 characters, no control or invisible format characters."""
    return (
        bool(value.strip())
        and len(value) <= 200
        and not any(unicodedata.category(ch).startswith("C") for ch in value)
    )


def _domain(value: str) -> str:
    """A private domain as typed (``@Family.ru``), normalised; ``ValueError`` if it is none."""
    return email_domain("postmaster@" + value.strip().removeprefix("@"))


def _folded(fold: Callable[[str], str], value: str) -> str:
    try:
        return fold(value)
    except ValueError:
        return value  # removing a value that was never valid: compared as typed


_FOLD: dict[str, Callable[[str], str]] = {
    "folders": str.strip,
    "private_addresses": normalize_email,
    "private_domains": _domain,
    "private_folders": str.strip,
}


def _problems(values: dict[str, Any], lists: dict[str, list[str]]) -> dict[str, str]:
    """What is wrong with a mailbox's settings (``values``) and the list entries being added,
    every problem at once. Plain (unencrypted) IMAP or SMTP only to this machine: elsewhere the
    password would cross the network in clear text."""
    problems: dict[str, str] = {}
    if not _text(str(values.get("name") or "")):
        problems["name"] = "must be 1–200 characters without control characters"
    try:
        normalize_email(str(values.get("address") or ""))
    except ValueError as exc:
        problems["address"] = str(exc)
    if values.get("login") is not None and not _text(str(values["login"])):
        problems["login"] = "must be 1–200 characters without control characters"
    for kind in ("imap", "smtp"):
        host = values.get(f"{kind}_host")
        port = values.get(f"{kind}_port")
        security = values.get(f"{kind}_security")
        if kind == "smtp" and not (host or "").strip():
            continue  # no sending from this box
        if host is None or not _HOST.fullmatch(str(host).strip()):
            problems[f"{kind}_host"] = "must be a host name or an IP address"
        if port is not None and not (isinstance(port, int) and 1 <= port <= 65535):
            problems[f"{kind}_port"] = "must be a port number from 1 to 65535"
        if security not in _SECURITY:
            problems[f"{kind}_security"] = f"must be one of {', '.join(_SECURITY)}"
        elif security == "plain" and host and not _loopback(str(host)):
            problems[f"{kind}_security"] = (
                "plain sends the password unencrypted: only to this machine (localhost); "
                "use ssl or starttls"
            )
    per_hour = values.get("send_per_hour")
    if per_hour is not None and (
        isinstance(per_hour, bool)
        or not isinstance(per_hour, int)
        or not 0 <= per_hour <= MAX_SEND_PER_HOUR
    ):
        problems["send_per_hour"] = (
            f"must be a number of letters from 1 to {MAX_SEND_PER_HOUR}, or 0 for no limit"
        )
    for key, entries in lists.items():
        for entry in entries:
            try:
                ok = _text(entry) and bool(_FOLD[key](entry))
            except ValueError:
                ok = False
            if not ok:
                problems[key] = f"{entry!r} is not a valid entry"
                break
    return problems


def _not_taken(session: Session, name: str | None, address: str, own_id: str | None) -> None:
    """``AlreadyExists`` when another mailbox has this name, or reads this address already (its
    folders would be read twice)."""
    for column, value in ((Mailbox.name, name), (Mailbox.address, address)):
        if value is None:
            continue
        other = session.execute(
            select(col(Mailbox.name)).where(col(column) == value, col(Mailbox.id) != (own_id or ""))
        ).scalar_one_or_none()
        if other is not None:
            what = "named" if column is Mailbox.name else "reading"
            raise AlreadyExists(f"a mailbox {what} {value!r} exists already: {other}")


def edit_mailbox(
    session: Session,
    name_or_id: str,
    changes: dict[str, Any],
    lists: dict[str, tuple[list[str], list[str]]] | None = None,
) -> Mailbox:
    """Change settings of a mailbox: ``changes`` replaces values (``owner``: a login, ``""`` for a
    shared box; ``smtp_host`` ``""``: no sending); ``lists`` adds and removes values of its lists
    (``folders`` and the private exclusions). Every problem is reported at once; nothing changes then."""
    mailbox = find_mailbox(session, name_or_id)
    problems: dict[str, str] = {}
    for key in [
        *(k for k in changes if k not in _EDITABLE),
        *(k for k in lists or {} if k not in _LISTS),
    ]:
        problems[key] = "cannot be changed here"
    values = dict(changes)
    # The values as they would be after the change, checked together (plain text needs a loopback
    # host, whichever of the two was changed).
    after = {
        key: values.get(key, getattr(mailbox, key))
        for key in (
            "address",
            "imap_host",
            "imap_port",
            "imap_security",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "login",
        )
    }
    added = {key: pair[0] for key, pair in (lists or {}).items() if key in _LISTS}
    if "send_per_hour" in values:
        after["send_per_hour"] = values["send_per_hour"]
    problems.update(_problems({"name": mailbox.name, **after}, added))
    for key, (_put, removed) in (lists or {}).items():
        if key not in _LISTS:
            continue
        fold, held = _FOLD[key], getattr(mailbox, key)
        # Removing what is not there is a typo to be told, not a change to report as made.
        absent = [v for v in removed if _folded(fold, v) not in held]
        if absent:
            told = f"{', '.join(repr(v) for v in absent)} not in the list ({', '.join(held) or 'empty'})"
            problems[key] = f"{problems[key]}; {told}" if key in problems else told
    if "address" in values and "address" not in problems:
        values["address"] = normalize_email(values["address"])
        _not_taken(session, None, values["address"], mailbox.id)
    owner_id = mailbox.owner_id
    if values.get("owner"):
        try:
            owner_id = accounts.find_user(session, values["owner"]).id
        except NotFound:
            problems["owner"] = f"no user {values['owner']}"
    elif "owner" in values:
        owner_id = None
    if problems:
        raise ValidationFailed(
            "the mailbox is not valid: " + "; ".join(f"{k} {v}" for k, v in problems.items()),
            details=problems,
        )
    for key, value in values.items():
        if key == "owner":
            mailbox.owner_id, mailbox.kind = owner_id, "personal" if owner_id else "shared"
        elif key == "smtp_host":
            mailbox.smtp_host = value.strip() or None
        elif key in ("imap_host", "login"):
            setattr(mailbox, key, value.strip())
        elif key == "send_per_hour":
            mailbox.send_per_hour = value or None  # 0: no limit
        else:
            setattr(mailbox, key, value)
    for key, (put, removed) in (lists or {}).items():
        fold = _FOLD[key]
        gone = {_folded(fold, v) for v in removed}
        kept = [v for v in getattr(mailbox, key) if v not in gone]
        kept += [v for v in (fold(v) for v in put) if v not in kept]
        setattr(mailbox, key, kept)  # a new list: JSON columns see only assignments
    session.flush()
    return mailbox


def find_mailbox(session: Session, name_or_id: str) -> Mailbox:
    mailbox = (
        session.get(Mailbox, name_or_id)
        or session.execute(
            select(Mailbox).where(col(Mailbox.name) == name_or_id)
        ).scalar_one_or_none()
    )
    if mailbox is None:
        raise NotFound(f"no mailbox {name_or_id!r}")
    return mailbox


@dataclass
class MailboxCheck:
    ok: bool
    message: str
    folders: list[tuple[str, str]]  # (name, role)


def test_mailbox(
    database: Database, settings: BridgeSettings, name_or_id: str, *, timeout: float = 15.0
) -> MailboxCheck:
    """Log in and list the folders: says what is wrong (address, TLS, password) without reading letters."""
    with database.read() as session:
        mailbox = find_mailbox(session, name_or_id)
    try:
        with connect(mailbox, secret_box(settings), timeout=timeout) as client:
            folders = find_folders(client)
    except (ImapError, SecretError) as exc:
        return MailboxCheck(False, str(exc), [])

    def shown(folder: Any) -> str:
        if not reads(mailbox, folder):  # what the ingest reads, by the same rule
            return f"{folder.role} (not read)"
        if folder.name in mailbox.private_folders:
            return f"{folder.role} (private: not filed)"
        return str(folder.role)

    return MailboxCheck(
        True,
        f"logged in to {mailbox.imap_host} as {mailbox.login}",
        [(f.name, shown(f)) for f in folders],
    )


# -- running


def run_once(
    database: Database,
    settings: BridgeSettings,
    *,
    mailbox: str | None = None,
    progress: Progress | None = None,
    send: bool = True,
) -> list[MailboxReport]:
    """One pass: every enabled mailbox (or the one named), then the outbox."""
    with database.read() as session:
        query = select(Mailbox).where(col(Mailbox.enabled).is_(True)).order_by(col(Mailbox.name))
        boxes = (
            [find_mailbox(session, mailbox)] if mailbox else list(session.execute(query).scalars())
        )
    # Another worker (``satchel mail run`` elsewhere) may be reading some of the mailboxes: each
    # is read by whoever holds its lease; the outbox likewise (mail.leases).
    worker = leases.Worker()
    with ingest_for(
        database, settings, progress=progress, worker=worker
    ) as ingest:  # parse workers, if any, live for the pass
        reports = ingest.run_many([box.id for box in boxes])
    if send:
        try:
            outbox.send_due(database, settings, worker=worker)
        finally:
            worker.release(database, leases.OUTBOX)
    return reports


def serve(
    database: Database,
    settings: BridgeSettings,
    *,
    stop: threading.Event | None = None,
    idle_seconds: float = 240.0,
    on_report: Callable[[MailboxReport], None] | None = None,
) -> None:
    """The foreground worker: read every mailbox, send the outbox, then wait for new mail.

    Each mailbox gets a thread that reads its folders and then IDLEs on INBOX where
    the server offers IDLE (restarted every ``idle_seconds``, under the 29 minutes
    RFC 2177 allows), else sleeps ``mail_poll_seconds``; every folder is read again
    after each wake-up. The outbox is sent every few seconds from the main thread.
    """
    stop = stop or threading.Event()
    worker = leases.Worker()  # this process, among the workers sharing the mailboxes and outbox
    with database.read() as session:
        boxes = list(
            session.execute(select(col(Mailbox.id)).where(col(Mailbox.enabled).is_(True))).scalars()
        )
    threads = [
        threading.Thread(
            target=_watch,
            args=(database, settings, box_id, stop, idle_seconds, on_report, worker),
            name=f"mail-{box_id[:8]}",
            daemon=True,
        )
        for box_id in boxes
    ]
    for thread in threads:
        thread.start()
    # The first run that takes the outbox's lease settles what a stopped worker left "sending".
    while not stop.is_set():
        try:
            outbox.send_due(database, settings, worker=worker)
        except Exception:  # noqa: BLE001 - logged; the next round tries again
            log.exception("sending the outbox failed")
        stop.wait(5.0)
    for thread in threads:
        thread.join(timeout=idle_seconds + 30)
    worker.release(database, leases.OUTBOX)


# How soon a worker asks again for a mailbox another worker holds (see _watch).
HELD_RETRY_SECONDS = 10.0


def _watch(
    database: Database,
    settings: BridgeSettings,
    mailbox_id: str,
    stop: threading.Event,
    idle_seconds: float,
    on_report: Callable[[MailboxReport], None] | None,
    worker: leases.Worker | None = None,
) -> None:
    ingest = ingest_for(database, settings, worker=worker)
    poll = max(1, settings.mail_poll_seconds)
    while not stop.is_set():
        try:
            report = ingest.run(mailbox_id)
        finally:
            ingest.close()  # no parse workers idle between wake-ups
        if on_report:
            on_report(report)
        if report.skipped:
            # Another worker reads it: no IDLE on its mailbox; ask again soon, so that a worker that
            # died (its process gone from this host, or its lease expired) is taken over in seconds.
            stop.wait(min(poll, HELD_RETRY_SECONDS))
            continue
        if report.error:
            stop.wait(min(poll, 60))
            continue
        if not _idle(database, settings, mailbox_id, stop, min(idle_seconds, poll * 4)):
            stop.wait(poll)


def _idle(
    database: Database,
    settings: BridgeSettings,
    mailbox_id: str,
    stop: threading.Event,
    seconds: float,
) -> bool:
    """Wait on INBOX with IDLE until something arrives, ``seconds`` pass or ``stop``; False without IDLE."""
    with database.read() as session:
        mailbox = session.get_one(Mailbox, mailbox_id)
    try:
        with connect(mailbox, secret_box(settings), timeout=seconds + 30) as client:
            if b"IDLE" not in client.capabilities():
                return False
            client.select_folder("INBOX", readonly=True)
            client.idle()
            try:
                deadline = time.monotonic() + seconds
                while not stop.is_set() and time.monotonic() < deadline:
                    if client.idle_check(timeout=min(5.0, max(0.1, deadline - time.monotonic()))):
                        break
            finally:
                client.idle_done()
    except ImapError as exc:
        log.warning("IDLE on %s: %s", mailbox.name, exc)
        return False
    return True


# -- status and review


def mailboxes(session: Session) -> list[Mailbox]:
    """Every mailbox, by name. (What ``satchel mail status`` shows of their folders is read
    through Core: ``server.commands.mail``.)"""
    return list(session.execute(select(Mailbox).order_by(Mailbox.name)).scalars())


def list_reviews(
    session: Session, *, status_: str | None = "open", limit: int = 100, offset: int = 0
) -> list[MailReview]:
    query = (
        select(MailReview)
        .order_by(col(MailReview.received_at), col(MailReview.id))
        .limit(limit)
        .offset(offset)
    )
    if status_ is not None:
        query = query.where(col(MailReview.status) == status_)
    return list(session.execute(query).scalars())


def outbox_counts(session: Session) -> dict[str, int]:
    """Outgoing letters by state (queued, sending, sent, failed, uncertain). A letter written
    (an interaction queued from a screen, the API or a laptop) counts as queued before the
    worker takes it into the outbox."""
    from sqlalchemy import func

    from crm.models import Interaction

    rows = session.execute(
        select(col(MailOutbox.state), func.count()).group_by(col(MailOutbox.state))
    ).all()
    counts = {state: count for state, count in rows}
    written = session.execute(
        select(func.count())
        .select_from(Interaction)
        .where(
            col(Interaction.mail_status) == MailStatus.QUEUED.value,
            ~col(Interaction.id).in_(select(col(MailOutbox.interaction_id))),
        )
    ).scalar_one()
    if written:
        counts[MailStatus.QUEUED.value] = counts.get(MailStatus.QUEUED.value, 0) + written
    return counts


def list_suggestions(session: Session, *, limit: int = 100) -> list[MailSuggestion]:
    query = (
        select(MailSuggestion)
        .where(col(MailSuggestion.status) == "open")
        .order_by(col(MailSuggestion.letters).desc())
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def _file_waiting(
    session: Session,
    settings: BridgeSettings,
    blobs: filing.BlobStore,
    review: MailReview,
    choose: Callable[[Matcher, Letter, str | None, MailMessage | None], Match],
    *,
    rule: str | None = None,
) -> tuple[Match, Letter]:
    return file_waiting(
        session,
        blobs,
        review,
        choose,
        company_domains=settings.company_domain_list,
        max_attachment_bytes=settings.mail_attachment_max_bytes,
        rule=rule,
    )


def rematch_reviews(
    database: Database, settings: BridgeSettings, *, limit: int = 10_000
) -> tuple[int, int]:
    """Match the letters waiting in review again (after contact persons were added); (filed, still waiting).

    What matches now is filed by the rule that fired, as the ingest would have; the rest
    keeps waiting. A letter the rules refuse to file keeps waiting too (in a savepoint of its
    own): one letter never holds up the others.
    """
    blobs = blob_store(settings)
    filed = waiting = 0
    try:
        with database.write() as session:
            suggestions = filing.Suggestions()
            for review in list_reviews(session, limit=limit):
                try:
                    with session.begin_nested():
                        match, letter = _file_waiting(
                            session,
                            settings,
                            blobs,
                            review,
                            lambda matcher, letter, address, _known: matcher.match(letter, address),
                        )
                except SatchelError as exc:
                    log.warning("a letter waiting in review was not filed again: %s", exc)
                    waiting += 1
                    continue
                if match.counterparty_id is None:
                    waiting += 1
                    continue
                filed += 1
                if match.unknown:
                    suggestions.add(
                        match.counterparty_id, letter, match.unknown, review.interaction_id
                    )
            suggestions.write(session)
            blobs.sync()
    finally:
        blobs.close()
    return filed, waiting


def settle_review(
    database: Database,
    settings: BridgeSettings,
    review_id: str,
    actor: User,
    *,
    counterparty_id: str | None = None,
    contact_person_id: str | None = None,
    dismiss: bool = False,
) -> MailReview:
    """File a waiting letter under ``counterparty_id`` (as ``actor`` sees it), or dismiss it."""
    blobs = blob_store(settings)
    try:
        with database.write() as session:
            review = session.get(MailReview, review_id)
            if review is None:
                raise NotFound(f"no letter {review_id} in review")
            if review.status != "open":
                raise ValidationFailed(f"letter {review_id} was already settled ({review.status})")
            if dismiss:
                review.status, review.settled_at = "dismissed", utcnow()
            else:
                if counterparty_id is None:
                    raise ValidationFailed(
                        "name the counterparty to file the letter under, or dismiss it"
                    )
                # The actor must be able to see the counterparty; crm.records says so.
                records.get(session, actor, records.record_type("counterparties"), counterparty_id)
                _file_waiting(
                    session,
                    settings,
                    blobs,
                    review,
                    lambda _matcher, _letter, _address, known: Match(
                        "review",
                        counterparty_id,
                        contact_person_id,
                        known.thread_id if known else None,
                    ),
                    rule="review",
                )
                blobs.sync()
            review.settled_by = actor.id
            return review
    finally:
        blobs.close()
