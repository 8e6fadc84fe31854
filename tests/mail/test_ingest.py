"""The mail bridge's ingest against a real Dovecot, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm.changes import ChangeLog
from crm.models import Interaction
from mail.models import Mailbox, MailFolder, MailMessage, MailReview
from tests.conftest import SQLITE_ONLY
from tests.mail.letters import COMPANY_DOMAIN, generate
from tests.mail.servers import IVANOV, PETROVA, SALES, DovecotServer
from tests.mail.world import World, letter, make_world

SALES_BOX = SALES.address


@pytest.fixture
def world(database, tmp_path: Path, dovecot: DovecotServer) -> World:
    world = make_world(database, tmp_path, dovecot)
    world.add_mailbox(SALES)
    return world


def _keys(world: World) -> set[str]:
    with world.database.read() as session:
        return set(session.execute(select(MailMessage.key)).scalars())


def test_first_import_files_every_business_letter_once_with_cyrillic_intact(world: World) -> None:
    generated = generate(60)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated))
    report = world.run()
    assert report.error is None
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.fetched == 60
    assert inbox.filed + inbox.review + inbox.duplicates == 60
    filed = {i.message_id: i for i in world.letters()}
    assert len(filed) == inbox.filed > 30
    by_id = {g.message_id: g for g in generated}
    for mid, interaction in filed.items():
        source = by_id[mid]
        assert (
            interaction.subject == source.subject
        )  # windows-1251, koi8-r, UTF-8; B, Q and raw 8-bit
        assert interaction.direction == "incoming"
        assert interaction.mail_rule in ("contact_address", "domain", "thread")
        if interaction.mail_rule == "thread":  # a reply belongs where the letter it answers is
            assert interaction.counterparty_id == filed[source.in_reply_to].counterparty_id
            assert interaction.thread_id == filed[source.in_reply_to].thread_id
        else:
            assert not source.free_mail
            domain = source.from_address.rpartition("@")[2]
            assert interaction.counterparty_id == world.counterparties[domain]
    # Free-mail senders are never matched by their domain: without a thread they wait in review.
    with world.database.read() as session:
        reviews = list(session.execute(select(MailReview)).scalars())
    assert reviews and all(r.reason == "no_match" for r in reviews)
    assert all(by_id[r.key].free_mail for r in reviews)
    assert len(reviews) == inbox.review


def test_incremental_runs_read_only_new_letters(world: World) -> None:
    generated = generate(30)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[:20]))
    first = world.run()
    before = len(world.letters())
    again = world.run()
    assert sum(f.fetched for f in again.folders) == 0
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[20:]))
    third = world.run()
    # INBOX, and the server's virtual All Mail folder, which shows every letter again.
    assert {f.folder: f.fetched for f in third.folders if f.fetched} == {
        "INBOX": 10,
        "Virtual/All": 10,
    }
    assert third.total("duplicates") == 10
    assert len(world.letters()) == before + third.total("filed")
    assert first.total("fetched") == 40
    with world.database.read() as session:
        folder = session.execute(select(MailFolder).where(MailFolder.name == "INBOX")).scalar_one()
    assert folder.last_uid == 30
    assert folder.counts["filed"] + folder.counts.get("review", 0) == 30


def test_reading_never_marks_letters_seen(world: World) -> None:
    raw, _ = letter(sender="director@romashka.test")
    uid = world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    with world.dovecot.connect(SALES) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags([uid])[uid]
    assert b"\\Seen" not in flags
    assert len(world.letters()) == 1


def test_same_letter_in_inbox_sent_and_a_second_mailbox_is_one_record(world: World) -> None:
    world.add_mailbox(IVANOV, owner="ivanov")
    world.add_mailbox(PETROVA)
    raw, mid = letter(
        sender="director@romashka.test",
        to=f"sales@{COMPANY_DOMAIN}",
        cc=f"ivanov@{COMPANY_DOMAIN}, petrova@{COMPANY_DOMAIN}",
    )
    world.dovecot.append(SALES, "INBOX", raw)
    world.dovecot.append(SALES, "Sent", raw)
    world.dovecot.append(IVANOV, "INBOX", raw)
    world.dovecot.append(PETROVA, "Отправленные", raw)
    for box in (SALES.address, IVANOV.address, PETROVA.address):
        assert world.run(box).error is None
    filed = world.letters()
    assert [i.message_id for i in filed] == [mid]
    with world.database.read() as session:
        counts = {f.name: f.counts for f in session.execute(select(MailFolder)).scalars()}
    assert counts["Отправленные"]["duplicates"] == 1  # the Russian Sent folder was found and read


def test_uidvalidity_reset_imports_nothing_twice_and_loses_nothing(world: World) -> None:
    generated = generate(12)
    folder = "Клиенты"  # modified UTF-7 on the wire
    world.dovecot.create_folder(SALES, folder)
    world.dovecot.append_many(SALES, folder, (g.raw for g in generated[:10]))
    world.run()
    keys_before = _keys(world)
    letters_before = len(world.letters())
    world.dovecot.recreate_folder(SALES, folder)  # a new UIDVALIDITY, UIDs from 1 again
    world.dovecot.append_many(SALES, folder, (g.raw for g in generated))  # the old ten and two new
    report = world.run()
    moved = next(f for f in report.folders if f.folder == folder)
    assert moved.uidvalidity_reset
    assert moved.duplicates == 10
    assert _keys(world) - keys_before == {g.message_id for g in generated[10:]}
    assert len(world.letters()) == letters_before + moved.filed
    assert len({i.message_id for i in world.letters()}) == len(world.letters())
    with world.database.read() as session:
        row = session.execute(select(MailFolder).where(MailFolder.name == folder)).scalar_one()
    assert (row.uidvalidity_resets, row.last_uid) == (1, 12)


def test_server_restarted_mid_fetch_then_every_letter_exactly_once(world: World) -> None:
    generated = generate(25)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated))
    restarted = []

    def restart_once(folder: str, done: int) -> None:
        if not restarted:
            restarted.append(done)
            world.dovecot.restart()

    broken = world.run(batch_count=5, after_batch=restart_once)
    assert broken.error is not None  # the connection died under the run and it says so
    assert restarted == [5]
    partial = len(_keys(world))
    assert 5 <= partial < 25
    again = world.run(batch_count=5)
    assert again.error is None
    assert len(_keys(world)) == 25
    messages = [i.message_id for i in world.letters()]
    assert len(messages) == len(set(messages))


def test_contact_persons_second_address_and_thread_without_references(world: World) -> None:
    first, first_id = letter(sender="Второй адрес <second@vektor-snab.test>", subject="Счёт № 17")
    world.dovecot.append(SALES, "INBOX", first)
    # A reply from a free-mail address; its client (Outlook) kept In-Reply-To but dropped References.
    reply, _ = letter(sender="boss.vektor@gmail.com", subject="RE: Счёт № 17", in_reply_to=first_id)
    world.dovecot.append(SALES, "INBOX", reply)
    world.run()
    filed = world.letters()
    assert [(i.mail_rule, i.counterparty_id) for i in filed] == [
        ("contact_address", world.counterparties["vektor-snab.test"]),
        ("thread", world.counterparties["vektor-snab.test"]),
    ]
    assert filed[0].contact_person_id == world.people["vektor-snab.test"]
    assert filed[1].thread_id == filed[0].thread_id == first_id


def test_ambiguous_address_goes_to_review_never_to_every_record(world: World) -> None:
    from crm import records

    with world.database.write() as session:
        # The same address at a second counterparty (a person who moved, a shared accountant).
        other = records.create(
            session,
            world.ivanov,
            records.record_type("counterparties"),
            {"legal_name": "ООО Двойник"},
        )
        records.create(
            session,
            world.ivanov,
            records.record_type("contact-persons"),
            {
                "counterparty_id": other.id,
                "full_name": "Двойник",
                "contacts": [{"kind": "email", "value": "director@romashka.test"}],
            },
        )
    raw, _ = letter(sender="director@romashka.test")
    world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    assert world.letters() == []
    with world.database.read() as session:
        review = session.execute(select(MailReview)).scalar_one()
    assert review.reason == "ambiguous"
    assert set(review.candidates) == {other.id, world.counterparties["romashka.test"]}


def test_robots_lists_internal_and_private_mail_are_counted_not_filed(
    world: World, database
) -> None:
    with database.write() as session:
        from mail.models import Mailbox

        box = session.get(Mailbox, world.mailboxes[SALES_BOX])
        box.private_addresses = ["wife@mail.ru"]
    samples = [
        letter(sender="MAILER-DAEMON@romashka.test", subject="Undelivered Mail Returned to Sender")[
            0
        ],
        letter(
            sender="director@romashka.test",
            subject="Автоответ: Заявка",
            headers={"Auto-Submitted": "auto-replied"},
        )[0],
        letter(
            sender="news@vektor-snab.test",
            subject="Новости",
            headers={"List-Id": "<news.vektor-snab.test>"},
        )[0],
        letter(sender=f"ivanov@{COMPANY_DOMAIN}", to=f"sales@{COMPANY_DOMAIN}", subject="Планёрка")[
            0
        ],
        letter(sender="wife@mail.ru", subject="Купи хлеба")[0],
    ]
    world.dovecot.append_many(SALES, "INBOX", samples)
    report = world.run()
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.classified == {
        "bounce": 1,
        "auto_reply": 1,
        "mailing_list": 1,
        "internal": 1,
        "private": 1,
    }
    assert world.letters() == []
    with world.database.read() as session:
        kinds = sorted(session.execute(select(MailMessage.kind)).scalars())
    assert kinds == ["auto_reply", "bounce", "internal", "mailing_list", "private"]


def test_filed_letter_enters_the_change_log_with_sanitised_html_and_attachments(
    world: World,
) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "director@td-sever.test"
    msg["To"] = SALES_BOX
    msg["Subject"] = "Спецификация"
    msg["Message-ID"] = "<spec-1@td-sever.test>"
    msg.set_content("Во вложении спецификация.")
    msg.add_alternative(
        '<p onclick="steal()">Во вложении <b>спецификация</b>.</p><script>alert(1)</script>',
        subtype="html",
    )
    msg.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="Спецификация.pdf"
    )
    world.dovecot.append(SALES, "INBOX", bytes(msg))
    world.run()
    [filed] = world.letters()
    assert "<b>спецификация</b>" in filed.body_html
    assert "script" not in filed.body_html and "onclick" not in filed.body_html
    [attachment] = filed.attachments
    assert attachment["filename"] == "Спецификация.pdf"
    blobs = Path(world.config.data_dir) / "mail-blobs"
    assert (
        blobs / attachment["sha256"][:2] / attachment["sha256"][2:]
    ).read_bytes() == b"%PDF-1.4 fake"
    with world.database.read() as session:
        log = session.get(ChangeLog, ("interactions", filed.id))
        assert log is not None and not log.deleted
        assert log.counterparty_id == world.counterparties["td-sever.test"]
        assert (
            session.get(Interaction, filed.id).responsible_id == world.ivanov.id
        )  # the client's owner


# Blob storage and the size limit, which no SQL decides: on SQLite alone (three 27 MB fetches a database).
@SQLITE_ONLY
def test_twenty_megabyte_attachment_is_stored_and_over_the_limit_listed(world: World) -> None:
    big = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    raw, _ = letter(
        sender="director@uralmetall.test", subject="Фото партии", attachment=("партия.zip", big)
    )
    world.dovecot.append(SALES, "INBOX", raw)
    report = world.ingest().run(world.mailboxes[SALES_BOX])
    assert report.error is None
    [first] = world.letters()
    assert first.attachments[0]["size"] == len(big) and not first.attachments[0]["omitted"]
    # A tighter limit: the next letter's file is listed with its size only.
    from mail import bridge

    tight = bridge.ingest_for(world.database, world.config)
    tight.max_attachment_bytes = 1024 * 1024
    raw2, _ = letter(
        sender="director@edelweiss.test", subject="Ещё файл", attachment=("x.bin", big)
    )
    world.dovecot.append(SALES, "INBOX", raw2)
    tight.run(world.mailboxes[SALES_BOX])
    second = world.letters()[-1]
    assert second.attachments[0]["omitted"] and "sha256" not in second.attachments[0]
    assert second.attachments[0]["size"] == len(big)


def test_review_settled_files_the_letter_and_its_thread_follows(world: World) -> None:
    from mail import bridge

    raw, mid = letter(sender="unknown.client@mail.ru", subject="Прайс")
    world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    with world.database.read() as session:
        review = session.execute(select(MailReview)).scalar_one()
    settled = bridge.settle_review(
        world.database,
        world.config,
        review.id,
        world.ivanov,
        counterparty_id=world.counterparties["romashka.test"],
    )
    assert settled.status == "filed"
    [filed] = world.letters()
    assert filed.mail_rule == "review" and filed.message_id == mid
    reply, _ = letter(sender="unknown.client@mail.ru", subject="Re: Прайс", in_reply_to=mid)
    world.dovecot.append(SALES, "INBOX", reply)
    world.run()
    assert [i.mail_rule for i in world.letters()] == ["review", "thread"]


def test_unknown_address_on_a_corporate_domain_becomes_a_suggestion(world: World) -> None:
    from mail.models import MailSuggestion

    raw, _ = letter(sender="Новый Менеджер <new.manager@romashka.test>")
    world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    [filed] = world.letters()
    assert filed.mail_rule == "domain"
    with world.database.read() as session:
        [suggestion] = session.execute(select(MailSuggestion)).scalars()
    assert (suggestion.address, suggestion.name) == ("new.manager@romashka.test", "Новый Менеджер")
    assert suggestion.counterparty_id == world.counterparties["romashka.test"]


def test_cpython_messages_and_generated_letters_all_accounted_for(world: World) -> None:
    """Every letter of a messy real-world set is filed, reviewed, known or counted; none crashes the run."""
    data = Path(__file__).parents[1] / "data" / "mail"
    raws = [p.read_bytes() for p in sorted((data / "cpython").iterdir()) if p.is_file()]
    raws += [p.read_bytes() for p in sorted((data / "samples").iterdir()) if p.suffix == ".eml"]
    raws += [g.raw for g in generate(300, seed=7)]
    world.dovecot.append_many(SALES, "INBOX", raws)
    report = world.run()
    assert report.error is None
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert inbox.fetched == len(raws)
    accounted = (
        inbox.filed
        + inbox.review
        + inbox.duplicates
        + inbox.errors
        + sum(inbox.classified.values())
    )
    assert accounted == len(raws)
    assert inbox.errors == 0
    assert inbox.filed >= 200
    with world.database.read() as session:
        folder = session.execute(select(MailFolder).where(MailFolder.name == "INBOX")).scalar_one()
    assert sum(folder.counts.values()) == len(raws)


def test_worker_files_a_new_letter_at_once_through_idle(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`satchel mail run`: after the first pass it waits on INBOX with IDLE; a new letter wakes it."""
    import threading
    import time

    from imapclient import IMAPClient

    from mail import bridge

    # What the worker's IMAP connection does, seen from outside: the server has said it is
    # idling (IDLE's continuation answered), and what each wait on IDLE brought back.
    idling = threading.Event()
    woken: list[list] = []
    real_idle, real_idle_check = IMAPClient.idle, IMAPClient.idle_check

    def idle(client: IMAPClient) -> object:
        answer = real_idle(client)
        idling.set()
        return answer

    def idle_check(client: IMAPClient, timeout: float | None = None) -> list:
        responses = real_idle_check(client, timeout)
        if responses:
            woken.append(responses)
        return responses

    monkeypatch.setattr(IMAPClient, "idle", idle)
    monkeypatch.setattr(IMAPClient, "idle_check", idle_check)

    world.dovecot.append(
        SALES, "INBOX", letter(sender="director@romashka.test", subject="Первое")[0]
    )
    stop = threading.Event()
    reports: list = []
    worker = threading.Thread(
        target=bridge.serve,
        args=(world.database, world.config),
        kwargs={"stop": stop, "on_report": reports.append},
        daemon=True,
    )
    worker.start()
    try:
        assert idling.wait(20), "the worker never started IDLE on INBOX"
        # IDLE starts only after the first pass, which filed the first letter.
        assert [i.subject for i in world.letters()] == ["Первое"] and len(reports) == 1
        world.dovecot.append(
            SALES, "INBOX", letter(sender="director@vektor-snab.test", subject="Второе")[0]
        )
        deadline = time.monotonic() + 10  # far less than mail_poll_seconds (60): IDLE, not polling
        while len(world.letters()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {i.subject for i in world.letters()} == {"Первое", "Второе"}
        assert any(
            b"EXISTS" in response for responses in woken for response in responses
        )  # IDLE woke it
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert all(r.error is None for r in reports)


def test_full_disk_stops_the_run_and_loses_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from mail.filing import BlobStore

    raw, mid = letter(sender="director@romashka.test", attachment=("счёт.pdf", b"%PDF-1.4"))
    world.dovecot.append(SALES, "INBOX", raw)
    real_put = BlobStore.put

    def full(self: BlobStore, data: bytes) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(BlobStore, "put", full)
    report = world.run()
    assert report.error is not None and "No space left" in report.error
    assert world.letters() == [] and _keys(world) == set()
    with world.database.read() as session:
        folder = session.execute(select(MailFolder).where(MailFolder.name == "INBOX")).scalar_one()
    assert folder.last_uid == 0  # the cursor stayed before the letter
    monkeypatch.setattr(BlobStore, "put", real_put)
    assert world.run().error is None
    assert [i.message_id for i in world.letters()] == [mid]


def test_a_letter_that_fails_to_file_waits_in_review_and_the_rest_are_filed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mail import filing

    real = filing.file_letter

    def fragile(session, bridge, letter, *args, **kwargs):  # type: ignore[no-untyped-def]
        if letter.subject == "Сломанное":
            raise RuntimeError("something nobody foresaw")
        return real(session, bridge, letter, *args, **kwargs)

    monkeypatch.setattr(filing, "file_letter", fragile)
    for subject in ("Первое", "Сломанное", "Третье"):
        world.dovecot.append(
            SALES, "INBOX", letter(sender="director@romashka.test", subject=subject)[0]
        )
    report = world.run()
    inbox = next(f for f in report.folders if f.folder == "INBOX")
    assert (inbox.filed, inbox.errors) == (2, 1)
    assert {i.subject for i in world.letters()} == {"Первое", "Третье"}
    with world.database.read() as session:
        review = session.execute(select(MailReview)).scalar_one()
    assert review.reason == "error" and "something nobody foresaw" in review.detail
    assert review.subject == "Сломанное"


def test_review_rematched_after_the_client_is_added(world: World) -> None:
    from crm import records
    from mail import bridge
    from mail.models import MailSuggestion

    raw, mid = letter(
        sender="director@newclient.test", cc="buh@newclient.test", subject="Первый заказ"
    )
    world.dovecot.append(SALES, "INBOX", raw)
    world.run()
    assert world.letters() == []
    assert bridge.rematch_reviews(world.database, world.config) == (0, 1)
    with world.database.write() as session:
        cp = records.create(
            session,
            world.ivanov,
            records.record_type("counterparties"),
            {"legal_name": "ООО Новый"},
        )
        records.create(
            session,
            world.ivanov,
            records.record_type("contact-persons"),
            {
                "counterparty_id": cp.id,
                "full_name": "Директор",
                "contacts": [{"kind": "email", "value": "director@newclient.test"}],
            },
        )
    assert bridge.rematch_reviews(world.database, world.config) == (1, 0)
    [filed] = world.letters()
    assert (filed.counterparty_id, filed.mail_rule, filed.message_id) == (
        cp.id,
        "contact_address",
        mid,
    )
    with world.database.read() as session:
        review = session.execute(select(MailReview)).scalar_one()
        [suggestion] = session.execute(select(MailSuggestion)).scalars()
        known = session.get(MailMessage, mid)
    assert review.status == "filed" and review.interaction_id == filed.id
    assert suggestion.address == "buh@newclient.test" and suggestion.counterparty_id == cp.id
    assert known.interaction_id == filed.id  # a reply now threads to it


def test_parse_workers_start_once_per_run_and_import_only_the_parser(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mail import ingest

    world.add_mailbox(IVANOV)
    generated = generate(90)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[:30]))
    small = world.ingest()
    with small:
        first = small.run(world.mailboxes[SALES_BOX])
        assert next(f.fetched for f in first.folders if f.folder == "INBOX") == 30
        assert small.parser.started == 0  # a small folder is parsed in-process: no workers for it
    if small.parser.cores < 2:
        pytest.skip("one core: parsing always stays in-process")
    monkeypatch.setattr(ingest, "_PARALLEL_FROM", 10)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[30:60]))
    world.dovecot.append_many(IVANOV, "INBOX", (g.raw for g in generated[60:75]))
    world.dovecot.append_many(IVANOV, "Sent", (g.raw for g in generated[75:]))
    with world.ingest() as run:
        reports = [run.run(world.mailboxes[address]) for address in (SALES_BOX, IVANOV.address)]
        assert run.parser.started == 1  # one pool for every folder of every mailbox of the run
        assert run.parser.pool is not None
        modules = run.parser.pool.submit(eval, "sorted(__import__('sys').modules)").result()
    assert run.parser.pool is None  # ended with the run
    # The workers fetched and parsed (mail.fetching: IMAP and the parser), with nothing of the CRM.
    assert {"mail.decode", "mail.fetching", "imapclient"} <= set(modules)
    assert not {
        "mail.ingest",
        "mail.models",
        "crm.database",
        "crm.models",
        "sqlalchemy",
        "sqlmodel",
    } & set(modules)
    assert all(r.error is None for r in reports)
    assert next(f.fetched for f in reports[0].folders if f.folder == "INBOX") == 30
    assert {f.folder: f.fetched for f in reports[1].folders if f.folder in ("INBOX", "Sent")} == {
        "INBOX": 15,
        "Sent": 15,
    }
    assert reports[0].total("filed") + reports[1].total("filed") > 30


