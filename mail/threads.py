"""Which conversation a filed letter belongs to, whatever order the letters are read in.

**The rule.** Two filed letters of the *same counterparty* are linked when

1. one names the other in In-Reply-To or References (parent and child);
2. both name the same Message-ID (siblings under a letter Satchel never read);
3. both carry Outlook's ``Thread-Index`` with the same first 22 bytes (the
   conversation's GUID and start time; a reply only appends 5-byte blocks);
4. their topics are equal — the ``Thread-Topic``, else the subject with reply and
   forward prefixes (``Re:``, ``RE: RE:``, ``Re[2]:``, ``Fwd:``, ``FW:``, ``Ответ:``,
   ``Отв:``, ``Пересл:`` …) and tags such as ``[External]`` stripped, case folded —,
   their dates lie at most :data:`TOPIC_WINDOW` apart, and at least one of them is a
   reply by its look only: a reply prefix or a reply Thread-Index but no In-Reply-To
   and no References (Outlook, phones).

A thread is everything linked, directly or through other letters (the connected
component). Letters of different counterparties are never linked, so two clients
writing «Счёт» in the same week stay in two threads; the same id under two
counterparties names two threads.

**The thread id** is the root the thread's earliest letter names (by its Date, then
its identity; letters without a Date count as latest): its first References id, else
its In-Reply-To, else its own identity. For a whole conversation that is the
Message-ID of its first letter, or of the letter it started from when that one was
never read. The id is a function of the set of letters only, so it is the same
whatever order they are read in — folders, mailboxes, runs — and stays put once the
whole conversation is there.

**Joining.** When a letter links to letters of one or more threads (a late parent, a
letter that joins two partial threads), every letter of those threads takes the new
id: ``MailMessage.thread_id`` and ``Interaction.thread_id``, in the same transaction,
by statement for what is written and through the ORM for the batch's own letters, each
interaction's change entered in the change log, so the laptops get it. Placing takes
the company's data version first, which serialises writers that file parts of one
conversation at the same time (mailboxes are read in parallel). What each
letter referenced is kept (:class:`~mail.models.MailReference`) for that. Letters filed
before those records existed are found only by their own Message-ID.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    bindparam,
    case,
    func,
    inspect,
    or_,
    select,
    union_all,
    update,
)
from sqlmodel import Session, col

from crm import changes
from crm.models import Interaction, utcnow
from mail.decode import Letter
from mail.models import MailMessage, MailReference

__all__ = ["TOPIC_WINDOW", "Threads", "conversation_of", "normalise_subject", "root_hint"]

# How far apart a reply by topic only and the letter it answers may be written.
TOPIC_WINDOW = timedelta(days=30)

_CONVERSATION_BYTES = 22  # Thread-Index: 6 bytes of time and a 16-byte GUID; each reply adds 5
_PREFIX = re.compile(
    r"^\s*(?:(?P<reply>re|fwd?|fw|aw|wg|sv|tr|ответ|отв|пересл|переслано)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]"
    r"|\[(?:external|ext|внешн[а-я]*(?: письмо)?|spam|спам)\])\s*",
    re.IGNORECASE,
)


def normalise_subject(subject: str | None) -> tuple[str, bool]:
    """(the topic: prefixes and tags stripped, spaces collapsed, case folded; whether a reply prefix was there)."""
    text = " ".join((subject or "").split())
    replied = False
    while True:
        found = _PREFIX.match(text)
        if found is None or not found.group(0):
            break
        replied = replied or bool(found.group("reply"))
        text = text[found.end() :]
    return text.casefold()[:500], replied


def conversation_of(thread_index: str | None) -> tuple[str | None, bool]:
    """(Outlook's conversation key from a Thread-Index header, in hex; whether the index is a reply's)."""
    if not thread_index:
        return None, False
    data = "".join(thread_index.split())
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None, False
    if len(raw) < _CONVERSATION_BYTES:
        return None, False
    return raw[:_CONVERSATION_BYTES].hex(), len(raw) > _CONVERSATION_BYTES


def root_hint(letter: Letter) -> str:
    """The root a letter names: its first References id, else In-Reply-To, else its own identity."""
    return (letter.references[0] if letter.references else letter.in_reply_to or letter.dedup_key)[
        :500
    ]


Age = tuple[
    bool, Any, str
]  # (no Date, the Date, the identity): the smallest is the earliest letter


def _age(written_at: datetime | None, key: str) -> Age:
    return (written_at is None, written_at or "", key)


# Built once, one statement for every way a letter links (composing a statement and the
# round trip cost more than the database answering it); a way that does not apply gets
# values that match nothing. Looked up by identity, reference or conversation, the
# counterparty is compared in Python: given both, SQLite starts from the counterparty's
# every letter.
_PAIRS = select(col(MailMessage.key), col(MailMessage.thread_id), col(MailMessage.counterparty_id))
_LINKED = union_all(
    _PAIRS.join(MailReference, col(MailReference.message_key) == col(MailMessage.key)).where(
        col(MailReference.referenced).in_(bindparam("named", expanding=True))
    ),
    _PAIRS.where(col(MailMessage.key).in_(bindparam("ids", expanding=True))),
    _PAIRS.where(col(MailMessage.conversation) == bindparam("conversation")),
    _PAIRS.where(
        col(MailMessage.counterparty_id) == bindparam("cp"),
        col(MailMessage.topic) == bindparam("topic"),
        col(MailMessage.written_at).between(bindparam("low"), bindparam("high")),
        or_(bindparam("reply", type_=Boolean), col(MailMessage.topic_reply).is_(True)),
    ),
)
# The same four ways, for a whole batch at once (see Threads.expect); the counterparty, the topic's
# window and the reply condition are then applied in Python, per letter.
_LINK_COLUMNS = (
    col(MailMessage.key),
    col(MailMessage.thread_id),
    col(MailMessage.counterparty_id),
)
_BATCH_REFERENCES = (
    select(*_LINK_COLUMNS, col(MailReference.referenced))
    .join(MailReference, col(MailReference.message_key) == col(MailMessage.key))
    .where(col(MailReference.referenced).in_(bindparam("values", expanding=True)))
)
_BATCH_KEYS = select(*_LINK_COLUMNS).where(
    col(MailMessage.key).in_(bindparam("values", expanding=True))
)
_BATCH_CONVERSATIONS = select(*_LINK_COLUMNS, col(MailMessage.conversation)).where(
    col(MailMessage.conversation).in_(bindparam("values", expanding=True))
)
_BATCH_TOPICS = select(
    *_LINK_COLUMNS,
    col(MailMessage.topic),
    col(MailMessage.written_at),
    col(MailMessage.topic_reply),
).where(
    col(MailMessage.topic).in_(bindparam("values", expanding=True)),
    col(MailMessage.written_at).between(bindparam("low"), bindparam("high")),
)
_CHUNK = 500
# _FIRST for many threads at once: the earliest letter of each (counterparty, thread), in the same order.
_RANKED = (
    select(
        col(MailMessage.counterparty_id),
        col(MailMessage.thread_id),
        col(MailMessage.written_at),
        col(MailMessage.key),
        col(MailMessage.root_hint),
        func.row_number()
        .over(
            partition_by=(col(MailMessage.counterparty_id), col(MailMessage.thread_id)),
            order_by=(
                col(MailMessage.written_at).is_(None),
                col(MailMessage.written_at),
                col(MailMessage.key),
            ),
        )
        .label("rank"),
    )
    .where(col(MailMessage.thread_id).in_(bindparam("threads", expanding=True)))
    .subquery()
)
_FIRSTS = select(
    _RANKED.c.counterparty_id,
    _RANKED.c.thread_id,
    _RANKED.c.written_at,
    _RANKED.c.key,
    _RANKED.c.root_hint,
).where(_RANKED.c.rank == 1)
# A move of what is written (see Threads._move): the interactions of the threads ``gone`` or of their
# letters, but those the session holds, each version raised once a transaction; then the letters.
_GONE_LETTERS = (col(MailMessage.counterparty_id) == bindparam("cp")) & col(
    MailMessage.thread_id
).in_(bindparam("gone", expanding=True))
_MOVE_INTERACTIONS = (
    update(Interaction)
    .where(
        col(Interaction.id).in_(
            union_all(
                select(col(Interaction.id)).where(
                    col(Interaction.counterparty_id) == bindparam("cp"),
                    col(Interaction.thread_id).in_(bindparam("gone", expanding=True)),
                ),
                select(col(MailMessage.interaction_id)).where(_GONE_LETTERS),
            )
        ),
        col(Interaction.id).not_in(bindparam("held", expanding=True)),
        or_(
            col(Interaction.thread_id).is_(None), col(Interaction.thread_id) != bindparam("thread")
        ),
    )
    .values(
        thread_id=bindparam("thread"),
        version=case(
            (
                col(Interaction.id).in_(bindparam("bumped", expanding=True)),
                col(Interaction.version),
            ),
            else_=col(Interaction.version) + 1,
        ),
        updated_at=bindparam("now"),
        updated_by=bindparam("by"),
    )
    .returning(col(Interaction.id), col(Interaction.counterparty_id))
)
_ANSWERED_HELD = select(col(MailMessage.interaction_id)).where(
    col(MailMessage.interaction_id).in_(bindparam("held", expanding=True)), _GONE_LETTERS
)
_MOVE_LETTERS = update(MailMessage).where(_GONE_LETTERS).values(thread_id=bindparam("thread"))

Link = tuple[str, str | None, str | None]  # (key, thread id, counterparty id) of a filed letter


class _Links:
    """What the database held, once the batch's first letter was placed, that links its letters."""

    def __init__(self) -> None:
        self.by_reference: dict[str, list[Link]] = {}
        self.by_key: dict[str, Link] = {}
        self.by_conversation: dict[str, list[Link]] = {}
        self.by_topic: dict[str, list[tuple[Link, datetime, bool]]] = {}

    def move(self, cp: str, gone: set[str], thread_id: str) -> None:
        """The letters of ``cp`` in the threads ``gone`` were moved to ``thread_id`` since the lookup."""

        def moved(link: Link) -> Link:
            return (link[0], thread_id, cp) if link[2] == cp and link[1] in gone else link

        for links in (self.by_reference, self.by_conversation):
            for value, group in links.items():
                links[value] = [moved(link) for link in group]
        self.by_key = {key: moved(link) for key, link in self.by_key.items()}
        for value, dated in self.by_topic.items():
            self.by_topic[value] = [(moved(link), w, r) for link, w, r in dated]


