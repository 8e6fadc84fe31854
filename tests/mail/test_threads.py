"""Threads do not depend on the order letters are read in (mail.threads).

A realistic correspondence — several clients, replies across INBOX and Sent of two
mailboxes, replies to replies, Outlook replies without reference headers, two clients
writing «Счёт» the same week — is filed in every order: as written, backwards, Sent
first, INBOX first, one mailbox after another, shuffled, in batches of any size. Each
time the letters must fall into the same threads under the same ids.

Most orders are filed in-process through the functions a bridge run uses
(``Ingest._file_batch``: classification, matching, filing, threading) on a fresh
database; a late parent is also read through a real Dovecot, and its re-threading of
the letters filed before reaches a laptop's pull.
"""

from __future__ import annotations

import base64
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm.changes import ChangeField, current
from crm.database import Database
from crm.models import Interaction
from mail import bridge
from mail.decode import parse_letter
from mail.models import Mailbox, MailMessage, MailReference, MailReview
from mail.threads import TOPIC_WINDOW, conversation_of, normalise_subject
from sync.pull import pull
from tests.conftest import _empty_tables
from tests.mail.letters import COMPANY_DOMAIN
from tests.mail.servers import SALES, DovecotServer
from tests.mail.world import World, letter, make_world

SALES_BOX = f"sales@{COMPANY_DOMAIN}"
IVANOV_BOX = f"ivanov@{COMPANY_DOMAIN}"
ROMASHKA, VEKTOR, URAL, SEVER = (
    "romashka.test",
    "vektor-snab.test",
    "uralmetall.test",
    "td-sever.test",
)