# ---------------------------------------------------------------- several mailboxes in one pass


def _folder_rows(world: World) -> dict[tuple[str, str], MailFolder]:
    with world.database.read() as session:
        return {(f.mailbox_id, f.name): f for f in session.execute(select(MailFolder)).scalars()}


def test_run_many_files_every_batch_of_every_mailbox_and_reports_them_whole(
    world: World,
) -> None:
    # Each mailbox's last batch is filed after the next mailbox's first one is asked for: the
    # reports, cursors and letters must still be whole when run_many returns.
    world.add_mailbox(IVANOV, owner="ivanov")
    generated = generate(23)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[:9]))
    world.dovecot.append_many(SALES, "Sent", (g.raw for g in generated[9:13]))
    world.dovecot.append_many(IVANOV, "INBOX", (g.raw for g in generated[13:]))
    done: list[tuple[str, int]] = []
    with world.ingest(batch_count=4, after_batch=lambda f, n: done.append((f, n))) as ingest:
        reports = ingest.run_many([world.mailboxes[SALES.address], world.mailboxes[IVANOV.address]])
    assert [r.error for r in reports] == [None, None]
    sales, ivanov = ({f.folder: f for f in r.folders} for r in reports)
    assert (sales["INBOX"].fetched, sales["Sent"].fetched, ivanov["INBOX"].fetched) == (9, 4, 10)
    # (Dovecot's virtual "All" folder is read too: the same letters again, as duplicates.)
    assert sum(f.filed + f.review for r in reports for f in r.folders) == 23
    assert all(f.errors == 0 for r in reports for f in r.folders)
    assert done.count(("INBOX", 9)) == 1 and done.count(("INBOX", 10)) == 1
    rows = _folder_rows(world)
    assert rows[(world.mailboxes[SALES.address], "INBOX")].last_uid == 9
    assert rows[(world.mailboxes[SALES.address], "Sent")].last_uid == 4
    assert rows[(world.mailboxes[IVANOV.address], "INBOX")].last_uid == 10
    assert _keys(world) == {g.message_id for g in generated}
    again = world.ingest().run_many(list(world.mailboxes.values()))
    assert all(f.fetched == 0 for r in again for f in r.folders)


