"""Meeting invitations through the mail bridge: REQUEST, update, CANCEL out; REPLY in."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar

from crm import records
from crm.models import Interaction
from mail import bridge, outbox
from tests.mail.servers import IVANOV, DovecotServer, SmtpSink
from tests.mail.world import World, make_world

RT = records.record_type("interactions")


@pytest.fixture
def world(database, tmp_path: Path, dovecot: DovecotServer, smtp_sink: SmtpSink) -> World:
    world = make_world(database, tmp_path, dovecot)
    world.add_mailbox(
        IVANOV,
        owner="ivanov",
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_security="plain",
    )
    return world


def _calendar(raw: bytes) -> tuple[EmailMessage, Calendar]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    return msg, Calendar.from_ical(parts[0].get_payload(decode=True))


def _event(cal: Calendar):  # type: ignore[no-untyped-def]
    [event] = cal.walk("VEVENT")
    return event


def test_invitation_update_cancel_and_the_attendees_answer(
    world: World, smtp_sink: SmtpSink
) -> None:
    starts = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    with world.database.write() as session:
        meeting = records.create(
            session,
            world.ivanov,
            RT,
            {
                "counterparty_id": world.counterparties["romashka.test"],
                "kind": "meeting",
                "status": "planned",
                "subject": "Встреча: поставка арматуры",
                "starts_at": starts,
                "duration_minutes": 90,
                "participants": [
                    {
                        "role": "attendee",
                        "name": "Контакт Ромашки",
                        "address": "director@romashka.test",
                    }
                ],
                "mail_status": "queued",
            },
        )
    assert outbox.send_due(world.database, world.config).sent == 1
    msg, cal = _calendar(smtp_sink.messages[0].data)
    assert msg.get_content_type() == "multipart/alternative"
    calendar_part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
    assert str(cal["METHOD"]) == "REQUEST"
    first = _event(cal)
    assert str(first["UID"]) == f"{meeting.id}@satchel"
    assert first.decoded("DTSTART") == starts and first.decoded("DTEND") == starts + timedelta(
        minutes=90
    )
    assert str(first["ATTENDEE"]) == "mailto:director@romashka.test"  # one attendee, not a list
    assert list(smtp_sink.messages[0].rcpt_tos) == ["director@romashka.test"]
    with world.database.read() as session:
        assert (
            session.get(Interaction, meeting.id).status == "planned"
        )  # the invitation went, the meeting is ahead

    # Moved by an hour: the attendee gets an update of the same event.
    with world.database.write() as session:
        records.update(
            session, world.ivanov, RT, meeting.id, {"starts_at": starts + timedelta(hours=1)}
        )
        assert session.get(Interaction, meeting.id).mail_status == "queued"
    assert outbox.send_due(world.database, world.config).sent == 1
    msg2, cal2 = _calendar(smtp_sink.messages[1].data)
    second = _event(cal2)
    assert str(second["UID"]) == str(first["UID"])
    assert int(second["SEQUENCE"]) > int(first["SEQUENCE"])
    assert second.decoded("DTSTART") == starts + timedelta(hours=1)
    assert msg2["Message-ID"] != msg["Message-ID"]

    # The attendee accepts (Outlook's REPLY comes back into the salesperson's mailbox).
    reply = EmailMessage()
    reply["From"] = "director@romashka.test"
    reply["To"] = IVANOV.address
    reply["Subject"] = "Принято: Встреча: поставка арматуры"
    reply["Message-ID"] = "<accept-1@romashka.test>"
    reply.set_content("Принято")
    reply.add_alternative(
        (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0//EN\r\nMETHOD:REPLY\r\n"
            f"BEGIN:VEVENT\r\nUID:{meeting.id}@satchel\r\nSEQUENCE:{int(second['SEQUENCE'])}\r\n"
            "DTSTAMP:20261124T080000Z\r\nDTSTART:20261203T120000Z\r\n"
            'ATTENDEE;PARTSTAT=ACCEPTED;CN="Контакт Ромашки":MAILTO:Director@Romashka.test\r\n'
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        ).encode(),
        maintype="text",
        subtype="calendar",
        params={"method": "REPLY", "charset": "utf-8"},
    )
    world.dovecot.append(IVANOV, "INBOX", bytes(reply))
    report = bridge.ingest_for(world.database, world.config).run(world.mailboxes[IVANOV.address])
    assert report.error is None
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.classified == {"calendar_reply": 1}
    with world.database.read() as session:
        answered = session.get(Interaction, meeting.id)
    assert answered.participants[0]["status"] == "ACCEPTED"
    assert answered.mail_status == "sent"  # an answer is not a change to send again

    # Cancelled: the attendees get METHOD:CANCEL for the same UID.
    with world.database.write() as session:
        records.update(session, world.ivanov, RT, meeting.id, {"status": "cancelled"})
    assert outbox.send_due(world.database, world.config).sent == 1
    msg3, cal3 = _calendar(smtp_sink.messages[2].data)
    assert str(cal3["METHOD"]) == "CANCEL"
    third = _event(cal3)
    assert str(third["UID"]) == str(first["UID"]) and int(third["SEQUENCE"]) > int(
        second["SEQUENCE"]
    )
    assert str(third["STATUS"]) == "CANCELLED"
    assert msg3["Subject"].startswith("Отменено:")
    assert len(smtp_sink.messages) == 3
    outbox.send_due(world.database, world.config)
    assert len(smtp_sink.messages) == 3


def test_invitation_needs_an_attendee(world: World) -> None:
    from crm.errors import ValidationFailed

    with world.database.write() as session, pytest.raises(ValidationFailed) as caught:
        records.create(
            session,
            world.ivanov,
            RT,
            {
                "counterparty_id": world.counterparties["romashka.test"],
                "kind": "meeting",
                "status": "planned",
                "subject": "Встреча",
                "starts_at": datetime(2026, 12, 3, 11, 0, tzinfo=UTC),
                "mail_status": "queued",
            },
        )
    assert "attendee" in str(caught.value.details)


class _NoCalendar:
    """The server's settings without a calendar bridge (a mail bridge embedded elsewhere)."""

    def __init__(self, config: object) -> None:
        self._config = config

    def __getattr__(self, name: str) -> object:
        return getattr(self._config, name)

    invitations = None


def test_without_a_calendar_bridge_a_meeting_fails_clearly_and_nothing_is_sent(
    world: World, smtp_sink: SmtpSink
) -> None:
    """The codec comes with the settings the bridge is handed, not from a module-wide registration."""
    with world.database.write() as session:
        meeting = records.create(
            session,
            world.ivanov,
            RT,
            {
                "counterparty_id": world.counterparties["romashka.test"],
                "kind": "meeting",
                "status": "planned",
                "subject": "Встреча без календаря",
                "starts_at": datetime(2026, 12, 3, 11, 0, tzinfo=UTC),
                "duration_minutes": 30,
                "participants": [{"role": "attendee", "address": "director@romashka.test"}],
                "mail_status": "queued",
            },
        )
    report = outbox.send_due(world.database, _NoCalendar(world.config))  # type: ignore[arg-type]
    assert (report.sent, report.failed) == (0, 1)
    assert smtp_sink.messages == []
    with world.database.read() as session:
        item = session.get(Interaction, meeting.id)
        assert item.mail_status == "failed"
    # The same letter with the server's settings goes out as an invitation.
    assert world.config.invitations is not None