def _day(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def _thread_index(conversation: int, replies: int = 0) -> str:
    """An Outlook Thread-Index: 6 bytes of time and a GUID (22 bytes), and 5 bytes per reply."""
    head = bytes([1, 0xD9, 0x4C, 0x11, 0x22, conversation]) + bytes(
        range(conversation, conversation + 16)
    )
    return base64.b64encode(head + bytes([0, 0, 0x10, 0x20, conversation]) * replies).decode()


@dataclass(frozen=True)
class Item:
    name: str
    box: str  # the mailbox's address
    folder: str
    raw: bytes
    message_id: str


def _correspondence() -> list[Item]:
    """The letters, as written; their names say thread and place (r1 is the first of thread r)."""
    items: list[Item] = []
    mids: dict[str, str] = {}

    def add(
        name: str,
        box: str,
        folder: str,
        *,
        sender: str,
        to: str,
        subject: str,
        when: datetime,
        replies_to: str | None = None,
        references: list[str] | None = None,
        cc: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        mid = f"<{name}.{COMPANY_DOMAIN if sender.endswith(COMPANY_DOMAIN) else 'client'}@example.test>"
        raw, normalised = letter(
            sender=sender,
            to=to,
            cc=cc,
            subject=subject,
            when=when,
            message_id=mid,
            in_reply_to=mids[replies_to] if replies_to else None,
            references=" ".join(mids[r] for r in references) if references else None,
            headers=headers,
            body=f"Письмо {name}.",
        )
        mids[name] = normalised
        items.append(Item(name, box, folder, raw, normalised))

    client = {cp: f"Контакт <director@{cp}>" for cp in (ROMASHKA, VEKTOR, URAL, SEVER)}
    # r: a well-behaved conversation, both sides keep References.
    add(
        "r1",
        SALES_BOX,
        "INBOX",
        sender=client[ROMASHKA],
        to=SALES_BOX,
        subject="Заявка на поставку",
        when=_day(2),
    )
    add(
        "r2",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[ROMASHKA],
        subject="Re: Заявка на поставку",
        when=_day(2, 12),
        replies_to="r1",
        references=["r1"],
    )
    add(
        "r3",
        SALES_BOX,
        "INBOX",
        sender=client[ROMASHKA],
        to=SALES_BOX,
        subject="Re: Re: Заявка на поставку",
        when=_day(3),
        replies_to="r2",
        references=["r1", "r2"],
    )
    add(
        "r4",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[ROMASHKA],
        subject="RE: RE: Заявка на поставку",
        when=_day(3, 15),
        replies_to="r3",
        references=["r1", "r2", "r3"],
    )
    # v: In-Reply-To only (Outlook drops References), across a personal and the shared box;
    # v3 reaches both (Cc) and is one letter. v1 and v3 are linked only through v2.
    add(
        "v1",
        SALES_BOX,
        "INBOX",
        sender=client[VEKTOR],
        to=SALES_BOX,
        subject="Коммерческое предложение",
        when=_day(4),
    )
    add(
        "v2",
        IVANOV_BOX,
        "Sent",
        sender=IVANOV_BOX,
        to=client[VEKTOR],
        subject="RE: Коммерческое предложение",
        when=_day(4, 14),
        replies_to="v1",
    )
    add(
        "v3",
        IVANOV_BOX,
        "INBOX",
        sender=client[VEKTOR],
        to=IVANOV_BOX,
        cc=SALES_BOX,
        subject="Re: RE: Коммерческое предложение",
        when=_day(5),
        replies_to="v2",
    )
    items.append(Item("v3", SALES_BOX, "INBOX", items[-1].raw, items[-1].message_id))
    # u: Outlook on both sides, no reference headers at all: Thread-Index and Thread-Topic.
    topic = {"Thread-Topic": "Договор поставки № 5-П"}
    add(
        "u1",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[URAL],
        subject="Договор поставки № 5-П",
        when=_day(5),
        headers={**topic, "Thread-Index": _thread_index(7)},
    )
    add(
        "u2",
        SALES_BOX,
        "INBOX",
        sender=client[URAL],
        to=SALES_BOX,
        subject="RE: Договор поставки № 5-П",
        when=_day(6),
        headers={**topic, "Thread-Index": _thread_index(7, 1)},
    )
    add(
        "u3",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[URAL],
        subject="RE: RE: Договор поставки № 5-П",
        when=_day(6, 16),
        headers={**topic, "Thread-Index": _thread_index(7, 2)},
    )
    add(
        "p1",
        SALES_BOX,
        "INBOX",
        sender=client[URAL],
        to=SALES_BOX,
        subject="Прайс-лист на 20 мая",
        when=_day(7),
    )
    # s: the client's mailer gives no Thread-Index; our Outlook answers by topic only,
    # the client's The Bat! answers that with In-Reply-To.
    add(
        "s1",
        SALES_BOX,
        "INBOX",
        sender=client[SEVER],
        to=SALES_BOX,
        subject="[External] Акт сверки за квартал",
        when=_day(7),
    )
    add(
        "s2",
        IVANOV_BOX,
        "Sent",
        sender=IVANOV_BOX,
        to=client[SEVER],
        subject="Ответ: Акт сверки за квартал",
        when=_day(8),
        headers={"Thread-Topic": "Акт сверки за квартал", "Thread-Index": _thread_index(9)},
    )
    add(
        "s3",
        IVANOV_BOX,
        "INBOX",
        sender=client[SEVER],
        to=IVANOV_BOX,
        subject="Re[2]: Акт сверки за квартал",
        when=_day(9),
        replies_to="s2",
    )
    # c and d: two clients, the same subject the same week — two threads, never one.
    add(
        "c1",
        SALES_BOX,
        "INBOX",
        sender=client[ROMASHKA],
        to=SALES_BOX,
        subject="Счёт",
        when=_day(10),
    )
    add(
        "c2",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[ROMASHKA],
        subject="RE: Счёт",
        when=_day(10, 15),
        headers={"Thread-Topic": "Счёт"},
    )
    add(
        "d1", SALES_BOX, "INBOX", sender=client[VEKTOR], to=SALES_BOX, subject="Счёт", when=_day(11)
    )
    add(
        "d2",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[VEKTOR],
        subject="RE: Счёт",
        when=_day(11, 12),
        headers={"Thread-Topic": "Счёт"},
    )
    # e: the same client, the same subject a month and a half later — a new conversation.
    later = _day(10) + TOPIC_WINDOW + timedelta(days=15)
    add("e1", SALES_BOX, "INBOX", sender=client[ROMASHKA], to=SALES_BOX, subject="Счёт", when=later)
    add(
        "e2",
        SALES_BOX,
        "Sent",
        sender=SALES_BOX,
        to=client[ROMASHKA],
        subject="Отв: Счёт",
        when=later + timedelta(hours=3),
    )
    return items


LETTERS = _correspondence()
MIDS = {item.name: item.message_id for item in LETTERS}
# Each letter's thread: the Message-ID of the thread's first letter.
EXPECTED = {item.name: MIDS[item.name[0] + "1"] for item in LETTERS}


# -- filing in an order


@pytest.fixture
def fresh(
    backend: str, database: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], World]]:
    """Makes a new company on an empty database (a new SQLite file, or PostgreSQL emptied) each call."""
    template = request.getfixturevalue("sqlite_template") if backend == "sqlite" else None
    made: list[Database] = []

    def make() -> World:
        if template is not None:
            path = tmp_path / f"order-{len(made)}.db"
            shutil.copy(template, path)
            db = Database(f"sqlite:///{path}")
            made.append(db)
        else:
            _empty_tables(database)
            db = database
        # In-process: no IMAP server is involved, so the world has none.
        world = make_world(db, tmp_path, cast(Any, None))
        with db.write() as session:
            for address, owner in ((SALES_BOX, None), (IVANOV_BOX, "ivanov")):
                box = bridge.add_mailbox(
                    session,
                    world.config,
                    name=address,
                    address=address,
                    imap_host="127.0.0.1",
                    imap_security="plain",
                    password="unused",
                    owner=owner,
                )
                world.mailboxes[address] = box.id
        return world

    yield make
    for db in made:
        db.dispose()


