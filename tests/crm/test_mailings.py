"""Mailings (crm.mailings) on SQLite and PostgreSQL: who a mailing reaches — opt-outs, failing
addresses, people without an address, an address shared by two, a segment against an event's
participants of some statuses, a client its owner does not see left out though it took part — and
queueing: one queued letter per address, filed on its client and person, never twice, all or
nothing, and only by who keeps the mailing. A laptop cannot write a mailing's status or counts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import col

from crm import changes, mailings, records
from crm.database import Database
from crm.errors import NotFound, PermissionDenied, ValidationFailed
from crm.models import ContactPerson, FailingAddress, Interaction, Mailing, MailingRecipient, User
from tests.conftest import examples, make_user
from tests.crm.test_duplicates import inn10

FIELDS = ("counterparty.name", "contact.name", "contact.first_name", "today")


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _create(session: Any, who: User, type_name: str, data: dict[str, Any]) -> Any:
    return records.create(session, who, records.record_type(type_name), data)


def _email(address: str) -> list[dict[str, str]]:
    return [{"kind": "phone", "value": "+7 916 000-00-00"}, {"kind": "email", "value": address}]


def company(database: Database) -> dict[str, str]:
    """office; ivanov and petrov in one team (private clients).

    ivanov's А (Орлов orlov@a.ru, Белова belova@a.ru opted out, Васин without an address), Б
    (Гусев failing@b.ru — mail came back —, Дронов ORLOV@a.ru: the same address as Орлов), В
    (nobody); petrov's Г (Егоров egorov@g.ru), which ivanov does not see. The segment «Москва»:
    region Москва = А, Б, Г. The exhibition: А attended with Орлов named, Б registered, Г attended."""
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    ids: dict[str, str] = {}
    with database.write() as session:
        ivanov, petrov = _user(session, "ivanov"), _user(session, "petrov")
        for n, (name, owner, region) in enumerate(
            (("А", ivanov, "Москва"), ("Б", ivanov, "Москва"), ("В", ivanov, "Тула")),
        ):
            ids[name] = _create(
                session,
                owner,
                "counterparties",
                {"legal_name": f"ООО {name}", "inn": inn10(f"71{n:07d}"), "region": region},
            ).id
        ids["Г"] = _create(
            session,
            petrov,
            "counterparties",
            {"legal_name": "ООО Г", "inn": inn10("719999999"), "region": "Москва"},
        ).id
        for key, cp, who, name, contacts, opted in (
            ("orlov", "А", ivanov, "Орлов Пётр Ильич", _email("orlov@a.ru"), False),
            ("belova", "А", ivanov, "Белова Анна", _email("belova@a.ru"), True),
            ("vasin", "А", ivanov, "Васин", [{"kind": "phone", "value": "+74950000000"}], False),
            ("gusev", "Б", ivanov, "Гусев", _email("failing@b.ru"), False),
            ("dronov", "Б", ivanov, "Дронов", _email("ORLOV@a.ru"), False),
            ("egorov", "Г", petrov, "Егоров", _email("egorov@g.ru"), False),
        ):
            ids[key] = _create(
                session,
                who,
                "contact-persons",
                {
                    "counterparty_id": ids[cp],
                    "full_name": name,
                    "contacts": contacts,
                    "no_mailings": opted,
                },
            ).id
        session.add(FailingAddress(email="failing@b.ru", reason="550 no such user"))
        ids["segment"] = _create(
            session, ivanov, "segments", {"name": "Москва", "criteria": {"region": ["Москва"]}}
        ).id
        ids["event"] = _create(
            session, ivanov, "events", {"name": "JUNWEX", "kind": "exhibition"}
        ).id
        for cp, person, status, who in (
            ("А", "orlov", "attended", ivanov),
            ("Б", None, "registered", ivanov),
            ("Г", None, "attended", petrov),
        ):
            _create(
                session,
                who,
                "event-participants",
                {
                    "event_id": ids["event"],
                    "counterparty_id": ids[cp],
                    "contact_person_id": ids[person] if person else None,
                    "status": status,
                },
            )
    return ids


def _mailing(database: Database, who: str, **data: Any) -> str:
    with database.write() as session:
        values = {"name": "Приглашение", "subject": "Здравствуйте", "body": "Текст", **data}
        return str(_create(session, _user(session, who), "mailings", values).id)


def _plan(database: Database, mailing_id: str) -> mailings.Plan:
    with database.read() as session:
        return mailings.plan(session, session.get_one(Mailing, mailing_id))


def test_plan_of_a_segment(database: Database) -> None:
    ids = company(database)
    plan = _plan(database, _mailing(database, "ivanov", segment_id=ids["segment"]))
    assert [(r.counterparty_name, r.person_name, r.email) for r in plan.recipients] == [
        ("ООО А", "Орлов Пётр Ильич", "orlov@a.ru")
    ]
    reasons = {(x.person_name, x.reason) for x in plan.left_out}
    assert reasons == {
        ("Белова Анна", "opted_out"),
        ("Васин", "no_address"),
        ("Гусев", "failing"),
        ("Дронов", "duplicate"),
    }
    assert (plan.opted_out, plan.unreachable, plan.duplicates) == (1, 2, 1)
    assert ids["Г"] not in {r.counterparty_id for r in plan.recipients} | {
        x.counterparty_id for x in plan.left_out
    }


def test_plan_of_an_event_by_status_and_sight(database: Database) -> None:
    ids = company(database)
    every = _plan(database, _mailing(database, "ivanov", event_id=ids["event"]))
    # А named Орлов alone; Б brings all its people; Г is petrov's, whom ivanov does not see.
    assert [r.person_name for r in every.recipients] == ["Орлов Пётр Ильич"]
    assert {x.person_name for x in every.left_out} == {"Гусев", "Дронов"}
    attended = _plan(
        database, _mailing(database, "ivanov", event_id=ids["event"], statuses=["attended"])
    )
    assert [r.email for r in attended.recipients] == ["orlov@a.ru"]
    assert attended.left_out == []
    # The office sees every client: its mailing reaches petrov's Г too.
    office = _plan(database, _mailing(database, "office", event_id=ids["event"]))
    assert {r.email for r in office.recipients} == {"orlov@a.ru", "egorov@g.ru"}


def test_a_client_without_people_is_unreachable(database: Database) -> None:
    ids = company(database)
    with database.write() as session:
        segment = _create(
            session,
            _user(session, "ivanov"),
            "segments",
            {"name": "Тула", "criteria": {"region": ["Тула"]}},
        )
    plan = _plan(database, _mailing(database, "ivanov", segment_id=segment.id))
    assert plan.recipients == []
    assert [(x.counterparty_id, x.reason) for x in plan.left_out] == [(ids["В"], "no_people")]
    assert plan.unreachable == 1


def test_queue_writes_one_letter_per_address_once(database: Database) -> None:
    ids = company(database)
    mailing_id = _mailing(
        database,
        "office",
        event_id=ids["event"],
        subject="Ждём вас, {{contact.first_name}}",
        body="{{counterparty.name}}, приходите",
    )
    with database.write() as session:
        done = mailings.queue(session, _user(session, "office"), mailing_id, known_fields=FIELDS)
        assert (done.letters, done.already) == (2, False)
    with database.read() as session:
        mailing = session.get_one(Mailing, mailing_id)
        assert (mailing.status, mailing.recipients, mailing.opted_out, mailing.unreachable) == (
            "queued",
            2,
            0,
            1,
        )
        assert mailing.queued_at is not None and mailing.version == 2
        letters = session.execute(select(Interaction)).scalars().all()
        assert {(i.counterparty_id, i.contact_person_id) for i in letters} == {
            (ids["А"], ids["orlov"]),
            (ids["Г"], ids["egorov"]),
        }
        office = _user(session, "office")
        for letter in letters:
            assert (letter.kind, letter.direction, letter.mail_status, letter.status) == (
                "letter",
                "outgoing",
                "queued",
                "planned",
            )
            assert letter.subject == "Ждём вас, {{contact.first_name}}"
            assert letter.responsible_id == office.id and letter.created_by == office.id
            assert [p["role"] for p in letter.participants] == ["to"]
            # Filed in the client's history and entered in the change log: the laptops pull it.
            assert changes.log_entry(session, "interactions", letter.id) is not None
        links = session.execute(select(MailingRecipient)).scalars().all()
        assert {(r.email, r.interaction_id) for r in links} == {
            (i.participants[0]["address"], i.id) for i in letters
        }
        entry = changes.log_entry(session, "mailings", mailing_id)
        assert entry is not None and entry.version == changes.current(session)[0]
    with database.write() as session:
        again = mailings.queue(session, _user(session, "office"), mailing_id)
        assert (again.letters, again.already) == (0, True)
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(Interaction)).scalar_one() == 2


def test_queued_mailing_cannot_change(database: Database) -> None:
    ids = company(database)
    mailing_id = _mailing(database, "ivanov", segment_id=ids["segment"])
    with database.write() as session:
        mailings.queue(session, _user(session, "ivanov"), mailing_id)
    with pytest.raises(ValidationFailed), database.write() as session:
        records.update(
            session,
            _user(session, "ivanov"),
            records.record_type("mailings"),
            mailing_id,
            {"subject": "Другое"},
        )


def test_who_may_queue(database: Database) -> None:
    ids = company(database)
    mailing_id = _mailing(database, "ivanov", segment_id=ids["segment"])
    with pytest.raises(PermissionDenied), database.write() as session:
        mailings.queue(session, _user(session, "petrov"), mailing_id)
    with pytest.raises(NotFound), database.write() as session:
        mailings.queue(session, _user(session, "petrov"), "no-such-mailing")
    with pytest.raises(PermissionDenied), database.write() as session:
        _create(
            session,
            _user(session, "petrov"),
            "mailings",
            {
                "name": "Чужая",
                "subject": "Тема",
                "body": "Текст",
                "segment_id": ids["segment"],
                "owner_id": _user(session, "ivanov").id,
            },
        )
    with database.read() as session:
        assert session.get_one(Mailing, mailing_id).status == "draft"
        assert session.execute(select(func.count()).select_from(Interaction)).scalar_one() == 0


def test_queue_refuses_nobody_and_bad_text_writing_nothing(database: Database) -> None:
    ids = company(database)
    unknown = _mailing(database, "ivanov", segment_id=ids["segment"], body="{{contact.phone}}")
    with pytest.raises(ValidationFailed) as refused, database.write() as session:
        mailings.queue(session, _user(session, "ivanov"), unknown, known_fields=FIELDS)
    assert "contact.phone" in refused.value.details["body"]
    nobody = _mailing(database, "ivanov", event_id=ids["event"], statuses=["declined"])
    with pytest.raises(ValidationFailed), database.write() as session:
        mailings.queue(session, _user(session, "ivanov"), nobody)
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(Interaction)).scalar_one() == 0
        assert {m.status for m in session.execute(select(Mailing)).scalars()} == {"draft"}


def test_counts_and_status_are_the_servers(database: Database) -> None:
    ids = company(database)
    for field, value in (("status", "queued"), ("recipients", 5), ("sent", 1), ("bounced", 2)):
        with pytest.raises(ValidationFailed) as refused, database.write() as session:
            _create(
                session,
                _user(session, "ivanov"),
                "mailings",
                {
                    "name": "Х",
                    "subject": "Т",
                    "body": "Б",
                    "segment_id": ids["segment"],
                    field: value,
                },
            )
        assert field in refused.value.details


def test_refresh_counts(database: Database) -> None:
    ids = company(database)
    mailing_id = _mailing(database, "office", event_id=ids["event"])
    with database.write() as session:
        mailings.queue(session, _user(session, "office"), mailing_id)
    with database.write() as session:
        first, second = session.execute(select(MailingRecipient)).scalars().all()
        first.state, second.state = "bounced", "failed"
        session.flush()
        mailing = mailings.refresh_counts(session, mailing_id)
        assert mailing is not None
        assert (mailing.sent, mailing.failed, mailing.bounced, mailing.version) == (1, 1, 1, 3)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_plan_properties(database: Database) -> None:
    """Whatever the people and their addresses: every address is written to at most once, nobody
    opted out or failing is, and each person is either a recipient or left out with a reason."""
    make_user(database, "ivanov")
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        cp = _create(
            session, ivanov, "counterparties", {"legal_name": "ООО Свойства", "region": "Р"}
        )
        segment = _create(session, ivanov, "segments", {"name": "Р", "criteria": {"region": ["Р"]}})
        mailing = _create(
            session,
            ivanov,
            "mailings",
            {"name": "М", "subject": "Т", "body": "Б", "segment_id": segment.id},
        )
    ids = (cp.id, mailing.id)

    people = st.lists(
        st.tuples(st.sampled_from(["a@x.ru", "B@x.ru", "b@x.ru", "c@x.ru", None]), st.booleans()),
        max_size=8,
    )

    @settings(
        max_examples=examples(15),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(people=people, failing=st.sets(st.sampled_from(["a@x.ru", "b@x.ru"])))
    def check(people: list[tuple[str | None, bool]], failing: set[str]) -> None:
        with database.write() as session:
            ivanov = _user(session, "ivanov")
            for row in session.execute(select(FailingAddress)).scalars():
                session.delete(row)
            for person in session.execute(select(ContactPerson)).scalars():
                records.delete(session, ivanov, records.record_type("contact-persons"), person.id)
            for n, (address, opted) in enumerate(people):
                _create(
                    session,
                    ivanov,
                    "contact-persons",
                    {
                        "counterparty_id": ids[0],
                        "full_name": f"Лицо {n}",
                        "contacts": _email(address) if address else [],
                        "no_mailings": opted,
                    },
                )
            for address in failing:
                session.add(FailingAddress(email=address))
        plan = _plan(database, ids[1])
        emails = [r.email for r in plan.recipients]
        assert len(emails) == len(set(emails))
        assert not set(emails) & failing
        assert len(plan.recipients) + len(plan.left_out) == max(len(people), 1)
        opted_out = {x.contact_person_id for x in plan.left_out if x.reason == "opted_out"}
        assert len(opted_out) == sum(1 for _, o in people if o)
        assert {e.lower() for e, _ in people if e} - failing >= set(emails)

    check()
