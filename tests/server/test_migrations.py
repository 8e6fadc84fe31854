"""Migrations that move data: what a server upgraded in place hands to laptops loaded before."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import false, select, text
from sqlalchemy.exc import SAWarning
from sqlmodel import col

from crm import access, registry
from crm.database import Database
from crm.models import User
from server import migrate
from sync import conflicts
from sync.pull import pull
from tests.conftest import make_user


@contextmanager
def _unknown(*names: str) -> Iterator[None]:
    """The registry as a server of an older schema had it: without the types of later migrations,
    whose tables a database at that revision lacks (a pull lists conflicts of every writable type)."""
    kept = dict(registry.RECORD_TYPES)
    for name in names:
        registry.unregister(name)
    try:
        yield
    finally:
        registry.RECORD_TYPES.clear()
        registry.RECORD_TYPES.update(kept)  # in their order: the bootstrap order is theirs
        registry._rebuild()


def test_templates_copied_by_0008_reach_a_laptop_loaded_before_it(
    blank_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = blank_database
    # Nobody stood in for anybody before 0019 made substitutes (its table is not there yet).
    monkeypatch.setattr(access, "_covered", lambda actor: select(col(User.id)).where(false()))
    # The conflicts' statements built once per kind of user hold the real clause: built anew here.
    for built in (conflicts._first_page, conflicts._badge_statements):
        built.cache_clear()
        monkeypatch.setattr(conflicts, built.__name__, functools.cache(built.__wrapped__))
    migrate.upgrade(database, "0008")
    seller = make_user(database, "ivanov")
    with database.engine.begin() as connection:
        # As 0008 left them: copied from the mail bridge's table, with no change-log entry.
        connection.execute(
            text(
                "INSERT INTO letter_template (id, created_at, updated_at, version, name, subject, body) "
                "VALUES ('t-1', :at, :at, 1, 'Прайс', 'Прайс-лист', 'Высылаем прайс'), "
                "('t-2', :at, :at, 1, 'Образцы', 'Образцы', 'Высылаем образцы')"
            ),
            {"at": "2026-11-30 10:00:00"},
        )
    with (
        _unknown(
            "complaints",
            "claims",
            "absences",
            "contracts",
            "receivables",
            "contact-rules",
            "segments",
            "events",
            "event-costs",
            "event-participants",
            "supplier-terms",
            "mailings",
        ),
        database.read() as session,
    ):  # 0014 to 0019
        cursor = pull(session, session.get_one(User, seller.id), {"cursor": "0"})["cursor"]
        assert not any(
            c["type"] == "letter-templates"
            for c in pull(session, session.get_one(User, seller.id), {"cursor": "0"})["changes"]
        )
    migrate.upgrade(database)
    with database.read() as session:
        answer = pull(session, session.get_one(User, seller.id), {"cursor": cursor})
        got = {c["id"]: c for c in answer["changes"] if c["type"] == "letter-templates"}
        assert sorted(got) == ["t-1", "t-2"]
        assert got["t-1"]["record"]["subject"] == "Прайс-лист"
        assert int(answer["cursor"]) > int(cursor)
    migrate.upgrade(database)  # at head already: nothing entered twice
    with database.read() as session:
        again = pull(session, session.get_one(User, seller.id), {"cursor": answer["cursor"]})
        assert again["changes"] == []


def test_a_database_at_head_is_left_alone_and_an_older_one_upgraded(
    blank_database: Database,
) -> None:
    migrate.upgrade(blank_database, "0008")
    migrate.upgrade(blank_database)  # not at HEAD: Alembic runs
    assert migrate.current(blank_database) == migrate.head()
    migrate.upgrade(blank_database)  # at HEAD: nothing to do
    assert migrate.current(blank_database) == migrate.head()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_migrated_sqlite_database_finds_birthdays_by_their_index(
    blank_database: Database,
) -> None:
    """0011 made an index of the birthday's month and day; 0019 copied the table and lost it (an
    index on an expression is not read back); 0020 makes it again. The agenda's query uses it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        migrate.upgrade(blank_database)
    # A new database's administrator sees no warning about an index it then has.
    assert not [w for w in caught if issubclass(w.category, SAWarning)], [
        str(w.message) for w in caught
    ]
    with blank_database.engine.connect() as connection:
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM contact_person "
            "WHERE birthday IS NOT NULL AND substr(birthday, 6, 5) IN ('12-03', '12-04')"
        ).all()
    assert any("ix_contact_person_birthday_day" in str(row) for row in plan), plan


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_letters_texts_are_compressed_with_lz4_and_read_back_whole(
    blank_database: Database,
) -> None:
    """0021: a letter's text and HTML are compressed with lz4 on PostgreSQL (pglz cost the database
    4× the CPU of a first mail import's letters); a long text reads back as written, and the
    downgrade puts the default back."""
    migrate.upgrade(blank_database)
    query = text(
        "SELECT attname, attcompression FROM pg_attribute "
        "WHERE attrelid = 'interaction'::regclass AND attname IN ('notes', 'body_html')"
    )
    with blank_database.engine.connect() as connection:
        assert dict(connection.execute(query).all()) == {"notes": "l", "body_html": "l"}
    from crm import records

    ivanov = make_user(blank_database, "ivanov")
    long_text = "Добрый день! Просим выставить счёт на кольца 585 пробы. " * 2000
    with blank_database.write() as session:
        client = records.create(
            session, ivanov, records.record_type("counterparties"), {"legal_name": "ООО Кольца"}
        )
        letter = records.create(
            session,
            ivanov,
            records.record_type("interactions"),
            {
                "counterparty_id": client.id,
                "kind": "letter",
                "subject": "Счёт",
                "notes": long_text,
                "starts_at": "2026-12-03T10:00:00Z",
            },
        )
    with blank_database.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT notes, pg_column_compression(notes) FROM interaction WHERE id = :id"),
            {"id": letter.id},
        ).one()
    assert stored == (long_text, "lz4")
    from alembic import command

    with blank_database.engine.begin() as connection:
        command.downgrade(migrate._alembic_config(connection), "0020")
    with blank_database.engine.connect() as connection:
        assert dict(connection.execute(query).all()) == {"notes": "", "body_html": ""}


def test_open_conflicts_are_found_by_type_from_the_index_of_0022(blank_database: Database) -> None:
    """0022: the index on ``(status, record_type)`` replaces the one on ``status``; a pull asks it
    which record types have open conflicts. The downgrade puts the old index back."""
    from sqlalchemy import inspect

    def indexes() -> dict[str, list[str]]:
        with blank_database.engine.connect() as connection:
            found = inspect(connection).get_indexes("sync_conflict")
        return {ix["name"]: list(ix["column_names"]) for ix in found}

    migrate.upgrade(blank_database)
    assert indexes()["ix_sync_conflict_open"] == ["status", "record_type"]
    assert "ix_sync_conflict_status" not in indexes()
    from alembic import command

    with blank_database.engine.begin() as connection:
        command.downgrade(migrate._alembic_config(connection), "0021")
    assert indexes()["ix_sync_conflict_status"] == ["status"]
    assert "ix_sync_conflict_open" not in indexes()
