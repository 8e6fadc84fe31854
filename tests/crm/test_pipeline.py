"""The deal and activity reports (the funnel, lost reasons, sources, manager activity): known
answers worked out by hand over a small company on SQLite and PostgreSQL — period boundaries
exactly on a record's moment, ties, empty data, and a salesperson who does not see a colleague's
deals — and the Report each door shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from crm import pipeline, records, reports, trade
from crm.database import Database
from crm.models import Counterparty, Deal, User
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10

D = Decimal
# January to March 2026: the period of every answer below ("2026-03-01" means the whole of March).
STARTS, ENDS = date(2026, 1, 1), date(2026, 3, 1)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


# A won or lost deal of the company was closed this many days after it was opened.
CLOSED_AFTER = 10


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# name: (owner, source, kinds, created)
COMPANIES = {
    "A": ("ivanov", "Сайт", ["client"], "2026-01-10T09:00"),
    "B": ("ivanov", " сайт", ["prospect"], "2026-02-01T09:00"),
    "C": ("petrov", "Выставка", ["client"], "2026-03-31T23:30"),  # the period's last half hour
    "D": ("petrov", None, ["client"], "2026-04-01T00:00"),  # the first moment after it
    "E": ("ivanov", "Рекомендация", ["client"], "2025-12-31T23:59:59"),  # just before it
}
# (company, stage, amount, closed volume, currency, source, lost reason, created)
DEALS = [
    ("A", "new", "100", None, "RUB", "Сайт", None, "2026-01-01T00:00"),  # the first moment
    ("A", "qualification", "200", None, "RUB", "Сайт", None, "2026-01-15T10:00"),
    ("A", "proposal", "300", None, "RUB", "Сайт", None, "2026-02-10T10:00"),
    ("A", "negotiation", "400", None, "RUB", "Сайт", None, "2026-02-20T10:00"),
    ("A", "won", "500", "550", "RUB", "Сайт", None, "2026-03-01T10:00"),
    ("A", "lost", "600", None, "RUB", "сайт", "Дорого", "2026-03-10T10:00"),
    ("A", "lost", "700", None, "RUB", None, " дорого ", "2026-03-31T23:59"),  # the last minute
    ("A", "lost", "50", None, "RUB", None, "Нет бюджета", "2026-03-15T10:00"),
    ("A", "lost", "100", None, "RUB", None, None, "2026-03-16T10:00"),  # no reason given
    ("A", "lost", None, None, "RUB", None, "дорого", "2026-03-20T10:00"),  # no amount
    ("A", "won", "1000", None, "RUB", "Сайт", None, "2026-04-01T00:00"),  # after the period
    ("A", "lost", "999", None, "RUB", "Сайт", "Дорого", "2025-12-31T23:59"),  # before it
    ("C", "won", "5000", None, "RUB", "Выставка", None, "2026-02-01T10:00"),
    ("C", "lost", "300", None, "RUB", "Выставка", "Выбрали конкурента", "2026-02-02T10:00"),
    ("C", "negotiation", "1000", None, "USD", None, None, "2026-02-03T10:00"),  # dollars
]
# (company, responsible, kind, status, starts)
CONTACTS = [
    ("A", "ivanov", "call", "done", "2026-01-01T00:00"),
    ("A", "ivanov", "call", "done", "2026-02-10T10:00"),
    ("A", "ivanov", "meeting", "done", "2026-03-05T10:00"),
    ("A", "ivanov", "letter", "planned", "2026-03-10T10:00"),  # before NOW: overdue
    ("A", "ivanov", "call", "planned", "2026-03-25T10:00"),  # after NOW: planned
    ("A", "ivanov", "meeting", "cancelled", "2026-02-01T10:00"),
    ("A", "ivanov", "call", "done", "2025-12-31T23:59"),  # before the period
    ("A", "ivanov", "call", "planned", "2026-04-01T00:00"),  # after it
    ("C", "petrov", "call", "done", "2026-02-01T10:00"),
    ("C", "petrov", "meeting", "planned", "2026-03-01T10:00"),  # overdue
]


def pipeline_company(database: Database, tmp_path: Path) -> dict[str, str]:
    """The company above: office, ivanov and petrov (one team, private clients), their
    counterparties, deals, contacts, and sales (Е: 1,000 in February, A: 500 in March, C: 700 in
    April). The ids by name."""
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    ids: dict[str, str] = {}
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        for n, (name, (owner, source, kinds, created)) in enumerate(COMPANIES.items()):
            cp = records.create(
                session,
                users[owner],
                records.record_type("counterparties"),
                {
                    "legal_name": f"ООО {name}",
                    "inn": inn10(f"78{n:07d}"),
                    "visibility": "private",
                    "source": source,
                    "kinds": kinds,
                },
            )
            ids[name] = cp.id
            session.flush()
            session.execute(
                update(Counterparty)
                .where(col(Counterparty.id) == cp.id)
                .values(created_at=_at(created))
            )
        for n, (name, stage, amount, volume, currency, source, reason, created) in enumerate(DEALS):
            owner = users[COMPANIES[name][0]]
            deal = records.create(
                session,
                owner,
                records.record_type("deals"),
                {
                    "counterparty_id": ids[name],
                    "title": f"Сделка {n}",
                    "amount": amount,
                    "currency": currency,
                    "source": source,
                },
            )
            session.flush()
            # Straight into the table: the stage as it ends up, a lost deal without a reason (as an
            # old import may leave one), the day it was opened, and a closed one's closing day, ten
            # days later.
            session.execute(
                update(Deal)
                .where(col(Deal.id) == deal.id)
                .values(
                    stage=stage,
                    closed_volume=None if volume is None else D(volume),
                    lost_reason=reason,
                    created_at=_at(created),
                    closed_on=(_at(created) + timedelta(days=CLOSED_AFTER)).date()
                    if stage in ("won", "lost")
                    else None,
                )
            )
        for name, who, kind, status, starts in CONTACTS:
            records.create(
                session,
                users[who],
                records.record_type("interactions"),
                {
                    "counterparty_id": ids[name],
                    "responsible_id": users[who].id,
                    "kind": kind,
                    "status": status,
                    "subject": "Контакт",
                    "starts_at": _at(starts).isoformat(),
                },
            )
    inns = {name: inn10(f"78{n:07d}") for n, name in enumerate(COMPANIES)}
    lines = [
        "Номер;Дата;ИНН;Сумма;Себестоимость",
        f"Е-1;15.02.2026;{inns['E']};1000;600",
        f"А-1;05.03.2026;{inns['A']};500;300",
        f"В-1;02.04.2026;{inns['C']};700;300",
    ]
    path = tmp_path / "sales.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1251"))
    with database.write() as session:
        office = session.execute(select(User).where(col(User.login) == "office")).scalar_one()
        assert not trade.import_sales(session, office, path).errors
    return ids


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _stages(f: pipeline.Funnel) -> list[tuple[Any, ...]]:
    return [
        (
            s.stage,
            s.deals,
            s.amount,
            s.reached,
            None if s.conversion is None else round(s.conversion, 2),
            s.forecast,
        )
        for s in f.stages
    ]


def test_the_funnel_by_hand(database: Database, tmp_path: Path) -> None:
    pipeline_company(database, tmp_path)
    with database.read() as session:
        office, ivanov = _user(session, "office"), _user(session, "ivanov")
        petrov = _user(session, "petrov")
        f = pipeline.funnel(session, office, STARTS, ENDS)
        # 13 deals opened from 1 January 00:00 to 31 March 23:59 (the two outside left out). The
        # dollar deal counts at its stage, its amount is in no sum. Reached: new = all 13;
        # qualification = everything past new that is not lost (1 + 1 + 2 + 2 = 6); and so on.
        assert _stages(f) == [
            ("new", 1, D("100"), 13, 46.15, D("10.00")),
            ("qualification", 1, D("200"), 6, 83.33, D("40.00")),
            ("proposal", 1, D("300"), 5, 80.0, D("120.00")),
            ("negotiation", 2, D("400"), 4, 50.0, D("240.00")),
            ("won", 2, D("5550"), 2, None, None),  # 550 shipped (closed volume) + 5,000
            ("lost", 6, D("1750"), 6, None, None),
        ]
        assert (f.deals, f.won, f.lost, f.other_currency) == (13, 2, 6, 1)
        assert (f.won_amount, f.lost_amount, f.open_amount, f.forecast) == (
            D("5550"),
            D("1750"),
            D("1000"),
            D("410.00"),
        )
        assert f.win_rate == 25.0  # 2 won of 8 closed
        assert (f.starts, f.ends) == (date(2026, 1, 1), date(2026, 3, 31))

        # Ivanov sees his client A only: petrov's three deals on C are not his.
        mine = pipeline.funnel(session, ivanov, STARTS, ENDS)
        assert _stages(mine) == [
            ("new", 1, D("100"), 10, 40.0, D("10.00")),
            ("qualification", 1, D("200"), 4, 75.0, D("40.00")),
            ("proposal", 1, D("300"), 3, 66.67, D("120.00")),
            ("negotiation", 1, D("400"), 2, 50.0, D("240.00")),
            ("won", 1, D("550"), 1, None, None),
            ("lost", 5, D("1450"), 5, None, None),
        ]
        assert round(mine.win_rate or 0, 2) == 16.67 and mine.other_currency == 0
        # The office asks for petrov's alone; petrov asking for ivanov's gets nothing of them.
        his = pipeline.funnel(session, office, STARTS, ENDS, owner_id=petrov.id)
        assert [s.deals for s in his.stages] == [0, 0, 0, 1, 1, 1]
        assert pipeline.funnel(session, petrov, STARTS, ENDS, owner_id=ivanov.id).deals == 0
        # One month earlier, the period ends a minute before the first of the deals.
        assert pipeline.funnel(session, office, date(2025, 12, 1), date(2025, 12, 1)).deals == 1
        with pytest.raises(ValueError, match="between 1990 and 2100"):
            pipeline.funnel(session, office, date(9999, 1, 1), date(9999, 12, 1))

        report = reports.funnel(session, f)
        row = report.rows[0]
        assert (row["title"], row["reached"], row["conversion"]) == ("Новая / New", 13, 46.15)
        assert report.about["win_rate"] == 25.0 and report.charts


def test_lost_reasons_grouped_by_hand(database: Database, tmp_path: Path) -> None:
    pipeline_company(database, tmp_path)
    with database.read() as session:
        office, ivanov = _user(session, "office"), _user(session, "ivanov")
        got = pipeline.lost(session, office, STARTS, ENDS)
        # «Дорого», « дорого » and «дорого» are one reason, shown as typed most often (twice).
        assert [
            (r.reason, r.deals, r.amount, round(r.share, 2), round(r.amount_share or 0, 2))
            for r in got
        ] == [
            ("дорого", 3, D("1300"), 50.0, 74.29),
            ("Выбрали конкурента", 1, D("300"), 16.67, 17.14),
            ("", 1, D("100"), 16.67, 5.71),  # no reason given
            ("Нет бюджета", 1, D("50"), 16.67, 2.86),
        ]
        mine = pipeline.lost(session, ivanov, STARTS, ENDS)
        assert [(r.reason, r.deals) for r in mine] == [("дорого", 3), ("", 1), ("Нет бюджета", 1)]
        report = reports.lost(session, got, STARTS, ENDS)
        assert [r["reason"] for r in report.rows][2] == "не указана / not given"
        assert report.about["deals"] == 6 and report.about["amount"] == D("1750")


def test_spellings_keep_the_most_common_and_break_ties_alike() -> None:
    assert pipeline.spellings(["Дорого", " дорого "]) == {"дорого": "Дорого"}  # a tie: Д < д
    assert pipeline.spellings(["нет  бюджета", "Нет бюджета", "нет бюджета"]) == {
        "нет бюджета": "нет бюджета"
    }
    assert pipeline.spellings([None, "", "  "]) == {"": ""}
    assert pipeline.text_key("  Выбрали   КОНКУРЕНТА ") == "выбрали конкурента"


def test_sources_by_hand(database: Database, tmp_path: Path) -> None:
    pipeline_company(database, tmp_path)
    with database.read() as session:
        office, ivanov = _user(session, "office"), _user(session, "ivanov")

        def rows(who: User, **kw: Any) -> list[tuple[Any, ...]]:
            return [
                (
                    r.source,
                    r.new,
                    r.clients,
                    None if r.conversion is None else round(r.conversion, 2),
                    r.deals,
                    r.won,
                    r.won_amount,
                    r.revenue,
                )
                for r in pipeline.sources(session, who, STARTS, ENDS, **kw)
            ]

        # «Сайт» and « сайт»: one channel, spelled «Сайт» six times (A and five deals) against
        # twice. C was created in the period's last half hour, D at the first moment after it
        # and E just before it: only their deals or sales count. C's April sale is outside.
        assert rows(office) == [
            ("Сайт", 2, 1, 50.0, 6, 1, D("550"), D("500.00")),
            ("Выставка", 1, 1, 100.0, 2, 1, D("5000"), D("0")),
            ("Рекомендация", 0, 0, None, 0, 0, D("0"), D("1000.00")),
            ("", 0, 0, None, 5, 0, D("0"), D("0")),
        ]
        assert rows(ivanov) == [
            ("Сайт", 2, 1, 50.0, 6, 1, D("550"), D("500.00")),
            ("Рекомендация", 0, 0, None, 0, 0, D("0"), D("1000.00")),
            ("", 0, 0, None, 4, 0, D("0"), D("0")),
        ]
        petrov = _user(session, "petrov")
        assert [r[0] for r in rows(office, owner_id=petrov.id)] == ["Выставка", ""]
        report = reports.sources(
            session, pipeline.sources(session, office, STARTS, ENDS), STARTS, ENDS
        )
        assert report.rows[-1]["source"] == "не указан / not given"


def test_activity_by_hand(database: Database, tmp_path: Path) -> None:
    pipeline_company(database, tmp_path)
    with database.read() as session:
        office, ivanov = _user(session, "office"), _user(session, "ivanov")
        petrov = _user(session, "petrov")

        def rows(who: User, **kw: Any) -> list[tuple[Any, ...]]:
            return [
                (
                    r.responsible_id,
                    r.done_by_kind["call"],
                    r.done_by_kind["meeting"],
                    r.done_by_kind["letter"],
                    r.done,
                    r.planned,
                    r.overdue,
                    r.cancelled,
                    r.total,
                )
                for r in pipeline.activity(session, who, STARTS, ENDS, now=NOW, **kw)
            ]

        # Ivanov: two calls (one at the period's first moment) and a meeting done, a letter
        # overdue, a call ahead, a meeting cancelled; the two contacts outside the months left out.
        assert rows(office) == [
            (ivanov.id, 2, 1, 0, 3, 1, 1, 1, 6),
            (petrov.id, 1, 0, 0, 1, 0, 1, 0, 2),
        ]
        assert rows(ivanov) == [(ivanov.id, 2, 1, 0, 3, 1, 1, 1, 6)]  # petrov's client is hidden
        assert rows(office, owner_id=petrov.id) == [(petrov.id, 1, 0, 0, 1, 0, 1, 0, 2)]
        # Later, the call planned for 25 March is overdue too.
        later = pipeline.activity(session, ivanov, STARTS, ENDS, now=_at("2026-06-01T00:00"))
        assert (later[0].planned, later[0].overdue) == (0, 2)
        report = reports.activity(
            session, pipeline.activity(session, office, STARTS, ENDS, now=NOW), STARTS, ENDS
        )
        assert [(r["login"], r["call"], r["overdue"]) for r in report.rows] == [
            ("ivanov", 2, 1),
            ("petrov", 1, 1),
        ]


def test_empty_data_and_unknown_owners(database: Database) -> None:
    make_user(database, "ivanov")
    with database.read() as session:
        ivanov = _user(session, "ivanov")
        f = pipeline.funnel(session, ivanov, STARTS, ENDS)
        assert f.deals == 0 and f.win_rate is None and f.forecast == 0
        assert [s.reached for s in f.stages] == [0] * 6
        assert all(s.conversion is None for s in f.stages)
        assert pipeline.lost(session, ivanov, STARTS, ENDS) == []
        assert pipeline.sources(session, ivanov, STARTS, ENDS) == []
        assert pipeline.activity(session, ivanov, STARTS, ENDS, now=NOW) == []
        for name in reports.PIPELINE:
            report = reports.pipeline(session, ivanov, name, STARTS, ENDS, now=NOW)
            assert report.name == name and report.as_json()["columns"]
        assert reports.owner(session, "ivanov") == ivanov.id
        assert reports.owner(session, ivanov.id) == ivanov.id
        assert reports.owner(session, None) is None
        for bad in ("nobody", "", "x" * 101, "a\x00b"):
            with pytest.raises(ValueError, match="owner"):
                reports.owner(session, bad)
