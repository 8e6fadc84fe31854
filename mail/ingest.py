"""Reading mailboxes: every new letter of every folder, once, into the right history.

Per (mailbox, folder) the bridge keeps UIDVALIDITY, the last UID read and, where
the server offers CONDSTORE, HIGHESTMODSEQ (:class:`mail.models.MailFolder`).
A run of one folder:

1. ``EXAMINE`` the folder (read-only: flags never change) and compare UIDVALIDITY.
   A new UIDVALIDITY (the folder was recreated or the server rebuilt its index)
   starts the folder again from UID 1; the letters already filed are recognised by
   their identity and counted as duplicates — nothing imported twice, nothing lost.
   When UIDNEXT (and HIGHESTMODSEQ) say nothing arrived, the folder costs one command.
2. ``UID SEARCH`` for UIDs above the cursor, ``UID FETCH RFC822.SIZE`` for their
   sizes, then ``UID FETCH BODY.PEEK[]`` in batches of at most ``batch_bytes``
   (one letter over that is a batch of its own) — memory stays bounded whatever the
   mailbox holds, and ``\\Seen`` is never touched. The next batch is fetched (in a
   thread, the only user of the connection meanwhile) while one is parsed and filed;
   a folder's last batch is parsed and filed once the next folder's first batch (with
   :meth:`Ingest.run_many`, the next mailbox's) has been asked for.
3. Each letter: decode (never raises), skip it when its identity (normalised
   Message-ID, else a fingerprint) is known — the same letter in INBOX, Sent, All
   Mail or another mailbox is one record —, classify (bounce, auto-reply, list,
   internal, private are counted, not filed; a bounce marks the letter it returns and its
   address, :mod:`mail.bounces`), match (:mod:`mail.matching`), then
   file it or put it in the review queue. A batch is written in one flush; should a
   letter fail in a way nobody foresaw, the batch is filed again letter by letter in
   savepoints and that letter goes to review with the error; the run goes on.
4. The batch's letters, the folder's counters and its new cursor are committed
   together: the cursor moves only with the letters it covers. A connection lost
   mid-batch (server restarted, timeout) leaves the cursor where it was; the next
   run fetches those letters again and the identities make that harmless. A batch
   that fails to commit stops its folder for the run: the later batches of that
   folder are not filed, so the cursor never passes a letter that was not.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from imapclient import IMAPClient
from sqlalchemy import select
from sqlmodel import Session, col

from crm import changes
from crm.database import Database
from crm.errors import SatchelError
from crm.models import Interaction, utcnow
from mail import bounces, fetching, filing, leases, threads
from mail.classify import LetterKind, PrivacyRules, classify
from mail.decode import Letter, parse_letter
from mail.imap import Account, FolderInfo, ImapError, connect, find_folders
from mail.invites import InvitationCodec
from mail.matching import Match, Matcher
from mail.models import Mailbox, MailFolder, MailMessage, MailReference, MailReview
from mail.secrets import SecretBox, SecretError

__all__ = ["FolderReport", "Ingest", "MailboxReport"]

log = logging.getLogger(__name__)

BATCH_BYTES = 8 * 1024 * 1024
BATCH_COUNT = 200
_ORDER = {"inbox": 0, "sent": 1, "other": 2, "archive": 3, "all": 4}


@dataclass
class FolderReport:
    folder: str
    role: str
    fetched: int = 0
    filed: int = 0
    duplicates: int = 0
    review: int = 0
    errors: int = 0
    from_review: int = 0  # letters waiting in review filed with the letters they answer
    classified: dict[str, int] = field(default_factory=dict)
    uidvalidity_reset: bool = False


@dataclass
class MailboxReport:
    mailbox: str
    folders: list[FolderReport] = field(default_factory=list)
    error: str | None = None
    # Another worker holds the mailbox's lease (mail.leases): this run left it to that one, and
    # who that is (its host and process, the lease's end) when it could be read.
    skipped: bool = False
    held_by: str | None = None

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.folders)


Progress = Callable[[str, int, int], None]  # (folder, letters done, letters to do)


def reads(mailbox: Mailbox, folder: FolderInfo) -> bool:
    """Whether the bridge reads ``folder`` of ``mailbox``: the folders it names (in any case), or
    when it names none, every folder but Junk, Trash and Drafts (a Gmail-like All Mail included:
    its letters are known by their Message-ID and filed once)."""
    if mailbox.folders:
        return folder.name.casefold() in {name.casefold() for name in mailbox.folders}
    return folder.readable


class Ingest:
    """Reads mailboxes into ``database``. One instance may run many mailboxes, one at a time.

    An instance is one run over mailboxes and folders: the parse workers, where a folder is
    large enough to start them, are started once and kept until :meth:`close` (or the end
    of a ``with`` block), not once per folder.
    """

    def __init__(
        self,
        database: Database,
        *,
        secrets: SecretBox,
        company_domains: list[str],
        blobs: filing.BlobStore,
        max_attachment_bytes: int,
        timeout: float = 30.0,
        batch_bytes: int = BATCH_BYTES,
        batch_count: int = BATCH_COUNT,
        progress: Progress | None = None,
        after_batch: Callable[[str, int], None] | None = None,
        invitations: InvitationCodec | None = None,
        worker: leases.Worker | None = None,
    ) -> None:
        self.db = database
        # Who this process is among the workers sharing the mailboxes (None: no leases, a test's
        # or a one-off import's sole reader).
        self.worker = worker
        self.secrets = secrets
        self.company_domains = [d.lower() for d in company_domains]
        self.blobs = blobs
        self.max_attachment_bytes = max_attachment_bytes
        self.timeout = timeout
        self.batch_bytes = batch_bytes
        self.batch_count = batch_count
        self.progress = progress
        self.after_batch = after_batch  # test hook: called after each committed batch
        self.invitations = invitations
        self.parser = _Parser()

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the parse workers, if any were started; the instance may run again (they start anew)."""
        self.parser.close()

    # -- a mailbox

    def run(self, mailbox_id: str) -> MailboxReport:
        """Read every folder of one mailbox. IMAP trouble ends the run with ``error`` set; what was
        committed stays committed."""
        return self.run_many([mailbox_id])[0]

    def run_many(self, mailbox_ids: Iterable[str]) -> list[MailboxReport]:
        """Read the mailboxes one after another, as :meth:`run` reads one; their reports.

        A mailbox's last batch is filed after the next mailbox's first batch is asked for (as
        between the folders of one mailbox), so that fetch overlaps it; every report is complete
        and every batch fetched is filed (or has failed) when this returns.
        """
        pending: deque[_Pending] = deque()  # fetched, not filed yet, oldest first
        done: list[tuple[str, MailboxReport]] = []
        held: list[str] = []  # the leases taken, let go once every batch is filed
        try:
            for mailbox_id in mailbox_ids:
                with self.db.read() as session:
                    mailbox = session.get_one(Mailbox, mailbox_id)
                report = MailboxReport(mailbox.name)
                if self.worker is not None:
                    name = leases.mailbox_lease(mailbox_id)
                    if self.worker.acquire(self.db, name) is None:
                        report.skipped = True  # another worker reads it now
                        report.held_by = leases.holder(self.db, name)
                        done.append((mailbox_id, report))
                        continue
                    held.append(name)
                done.append((mailbox_id, report))
                self._guarded(report, partial(self._run, mailbox, report, pending))
            self._drain(pending)  # the last mailbox's last batches
        finally:
            pending.clear()  # after an interruption: not filed, so their cursors did not move
            self.blobs.close()
            for name in held:
                if self.worker is not None:
                    self.worker.release(self.db, name)
        for mailbox_id, report in done:
            if report.skipped:
                continue  # its worker keeps its status
            with self.db.write() as session:
                row = session.get_one(Mailbox, mailbox_id)
                row.last_run_at = utcnow()
                row.last_error = report.error
        return [report for _id, report in done]

    @staticmethod
    def _guarded(report: MailboxReport, work: Callable[[], None]) -> None:
        """Run ``work``; IMAP trouble or a failure nobody foresaw is recorded in ``report``."""
        try:
            work()
        except (ImapError, SecretError) as exc:  # the mailbox's own trouble: its message says it
            report.error = report.error or _describe(exc)
        except Exception as exc:  # noqa: BLE001 - recorded and shown in the status; the worker goes on
            log.exception("mail run of %s failed", report.mailbox)
            report.error = report.error or _describe(exc)

    def _run(self, mailbox: Mailbox, report: MailboxReport, pending: deque[_Pending]) -> None:
        with connect(mailbox, self.secrets, timeout=self.timeout) as client:
            capabilities = {
                c.decode().upper() if isinstance(c, bytes) else c.upper()
                for c in client.capabilities()
            }
            if "CONDSTORE" in capabilities:
                client.enable("CONDSTORE")
            # Batches fetched and being parsed, oldest first, across the mailbox's folders (and
            # mailboxes): the oldest is filed while the next ones parse, and the next folder's first
            # batches are fetched while the last ones of the folder before are still parsing.
            try:
                for info in self.folders(mailbox, client):
                    report.folders.append(self._folder(mailbox, report, client, info, pending))
            except BaseException:
                # What was fetched before the connection went is still filed.
                self._drain(pending, report)
                raise

    def folders(self, mailbox: Mailbox, client: IMAPClient) -> list[FolderInfo]:
        chosen = [f for f in find_folders(client) if reads(mailbox, f)]
        return sorted(chosen, key=lambda f: (_ORDER.get(f.role, 2), f.name))

    # -- a folder

    def _folder_row(self, session: Session, mailbox_id: str, info: FolderInfo) -> MailFolder:
        row = session.execute(
            select(MailFolder).where(
                col(MailFolder.mailbox_id) == mailbox_id, col(MailFolder.name) == info.name
            )
        ).scalar_one_or_none()
        if row is None:
            row = MailFolder(mailbox_id=mailbox_id, name=info.name, role=info.role)
            session.add(row)
            session.flush()
        return row

    def _folder(
        self,
        mailbox: Mailbox,
        mailbox_report: MailboxReport,
        client: IMAPClient,
        info: FolderInfo,
        pending: deque[_Pending],
    ) -> FolderReport:
        report = FolderReport(info.name, info.role)
        selected = client.select_folder(info.name, readonly=True)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        uidnext = int(selected[b"UIDNEXT"]) if b"UIDNEXT" in selected else None
        modseq = int(selected[b"HIGHESTMODSEQ"]) if b"HIGHESTMODSEQ" in selected else None
        with self.db.write() as session:
            row = self._folder_row(session, mailbox.id, info)
            row.role = info.role
            if row.uidvalidity is not None and row.uidvalidity != uidvalidity:
                log.warning(
                    "UIDVALIDITY of %s/%s changed (%s → %s): reading it again, known letters are skipped",
                    mailbox.name,
                    info.name,
                    row.uidvalidity,
                    uidvalidity,
                )
                row.last_uid, row.highestmodseq = 0, None
                row.uidvalidity_resets += 1
                report.uidvalidity_reset = True
            row.uidvalidity = uidvalidity
            row.last_run_at = utcnow()
            folder_id, last_uid, known_modseq = row.id, row.last_uid, row.highestmodseq
        if (
            uidnext is not None
            and uidnext <= last_uid + 1
            and (modseq is None or modseq == known_modseq)
        ):
            return report  # nothing arrived
        uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)
        if not uids:
            self._set_modseq(folder_id, modseq)
            return report
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), 1000):
            fetched = client.fetch(uids[start : start + 1000], ["RFC822.SIZE"])
            sizes.update({uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in fetched.items()})
        parser = self.parser
        parser.prepare(len(uids))
        folder = _Folder(mailbox, info, folder_id, uids, modseq, report, mailbox_report)
        batches = self._batches(uids, sizes)
        if parser.pool is not None:
            # The workers fetch (each its share of a batch, on its own connection) and parse; this
            # process files the oldest batch while the next ones are under way.
            account = Account.of(mailbox, self.secrets, timeout=self.timeout)
            for batch in batches:
                while len(pending) > parser.depth:
                    self._commit(pending.popleft(), mailbox_report)
                fetched = parser.fetch(
                    account, info.name, uidvalidity, batch, self.max_attachment_bytes
                )
                pending.append(_Pending(folder, batch, fetched))
            return report
        # The next batch is fetched in a thread while this one is parsed and filed: the server's
        # work and the transfer overlap ours. Only that thread uses the connection meanwhile.
        # A folder's last batch is filed after the next folder's first batch is asked for, so
        # that fetch overlaps it too (its letters are parsed only then when parsed in-process).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as fetcher:
            ahead: Future[Any] | None = fetcher.submit(client.fetch, batches[0], ["BODY.PEEK[]"])
            try:
                while len(pending) > parser.depth:
                    self._commit(pending.popleft(), mailbox_report)
                for at, batch in enumerate(batches):
                    assert ahead is not None
                    data = ahead.result()
                    ahead = (
                        fetcher.submit(client.fetch, batches[at + 1], ["BODY.PEEK[]"])
                        if at + 1 < len(batches)
                        else None
                    )
                    raws = [
                        (uid, bytes(data[uid][b"BODY[]"]))
                        for uid in batch
                        if uid in data and data[uid].get(b"BODY[]") is not None
                    ]  # expunged meanwhile: gone
                    pending.append(
                        _Pending(folder, batch, parser.submit(raws, self.max_attachment_bytes))
                    )
                    # The folder's last batch waits for the next folder's first fetch (or the end).
                    while len(pending) > parser.depth + (ahead is None):
                        self._commit(pending.popleft(), mailbox_report)
            finally:
                if ahead is not None:  # something failed: the connection is left alone from here
                    ahead.cancel()
                    wait([ahead])
        return report

    def _drain(self, pending: deque[_Pending], current: MailboxReport | None = None) -> None:
        while pending:
            self._commit(pending.popleft(), current)

    def _commit(self, pending: _Pending, current: MailboxReport | None = None) -> None:
        """File one fetched batch and move its folder's cursor past it, in one transaction.

        A batch that fails stops its folder: the later batches of that folder are not filed, so
        the cursor never moves past letters that were not. The failure is recorded in the report
        of the batch's mailbox, and raised only when that is ``current``, the mailbox being read."""
        folder_ = pending.folder
        if folder_.failed:
            return
        try:
            self._file_and_move(pending)
        except BaseException as exc:
            folder_.failed = True
            report = folder_.mailbox_report  # the batch may be another mailbox's (see run_many)
            report.error = report.error or _describe(exc)
            if report is current or not isinstance(exc, Exception):
                raise
            # A mailbox read before (see run_many): its report says so; this one's run goes on.
            log.exception("mail run of %s failed", report.mailbox)

    def _file_and_move(self, pending: _Pending) -> None:
        folder_ = pending.folder
        mailbox, info, folder_id, uids, modseq, report = (
            folder_.mailbox,
            folder_.info,
            folder_.folder_id,
            folder_.uids,
            folder_.modseq,
            folder_.report,
        )
        batch = pending.batch
        letters = pending.parsed.result()
        with self.db.write() as session:
            if self.worker is not None:
                # Filed only while this worker holds the mailbox (LeaseLost rolls the batch back).
                self.worker.renew(session, leases.mailbox_lease(mailbox.id))
            with changes.holding(session):  # the change log of the batch's flush and moves at once
                outcomes, answered = self.file(session, mailbox, info.name, letters)
            report.from_review += answered
            folder = session.get_one(MailFolder, folder_id)
            counts = dict(folder.counts)
            for outcome in outcomes:
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome in ("filed", "duplicates", "review", "errors"):
                    setattr(report, outcome, getattr(report, outcome) + 1)
                else:
                    report.classified[outcome] = report.classified.get(outcome, 0) + 1
            report.fetched += len(outcomes)
            folder.counts = counts
            folder.last_uid = max(batch)
            folder.last_error = None
            if batch[-1] == uids[-1]:
                folder.highestmodseq = modseq
            self.blobs.sync()  # the files the batch refers to are on disk before it commits
        folder_.done += len(batch)
        if self.progress:
            self.progress(info.name, folder_.done, len(uids))
        if self.after_batch:
            self.after_batch(info.name, folder_.done)

    def _file_answered(self, session: Session, keys: list[str]) -> int:
        """File the letters waiting in review that answer letters just filed (``keys``), and those
        that answer them in turn, by the thread rule; how many were filed.

        A client's reply read before the letter it answers (INBOX is read before Sent), from an
        address nobody knows yet, waits in review only until that letter is filed."""
        filed = 0
        suggestions = filing.Suggestions()  # its unknown senders, as for any letter filed
        for _round in range(20):  # a chain of answers, each waiting on the one before
            if not keys:
                break
            waiting = list(
                session.execute(
                    select(MailReview)
                    .where(
                        col(MailReview.status) == "open",
                        col(MailReview.key).in_(
                            select(col(MailReference.message_key)).where(
                                col(MailReference.referenced).in_(keys)
                            )
                        ),
                    )
                    .order_by(col(MailReview.received_at), col(MailReview.key))
                ).scalars()
            )
            keys = []
            for review in waiting:
                # Each in a savepoint of its own: a waiting letter the rules refuse to file keeps
                # waiting, and never stops the batch (nor, batch after batch, its folder).
                try:
                    with session.begin_nested():
                        match, answer = file_waiting(
                            session,
                            self.blobs,
                            review,
                            lambda matcher, letter, address, _known: matcher.match(letter, address),
                            company_domains=self.company_domains,
                            max_attachment_bytes=self.max_attachment_bytes,
                        )
                except SatchelError as exc:
                    log.warning("a letter waiting in review was not filed with its thread: %s", exc)
                    continue
                if match.counterparty_id is not None:
                    filed += 1
                    keys.append(review.key)
                    if match.unknown:
                        suggestions.add(
                            match.counterparty_id, answer, match.unknown, review.interaction_id
                        )
        suggestions.write(session)
        return filed

    def _set_modseq(self, folder_id: str, modseq: int | None) -> None:
        with self.db.write() as session:
            session.get_one(MailFolder, folder_id).highestmodseq = modseq

    def _batches(self, uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
        return batches(uids, sizes, max_bytes=self.batch_bytes, max_count=self.batch_count)

    # -- letters

    def file(
        self,
        session: Session,
        mailbox: Mailbox,
        folder: str,
        letters: list[tuple[int, bytes, Letter]],
    ) -> tuple[list[str], int]:
        """File a batch's letters: one outcome per letter, and how many letters waiting in review
        were filed with the letters they answer."""
        outcomes = self._file_batch(session, mailbox, folder, letters)
        filed = [
            letter.dedup_key[:500]
            for (_uid, _raw, letter), outcome in zip(letters, outcomes, strict=True)
            if outcome == "filed"
        ]
        return outcomes, self._file_answered(session, filed)

    def _file_batch(
        self,
        session: Session,
        mailbox: Mailbox,
        folder: str,
        letters: list[tuple[int, bytes, Letter]],
    ) -> list[str]:
        """File a batch's letters; one outcome (the counter it adds to) per letter.

        The fast way writes the whole batch in one flush. Should any letter fail in a way
        nobody foresaw, the batch is rolled back and filed again letter by letter, each in
        a savepoint, the failing ones going to review with the error.
        """
        try:
            with session.no_autoflush:
                outcomes = self._file_letters(session, mailbox, folder, letters, careful=False)
            session.flush()
            return outcomes
        except (ImapError, OSError):
            raise
        except Exception:  # noqa: BLE001 - redone carefully below; that run records the error
            log.info(
                "a letter of a batch in %s/%s failed; filing that batch letter by letter",
                mailbox.name,
                folder,
            )
            session.rollback()  # files written meanwhile stay on the list to sync: the careful run reuses them
            return self._file_letters(session, mailbox, folder, letters, careful=True)

    def _file_letters(
        self,
        session: Session,
        mailbox: Mailbox,
        folder: str,
        letters: list[tuple[int, bytes, Letter]],
        *,
        careful: bool,
    ) -> list[str]:
        bridge = filing.bridge_user(session)
        matcher = Matcher(session, [*self.company_domains, mailbox.address.rpartition("@")[2]])
        privacy = PrivacyRules.of(
            mailbox.private_addresses, mailbox.private_domains, mailbox.private_folders
        )
        matcher.prefetch((letter for _uid, _raw, letter in letters), mailbox.address)
        matcher.threads.expect(letter for _uid, _raw, letter in letters)
        filing.prefetch(
            session,
            matcher.cache,
            matcher.candidates(),
            [bridge.id, mailbox.owner_id if mailbox.kind == "personal" else None],
        )
        keys = list({letter.dedup_key[:500] for _uid, _raw, letter in letters})
        known = (
            set(
                session.execute(
                    select(col(MailMessage.key)).where(col(MailMessage.key).in_(keys))
                ).scalars()
            )
            if keys
            else set()
        )
        suggestions = filing.Suggestions()
        outcomes = []
        for uid, raw, letter in letters:
            key = letter.dedup_key[:500]
            if key in known:
                outcomes.append("duplicates")
                continue
            known.add(key)
            args = (
                session,
                bridge,
                matcher,
                privacy,
                mailbox,
                folder,
                uid,
                raw,
                letter,
                suggestions,
            )
            if not careful:
                outcomes.append(self._letter(*args))
                continue
            try:
                with session.begin_nested():
                    outcomes.append(self._letter(*args))
            except (ImapError, OSError):
                raise
            except Exception as exc:  # noqa: BLE001 - one letter must not stop the run; it waits in review
                log.warning(
                    "letter %s in %s/%s could not be filed: %s", uid, mailbox.name, folder, exc
                )
                with session.begin_nested():
                    where: dict[str, Any] = {
                        "mailbox_id": mailbox.id,
                        "folder": folder[:500],
                        "uid": uid,
                    }
                    review = filing.send_to_review(
                        session,
                        letter,
                        raw,
                        Match("review"),
                        blobs=self.blobs,
                        mailbox_id=mailbox.id,
                        folder=folder,
                        reason="error",
                        detail=f"{type(exc).__name__}: {exc}",
                    )
                    filing.remember(
                        session,
                        letter,
                        kind="business",
                        reason="error",
                        review_id=review.id,
                        **where,
                    )
                outcomes.append("errors")
        suggestions.write(session)
        return outcomes

    def _calendar_replies(self, session: Session, bridge: Any, letter: Any) -> str | None:
        """Apply the iTIP REPLYs a letter carries to the attendees of our meetings; what was done, or None.

        Replies to meetings Satchel did not send are left to the rest of the pipeline.
        """
        calendar = self.invitations
        parts = [
            a
            for a in letter.attachments
            if a.content_type in ("text/calendar", "application/ics") and a.data
        ]
        if calendar is None or not parts:
            return None
        done = []
        for part in parts:
            for reply in calendar.parse_reply(part.data, None):
                interaction_id = calendar.interaction_id_from_uid(reply.uid)
                meeting = session.get(Interaction, interaction_id) if interaction_id else None
                if meeting is None or meeting.kind != "meeting":
                    continue
                people = [dict(p) for p in meeting.participants or []]
                hit = [
                    p
                    for p in people
                    if p.get("role") == "attendee" and p.get("address") == reply.attendee
                ]
                if not hit:
                    continue
                for person in hit:
                    person["status"] = reply.partstat
                filing.set_as_bridge(session, bridge, meeting, participants=people)
                done.append(f"{reply.attendee}: {reply.partstat}")
        return "; ".join(done) or None

    def _letter(
        self,
        session: Session,
        bridge: Any,
        matcher: Matcher,
        privacy: PrivacyRules,
        mailbox: Mailbox,
        folder: str,
        uid: int,
        raw: bytes,
        letter: Letter,
        suggestions: filing.Suggestions,
    ) -> str:
        """File one letter; the name of the counter it adds to."""
        where: dict[str, Any] = {"mailbox_id": mailbox.id, "folder": folder[:500], "uid": uid}
        answered = self._calendar_replies(session, bridge, letter)
        if answered:
            filing.remember(session, letter, kind="calendar_reply", reason=answered, **where)
            return "calendar_reply"
        verdict = classify(
            letter,
            company_domains=matcher.company_domains,
            privacy=privacy,
            folder=folder,
            owner=mailbox.address,
        )
        if not verdict.is_filed:
            reason = verdict.reason
            if verdict.kind is LetterKind.BOUNCE:  # one of our letters may have come back
                reason = f"{reason}; {bounces.apply(session, bridge, letter)}"[:500]
            filing.remember(session, letter, kind=verdict.kind.value, reason=reason, **where)
            return verdict.kind.value
        match = matcher.match(letter, mailbox.address)
        if match.counterparty_id is None:
            review = filing.send_to_review(
                session, letter, raw, match, blobs=self.blobs, mailbox_id=mailbox.id, folder=folder
            )
            row = filing.remember(
                session,
                letter,
                kind="business",
                reason=match.detail,
                review_id=review.id,
                thread_id=match.thread_id,
                **where,
            )
            # What it answers may be read later (INBOX comes before Sent): then it is filed with it.
            threads.note_references(session, row, letter)
            return "review"
        interaction = filing.file_letter(
            session,
            bridge,
            letter,
            match,
            outgoing=matcher.is_outgoing(letter, mailbox.address),
            blobs=self.blobs,
            mailbox_owner_id=mailbox.owner_id if mailbox.kind == "personal" else None,
            cache=matcher.cache,
        )
        row = filing.remember(
            session,
            letter,
            kind="business",
            reason=match.detail,
            interaction_id=interaction.id,
            counterparty_id=match.counterparty_id,
            thread_id=interaction.thread_id,
            **where,
        )
        matcher.threads.place(
            letter, row, interaction, bridge
        )  # may move letters filed before to its thread
        matcher.known(letter, match.counterparty_id, interaction.thread_id)
        if match.unknown:
            suggestions.add(match.counterparty_id, letter, match.unknown, interaction.id)
        return "filed"


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ImapError) else f"{type(exc).__name__}: {exc}"