def test_run_many_a_mailbox_that_fails_leaves_the_ones_around_it_whole(world: World) -> None:
    world.add_mailbox(f"nobody@{COMPANY_DOMAIN}")  # no such IMAP user: the login fails
    world.add_mailbox(IVANOV, owner="ivanov")
    generated = generate(10)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[:5]))
    world.dovecot.append_many(IVANOV, "INBOX", (g.raw for g in generated[5:]))
    order = [SALES.address, f"nobody@{COMPANY_DOMAIN}", IVANOV.address]
    reports = world.ingest().run_many([world.mailboxes[a] for a in order])
    assert reports[0].error is None and reports[2].error is None
    assert reports[1].error is not None
    assert _keys(world) == {g.message_id for g in generated}
    with world.database.read() as session:
        errors = {b.address: b.last_error for b in session.execute(select(Mailbox)).scalars()}
    assert errors[order[1]] is not None and errors[SALES.address] is None


def test_a_batch_that_fails_stops_its_folder_so_no_letter_is_skipped(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mail.ingest import Ingest

    generated = generate(12)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated))
    real = Ingest._file_and_move
    calls: list[int] = []

    def second_fails(self: Ingest, pending: Any) -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        real(self, pending)

    monkeypatch.setattr(Ingest, "_file_and_move", second_fails)
    report = world.run(batch_count=4)
    assert report.error is not None and "went away" in report.error
    # The third batch was fetched, but is not filed after the second failed: the cursor would skip it.
    assert _folder_rows(world)[(world.mailboxes[SALES.address], "INBOX")].last_uid == 4
    assert _keys(world) == {g.message_id for g in generated[:4]}
    monkeypatch.setattr(Ingest, "_file_and_move", real)
    assert world.run(batch_count=4).error is None
    assert _keys(world) == {g.message_id for g in generated}
    messages = [i.message_id for i in world.letters()]
    assert len(messages) == len(set(messages))


