"""Every write raises the data version, in the writing transaction; a refused write does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from crm import changes, records
from crm.database import Database
from crm.errors import ValidationFailed
from tests.conftest import at_once, make_user


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
        records.update(
            session, user, rt, cp.id, {"notes": "правка"}
        )  # the same value: no new version
    assert _version(database) == no_change
    with database.write() as session:
        records.delete(session, user, rt, cp.id)
    assert _version(database) > no_change


def _unlogged(database: Database) -> dict[str, int]:
    """Per synced table, how many rows have no change-log row (or one that says deleted)."""
    from sqlalchemy import and_, func, select

    log = changes.ChangeLog
    missing = {}
    with database.read() as session:
        for model, name in changes.SYNCED.items():
            table: Any = model.__table__  # type: ignore[attr-defined]
            count = session.execute(
                select(func.count())
                .select_from(table)
                .outerjoin(
                    log,
                    and_(
                        log.record_type == name,
                        log.record_id == table.c.id,
                        log.deleted == False,  # noqa: E712
                    ),
                )
                .where(log.record_id.is_(None))
            ).scalar_one()
            if count:
                missing[name] = count
    return missing


def test_every_writer_enters_the_change_log(database: Database) -> None:
    from crm import accounts, demo

    demo.generate(database, "small", seed=3)
    user = make_user(database, "writer")
    with database.write() as session:
        accounts.ensure_team(session, "Новая команда")
        admin = accounts.create_user(session, login="chief", full_name="Шеф", role="admin")
        accounts.set_active(session, admin, False)
    rt = records.record_type("counterparties")
    with database.write() as session:
        cp = records.create(session, user, rt, {"legal_name": "ООО Журнал"})
        records.create_many(
            session,
            user,
            records.record_type("contact-persons"),
            [{"counterparty_id": cp.id, "full_name": f"Лицо {i}"} for i in range(3)],
        )
    assert _unlogged(database) == {}
    with database.write() as session:
        records.delete(session, user, rt, cp.id)
    with database.read() as session:
        entry = changes.log_entry(session, "counterparties", cp.id)
        assert entry is not None and entry.deleted and entry.tombstone["legal_name"] == "ООО Журнал"
        children = session.execute(
            select(changes.ChangeLog).where(
                changes.ChangeLog.counterparty_id == cp.id,
                changes.ChangeLog.record_type == "contact-persons",
            )
        ).scalars()
        assert [c.deleted for c in children] == [True, True, True]


def test_a_field_change_records_its_version_and_device(database: Database) -> None:
    user = make_user(database, "ivanov")
    rt = records.record_type("counterparties")
    with database.write() as session:
        cp = records.create(session, user, rt, {"legal_name": "ООО Поля"})
    with database.write() as session:
        changes.from_device(session, "device-1")
        records.update(session, user, rt, cp.id, {"notes": "новое", "region": "Тула"})
    with database.read() as session:
        fields = changes.field_versions(session, "counterparties", cp.id)
        top = changes.current(session)[0]
    assert fields == {"notes": (top, "device-1"), "region": (top, "device-1")}


def test_one_version_per_transaction_and_a_rolled_back_savepoint_gives_its_number_back(
    database: Database,
) -> None:
    user = make_user(database, "ivanov")
    rt = records.record_type("counterparties")
    start = _version(database)
    with database.write() as session:
        for n in range(3):
            with session.begin_nested():  # released savepoints keep the transaction's version
                records.create(session, user, rt, {"legal_name": f"ООО Точка {n}"})
        taken = changes.allocate(session)
    assert taken == start + 1 == _version(database)
    with database.write() as session:
        try:
            with session.begin_nested():
                records.create(session, user, rt, {"legal_name": "ООО Откат"})
                raise RuntimeError("refused")
        except RuntimeError:
            pass
        records.create(session, user, rt, {"legal_name": "ООО После отката"})
    assert _version(database) == start + 2
    with database.read() as session:
        versions = {
            e.version
            for e in session.execute(
                select(changes.ChangeLog).where(changes.ChangeLog.record_type == "counterparties")
            ).scalars()
        }
    assert versions == {start + 1, start + 2}


def test_the_first_writes_of_a_new_database_at_once_each_take_a_version(database: Database) -> None:
    """No write has happened yet, so there is no version row to count on: several first writes at
    once make it once and take versions one after another."""

    def first_write(_n: int) -> int:
        with database.write() as session:
            return changes.allocate(session)

    taken = at_once(6, first_write)
    # (a migrated SQLite file may hold the row already: then they count on from it)
    assert sorted(taken) == list(range(min(taken), min(taken) + 6)) and min(taken) <= 2


def test_rows_held_inside_a_savepoint_rolled_back_are_dropped_and_the_rest_written(
    database: Database,
) -> None:
    """``changes.holding`` writes the change log of its flushes at the end, except the rows of a
    savepoint rolled back inside it; what reads the log meanwhile sees the rows held so far."""
    user = make_user(database, "ivanov")
    rt = records.record_type("counterparties")
    with database.write() as session, changes.holding(session):
        kept = records.create(session, user, rt, {"legal_name": "ООО Остаётся"})
        records.update(session, user, rt, kept.id, {"notes": "первая"})
        with pytest.raises(ValidationFailed), session.begin_nested():
            gone = records.create(session, user, rt, {"legal_name": "ООО Пропадёт"})
            session.flush()
            records.update(session, user, rt, gone.id, {"inn": "123"})
        # Read in the block: the rows held so far are written first.
        assert changes.log_entry(session, "counterparties", kept.id) is not None
        assert set(changes.field_versions(session, "counterparties", kept.id)) == {"notes"}
        records.update(session, user, rt, kept.id, {"region": "Москва"})
        assert changes.log_entry(session, "counterparties", gone.id) is None
    with database.read() as session:
        assert changes.log_entry(session, "counterparties", gone.id) is None
        entry = changes.log_entry(session, "counterparties", kept.id)
        assert entry is not None and entry.scope_version == entry.version  # made in this block
        assert set(changes.field_versions(session, "counterparties", kept.id)) == {
            "notes",
            "region",
        }


def test_rows_entered_by_a_bulk_update_inside_holding_join_the_held_rows(
    database: Database,
) -> None:
    """``log_updated`` (a thread move of the mail bridge) inside ``changes.holding`` is written with
    the flushes' rows at the end: the record made in the block keeps its scope version, the field
    moved is entered at the block's version, and a move inside a savepoint rolled back is not."""
    from crm.models import Counterparty

    user = make_user(database, "ivanov")
    rt = records.record_type("counterparties")
    with database.write() as session, changes.holding(session):
        made = records.create(session, user, rt, {"legal_name": "ООО Новое"})
        other = records.create(session, user, rt, {"legal_name": "ООО Другое"})
        session.flush()
        changes.log_updated(session, Counterparty, [(made.id, made.id)], ["notes"])
        with pytest.raises(RuntimeError), session.begin_nested():
            changes.log_updated(session, Counterparty, [(other.id, other.id)], ["region"])
            raise RuntimeError("rolled back")
        version = changes.allocate(session)
    with database.read() as session:
        entry = changes.log_entry(session, "counterparties", made.id)
        assert entry is not None and entry.version == version
        assert entry.scope_version == version  # made in the block: the move did not reset it
        assert changes.field_versions(session, "counterparties", made.id)["notes"][0] == version
        assert "region" not in changes.field_versions(session, "counterparties", other.id)
        assert changes.log_entry(session, "counterparties", other.id) is not None