def file_waiting(
    session: Session,
    blobs: filing.BlobStore,
    review: MailReview,
    choose: Callable[[Matcher, Letter, str | None, MailMessage | None], Match],
    *,
    company_domains: list[str],
    max_attachment_bytes: int,
    rule: str | None = None,
) -> tuple[Match, Letter]:
    """File a letter waiting in review under what ``choose(matcher, letter, mailbox address, known)``
    says, when that names a counterparty; the match and the letter."""
    mailbox = session.get(Mailbox, review.mailbox_id)
    address = mailbox.address if mailbox else None
    matcher = Matcher(session, [*company_domains, (address or "").rpartition("@")[2]])
    letter = parse_letter(blobs.get(review.raw_sha256), max_attachment_bytes=max_attachment_bytes)
    known = session.get(MailMessage, review.key)
    match = choose(matcher, letter, address, known)
    if match.counterparty_id is None:
        return match, letter
    interaction = filing.file_letter(
        session,
        filing.bridge_user(session),
        letter,
        match,
        outgoing=matcher.is_outgoing(letter, address),
        blobs=blobs,
        mailbox_owner_id=mailbox.owner_id if mailbox and mailbox.kind == "personal" else None,
        rule=rule,
    )
    session.flush()
    review.status, review.interaction_id, review.settled_at = "filed", interaction.id, utcnow()
    if known is not None:  # replies now thread to it, and it joins the thread of what it answers
        known.interaction_id, known.counterparty_id = interaction.id, match.counterparty_id
        known.reason = match.detail[:500]  # why it is filed now, not why it waited
        matcher.threads.place(letter, known, interaction, filing.bridge_user(session))
    return match, letter