def _batches(order: list[Item], size: int | None) -> list[list[Item]]:
    """The order in batches as a run makes them: one folder at a time, at most ``size`` letters."""
    out: list[list[Item]] = []
    for item in order:
        last = out[-1] if out else None
        if (
            last
            and (last[0].box, last[0].folder) == (item.box, item.folder)
            and (size is None or len(last) < size)
        ):
            last.append(item)
        else:
            out.append([item])
    return out


def file_in_order(
    world: World,
    order: list[Item],
    size: int | None = None,
    *,
    outcomes_allowed: frozenset[str] = frozenset({"filed", "duplicates"}),
) -> dict[str, str]:
    """File the letters batch by batch as a bridge run does; each letter's thread id (by name)."""
    ingest = world.ingest()
    uids: dict[tuple[str, str], int] = {}
    try:
        for batch in _batches(order, size):
            with world.database.write() as session:
                mailbox = session.get_one(Mailbox, world.mailboxes[batch[0].box])
                letters = []
                for item in batch:
                    uid = uids[(item.box, item.folder)] = uids.get((item.box, item.folder), 0) + 1
                    letters.append((uid, item.raw, parse_letter(item.raw)))
                outcomes, _answered = ingest.file(session, mailbox, batch[0].folder, letters)
                assert set(outcomes) <= outcomes_allowed, outcomes
                ingest.blobs.sync()
    finally:
        ingest.blobs.close()
    return threads_of(world)


def threads_of(world: World) -> dict[str, str]:
    names = {item.message_id: item.name for item in LETTERS}
    with world.database.read() as session:
        filed = {
            i.message_id: i.thread_id
            for i in session.execute(
                select(Interaction).where(Interaction.kind == "letter")
            ).scalars()
        }
        known = {
            m.key: m.thread_id
            for m in session.execute(
                select(MailMessage).where(MailMessage.interaction_id.is_not(None))
            ).scalars()
        }  # type: ignore[union-attr]
    assert filed == known  # the bridge's index and the histories say the same
    return {names.get(mid, mid): thread for mid, thread in filed.items()}


