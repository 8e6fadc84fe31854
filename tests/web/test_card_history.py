"""A card's children are listed with the access rule asked once, of the card's counterparty: the
same rows as the rule asked of every row, for every kind of user and every way of seeing one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm import access, records
from crm.models import User
from tests.web.conftest import Web, create, user
from web.timeline import timeline

CHILDREN = ("contact-persons", "interactions", "deals", "reminders", "shares")


def _soon(days: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _company(web: Web) -> dict[str, Any]:
    """Counterparties seen in every way (owner, team, manager, company, share, nobody else) and
    children of each, among them reminders seen only by their assignee or creator."""
    db = web.database
    people = {
        "ivanov": user(db, "ivanov"),
        "petrova": user(db, "petrova"),
        "manager": user(db, "manager", role="manager"),
        "spb": user(db, "spb", team="Санкт-Петербург"),
        "loner": user(db, "loner", team=None),
        "office": user(db, "office", role="office"),
        "admin": user(db, "admin", role="admin", team=None),
    }
    petrova, manager, ivanov = people["petrova"], people["manager"], people["ivanov"]
    cps = {
        "private": create(db, petrova, "counterparties", legal_name="ООО «Личное»"),
        "team": create(
            db, petrova, "counterparties", legal_name="ООО «Командное»", visibility="team"
        ),
        "company": create(
            db, petrova, "counterparties", legal_name="ООО «Общее»", visibility="company"
        ),
        "shared": create(db, people["spb"], "counterparties", legal_name="ООО «Поделённое»"),
    }
    create(
        db, people["spb"], "shares", counterparty_id=cps["shared"].id, user_id=people["loner"].id
    )
    for name, cp in cps.items():
        owner = people["spb"] if name == "shared" else petrova
        person = create(
            db, owner, "contact-persons", counterparty_id=cp.id, full_name=f"Контакт {name}"
        )
        create(
            db,
            owner,
            "interactions",
            counterparty_id=cp.id,
            kind="call",
            status="done",
            starts_at=_soon(-1),
            subject=f"Звонок {name}",
            contact_person_id=person.id,
        )
        create(db, owner, "deals", counterparty_id=cp.id, title=f"Сделка {name}")
        create(
            db,
            owner,
            "reminders",
            title=f"Своё {name}",
            due_at=_soon(),
            subject_type="counterparty",
            subject_id=cp.id,
        )
    # Seen by ivanov through the assignee rule alone: his manager gave it to him on a client shared
    # with him then (work goes only to who sees the client), unshared since.
    lend = create(db, petrova, "shares", counterparty_id=cps["private"].id, user_id=ivanov.id)
    create(
        db,
        manager,
        "reminders",
        title="Поручено Иванову",
        due_at=_soon(),
        assignee_id=ivanov.id,
        subject_type="counterparty",
        subject_id=cps["private"].id,
    )
    with db.write() as session:
        records.delete(
            session, session.get_one(User, petrova.id), records.record_type("shares"), lend.id
        )
    # Seen by ivanov through the creator rule alone: made while the client was team-visible.
    secret = create(
        db, petrova, "counterparties", legal_name="ООО «Бывшее командное»", visibility="team"
    )
    create(
        db,
        ivanov,
        "reminders",
        title="Создано Ивановым",
        due_at=_soon(),
        assignee_id=ivanov.id,
        subject_type="counterparty",
        subject_id=secret.id,
    )
    with db.write() as session:
        records.update(
            session,
            session.get_one(User, petrova.id),
            records.record_type("counterparties"),
            secret.id,
            {"visibility": "private"},
        )
    cps["secret"] = secret
    # Seen by the manager through the creator rule alone: put there while the client was shared with him.
    spb = people["spb"]
    lent = create(db, spb, "counterparties", legal_name="ООО «Одолженное»")
    share = create(db, spb, "shares", counterparty_id=lent.id, user_id=manager.id)
    his = create(db, spb, "shares", counterparty_id=lent.id, user_id=ivanov.id)
    create(
        db,
        manager,
        "reminders",
        title="Создано менеджером",
        due_at=_soon(),
        assignee_id=ivanov.id,
        subject_type="counterparty",
        subject_id=lent.id,
    )
    with db.write() as session:
        for gone in (share, his):
            records.delete(
                session, session.get_one(User, spb.id), records.record_type("shares"), gone.id
            )
    cps["lent"] = lent
    return {"people": people, "cps": cps}


def test_one_counterpartys_children_are_exactly_those_the_rule_shows(web: Web) -> None:
    company = _company(web)
    with web.database.read() as db:
        for login, actor_row in company["people"].items():
            actor = db.get_one(User, actor_row.id)
            for cp_name, cp in company["cps"].items():
                for type_name in CHILDREN:
                    rt = records.record_type(type_name)
                    every = (
                        db.execute(select(rt.model).where(rt.model.counterparty_id == cp.id))
                        .scalars()
                        .all()
                    )  # type: ignore[attr-defined]
                    rule = {r.id for r in every if access.can_read(db, actor, r)}
                    page = records.list_records(
                        db, actor, rt, filters={"counterparty_id": cp.id}, limit=500
                    )
                    assert {r.id for r in page.items} == rule, (login, cp_name, type_name)
                    assert page.total == len(rule)
                    # The rule asked of every row, as any list without the one counterparty does.
                    by_row = records.list_records(db, actor, rt, limit=500).items
                    assert {r.id for r in by_row if r.counterparty_id == cp.id} == rule, (
                        login,
                        cp_name,
                        type_name,
                    )


def test_reminders_seen_by_assignee_or_creator_stay_on_an_unseen_counterparty(web: Web) -> None:
    company = _company(web)
    ivanov, cps = company["people"]["ivanov"], company["cps"]
    reminders, interactions = records.record_type("reminders"), records.record_type("interactions")
    with web.database.read() as db:
        me = db.get_one(User, ivanov.id)
        assert not access.can_read_counterparty(db, me, cps["private"].id)
        assigned = records.list_records(
            db, me, reminders, filters={"counterparty_id": cps["private"].id}
        )
        assert [r.title for r in assigned.items] == ["Поручено Иванову"]
        created = records.list_records(
            db, me, reminders, filters={"counterparty_id": cps["secret"].id}
        )
        assert [r.title for r in created.items] == ["Создано Ивановым"]
        assert (
            records.list_records(
                db, me, interactions, filters={"counterparty_id": cps["private"].id}
            ).items
            == []
        )
        boss = db.get_one(User, company["people"]["manager"].id)
        assert not access.can_read_counterparty(db, boss, cps["lent"].id)
        lent = records.list_records(
            db, boss, reminders, filters={"counterparty_id": cps["lent"].id}
        )
        assert [r.title for r in lent.items] == ["Создано менеджером"]
        # The timeline of a counterparty he may not see holds only those reminders, no names of its calls.
        events = timeline(db, me, cps["private"].id).events
        assert [(e.type, e.record.title) for e in events] == [("reminder", "Поручено Иванову")]


def test_a_card_i_may_not_read_is_not_found_and_a_readable_one_lists_every_child(web: Web) -> None:
    company = _company(web)
    cps = company["cps"]
    web.sign_in("ivanov")
    assert web.client.get(f"/counterparties/{cps['private'].id}").status_code == 404
    page = web.get(f"/counterparties/{cps['team'].id}").text
    assert (
        "Звонок team" in page
        and "Сделка team" in page
        and "Своё team" in page
        and "Контакт team" in page
    )
    assert "Звонок private" not in page and "Поручено Иванову" not in page
    with web.database.read() as db:
        me = db.get_one(User, company["people"]["ivanov"].id)
        events = timeline(db, me, cps["team"].id).events
        assert sorted(e.type for e in events) == ["deal", "interaction", "reminder"]


def test_totals_stay_exact_whether_counted_or_told_by_a_short_page(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Счёт»")
    for n in range(5):
        create(
            web.database,
            ivanov,
            "interactions",
            counterparty_id=cp.id,
            kind="call",
            status="done",
            starts_at=_soon(-n - 1),
            subject=f"Звонок {n}",
        )
    rt = records.record_type("interactions")
    only = {"counterparty_id": cp.id}
    with web.database.read() as db:
        me = db.get_one(User, ivanov.id)
        for limit, offset, total in (
            (2, 0, 5),
            (5, 0, 5),
            (10, 0, 5),
            (2, 4, 5),
            (2, 5, 5),
            (2, 9, 5),
        ):
            page = records.list_records(db, me, rt, filters=only, limit=limit, offset=offset)
            assert page.total == total, (limit, offset)
            assert len(page.items) == max(0, min(limit, 5 - offset))
        assert records.list_records(db, me, rt, filters=only, limit=2, count=False).total == -1
        assert records.list_records(db, me, rt, filters=only, limit=10, count=False).total == 5


def test_the_card_shows_the_newest_events_and_links_to_the_whole_history(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    from web import timeline as module

    monkeypatch.setattr(module, "CARD", 3)
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Долгая история»")
    for n in range(4):  # calls 1, 2, 3, 4 days ago, and a deal changed now (the newest event)
        create(
            web.database,
            ivanov,
            "interactions",
            counterparty_id=cp.id,
            kind="call",
            status="done",
            starts_at=_soon(-(n + 1)),
            subject=f"Звонок {n}",
        )
    create(web.database, ivanov, "deals", counterparty_id=cp.id, title="Сделка")
    web.sign_in("ivanov")
    page = web.get(f"/counterparties/{cp.id}").text
    assert [t for t in ("Сделка", "Звонок 0", "Звонок 1", "Звонок 2", "Звонок 3") if t in page] == [
        "Сделка",
        "Звонок 0",
        "Звонок 1",
    ]
    assert f'href="/counterparties/{cp.id}?history=all#history"' in page and "Вся история" in page
    answer = web.get(f"/counterparties/{cp.id}", params={"history": "all"})
    assert answer.status_code == 200, answer.text[:2000]
    whole = answer.text
    assert [
        t for t in ("Сделка", "Звонок 0", "Звонок 1", "Звонок 2", "Звонок 3") if t not in whole
    ] == []
    assert "?history=all" not in whole