class _Expected(NamedTuple):
    """What a letter of the batch will be looked up by: as ``Threads.place`` computes it."""

    ids: list[str]
    conversation: str | None
    topic: str | None
    written_at: datetime | None


def _lookups(letter: Letter) -> _Expected:
    ids = [mid[:500] for mid in dict.fromkeys(letter.thread_ids)]
    conversation, _reply_index = conversation_of(letter.thread_index)
    topic, _replied = normalise_subject(letter.thread_topic) if letter.thread_topic else ("", False)
    topic = topic or normalise_subject(letter.subject)[0]
    return _Expected(ids, conversation, topic or None, letter.date)


_REFERENCED = select(col(MailReference.referenced)).where(
    col(MailReference.message_key) == bindparam("key")
)
_FIRST = (
    select(col(MailMessage.written_at), col(MailMessage.key), col(MailMessage.root_hint))
    .where(
        col(MailMessage.counterparty_id) == bindparam("cp"),
        col(MailMessage.thread_id) == bindparam("thread"),
    )
    .order_by(
        col(MailMessage.written_at).is_(None), col(MailMessage.written_at), col(MailMessage.key)
    )
    .limit(1)
)


def note_references(session: Session, row: MailMessage, letter: Letter) -> None:
    """Keep what ``letter`` (seen as ``row``) references: the letters it answers find it by them,
    whichever is read first. A letter settled from review has kept them already."""
    ids = [mid[:500] for mid in dict.fromkeys(letter.thread_ids)]
    if not ids:
        return
    known = (
        set(session.execute(_REFERENCED, {"key": row.key}).scalars())
        if not inspect(row).pending
        else set()
    )
    session.add_all(
        MailReference(message_key=row.key, referenced=mid) for mid in ids if mid not in known
    )