def partition(threads: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for name, thread in threads.items():
        groups.setdefault(thread, set()).add(name)
    return {frozenset(g) for g in groups.values()}


def _orders() -> dict[str, list[Item]]:
    def by(key: Callable[[Item], Any]) -> list[Item]:
        return sorted(LETTERS, key=key)

    position = {id(item): n for n, item in enumerate(LETTERS)}
    orders = {
        "as written": list(LETTERS),
        "backwards": list(reversed(LETTERS)),
        "sent first": by(lambda i: (i.folder != "Sent", position[id(i)])),
        "inbox first": by(lambda i: (i.folder != "INBOX", position[id(i)])),
        "sales box, then ivanov's": by(
            lambda i: (i.box != SALES_BOX, i.folder != "INBOX", position[id(i)])
        ),
        "ivanov's box, then sales": by(
            lambda i: (i.box != IVANOV_BOX, i.folder != "Sent", position[id(i)])
        ),
    }
    for seed in range(3):
        shuffled = list(LETTERS)
        random.Random(seed).shuffle(shuffled)
        orders[f"shuffled {seed}"] = shuffled
    return orders


# -- the rule's pieces


@pytest.mark.parametrize(
    ("subject", "topic", "replied"),
    [
        ("Счёт", "счёт", False),
        ("RE: Счёт", "счёт", True),
        ("Re: RE:  re:Счёт", "счёт", True),
        ("Re[2]: Акт сверки", "акт сверки", True),
        ("Ответ: Отв: Счёт", "счёт", True),
        ("FW: Fwd: Прайс", "прайс", True),
        ("[External] RE: Счёт", "счёт", True),
        ("[External] Счёт", "счёт", False),
        ("Re: [Внешний] Счёт", "счёт", True),
        ("Regarding: Счёт", "regarding: счёт", False),
        ("Счёт: Re: ответ", "счёт: re: ответ", False),
    ],
)
def test_subject_normalised_to_its_topic(subject: str, topic: str, replied: bool) -> None:
    assert normalise_subject(subject) == (topic, replied)


def test_thread_index_names_the_conversation_by_its_first_22_bytes() -> None:
    first, reply = conversation_of(_thread_index(7)), conversation_of(_thread_index(7, 2))
    assert first[0] == reply[0] is not None and (first[1], reply[1]) == (False, True)
    assert conversation_of(_thread_index(8))[0] != first[0]
    assert conversation_of("not base64 at all!") == (None, False)
    assert conversation_of(base64.b64encode(b"short").decode()) == (None, False)


# -- order independence


def test_threads_as_written_are_the_conversations(fresh: Callable[[], World]) -> None:
    threads = file_in_order(fresh(), list(LETTERS))
    assert threads == EXPECTED
    assert frozenset({"c1", "c2"}) in partition(threads) and frozenset({"d1", "d2"}) in partition(
        threads
    )


def test_same_threads_in_every_order(fresh: Callable[[], World]) -> None:
    for name, order in _orders().items():
        for size in (None, 1):
            assert file_in_order(fresh(), order, size) == EXPECTED, (name, size)


@pytest.mark.parametrize("backend", ["sqlite"])
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(LETTERS), size=st.one_of(st.none(), st.integers(1, 4)))
def test_any_order_any_batches_gives_the_same_threads(
    fresh: Callable[[], World], order: list[Item], size: int | None
) -> None:
    assert file_in_order(fresh(), list(order), size) == EXPECTED


def test_runs_of_one_letter_each_in_reverse_give_the_same_threads(
    fresh: Callable[[], World],
) -> None:
    world = fresh()
    for item in reversed(LETTERS):  # every letter its own run: the threads join across transactions
        file_in_order(world, [item])
    assert threads_of(world) == EXPECTED
    with world.database.read() as session:
        references = {
            (r.message_key, r.referenced) for r in session.execute(select(MailReference)).scalars()
        }
    assert (MIDS["r4"], MIDS["r1"]) in references and (MIDS["v3"], MIDS["v2"]) in references


# -- a late parent, through a real Dovecot, reaches the laptops


