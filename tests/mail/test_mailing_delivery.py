"""A mailing's letters on their way: sent once through a real SMTP sink with a one-click
List-Unsubscribe that works, throttled per mailbox, and a delivery report coming back through a
real Dovecot — on SQLite and PostgreSQL.

The mailing is queued as the screens queue it (``crm.mailings.queue``): one outgoing letter per
address and a recipient row naming it; whoever asked for no mailings is left out there.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from crm import accounts, changes, mailings, records
from crm.database import Database
from crm.models import (
    ContactPerson,
    FailingAddress,
    Interaction,
    Mailing,
    MailingRecipient,
    Reminder,
    User,
    utcnow,
)
from mail import bounces, outbox
from mail.models import Mailbox, MailMessage, MailOutbox
from mail.secrets import SecretBox, load_secret
from mail.templates import FIELDS
from mail.unsubscribe import Signer
from server.app import create_app
from server.config import Config
from tests.inprocess import InProcessClient
from tests.mail.servers import COMPANY_DOMAIN, IVANOV, PASSWORD, DovecotServer, SmtpSink
from tests.mail.world import letter as plain_letter

PUBLIC_URL = "https://crm.torgdom.test"
PEOPLE = (  # (name, address, asked for no mailings)
    ("Смирнов Пётр Алексеевич", "petr@vector.test", False),
    ("Орлова Анна Викторовна", "anna@vector.test", True),
    ("Козлов Игорь Петрович", "igor@vector.test", False),
)


@dataclass
class World:
    database: Database
    config: Config
    sink: SmtpSink
    dovecot: DovecotServer
    ivanov: User
    counterparty_id: str
    people: dict[str, str] = field(default_factory=dict)  # address → contact person id
    mailbox_id: str = ""


@pytest.fixture
def world(database: Database, tmp_path: Any, dovecot: DovecotServer, smtp_sink: SmtpSink) -> World:
    config = Config.load(
        environ={
            "SATCHEL_DATA_DIR": str(tmp_path),
            "SATCHEL_DATABASE_URL": database.url,
            "SATCHEL_PUBLIC_URL": PUBLIC_URL,
            "SATCHEL_COMPANY_DOMAINS": COMPANY_DOMAIN,
        }
    )
    secrets = SecretBox(load_secret(config.secret_key, config.data_dir))
    with database.write() as session:
        ivanov = accounts.create_user(
            session, login="ivanov", full_name="Иванов Иван Петрович", email=IVANOV.address
        )
        cp = records.create(
            session,
            ivanov,
            records.record_type("counterparties"),
            {"legal_name": "ООО «Вектор»", "visibility": "company"},
        )
        built = World(database, config, smtp_sink, dovecot, ivanov, cp.id)
        for name, address, no_mailings in PEOPLE:
            person = records.create(
                session,
                ivanov,
                records.record_type("contact-persons"),
                {
                    "counterparty_id": cp.id,
                    "full_name": name,
                    "contacts": [{"kind": "email", "value": address}],
                    "no_mailings": no_mailings,
                },
            )
            built.people[address] = person.id
        box = Mailbox(
            name=IVANOV.address,
            address=IVANOV.address,
            kind="personal",
            owner_id=ivanov.id,
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_security="plain",
            login=IVANOV.address,
            secret=secrets.encrypt(PASSWORD),
            smtp_host=smtp_sink.host,
            smtp_port=smtp_sink.port,
            smtp_security="plain",
        )
        session.add(box)
        session.flush()
        built.mailbox_id = box.id
    return built


def queue_mailing(world: World, *, extra_people: int = 0) -> str:
    """A mailing to the participants of an exhibition, queued as the screens queue it; its id."""
    with world.database.write() as session:
        ivanov = session.get_one(User, world.ivanov.id)
        for n in range(extra_people):
            person = records.create(
                session,
                ivanov,
                records.record_type("contact-persons"),
                {
                    "counterparty_id": world.counterparty_id,
                    "full_name": f"Сотрудник Номер {n}",
                    "contacts": [{"kind": "email", "value": f"staff{n}@vector.test"}],
                },
            )
            world.people[f"staff{n}@vector.test"] = person.id
        event = records.create(
            session, ivanov, records.record_type("events"), {"name": "Ювелирная выставка"}
        )
        records.create(
            session,
            ivanov,
            records.record_type("event-participants"),
            {"event_id": event.id, "counterparty_id": world.counterparty_id},
        )
        mailing = records.create(
            session,
            ivanov,
            records.record_type("mailings"),
            {
                "name": "Приглашение на выставку",
                "event_id": event.id,
                "subject": "Приглашаем на выставку",
                "body": "Здравствуйте, {{contact.first_name}}!\nЖдём вас на нашем стенде.",
            },
        )
        mailings.queue(session, ivanov, mailing.id, known_fields=FIELDS)
        return str(mailing.id)


def send(world: World, *, after: timedelta = timedelta(0)) -> outbox.SendReport:
    return outbox.send_due(world.database, world.config, now=utcnow() + after, smtp_timeout=5)


def parsed(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def mailing_of(world: World, mailing_id: str) -> Mailing:
    with world.database.read() as session:
        return session.get_one(Mailing, mailing_id)


def recipients(world: World, mailing_id: str) -> dict[str, MailingRecipient]:
    with world.database.read() as session:
        rows = session.execute(
            select(MailingRecipient).where(MailingRecipient.mailing_id == mailing_id)
        ).scalars()
        return {r.email: r for r in rows}


def person(world: World, address: str) -> ContactPerson:
    with world.database.read() as session:
        return session.get_one(ContactPerson, world.people[address])


def link_of(data: bytes) -> str:
    header = parsed(data)["List-Unsubscribe"]
    found = re.fullmatch(r"<(https://[^>]+)>", str(header))
    assert found, header
    return found.group(1)


# ---------------------------------------------------------------- sending


def test_a_mailing_goes_once_per_address_with_a_working_one_click_unsubscribe(
    world: World,
) -> None:
    mailing_id = queue_mailing(world)
    assert set(recipients(world, mailing_id)) == {"petr@vector.test", "igor@vector.test"}

    report = send(world)

    assert (report.sent, report.failed) == (2, 0)
    assert sorted(m.rcpt_tos for m in world.sink.messages) == [
        ("igor@vector.test",),
        ("petr@vector.test",),
    ]  # Anna asked for no mailings: left out when it was queued
    by_address = {m.rcpt_tos[0]: m for m in world.sink.messages}
    petr = parsed(by_address["petr@vector.test"].data)
    assert petr["Subject"] == "Приглашаем на выставку"
    assert petr.get_content().startswith("Здравствуйте, Пётр!")  # personalised per letter
    assert petr["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    raw_header = by_address["petr@vector.test"].data.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"\r\nList-Unsubscribe: <https://crm\.torgdom\.test/unsubscribe/", raw_header)
    links = {a: link_of(m.data) for a, m in by_address.items()}
    assert links["petr@vector.test"] != links["igor@vector.test"]

    # Sent: each recipient, the mailing's counts, and the letters in the client's history.
    assert {r.state for r in recipients(world, mailing_id).values()} == {"sent"}
    counted = mailing_of(world, mailing_id)
    assert (counted.recipients, counted.sent, counted.failed, counted.bounced) == (2, 2, 0, 0)
    with world.database.read() as session:
        letters = session.execute(
            select(Interaction).where(Interaction.counterparty_id == world.counterparty_id)
        ).scalars()
        assert sorted((i.mail_status, i.status) for i in letters) == [("sent", "done")] * 2
        # The mailing's new counts are in the change log: the laptops pull them.
        assert changes.log_entry(session, "mailings", mailing_id).version >= counted.version
        assert session.execute(select(func.count()).select_from(Reminder)).scalar_one() == 0

    # Never twice: later runs send nothing more.
    for hours in (1, 8):
        assert send(world, after=timedelta(hours=hours)).sent == 0
    assert len(world.sink.messages) == 2

    # The link works: the page, then one click (as a mail provider makes it: no cookie, no token).
    path = links["petr@vector.test"].removeprefix(PUBLIC_URL)
    with InProcessClient(create_app(world.config, world.database)) as client:
        page = client.get(path)
        assert page.status_code == 200
        assert "Отписка от рассылок" in page.text and "Unsubscribe from mailings" in page.text
        assert page.text.index("Отписка") < page.text.index("Unsubscribe from")  # Russian first
        assert "pe***@vector.test" in page.text and "petr@vector.test" not in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert person(world, "petr@vector.test").no_mailings is False  # looking changes nothing

        clicked = client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert clicked.status_code == 200 and "Готово" in clicked.text
        stored = person(world, "petr@vector.test")
        assert stored.no_mailings is True
        assert person(world, "igor@vector.test").no_mailings is False
        with world.database.read() as session:
            logged = changes.log_entry(session, "contact-persons", stored.id)
            assert logged.version >= stored.version
            assert stored.updated_by == _bridge_id(session)

        again = client.post(path)  # harmless
        assert again.status_code == 200 and person(world, "petr@vector.test").version == (
            stored.version
        )
        assert "Готово" in client.get(path).text


def _bridge_id(session: Any) -> str:
    from mail.filing import bridge_user

    return bridge_user(session).id


def test_a_mailbox_sends_at_most_its_letters_of_the_hour(world: World) -> None:
    with world.database.write() as session:
        session.get_one(Mailbox, world.mailbox_id).send_per_hour = 2
    mailing_id = queue_mailing(world, extra_people=3)  # 5 addresses
    assert len(recipients(world, mailing_id)) == 5

    first = send(world)
    assert (first.sent, first.throttled, first.failed, first.retrying) == (2, 3, 0, 0)
    assert len(world.sink.messages) == 2
    with world.database.read() as session:
        rows = session.execute(select(MailOutbox)).scalars().all()
        waiting = [r for r in rows if r.state == "queued"]
        assert len(waiting) == 3
        assert all(r.attempts == 0 and r.last_error is None for r in waiting)  # not a retry
    assert mailing_of(world, mailing_id).sent == 2

    later = send(world, after=timedelta(minutes=30))  # still within the hour
    assert (later.sent, later.throttled) == (0, 3)
    assert len(world.sink.messages) == 2

    next_hour = send(world, after=timedelta(minutes=61))
    assert (next_hour.sent, next_hour.throttled) == (2, 1)
    final = send(world, after=timedelta(minutes=125))
    assert final.sent == 1 and len(world.sink.messages) == 5
    assert len({m.rcpt_tos for m in world.sink.messages}) == 5  # each once
    assert mailing_of(world, mailing_id).sent == 5


def test_the_mailbox_limit_is_set_from_the_command_line_tools(world: World) -> None:
    from crm.errors import ValidationFailed
    from mail import bridge

    with world.database.write() as session:
        assert (
            bridge.edit_mailbox(session, IVANOV.address, {"send_per_hour": 50}).send_per_hour == 50
        )
    with world.database.write() as session:
        assert (
            bridge.edit_mailbox(session, IVANOV.address, {"send_per_hour": 0}).send_per_hour is None
        )
    for wrong in (-1, True, "10"):
        with world.database.write() as session, pytest.raises(ValidationFailed):
            bridge.edit_mailbox(session, IVANOV.address, {"send_per_hour": wrong})


# ---------------------------------------------------------------- the unsubscribe link, attacked


@pytest.fixture
def sent_mailing(world: World) -> tuple[World, str, dict[str, str]]:
    mailing_id = queue_mailing(world)
    send(world)
    links = {m.rcpt_tos[0]: link_of(m.data) for m in world.sink.messages}
    return world, mailing_id, links


def test_a_forged_or_changed_unsubscribe_link_is_not_found_and_changes_nothing(
    sent_mailing: tuple[World, str, dict[str, str]],
) -> None:
    world, mailing_id, links = sent_mailing
    token = links["petr@vector.test"].rsplit("/", 1)[1]
    body, signature = token.split(".")
    igor = recipients(world, mailing_id)["igor@vector.test"]
    other_signer = Signer(b"not the server's secret")
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    hostile = [
        f"{b64(igor.id.encode())}.{signature}",  # another person's id under Petr's signature
        other_signer.token(igor.id),  # signed with another key
        f"{body}.{flipped}",  # a changed signature
        f"{body}.{signature}x",  # a longer signature
        body,  # no signature
        igor.id,  # the bare id
        f"{b64(igor.id.encode())}.{'A' * 22}",
        token + "A" * 200,  # overly long
        "A" * 5000 + "." + signature,
        f"{body}.{signature}=",  # padding
        f"{body}==.{signature}",
        f"{body}.{signature}/x",
    ]
    with InProcessClient(create_app(world.config, world.database)) as client:
        for bad in hostile:
            for method in ("GET", "POST"):
                r = client.request(method, f"/unsubscribe/{bad}")
                assert r.status_code == 404, (bad[:80], method, r.status_code)
                assert "ig***" not in r.text and "pe***" not in r.text
    assert person(world, "igor@vector.test").no_mailings is False
    assert person(world, "petr@vector.test").no_mailings is False
    with world.database.read() as session:
        assert session.execute(select(func.count()).select_from(FailingAddress)).scalar_one() == 0


# ---------------------------------------------------------------- bounces


def _dsn(
    original: bytes,
    *,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    whole: bool = False,
) -> bytes:
    """A delivery status notification as Postfix writes one (RFC 3464), about ``original``."""
    original = original.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    headers = original.split(b"\r\n\r\n", 1)[0].decode("ascii") + "\r\n"
    attached = (
        "Content-Type: message/rfc822\r\n\r\n" + original.decode("utf-8", "replace")
        if whole
        else "Content-Type: text/rfc822-headers\r\n\r\n" + headers
    )
    text = f"""\
