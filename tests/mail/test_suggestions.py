"""Suggested contact persons (``mail.suggestions``): accepted through crm.records as the deciding user, or dismissed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crm import records
from crm.database import Database
from crm.errors import AlreadyExists, NotFound, PermissionDenied
from crm.models import ContactPerson, User
from mail import filing, suggestions
from mail.decode import parse_letter
from mail.models import MailSuggestion
from tests.conftest import make_user

RAW = (
    b"From: =?utf-8?b?0J/RkdGC0YAg0KHQuNC00L7RgNC+0LI=?= <Petr.Sidorov@unknown-client.ru>\r\n"
    b"To: sales@torgdom.ru\r\nSubject: Order\r\nMessage-ID: <order-7@unknown-client.ru>\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n"
)
ADDRESS = "petr.sidorov@unknown-client.ru"


def _create(database: Database, actor: User, type_name: str, **data: Any) -> Any:
    with database.write() as db:
        return records.create(db, db.get_one(User, actor.id), records.record_type(type_name), data)


def _suggest(database: Database, counterparty_id: str, raw: bytes = RAW) -> MailSuggestion:
    """The suggestion as the ingest writes it for a letter filed under ``counterparty_id``."""
    letter = parse_letter(raw)
    found = filing.Suggestions()
    found.add(counterparty_id, letter, (ADDRESS,), None)
    with database.write() as db:
        found.write(db)
    with database.read() as db:
        return db.execute(
            select(MailSuggestion).where(
                MailSuggestion.counterparty_id == counterparty_id, MailSuggestion.address == ADDRESS
            )
        ).scalar_one()


def _people(database: Database, counterparty_id: str) -> list[ContactPerson]:
    with database.read() as db:
        return list(
            db.execute(
                select(ContactPerson).where(ContactPerson.counterparty_id == counterparty_id)
            ).scalars()
        )


def _status(database: Database, suggestion_id: str) -> str:
    with database.read() as db:
        return db.get_one(MailSuggestion, suggestion_id).status


def _accept(
    database: Database, actor: User, suggestion_id: str, counterparty_id: str | None = None
) -> ContactPerson:
    with database.write() as db:
        return suggestions.accept_suggestion(
            db, db.get_one(User, actor.id), suggestion_id, counterparty_id
        )


def _dismiss(database: Database, actor: User, suggestion_id: str) -> None:
    with database.write() as db:
        suggestions.dismiss_suggestion(db, db.get_one(User, actor.id), suggestion_id)


@pytest.fixture
def world(database: Database) -> dict[str, Any]:
    ivanov = make_user(database, "ivanov")
    teammate = make_user(database, "sergeev")
    stranger = make_user(database, "petrova", team="Питер")
    romashka = _create(database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    return {
        "ivanov": ivanov,
        "teammate": teammate,
        "stranger": stranger,
        "romashka": romashka,
        "suggestion": _suggest(database, romashka.id),
    }


def test_accepting_makes_one_person_with_the_senders_name_and_address(
    database: Database, world: dict[str, Any]
) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    person = _accept(database, world["ivanov"], suggestion.id)
    [stored] = _people(database, romashka.id)
    assert stored.id == person.id
    assert (stored.full_name, stored.contacts) == (
        "Пётр Сидоров",
        [{"kind": "email", "value": ADDRESS}],
    )
    assert stored.created_by == world["ivanov"].id  # made as the deciding user, not the bridge
    assert _status(database, suggestion.id) == "accepted"
    with database.read() as db:
        assert suggestions.open_suggestions(db, db.get_one(User, world["ivanov"].id)) == []
        # and it is found by its address, as the bridge's matching and the search do
        found = records.list_records(
            db,
            db.get_one(User, world["ivanov"].id),
            records.record_type("contact-persons"),
            q=ADDRESS,
        ).items
        assert [p.id for p in found] == [person.id]


def test_accepting_twice_makes_no_second_person(database: Database, world: dict[str, Any]) -> None:
    suggestion = world["suggestion"]
    _accept(database, world["ivanov"], suggestion.id)
    with pytest.raises(AlreadyExists):
        _accept(database, world["ivanov"], suggestion.id)
    assert len(_people(database, world["romashka"].id)) == 1


def test_a_person_who_has_the_address_already_is_taken_instead_of_a_copy(
    database: Database, world: dict[str, Any]
) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    known = _create(
        database,
        world["ivanov"],
        "contact-persons",
        counterparty_id=romashka.id,
        full_name="П. Сидоров",
        contacts=[
            {"kind": "phone", "value": "+7 495 123-45-67"},
            {"kind": "email", "value": "Petr.Sidorov@Unknown-Client.ru"},
        ],
    )
    person = _accept(database, world["ivanov"], suggestion.id)
    assert person.id == known.id
    assert [p.id for p in _people(database, romashka.id)] == [known.id]
    assert _status(database, suggestion.id) == "accepted"


def test_the_same_address_on_another_counterparty_is_another_person(
    database: Database, world: dict[str, Any]
) -> None:
    ivanov, romashka = world["ivanov"], world["romashka"]
    vasilek = _create(database, ivanov, "counterparties", legal_name="ООО «Василёк»")
    _create(
        database,
        ivanov,
        "contact-persons",
        counterparty_id=vasilek.id,
        full_name="Пётр",
        contacts=[{"kind": "email", "value": ADDRESS}],
    )
    _accept(database, ivanov, world["suggestion"].id)
    assert len(_people(database, romashka.id)) == 1 and len(_people(database, vasilek.id)) == 1


def test_accepting_onto_another_counterparty(database: Database, world: dict[str, Any]) -> None:
    ivanov, romashka = world["ivanov"], world["romashka"]
    vasilek = _create(database, ivanov, "counterparties", legal_name="ООО «Василёк»")
    _accept(database, ivanov, world["suggestion"].id, vasilek.id)
    assert _people(database, romashka.id) == [] and len(_people(database, vasilek.id)) == 1
    assert _status(database, world["suggestion"].id) == "accepted"


@pytest.mark.parametrize(("who", "error"), [("stranger", NotFound), ("teammate", PermissionDenied)])
def test_whoever_may_not_change_the_counterparty_is_refused_and_nothing_changes(
    database: Database, world: dict[str, Any], who: str, error: type[Exception]
) -> None:
    romashka, suggestion = world["romashka"], world["suggestion"]
    if who == "teammate":  # sees every client of the company, changes none of ivanov's
        with database.write() as db:
            records.update(
                db,
                db.get_one(User, world["ivanov"].id),
                records.record_type("counterparties"),
                romashka.id,
                {"visibility": "company"},
            )
    actor = world[who]
    with database.read() as db:
        assert suggestions.open_suggestions(db, db.get_one(User, actor.id)) == []
    with pytest.raises(error):
        _accept(database, actor, suggestion.id)
    with pytest.raises(error):
        _dismiss(database, actor, suggestion.id)
    assert _people(database, romashka.id) == [] and _status(database, suggestion.id) == "open"
    # nor onto a counterparty of their own: ivanov's client's correspondent is not theirs to take
    own = _create(database, actor, "counterparties", legal_name="ООО «Своё»")
    with pytest.raises(error):
        _accept(database, actor, suggestion.id, own.id)
    assert _people(database, own.id) == [] and _status(database, suggestion.id) == "open"
    _accept(database, world["ivanov"], suggestion.id)  # its owner still may
    assert len(_people(database, romashka.id)) == 1


def test_a_person_is_not_put_on_a_counterparty_the_user_may_not_change(
    database: Database, world: dict[str, Any]
) -> None:
    stranger = world["stranger"]
    theirs = _create(database, stranger, "counterparties", legal_name="ООО «Чужое»")
    with pytest.raises(NotFound):
        _accept(database, world["ivanov"], world["suggestion"].id, theirs.id)
    assert (
        _people(database, theirs.id) == [] and _status(database, world["suggestion"].id) == "open"
    )


def test_dismissing_hides_it_for_good(database: Database, world: dict[str, Any]) -> None:
    ivanov, romashka, suggestion = world["ivanov"], world["romashka"], world["suggestion"]
    with database.read() as db:
        assert [s.id for s in suggestions.open_suggestions(db, db.get_one(User, ivanov.id))] == [
            suggestion.id
        ]
    _dismiss(database, ivanov, suggestion.id)
    assert _status(database, suggestion.id) == "dismissed" and _people(database, romashka.id) == []
    with pytest.raises(AlreadyExists):
        _accept(database, ivanov, suggestion.id)
    with pytest.raises(AlreadyExists):
        _dismiss(database, ivanov, suggestion.id)
    # another letter from the same sender counts, but does not bring it back
    again = _suggest(database, romashka.id)
    assert (again.id, again.status, again.letters) == (suggestion.id, "dismissed", 2)
    with database.read() as db:
        assert suggestions.open_suggestions(db, db.get_one(User, ivanov.id)) == []
    with pytest.raises(NotFound):
        _dismiss(database, ivanov, "00000000-0000-0000-0000-000000000000")


def test_a_sender_without_a_name_is_named_by_the_address(
    database: Database, world: dict[str, Any]
) -> None:
    ivanov = world["ivanov"]
    vasilek = _create(database, ivanov, "counterparties", legal_name="ООО «Василёк»")
    bare = RAW.replace(
        b"=?utf-8?b?0J/RkdGC0YAg0KHQuNC00L7RgNC+0LI=?= <Petr.Sidorov@unknown-client.ru>",
        b"Petr.Sidorov@unknown-client.ru",
    )
    suggestion = _suggest(database, vasilek.id, bare)
    _accept(database, ivanov, suggestion.id)
    [person] = _people(database, vasilek.id)
    assert person.full_name == ADDRESS
