"""Every write raises the data version, in the writing transaction; a refused write does not."""

from __future__ import annotations

import pytest

from crm import changes, records
from crm.database import Database
from crm.errors import ValidationFailed
from tests.conftest import make_user


def _version(database: Database) -> int:
    with database.read() as session:
        return changes.current(session)[0]


def test_writes_raise_the_version_and_refusals_do_not(database: Database) -> None:
    user = make_user(database, "ivanov")
    rt = records.record_type("counterparties")
    start = _version(database)
    with database.write() as session:
        cp = records.create(session, user, rt, {"legal_name": "ООО Версия"})
    after_create = _version(database)
    assert after_create > start
    with pytest.raises(ValidationFailed), database.write() as session:
        records.update(session, user, rt, cp.id, {"inn": "123"})
    assert _version(database) == after_create
    with database.write() as session:
        records.update(session, user, rt, cp.id, {"notes": "правка"})
    assert _version(database) > after_create
    no_change = _version(database)
    with database.write() as session:
        records.update(session, user, rt, cp.id, {"notes": "правка"})  # the same value: no new version
    assert _version(database) == no_change
    with database.write() as session:
        records.delete(session, user, rt, cp.id)
    assert _version(database) > no_change
