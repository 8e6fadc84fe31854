"""Error answers and log lines."""

from __future__ import annotations

from starlette.requests import Request

from server.errors import _path


def test_feed_tokens_never_reach_a_log_line() -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/calendar/s3cr3t-token.ics",
            "headers": [],
            "query_string": b"",
        }
    )
    assert _path(request) == "/calendar/…"
    other = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/api/v1/counterparties",
            "headers": [],
            "query_string": b"",
        }
    )
    assert _path(other) == "/api/v1/counterparties"
