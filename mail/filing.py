"""Putting a matched letter into a counterparty's history, or into the review queue.

A filed letter is an :class:`~crm.models.Interaction` of kind ``letter`` created
through :mod:`crm.records` as the mail bridge's own user, so the same rules apply as
to anything a person types, and the change log carries it to the laptops of everyone
who may see that counterparty. Its HTML is sanitised with nh3 before it is stored;
attachments are stored once by their sha256 (see :class:`BlobStore`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nh3
from sqlalchemy import select, update
from sqlmodel import Session, col

from crm import access, accounts, records
from crm.models import ContactPerson, Counterparty, User, utcnow
from crm.models.base import Record, construct
from crm.models.enums import MAIL_BRIDGE_LOGIN
from crm.validation import normalize_email
from mail.decode import Letter
from mail.matching import Match
from mail.models import MailMessage, MailReview, MailSuggestion

__all__ = [
    "BlobStore",
    "Suggestions",
    "bridge_user",
    "file_letter",
    "remember",
    "send_to_review",
    "set_as_bridge",
]

MAX_TEXT = 1_000_000  # characters of plain text kept on the interaction
MAX_HTML = 2_000_000  # characters of HTML sanitised and kept
MAX_SUBJECT = 500

# Tags and attributes a letter keeps: formatting, tables, links, inline images by cid.
_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "center",
    "code",
    "col",
    "colgroup",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
_ATTRIBUTES = {
    "*": {"align", "valign", "width", "height", "colspan", "rowspan", "color", "bgcolor", "dir"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "font": {"face", "size", "color"},
}


def sanitize_html(html: str) -> str:
    """HTML safe to show: no scripts, styles, handlers or remote loads but links; cid: images kept."""
    return nh3.clean(
        html[:MAX_HTML],
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
    )


class BlobStore:
    """Files by content hash under ``root``: ``ab/cdef…``. Written once, atomically; never changed.

    ``put`` hashes at once and leaves the writing to a few threads (creating a file is a
    slow system call on some file systems, and the filing need not wait for it); ``sync``
    waits for every write since the last call and makes the files durable. It is called
    right before the transaction that refers to them commits.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._pending: list[Future[Path | None]] = []
        self._dirs: set[Path] = set()
        self._pool: ThreadPoolExecutor | None = None

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="blobs")
        self._pending.append(self._pool.submit(self._write, self.path(digest), data))
        return digest

    def _write(self, target: Path, data: bytes) -> Path | None:
        if target.exists():
            return None
        if target.parent not in self._dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(target.parent)
        tmp = target.with_name(f".tmp-{target.name}-{os.getpid()}-{threading.get_ident()}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                # Durable here, in the writer thread, while the batch is still being filed: ``sync``
                # then has only the directories left to flush.
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def sync(self) -> None:
        """Wait for the writes since the last call (each file is flushed to disk as it is written); make
        the new directory entries durable.

        Raises what a write raised (a full disk): the caller's transaction must not commit.
        """
        pending, self._pending = self._pending, []
        written = [p for p in (f.result() for f in pending) if p is not None]
        if not written or self._pool is None:
            return

        def flush(path: Path) -> None:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

        list(self._pool.map(flush, sorted({p.parent for p in written})))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


def bridge_user(session: Session) -> User:
    """The user the bridge files as: an inactive administrator that cannot log in."""
    user = session.execute(
        select(User).where(col(User.login) == MAIL_BRIDGE_LOGIN)
    ).scalar_one_or_none()
    if user is None:
        # Made inactive, not disabled after: nobody's tokens end, and the log says nothing of it.
        user = accounts.create_user(
            session, login=MAIL_BRIDGE_LOGIN, full_name="Почтовый робот", role="admin", active=False
        )
    return user


def set_as_bridge(session: Session, bridge: User, item: Record, **values: Any) -> None:
    """Change fields of ``item`` as the bridge, as ``crm.records.update`` would (version, audit).

    Plain assignment, not the record service: the bridge reports what happened to a
    letter even when, say, its responsible has been disabled since it was written.
    The session hook enters the change in the change log.
    """
    changed = False
    for name, value in values.items():
        if getattr(item, name) != value:
            setattr(item, name, value)
            changed = True
    if changed:
        item.version += 1
        item.updated_at = utcnow()
        item.updated_by = bridge.id
        session.add(item)
        session.flush()


def _participants(letter: Letter) -> list[dict[str, str]]:
    """From, To, Cc and Bcc as crm.rules takes them: a malformed address is left out, not the letter."""
    out = []
    for role, addresses in (
        ("from", letter.from_),
        ("to", letter.to),
        ("cc", letter.cc),
        ("bcc", letter.bcc),
    ):
        for item in addresses:
            address = _normalized(item.address)
            if address is None:
                continue
            out.append(
                {"role": role, "name": " ".join(item.name.split())[:200], "address": address}
            )
    return out[:100]


@functools.lru_cache(maxsize=4096)
def _normalized(address: str) -> str | None:
    """``normalize_email``, None for a malformed address; kept: the same addresses come back."""
    try:
        return normalize_email(address)
    except ValueError:
        return None


def _responsible(
    session: Session,
    counterparty_id: str,
    owner_id: str | None,
    cache: dict[Any, Any],
    memo: access.Memo,
) -> str | None:
    """The mailbox's owner for a personal box if they see the client, else the counterparty's
    owner (if active). A colleague's client writing to a salesperson's own box is filed under its
    owner: the rules refuse a responsible person who cannot see the counterparty, and such a
    letter would otherwise never be filed, nor settled from review.

    ``cache`` holds the records looked at for the rest of the batch: the session's identity
    map keeps objects only while someone refers to them, and the rules look them up again.
    """
    counterparty = _cached(session, cache, Counterparty, counterparty_id)
    for candidate in (owner_id, counterparty.owner_id if counterparty else None):
        if candidate:
            user = _cached(session, cache, User, candidate)
            if (
                user is not None
                and user.is_active
                and access.can_read_counterparty(session, user, counterparty_id, memo)
            ):
                return candidate
    return None


def prefetch(
    session: Session, cache: dict[Any, Any], counterparty_ids: set[str], people: list[str | None]
) -> None:
    """Load what filing a batch under ``counterparty_ids`` will ask in a few queries: the
    counterparties, their owners, and whether each of those owners and of ``people`` (the bridge,
    a personal mailbox's owner) sees each counterparty — instead of a query per counterparty and
    question (:func:`_responsible`, the rules and the access check of ``records.create``)."""
    ids = sorted(cp for cp in counterparty_ids if (Counterparty, cp) not in cache)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found = {
            cp.id: cp
            for cp in session.scalars(select(Counterparty).where(col(Counterparty.id).in_(chunk)))
        }
        cache.update({(Counterparty, cp): found.get(cp) for cp in chunk})
    everyone = {person for person in people if person}
    everyone.update(
        cp.owner_id
        for key, cp in cache.items()
        if isinstance(key, tuple) and key[0] is Counterparty and cp is not None and cp.owner_id
    )
    memo = cache.setdefault("access memo", access.Memo())
    for person in sorted(everyone):
        user = _cached(session, cache, User, person)
        if user is not None and counterparty_ids:
            unknown = sorted(
                cp for cp in counterparty_ids if memo.known(user, cp, write=False) is None
            )
            for start in range(0, len(unknown), 500):
                memo.prefetch(session, user, set(unknown[start : start + 500]), write=False)


def _cached(session: Session, cache: dict[Any, Any], model: Any, record_id: str | None) -> Any:
    if record_id is None:
        return None
    key = (model, record_id)
    if key not in cache:
        cache[key] = session.get(model, record_id)
    return cache[key]


def file_letter(
    session: Session,
    bridge: User,
    letter: Letter,
    match: Match,
    *,
    outgoing: bool,
    blobs: BlobStore,
    mailbox_owner_id: str | None = None,
    rule: str | None = None,
    cache: dict[Any, Any] | None = None,
) -> Any:
    """Create the letter's interaction from ``match`` (which must name a counterparty)."""
    assert match.counterparty_id is not None
    cache = {} if cache is None else cache
    _cached(session, cache, ContactPerson, match.contact_person_id)
    attachments = []
    for item in letter.attachments:
        entry: dict[str, Any] = {
            "filename": item.filename,
            "content_type": item.content_type,
            "size": item.size,
            "omitted": item.omitted,
        }
        if not item.omitted:
            entry["sha256"] = blobs.put(item.data)
        if item.content_id:
            entry["content_id"] = item.content_id
        attachments.append(entry)
    text = letter.text[:MAX_TEXT]
    if letter.problems:
        text += (
            "\n\n— Satchel: письмо прочитано не полностью / the letter was partly unreadable: "
            + "; ".join(letter.problems[:10])
        )
    # The access memo lives as long as the cache: one check per counterparty per batch.
    memo = cache.setdefault("access memo", access.Memo())
    data = {
        "counterparty_id": match.counterparty_id,
        "contact_person_id": match.contact_person_id,
        "responsible_id": _responsible(
            session, match.counterparty_id, mailbox_owner_id, cache, memo
        ),
        "kind": "letter",
        "direction": "outgoing" if outgoing else "incoming",
        "status": "done",
        "subject": (letter.subject or "")[:MAX_SUBJECT],
        "notes": text,
        "starts_at": letter.date or utcnow(),
        "participants": _participants(letter),
    }
    interaction = records.create(
        session, bridge, records.record_type("interactions"), data, batched=True, memo=memo
    )
    interaction.message_id = letter.message_id
    # Provisional: mail.threads places the letter once it is remembered (and may move others).
    interaction.thread_id = match.thread_id or letter.message_id
    interaction.body_html = sanitize_html(letter.html) if letter.html else None
    interaction.attachments = attachments
    interaction.mail_rule = rule or match.rule
    return interaction


def remember(
    session: Session,
    letter: Letter,
    *,
    kind: str,
    reason: str = "",
    interaction_id: str | None = None,
    counterparty_id: str | None = None,
    thread_id: str | None = None,
    review_id: str | None = None,
    mailbox_id: str | None = None,
    folder: str | None = None,
    uid: int | None = None,
) -> MailMessage:
    """Note the letter as seen, under its identity; the next copy of it anywhere is a duplicate."""
    row = construct(
        MailMessage,
        key=letter.dedup_key[:500],
        kind=kind,
        reason=reason[:500],
        interaction_id=interaction_id,
        counterparty_id=counterparty_id,
        thread_id=thread_id,
        review_id=review_id,
        mailbox_id=mailbox_id,
        folder=folder,
        uid=uid,
    )
    session.add(row)
    return row


def send_to_review(
    session: Session,
    letter: Letter,
    raw: bytes,
    match: Match,
    *,
    blobs: BlobStore,
    mailbox_id: str,
    folder: str,
    reason: str | None = None,
    detail: str | None = None,
) -> MailReview:
    sender = letter.from_[0] if letter.from_ else None
    review = MailReview(
        key=letter.dedup_key[:500],
        mailbox_id=mailbox_id,
        folder=folder[:500],
        subject=(letter.subject or "")[:500],
        sender=(
            f"{sender.name} <{sender.address}>"
            if sender and sender.name
            else sender.address
            if sender
            else ""
        )[:500],
        received_at=letter.date,
        reason=reason or match.review_reason or "no_match",
        detail=(detail if detail is not None else match.detail)[:2000],
        candidates=list(match.candidates),
        raw_sha256=blobs.put(raw),
    )
    session.add(review)
    return review


class Suggestions:
    """ "Add as a contact person?" for unknown external addresses on filed letters, written once per batch."""

    def __init__(self) -> None:
        self.seen: dict[
            tuple[str, str], list[Any]
        ] = {}  # (address, counterparty) → [name, interaction, letters]

    def add(
        self,
        counterparty_id: str,
        letter: Letter,
        addresses: tuple[str, ...],
        interaction_id: str | None,
    ) -> None:
        names = {a.address: a.name for a in letter.participants}
        for address in addresses[:20]:
            entry = self.seen.setdefault(
                (address[:254], counterparty_id), [(names.get(address) or "")[:300], None, 0]
            )
            entry[1] = interaction_id
            entry[2] += 1

    def write(self, session: Session) -> None:
        if not self.seen:
            return
        addresses = {address for address, _cp in self.seen}
        existing = {
            (row.address, row.counterparty_id): row
            for row in session.execute(
                select(MailSuggestion).where(col(MailSuggestion.address).in_(addresses))
            ).scalars()
        }
        for (address, counterparty_id), (name, interaction_id, letters) in self.seen.items():
            row = existing.get((address, counterparty_id))
            if row is None:
                session.add(
                    construct(
                        MailSuggestion,
                        address=address,
                        name=name,
                        counterparty_id=counterparty_id,
                        interaction_id=interaction_id,
                        letters=letters,
                    )
                )
            else:
                row.letters += letters
                row.interaction_id = interaction_id
        self.seen = {}


def repoint_counterparty(session: Session, absorbed_id: str, survivor_id: str) -> int:
    """The bridge's own rows of a counterparty merged into another (``crm.merge``) follow it: the
    index of filed letters (their threads and the thread rule go on under the survivor), the
    address suggestions (one per address: the survivor's, with the letters counted together)
    and the candidates of letters waiting in review. How many rows changed."""
    result: Any = session.execute(
        update(MailMessage)
        .where(col(MailMessage.counterparty_id) == absorbed_id)
        .values(counterparty_id=survivor_id)
    )
    changed = int(result.rowcount or 0)
    theirs = {
        s.address: s
        for s in session.execute(
            select(MailSuggestion).where(col(MailSuggestion.counterparty_id) == survivor_id)
        ).scalars()
    }
    for suggestion in session.execute(
        select(MailSuggestion).where(col(MailSuggestion.counterparty_id) == absorbed_id)
    ).scalars():
        kept = theirs.get(suggestion.address)
        if kept is None:
            suggestion.counterparty_id = survivor_id
        else:
            kept.letters += suggestion.letters
            session.delete(suggestion)
        changed += 1
    for review in session.execute(
        select(MailReview).where(col(MailReview.status) == "open")
    ).scalars():
        if absorbed_id in review.candidates:
            review.candidates = list(
                dict.fromkeys(survivor_id if c == absorbed_id else c for c in review.candidates)
            )
            changed += 1
    session.flush()
    return changed
