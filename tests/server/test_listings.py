"""The listings' Core clauses (server/commands/listings.py) name real columns with the models'
types, read what the domain functions they stand in for read, and a listing starts without
SQLModel and the models."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

import calendar_bridge.models  # noqa: F401 - every table in the metadata
import mail.models  # noqa: F401
import sync.models  # noqa: F401
from crm.database import Database
from crm.models import metadata
from server.commands import app
from server.commands.listings import TABLES
from tests.conftest import make_user

# The listings read through Core; each is checked against what it was written from.
LISTINGS = (
    ["user", "list"],
    ["mail", "mailbox", "list"],
    ["mail", "review", "list"],
    ["mail", "status"],
    ["mail", "suggestions"],
    ["mail", "template", "list"],
    ["device", "list"],
    ["sync", "devices"],
    ["feed", "list"],
    ["duplicates"],
)


def test_every_listed_column_is_the_models_with_its_type() -> None:
    for clause in TABLES:
        model = metadata.tables[clause.name]
        for column in clause.columns:
            assert column.name in model.columns, f"{clause.name}.{column.name} is no column"
            ours, theirs = column.type, model.columns[column.name].type
            assert ours._type_affinity is theirs._type_affinity or type(ours) is type(theirs), (
                f"{clause.name}.{column.name}: {ours!r} where the model has {theirs!r}"
            )


def test_a_listing_reads_without_the_orm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each listing command in a fresh interpreter on a new database: it answers, and neither
    SQLModel nor a model module was imported (what made a listing take 2–6 s to start)."""
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['satchel', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('server', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m == 'sqlmodel' or m.startswith('crm.models')\n"
        "               or m.startswith('mail.') or m == 'alembic')\n"
        "print('HEAVY', heavy)\n"
    )
    env = {"SATCHEL_DATABASE_URL": f"sqlite:///{tmp_path / 'satchel.db'}", "PATH": "/usr/bin"}
    # The first command migrates the new database (that one may import everything).
    subprocess.run(
        [sys.executable, "-m", "server", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    for command in LISTINGS:
        done = subprocess.run(
            [sys.executable, "-c", probe, *command, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "HEAVY []" in done.stdout, (command, done.stdout[-500:], done.stderr[-500:])


def test_spelt_out_values_are_the_models() -> None:
    """What the listings name without importing the models is what the models say."""
    from crm.models.enums import MailStatus
    from server.commands import mail as mail_commands

    assert mail_commands.QUEUED == MailStatus.QUEUED.value


def _printed(value: Any) -> Any:
    """``value`` as ``crm.console.print_json`` prints it, read back."""
    return json.loads(
        json.dumps(
            value, default=lambda v: v.isoformat() if isinstance(v, datetime | date) else str(v)
        )
    )


def _listed(database: Database, *command: str) -> Any:
    done = CliRunner().invoke(
        app,
        [*command, "--json"],
        env={"SATCHEL_DATABASE_URL": database.url, "COLUMNS": "200"},
    )
    assert done.exit_code == 0, (command, done.output)
    return json.loads(done.stdout)


def _fill(database: Database) -> None:
    """A little of everything the listings show, on purpose in no order the listings keep."""
    from calendar_bridge import tokens
    from crm import accounts, records
    from crm.models import Counterparty, Interaction, LetterTemplate, User
    from mail.models import Mailbox, MailFolder, MailOutbox, MailReview, MailSuggestion
    from sync.models import DeviceCursor

    for login in ("admin", "ivanov", "petrova"):
        make_user(database, login, role="admin" if login == "admin" else "salesperson")
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        admin = users["admin"]
        companies = records.record_type("counterparties")
        made = [
            records.create(session, admin, companies, values).id
            for values in (
                {"legal_name": "ООО «Ромашка»", "short_name": "Ромашка"},
                {
                    "legal_name": 'ООО "РОМАШКА"',
                    "contacts": [{"kind": "phone", "value": "+7 495 111-22-33"}],
                },
                {
                    "legal_name": "АО Вектор",
                    "contacts": [{"kind": "phone", "value": "8 495 111-22-33"}],
                },
            )
        ]
        # The mailboxes' ids sort in another order than their names.
        for box_id, name, error in (
            ("c1", "alpha", None),
            ("a1", "mid", "auth failed"),
            ("b1", "zeta", "x"),
        ):
            session.add(
                Mailbox(
                    id=box_id,
                    name=name,
                    address=f"{name}@firm.ru",
                    imap_host="imap",
                    login=name,
                    last_error=error,
                )
            )
        session.flush()
        for n, (box_id, folder) in enumerate(
            (b, f) for b in ("b1", "a1", "c1") for f in ("Trash", "INBOX", "Sent")
        ):
            session.add(
                MailFolder(
                    mailbox_id=box_id,
                    name=folder,
                    role="inbox" if folder == "INBOX" else "other",
                    uidvalidity=n if n % 2 else None,
                    last_uid=10 * n,
                    counts={"filed": n, "review": 1, "bounce": n % 3} if n % 4 else {},
                    last_run_at=start + timedelta(minutes=n) if n % 3 else None,
                    last_error="timeout" if n == 4 else None,
                )
            )
        for n, state in enumerate(("open", "open", "filed")):
            session.add(
                MailReview(
                    key=f"k{n}",
                    mailbox_id="c1",
                    folder="INBOX",
                    reason="no_match",
                    raw_sha256="0" * 64,
                    status=state,
                )
            )
        letters = []
        for n in range(4):
            letter = Interaction(
                counterparty_id=made[0],
                kind="letter",
                starts_at=start,
                mail_status="queued" if n < 3 else "sent",
            )
            session.add(letter)
            letters.append(letter)
        session.flush()
        session.add(
            MailOutbox(interaction_id=letters[0].id, message_id="m0@firm.ru", state="queued")
        )
        session.add(MailOutbox(interaction_id=letters[3].id, message_id="m3@firm.ru", state="sent"))
        for n, (counterparty, state) in enumerate(
            ((made[0], "open"), (made[1], "open"), ("gone", "open"), (made[2], "dismissed"))
        ):
            session.add(
                MailSuggestion(
                    address=f"p{n}@client.ru",
                    name=f"P {n}",
                    counterparty_id=counterparty,
                    letters=n + 1,
                    status=state,
                )
            )
        for name in ("zz", "Приглашение", "aa"):
            session.add(LetterTemplate(name=name, subject=f"{name}!", body=name * 40))
        for n, (login, name) in enumerate(
            (("petrova", "Ноутбук"), ("ivanov", "Телефон"), ("ivanov", "Ноутбук"))
        ):
            device, _token = accounts.register_device(session, users[login], name)
            device.created_at = start - timedelta(hours=n)
            device.last_seen_at = start if n else None
            if n == 1:
                session.add(DeviceCursor(device_id=device.id, last_seq=7))
        for n, (login, kind) in enumerate(
            (("ivanov", "plan"), ("petrova", "birthdays"), ("ivanov", "birthdays"))
        ):
            feed, _token = tokens.issue(
                session, users[login], kind, free_busy=bool(n % 2), label=f"L{n}"
            )
            feed.created_at = start + timedelta(hours=(n * 2) % 3)
        # An empty short name shows the legal one.
        session.get_one(Counterparty, made[1]).short_name = ""


def test_each_listing_reads_what_it_was_written_from(database: Database) -> None:
    """On SQLite and PostgreSQL: each listing read through Core prints what the ORM functions it
    stands in for (``mail.bridge``, ``crm.accounts``, ``calendar_bridge.tokens``,
    ``crm.duplicates``) give; ``mail status`` by mailbox name, then folder."""
    from calendar_bridge import tokens
    from crm import accounts, duplicates
    from crm.models import Counterparty, Device, LetterTemplate, User
    from mail import bridge
    from mail.models import MailFolder, MailReview
    from server.commands.mail import _status
    from sync.models import DeviceCursor

    _fill(database)
    with database.read() as session:
        boxes = bridge.mailboxes(session)
        names = {b.id: b.name for b in boxes}
        folders = [
            (names[f.mailbox_id], f.name, f.role, f.uidvalidity, f.last_uid, f.counts)
            + (f.last_run_at, f.last_error)
            for f in session.execute(select(MailFolder)).scalars()
        ]
        waiting = len(session.execute(select(MailReview).where(MailReview.status == "open")).all())
        outbox = bridge.outbox_counts(session)
        logins = {u.id: u.login for u in session.execute(select(User)).scalars()}
        ivanov = accounts.find_user(session, "ivanov")
        suggestions = [
            {
                "id": s.id,
                "address": s.address,
                "name": s.name,
                "counterparty": (cp.short_name or cp.legal_name)
                if (cp := session.get(Counterparty, s.counterparty_id))
                else s.counterparty_id,
                "counterparty_id": s.counterparty_id,
                "letters": s.letters,
            }
            for s in bridge.list_suggestions(session, limit=500)
        ]
        templates = [
            {"name": t.name, "subject": t.subject, "body": t.body}
            for t in session.execute(
                select(LetterTemplate).order_by(col(LetterTemplate.name))
            ).scalars()
        ]

        def devices(user: User | None) -> list[dict[str, Any]]:
            return [
                {
                    "id": d.id,
                    "user": logins.get(d.user_id, "?"),
                    "name": d.name,
                    "last_seen": d.last_seen_at,
                    "revoked": d.revoked_at,
                }
                for d in accounts.list_devices(session, user)
            ]

        def feeds(user: User | None) -> list[dict[str, Any]]:
            return [
                {
                    "id": f.id,
                    "user": logins.get(f.user_id, f.user_id),
                    "user_id": f.user_id,
                    "kind": f.kind,
                    "free_busy": f.free_busy,
                    "label": f.label,
                    "created": f.created_at,
                    "revoked": f.revoked_at,
                }
                for f in tokens.mine(session, user)
            ]

        everyone, his = devices(None), devices(ivanov)
        all_feeds, his_feeds = feeds(None), feeds(ivanov)
        progress = [
            {
                "user": login,
                "device": name,
                "id": i,
                "mutations_applied": seq or 0,
                "last_seen": seen,
            }
            for login, name, i, seq, seen in session.execute(
                select(
                    col(User.login),
                    col(Device.name),
                    col(Device.id),
                    col(DeviceCursor.last_seq),
                    col(Device.last_seen_at),
                )
                .join(Device, col(Device.user_id) == col(User.id))
                .outerjoin(DeviceCursor, col(DeviceCursor.device_id) == col(Device.id))
                .order_by(col(User.login), col(Device.name))
            ).all()
        ]
        admin = accounts.find_user(session, "admin")
        scanned = duplicates.scan(session, admin, min_score=0)

    with database.peek() as connection:
        core_boxes, core_folders, core_waiting, core_outbox = _status(connection)
    assert [(b.name, b.last_error) for b in core_boxes] == [(b.name, b.last_error) for b in boxes]
    order = {b.name: n for n, b in enumerate(boxes)}
    assert [b.name for b in boxes] == ["alpha", "mid", "zeta"]
    assert [
        (
            f.mailbox,
            f.name,
            f.role,
            f.uidvalidity,
            f.last_uid,
            f.counts,
            f.last_run_at,
            f.last_error,
        )
        for f in core_folders
    ] == sorted(folders, key=lambda f: (order[f[0]], f[1]))
    assert (core_waiting, core_outbox) == (waiting, outbox) == (2, {"queued": 3, "sent": 1})
    status = _listed(database, "mail", "status")
    assert [(r["mailbox"], r["folder"]) for r in status["folders"]] == [
        (box, folder) for box in ("alpha", "mid", "zeta") for folder in ("INBOX", "Sent", "Trash")
    ]
    assert status["mailbox_errors"] == {"mid": "auth failed", "zeta": "x"}

    assert _listed(database, "mail", "suggestions") == _printed(suggestions)
    assert [s["counterparty"] for s in suggestions] == ["gone", 'ООО "РОМАШКА"', "Ромашка"]
    assert _listed(database, "mail", "template", "list") == _printed(templates)
    assert _listed(database, "device", "list") == _printed(everyone)
    assert _listed(database, "device", "list", "--user", " Ivanov") == _printed(his) != []
    assert _listed(database, "sync", "devices") == _printed(progress)
    assert _listed(database, "feed", "list") == _printed(all_feeds)
    assert _listed(database, "feed", "list", "--user", "ivanov") == _printed(his_feeds) != []
    found = _listed(database, "duplicates", "--min-score", "0")
    assert found["pairs"] and found == _printed(
        {
            "pairs": [
                {
                    "score": c.score,
                    "reasons": c.reasons,
                    "first": c.first,
                    "first_name": scanned.names[c.first],
                    "second": c.second,
                    "second_name": scanned.names[c.second],
                }
                for c in scanned.candidates
            ],
            "branches": scanned.branches,
        }
    )
    for command in (["device", "list"], ["feed", "list"]):
        unknown = CliRunner().invoke(
            app,
            [*command, "--user", "nobody"],
            env={"SATCHEL_DATABASE_URL": database.url},
        )
        assert unknown.exit_code == 4 and "no user with login nobody" in unknown.output
