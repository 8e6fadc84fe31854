"""What marketing events earned (crm.marketing): known answers worked out by hand on SQLite and
PostgreSQL — the cost lines' sum, the sales window's boundaries, the return on cost, a salesperson
who sees only the participants and deals of their own clients, a segment — the report every door
shows, and a merge of two participants of one event."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from crm import marketing, merge, records, reports, trade
from crm.database import Database
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import Deal, EventCost, EventParticipant, MarketingEvent, User
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10

D = Decimal
MARCH = (date(2026, 3, 1), date(2026, 3, 1))  # the whole of March 2026


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _create(session: Any, who: User, type_name: str, data: dict[str, Any]) -> Any:
    return records.create(session, who, records.record_type(type_name), data)


def events_company(database: Database, tmp_path: Path) -> dict[str, str]:
    """office; ivanov and petrov (one team, private clients: A and B ivanov's, C petrov's).

    The exhibition X (ivanov's, 10–12 March 2026) cost 100,000 + 50,000.50 + 49,999.50 = 200,000.
    Participants: A twice attended (alone and with its person), B registered, C attended. Deals
    naming X: A won 100,000 shipped 120,000; A new 50,000; B won $1,000; C won 300,000; C lost
    10,000. Sales: A 1,000 in February (before the window), 10,000 in March and 20,000 in June (in:
    March to June), 40,000 in July (after it); B 7,000 in April (it did not attend); C 5,000 in
    April. The seminar Y (5 May 2026) has no costs; the promotion Z starts on 31 March, no end."""
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    ids: dict[str, str] = {}
    with database.write() as session:
        ivanov, petrov = _user(session, "ivanov"), _user(session, "petrov")
        owners = {"A": ivanov, "B": ivanov, "C": petrov}
        for n, (name, owner) in enumerate(owners.items()):
            cp = _create(
                session,
                owner,
                "counterparties",
                {
                    "legal_name": f"ООО {name}",
                    "inn": inn10(f"79{n:07d}"),
                    "visibility": "private",
                    "kinds": ["client"],
                },
            )
            ids[name] = cp.id
        person = _create(
            session, ivanov, "contact-persons", {"counterparty_id": ids["A"], "full_name": "Орлов"}
        )
        ids["person"] = person.id
        x = _create(
            session,
            ivanov,
            "events",
            {
                "name": "JUNWEX  Москва",
                "kind": "exhibition",
                "starts_on": "2026-03-10",
                "ends_on": "2026-03-12",
                "budget": "250000",
            },
        )
        ids["X"] = x.id
        ids["Y"] = _create(
            session,
            ivanov,
            "events",
            {"name": "Семинар", "kind": "seminar", "ends_on": "2026-05-05"},
        ).id
        ids["Z"] = _create(
            session,
            petrov,
            "events",
            {"name": "Акция", "kind": "promotion", "starts_on": "2026-03-31"},
        ).id
        for item, amount in (("Стенд", "100000"), ("Печать", "50000.50"), ("Дорога", "49999.50")):
            _create(
                session,
                ivanov,
                "event-costs",
                {"event_id": x.id, "item": item, "amount": amount, "spent_on": "2026-03-01"},
            )
        for who, cp, person_id, status in (
            (ivanov, "A", None, "attended"),
            (ivanov, "A", person.id, "attended"),
            (ivanov, "B", None, "registered"),
            (petrov, "C", None, "attended"),
        ):
            _create(
                session,
                who,
                "event-participants",
                {
                    "event_id": x.id,
                    "counterparty_id": ids[cp],
                    "contact_person_id": person_id,
                    "status": status,
                },
            )
        for n, (cp, stage, amount, volume, currency) in enumerate(
            (
                ("A", "won", "100000", "120000", "RUB"),
                ("A", "new", "50000", None, "RUB"),
                ("B", "won", "1000", None, "USD"),
                ("C", "won", "300000", None, "RUB"),
                ("C", "lost", "10000", None, "RUB"),
            )
        ):
            deal = _create(
                session,
                owners[cp],
                "deals",
                {
                    "counterparty_id": ids[cp],
                    "title": f"Сделка {n}",
                    "amount": amount,
                    "currency": currency,
                    "event_id": x.id,
                },
            )
            session.flush()
            session.execute(
                update(Deal)
                .where(col(Deal.id) == deal.id)
                .values(stage=stage, closed_volume=None if volume is None else D(volume))
            )
    inns = {name: inn10(f"79{n:07d}") for n, name in enumerate(("A", "B", "C"))}
    lines = [
        "Номер;Дата;ИНН;Сумма;Себестоимость",
        f"А-1;28.02.2026;{inns['A']};1000;600",
        f"А-2;31.03.2026;{inns['A']};10000;6000",
        f"А-3;30.06.2026;{inns['A']};20000;10000",
        f"А-4;01.07.2026;{inns['A']};40000;10000",
        f"Б-1;15.04.2026;{inns['B']};7000;1000",
        f"В-1;02.04.2026;{inns['C']};5000;1000",
    ]
    path = tmp_path / "sales.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1251"))
    with database.write() as session:
        assert not trade.import_sales(session, _user(session, "office"), path).errors
    return ids


def _row(found: list[marketing.EventReturn], event_id: str) -> marketing.EventReturn:
    (row,) = [r for r in found if r.id == event_id]
    return row


def test_the_sales_window() -> None:
    assert marketing.sales_window(date(2026, 3, 12)) == (date(2026, 3, 1), date(2026, 6, 30))
    assert marketing.sales_window(date(2025, 12, 31)) == (date(2025, 12, 1), date(2026, 3, 31))
    assert marketing.sales_window(date(2026, 11, 1)) == (date(2026, 11, 1), date(2027, 2, 28))
    assert marketing.event_days(None, date(2026, 5, 5), None) == (date(2026, 5, 5),) * 2


def test_what_the_exhibition_earned_by_hand(database: Database, tmp_path: Path) -> None:
    ids = events_company(database, tmp_path)
    with database.read() as session:
        office = _user(session, "office")
        found = marketing.returns(session, office, starts=MARCH[0], ends=MARCH[1])
        # X (10–12 March) and Z (from 31 March) overlap March; Y (5 May) does not.
        assert [r.id for r in found] == [ids["X"], ids["Z"]]
        x = _row(found, ids["X"])
        assert x.name == "JUNWEX Москва"  # spaces collapsed by its rules
        assert (x.budget, x.cost) == (D("250000"), D("200000"))
        assert x.by_status == {"invited": 0, "registered": 1, "attended": 3, "declined": 0}
        assert (x.participants, x.attending) == (4, 2)  # A counted once
        # 5 deals; won: A (its shipped 120,000), B (dollars: counted, no money), C 300,000.
        assert (x.enquiries, x.won, x.won_volume) == (5, 3, D("420000"))
        # A: March 10,000 + June 20,000 (not February, not July); C: April 5,000; B did not attend.
        assert (x.sales_from, x.sales_to) == (date(2026, 3, 1), date(2026, 6, 30))
        assert x.sales_after == D("35000")
        assert x.revenue == D("455000")
        assert x.return_on_cost == 127.5  # (455,000 − 200,000) / 200,000
        z = _row(found, ids["Z"])
        assert (z.cost, z.revenue, z.return_on_cost) == (D(0), D(0), None)
        april = marketing.returns(session, office, starts=date(2026, 4, 1), ends=date(2026, 5, 31))
        assert [r.id for r in april] == [ids["Y"]]
        # Only petrov's events.
        petrov = _user(session, "petrov")
        mine = marketing.returns(
            session, office, starts=MARCH[0], ends=MARCH[1], owner_id=petrov.id
        )
        assert [r.id for r in mine] == [ids["Z"]]


def test_a_salesperson_counts_only_their_clients(database: Database, tmp_path: Path) -> None:
    ids = events_company(database, tmp_path)
    with database.read() as session:
        ivanov = _user(session, "ivanov")
        x = _row(marketing.returns(session, ivanov, starts=MARCH[0], ends=MARCH[1]), ids["X"])
        # The cost is everyone's; C's participant, deals and sales are petrov's.
        assert x.cost == D("200000")
        assert x.by_status == {"invited": 0, "registered": 1, "attended": 2, "declined": 0}
        assert (x.attending, x.enquiries, x.won, x.won_volume) == (1, 3, 2, D("120000"))
        assert (x.sales_after, x.revenue) == (D("30000"), D("150000"))
        assert x.return_on_cost == -25.0
        detail = marketing.event_detail(session, ivanov, ids["X"])
        assert [c.item for c in detail.costs] == ["Стенд", "Печать", "Дорога"]
        assert [(p.counterparty, p.person, p.status) for p in detail.participants] == [
            ("ООО A", None, "attended"),
            ("ООО A", "Орлов", "attended"),
            ("ООО B", None, "registered"),
        ]
        assert [d.title for d in detail.deals] == ["Сделка 0", "Сделка 1", "Сделка 2"]
        assert detail.result.revenue == D("150000")


def test_a_segment_keeps_its_clients(database: Database, tmp_path: Path) -> None:
    ids = events_company(database, tmp_path)
    with database.read() as session:
        office = _user(session, "office")
        found = marketing.returns(session, office, starts=MARCH[0], ends=MARCH[1], only={ids["A"]})
        x = _row(found, ids["X"])
        assert (x.participants, x.attending, x.enquiries, x.won) == (2, 1, 2, 1)
        assert (x.won_volume, x.sales_after, x.revenue) == (D("120000"), D("30000"), D("150000"))
        assert x.cost == D("200000")


def test_the_events_report(database: Database, tmp_path: Path) -> None:
    ids = events_company(database, tmp_path)
    with database.read() as session:
        office = _user(session, "office")
        report = reports.pipeline(session, office, "events", *MARCH)
        assert report.name == "events"
        assert [r["name"] for r in report.rows] == ["JUNWEX Москва", "Акция"]
        first = report.rows[0]
        assert (first["kind"], first["owner"], first["cost"]) == (
            "Выставка / Exhibition",
            "ivanov",
            D("200000"),
        )
        assert (first["revenue"], first["return_on_cost"]) == (D("455000"), 127.5)
        assert report.about["return_on_cost"] == 127.5
        assert report.charts[0].values == ("cost", "revenue")
        assert report.as_json()["rows"][0]["event_id"] == ids["X"]


def test_only_keepers_change_an_event_and_its_costs(database: Database, tmp_path: Path) -> None:
    ids = events_company(database, tmp_path)
    with database.write() as session:
        petrov = _user(session, "petrov")
        with pytest.raises(PermissionDenied):
            records.update(
                session, petrov, records.record_type("events"), ids["X"], {"name": "Моё"}
            )
        with pytest.raises(PermissionDenied):
            _create(
                session, petrov, "event-costs", {"event_id": ids["X"], "item": "Ещё", "amount": "1"}
            )
        ivanov = _user(session, "ivanov")
        with pytest.raises(ValidationFailed) as refused:
            _create(
                session,
                ivanov,
                "event-participants",
                {"event_id": ids["X"], "counterparty_id": ids["B"], "status": "attended"},
            )
        assert "counterparty_id" in refused.value.details


def test_deleting_an_event_takes_its_costs_and_participants(
    database: Database, tmp_path: Path
) -> None:
    ids = events_company(database, tmp_path)
    with database.write() as session:
        records.delete(session, _user(session, "ivanov"), records.record_type("events"), ids["X"])
    with database.read() as session:
        assert session.get(MarketingEvent, ids["X"]) is None
        assert not session.execute(select(EventCost)).scalars().all()
        assert not session.execute(select(EventParticipant)).scalars().all()
        deals = session.execute(select(Deal)).scalars().all()
        assert len(deals) == 5 and all(d.event_id is None for d in deals)


def test_a_merge_moves_participants_and_drops_a_twin(database: Database, tmp_path: Path) -> None:
    ids = events_company(database, tmp_path)
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        # A's duplicate (no INN) is at X, as A is (A's stays, its twin goes), and at Y.
        twin = _create(
            session, ivanov, "counterparties", {"legal_name": "ООО A", "kinds": ["client"]}
        )
        for event, status in (("X", "registered"), ("Y", "invited")):
            _create(
                session,
                ivanov,
                "event-participants",
                {"event_id": ids[event], "counterparty_id": twin.id, "status": status},
            )
        row = merge.merge(session, ivanov, ids["A"], twin.id)
        assert row.moved.get("event-participants") == 1
    with database.read() as session:
        guests = session.execute(
            select(EventParticipant).where(col(EventParticipant.counterparty_id) == ids["A"])
        ).scalars()
        found = {(g.event_id == ids["X"], g.contact_person_id, g.status) for g in guests}
        assert found == {
            (True, None, "attended"),  # the survivor's own, not its twin's "registered"
            (True, ids["person"], "attended"),
            (False, None, "invited"),
        }
