"""The satchel command: users, devices, errors as exit codes, --help everywhere."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from crm import accounts
from crm.database import Database
from server.commands import app
from tests.conftest import SQLITE_ONLY

runner = CliRunner()


def run(database: Database, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(
        app, list(args), input=input, env={"SATCHEL_DATABASE_URL": database.url, "COLUMNS": "200"}
    )


def _all_commands() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:  # type: ignore[no-untyped-def]
        found.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(get_command(app), [])
    return found


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p) or "satchel")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_user_lifecycle(database: Database) -> None:
    result = run(
        database,
        "user",
        "add",
        "ivanov",
        "--name",
        "Иванов Иван",
        "--team",
        "Москва",
        "--password",
        "secret-123",
    )
    assert result.exit_code == 0, result.output
    listed = run(database, "user", "list")
    assert "ivanov" in listed.output and "Москва" in listed.output
    with database.write() as session:
        assert accounts.verify_password(session, "ivanov", "secret-123", "cli") is not None
    assert run(database, "user", "password", "ivanov", "--password", "another-456").exit_code == 0
    assert run(database, "user", "disable", "ivanov").exit_code == 0
    with database.write() as session:
        assert accounts.verify_password(session, "ivanov", "another-456", "cli") is None
    assert run(database, "user", "enable", "ivanov").exit_code == 0
    with database.write() as session:
        assert accounts.verify_password(session, "ivanov", "another-456", "cli") is not None


def test_password_prompt_must_match(database: Database) -> None:
    result = run(
        database,
        "user",
        "add",
        "petrova",
        "--name",
        "Петрова",
        input="one-password\nother-password\n",
    )
    assert result.exit_code == 3
    with database.read() as session, pytest.raises(Exception, match="no user"):
        accounts.find_user(session, "petrova")
    # Piped with nothing in it: a clear refusal that names the ways to give it, nobody added.
    result = run(database, "user", "add", "petrova", "--name", "Петрова", input="")
    assert result.exit_code == 2, result.output
    assert "no password on standard input" in result.output and "--password-stdin" in result.output
    # Piped twice the same: taken, as typed at a terminal, without getpass's warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        result = run(
            database,
            "user",
            "add",
            "petrova",
            "--name",
            "Петрова",
            input="one-password\none-password\n",
        )
    assert result.exit_code == 0, result.output
    with database.read() as session:
        assert accounts.find_user(session, "petrova").full_name == "Петрова"


def test_errors_have_distinct_exit_codes(database: Database) -> None:
    assert run(database, "user", "add", "x", "--name", "X", "--password", "short").exit_code == 3
    assert run(database, "user", "disable", "ghost").exit_code == 4
    run(database, "user", "add", "ivanov", "--name", "Иванов", "--password", "secret-123")
    duplicate = run(
        database, "user", "add", "IVANOV", "--name", "Другой", "--password", "secret-123"
    )
    assert duplicate.exit_code == 5
    assert "already exists" in duplicate.output


def test_device_revoke(database: Database) -> None:
    run(database, "user", "add", "ivanov", "--name", "Иванов", "--password", "secret-123")
    with database.write() as session:
        device, token = accounts.register_device(
            session, accounts.find_user(session, "ivanov"), "Ноутбук Иванова"
        )
    listed = run(database, "device", "list", "--user", "ivanov")
    assert "Ноутбук Иванова" in listed.output
    assert run(database, "device", "revoke", device.id).exit_code == 0
    with database.read() as session, pytest.raises(Exception, match="revoked"):
        accounts.authenticate(session, token)
    assert run(database, "device", "revoke", "no-such-device").exit_code == 4


def test_import_counterparties_all_or_nothing(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from crm.models import Counterparty

    run(database, "user", "add", "ivanov", "--name", "Иванов", "--password", "secret-123")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        "Наименование;ИНН;Телефон\r\nООО Ромашка;7707083893;8 (916) 123-45-67\r\nООО Вектор;7707083894;\r\n".encode(
            "cp1251"
        )
    )
    result = run(database, "import", "counterparties", str(bad), "--as", "ivanov")
    assert result.exit_code == 3
    assert "row 3" in result.output and "ИНН" in result.output
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(Counterparty)).scalar_one() == 0
    good = tmp_path / "good.csv"
    good.write_bytes(
        "Наименование;ИНН;Телефон\r\nООО Ромашка;7707083893;8 (916) 123-45-67\r\n".encode("cp1251")
    )
    result = run(database, "import", "counterparties", str(good), "--as", "ivanov")
    assert result.exit_code == 0, result.output
    assert "imported 1 counterparties" in result.output
    with database.read() as session:
        cp = session.execute(select(Counterparty)).scalar_one()
    assert cp.legal_name == "ООО Ромашка" and cp.contacts[0]["value"] == "+79161234567"


def test_import_commerceml(database: Database, tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from crm.models import Sale
    from tests.crm.test_commerceml import DOCUMENTS, _company, _doc, _file, _party

    _company(database)
    good = tmp_path / "documents.xml"
    good.write_bytes(_file(DOCUMENTS))
    result = run(database, "import", "commerceml", str(good), "--as", "office", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "sales: would import 4" in result.output
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(Sale)).scalar_one() == 0
    result = run(database, "import", "commerceml", str(good), "--as", "office")
    assert result.exit_code == 0, result.output
    assert "7 documents read" in result.output
    assert "sales: imported 4, skipped 0 imported before" in result.output
    assert "invoices: imported 1, skipped 0" in result.output
    assert "1 × Заказ товара" in result.output and "1 × Возврат товара" in result.output
    again = run(database, "import", "commerceml", str(good), "--as", "office")
    assert "sales: imported 0, skipped 4 imported before" in again.output
    unknown = _party("Покупатель", "ООО Неизвестная", "7700000001")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(_file([_doc("x", "ТД-900", "2026-02-03", "Отпуск товара", "1,2,3", [unknown])]))
    result = run(database, "import", "commerceml", str(bad), "--as", "office")
    assert result.exit_code == 3, result.output
    assert "document № ТД-900" in result.output and "'1,2,3' is not an amount" in result.output
    dtd = tmp_path / "dtd.xml"
    dtd.write_bytes(_file(DOCUMENTS, prolog='<!DOCTYPE x [<!ENTITY e "e">]>\n'))
    result = run(database, "import", "commerceml", str(dtd), "--as", "office")
    assert result.exit_code == 3 and "DTD" in result.output, result.output
    result = run(database, "import", "commerceml", str(good), "--as", "ivanov")
    assert result.exit_code == 6, result.output
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(Sale)).scalar_one() == 4


def test_feed_commands(database: Database) -> None:
    from calendar_bridge import tokens

    run(database, "user", "add", "ivanov", "--name", "Иванов", "--password", "secret-123")
    added = run(database, "feed", "add", "ivanov", "--kind", "birthdays", "--label", "Outlook")
    assert added.exit_code == 0, added.output
    url = next(line for line in added.output.splitlines() if "/calendar/" in line).strip()
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    with database.read() as session:
        found = tokens.resolve(session, token)
        assert found is not None and found[0].kind == "birthdays"
        feed_id = found[0].id
    assert token not in run(database, "feed", "list").output
    assert run(database, "feed", "add", "ivanov", "--kind", "team").exit_code == 6  # not a manager
    assert run(database, "feed", "revoke", feed_id).exit_code == 0
    with database.read() as session:
        assert tokens.resolve(session, token) is None


def test_the_role_choices_are_the_models_roles() -> None:
    from crm.models.enums import Role
    from server.commands.users import Role as Choices

    assert [r.value for r in Choices] == [r.value for r in Role]


def test_the_newest_revision_is_read_without_alembic() -> None:
    from server import migrate
    from server.migrate import newest_revisions

    assert newest_revisions() == {migrate.head()}


def test_help_and_startup_load_neither_the_database_nor_the_bridges() -> None:
    """Startup time: commands import what they need when they run (bench/startup.py times it)."""
    import subprocess
    import sys

    probe = (
        "import sys; from server.commands import app; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'alembic', 'mail.bridge', 'crm.accounts', "
        "'calendar_bridge', 'server.app', 'uvicorn') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_passwords_from_a_file_or_standard_input(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "password"
    secret.write_text("from-a-file-1\nsecond line ignored\n", encoding="utf-8")
    assert (
        run(
            database, "user", "add", "ivanov", "--name", "Иванов", "--password-file", str(secret)
        ).exit_code
        == 0
    )
    with database.write() as session:
        assert accounts.verify_password(session, "ivanov", "from-a-file-1", "cli") is not None
    piped = run(database, "user", "password", "ivanov", "--password-stdin", input="from-stdin-22\n")
    assert piped.exit_code == 0, piped.output
    with database.write() as session:
        assert accounts.verify_password(session, "ivanov", "from-stdin-22", "cli") is not None
    both = run(
        database, "user", "password", "ivanov", "--password-stdin", "--password", "x", input="y\n"
    )
    assert both.exit_code == 2 and "one way" in both.output
    assert run(database, "user", "password", "ivanov", "--password-stdin", input="").exit_code == 2
    missing = run(database, "user", "password", "ivanov", "--password-file", str(tmp_path / "none"))
    assert missing.exit_code == 2


def test_listings_print_whole_values_when_piped_and_json(database: Database) -> None:
    import json

    name = "Константинопольский-Иванов " * 6 + "Иван"
    run(database, "user", "add", "ivanov", "--name", name, "--password", "secret-123")
    with database.write() as session:
        accounts.register_device(session, accounts.find_user(session, "ivanov"), "Ноутбук Иванова")
    piped = runner.invoke(
        app, ["user", "list"], env={"SATCHEL_DATABASE_URL": database.url, "COLUMNS": None}
    )
    assert piped.exit_code == 0 and name in piped.output
    users = json.loads(
        runner.invoke(
            app, ["user", "list", "--json"], env={"SATCHEL_DATABASE_URL": database.url}
        ).stdout
    )
    assert users == [
        {"login": "ivanov", "name": name, "role": "salesperson", "team": "", "active": True}
    ]
    for command in (["device", "list"], ["sync", "devices"], ["feed", "list"]):
        result = runner.invoke(
            app, [*command, "--json"], env={"SATCHEL_DATABASE_URL": database.url}
        )
        assert result.exit_code == 0, (command, result.output)
        json.loads(result.stdout)
    devices = json.loads(run(database, "device", "list", "--json").stdout)
    assert devices[0]["name"] == "Ноутбук Иванова" and devices[0]["user"] == "ivanov"


def test_messages_name_commands_that_exist() -> None:
    """Every ``satchel …`` / ``satchel-field …`` a message or docstring tells a person to run exists."""
    import re
    from pathlib import Path

    from clients.cli import app as field_app

    root = Path(__file__).resolve().parents[2]
    apps = {"satchel": get_command(app), "satchel-field": get_command(field_app)}
    mention = re.compile(r"[`'\"](satchel(?:-field)?)((?: [a-z][a-z-]*)+)")
    wrong: list[str] = []
    for package in ("crm", "sync", "mail", "calendar_bridge", "web", "server", "clients"):
        for source in (root / package).rglob("*.py"):
            for program, words in mention.findall(source.read_text(encoding="utf-8")):
                command = apps[program]
                for word in words.split():
                    subcommands = getattr(command, "commands", None)
                    if subcommands is None:
                        break  # a command: the rest are its arguments
                    if word not in subcommands:
                        wrong.append(f"{source.relative_to(root)}: {program}{words}")
                        break
                    command = subcommands[word]
    assert wrong == []


def test_letter_template_add_checks_it_as_the_records_service_would(
    database: Database, tmp_path: Path
) -> None:
    from sqlmodel import select

    from crm.models import LetterTemplate

    body = tmp_path / "body.txt"
    body.write_text("Здравствуйте, {{contact.first_name}}!", encoding="utf-8")
    added = run(
        database,
        "mail",
        "template",
        "add",
        "Приглашение",
        "--subject",
        "Выставка",
        "--body-file",
        str(body),
    )
    assert added.exit_code == 0, added.output
    again = run(
        database,
        "mail",
        "template",
        "add",
        "приглашение",
        "--subject",
        "Другая",
        "--body-file",
        str(body),
    )
    assert again.exit_code != 0 and "exists already" in again.output
    broken = run(
        database,
        "mail",
        "template",
        "add",
        "Вторая",
        "--subject",
        "две\nстроки",
        "--body-file",
        str(body),
    )
    assert broken.exit_code != 0 and "subject" in broken.output
    with database.read() as session:
        assert [t.name for t in session.exec(select(LetterTemplate)).all()] == ["Приглашение"]


@SQLITE_ONLY  # how a command reads a password; no SQL decides it
def test_a_piped_password_is_read_whole_and_bytes_that_are_not_text_are_refused(
    database: Database,
) -> None:
    # A form feed is part of the line, as when typed: the password is the whole first line.
    result = run(
        database,
        "user",
        "add",
        "petrova",
        "--name",
        "Петрова",
        "--password-stdin",
        input="correct\fhorse-battery\nsecond line\n",
    )
    assert result.exit_code == 0, result.output
    with database.write() as session:
        assert accounts.verify_password(session, "petrova", "correct\fhorse-battery", "t")
    # Bytes that are not UTF-8, from a real pipe (standard input decodes them as surrogate escapes):
    # a clear refusal, nobody added.
    for how in (["--password-stdin"], []):
        made = subprocess.run(
            [
                str(Path(sys.executable).with_name("satchel")),
                "user",
                "add",
                "sidorova",
                "--name",
                "С",
                *how,
            ],
            input=b"bad\xff\xfebytes-pass1\nbad\xff\xfebytes-pass1\n",
            capture_output=True,
            env={**os.environ, "SATCHEL_DATABASE_URL": database.url},
            timeout=60,
        )
        assert made.returncode == 2, made.stderr.decode(errors="replace")
        assert b"not UTF-8 text" in made.stderr + made.stdout
    with database.read() as session, pytest.raises(Exception, match="no user"):
        accounts.find_user(session, "sidorova")


@SQLITE_ONLY
def test_messages_piped_into_a_file_are_whole_lines(database: Database, tmp_path: Path) -> None:
    """Not on a terminal, a message is not cut at column 80: the command it tells the administrator
    to run next, and an error's reason, each stay on one line for a script or a log to read."""
    satchel = str(Path(sys.executable).with_name("satchel"))
    env = {**os.environ, "SATCHEL_DATABASE_URL": database.url, "SATCHEL_DATA_DIR": str(tmp_path)}
    env.pop("COLUMNS", None)
    added = subprocess.run(
        [satchel, "mail", "mailbox", "add", "sales-department-mailbox", "--address",
         "sales-department@torgdom.test", "--imap-host", "127.0.0.1", "--imap-security", "plain",
         "--login", "sales", "--password-stdin"],
        input=b"secret-pass-1\n", capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr.decode()
    told = added.stdout.decode()
    assert "check it with `satchel mail mailbox test sales-department-mailbox`" in told
    assert len(told.strip().splitlines()) == 1 and len(told) > 80
    refused = subprocess.run(
        [satchel, "mail", "mailbox", "add", "far", "--address", "far@torgdom.test",
         "--imap-host", "imap.example.com", "--imap-security", "plain", "--login", "far",
         "--password-stdin"],
        input=b"secret-pass-1\n", capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 3
    first = refused.stderr.decode().splitlines()[0]
    assert first.startswith("error: ") and first.endswith("use ssl or starttls")


@pytest.mark.parametrize("command", [["user", "list"], ["mail", "mailbox", "edit"], ["serve"]])
def test_help_writes_no_type_beside_a_flag(command: list[str]) -> None:
    """A flag takes no value: ``--json`` and ``--help`` are not followed by ``<bool>``; options that
    take one still name what they take."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "<bool>" not in result.output
    assert "<path>" in result.output or "<str>" in result.output or "<int>" in result.output
