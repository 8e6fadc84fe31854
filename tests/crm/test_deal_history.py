"""A deal's stage history and closing day (kept by its rules, never written by hand), the closed-deals
report and the funnel read from the history, and the contact rules per ABC class with the clients due
for contact: known answers on SQLite and PostgreSQL, and what a salesperson may not do."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from crm import agenda, neglect, pipeline, records, reports
from crm.database import Database
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import ContactRule, Counterparty, Deal, User
from tests.conftest import make_user
from tests.crm.test_pipeline import ENDS, STARTS, pipeline_company

DEALS = records.record_type("deals")
RULES = records.record_type("contact-rules")
CPS = records.record_type("counterparties")


def _user(session: object, login: str) -> User:
    return session.execute(select(User).where(User.login == login)).scalar_one()  # type: ignore[attr-defined]


def test_stages_and_the_closing_day_are_stamped_by_the_rules(database: Database) -> None:
    make_user(database, "ivanov")
    make_user(database, "boss", role="manager")
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        cp = records.create(session, ivanov, CPS, {"legal_name": "ООО Альфа"})
        deal = records.create(session, ivanov, DEALS, {"counterparty_id": cp.id, "title": "Кольца"})
        assert [s["stage"] for s in deal.stages] == ["new"]
        assert deal.stages[0]["by"] == ivanov.id and deal.closed_on is None
        deal_id = deal.id
    for stage, extra in (
        ("proposal", {}),
        ("proposal", {"amount": "100"}),  # not a move: no new entry
        ("lost", {"lost_reason": "Дорого"}),
    ):
        with database.write() as session:
            records.update(
                session, _user(session, "ivanov"), DEALS, deal_id, {"stage": stage, **extra}
            )
    with database.write() as session:
        deal = session.get_one(Deal, deal_id)
        assert [s["stage"] for s in deal.stages] == ["new", "proposal", "lost"]
        assert deal.closed_on == datetime.now(UTC).date()
        # Reopened by the manager: the closing day goes, the move is kept.
        records.update(session, _user(session, "boss"), DEALS, deal_id, {"stage": "negotiation"})
    with database.read() as session:
        deal = session.get_one(Deal, deal_id)
        assert deal.closed_on is None
        assert [s["stage"] for s in deal.stages][-1] == "negotiation"
        assert deal.stages[-1]["by"] == _user(session, "boss").id
        assert pipeline.furthest_stage(deal.stage, deal.stages) == 3


@pytest.mark.parametrize("field", ["stages", "closed_on"])
def test_nobody_writes_the_history_by_hand(database: Database, field: str) -> None:
    make_user(database, "ivanov")
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        cp = records.create(session, ivanov, CPS, {"legal_name": "ООО Альфа"})
        deal_id = records.create(
            session, ivanov, DEALS, {"counterparty_id": cp.id, "title": "Кольца"}
        ).id
    forged = [] if field == "stages" else "2020-01-01"
    with pytest.raises(ValidationFailed), database.write() as session:
        records.update(session, _user(session, "ivanov"), DEALS, deal_id, {field: forged})
    with database.read() as session:
        deal = session.get_one(Deal, deal_id)
        assert [s["stage"] for s in deal.stages] == ["new"] and deal.closed_on is None


def test_furthest_stage() -> None:
    def at(*stages: str) -> list[dict[str, str]]:
        return [{"stage": s} for s in stages]

    assert pipeline.furthest_stage("won", []) == 4
    assert pipeline.furthest_stage("lost", []) == 0  # closed before the history was kept
    assert pipeline.furthest_stage("lost", at("new", "proposal", "lost")) == 2
    assert pipeline.furthest_stage("qualification", at("new", "negotiation", "qualification")) == 3
    assert pipeline.furthest_stage("new", None) == 0
    assert pipeline.furthest_stage("lost", [{"stage": "odd"}, "junk"]) == 0  # type: ignore[list-item]


def test_the_funnel_counts_how_far_a_lost_deal_got(database: Database, tmp_path: Path) -> None:
    pipeline_company(database, tmp_path)
    with database.read() as session:
        office = _user(session, "office")
        before = {s.stage: s.reached for s in pipeline.funnel(session, office, STARTS, ENDS).stages}
    with database.write() as session:
        # The lost deal of 600 (opened 10 March) had got to negotiation before it was lost.
        lost = session.execute(select(Deal).where(col(Deal.amount) == Decimal("600"))).scalar_one()
        lost.stages = [{"stage": "new"}, {"stage": "negotiation"}, {"stage": "lost"}]
    with database.read() as session:
        after = {s.stage: s.reached for s in pipeline.funnel(session, office, STARTS, ENDS).stages}
    assert after["new"] == before["new"]
    for stage in ("qualification", "proposal", "negotiation"):
        assert after[stage] == before[stage] + 1, stage
    assert after["won"] == before["won"]


def test_closed_deals_by_the_day_they_were_closed(database: Database, tmp_path: Path) -> None:
    # The company of tests/crm/test_pipeline.py closes each deal ten days after opening it.
    pipeline_company(database, tmp_path)
    with database.read() as session:
        office = _user(session, "office")
        ivanov, petrov = _user(session, "ivanov"), _user(session, "petrov")
        rows = pipeline.closed(session, office, STARTS, ENDS)
        got = [
            (r.month, r.owner_id, r.won, r.won_amount, r.lost, r.lost_amount, r.win_rate)
            for r in rows
        ]
        assert got == [
            # Lost on 31 Dec 2025 + 10 days: January; 999.
            (date(2026, 1, 1), ivanov.id, 0, Decimal(0), 1, Decimal("999"), 0.0),
            (date(2026, 2, 1), petrov.id, 1, Decimal("5000"), 1, Decimal("300"), 50.0),
            # Won 500 shipped 550; lost 600, 50, 100 and one without an amount; the one opened on
            # 31 March closed in April, outside.
            (date(2026, 3, 1), ivanov.id, 1, Decimal("550"), 4, Decimal("750"), 20.0),
        ]
        # A salesperson sees his own only; a segment of one client keeps that client's.
        assert {r.owner_id for r in pipeline.closed(session, ivanov, STARTS, ENDS)} == {ivanov.id}
        c = session.execute(
            select(Counterparty.id).where(Counterparty.legal_name == "ООО C")
        ).scalar_one()
        only_c = pipeline.closed(session, office, STARTS, ENDS, only={c})
        assert [(r.won, r.lost) for r in only_c] == [(1, 1)]
        report = reports.pipeline(session, office, "closed", STARTS, ENDS)
        assert report.about["won"] == 2 and report.about["lost"] == 6
        assert report.about["win_rate"] == 25.0


def test_due_for_contact_by_class(database: Database) -> None:
    make_user(database, "ivanov")
    make_user(database, "petrov")
    make_user(database, "boss", role="manager")
    today = date(2026, 3, 20)
    with database.write() as session:
        ivanov, boss = _user(session, "ivanov"), _user(session, "boss")
        for abc, days in (("A", 14), ("B", 30)):
            records.create(session, boss, RULES, {"abc_class": abc, "days": days})
        records.update(
            session,
            boss,
            RULES,
            session.execute(
                select(ContactRule.id).where(ContactRule.abc_class == "B")
            ).scalar_one(),
            {"kinds": ["meeting"]},
        )
        ids = {}
        for name, abc in (
            ("Альфа", "A"),
            ("Бета", "A"),
            ("Гамма", "B"),
            ("Дельта", "C"),
            ("Эпс", "A"),
        ):
            ids[name] = records.create(session, ivanov, CPS, {"legal_name": name}).id
            session.execute(
                update(Counterparty).where(col(Counterparty.id) == ids[name]).values(abc_class=abc)
            )
        interactions = records.record_type("interactions")

        def contact(name: str, kind: str, days_ago: int) -> None:
            at = datetime.combine(today - timedelta(days=days_ago), datetime.min.time(), UTC)
            records.create(
                session,
                ivanov,
                interactions,
                {"counterparty_id": ids[name], "kind": kind, "status": "done", "starts_at": at},
            )

        contact("Альфа", "call", 13)  # A, within 14 days: not due
        contact("Бета", "call", 14)  # A, 14 days: due today
        contact("Гамма", "call", 2)  # B counts meetings only: a call does not count…
        contact("Гамма", "meeting", 40)  # …its last meeting was 40 days ago: 10 days overdue
        contact("Дельта", "call", 400)  # C has no rule
        # Эпс: never contacted
    with database.read() as session:
        ivanov, petrov = _user(session, "ivanov"), _user(session, "petrov")
        due = neglect.due_contacts(session, ivanov, today=today)
        assert [(d.name, d.abc, d.every, d.days, d.overdue) for d in due] == [
            ("Эпс", "A", 14, None, None),
            ("Гамма", "B", 30, 40, 10),
            ("Бета", "A", 14, 14, 0),
        ]
        assert neglect.due_contacts(session, petrov, today=today) == []  # he sees none of them
        assert [
            d.name for d in neglect.due_contacts(session, ivanov, today=today, owner_id=petrov.id)
        ] == []
        shown = agenda.for_user(
            session,
            ivanov,
            agenda.ZoneInfo("UTC"),
            now=datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=12),
        )
        assert [d.name for d in shown.due] == ["Эпс", "Гамма", "Бета"]
        report = reports.due(session, due)
        assert report.about == {"clients": 3, "never": 1}


def test_only_managers_and_admins_set_contact_rules(database: Database) -> None:
    make_user(database, "ivanov")
    make_user(database, "boss", role="manager")
    with database.write() as session:
        rule_id = records.create(
            session, _user(session, "boss"), RULES, {"abc_class": "A", "days": 14}
        ).id
    with pytest.raises(PermissionDenied), database.write() as session:
        records.create(session, _user(session, "ivanov"), RULES, {"abc_class": "B", "days": 1})
    with pytest.raises(PermissionDenied), database.write() as session:
        records.update(session, _user(session, "ivanov"), RULES, rule_id, {"days": 365})
    with pytest.raises(ValidationFailed), database.write() as session:
        # One rule per class.
        records.create(session, _user(session, "boss"), RULES, {"abc_class": "a", "days": 7})
    for bad in (
        {"abc_class": "D", "days": 7},
        {"abc_class": "B", "days": 0},
        {"abc_class": "B", "days": 7, "kinds": ["fax"]},
    ):
        with pytest.raises(ValidationFailed), database.write() as session:
            records.create(session, _user(session, "boss"), RULES, bad)
    with database.read() as session:
        rules = list(session.execute(select(ContactRule)).scalars())
        assert [(r.abc_class, r.days) for r in rules] == [("A", 14)]
        # Everyone sees them (they explain the agenda).
        assert records.get(session, _user(session, "ivanov"), RULES, rule_id).days == 14


def test_a_client_with_contracts_and_claims_can_be_deleted(database: Database) -> None:
    """Its contracts and claims go with it (and the laptops hear of it through the change log)."""
    from crm.models import Claim, Contract

    make_user(database, "ivanov")
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        cp = records.create(session, ivanov, CPS, {"legal_name": "ООО Уходящий"})
        records.create(
            session,
            ivanov,
            records.record_type("contracts"),
            {"counterparty_id": cp.id, "number": "1"},
        )
        records.create(
            session,
            ivanov,
            records.record_type("claims"),
            {"counterparty_id": cp.id, "product_group": "Золото"},
        )
        cp_id = cp.id
    with database.write() as session:
        records.delete(session, _user(session, "ivanov"), CPS, cp_id)
    with database.read() as session:
        assert session.get(Counterparty, cp_id) is None
        assert session.execute(select(Contract)).first() is None
        assert session.execute(select(Claim)).first() is None
