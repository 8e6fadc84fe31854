"""The mail bridge's own tables: mailboxes, folder cursors, known letters, review, outbox.

None of these travel to laptops. What a laptop sees of mail is the Interaction of
kind ``letter`` the bridge files (and the ``mail_status`` of a letter it sends).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Index, UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel, col

from crm import own_domains
from crm.models.base import UTCDateTime, new_id, utcnow


class Mailbox(SQLModel, table=True):
    """One IMAP/SMTP account: a shared company box or a salesperson's own.

    The password (or XOAUTH2 token) is kept encrypted with the server's key
    (``mail.secrets``); nothing prints or logs it.
    """

    __tablename__ = "mailbox"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=200, unique=True)
    address: str = Field(max_length=254)
    # "shared" (a company box) or "personal" (owner_id's own box).
    kind: str = Field(default="shared", max_length=20)
    owner_id: str | None = Field(default=None, foreign_key="app_user.id", max_length=36)
    imap_host: str = Field(max_length=255)
    imap_port: int = Field(default=993)
    # "ssl" (implicit TLS), "starttls" or "plain" (only for a server on the same machine).
    imap_security: str = Field(default="ssl", max_length=10)
    login: str = Field(max_length=254)
    secret: str = Field(default="")  # Fernet token of the password
    # "password" or "xoauth2" (then ``secret`` holds the access token).
    auth: str = Field(default="password", max_length=20)
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int = Field(default=465)
    smtp_security: str = Field(default="ssl", max_length=10)
    # Whether the SMTP provider files its own copy in Sent (Gmail, Yandex do); else we APPEND one.
    provider_saves_sent: bool = Field(default=False)
    # At most this many letters an hour leave through it (a provider's limit); none: no limit.
    send_per_hour: int | None = Field(default=None)
    # Explicit folders to read; empty means every folder but Junk, Trash and Drafts.
    folders: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The owner's private exclusions: letters touching these are never filed.
    private_addresses: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    private_domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    private_folders: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None


class MailFolder(SQLModel, table=True):
    """Where the bridge is in one folder of one mailbox, and what it found there."""

    __tablename__ = "mail_folder"
    __table_args__ = (UniqueConstraint("mailbox_id", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    mailbox_id: str = Field(foreign_key="mailbox.id", max_length=36, index=True)
    name: str = Field(max_length=500)  # decoded (modified UTF-7 undone)
    role: str = Field(default="other", max_length=20)  # inbox, sent, all, archive, other
    uidvalidity: int | None = None
    last_uid: int = Field(default=0)
    highestmodseq: int | None = None
    # Counters since the folder was first read: filed, duplicate, review, errors and
    # one per classification that is not filed (bounce, auto_reply, ...).
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    uidvalidity_resets: int = Field(default=0)
    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None


class MailMessage(SQLModel, table=True):
    """Every letter the bridge has seen, once, by its identity (Message-ID or fingerprint).

    The index threading uses (In-Reply-To/References against every Message-ID
    known) and what makes one letter one record across folders and mailboxes.
    The columns after ``seen_at`` are what :mod:`mail.threads` joins a filed letter
    by; letters filed before they existed have them empty.
    """

    __tablename__ = "mail_message"
    __table_args__ = (
        Index("ix_mail_message_thread", "counterparty_id", "thread_id"),
        Index("ix_mail_message_topic", "counterparty_id", "topic"),
    )

    key: str = Field(primary_key=True, max_length=500)  # Letter.dedup_key
    # business, bounce, auto_reply, mailing_list, internal, private
    kind: str = Field(max_length=20)
    reason: str = Field(default="", max_length=500)
    interaction_id: str | None = Field(default=None, max_length=36, index=True)
    counterparty_id: str | None = Field(default=None, max_length=36)
    thread_id: str | None = Field(default=None, max_length=500)
    review_id: str | None = Field(default=None, max_length=36)
    mailbox_id: str | None = Field(default=None, max_length=36)
    folder: str | None = Field(default=None, max_length=500)
    uid: int | None = None
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The letter's own Date; the root it names (References[0], else In-Reply-To, else itself).
    written_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    root_hint: str | None = Field(default=None, max_length=500)
    # The normalised subject (or Thread-Topic), and whether the letter is a reply by its look
    # only (a reply prefix or a reply Thread-Index, no In-Reply-To or References).
    topic: str | None = Field(default=None, max_length=500)
    topic_reply: bool = Field(default=False)
    # Outlook's conversation: the first 22 bytes of Thread-Index, in hex.
    conversation: str | None = Field(default=None, max_length=44, index=True)


class MailReference(SQLModel, table=True):
    """A Message-ID a filed letter names in In-Reply-To or References, so a late parent finds its children."""

    __tablename__ = "mail_reference"

    message_key: str = Field(primary_key=True, max_length=500)  # MailMessage.key of the letter
    referenced: str = Field(primary_key=True, max_length=500, index=True)


class MailReview(SQLModel, table=True):
    """A business letter the bridge could not file with certainty; a person settles it."""

    __tablename__ = "mail_review"
    __table_args__ = (Index("ix_mail_review_open", "status", "received_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    key: str = Field(max_length=500, index=True)
    mailbox_id: str = Field(max_length=36)
    folder: str = Field(max_length=500)
    subject: str = Field(default="", max_length=500)
    sender: str = Field(default="", max_length=500)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "no_match", "ambiguous" or "error"; with the candidates' ids when ambiguous.
    reason: str = Field(max_length=20)
    detail: str = Field(default="")
    candidates: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    raw_sha256: str = Field(max_length=64)  # the letter as received, in the blob store
    status: str = Field(default="open", max_length=20)  # open, filed, dismissed
    interaction_id: str | None = Field(default=None, max_length=36)
    settled_by: str | None = Field(default=None, max_length=36)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailSuggestion(SQLModel, table=True):
    """An unknown external address seen on a filed letter: "add as a contact person?"."""

    __tablename__ = "mail_suggestion"
    __table_args__ = (UniqueConstraint("address", "counterparty_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    address: str = Field(max_length=254)
    name: str = Field(default="", max_length=300)
    counterparty_id: str = Field(max_length=36, index=True)
    interaction_id: str | None = Field(default=None, max_length=36)
    letters: int = Field(default=1)
    status: str = Field(default="open", max_length=20)  # open, accepted, dismissed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MailOutbox(SQLModel, table=True):
    """The sending state of one outgoing letter (an Interaction with ``mail_status``).

    ``state`` is the truth for the sender; the interaction's ``mail_status`` is what
    people see. ``sending`` is written and committed before the SMTP transaction
    starts, so a letter found ``sending`` after a crash is never sent again blindly.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "state", "next_attempt_at"),)

    interaction_id: str = Field(primary_key=True, max_length=36)
    mailbox_id: str | None = Field(default=None, max_length=36)
    message_id: str = Field(max_length=500, unique=True)
    state: str = Field(default="queued", max_length=20)  # queued, sending, sent, failed, uncertain
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    copy_saved: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def _mailbox_domains(session: Session) -> set[str]:
    """The domains of the mailboxes the bridge reads: the company's own, never a counterparty's."""
    return {
        address.rpartition("@")[2].strip().lower()
        for address in session.execute(select(col(Mailbox.address))).scalars()
        if address and "@" in address
    }


own_domains.register(_mailbox_domains)


class MailLease(SQLModel, table=True):
    """Who holds a piece of the mail bridge's work (a mailbox, the outbox), until when: several
    workers on one database share the work by these (``mail.leases``)."""

    __tablename__ = "mail_lease"

    name: str = Field(primary_key=True, max_length=60)
    worker_id: str = Field(max_length=36)
    host: str = Field(max_length=255)
    pid: int
    until: datetime = Field(sa_type=UTCDateTime)
    taken_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
