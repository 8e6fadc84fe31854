"""``satchel mail …`` against a real Dovecot: what an administrator types, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mail.models import Mailbox, MailReview
from server.cli import app
from tests.mail.letters import COMPANY_DOMAIN
from tests.mail.servers import PASSWORD, SALES, DovecotServer
from tests.mail.world import letter, make_world

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: a worker process may have inherited an 80-column console."""
    from server import cli

    for console in (cli.console, cli.err):
        monkeypatch.setattr(console, "_width", 250)


def _env(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"SATCHEL_DATABASE_URL": world.database.url, "SATCHEL_DATA_DIR": world.config.data_dir,
            "SATCHEL_COMPANY_DOMAINS": COMPANY_DOMAIN, "COLUMNS": "250"}


def mail(world, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["mail", *args], env=_env(world))


def test_mailbox_add_test_run_status_and_review(database, tmp_path: Path, dovecot: DovecotServer) -> None:
    world = make_world(database, tmp_path, dovecot)
    result = mail(world, "mailbox", "add", "sales", "--address", SALES.address, "--imap-host", dovecot.host,
                  "--imap-port", str(dovecot.port), "--imap-security", "plain", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    with database.read() as session:
        box = session.execute(select(Mailbox)).scalar_one()
    assert PASSWORD not in box.secret  # encrypted at rest
    listed = mail(world, "mailbox", "list")
    assert "sales@torgdom.test" in listed.output and PASSWORD not in listed.output

    checked = mail(world, "mailbox", "test", "sales")
    assert checked.exit_code == 0, checked.output
    assert "INBOX" in checked.output and "junk (not read)" in checked.output

    dovecot.append(SALES, "INBOX", letter(sender="director@romashka.test", subject="Счёт № 5")[0])
    dovecot.append(SALES, "INBOX", letter(sender="someone@gmail.com", subject="Вопрос")[0])
    ran = mail(world, "run", "--once")
    assert ran.exit_code == 0, ran.output
    assert "sales: 4 read, 1 filed, 1 to review, 2 already known" in ran.output  # INBOX and Virtual/All

    status = mail(world, "status")
    assert status.exit_code == 0, status.output
    assert "INBOX" in status.output and "1 letter(s) waiting in review" in status.output

    listed = mail(world, "review", "list")
    assert "someone@gmail.com" in listed.output and "no_match" in listed.output
    with database.read() as session:
        review = session.execute(select(MailReview)).scalar_one()
    settled = mail(world, "review", "settle", review.id, "--as", "ivanov",
                   "--counterparty", world.counterparties["romashka.test"])
    assert settled.exit_code == 0, settled.output
    assert "filed as interaction" in settled.output
    again = mail(world, "review", "settle", review.id, "--as", "ivanov", "--dismiss")
    assert again.exit_code == 3 and "already settled" in again.output
    assert len(world.letters()) == 2


def test_wrong_password_is_a_clear_error_and_changes_nothing(database, tmp_path: Path, dovecot: DovecotServer) -> None:
    world = make_world(database, tmp_path, dovecot)
    result = mail(world, "mailbox", "add", "sales", "--address", SALES.address, "--imap-host", dovecot.host,
                  "--imap-port", str(dovecot.port), "--imap-security", "plain", "--password", "wrong-one")
    assert result.exit_code == 0
    checked = mail(world, "mailbox", "test", "sales")
    assert checked.exit_code == 1
    assert "refused the login" in checked.output and "wrong-one" not in checked.output
    dovecot.append(SALES, "INBOX", letter(sender="director@romashka.test")[0])
    ran = mail(world, "run", "--once")
    assert ran.exit_code == 1 and "refused the login" in ran.output
    assert world.letters() == []
    fixed = runner.invoke(app, ["mail", "mailbox", "password", "sales", "--password", PASSWORD], env=_env(world))
    assert fixed.exit_code == 0
    assert mail(world, "run", "--once").exit_code == 0
    assert len(world.letters()) == 1


def test_bad_mailbox_settings_are_refused_whole(database, tmp_path: Path, dovecot: DovecotServer) -> None:
    world = make_world(database, tmp_path, dovecot)
    result = mail(world, "mailbox", "add", "x", "--address", "not an address", "--imap-host", "h",
                  "--imap-security", "tls", "--password", "p")
    assert result.exit_code == 3
    assert "address" in result.output and "imap_security" in result.output
    with database.read() as session:
        assert session.execute(select(Mailbox)).first() is None
