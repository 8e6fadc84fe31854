"""What a new user's trial of the ``satchel`` command found: a busy port, a mailbox that cannot be
reached, raw ids and times in listings."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from crm import accounts
from crm.console import EXIT_CODES, SERVER_ZONE, ZONE_LABEL, PortTaken, when
from crm.database import Database
from crm.models import Device
from server.app import create_app
from server.commands import app
from server.config import Config
from tests.conftest import PASSWORD, SQLITE_ONLY, make_user
from tests.inprocess import InProcessClient

runner = CliRunner()


def _env(database: Database, tmp_path: Path, **more: str | None) -> dict[str, str | None]:
    return {
        "SATCHEL_DATABASE_URL": database.url,
        "SATCHEL_DATA_DIR": str(tmp_path),
        "COLUMNS": "250",
        **more,
    }


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        yield taken.getsockname()[1]


@SQLITE_ONLY
def test_serve_on_a_taken_port_says_so_and_exits_11(
    database: Database, tmp_path: Path, busy_port: int
) -> None:
    result = runner.invoke(
        app,
        ["serve", "--host", "127.0.0.1", "--port", str(busy_port)],
        env=_env(database, tmp_path),
    )
    assert result.exit_code == 11, result.output
    assert "listening" not in result.output
    assert f"port {busy_port} is taken" in result.output and "занят" in result.output


def test_demo_on_a_taken_port_stops_before_building_the_company(
    tmp_path: Path, busy_port: int
) -> None:
    result = runner.invoke(
        app,
        ["demo", "--data-dir", str(tmp_path / "demo"), "--port", str(busy_port)],
        env={"SATCHEL_DATA_DIR": str(tmp_path), "COLUMNS": "250"},
    )
    assert result.exit_code == 11, result.output
    assert f"port {busy_port} is taken" in result.output
    assert "demo on" not in result.output and "demo users" not in result.output


def test_a_taken_port_has_the_laptops_exit_code_everywhere() -> None:
    assert EXIT_CODES[PortTaken] == 11  # satchel-field ui's code for a taken port (field-client.md)
    docs = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
    assert "| 11 |" in docs.read_text(encoding="utf-8")


@SQLITE_ONLY
def test_mail_run_says_why_a_mailbox_failed_on_its_line(database: Database, tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens once the block ends
    env = _env(database, tmp_path)
    secret = "pa55-Пароль-word"
    for name in ("sales", "office"):
        added = runner.invoke(
            app,
            [
                "mail",
                "mailbox",
                "add",
                name,
                "--address",
                f"{name}@torgdom.test",
                "--imap-host",
                "127.0.0.1",
                "--imap-port",
                str(port),
                "--imap-security",
                "plain",
                "--password",
                secret,
            ],
            env=env,
        )
        assert added.exit_code == 0, added.output
    ran = runner.invoke(app, ["mail", "run", "--once"], env=env)
    assert ran.exit_code != 0, ran.output
    for name in ("sales", "office"):
        assert f"{name}: cannot reach 127.0.0.1:{port}:" in ran.stdout, ran.output
        assert f"{name}: 0 read" not in ran.output
    assert "2 of 2 mailbox(es) failed" in ran.output and secret not in ran.output


def test_mail_summary_lines_never_show_a_password() -> None:
    from mail.ingest import MailboxReport
    from server.commands.mail import _summary

    report = MailboxReport("sales", error="imap.example.ru: said 'LOGIN sales s3cret-word' back")
    assert _summary(report, {"sales": "s3cret-word"}) == (
        "sales: imap.example.ru: said 'LOGIN sales ***' back"
    )
    assert _summary(MailboxReport("sales")).startswith("sales: 0 read, 0 filed")


def test_times_in_listings_are_minutes_in_moscow_time() -> None:
    from server.web_home import TIMEZONE

    assert SERVER_ZONE == TIMEZONE  # the office's screens and the command say the same time
    moment = datetime(2026, 12, 2, 1, 7, 11, 481168, tzinfo=UTC)
    assert when(moment) == "2026-12-02 04:07"
    assert when(moment.replace(tzinfo=None)) == "2026-12-02 04:07"  # stored as UTC
    assert when("2026-12-02T01:07:11+00:00") == "2026-12-02 04:07"
    assert when(None) == ""


def test_feed_and_device_listings_show_logins_and_readable_times(database: Database) -> None:
    run_env = {"SATCHEL_DATABASE_URL": database.url, "COLUMNS": "250"}
    assert (
        runner.invoke(
            app, ["user", "add", "ivanov", "--name", "Иванов", "--password", PASSWORD], env=run_env
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(app, ["feed", "add", "ivanov", "--label", "Outlook"], env=run_env).exit_code
        == 0
    )
    seen = datetime(2026, 12, 2, 1, 7, 11, 481168, tzinfo=UTC)
    with database.write() as session:
        ivanov = accounts.find_user(session, "ivanov")
        device, _token = accounts.register_device(session, ivanov, "Ноутбук")
        device.last_seen_at = seen
        session.add(device)
        user_id = ivanov.id
    feeds = runner.invoke(app, ["feed", "list"], env=run_env)
    assert feeds.exit_code == 0, feeds.output
    assert "ivanov" in feeds.output and user_id not in feeds.output
    assert "+00:00" not in feeds.output and ZONE_LABEL in feeds.output
    listed = json.loads(runner.invoke(app, ["feed", "list", "--json"], env=run_env).stdout)
    assert listed[0]["user"] == "ivanov"
    assert datetime.fromisoformat(listed[0]["created"]).tzinfo is not None  # ISO 8601 kept

    for command in (["device", "list"], ["sync", "devices"]):
        shown = runner.invoke(app, command, env=run_env)
        assert shown.exit_code == 0, shown.output
        assert "2026-12-02 04:07" in shown.output and "481168" not in shown.output, shown.output
    devices = json.loads(runner.invoke(app, ["device", "list", "--json"], env=run_env).stdout)
    assert devices[0]["last_seen"].startswith("2026-12-02T01:07:11")


def test_a_device_that_only_reads_is_seen_at_most_once_a_minute(
    config: Config, database: Database
) -> None:
    make_user(database, "ivanov")
    with InProcessClient(create_app(config, database)) as client:
        r = client.post(
            "/api/v1/auth/login",
            json={"login": "ivanov", "password": PASSWORD, "device_name": "Ноутбук"},
        )
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        with database.write() as session:  # as a device that logged in long ago
            device = session.execute(select(Device)).scalar_one()
            device.last_seen_at = None
            session.add(device)
        assert client.get("/api/v1/counterparties", headers=auth).status_code == 200
        with database.read() as session:
            first = session.execute(select(Device)).scalar_one().last_seen_at
        assert first is not None and datetime.now(UTC) - first < timedelta(minutes=1)
        assert client.get("/api/v1/counterparties", headers=auth).status_code == 200
        with database.read() as session:
            assert session.execute(select(Device)).scalar_one().last_seen_at == first


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "command", [["user", "list"], ["db", "upgrade"], ["mail", "status"], ["serve", "--port", "0"]]
)
def test_a_database_that_cannot_be_opened_is_one_clear_line(command: list[str]) -> None:
    """A wrong port, a database that does not exist, a URL that is none: one line that says what the
    database said and where to look, exit 1 — not a traceback of 140 lines — and never the password."""
    import subprocess
    import sys

    for url, said in (
        (
            f"postgresql://satchel:s3cret-pw@127.0.0.1:{_unused_port()}/nowhere",
            "cannot open the database: connection failed",
        ),
        ("not a url", "database_url is not a database URL"),
        (
            "postgresql://satchel:s3cret-pw@127.0.0.1:notaport/x",
            "database_url is not a database URL",
        ),
        ("mysql://satchel:s3cret-pw@127.0.0.1/x", "database_url names mysql"),
        (
            "sqlite:////proc/satchel-none/one.db",
            "cannot open the database: /proc/satchel-none/one.db",
        ),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "server", *command],
            env={"SATCHEL_DATABASE_URL": url, "PATH": "/usr/bin", "COLUMNS": "80"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr[-800:]
        assert said in done.stderr and "Traceback" not in done.stderr, done.stderr[-800:]
        assert len(done.stderr.strip().splitlines()) == 1
        assert "s3cret-pw" not in done.stderr + done.stdout


@SQLITE_ONLY
def test_a_second_server_on_one_sqlite_file_is_refused_until_the_first_is_gone(
    backend: str, tmp_path: Path
) -> None:
    """SQLite is written by one server process: a second ``satchel serve`` on the same file (on
    another port) exits 2 and names the first; once the first is gone — even killed — it starts."""
    import signal
    import subprocess
    import sys
    import time

    env = {
        "SATCHEL_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}",
        "SATCHEL_DATA_DIR": str(tmp_path / "data"),
        "PATH": "/usr/bin",
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "server", "serve", "--port", "0"]

    def started() -> subprocess.Popen[str]:
        server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        for line in server.stdout:
            if "listening on" in line or time.monotonic() > deadline:
                break
        return server

    first = started()
    try:
        assert first.stdout is not None
        assert "No users yet" in first.stdout.readline()  # and how to make the first administrator
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"another satchel serve (process {first.pid})" in second.stderr
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        third = started()
        try:
            assert third.poll() is None  # serving
        finally:
            third.send_signal(signal.SIGTERM)
            third.wait(30)
    finally:
        first.kill()
        first.wait(30)