Return-Path: <>
From: MAILER-DAEMON@mx.vector.test (Mail Delivery System)
To: {IVANOV.address}
Subject: Undelivered Mail Returned to Sender
Date: Mon, 2 Nov 2026 10:05:00 +0300
Message-ID: <20261102070500.ABC{recipient.split("@")[0]}@mx.vector.test>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUND"

--BOUND
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.vector.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host mx.vector.test said: 550 5.1.1 User unknown

--BOUND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.vector.test
Arrival-Date: Mon, 2 Nov 2026 10:04:59 +0300

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic.format(rcpt=recipient)}

--BOUND
{attached}
--BOUND--
"""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def _ingest(world: World) -> Any:
    from mail import bridge

    return bridge.ingest_for(world.database, world.config).run(world.mailbox_id)


def test_a_bounce_marks_the_address_the_recipient_and_the_mailing(
    sent_mailing: tuple[World, str, dict[str, str]],
) -> None:
    world, mailing_id, _links = sent_mailing
    petr = next(m for m in world.sink.messages if m.rcpt_tos == ("petr@vector.test",))
    world.dovecot.append(IVANOV, "INBOX", _dsn(petr.data, recipient="petr@vector.test"))
    # And one report about a letter we never sent (an unknown Message-ID): nothing changes by it.
    stranger, _mid = plain_letter(sender="nobody@elsewhere.test", to="igor@vector.test")
    world.dovecot.append(IVANOV, "INBOX", _dsn(stranger, recipient="igor@vector.test"))

    report = _ingest(world)

    assert report.error is None
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.classified.get("bounce") == 2 and inbox.filed == 0  # neither is a client's letter
    with world.database.read() as session:
        failing = session.execute(select(FailingAddress)).scalars().all()
        assert [(f.email, f.failures, f.mailing_id) for f in failing] == [
            ("petr@vector.test", 1, mailing_id)
        ]
        assert "550 5.1.1" in failing[0].reason and "User unknown" in failing[0].reason
        rows = recipients(world, mailing_id)
        assert rows["petr@vector.test"].state == "bounced"
        assert rows["petr@vector.test"].bounced_at is not None
        assert rows["igor@vector.test"].state == "sent"
        counted = session.get_one(Mailing, mailing_id)
        assert (counted.sent, counted.failed, counted.bounced) == (2, 0, 1)
        assert changes.log_entry(session, "mailings", mailing_id).version >= counted.version
        returned = session.get_one(Interaction, rows["petr@vector.test"].interaction_id)
        assert returned.mail_status == "failed" and returned.status == "done"
        assert "came back" in (returned.mail_error or "") and "5.1.1" in (returned.mail_error or "")
        assert session.get_one(MailOutbox, returned.id).state == "failed"
        kept = session.get_one(Interaction, rows["igor@vector.test"].interaction_id)
        assert kept.mail_status == "sent"
        # Nothing filed from the reports; no reminder for a mailing's letter.
        letters = session.execute(
            select(func.count()).select_from(Interaction).where(Interaction.kind == "letter")
        ).scalar_one()
        assert letters == 2
        assert session.execute(select(func.count()).select_from(Reminder)).scalar_one() == 0
        kinds = session.execute(select(MailMessage.kind, MailMessage.reason)).all()
        assert sorted(k for k, _r in kinds if k == "bounce") == ["bounce", "bounce"]

    # The same report again (a second copy in the folder): known by its Message-ID, counted once.
    world.dovecot.append(IVANOV, "INBOX", _dsn(petr.data, recipient="petr@vector.test"))
    _ingest(world)
    assert mailing_of(world, mailing_id).bounced == 1


def test_a_delivery_report_names_only_the_letter_it_came_back_for(world: World) -> None:
    """Hostile and odd reports: another letter's recipient, a delay, our address forged in."""
    mailing_id = queue_mailing(world)
    send(world)
    petr = next(m for m in world.sink.messages if m.rcpt_tos == ("petr@vector.test",))
    # A report about Petr's letter that names Igor (the letter never went to him): left alone.
    world.dovecot.append(IVANOV, "INBOX", _dsn(petr.data, recipient="igor@vector.test"))
    # A delay is not a failure.
    world.dovecot.append(
        IVANOV,
        "INBOX",
        _dsn(petr.data, recipient="petr@vector.test", action="delayed", status="4.4.1"),
    )
    _ingest(world)
    with world.database.read() as session:
        assert session.execute(select(func.count()).select_from(FailingAddress)).scalar_one() == 0
    assert {r.state for r in recipients(world, mailing_id).values()} == {"sent"}
    assert mailing_of(world, mailing_id).bounced == 0