def _log_row(database: Database, record_type: str, record_id: str) -> tuple[Any, ...]:
    from sqlalchemy import text

    with database.read() as session:
        return tuple(
            session.execute(
                text(
                    "SELECT version, scope_version, deleted, tombstone FROM change_log "
                    "WHERE record_type = :t AND record_id = :i"
                ),
                {"t": record_type, "i": record_id},
            ).one()
        )


def test_a_late_write_takes_its_version_at_its_end_and_logs_as_any_write(
    database: Database,
) -> None:
    """A single REST write (``holding(late=True)``) takes the data version only when its rows are
    written, at the end: every other writer waits for the version's row from then to the commit,
    not through the whole request. What it enters in the change log is what any write enters: the
    version, a scope version kept by a plain edit, a delete's tombstone, the field rows."""
    seller = make_user(database, "ivanov")
    clients, calls = records.record_type("counterparties"), records.record_type("interactions")
    with database.write() as session:
        cp = records.create(session, seller, clients, {"legal_name": "ООО Поздняя"})
    with database.write() as session:
        with changes.holding(session, late=True):
            call = records.create(
                session,
                seller,
                calls,
                {
                    "counterparty_id": cp.id,
                    "subject": "Звонок",
                    "starts_at": "2026-11-20T09:00:00Z",
                },
            )
            assert changes.taken(session) is None  # flushed, not versioned yet
            if database.engine.dialect.name == "postgresql":
                # Nobody waits for the version's row while the request works.
                other = database.engine.connect()
                try:
                    other.exec_driver_sql(
                        "SELECT version FROM data_version WHERE id = 1 FOR UPDATE NOWAIT"
                    )
                finally:
                    other.close()
        created = changes.taken(session)
        assert created is not None
    assert _version(database) == created
    version, scope, deleted, _ = _log_row(database, "interactions", call.id)
    assert (version, scope, deleted) == (created, created, False)

    with database.write() as session, changes.holding(session, late=True):
        records.update(session, seller, calls, call.id, {"subject": "Встреча"})
    edited = _version(database)
    # A plain edit keeps the record's scope version; its field row carries the new version.
    assert _log_row(database, "interactions", call.id)[:3] == (edited, created, False)
    with database.read() as session:
        assert changes.field_versions(session, "interactions", call.id)["subject"][0] == edited

    with database.write() as session, changes.holding(session, late=True):
        records.delete(session, seller, calls, call.id)
    gone = _version(database)
    version, scope, deleted, tombstone = _log_row(database, "interactions", call.id)
    assert (version, scope, deleted) == (gone, gone, True)
    if isinstance(tombstone, str):  # SQLite hands a raw query's JSON back as its text
        tombstone = json.loads(tombstone)
    assert tombstone["subject"] == "Встреча"
