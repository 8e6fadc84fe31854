"""A small trading company for the mail bridge tests: users, clients with people, mailboxes.

Counterparties are the companies of :mod:`tests.mail.letters` (one per domain);
each has a contact person with two addresses on its domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from crm import records
from crm.database import Database
from crm.models import User
from mail import bridge
from server.config import Config
from tests.conftest import make_user
from tests.mail.letters import COMPANIES, COMPANY_DOMAIN
from tests.mail.servers import DovecotServer, MailUser


@dataclass
class World:
    database: Database
    config: Config
    dovecot: DovecotServer
    ivanov: User
    admin: User
    counterparties: dict[str, str] = field(default_factory=dict)  # domain → counterparty id
    people: dict[str, str] = field(default_factory=dict)  # domain → contact person id
    mailboxes: dict[str, str] = field(default_factory=dict)  # login → mailbox id

    def add_mailbox(self, user: MailUser | str, *, owner: str | None = None, **kwargs: Any) -> str:
        address = user if isinstance(user, str) else user.address
        from tests.mail.servers import PASSWORD

        with self.database.write() as session:
            box = bridge.add_mailbox(
                session,
                self.config,
                name=address,
                address=address,
                imap_host=self.dovecot.host,
                imap_port=self.dovecot.port,
                imap_security="plain",
                password=PASSWORD,
                owner=owner,
                **kwargs,
            )
            self.mailboxes[address] = box.id
            return box.id

    def ingest(self, **kwargs: Any) -> Any:
        return bridge.ingest_for(self.database, self.config, **kwargs)

    def run(self, address: str = f"sales@{COMPANY_DOMAIN}", **kwargs: Any) -> Any:
        report = self.ingest(**kwargs).run(self.mailboxes[address])
        return report

    def letters(self, **filters: Any) -> list[Any]:
        from sqlalchemy import select

        from crm.models import Interaction

        with self.database.read() as session:
            query = select(Interaction).where(Interaction.kind == "letter")
            for name, value in filters.items():
                query = query.where(getattr(Interaction, name) == value)
            return list(session.execute(query.order_by(Interaction.starts_at)).scalars())


def make_world(database: Database, tmp_path: Path, dovecot: DovecotServer) -> World:
    config = Config.load(
        environ={
            "SATCHEL_DATA_DIR": str(tmp_path),
            "SATCHEL_DATABASE_URL": database.url,
            "SATCHEL_COMPANY_DOMAINS": COMPANY_DOMAIN,
        }
    )
    ivanov = make_user(database, "ivanov", team="Москва")
    admin = make_user(database, "admin", role="admin", team=None)
    world = World(database, config, dovecot, ivanov, admin)
    rt_cp, rt_person = records.record_type("counterparties"), records.record_type("contact-persons")
    with database.write() as session:
        for name, domain in COMPANIES:
            cp = records.create(session, ivanov, rt_cp, {"legal_name": name, "visibility": "team"})
            person = records.create(
                session,
                ivanov,
                rt_person,
                {
                    "counterparty_id": cp.id,
                    "full_name": f"Контакт {name}",
                    "contacts": [
                        {"kind": "email", "value": f"director@{domain}"},
                        {"kind": "email", "value": f"second@{domain}"},
                    ],
                },
            )
            world.counterparties[domain] = cp.id
            world.people[domain] = person.id
    return world


def letter(
    *,
    sender: str,
    to: str = f"sales@{COMPANY_DOMAIN}",
    subject: str = "Заявка на поставку",
    body: str = "Добрый день! Просим выставить счёт.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    cc: str | None = None,
    headers: dict[str, str] | None = None,
    when: datetime | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> tuple[bytes, str]:
    """A simple letter made with the stdlib (raw bytes, its normalised Message-ID, "<…>")."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    mid = message_id or make_msgid(domain="example.test")
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if attachment:
        msg.add_attachment(
            attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0]
        )
    return bytes(msg), mid.lower()
