"""The outbox against a real SMTP sink and a real Dovecot, on SQLite and PostgreSQL.

Letters are queued as a laptop's sync would leave them: created through the record
service by a salesperson with ``mail_status`` "queued". What the sink received is
read back with the stdlib parser, so encoded headers are checked as a mail client
would see them.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from crm import accounts, changes, records
from crm.database import Database
from crm.errors import ValidationFailed
from crm.models import Counterparty, Interaction, Reminder, User, utcnow
from mail import outbox
from mail.decode import parse_letter
from mail.identity import normalize_message_id
from mail.models import Mailbox, MailMessage, MailOutbox
from mail.secrets import SecretBox, load_secret
from server.config import Config
from tests.conftest import at_once
from tests.mail.servers import IVANOV, PASSWORD, PETROVA, SALES, DovecotServer, MailUser, SmtpSink

INTERACTIONS = records.record_type("interactions")
TO_PETR = {"role": "to", "name": "Смирнов Пётр", "address": "petr@vector.test"}


@dataclass
class World:
    database: Database
    config: Config
    sink: SmtpSink
    dovecot: DovecotServer
    ivanov: User
    petrova: User
    sidorov: User  # has no mailbox of his own: his letters go from the shared one
    counterparty_id: str
    person_id: str


@pytest.fixture
def world(database: Database, config: Config, dovecot: DovecotServer, smtp_sink: SmtpSink) -> World:
    secrets = SecretBox(load_secret(config.secret_key, config.data_dir))
    with database.write() as session:
        users = [
            accounts.create_user(session, login=login, full_name=name, email=mail)
            for login, name, mail in (
                ("ivanov", "Иванов Иван Петрович", IVANOV.address),
                ("petrova", "Петрова Анна Сергеевна", PETROVA.address),
                ("sidorov", "Сидоров Олег", None),
            )
        ]
        cp = records.create(
            session,
            users[0],
            records.record_type("counterparties"),
            {
                "legal_name": "Общество с ограниченной ответственностью «Вектор»",
                "short_name": "ООО «Вектор»",
                "visibility": "company",
            },
        )
        person = records.create(
            session,
            users[0],
            records.record_type("contact-persons"),
            {
                "counterparty_id": cp.id,
                "full_name": "Смирнов Пётр Алексеевич",
                "contacts": [{"kind": "email", "value": "petr@vector.test"}],
            },
        )
        for account, kind, owner in (
            (IVANOV, "personal", users[0].id),
            (PETROVA, "personal", users[1].id),
            (SALES, "shared", None),
        ):
            session.add(
                Mailbox(
                    name=account.address,
                    address=account.address,
                    kind=kind,
                    owner_id=owner,
                    imap_host=dovecot.host,
                    imap_port=dovecot.port,
                    imap_security="plain",
                    login=account.address,
                    secret=secrets.encrypt(PASSWORD),
                    smtp_host=smtp_sink.host,
                    smtp_port=smtp_sink.port,
                    smtp_security="plain",
                )
            )
    return World(
        database, config, smtp_sink, dovecot, *users, counterparty_id=cp.id, person_id=person.id
    )


def queue(world: World, author: User | None = None, **data: Any) -> str:
    """A letter as a laptop queues it; its interaction id."""
    values = {
        "counterparty_id": world.counterparty_id,
        "contact_person_id": world.person_id,
        "kind": "letter",
        "direction": "outgoing",
        "status": "planned",
        "subject": "Коммерческое предложение",
        "notes": "Здравствуйте, Пётр Алексеевич!\nВысылаем прайс-лист.",
        "starts_at": utcnow(),
        "participants": [TO_PETR],
        "mail_status": "queued",
        **data,
    }
    with world.database.write() as session:
        return str(records.create(session, author or world.ivanov, INTERACTIONS, values).id)


def letter(world: World, interaction_id: str) -> Interaction:
    with world.database.read() as session:
        return session.get(Interaction, interaction_id)


def outbox_row(world: World, interaction_id: str) -> MailOutbox:
    with world.database.read() as session:
        return session.get(MailOutbox, interaction_id)


def reminders(world: World, interaction_id: str) -> list[Reminder]:
    with world.database.read() as session:
        return list(
            session.execute(select(Reminder).where(Reminder.subject_id == interaction_id)).scalars()
        )


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def text_of(msg: EmailMessage) -> str:
    """The plain text as a reader sees it (on the wire its lines end in CRLF, as they must)."""
    return msg.get_content().replace("\r\n", "\n")


def sent_folder(
    world: World, user: MailUser, folder: str = "Sent"
) -> list[tuple[bytes, tuple[bytes, ...]]]:
    """(bytes, flags) of every letter in a Sent folder."""
    with world.dovecot.connect(user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
    return [(bytes(item[b"BODY[]"]), tuple(item[b"FLAGS"])) for item in fetched.values()]


def send(world: World, *, after: timedelta = timedelta(0)) -> outbox.SendReport:
    return outbox.send_due(world.database, world.config, now=utcnow() + after, smtp_timeout=5)


def nothing_happens(world: World, runs: int = 2) -> None:
    before = len(world.sink.messages)
    for n in range(runs):
        report = send(world, after=timedelta(hours=1 + n * 7))
        assert (report.sent, report.retrying, report.failed, report.uncertain) == (0, 0, 0, 0)
    assert len(world.sink.messages) == before


# ---------------------------------------------------------------- sending


def test_queued_letter_is_sent_once_filed_and_copied_to_sent(world: World) -> None:
    letter_id = queue(world)
    before = letter(world, letter_id)
    with world.database.read() as session:
        logged_before = changes.log_entry(session, "interactions", letter_id).version

    report = send(world)

    assert (report.sent, report.copies, report.failed) == (1, 1, 0)
    assert len(world.sink.messages) == 1
    received = world.sink.messages[0]
    assert received.mail_from == IVANOV.address
    assert received.rcpt_tos == ("petr@vector.test",)
    msg = parsed(received.data)
    assert msg["Subject"] == "Коммерческое предложение"
    assert (
        b"=?utf-8?" in received.data.split(b"\r\n\r\n", 1)[0]
    )  # Cyrillic headers are RFC 2047 words
    sender = msg["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Иванов Иван Петрович", IVANOV.address)
    recipient = msg["To"].addresses[0]
    assert (recipient.display_name, recipient.addr_spec) == ("Смирнов Пётр", "petr@vector.test")
    assert msg["Message-ID"] == f"<{letter_id}@torgdom.test>"
    assert msg["X-Satchel-Letter"] == letter_id
    assert msg["Date"] is not None and msg["In-Reply-To"] is None
    assert text_of(msg) == "Здравствуйте, Пётр Алексеевич!\nВысылаем прайс-лист.\n"

    item = letter(world, letter_id)
    assert (item.mail_status, item.status, item.mail_error) == ("sent", "done", None)
    assert item.message_id == normalize_message_id(f"{letter_id}@torgdom.test")
    assert item.thread_id == item.message_id
    assert item.version > before.version and item.updated_by != world.ivanov.id
    with world.database.read() as session:
        assert changes.log_entry(session, "interactions", letter_id).version > logged_before
        assert "mail_status" in changes.field_versions(session, "interactions", letter_id)
        known = session.get(MailMessage, item.message_id)
    assert (known.kind, known.interaction_id, known.counterparty_id) == (
        "business",
        letter_id,
        world.counterparty_id,
    )
    row = outbox_row(world, letter_id)
    assert (row.state, row.attempts, row.copy_saved) == ("sent", 1, True)

    copies = sent_folder(world, IVANOV)
    assert len(copies) == 1
    assert copies[0][0] == received.data  # the very bytes sent
    assert b"\\Seen" in copies[0][1]
    # The ingest reading that copy finds it known under its identity: not filed a second time.
    assert parse_letter(copies[0][0]).dedup_key == known.key
    assert not outbox._spool_path(world.config, letter_id).exists()

    nothing_happens(world)
    assert len(sent_folder(world, IVANOV)) == 1


def test_letters_go_from_the_personal_box_else_the_shared_one(world: World) -> None:
    from_petrova = queue(world, world.petrova, subject="От Петровой")
    from_sidorov = queue(world, world.sidorov, subject="От Сидорова")
    assert send(world).sent == 2
    senders = {parsed(m.data)["Subject"]: m.mail_from for m in world.sink.messages}
    assert senders == {"От Петровой": PETROVA.address, "От Сидорова": SALES.address}
    assert len(sent_folder(world, PETROVA, "Отправленные")) == 1  # her client's Russian Sent folder
    assert len(sent_folder(world, SALES)) == 1
    assert letter(world, from_sidorov).message_id == normalize_message_id(
        f"{from_sidorov}@torgdom.test"
    )
    assert letter(world, from_petrova).mail_status == "sent"


def test_a_reply_carries_in_reply_to_and_references(world: World) -> None:
    with world.database.write() as session:
        incoming = records.create(
            session,
            world.ivanov,
            INTERACTIONS,
            {
                "counterparty_id": world.counterparty_id,
                "kind": "letter",
                "direction": "incoming",
                "subject": "Запрос цены",
                "starts_at": utcnow(),
                "participants": [
                    {"role": "from", "name": "Смирнов Пётр", "address": "petr@vector.test"}
                ],
            },
        )
        incoming.message_id = normalize_message_id("<Question.2@Vector.test>")
        incoming.thread_id = normalize_message_id("<first.1@vector.test>")
    reply_id = queue(world, subject="Re: Запрос цены", reply_to_id=incoming.id)
    assert send(world).sent == 1
    msg = parsed(world.sink.messages[0].data)
    assert msg["In-Reply-To"] == "<question.2@vector.test>"
    assert msg["References"].split() == ["<first.1@vector.test>", "<question.2@vector.test>"]
    assert letter(world, reply_id).thread_id == normalize_message_id("<first.1@vector.test>")

    # An answer to our own letter: the thread's root is that letter, named once.
    second = queue(world, subject="Re: Re: Запрос цены", reply_to_id=reply_id)
    assert send(world).sent == 1
    msg = parsed(world.sink.messages[1].data)
    assert msg["In-Reply-To"] == f"<{reply_id}@torgdom.test>"
    assert msg["References"].split() == ["<first.1@vector.test>", f"<{reply_id}@torgdom.test>"]
    assert letter(world, second).thread_id == letter(world, reply_id).thread_id


def test_a_thread_without_message_ids_is_left_out_of_references(world: World) -> None:
    with world.database.write() as session:
        incoming = records.create(
            session,
            world.ivanov,
            INTERACTIONS,
            {
                "counterparty_id": world.counterparty_id,
                "kind": "letter",
                "direction": "incoming",
                "subject": "Вопрос",
                "starts_at": utcnow(),
            },
        )
        incoming.message_id = normalize_message_id("<q.3@vector.test>")
        incoming.thread_id = (
            "sha256:" + "0" * 64
        )  # its thread began with a letter that had no Message-ID
    queue(world, subject="Re: Вопрос", reply_to_id=incoming.id)
    assert send(world).sent == 1
    msg = parsed(world.sink.messages[0].data)
    assert (msg["In-Reply-To"], msg["References"]) == ("<q.3@vector.test>", "<q.3@vector.test>")


def test_bcc_is_in_the_envelope_only(world: World) -> None:
    queue(
        world,
        participants=[
            TO_PETR,
            {"role": "cc", "name": "", "address": "info@vector.test"},
            {"role": "bcc", "name": "Начальник", "address": "boss@torgdom.test"},
        ],
    )
    assert send(world).sent == 1
    received = world.sink.messages[0]
    assert set(received.rcpt_tos) == {"petr@vector.test", "info@vector.test", "boss@torgdom.test"}
    msg = parsed(received.data)
    assert msg["Cc"] == "info@vector.test"
    assert msg["Bcc"] is None
    assert b"boss@" not in received.data


def test_merge_fields_are_filled_and_the_history_shows_what_was_sent(world: World) -> None:
    letter_id = queue(
        world,
        subject="Предложение для {{counterparty.name}}",
        notes="Уважаемый {{ contact.first_name }} {{contact.patronymic}}!\n\n"
        "--\n{{salesperson.name}}\n{{salesperson.email}}",
    )
    assert send(world).sent == 1
    msg = parsed(world.sink.messages[0].data)
    assert msg["Subject"] == "Предложение для ООО «Вектор»"
    assert text_of(msg) == (
        "Уважаемый Пётр Алексеевич!\n\n--\nИванов Иван Петрович\nivanov@torgdom.test\n"
    )
    item = letter(world, letter_id)
    assert item.subject == "Предложение для ООО «Вектор»"
    assert item.notes.startswith("Уважаемый Пётр Алексеевич!")


def test_an_unknown_merge_field_fails_the_letter_by_name(world: World) -> None:
    letter_id = queue(world, notes="Уважаемый {{client.name}}!")
    report = send(world)
    assert (report.sent, report.failed) == (0, 1)
    item = letter(world, letter_id)
    assert item.mail_status == "failed"
    assert "{{client.name}}" in item.mail_error
    assert world.sink.messages == []
    assert len(reminders(world, letter_id)) == 1


# ---------------------------------------------------------------- failures


def test_a_4xx_reply_is_retried_after_a_backoff(world: World) -> None:
    letter_id = queue(world)
    world.sink.fail_next(1, "451 4.3.0 try later")
    t0 = utcnow()
    report = outbox.send_due(world.database, world.config, now=t0)
    assert (report.sent, report.retrying) == (0, 1)
    assert world.sink.messages == [] and world.sink.refused == ["451 4.3.0 try later"]
    item, row = letter(world, letter_id), outbox_row(world, letter_id)
    assert item.mail_status == "queued"
    assert "451 4.3.0 try later" in item.mail_error and "will try again" in item.mail_error
    assert (row.state, row.attempts) == ("queued", 1)
    assert row.next_attempt_at >= t0 + timedelta(seconds=60)

    assert outbox.send_due(world.database, world.config, now=t0 + timedelta(seconds=30)).sent == 0
    assert world.sink.messages == []
    assert outbox.send_due(world.database, world.config, now=t0 + timedelta(minutes=2)).sent == 1
    assert len(world.sink.messages) == 1
    assert parsed(world.sink.messages[0].data)["Message-ID"] == f"<{letter_id}@torgdom.test>"
    item, row = letter(world, letter_id), outbox_row(world, letter_id)
    assert (item.mail_status, item.mail_error, row.attempts) == ("sent", None, 2)
    nothing_happens(world)


def test_a_dropped_connection_is_retried(world: World) -> None:
    letter_id = queue(world)
    world.sink.drop_next(1)
    assert send(world).retrying == 1
    assert world.sink.messages == []
    assert letter(world, letter_id).mail_status == "queued"
    assert send(world, after=timedelta(minutes=2)).sent == 1
    assert len(world.sink.messages) == 1
    nothing_happens(world)


def test_it_gives_up_after_the_last_attempt(world: World) -> None:
    letter_id = queue(world)
    world.sink.fail_next(outbox.MAX_ATTEMPTS, "421 4.7.0 too busy")
    t = utcnow()
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        report = outbox.send_due(world.database, world.config, now=t)
        assert (report.retrying, report.failed) == (
            (1, 0) if attempt < outbox.MAX_ATTEMPTS else (0, 1)
        )
        t = outbox_row(world, letter_id).next_attempt_at
    item = letter(world, letter_id)
    assert item.mail_status == "failed"
    assert f"gave up after {outbox.MAX_ATTEMPTS} attempts" in item.mail_error
    assert outbox_row(world, letter_id).next_attempt_at - utcnow() <= outbox.MAX_DELAY + timedelta(
        minutes=1
    )
    assert world.sink.messages == []


def test_a_5xx_reply_fails_the_letter_and_tells_its_author(world: World) -> None:
    letter_id = queue(world)
    world.sink.fail_next(1, "550 5.1.1 no such user")
    report = send(world)
    assert (report.sent, report.failed) == (0, 1)
    item = letter(world, letter_id)
    assert item.mail_status == "failed"
    assert item.mail_error == "550 5.1.1 no such user"
    [reminder] = reminders(world, letter_id)
    assert reminder.assignee_id == world.ivanov.id
    assert reminder.subject_type == "interaction"
    assert reminder.title == "Письмо не отправлено: Коммерческое предложение"
    assert reminder.status == "open" and reminder.due_at <= utcnow()
    assert world.sink.messages == []
    nothing_happens(world)

    outbox.retry(world.database, letter_id)
    assert letter(world, letter_id).mail_status == "queued"
    assert send(world).sent == 1
    assert len(world.sink.messages) == 1
    assert parsed(world.sink.messages[0].data)["Message-ID"] == f"<{letter_id}@torgdom.test>"
    with pytest.raises(ValidationFailed):
        outbox.retry(world.database, letter_id)  # sent: nothing to retry


def test_a_letter_requeued_by_its_author_after_failing_goes_again(world: World) -> None:
    letter_id = queue(world)
    world.sink.fail_next(1, "554 5.7.1 rejected")
    assert send(world).failed == 1
    with world.database.write() as session:
        records.update(session, world.ivanov, INTERACTIONS, letter_id, {"mail_status": "queued"})
    assert send(world).sent == 1
    assert len(world.sink.messages) == 1
    assert outbox_row(world, letter_id).attempts == 1  # counted afresh


def test_a_letter_taken_back_while_waiting_is_not_sent(world: World) -> None:
    letter_id = queue(world)
    world.sink.fail_next(1, "451 4.3.0 try later")
    assert send(world).retrying == 1
    with world.database.write() as session:
        records.update(session, world.ivanov, INTERACTIONS, letter_id, {"mail_status": None})
    nothing_happens(world)
    assert outbox_row(world, letter_id) is None
    assert letter(world, letter_id).mail_status is None


def test_no_mailbox_to_send_from_fails_the_letter(world: World) -> None:
    with world.database.write() as session:
        for box in session.execute(select(Mailbox)).scalars():
            box.enabled = False
    letter_id = queue(world)
    assert send(world).failed == 1
    assert letter(world, letter_id).mail_error.startswith("no mailbox to send from")
    assert world.sink.messages == []


def test_two_workers_cannot_claim_the_same_letter(world: World) -> None:
    letter_id = queue(world)
    now = utcnow()
    with world.database.write() as session:
        assert outbox.enqueue(session, world.config, now=now) == 1
    first = outbox._claim(world.database, world.config, letter_id, now, outbox.SendReport())
    second = outbox._claim(world.database, world.config, letter_id, now, outbox.SendReport())
    assert first is not None and second is None
    assert (outbox_row(world, letter_id).state, letter(world, letter_id).mail_status) == (
        "sending",
        "sending",
    )


# ---------------------------------------------------------------- crashes


class Crash(BaseException):
    """The process dies (as by SIGKILL) after the SMTP server took the letter."""


@pytest.mark.parametrize("provider_copy", [False, True], ids=["no-copy", "provider-copy"])
def test_a_crash_between_sending_and_recording_never_sends_twice(
    world: World, monkeypatch: pytest.MonkeyPatch, provider_copy: bool
) -> None:
    with world.database.write() as session:
        box = session.execute(select(Mailbox).where(Mailbox.address == IVANOV.address)).scalar_one()
        box.provider_saves_sent = provider_copy
    letter_id = queue(world)

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(outbox, "_record_sent", crash)
    t0 = utcnow()
    with pytest.raises(Crash):
        outbox.send_due(world.database, world.config, now=t0)
    monkeypatch.undo()
    assert len(world.sink.messages) == 1
    assert (outbox_row(world, letter_id).state, letter(world, letter_id).mail_status) == (
        "sending",
        "sending",
    )
    if provider_copy:  # what Gmail or Yandex would have filed by themselves
        world.dovecot.append(IVANOV, "Sent", world.sink.messages[0].data, flags=[b"\\Seen"])

    # Within the lease nothing is touched (the sender may still be at work).
    assert (
        outbox.recover(world.database, world.config, now=t0 + timedelta(minutes=1)).uncertain == 0
    )
    assert outbox_row(world, letter_id).state == "sending"
    report = outbox.recover(
        world.database, world.config, now=t0 + outbox.LEASE + timedelta(seconds=1)
    )

    item = letter(world, letter_id)
    if provider_copy:
        assert (report.sent, report.uncertain) == (1, 0)
        assert (item.mail_status, item.status) == ("sent", "done")
        with world.database.read() as session:
            assert session.get(MailMessage, item.message_id).interaction_id == letter_id
        assert reminders(world, letter_id) == []
    else:
        assert (report.sent, report.uncertain) == (0, 1)
        assert item.mail_status == "uncertain"
        assert "check with the recipient" in item.mail_error
        [reminder] = reminders(world, letter_id)
        assert reminder.assignee_id == world.ivanov.id
    nothing_happens(world, runs=3)
    assert len(world.sink.messages) == 1
    assert len(sent_folder(world, IVANOV)) == (1 if provider_copy else 0)


def test_recover_at_start_settles_every_sending_letter(world: World) -> None:
    letter_id = queue(world)
    now = utcnow()
    with world.database.write() as session:
        outbox.enqueue(session, world.config, now=now)
    assert (
        outbox._claim(world.database, world.config, letter_id, now, outbox.SendReport()) is not None
    )
    assert outbox.recover(world.database, world.config, now=now).uncertain == 0
    assert outbox.recover(world.database, world.config, now=now, at_start=True).uncertain == 1
    assert letter(world, letter_id).mail_status == "uncertain"
    nothing_happens(world)
    outbox.retry(world.database, letter_id)  # an administrator decides to send it after all
    assert send(world).sent == 1
    assert len(world.sink.messages) == 1


def test_a_failed_copy_is_saved_by_a_later_run_without_resending(world: World) -> None:
    letter_id = queue(world)
    world.dovecot.stop()
    report = send(world)
    assert (report.sent, report.copies) == (1, 0)
    assert "copy not saved" in outbox_row(world, letter_id).last_error
    world.dovecot.start()
    report = send(world)
    assert (report.sent, report.copies) == (0, 1)
    assert outbox_row(world, letter_id).copy_saved
    assert [c[0] for c in sent_folder(world, IVANOV)] == [world.sink.messages[0].data]
    assert len(world.sink.messages) == 1


# ---------------------------------------------------------------- header injection


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Привет\r\nBcc: evil@x.ru"},
        {"subject": "Привет\nBcc: evil@x.ru"},
        {"participants": [{**TO_PETR, "name": "Пётр\r\nBcc: evil@x.ru"}]},
        {"participants": [{**TO_PETR, "address": "petr@vector.test\r\nBcc: evil@x.ru"}]},
        {"participants": [{**TO_PETR, "name": "Пётр\x00"}]},
    ],
    ids=["subject-crlf", "subject-lf", "name-crlf", "address-crlf", "name-nul"],
)
def test_a_line_break_in_a_header_value_fails_the_letter(
    world: World, change: dict[str, Any]
) -> None:
    letter_id = queue(world)
    with world.database.write() as session:  # past crm.rules, as a bug or a raw SQL edit might
        item = session.get(Interaction, letter_id)
        for name, value in change.items():
            setattr(item, name, value)
    report = send(world)
    assert (report.sent, report.failed) == (0, 1)
    item = letter(world, letter_id)
    assert item.mail_status == "failed"
    assert "line break" in item.mail_error or "email" in item.mail_error
    assert world.sink.messages == []
    assert len(reminders(world, letter_id)) == 1


def test_a_line_break_in_the_senders_name_fails_the_letter(world: World) -> None:
    with world.database.write() as session:
        session.get(User, world.ivanov.id).full_name = "Иванов\r\nBcc: evil@x.ru"
    letter_id = queue(world)
    assert send(world).failed == 1
    assert "the sender's name contains a line break" in letter(world, letter_id).mail_error
    assert world.sink.messages == []


def test_a_merged_value_with_a_line_break_is_one_line_in_the_subject(world: World) -> None:
    with world.database.write() as session:  # past crm.rules
        session.get(Counterparty, world.counterparty_id).short_name = "Вектор\r\nBcc: evil@x.ru"
    queue(world, subject="Для {{counterparty.name}}")
    assert send(world).sent == 1
    received = world.sink.messages[0]
    assert parsed(received.data)["Subject"] == "Для Вектор Bcc: evil@x.ru"
    assert received.rcpt_tos == ("petr@vector.test",)
    assert parsed(received.data)["Bcc"] is None


# ---------------------------------------------------------------- several workers (mail.leases)


def test_two_workers_send_the_outbox_one_at_a_time_each_letter_once(world: World) -> None:
    from mail import leases
    from mail.models import MailLease

    ids = [queue(world, subject=f"Письмо {n}") for n in range(12)]
    workers = [leases.Worker(), leases.Worker()]

    def run(n: int) -> list[outbox.SendReport]:
        return [
            outbox.send_due(world.database, world.config, smtp_timeout=5, worker=workers[n])
            for _ in range(3)
        ]

    reports = [report for runs in at_once(2, run) for report in runs]
    subjects = sorted(parsed(m.data)["Subject"] for m in world.sink.messages)
    assert subjects == sorted(f"Письмо {n}" for n in range(12))  # each once
    assert all(letter(world, i).mail_status == "sent" for i in ids)
    assert sum(r.sent for r in reports) == 12
    # One of them held the outbox the whole time; the other's runs did nothing.
    with world.database.read() as session:
        holder = session.get_one(MailLease, leases.OUTBOX).worker_id
    idle = next(w for w in workers if w.id != holder)
    assert any(r.skipped for r in reports) and idle.acquire(world.database, leases.OUTBOX) is None


def test_a_worker_taking_over_the_outbox_settles_what_a_dead_one_left_sending(
    world: World,
) -> None:
    import subprocess
    import sys

    from mail import leases

    letter_id = queue(world)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = leases.Worker(pid=gone.pid)
    assert dead.acquire(world.database, leases.OUTBOX) is True
    # It claimed the letter and died before SMTP: "sending", with nobody sending it.
    with world.database.write() as session:
        outbox._enqueue(session, outbox.SendReport(), utcnow())
    out = outbox._claim(world.database, world.config, letter_id, utcnow(), outbox.SendReport())
    assert out is not None and outbox_row(world, letter_id).state == "sending"
    # A live worker of another host waits for its lease; one of this host sees the process gone.
    far = leases.Worker(host="elsewhere")
    assert outbox.send_due(world.database, world.config, worker=far).skipped
    report = outbox.send_due(world.database, world.config, worker=leases.Worker(), smtp_timeout=5)
    assert not report.skipped and report.uncertain == 1 and report.sent == 0
    assert outbox_row(world, letter_id).state == "uncertain" and world.sink.messages == []
