"""``satchel mail …`` against a real Dovecot: what an administrator types, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mail.models import Mailbox, MailReview
from server.commands import app
from tests.mail.letters import COMPANY_DOMAIN
from tests.mail.servers import PASSWORD, SALES, DovecotServer
from tests.mail.world import letter, make_world

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: a worker process may have inherited an 80-column console."""
    from crm import console as terminal

    for console in (terminal.console, terminal.err):
        monkeypatch.setattr(console, "_width", 250)


def _env(world) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "SATCHEL_DATABASE_URL": world.database.url,
        "SATCHEL_DATA_DIR": world.config.data_dir,
        "SATCHEL_COMPANY_DOMAINS": COMPANY_DOMAIN,
        "COLUMNS": "250",
    }


def mail(world, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["mail", *args], env=_env(world))


def test_mailbox_add_test_run_status_and_review(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    result = mail(
        world,
        "mailbox",
        "add",
        "sales",
        "--address",
        SALES.address,
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--password",
        PASSWORD,
    )
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
    assert (
        "sales: 4 read, 1 filed, 1 to review, 2 already known" in ran.output
    )  # INBOX and Virtual/All

    status = mail(world, "status")
    assert status.exit_code == 0, status.output
    assert "INBOX" in status.output and "1 letter(s) waiting in review" in status.output

    listed = mail(world, "review", "list")
    assert "someone@gmail.com" in listed.output and "no_match" in listed.output
    with database.read() as session:
        review = session.execute(select(MailReview)).scalar_one()
    settled = mail(
        world,
        "review",
        "settle",
        review.id,
        "--as",
        "ivanov",
        "--counterparty",
        world.counterparties["romashka.test"],
    )
    assert settled.exit_code == 0, settled.output
    assert "filed as interaction" in settled.output
    again = mail(world, "review", "settle", review.id, "--as", "ivanov", "--dismiss")
    assert again.exit_code == 3 and "already settled" in again.output
    assert len(world.letters()) == 2


def test_wrong_password_is_a_clear_error_and_changes_nothing(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    result = mail(
        world,
        "mailbox",
        "add",
        "sales",
        "--address",
        SALES.address,
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--password",
        "wrong-one",
    )
    assert result.exit_code == 0
    checked = mail(world, "mailbox", "test", "sales")
    assert checked.exit_code == 1
    assert "refused the login" in checked.output and "wrong-one" not in checked.output
    dovecot.append(SALES, "INBOX", letter(sender="director@romashka.test")[0])
    ran = mail(world, "run", "--once")
    assert ran.exit_code == 1 and "refused the login" in ran.output
    assert world.letters() == []
    fixed = runner.invoke(
        app, ["mail", "mailbox", "password", "sales", "--password", PASSWORD], env=_env(world)
    )
    assert fixed.exit_code == 0
    assert mail(world, "run", "--once").exit_code == 0
    assert len(world.letters()) == 1


def test_bad_mailbox_settings_are_refused_whole(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    result = mail(
        world,
        "mailbox",
        "add",
        "x",
        "--address",
        "not an address",
        "--imap-host",
        "h",
        "--imap-security",
        "tls",
        "--password",
        "p",
    )
    assert result.exit_code == 3
    assert "address" in result.output and "imap_security" in result.output
    with database.read() as session:
        assert session.execute(select(Mailbox)).first() is None


def _add_sales(world, dovecot: DovecotServer, *more: str):  # type: ignore[no-untyped-def]
    return mail(
        world,
        "mailbox",
        "add",
        "sales",
        "--address",
        SALES.address,
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--password",
        PASSWORD,
        *more,
    )


def test_mailbox_edit_changes_only_what_is_given(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    assert (
        _add_sales(world, dovecot, "--private-domain", "family.test", "--folder", "INBOX").exit_code
        == 0
    )
    edited = mail(
        world,
        "mailbox",
        "edit",
        "sales",
        "--add-private-address",
        "Wife@Example.TEST",
        "--remove-private-domain",
        "family.test",
        "--add-private-domain",
        "home.test",
        "--add-folder",
        "Sent",
        "--add-private-folder",
        "Личное",
        "--owner",
        "ivanov",
        "--provider-saves-sent",
    )
    assert edited.exit_code == 0, edited.output
    assert "private addresses: wife@example.test" in edited.output
    with database.read() as session:
        box = session.execute(select(Mailbox)).scalar_one()
    assert (box.private_addresses, box.private_domains, box.private_folders) == (
        ["wife@example.test"],
        ["home.test"],
        ["Личное"],
    )
    assert box.folders == ["INBOX", "Sent"] and box.kind == "personal" and box.provider_saves_sent
    assert box.imap_host == dovecot.host and PASSWORD not in box.secret  # untouched
    assert mail(world, "mailbox", "edit", "sales", "--owner", "").exit_code == 0
    with database.read() as session:
        assert session.execute(select(Mailbox)).scalar_one().kind == "shared"

    bad = mail(world, "mailbox", "edit", "sales", "--imap-security", "tls", "--owner", "ghost")
    assert bad.exit_code == 3 and "imap_security" in bad.output and "ghost" in bad.output
    with database.read() as session:
        assert (
            session.execute(select(Mailbox)).scalar_one().imap_security == "plain"
        )  # refused whole
    assert mail(world, "mailbox", "edit", "sales").exit_code == 2  # nothing to change
    assert mail(world, "mailbox", "edit", "nobody", "--login", "x").exit_code == 4


def test_mailbox_password_from_a_file_or_standard_input(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    secret_file = tmp_path / "mail-password"
    secret_file.write_text(PASSWORD + "\n", encoding="utf-8")
    added = mail(
        world,
        "mailbox",
        "add",
        "sales",
        "--address",
        SALES.address,
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--password-file",
        str(secret_file),
    )
    assert added.exit_code == 0, added.output
    assert mail(world, "mailbox", "test", "sales").exit_code == 0  # the newline was not part of it
    wrong = runner.invoke(
        app,
        ["mail", "mailbox", "password", "sales", "--password-stdin"],
        env=_env(world),
        input="wrong-one\n",
    )
    assert wrong.exit_code == 0, wrong.output
    assert mail(world, "mailbox", "test", "sales").exit_code == 1
    both = runner.invoke(
        app,
        ["mail", "mailbox", "password", "sales", "--password-stdin", "--password", "x"],
        env=_env(world),
        input="y\n",
    )
    assert both.exit_code == 2 and "one way" in both.output


def test_listings_are_whole_when_piped_and_json_on_request(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    import json

    from crm import records

    world = make_world(database, tmp_path, dovecot)
    long_error = "the server said: " + "x" * 150 + " end"
    assert _add_sales(world, dovecot).exit_code == 0
    with database.write() as session:
        box = session.execute(select(Mailbox)).scalar_one()
        box.last_error = long_error
        vector = records.create(
            session,
            world.ivanov,
            records.record_type("counterparties"),
            {"legal_name": "ООО Вектор", "inn": "7707083893", "visibility": "team"},
        )
        session.add(
            MailReview(
                key="<a@b>",
                mailbox_id=box.id,
                folder="INBOX",
                sender="x@romashka.test",
                reason="ambiguous",
                detail="two clients",
                raw_sha256="0" * 64,
                candidates=[vector.id, world.counterparties["romashka.test"]],
            )
        )
    env = {**_env(world), "COLUMNS": None}  # not a terminal, no width given: as when piped
    for command in (["mailbox", "list"], ["status"], ["review", "list"]):
        piped = runner.invoke(app, ["mail", *command], env=env)
        assert piped.exit_code == 0, piped.output
        if command != ["review", "list"]:
            assert long_error in piped.output, command  # whole, on one line
    reviews = runner.invoke(app, ["mail", "review", "list"], env=env).output
    assert f"ООО Вектор, ИНН 7707083893 ({vector.id})" in reviews
    listed = json.loads(runner.invoke(app, ["mail", "review", "list", "--json"], env=env).stdout)
    assert listed[0]["candidates"][0] == {
        "id": vector.id,
        "name": "ООО Вектор",
        "inn": "7707083893",
    }
    boxes = json.loads(runner.invoke(app, ["mail", "mailbox", "list", "--json"], env=env).stdout)
    assert (
        boxes[0]["name"] == "sales"
        and boxes[0]["last_error"] == long_error
        and "secret" not in boxes[0]
    )
    status = json.loads(runner.invoke(app, ["mail", "status", "--json"], env=env).stdout)
    assert status["waiting_in_review"] == 1 and status["mailbox_errors"] == {"sales": long_error}


def test_run_once_labels_progress_with_mailbox_and_folder(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    assert _add_sales(world, dovecot).exit_code == 0
    dovecot.append(SALES, "INBOX", letter(sender="director@romashka.test")[0])
    ran = mail(world, "run", "--once")
    assert ran.exit_code == 0, ran.output
    assert "sales/INBOX" in ran.output


def test_mailbox_test_marks_what_is_not_read_as_the_run_does(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    world = make_world(database, tmp_path, dovecot)
    added = mail(
        world,
        "mailbox",
        "add",
        "sales",
        "--address",
        SALES.address,
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--password",
        PASSWORD,
        "--folder",
        "INBOX",
        "--folder",
        "Sent",
    )
    assert added.exit_code == 0, added.output
    checked = mail(world, "mailbox", "test", "sales")
    assert checked.exit_code == 0, checked.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in checked.output.splitlines()
        if line.count("│") >= 3
    }
    assert rows["INBOX"] == "inbox" and rows["Sent"] == "sent"
    assert rows["Virtual/All"] == "all (not read)"  # the box names its folders: only those


def test_a_host_with_another_secret_key_is_told_to_share_the_key_not_to_reset_the_password(
    database, tmp_path: Path, dovecot: DovecotServer
) -> None:
    """A second host (or worker) started without the company's secret key makes a key of its own and
    cannot read the stored mailbox passwords: ``mailbox test`` says so in one line, exit 1, and
    points at the shared key first — setting the password again there would lock the other hosts
    out."""
    world = make_world(database, tmp_path, dovecot)
    added = _add_sales(world, dovecot)
    assert added.exit_code == 0, added.output
    other_host = {**_env(world), "SATCHEL_DATA_DIR": str(tmp_path / "other-host")}
    checked = runner.invoke(app, ["mail", "mailbox", "test", "sales"], env=other_host)
    assert checked.exit_code == 1
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    assert "cannot use mailbox sales" in checked.output
    assert "same key" in checked.output and "secret_key" in checked.output
    # A run there says it on the mailbox's line, without a logged traceback.
    ran = runner.invoke(app, ["mail", "run", "--once"], env=other_host)
    assert ran.exit_code == 1
    assert "sales: SecretError" in ran.output and "same key" in ran.output
    assert "Traceback" not in ran.output
    assert mail(world, "mailbox", "test", "sales").exit_code == 0  # the first host still reads it
