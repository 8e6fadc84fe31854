"""Fixtures of the mail tests: a private Dovecot and an SMTP sink (see servers.py).

Where Dovecot is not installed the tests that need it are skipped with the
reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail.servers import IN_CI, DovecotServer, ServerUnavailable, SmtpSink, find_dovecot


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One running Dovecot for the whole run (for each xdist worker); removed at the end."""
    if find_dovecot() is None:
        _unavailable(
            "dovecot is not installed (apt-get install -y dovecot-imapd; "
            "or point SATCHEL_TEST_DOVECOT at the binary)"
        )
    try:
        server = DovecotServer()
        server.start()
    except ServerUnavailable as exc:
        _unavailable(f"dovecot could not be started: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> DovecotServer:
    """The run's Dovecot, running, with the default users as new: empty but for their folders."""
    try:
        dovecot_server.reset()
    except ServerUnavailable as exc:  # a test before stopped it and it would not come back
        _unavailable(f"dovecot could not be started: {exc}")
    return dovecot_server


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP sink on a free loopback port."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