def test_a_mailboxs_last_batch_failing_while_the_next_is_read_is_its_own_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mail.ingest import Ingest

    world.add_mailbox(IVANOV, owner="ivanov")
    generated = generate(6)
    world.dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[:3]))
    world.dovecot.append_many(IVANOV, "INBOX", (g.raw for g in generated[3:]))
    real = Ingest._file_and_move

    def sales_fails(self: Ingest, pending: Any) -> None:
        if pending.folder.mailbox.address == SALES.address:
            raise RuntimeError("the database went away")
        real(self, pending)

    monkeypatch.setattr(Ingest, "_file_and_move", sales_fails)
    reports = world.ingest().run_many(
        [world.mailboxes[SALES.address], world.mailboxes[IVANOV.address]]
    )
    assert reports[0].error is not None and "went away" in reports[0].error
    assert reports[1].error is None  # its own letters were filed
    assert _keys(world) == {g.message_id for g in generated[3:]}


def test_parse_workers_that_stop_leave_the_parsing_to_this_process_for_the_rest_of_the_run() -> (
    None
):
    """Workers killed (by the OOM killer, an operator) or never able to run: the batch in hand and
    every later one are parsed here, each letter once, in order, and no pool starts again."""
    from mail import ingest
    from mail.decode import parse_letter

    parser = ingest._Parser()
    if parser.cores < 2:
        pytest.skip("one core: parsing always stays in-process")
    raws = [(n, g.raw) for n, g in enumerate(generate(40), start=1)]
    expected = [parse_letter(raw).dedup_key for _uid, raw in raws]
    parser.prepare(10_000)
    try:
        assert parser.pool is not None
        first = parser.submit(raws[:20], 10_000_000).result()  # the workers parse one batch
        assert [letter.dedup_key for _u, _r, letter in first] == expected[:20]
        for process in list(parser.pool._processes.values()):  # type: ignore[union-attr]
            process.kill()
            process.join(10)
        second = parser.submit(raws[20:], 10_000_000).result()
        assert [letter.dedup_key for _u, _r, letter in second] == expected[20:]
        assert parser.pool is None and parser.failed
        parser.prepare(10_000)
        assert parser.pool is None and parser.started == 1  # not started again in this run
    finally:
        parser.close()


