"""A mailbox's settings are checked whole, as an administrator (or an attacker with the admin's
script) might get them wrong: every problem named at once, nothing stored, a password never sent
in clear text to another machine, no name or address twice."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from crm.database import Database
from crm.errors import AlreadyExists, ValidationFailed
from mail import bridge
from mail.models import Mailbox
from server.config import Config


def _add(database: Database, config: Config, **given: Any) -> Mailbox:
    settings: dict[str, Any] = {
        "name": "sales",
        "address": "sales@torgdom.test",
        "imap_host": "imap.torgdom.test",
        "password": "secret-1",
        **given,
    }
    with database.write() as session:
        return bridge.add_mailbox(session, config, **settings)


def _count(database: Database) -> int:
    with database.read() as session:
        return session.execute(select(func.count()).select_from(Mailbox)).scalar_one()


def test_every_bad_value_is_named_and_nothing_is_stored(database: Database, config: Config) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _add(
            database,
            config,
            name="sales\nX",
            imap_host="127.0.0.1\r\nA001 LOGOUT",
            imap_port=99999,
            smtp_host="smtp host",
            private_addresses=["not an address"],
            private_domains=["bad domain!!"],
            folders=[""],
        )
    assert set(refused.value.details) >= {
        "name",
        "imap_host",
        "imap_port",
        "smtp_host",
        "private_addresses",
        "private_domains",
        "folders",
    }
    assert _count(database) == 0


def test_plain_text_goes_to_this_machine_only(database: Database, config: Config) -> None:
    with pytest.raises(ValidationFailed, match="host name or an IP address"):
        _add(database, config, imap_host="[::1]")  # brackets are a URL's, not a socket's
    for host in ("192.0.2.2", "imap.yandex.ru", "localhost.evil.example"):
        with pytest.raises(ValidationFailed, match="unencrypted"):
            _add(database, config, imap_host=host, imap_security="plain")
    with pytest.raises(ValidationFailed, match="unencrypted"):
        _add(database, config, smtp_host="smtp.yandex.ru", smtp_security="plain")
    assert _count(database) == 0
    box = _add(database, config, imap_host="127.0.0.1", imap_security="plain")
    assert box.imap_security == "plain"
    # Moving a plain box to another machine is refused too, whichever setting changes.
    with database.write() as session, pytest.raises(ValidationFailed, match="unencrypted"):
        bridge.edit_mailbox(session, "sales", {"imap_host": "imap.yandex.ru"})
    with database.read() as session:
        assert session.execute(select(Mailbox.imap_host)).scalar_one() == "127.0.0.1"


def test_a_name_or_address_twice_is_refused(database: Database, config: Config) -> None:
    _add(database, config)
    with pytest.raises(AlreadyExists, match="named 'sales'"):
        _add(database, config, address="other@torgdom.test")
    with pytest.raises(AlreadyExists, match="reading 'sales@torgdom.test'"):
        _add(database, config, name="sales2", address="Sales@Torgdom.test")
    _add(database, config, name="office", address="office@torgdom.test")
    with database.write() as session, pytest.raises(AlreadyExists):
        bridge.edit_mailbox(session, "office", {"address": "sales@torgdom.test"})
    assert _count(database) == 2


def test_list_entries_are_stored_normalised_and_removed_as_typed(
    database: Database, config: Config
) -> None:
    _add(
        database,
        config,
        private_addresses=[" Friend@Yandex.RU "],
        private_domains=["@Family.RU"],
        private_folders=[" Личное "],
    )
    with database.write() as session:
        box = bridge.edit_mailbox(
            session,
            "sales",
            {},
            {
                "private_addresses": (["wife@mail.ru"], ["FRIEND@yandex.ru"]),
                "private_domains": ([], ["family.ru"]),
            },
        )
    assert box.private_addresses == ["wife@mail.ru"]
    assert box.private_domains == []
    assert box.private_folders == ["Личное"]


def test_removing_what_is_not_in_a_list_is_named_and_nothing_changes(
    database: Database, config: Config
) -> None:
    """A typo in ``--remove-folder`` must not be reported as a change made: it is a problem, and the
    rest of the edit waits for it (one change, whole or not at all)."""
    _add(database, config, folders=["INBOX", "Sent"], private_domains=["family.ru"])
    with pytest.raises(ValidationFailed) as refused, database.write() as session:
        bridge.edit_mailbox(
            session,
            "sales",
            {"send_per_hour": 50},
            {"folders": ([], ["Nonexistent", "Sent"]), "private_domains": ([], ["@Family.RU"])},
        )
    assert set(refused.value.details) == {"folders"}
    assert "'Nonexistent' not in the list (INBOX, Sent)" in refused.value.details["folders"]
    with database.read() as session:
        box = bridge.find_mailbox(session, "sales")
        assert (box.folders, box.private_domains, box.send_per_hour) == (
            ["INBOX", "Sent"],
            ["family.ru"],
            None,
        )