def batches(
    uids: list[int],
    sizes: dict[int, int],
    *,
    max_bytes: int = BATCH_BYTES,
    max_count: int = BATCH_COUNT,
) -> list[list[int]]:
    """UIDs in fetch batches of at most ``max_bytes`` (a larger letter alone) or ``max_count`` letters."""
    out: list[list[int]] = []
    current: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if current and (total + size > max_bytes or len(current) >= max_count):
            out.append(current)
            current, total = [], 0
        current.append(uid)
        total += size
    if current:
        out.append(current)
    return out


# Letters still to read in one folder from which parsing moves to worker processes; once
# started, they serve the rest of the run. A worker costs ~0.16 s to start (it imports
# mail.decode only); parsing costs 1.5-2.6 ms a letter in the main thread, where it competes
# with filing for the GIL. Measured (bench/RESULTS.md "Mail", 2026-12-03, 2-core AMD EPYC,
# alternating runs, each beside its own floor): on the company mix (folders of 30-400 letters)
# workers started at its first folder of 400 took the import from 10.95 to 9.15 s on SQLite
# and from 12.5 to 11.0 s on PostgreSQL (3 runs each, medians); the main thread's CPU fell
# from ~8.5 to ~4.9 s. The 1,000 of before (2026-12-01: no gain then, when filing dominated)
# kept them out of every real first import. Below 200 letters a run is a periodic one: a few
# new letters, where starting processes does not pay.
_PARALLEL_FROM = 200