def test_workers_fetch_their_share_and_a_stopped_workers_part_is_fetched_here(
    dovecot: DovecotServer,
) -> None:
    """Once the workers run, each fetches its part of a batch on its own connection and parses it.
    Workers killed: the batch in hand and later ones are fetched and parsed here, each letter once,
    in order. A folder renumbered since the ingest read it fails the batch; so does a wrong password,
    with an error that names the login and not the secret."""
    from mail import fetching, ingest
    from mail.decode import parse_letter
    from mail.imap import Account, ImapError
    from tests.mail.servers import PASSWORD

    generated = generate(40)
    dovecot.append_many(SALES, "INBOX", (g.raw for g in generated))
    with dovecot.connect(SALES) as client:
        uidvalidity = int(client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])
        uids = sorted(client.search(["ALL"]))
    expected = [parse_letter(g.raw).dedup_key for g in generated]
    account = Account(dovecot.host, dovecot.port, "plain", SALES.address, PASSWORD)
    parser = ingest._Parser()
    if parser.cores < 2:
        pytest.skip("one core: no workers, the ingest's own thread fetches")
    parser.prepare(10_000)
    try:
        assert parser.pool is not None
        first = parser.fetch(account, "INBOX", uidvalidity, uids[:20], 10_000_000).result()
        assert [uid for uid, _raw, _letter in first] == uids[:20]
        assert [letter.dedup_key for _u, _r, letter in first] == expected[:20]
        # The raw letter comes back too (a letter sent to review keeps it): the same letter.
        assert [parse_letter(raw).dedup_key for _u, raw, _l in first] == expected[:20]
        in_flight = parser.fetch(account, "INBOX", uidvalidity, uids[20:30], 10_000_000)
        for process in list(parser.pool._processes.values()):  # type: ignore[union-attr]
            process.kill()
            process.join(10)
        later = parser.fetch(account, "INBOX", uidvalidity, uids[30:], 10_000_000)
        rest = in_flight.result() + later.result()
        assert [letter.dedup_key for _u, _r, letter in rest] == expected[20:]
        assert parser.pool is None and parser.failed
    finally:
        parser.close()
    with pytest.raises(ImapError, match="renumbered"):
        fetching.fetch_here(account, "INBOX", uidvalidity + 1, uids[:1], 10_000_000)
    wrong = Account(dovecot.host, dovecot.port, "plain", SALES.address, "not-the-password-42")
    with pytest.raises(ImapError, match="refused the login") as refused:
        fetching.fetch_here(wrong, "INBOX", uidvalidity, uids[:1], 10_000_000)
    assert "not-the-password-42" not in str(refused.value) and "not-the-password-42" not in repr(
        wrong
    )