class Threads:
    """Places filed letters in threads within one session (one per import batch is fine).

    The common case costs a few index lookups: a letter that joins one thread and is
    not its earliest moves nothing. The rows placed here are kept referenced: the batch
    writes them in one flush at its end, so they are not in the database yet and are
    found here instead. A move changes what is written by statement, at once.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: dict[str, MailMessage] = {}  # rows placed or loaded to move, by key
        self._threads: dict[
            tuple[str, str], dict[str, MailMessage]
        ] = {}  # (cp, thread) → those of its rows
        self._first: dict[
            tuple[str, str], tuple[Age, str]
        ] = {}  # (cp, thread) → its earliest letter, its root
        self._interactions: dict[str, Interaction] = {}
        self._bumped: set[str] = set()
        # Rows placed here, by what other letters find them by.
        self._by_reference: dict[str, list[MailMessage]] = {}
        self._by_conversation: dict[str, list[MailMessage]] = {}
        self._by_topic: dict[tuple[str, str], list[MailMessage]] = {}
        # The batch's letters still to be placed (see ``expect``), and what was looked up for them.
        self._expected: dict[str, _Expected] = {}
        self._links: _Links | None = None
        self._looked_up: dict[str, _Expected] = {}

    def expect(self, letters: Iterable[Letter]) -> None:
        """The letters about to be placed in this session (a batch): what links them to letters filed
        before is then looked up for all of them at once, with the first one placed, instead of one
        query per letter. The lookup comes after the data version is taken, as a letter's own query
        would: what a writer filing at the same time committed before is seen."""
        for letter in letters:
            self._expected[letter.dedup_key[:500]] = _lookups(letter)

    def _look_up(self) -> None:
        """Load what links the expected letters, in a few queries for all of them."""
        expected, self._expected = self._expected, {}
        links = self._links = _Links()
        self._looked_up = expected
        named = list(dict.fromkeys(m for key, e in expected.items() for m in (key, *e.ids)))
        ids = list(dict.fromkeys(m for e in expected.values() for m in e.ids))
        conversations = sorted({e.conversation for e in expected.values() if e.conversation})
        dated = [e for e in expected.values() if e.topic and e.written_at is not None]
        run = self.session.execute
        for start in range(0, len(named), _CHUNK):
            for row in run(_BATCH_REFERENCES, {"values": named[start : start + _CHUNK]}):
                links.by_reference.setdefault(row.referenced, []).append(tuple(row[:3]))
        for start in range(0, len(ids), _CHUNK):
            for row in run(_BATCH_KEYS, {"values": ids[start : start + _CHUNK]}):
                links.by_key[row.key] = tuple(row[:3])
        for start in range(0, len(conversations), _CHUNK):
            for row in run(_BATCH_CONVERSATIONS, {"values": conversations[start : start + _CHUNK]}):
                links.by_conversation.setdefault(row.conversation, []).append(tuple(row[:3]))
        if dated:
            topics = sorted({e.topic for e in dated if e.topic})
            low = min(e.written_at for e in dated if e.written_at) - TOPIC_WINDOW
            high = max(e.written_at for e in dated if e.written_at) + TOPIC_WINDOW
            for start in range(0, len(topics), _CHUNK):
                values = {"values": topics[start : start + _CHUNK], "low": low, "high": high}
                for row in run(_BATCH_TOPICS, values):
                    links.by_topic.setdefault(row.topic, []).append(
                        (tuple(row[:3]), row.written_at, bool(row.topic_reply))
                    )
        # The earliest letter of every thread found (what _first_of would ask of each, one by one).
        found = [link for group in links.by_reference.values() for link in group]
        found += links.by_key.values()
        found += [link for group in links.by_conversation.values() for link in group]
        found += [link for group in links.by_topic.values() for link, _w, _r in group]
        threads = sorted({link[1] for link in found if link[1]})
        for start in range(0, len(threads), _CHUNK):
            chunk = threads[start : start + _CHUNK]
            earliest = {
                (row.counterparty_id, row.thread_id): row
                for row in run(_FIRSTS, {"threads": chunk})
            }
            for cp, thread_id in {(link[2], link[1]) for link in found if link[1] in chunk}:
                if cp is None or (cp, thread_id) in self._first:
                    continue
                first = earliest.get((cp, thread_id))
                self._first[(cp, thread_id)] = (
                    (_age(first.written_at, first.key), first.root_hint or thread_id)
                    if first is not None
                    else ((True, "", thread_id), thread_id)
                )

    def place(
        self, letter: Letter, row: MailMessage, interaction: Interaction | None, bridge: Any
    ) -> str:
        """Put the just-filed ``letter`` (its ``row``, with the counterparty set) into its thread.

        Sets the thread id on ``row`` and ``interaction`` and moves the letters of every
        thread it joins to that id (as ``bridge``). Returns the thread id.
        """
        cp = row.counterparty_id
        assert cp is not None
        # Take the data version (and on PostgreSQL its row lock, held to commit) before looking:
        # a writer filing another part of the conversation at the same time commits first, and
        # what it filed is then seen here — two halves are never placed blind to each other.
        changes.allocate(self.session)
        ids = [mid[:500] for mid in dict.fromkeys(letter.thread_ids)]
        conversation, reply_index = conversation_of(letter.thread_index)
        topic, replied = (
            normalise_subject(letter.thread_topic) if letter.thread_topic else ("", False)
        )
        subject_topic, subject_replied = normalise_subject(letter.subject)
        topic = topic or subject_topic
        row.written_at = letter.date
        row.root_hint = root_hint(letter)
        row.topic = topic or None
        row.topic_reply = bool(topic) and not ids and (replied or subject_replied or reply_index)
        row.conversation = conversation
        note_references(self.session, row, letter)

        old = self._neighbour_threads(row, ids)
        first = min(
            [(_age(row.written_at, row.key), row.root_hint), *(self._first_of(cp, t) for t in old)]
        )
        thread_id = first[1][:500]
        if old - {thread_id}:
            self._move(cp, old, thread_id, bridge)
        row.thread_id = thread_id
        if interaction is not None:
            self._interactions[interaction.id] = interaction
            self._set(interaction, thread_id, bridge)
        for gone in old - {thread_id}:
            self._first.pop((cp, gone), None)
        self._first[(cp, thread_id)] = first
        self._keep(row)
        for mid in ids:
            self._by_reference.setdefault(mid, []).append(row)
        if row.conversation:
            self._by_conversation.setdefault(row.conversation, []).append(row)
        if row.topic:
            self._by_topic.setdefault((cp, row.topic), []).append(row)
        return thread_id

    # -- finding

    def _linked(self, row: MailMessage, ids: list[str]) -> list[Any] | None:
        """What ``_LINKED`` would answer for ``row``, from the batch's lookup; None when the row was
        not looked up (not expected, or expected with other values)."""
        if row.key in self._expected:  # the batch's first letter placed: look them all up
            self._look_up()
        looked_up = self._looked_up.get(row.key)
        links = self._links
        if (
            links is None
            or looked_up is None
            or looked_up != _Expected(ids, row.conversation, row.topic, row.written_at)
        ):
            return None
        found: list[Any] = []
        for mid in (row.key, *ids):
            found += links.by_reference.get(mid, ())
        found += [links.by_key[mid] for mid in ids if mid in links.by_key]
        if row.conversation:
            found += links.by_conversation.get(row.conversation, ())
        if row.topic and row.written_at is not None:
            low, high = row.written_at - TOPIC_WINDOW, row.written_at + TOPIC_WINDOW
            found += [
                link
                for link, written_at, topic_reply in links.by_topic.get(row.topic, ())
                if link[2] == row.counterparty_id
                and low <= written_at <= high
                and (row.topic_reply or topic_reply)
            ]
        return found

    def _neighbour_threads(self, row: MailMessage, ids: list[str]) -> set[str]:
        """The threads of the rows of the same counterparty that ``row`` links to (see the module's rule)."""
        cp = row.counterparty_id or ""
        named = [row.key, *ids]
        found = [r for mid in named for r in self._by_reference.get(mid, ())]
        found += [self._rows[mid] for mid in ids if mid in self._rows]
        if row.conversation:
            found += self._by_conversation.get(row.conversation, [])
        values: dict[str, Any] = {
            "named": named,
            "ids": ids,
            "conversation": row.conversation,
            "cp": cp,
            "topic": None,
            "low": None,
            "high": None,
            "reply": row.topic_reply,
        }
        if row.topic and row.written_at is not None:
            low, high = row.written_at - TOPIC_WINDOW, row.written_at + TOPIC_WINDOW
            values.update(topic=row.topic, low=low, high=high)
            found += [
                r
                for r in self._by_topic.get((cp, row.topic), ())
                if (row.topic_reply or r.topic_reply)
                and r.written_at is not None
                and low <= r.written_at <= high
            ]
        threads = {r.thread_id for r in found if r.key != row.key and r.counterparty_id == cp}
        linked: Sequence[Any] | None = self._linked(row, ids)
        if linked is None:
            linked = self.session.execute(_LINKED, values).all()
        for key, thread_id, counterparty_id in linked:
            if key != row.key and counterparty_id == cp:
                # What this batch moved is not written yet: the row in memory says where it is.
                threads.add(self._rows[key].thread_id if key in self._rows else thread_id)
        threads.discard(None)
        return threads  # type: ignore[return-value]

    def _first_of(self, cp: str, thread_id: str) -> tuple[Age, str]:
        """The earliest letter of a thread, and the root it names."""
        if (cp, thread_id) not in self._first:
            found = self.session.execute(_FIRST, {"cp": cp, "thread": thread_id}).first()
            # A thread only letters of Satchel's outbox (no Date, no root recorded) hold is its own root.
            self._first[(cp, thread_id)] = (
                (_age(found.written_at, found.key), found.root_hint or thread_id)
                if found is not None
                else ((True, "", thread_id), thread_id)
            )
        return self._first[(cp, thread_id)]

    # -- moving

    def _keep(self, row: MailMessage) -> None:
        self._rows[row.key] = row
        self._threads.setdefault((row.counterparty_id or "", row.thread_id or ""), {})[row.key] = (
            row
        )

    def _move(self, cp: str, old: set[str], thread_id: str, bridge: Any) -> None:
        """Every letter of the threads ``old`` of ``cp`` takes ``thread_id``: its row and its interaction.

        What is written already moves by two ``UPDATE`` statements (a conversation can hold
        hundreds of letters, and loading each to change one field cost more than the rest of a
        letter's filing); what this batch holds in memory moves there, and is written by its flush.
        """
        gone = sorted(old - {thread_id})
        session = self.session
        target = self._threads.setdefault((cp, thread_id), {})
        moved: list[MailMessage] = []
        for t in gone:
            rows = self._threads.pop((cp, t), {})
            for member in rows.values():
                member.thread_id = thread_id
            target.update(rows)
            moved += rows.values()
        # Interactions the session holds are moved through it (see ``_set``), the rest by statement.
        written = {
            obj.id: obj for obj in session.identity_map.values() if isinstance(obj, Interaction)
        }
        held = {**self._interactions, **written}
        connection = session.connection()
        values = {"cp": cp, "gone": gone, "thread": thread_id}
        changed = connection.execute(
            _MOVE_INTERACTIONS,
            {
                **values,
                "held": sorted(held),
                "bumped": sorted(self._bumped),
                "now": utcnow(),
                "by": getattr(bridge, "id", None),
            },
        ).all()
        self._bumped.update(row[0] for row in changed)
        changes.log_updated(
            session, Interaction, [(row[0], row[1]) for row in changed], ["thread_id"]
        )
        ids = {r.interaction_id for r in moved}
        # A held interaction whose letter is written (not in memory) is found by its row.
        if written:
            ids.update(
                connection.execute(_ANSWERED_HELD, {**values, "held": sorted(written)}).scalars()
            )
        connection.execute(_MOVE_LETTERS, values)
        if self._links is not None:
            self._links.move(cp, set(gone), thread_id)
        for item in held.values():
            self._interactions.setdefault(item.id, item)
            if item.id in ids or (item.counterparty_id == cp and item.thread_id in old):
                self._set(item, thread_id, bridge)

    def _set(self, item: Interaction, thread_id: str, bridge: Any) -> None:
        """As ``mail.filing.set_as_bridge`` does (version, audit), without a flush of its own."""
        if item.thread_id == thread_id:
            return
        item.thread_id = thread_id
        if inspect(item).pending:  # created in this transaction: its insert carries the value
            return
        if item.id not in self._bumped:
            item.version += 1
            self._bumped.add(item.id)
        item.updated_at = utcnow()
        item.updated_by = getattr(bridge, "id", None)