def test_late_parent_rethreads_the_letters_filed_before_and_laptops_pull_it(
    database: Database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    world.add_mailbox(SALES)
    client = f"Контакт <director@{ROMASHKA}>"
    parent, parent_id = letter(
        sender=SALES_BOX, to=client, subject="Коммерческое предложение", when=_day(2)
    )
    reply, reply_id = letter(
        sender=client,
        to=SALES_BOX,
        subject="Re: Коммерческое предложение",
        when=_day(3),
        in_reply_to=parent_id,
        references=parent_id,
    )
    # Outlook answers the reply with In-Reply-To only: it names the reply, never the parent.
    again, _ = letter(
        sender=client,
        to=SALES_BOX,
        subject="RE: Re: Коммерческое предложение",
        when=_day(4),
        in_reply_to=reply_id,
    )
    dovecot.append(SALES, "INBOX", reply)
    dovecot.append(SALES, "INBOX", again)
    assert world.run().error is None
    before = world.letters()
    assert [i.thread_id for i in before] == [
        parent_id,
        parent_id,
    ]  # the reply names its root already
    # A second conversation whose first letter is late: the replies wait under the reply's id.
    late, late_id = letter(sender=SALES_BOX, to=client, subject="Акт сверки", when=_day(5))
    answer, answer_id = letter(
        sender=client, to=SALES_BOX, subject="RE: Акт сверки", when=_day(6), in_reply_to=late_id
    )
    answer2, _ = letter(
        sender=client,
        to=SALES_BOX,
        subject="RE: RE: Акт сверки",
        when=_day(7),
        in_reply_to=answer_id,
    )
    dovecot.append(SALES, "INBOX", answer)
    dovecot.append(SALES, "INBOX", answer2)
    assert world.run().error is None
    waiting = [i for i in world.letters() if i.subject.endswith("Акт сверки")]
    assert [i.thread_id for i in waiting] == [late_id, late_id]  # In-Reply-To names the unread root

    dovecot.append(SALES, "Sent", late)
    dovecot.append(SALES, "Sent", parent)
    assert world.run().error is None
    threads = {i.message_id: i.thread_id for i in world.letters()}
    assert set(threads.values()) == {parent_id, late_id}
    assert (
        sum(t == late_id for t in threads.values()) == 3
        and sum(t == parent_id for t in threads.values()) == 3
    )


def test_late_root_joins_two_partial_threads_and_laptops_pull_the_change(
    database: Database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    world.add_mailbox(SALES)
    client = f"Контакт <director@{URAL}>"
    first, first_id = letter(
        sender=client, to=SALES_BOX, subject="Отгрузка задерживается", when=_day(2)
    )
    middle, middle_id = letter(
        sender=SALES_BOX,
        to=client,
        subject="RE: Отгрузка задерживается",
        when=_day(3),
        in_reply_to=first_id,
    )
    last, last_id = letter(
        sender=client,
        to=SALES_BOX,
        subject="RE: RE: Отгрузка задерживается",
        when=_day(4),
        in_reply_to=middle_id,
    )
    # The last letter first: it starts a thread of its own, under the letter it answers.
    dovecot.append(SALES, "INBOX", last)
    assert world.run().error is None
    [alone] = world.letters()
    assert alone.thread_id == middle_id
    with database.read() as session:
        cursor = current(session)[0]
    # Then the first (INBOX) and the middle (Sent) in one run: the middle joins both.
    dovecot.append(SALES, "INBOX", first)
    dovecot.append(SALES, "Sent", middle)
    assert world.run().error is None
    assert {i.message_id: i.thread_id for i in world.letters()} == {
        first_id: first_id,
        middle_id: first_id,
        last_id: first_id,
    }
    with database.read() as session:
        moved = session.get_one(Interaction, alone.id)
        assert moved.version == alone.version + 1 and moved.updated_at >= alone.updated_at
        logged = session.get(ChangeField, ("interactions", alone.id, "thread_id"))
        assert logged is not None and logged.version > cursor
        # The laptop of the client's owner, synced before, pulls the change.
        answer = pull(session, world.ivanov, {"cursor": str(cursor)})
    changes = {c["id"]: c for c in answer["changes"] if c.get("type") == "interactions"}
    assert alone.id in changes, answer["changes"]
    assert changes[alone.id]["record"]["thread_id"] == first_id


def test_letter_settled_from_review_joins_the_thread_of_its_replies(
    fresh: Callable[[], World],
) -> None:
    world = fresh()
    client = f"Контакт <director@{ROMASHKA}>"
    # The first letter comes from the director's home address: nobody knows it, it waits in review.
    # It answers a letter of the client's own mail, never read here.
    first, first_id = letter(
        sender="boss.romashka@gmail.com",
        to=SALES_BOX,
        subject="Счёт",
        when=_day(2),
        in_reply_to="<origin@romashka.test>",
        references="<origin@romashka.test>",
    )
    reply, reply_id = letter(
        sender=SALES_BOX, to=client, subject="RE: Счёт", when=_day(3), in_reply_to=first_id
    )
    again, again_id = letter(
        sender=client, to=SALES_BOX, subject="RE: RE: Счёт", when=_day(4), in_reply_to=reply_id
    )
    items = [
        Item("first", SALES_BOX, "INBOX", first, first_id),
        Item("reply", SALES_BOX, "Sent", reply, reply_id),
        Item("again", SALES_BOX, "INBOX", again, again_id),
    ]
    threads = file_in_order(world, items, 1, outcomes_allowed=frozenset({"filed", "review"}))
    assert threads == {
        reply_id: first_id,
        again_id: first_id,
    }  # under the letter they answer, not filed yet
    with world.database.read() as session:
        [review] = bridge.list_reviews(session)
    bridge.settle_review(
        world.database,
        world.config,
        review.id,
        world.ivanov,
        counterparty_id=world.counterparties[ROMASHKA],
    )
    # Settled, it is the thread's earliest letter: every letter takes the root it names.
    assert threads_of(world) == {
        first_id: "<origin@romashka.test>",
        reply_id: "<origin@romashka.test>",
        again_id: "<origin@romashka.test>",
    }


def test_a_reply_waiting_in_review_is_filed_when_the_letter_it_answers_is_read(
    fresh: Callable[[], World],
) -> None:
    """INBOX is read before Sent: the client's answer from an address nobody knows (a new colleague's
    private mail) waits in review only until our letter it answers is filed — then it is filed under
    the same counterparty, in its thread, and so is the answer to it that waited too."""
    world = fresh()
    client = f"Контакт <director@{ROMASHKA}>"
    ours, ours_id = letter(sender=SALES_BOX, to=client, subject="Прайс на декабрь", when=_day(2))
    answer, answer_id = letter(
        sender="Пётр <petr.romashka@gmail.com>",
        to=SALES_BOX,
        subject="RE: Прайс на декабрь",
        when=_day(3),
        in_reply_to=ours_id,
        references=ours_id,
    )
    again, again_id = letter(
        sender="Пётр <petr.romashka@gmail.com>",
        to=SALES_BOX,
        subject="RE: RE: Прайс на декабрь",
        when=_day(4),
        in_reply_to=answer_id,
    )
    stranger, stranger_id = letter(
        sender="someone@gmail.com", to=SALES_BOX, subject="Вопрос", when=_day(3)
    )
    inbox = [
        Item("answer", SALES_BOX, "INBOX", answer, answer_id),
        Item("again", SALES_BOX, "INBOX", again, again_id),
        Item("stranger", SALES_BOX, "INBOX", stranger, stranger_id),
    ]
    file_in_order(world, inbox, outcomes_allowed=frozenset({"review"}))
    with world.database.read() as session:
        assert len(bridge.list_reviews(session)) == 3
    ingest = world.ingest()
    try:
        with world.database.write() as session:
            mailbox = session.get_one(Mailbox, world.mailboxes[SALES_BOX])
            outcomes, answered = ingest.file(
                session, mailbox, "Sent", [(1, ours, parse_letter(ours))]
            )
            ingest.blobs.sync()
    finally:
        ingest.blobs.close()
    assert (outcomes, answered) == (["filed"], 2)
    filed = {i.message_id: i for i in world.letters()}
    assert set(filed) == {ours_id, answer_id, again_id}
    assert {i.counterparty_id for i in filed.values()} == {world.counterparties[ROMASHKA]}
    assert {i.thread_id for i in filed.values()} == {ours_id}
    with world.database.read() as session:
        [left] = bridge.list_reviews(session)
        assert left.key == stranger_id
        settled = session.execute(select(MailReview).where(MailReview.status == "filed")).scalars()
        assert {r.interaction_id for r in settled} == {filed[answer_id].id, filed[again_id].id}
        # Its sender, unknown until now, is suggested as a contact person of that client.
        suggested = {(x.address, x.counterparty_id) for x in bridge.list_suggestions(session)}
        assert ("petr.romashka@gmail.com", world.counterparties[ROMASHKA]) in suggested
        # What the bridge remembers of the answer says why it is filed now, not why it waited.
        remembered = session.get_one(MailMessage, answer_id)
        assert remembered.reason == f"in the thread of {ours_id}", remembered.reason