@dataclass
class _Folder:
    """A folder being read: what filing its batches needs, and how many letters are done."""

    mailbox: Mailbox
    info: FolderInfo
    folder_id: str
    uids: list[int]
    modseq: int | None
    report: FolderReport
    mailbox_report: MailboxReport
    done: int = 0
    failed: bool = False  # a batch failed: the folder's later batches are not filed


class _Pending(NamedTuple):
    """A fetched batch of a folder, parsed or being parsed (or, by the workers, being fetched)."""

    folder: _Folder
    batch: list[int]
    parsed: _Parsed | _Fetched


class _Parsed:
    """A batch's letters, parsed in-process or (being parsed) in the workers: ``(uid, raw, Letter)``."""

    def __init__(self, raws: list[tuple[int, bytes]], letters: Iterable[Letter]) -> None:
        self.raws = raws
        self.letters = letters

    def result(self) -> list[tuple[int, bytes, Letter]]:
        return [
            (uid, raw, letter) for (uid, raw), letter in zip(self.raws, self.letters, strict=True)
        ]


class _Fetched:
    """A batch the workers fetch and parse, in parts; a part whose worker stopped is fetched and
    parsed here, on a connection of its own (``mail.fetching.fetch_here``)."""

    def __init__(
        self,
        parser: _Parser,
        parts: list[list[int]],
        futures: list[Future[list[tuple[int, bytes, Letter]]]],
        here: Callable[[list[int]], list[tuple[int, bytes, Letter]]],
    ) -> None:
        self.parser, self.parts, self.futures, self.here = parser, parts, futures, here

    def result(self) -> list[tuple[int, bytes, Letter]]:
        out: list[tuple[int, bytes, Letter]] = []
        for at, part in enumerate(self.parts):
            try:
                if at >= len(self.futures):
                    raise BrokenProcessPool("not sent: the workers had stopped")
                out += self.futures[at].result()
            except BrokenProcessPool:
                if not self.parser.failed:  # said once a run
                    self.parser._broken()
                out += self.here(part)
        return out


