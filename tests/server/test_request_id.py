"""Every answer names its request (``X-Request-Id``), and so do its error body and its log lines."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from crm import records
from server import logs
from tests.conftest import SQLITE_ONLY
from tests.inprocess import InProcessClient
from tests.server.conftest import Api
from tests.server.test_log_redaction import kept_root_logging

GENERATED = re.compile(r"[0-9a-f]{32}")

# Request ids are made, checked and logged by middleware; no SQL decides them: SQLite only.
pytestmark = SQLITE_ONLY


@pytest.fixture
def request_ids(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog`` whose records carry ``request_id``, as the server's own handler's do."""
    id_filter = logs.RequestIdFilter()
    caplog.handler.addFilter(id_filter)
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        caplog.handler.removeFilter(id_filter)


def _failing_to_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(records, "to_dict", broken)


def test_every_answer_carries_an_id_and_errors_repeat_it_in_the_body(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = api.user("ivanov")
    ok = api.client.get("/api/v1/me", headers=h)
    assert ok.status_code == 200 and GENERATED.fullmatch(ok.headers["x-request-id"])

    anonymous = api.client.post("/api/v1/counterparties", content=b"{not json")
    assert anonymous.status_code == 401  # the token before the body, as ever
    assert GENERATED.fullmatch(anonymous.headers["x-request-id"])
    assert anonymous.json()["request_id"] == anonymous.headers["x-request-id"]

    for r in (
        api.client.post("/api/v1/counterparties", content=b"{not json", headers=h),  # 400
        api.client.get("/api/v1/counterparties/no-such-id", headers=h),  # 404
        api.client.post("/api/v1/counterparties", json={"legal_name": ""}, headers=h),
    ):  # 422
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["request_id"] == r.headers["x-request-id"], r.status_code
        assert set(r.json()) <= {"error", "message", "details", "request_id"}

    _failing_to_dict(monkeypatch)
    client = InProcessClient(
        api.client.app, raise_server_exceptions=False
    )  # a 500, as a real server answers
    crash = client.get("/api/v1/me", headers=h)
    assert crash.status_code == 500
    assert GENERATED.fullmatch(crash.headers["x-request-id"])
    assert crash.json() == {
        "error": "internal",
        "message": "internal server error; nothing was changed",
        "request_id": crash.headers["x-request-id"],
    }
    assert (
        crash.headers["x-content-type-options"] == "nosniff"
    )  # still outside the error layer, with the id


def test_each_request_gets_its_own_id(api: Api) -> None:
    ids = {api.client.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert logs.request_id() == logs.NO_REQUEST  # nothing leaks out of a request


def test_a_plain_client_id_is_kept(api: Api) -> None:
    for given in ("a", "req-2026.12.01_0001", "4c822658-76b6-4b9e-9ae7-d54a2355af73", "x" * 64):
        r = api.client.get("/api/v1/me", headers={"X-Request-Id": given})
        assert r.status_code == 401
        assert r.headers["x-request-id"] == given and r.json()["request_id"] == given


@pytest.mark.parametrize(
    "hostile",
    [
        "x" * 65,  # too long
        "",
        "two words",
        "a;b",
        "<script>alert(1)</script>",
        "id\tinjected",
        "89161234567",  # a phone number: it would go into every log line of the request unredacted
        "ivanov@romashka",
        "%0d%0aInjected: yes",
    ],
)
def test_a_hostile_client_id_is_replaced(api: Api, hostile: str) -> None:
    r = api.client.get("/api/v1/me", headers={"X-Request-Id": hostile})
    assert r.status_code == 401
    assert GENERATED.fullmatch(r.headers["x-request-id"]), r.headers["x-request-id"]
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_a_non_ascii_client_id_is_replaced(api: Api) -> None:
    r = api.client.get("/api/v1/me", headers={"X-Request-Id": "запрос-1".encode()})
    assert GENERATED.fullmatch(r.headers["x-request-id"])


def test_log_lines_during_a_request_carry_its_id(
    api: Api, request_ids: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = api.user("ivanov")
    real = records.to_dict
    worker = logging.getLogger("satchel.test.work")

    def logging_to_dict(*args: Any, **kwargs: Any) -> Any:
        worker.info("working for the caller")  # in the thread the request's work runs in
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "to_dict", logging_to_dict)
    request_ids.clear()
    r = api.client.get("/api/v1/me", headers={**h, "X-Request-Id": "support-ticket-17"})
    assert r.status_code == 200
    [line] = [rec for rec in request_ids.records if rec.name == "satchel.test.work"]
    assert line.request_id == "support-ticket-17"  # type: ignore[attr-defined]

    _failing_to_dict(monkeypatch)
    client = InProcessClient(api.client.app, raise_server_exceptions=False)
    request_ids.clear()
    crash = client.get("/api/v1/me", headers=h)
    [logged] = [rec for rec in request_ids.records if rec.name == "server.errors"]
    assert "unhandled error on GET /api/v1/me" in logged.getMessage()
    assert logged.request_id == crash.headers["x-request-id"]  # type: ignore[attr-defined]

    request_ids.clear()
    worker.info("between requests")
    assert request_ids.records[0].request_id == logs.NO_REQUEST  # type: ignore[attr-defined]


def test_the_servers_own_log_lines_print_the_id(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``satchel serve`` prints: the id in brackets after the level."""
    stream = io.StringIO()
    with kept_root_logging():
        logs.configure("info", stream)
        h = api.user("ivanov")
        _failing_to_dict(monkeypatch)
        client = InProcessClient(api.client.app, raise_server_exceptions=False)
        crash = client.get("/api/v1/me", headers={**h, "X-Request-Id": "ticket-42"})
        assert crash.status_code == 500
        logging.getLogger("satchel.test").info("after the request")
    printed = stream.getvalue()
    assert re.search(
        r" ERROR \[ticket-42\] server\.errors: unhandled error on GET /api/v1/me", printed
    ), printed
    assert " INFO [-] satchel.test: after the request" in printed
