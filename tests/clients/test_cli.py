"""``satchel-field`` end to end: a real server on a loopback port, the CLI as a person would use it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.main import get_command
from typer.testing import CliRunner

from clients.cli import app
from clients.profiles import profile_name
from crm.database import Database
from server.app import create_app
from server.config import Config
from tests.conftest import PASSWORD, SQLITE_ONLY, make_user

runner = CliRunner()
PASSPHRASE = "ключ от ноутбука"


class LiveServer:
    def __init__(self, config: Config, database: Database) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(config, database)
        self.start()

    def start(self) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def live(config: Config, database: Database) -> Iterator[LiveServer]:
    server = LiveServer(config, database)
    yield server
    server.stop()


def field(home: Path, *args: str, answer: str | None = None) -> Any:
    result = runner.invoke(
        app,
        ["--data-dir", str(home), *args],
        env={"COLUMNS": "200", "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE},
        input=answer,
    )
    return result


def test_every_command_has_help() -> None:
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "Полевой клиент" in top.output
    group: Any = get_command(app)
    stack = [([], group)]
    seen = 0
    while stack:
        path, command = stack.pop()
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        seen += 1
        for name, sub in getattr(command, "commands", {}).items():
            stack.append(([*path, name], sub))
    assert seen > 20


def test_profiles_are_per_server_and_login() -> None:
    assert profile_name("https://crm.example.ru", "Ivanov") == "crm.example.ru_443__ivanov"
    assert profile_name("http://127.0.0.1:8000", "ivanov") == "127.0.0.1_8000__ivanov"


def test_commands_before_login_say_what_to_do(tmp_path: Path) -> None:
    result = field(tmp_path, "status")
    assert result.exit_code == 6 and "login" in result.output


def test_a_salesperson_works_offline_and_syncs(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "home"
    result = field(
        home, "login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", "wrong"
    )
    assert result.exit_code == 6 and "login refused" in result.output
    result = field(
        home, "login", live.url, "--user", "ivanov", "--device", "Ноутбук", "--password", PASSWORD
    )
    assert result.exit_code == 0, result.output
    result = field(home, "sync")
    assert result.exit_code == 0, result.output
    assert "pushed 0" in result.output

    # Offline from here: the server is gone, the record commands do not care.
    live.stop()
    result = field(
        home,
        "counterparties",
        "add",
        "ООО Ромашка",
        "--inn",
        "7707083893",
        "--phone",
        "8 916 123-45-67",
    )
    assert result.exit_code == 0, result.output
    cp_id = result.output.split()[1]
    result = field(home, "people", "add", "Анна Петрова", "-c", cp_id, "--birthday", "1985-03-08")
    assert result.exit_code == 0, result.output
    assert (
        field(
            home, "interactions", "add", "Договорились о встрече", "-c", cp_id, "--kind", "meeting"
        ).exit_code
        == 0
    )
    assert (
        field(
            home,
            "reminders",
            "add",
            "Отправить КП",
            "--due",
            "2026-11-25T10:00:00+03:00",
            "--about",
            f"counterparty:{cp_id}",
        ).exit_code
        == 0
    )
    result = field(
        home, "counterparties", "edit", cp_id, "-f", "region=Тверь", "--notes", "оптовик"
    )
    assert result.exit_code == 0 and "Тверь" in result.output
    bad = field(home, "counterparties", "edit", cp_id, "-f", "inn=123")
    assert bad.exit_code == 3 and "inn" in bad.output
    listed = field(home, "counterparties", "list", "--q", "ромаш")
    assert "7707083893" in listed.output
    assert "+79161234567" in field(home, "counterparties", "show", cp_id).output
    assert "Анна Петрова" in field(home, "people", "list").output
    status = field(home, "status")
    assert "pending changes: 5" in status.output

    offline = field(home, "sync")
    assert offline.exit_code == 7 and "cannot reach" in offline.output
    watched = field(home, "watch", "--every", "1", "--times", "1")
    assert watched.exit_code == 0 and "offline" in watched.output

    # Back in the office.
    live.start()
    result = field(home, "sync")
    assert result.exit_code == 0, result.output
    assert "pushed 5 (applied 5" in result.output
    assert "pending changes: 0" in field(home, "status").output
    assert "no open conflicts" in field(home, "conflicts").output
    assert field(home, "quarantine", "list").exit_code == 0
    with httpx.Client(base_url=live.url) as http:
        token = http.post(
            "/api/v1/auth/login",
            json={"login": "ivanov", "password": PASSWORD, "device_name": "web"},
        ).json()["token"]
        record = http.get(
            f"/api/v1/counterparties/{cp_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert (record["region"], record["notes"], record["inn"]) == ("Тверь", "оптовик", "7707083893")


def test_records_are_deleted_offline_after_a_confirmation(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "home"
    assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
    assert field(home, "sync").exit_code == 0
    cp_id = field(home, "counterparties", "add", "ООО Ромашка").output.split()[1]
    kept_id = field(home, "counterparties", "add", "ООО Остаётся").output.split()[1]
    person_id = field(home, "people", "add", "Анна Петрова", "-c", kept_id).output.split()[1]
    reminder_id = field(
        home, "reminders", "add", "Позвонить", "--due", "2026-11-25T10:00:00+03:00"
    ).output.split()[1]
    assert field(home, "sync").exit_code == 0

    declined = field(home, "people", "delete", person_id, answer="n\n")
    assert (
        declined.exit_code == 1
        and "Анна Петрова" in declined.output
        and "nothing deleted" in declined.output
    )
    assert "Анна Петрова" in field(home, "people", "list").output
    confirmed = field(home, "people", "delete", person_id, answer="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Анна Петрова" not in field(home, "people", "list").output
    asked = field(home, "counterparties", "delete", cp_id, answer="y\n")
    assert asked.exit_code == 0 and "with its contact persons" in asked.output
    assert field(home, "reminders", "delete", reminder_id, "--yes").exit_code == 0
    assert field(home, "reminders", "delete", reminder_id, "--yes").exit_code == 4  # already gone
    assert "pending changes: 3" in field(home, "status").output

    result = field(home, "sync")
    assert result.exit_code == 0 and "pushed 3 (applied 3" in result.output, result.output
    with httpx.Client(base_url=live.url) as http:
        token = http.post(
            "/api/v1/auth/login",
            json={"login": "ivanov", "password": PASSWORD, "device_name": "web"},
        ).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert http.get(f"/api/v1/counterparties/{cp_id}", headers=auth).status_code == 404
        assert http.get(f"/api/v1/contact-persons/{person_id}", headers=auth).status_code == 404
        assert http.get(f"/api/v1/reminders/{reminder_id}", headers=auth).status_code == 404
        assert http.get(f"/api/v1/counterparties/{kept_id}", headers=auth).status_code == 200


@SQLITE_ONLY  # the laptop command's own input and output; the server's database is incidental
def test_login_reads_the_password_from_a_file_or_standard_input(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    result = field(
        tmp_path / "a", "login", live.url, "--user", "ivanov", "--password-file", str(secret)
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "b"),
            "login",
            live.url,
            "--user",
            "ivanov",
            "--password-stdin",
        ],
        env={
            "COLUMNS": "200",
            "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE,
            "SATCHEL_FIELD_PASSWORD": None,
        },
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    both = field(
        tmp_path / "c",
        "login",
        live.url,
        "--user",
        "ivanov",
        "--password-file",
        str(secret),
        "--password",
        PASSWORD,
    )
    assert both.exit_code == 2 and "one way" in both.output


def test_help_loads_neither_the_replica_nor_the_screens() -> None:
    """Startup time: commands import the replica, the agent and the screens when they run."""
    import subprocess
    import sys

    probe = (
        "import sys; from clients.cli import app; "
        "print(sorted(m for m in ('sqlalchemy', 'httpx', 'uvicorn', 'clients.agent', 'clients.replica', "
        "'clients.web_home') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


@SQLITE_ONLY  # the laptop command's own input and output; the server's database is incidental
def test_listings_are_whole_when_piped_bilingual_and_json(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    """A new user's trial: ``counterparties list | cat`` cut the INN and the name, headers were
    field names, and there was no ``--json``."""
    import json

    make_user(database, "ivanov")
    home = tmp_path / "home"
    assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
    name = "ИП Антонова Мария Сергеевна, оптовая торговля стройматериалами и инструментом"
    cp_id = field(
        home, "counterparties", "add", name, "--inn", "7707083893", "--region", "Нижегородская обл."
    ).output.split()[1]
    person = "Антонова Мария Сергеевна-Константинопольская"
    assert (
        field(home, "people", "add", person, "-c", cp_id, "--position", "директор").exit_code == 0
    )
    subject = "Договорились о поставке кирпича на склад в Дзержинске до конца месяца"
    assert field(home, "interactions", "add", subject, "-c", cp_id).exit_code == 0
    title = "Позвонить Антоновой и уточнить объём поставки кирпича на декабрь и январь"
    assert (
        field(home, "reminders", "add", title, "--due", "2026-11-25T10:00:00+03:00").exit_code == 0
    )

    def piped(*args: str) -> Any:
        return runner.invoke(
            app,
            ["--data-dir", str(home), *args],
            env={"COLUMNS": None, "SATCHEL_FIELD_PASSPHRASE": PASSPHRASE},
        )

    listed = piped("counterparties", "list", "--q", "антонова")
    assert listed.exit_code == 0, listed.output
    assert name in listed.output and "7707083893" in listed.output and cp_id in listed.output
    assert "Название / Name" in listed.output and "ИНН / INN" in listed.output
    assert "legal_name" not in listed.output and "…" not in listed.output
    for command, whole in (("people", person), ("interactions", subject), ("reminders", title)):
        shown = piped(command, "list")
        assert shown.exit_code == 0 and whole in shown.output, (command, shown.output)
        assert "…" not in shown.output
    assert name in piped("counterparties", "show", cp_id).output

    as_json = piped("counterparties", "list", "--q", "антонова", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert name in as_json.stdout  # UTF-8 as is, not \u-escaped
    records = json.loads(as_json.stdout)
    assert [(r["id"], r["legal_name"], r["inn"]) for r in records] == [(cp_id, name, "7707083893")]
    for command in ("people", "interactions", "reminders"):
        assert len(json.loads(piped(command, "list", "--json").stdout)) == 1, command
    assert json.loads(piped("conflicts", "--json").stdout) == []
    assert json.loads(piped("quarantine", "list", "--json").stdout) == []
    assert json.loads(piped("counterparties", "show", cp_id, "--json").stdout)["legal_name"] == name
    assert json.loads(piped("status", "--json").stdout)["pending"] == 4


@SQLITE_ONLY  # the laptop command's own input and output; the server's database is incidental
def test_the_new_passphrase_is_confirmed_in_both_languages(
    live: LiveServer, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clients import vault

    monkeypatch.setattr(vault, "_keyring", lambda: None)  # no OS keyring: the passphrase is asked
    make_user(database, "ivanov")
    phrase = "ключ от ноутбука 2"
    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path),
            "login",
            live.url,
            "--user",
            "ivanov",
            "--password",
            PASSWORD,
        ],
        env={"COLUMNS": "200", "SATCHEL_FIELD_PASSPHRASE": None},
        input=f"{phrase}\n{phrase}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Repeat for confirmation / Повторите для подтверждения" in result.output


@SQLITE_ONLY  # the laptop command's own input and output; the server's database is incidental
def test_ui_on_a_taken_port_exits_11_as_satchel_serve_does(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "home"
    assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = field(home, "ui", "--no-open", "--port", str(port))
    assert result.exit_code == 11, result.output
    assert f"port {port} is taken" in result.output and "Satchel:" not in result.output


def test_the_shortcut_opens_satchel_in_the_browser(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    desktop = tmp_path / "home" / "Рабочий стол"
    desktop.mkdir(parents=True)
    result = field(tmp_path / "field", "shortcut")
    assert result.exit_code == 0, result.output
    menu = tmp_path / "home" / ".local" / "share" / "applications" / "satchel-field.desktop"
    for place in (menu, desktop / "Satchel.desktop"):
        entry = place.read_text(encoding="utf-8")
        assert entry.startswith("[Desktop Entry]") and "Name=Satchel" in entry
        assert "Terminal=true" in entry  # the passphrase is asked in a small window
        [run] = [line for line in entry.splitlines() if line.startswith("Exec=")]
        assert run.endswith(f"--data-dir {tmp_path / 'field'} ui --open")
        assert place.stat().st_mode & 0o111


def test_a_likely_duplicate_is_asked_about_before_it_is_added_offline(
    live: LiveServer, database: Database, tmp_path: Path
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "home"
    assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
    assert field(home, "sync").exit_code == 0
    added = field(home, "counterparties", "add", "ООО «Ромашка»", "--phone", "+7 495 123-45-67")
    assert added.exit_code == 0, added.output
    first = added.output.split()[1]
    live.stop()  # offline: the laptop's own copy answers
    asked = field(home, "counterparties", "add", "Ромашка ООО", answer="n\n")
    assert asked.exit_code != 0
    assert "may be here already" in asked.output and first in asked.output
    assert "created" not in asked.output
    by_phone = field(
        home, "counterparties", "add", "Новое имя", "--phone", "84951234567", answer="y\n"
    )
    assert by_phone.exit_code == 0 and first in by_phone.output and "created" in by_phone.output
    assert field(home, "counterparties", "add", "Ромашка ООО", "--yes").exit_code == 0
    assert field(home, "counterparties", "add", "ООО «Вектор»").output.startswith("created")