def usable_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may really use: those it may run on (a container's ``--cpuset-cpus``,
    ``taskset``), fewer where a cgroup's CPU quota (a container's ``--cpus``, systemd's
    ``CPUQuota=``) allows less; ``os.cpu_count()`` counts the host's. A quota of 1.5 cores counts
    as one: a second parse worker would only wait for it."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores or 1, int(quota) // int(period))
    except (OSError, ValueError):
        pass  # no cgroup v2 here, or not readable: the cores it may run on
    return max(1, cores or 1)


class _Parser:
    """Parses fetched batches; in worker processes (one per core, at most 4) once a folder with
    ``_PARALLEL_FROM`` letters to read comes up, so that filing a batch overlaps parsing the next.

    The workers are started with ``spawn`` (never ``fork``: the bridge runs threads and holds
    database connections), at most once per run (:meth:`close` ends them). What they are sent
    is :func:`mail.decode.parse_letter` itself, so a worker imports mail.decode and what it
    needs — not the CRM, the database or this module. Only the parsed letters come back: the
    raw letter stays in this process.
    """

    def __init__(self) -> None:
        self.cores = usable_cores()
        self.pool: ProcessPoolExecutor | None = None
        self.workers = 0
        self.depth = 0  # batches in flight besides the one being filed
        self.started = 0  # pools started so far (tests check the lifetime)
        self.failed = False  # the workers stopped (killed, no semaphores): in-process for the run

    def prepare(self, letters: int) -> None:
        """A folder with ``letters`` to read comes next: start the workers if it is worth it."""
        if self.pool is None and not self.failed and self.cores > 1 and letters >= _PARALLEL_FROM:
            self.workers = min(4, self.cores)
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            self.depth = self.workers
            self.started += 1

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool, self.workers, self.depth = None, 0, 0

    def submit(self, raws: list[tuple[int, bytes]], limit: int) -> _Parsed:
        parse = partial(parse_letter, max_attachment_bytes=limit)
        if self.pool is None or not raws:
            # Parsed when the batch is filed: a batch kept waiting (a folder's last) is parsed
            # while the next fetch is under way.
            return _Parsed(raws, (parse(raw) for _uid, raw in raws))
        chunk = -(-len(raws) // self.workers)
        # Executor.map submits every chunk now; the iterator waits for them when the batch is filed.
        try:
            parsed = self.pool.map(parse, [raw for _uid, raw in raws], chunksize=chunk)
        except BrokenProcessPool:
            self._broken()
            return _Parsed(raws, (parse(raw) for _uid, raw in raws))
        return _Parsed(raws, self._or_here(parsed, raws, parse))

    def fetch(
        self, account: Account, folder: str, uidvalidity: int, uids: list[int], limit: int
    ) -> _Fetched:
        """Have the workers fetch and parse ``uids`` of ``folder``, a share each (see mail.fetching)."""
        here = partial(
            fetching.fetch_here, account, folder, uidvalidity, max_attachment_bytes=limit
        )
        size = -(-len(uids) // max(1, self.workers))
        parts = [uids[at : at + size] for at in range(0, len(uids), size)]
        futures: list[Future[list[tuple[int, bytes, Letter]]]] = []
        try:
            for part in parts:
                if self.pool is None:
                    break
                futures.append(
                    self.pool.submit(
                        fetching.fetch_and_parse, account, folder, uidvalidity, part, limit
                    )
                )
        except BrokenProcessPool:
            pass  # the parts not sent are fetched here (and the workers let go) when the batch is filed
        return _Fetched(self, parts, futures, here)

    def _or_here(
        self, parsed: Iterable[Letter], raws: list[tuple[int, bytes]], parse: Any
    ) -> Iterator[Letter]:
        """The workers' letters; should the workers stop, the rest parsed here (and from then on)."""
        done = 0
        try:
            for letter in parsed:
                done += 1
                yield letter
        except BrokenProcessPool:
            self._broken()
            for _uid, raw in raws[done:]:
                yield parse(raw)

    def _broken(self) -> None:
        log.warning(
            "the mail parse workers stopped; parsing in this process for the rest of the run"
        )
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool, self.workers, self.depth, self.failed = None, 0, 0, True