def test_a_letter_of_ones_own_that_comes_back_is_failed_with_a_reminder(world: World) -> None:
    with world.database.write() as session:
        item = records.create(
            session,
            session.get_one(User, world.ivanov.id),
            records.record_type("interactions"),
            {
                "counterparty_id": world.counterparty_id,
                "kind": "letter",
                "direction": "outgoing",
                "status": "planned",
                "subject": "Счёт",
                "notes": "Высылаем счёт.",
                "starts_at": utcnow(),
                "participants": [{"role": "to", "name": "", "address": "igor@vector.test"}],
                "mail_status": "queued",
            },
        )
        letter_id = item.id
    send(world)
    (sent,) = world.sink.messages
    assert "List-Unsubscribe" not in parsed(sent.data)  # a letter of one's own is no mailing
    world.dovecot.append(IVANOV, "INBOX", _dsn(sent.data, recipient="igor@vector.test", whole=True))
    _ingest(world)
    with world.database.read() as session:
        stored = session.get_one(Interaction, letter_id)
        assert stored.mail_status == "failed"
        failing = session.get_one(FailingAddress, "igor@vector.test")
        assert failing.mailing_id is None and failing.failures == 1
        reminders = session.execute(select(Reminder)).scalars().all()
        assert [r.subject_id for r in reminders] == [letter_id]
        assert reminders[0].title.startswith("Письмо вернулось")


