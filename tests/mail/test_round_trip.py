"""A letter's whole life: written offline on a laptop, synced, sent, answered, filed back.

The real server app, a real replica and sync agent, a real Dovecot and a real SMTP sink.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from clients.agent import SyncAgent
from clients.replica import Replica
from crm.models import Interaction
from mail import bridge, outbox
from mail.decode import parse_letter
from server.app import create_app
from tests.conftest import PASSWORD
from tests.inprocess import InProcessClient
from tests.mail.servers import IVANOV, DovecotServer, SmtpSink
from tests.mail.world import letter, make_world


def test_letter_written_offline_is_sent_once_and_its_answer_threads_back(
    database, tmp_path: Path, dovecot: DovecotServer, smtp_sink: SmtpSink
) -> None:
    world = make_world(database, tmp_path, dovecot)
    box_id = world.add_mailbox(
        IVANOV,
        owner="ivanov",
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_security="plain",
    )
    romashka = world.counterparties["romashka.test"]
    with InProcessClient(create_app(world.config, database)) as server:
        agent = SyncAgent(Replica.open(tmp_path / "laptop.db"), server)
        agent.login("http://testserver", "ivanov", PASSWORD, "Ноутбук")
        agent.sync()
        # On the road, no network: the letter waits in the laptop's outbox.
        written = agent.replica.create(
            "interactions",
            {
                "counterparty_id": romashka,
                "contact_person_id": world.people["romashka.test"],
                "kind": "letter",
                "direction": "outgoing",
                "status": "planned",
                "starts_at": "2026-11-23T09:00:00Z",
                "subject": "Коммерческое предложение для {{counterparty.name}}",
                "notes": "Здравствуйте, {{contact.name}}!\nНаправляю предложение.\n{{salesperson.name}}",
                "participants": [{"role": "to", "address": "director@romashka.test"}],
                "mail_status": "queued",
            },
        )
        assert smtp_sink.messages == []
        agent.sync()  # back online: the letter reaches the server

        first = outbox.send_due(database, world.config)
        assert first.sent == 1
        [received] = smtp_sink.messages
        sent = parse_letter(received.data)
        assert sent.message_id == f"<{written['id']}@torgdom.test>"
        assert sent.subject == "Коммерческое предложение для ООО Ромашка"
        assert "Здравствуйте, Контакт ООО Ромашка!" in sent.text
        # Sent again and again (a retried sync, a second worker pass): never a second copy.
        outbox.send_due(database, world.config)
        agent.sync()
        outbox.send_due(database, world.config)
        assert len(smtp_sink.messages) == 1

        # The client answers from a private address, with a client that dropped References.
        reply, _ = letter(
            sender="director.home@mail.ru",
            to=IVANOV.address,
            subject="Re: Коммерческое предложение",
            in_reply_to=sent.message_id,
            when=datetime.now(UTC) + timedelta(hours=1),
        )
        dovecot.append(IVANOV, "INBOX", reply)
        report = bridge.ingest_for(database, world.config).run(box_id)
        assert report.error is None
        with database.read() as session:
            letters = list(
                session.execute(
                    select(Interaction)
                    .where(Interaction.kind == "letter")
                    .order_by(Interaction.starts_at)
                ).scalars()
            )
        assert [(i.direction, i.mail_status, i.mail_rule) for i in letters] == [
            ("outgoing", "sent", None),
            ("incoming", None, "own_reference"),
        ]
        assert letters[1].counterparty_id == romashka
        assert letters[1].thread_id == letters[0].message_id == sent.message_id
        # The copy the outbox put into Sent is the same letter, not a second record.
        sent_folder = next(f for f in report.folders if f.role == "sent")
        assert sent_folder.duplicates == 1 and sent_folder.filed == 0

        agent.sync()  # the laptop learns it went, and sees the answer
        on_laptop = agent.replica.snapshot("interactions")
        assert on_laptop[written["id"]]["mail_status"] == "sent"
        assert on_laptop[letters[1].id]["subject"] == "Re: Коммерческое предложение"
        assert on_laptop[letters[1].id]["thread_id"] == sent.message_id