def test_a_workers_connection_follows_the_folder_and_the_account(dovecot: DovecotServer) -> None:
    """A worker keeps one connection: the same folder is not examined again, another folder is, and
    another account logs the first one out; ``close`` logs out."""
    from mail import fetching
    from mail.imap import Account
    from tests.mail.servers import PASSWORD

    generated = generate(6)
    dovecot.append_many(SALES, "INBOX", (g.raw for g in generated[:2]))
    dovecot.append_many(IVANOV, "INBOX", (g.raw for g in generated[2:4]))
    dovecot.append_many(IVANOV, "Sent", (g.raw for g in generated[4:]))
    validity = {}
    for user, folder in ((SALES, "INBOX"), (IVANOV, "INBOX"), (IVANOV, "Sent")):
        with dovecot.connect(user) as client:
            selected = client.select_folder(folder, readonly=True)
            validity[(user.address, folder)] = (
                int(selected[b"UIDVALIDITY"]),
                sorted(client.search(["ALL"])),
            )
    sales = Account(dovecot.host, dovecot.port, "plain", SALES.address, PASSWORD)
    ivanov = Account(dovecot.host, dovecot.port, "plain", IVANOV.address, PASSWORD)
    try:
        got = []
        for account, folder in (
            (sales, "INBOX"),
            (sales, "INBOX"),
            (ivanov, "INBOX"),
            (ivanov, "Sent"),
        ):
            uidvalidity, uids = validity[(account.login, folder)]
            got.append(fetching.fetch_and_parse(account, folder, uidvalidity, uids, 10_000_000))
            assert fetching._open[0][0] == account and fetching._open[0][2] == folder
        subjects = [[letter.subject for _u, _r, letter in batch] for batch in got]
        assert subjects == [
            [g.subject for g in generated[:2]],
            [g.subject for g in generated[:2]],
            [g.subject for g in generated[2:4]],
            [g.subject for g in generated[4:]],
        ]
    finally:
        fetching.close()
    assert fetching._open == []


def test_parse_workers_count_the_cores_a_cgroup_quota_allows(tmp_path: Path) -> None:
    """A container given 1.5 of the host's cores gets no parse worker pool; a quota above the cores
    the process may run on changes nothing; no cgroup file means those cores."""
    from mail.ingest import usable_cores

    runnable = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert usable_cores(cpu_max) == runnable  # no such file
    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == runnable
    cpu_max.write_text("150000 100000\n")
    assert usable_cores(cpu_max) == 1
    cpu_max.write_text("50000 100000\n")
    assert usable_cores(cpu_max) == 1
    cpu_max.write_text(f"{100000 * (runnable + 8)} 100000\n")
    assert usable_cores(cpu_max) == runnable
    cpu_max.write_text("garbage")
    assert usable_cores(cpu_max) == runnable