# ---------------------------------------------------------------- reading reports, no servers


def _parsed_letter(raw: bytes) -> Any:
    from mail.decode import parse_letter

    return parse_letter(raw, max_attachment_bytes=1_000_000)


def test_what_a_report_says_is_read_from_its_parts() -> None:
    original, mid = plain_letter(sender=IVANOV.address, to="petr@vector.test")
    report = _parsed_letter(_dsn(original, recipient="Petr@Vector.test"))
    found, standard = bounces.failures(report)
    assert standard and [f.address for f in found] == ["petr@vector.test"]
    assert found[0].reason.startswith("smtp; 550 5.1.1")
    assert bounces.original_ids(report)[0] == mid.strip("<>")

    whole = _parsed_letter(_dsn(original, recipient="petr@vector.test", whole=True))
    assert bounces.original_ids(whole)[0] == mid.strip("<>")

    delayed = _parsed_letter(
        _dsn(original, recipient="petr@vector.test", action="delayed", status="4.4.1")
    )
    assert bounces.failures(delayed) == ([], True)

    qmail = (
        b"From: MAILER-DAEMON@mx.vector.test\r\nTo: ivanov@torgdom.test\r\n"
        b"Subject: failure notice\r\nX-Failed-Recipients: petr@vector.test\r\n\r\n"
        b"Hi. This is the qmail-send program.\r\n<petr@vector.test>:\r\n"
        b"550 5.1.1 mailbox unavailable\r\n--- Below this line is a copy of the message.\r\n\r\n"
        + original
    )
    found, standard = bounces.failures(_parsed_letter(qmail))
    assert not standard and [f.address for f in found] == ["petr@vector.test"]
    assert "550 5.1.1" in found[0].reason
    assert mid.strip("<>") in bounces.original_ids(_parsed_letter(qmail))
