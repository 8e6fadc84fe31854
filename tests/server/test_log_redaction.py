"""Logs never contain email addresses or phone numbers (docs/configuration.md), even in tracebacks."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from crm import changes
from server import logs
from tests.inprocess import InProcessClient
from tests.server.conftest import Api

EMAIL = "petrov.secret@mail.ru"
PHONE = "+79161234567"


@contextmanager
def kept_root_logging() -> Iterator[None]:
    """The root logger's handlers and level as they were before the block, whatever it set up."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        yield
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the server's own logging set-up (``satchel serve``) would print."""
    stream = io.StringIO()
    with kept_root_logging():
        logs.configure("info", stream)
        yield stream


def _sql_error(session: Any) -> None:
    # A statement the database refuses, with the address among its parameters.
    session.execute(
        text("SELECT * FROM no_such_table WHERE address = :address"), {"address": EMAIL}
    )


def _message_error(session: Any) -> None:
    raise RuntimeError(f"could not file the letter of {EMAIL} (тел. 8 (916) 123-45-67, {PHONE})")


def _duplicate(session: Any) -> None:
    # PostgreSQL quotes the taken value in its DETAIL line.
    session.execute(
        text(
            "INSERT INTO team (id, name, created_at, updated_at, version) "
            "VALUES ('t1', :name, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1), "
            "('t2', :name, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
        ),
        {"name": EMAIL},
    )


@pytest.mark.parametrize(
    ("failure", "status"), [(_sql_error, 500), (_message_error, 500), (_duplicate, 409)]
)
def test_an_error_during_a_request_with_an_email_logs_no_address(
    api: Api, log_output: io.StringIO, monkeypatch: pytest.MonkeyPatch, failure: Any, status: int
) -> None:
    admin = api.user("boss", role="admin")
    me = api.client.get("/api/v1/me", headers=admin).json()["user"]
    monkeypatch.setattr(changes, "bump", failure)
    # As a real server answers: a 500, not the exception raised into the test.
    client = InProcessClient(api.client.app, raise_server_exceptions=False)
    r = client.patch(f"/api/v1/users/{me['id']}", json={"email": EMAIL}, headers=admin)
    assert r.status_code == status, r.text
    assert EMAIL not in r.text
    printed = log_output.getvalue()
    assert "/api/v1/users" in printed  # the error was logged ...
    assert EMAIL not in printed and "mail.ru" not in printed  # ... without the address
    assert PHONE not in printed and "123-45-67" not in printed
    if failure is _message_error:
        assert "<email>" in printed and "<phone>" in printed and "Traceback" in printed


def test_redact_keeps_times_ids_and_versions() -> None:
    line = (
        "2026-12-01 15:26:38,123 ERROR x: deal 4c822658-76b6-4b9e-9ae7-d54a2355af73 v12 at 10.0.0.1"
    )
    assert logs.redact(line) == line
    assert logs.redact("to Ivan.Petrov+crm@romashka.ru, 8-916-123-45-67") == "to <email>, <phone>"


@pytest.mark.parametrize(
    "address",
    ["admin@localhost", '"john doe"@mail.ru', "user@[10.0.0.1]", "ivan@почта.рф", "a@b-c.d.ru"],
)
def test_every_form_of_an_address_is_redacted(address: str) -> None:
    assert logs.redact(f"letter from {address} refused") == "letter from <email> refused"


def test_the_log_follows_stderr_and_never_writes_to_a_closed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Logging set up while ``sys.stderr`` was another stream (an app made inside a command run by a
    test's runner) writes where ``sys.stderr`` is now, not to that stream once it is closed."""
    then, now = io.StringIO(), io.StringIO()
    with kept_root_logging():
        monkeypatch.setattr(sys, "stderr", then)
        logs.configure("info")
        then.close()
        monkeypatch.setattr(sys, "stderr", now)
        logging.getLogger("satchel.test").info("after the runner, to %s", EMAIL)
    printed = now.getvalue()
    assert "satchel.test: after the runner, to " in printed and EMAIL not in printed
    assert "Logging error" not in printed


def test_a_log_line_that_cannot_be_written_is_reported_without_its_values(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """logging's own report of a failed write prints the record's arguments; ours says one line."""
    gone = io.StringIO()
    with kept_root_logging():
        logs.configure("info", gone)
        gone.close()
        logging.getLogger("satchel.test").info("letter from %s", EMAIL)
    printed = capfd.readouterr().err
    assert "satchel: a log line could not be written" in printed
    assert EMAIL not in printed and "Arguments" not in printed
