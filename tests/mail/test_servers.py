"""The test servers themselves: Dovecot and the SMTP sink do what the mail tests rely on."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime

import pytest
from imapclient import IMAPClient

from tests.mail.servers import IVANOV, PETROVA, SALES, DovecotServer, SmtpSink

LETTER = (
    b"From: d.kuznetsov@romashka.test\r\nTo: sales@torgdom.test\r\n"
    b"Subject: =?utf-8?B?0KHRh9GR0YI=?=\r\nMessage-ID: <fixture.1@romashka.test>\r\n"
    b"\r\nbody\r\n"
)


def test_login_and_special_use_folders(dovecot: DovecotServer) -> None:
    with dovecot.connect(SALES) as client:
        assert b"CONDSTORE" in client.capabilities()
        assert b"SPECIAL-USE" in client.capabilities()
        folders = {name: flags for flags, _sep, name in client.list_folders()}
    assert b"\\Sent" in folders["Sent"]
    assert b"\\Junk" in folders["Junk"]
    assert b"\\All" in folders["Virtual/All"]


def test_russian_sent_folder_travels_in_modified_utf7(dovecot: DovecotServer) -> None:
    with dovecot.connect(PETROVA) as client:
        folders = {name: flags for flags, _sep, name in client.list_folders()}
        typ, raw = client._imap.list()  # the wire form, as another client would see it
    assert b"\\Sent" in folders["Отправленные"]
    assert "Sent" not in folders
    assert any(b"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-" in line for line in raw)


def test_append_and_fetch_by_uid_with_peek(dovecot: DovecotServer) -> None:
    when = datetime(2024, 3, 12, 10, 15, tzinfo=UTC)
    uid = dovecot.append(SALES, "INBOX", LETTER, when=when)
    with dovecot.connect(SALES) as client:
        client.normalise_times = False  # aware datetimes, not local naive ones
        client.select_folder("INBOX")
        data = client.fetch([uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])[uid]
        flags_after = client.get_flags([uid])[uid]
    assert data[b"BODY[]"] == LETTER
    assert data[b"INTERNALDATE"] == when
    assert b"\\Seen" not in flags_after  # PEEK never marks a letter read


def test_append_with_flags_and_all_mail(dovecot: DovecotServer) -> None:
    dovecot.append(IVANOV, "INBOX", LETTER)
    uid = dovecot.append(IVANOV, "Sent", LETTER, flags=[b"\\Seen"])
    dovecot.append(IVANOV, "Junk", LETTER)
    with dovecot.connect(IVANOV) as client:
        client.select_folder("Sent", readonly=True)
        assert b"\\Seen" in client.get_flags([uid])[uid]
    # "All Mail" holds INBOX and Sent, not Junk: the same letter twice.
    assert dovecot.folder_status(IVANOV, "Virtual/All")["MESSAGES"] == 2


def test_condstore_highestmodseq_grows(dovecot: DovecotServer) -> None:
    before = dovecot.folder_status(SALES, "INBOX")["HIGHESTMODSEQ"]
    dovecot.append(SALES, "INBOX", LETTER)
    assert dovecot.folder_status(SALES, "INBOX")["HIGHESTMODSEQ"] > before


def test_recreated_folder_has_new_uidvalidity(dovecot: DovecotServer) -> None:
    dovecot.append(SALES, "INBOX", LETTER)
    dovecot.create_folder(SALES, "Клиенты/Ромашка")
    old = dovecot.folder_status(SALES, "Клиенты/Ромашка")["UIDVALIDITY"]
    dovecot.append(SALES, "Клиенты/Ромашка", LETTER)
    new = dovecot.recreate_folder(SALES, "Клиенты/Ромашка")
    assert new != old
    status = dovecot.folder_status(SALES, "Клиенты/Ромашка")
    assert status["MESSAGES"] == 0
    assert status["UIDNEXT"] == 1
    dovecot.delete_folder(SALES, "Клиенты/Ромашка")


def test_restart_keeps_port_and_letters(dovecot: DovecotServer) -> None:
    uid = dovecot.append(SALES, "INBOX", LETTER)
    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=5)
    client.login(SALES.address, SALES.password)
    client.select_folder("INBOX")
    port = dovecot.port
    dovecot.restart()
    # A connection open across the restart is dead; a new one sees the same letter.
    with pytest.raises((OSError, IMAPClient.AbortError, IMAPClient.Error)):
        client.fetch([uid], ["BODY.PEEK[]"])
    assert dovecot.port == port
    with dovecot.connect(SALES) as fresh:
        fresh.select_folder("INBOX")
        assert fresh.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == LETTER


def test_stopped_server_refuses_connections(dovecot: DovecotServer) -> None:
    dovecot.stop()
    with pytest.raises(OSError):
        IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=2)
    dovecot.start()
    with dovecot.connect(SALES) as client:
        assert client.folder_exists("INBOX")


# ---------------------------------------------------------------- SMTP sink


def _send(sink: SmtpSink, data: bytes = LETTER) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp:
        smtp.sendmail("sales@torgdom.test", ["d.kuznetsov@romashka.test"], data)


def test_sink_records_envelope_and_bytes(smtp_sink: SmtpSink) -> None:
    _send(smtp_sink)
    [received] = smtp_sink.messages
    assert received.mail_from == "sales@torgdom.test"
    assert received.rcpt_tos == ("d.kuznetsov@romashka.test",)
    assert received.data.replace(b"\r\n", b"\n") == LETTER.replace(b"\r\n", b"\n")


def test_sink_answers_4xx_then_accepts(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(2, "451 4.3.0 Try again later")
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as info:
            _send(smtp_sink)
        assert info.value.smtp_code == 451
    _send(smtp_sink)
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.refused == ["451 4.3.0 Try again later"] * 2


def test_sink_answers_5xx(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(1, "550 5.1.1 Mailbox unavailable")
    with pytest.raises(smtplib.SMTPDataError) as info:
        _send(smtp_sink)
    assert info.value.smtp_code == 550
    assert smtp_sink.messages == []


def test_sink_drops_the_connection(smtp_sink: SmtpSink) -> None:
    smtp_sink.drop_next()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        _send(smtp_sink)
    assert smtp_sink.messages == []
    _send(smtp_sink)
    assert len(smtp_sink.messages) == 1


def test_sink_rejects_a_success_code_as_failure(smtp_sink: SmtpSink) -> None:
    with pytest.raises(ValueError):
        smtp_sink.fail_next(1, "250 OK")
