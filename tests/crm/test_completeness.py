"""How complete a card is (``crm.completeness``): known answers worked out by hand — a full card is
100, an empty one scores its owner alone, each rule alone gives its weight, a sole trader's KPP is
not asked, a contact exactly 180 days ago still counts and one a day older does not, rounding is
half up — the rules chosen and re-weighed in words, and over a small company on SQLite and
PostgreSQL: a salesperson sees only the cards, contact persons and contacts they may see, the
summary per salesperson, and the Report every door shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from crm import completeness, records, reports, rules, validation
from crm.completeness import RULES, Card, choose, score
from crm.database import Database
from crm.models import User
from tests.conftest import make_user
from tests.crm.test_duplicates import inn10

DAY = date(2026, 3, 20)
INN10 = inn10("770708389")
INN12 = "5001234567" + validation.inn_check_digits("5001234567")

FULL = Card(
    "full",
    "ООО «Полная»",
    inn=INN10,
    kpp="770701001",
    legal_form="ООО",
    legal_address="Москва, ул. Тверская, 1",
    contacts=({"kind": "phone", "value": "+74951234567"}, {"kind": "email", "value": "a@b.ru"}),
    region="Москва",
    industry="Ювелирная розница",
    source="Выставка",
    owner_id="u1",
    people=2,
    reachable_people=1,
    last_contact=DAY - timedelta(days=180),
)
# Each rule alone: the fields that make a bare card (legal name only, no owner) pass it.
ALONE: dict[str, dict[str, Any]] = {
    "inn": {"inn": INN10},
    "kpp": {"kpp": "770701001"},
    "phone": {"contacts": ({"kind": "phone", "value": "+74951234567"},)},
    "email": {"contacts": ({"kind": "email", "value": "a@b.ru"},)},
    "address": {"actual_address": "Тверь, ул. Советская, 2"},
    "region": {"region": "Тверь"},
    "industry": {"industry": "Опт"},
    "source": {"source": "Сайт"},
    "owner": {"owner_id": "u1"},
    "person": {"people": 1},
    "person_reach": {"people": 1, "reachable_people": 1},
    "recent_contact": {"last_contact": DAY},
}


def test_the_default_rules_weigh_100() -> None:
    assert sum(r.weight for r in RULES) == 100
    assert [r.key for r in RULES] == list(ALONE)
    assert completeness.describe(RULES) == (
        "inn:20,kpp:5,phone:15,email:10,address:10,region:5,industry:5,source:5,owner:5,"
        "person:10,person_reach:5,recent_contact:5"
    )
    # The sole trader's legal forms are the ones crm.rules judges by.
    assert completeness.SOLE_TRADER_FORMS == rules._SOLE_TRADER_FORMS


def test_a_full_card_an_empty_card_and_each_rule_alone() -> None:
    full = score(FULL, DAY)
    assert (full.score, full.missing) == (100, [])
    empty = score(Card("e", "ООО «Пустая»"), DAY)
    assert empty.score == 0
    assert [r.key for r in empty.missing] == [r.key for r in RULES]
    for rule in RULES:
        alone = score(Card("x", "ООО «Икс»", **ALONE[rule.key]), DAY)
        # person_reach comes with a person: 10 + 5.
        expected = rule.weight + (10 if rule.key == "person_reach" else 0)
        assert alone.score == expected, rule.key
        assert rule.key not in [r.key for r in alone.missing]
    # Blank text is no value.
    assert score(Card("x", "x", inn="  ", region=" "), DAY).score == 0
    assert score(Card("x", "x", contacts=({"kind": "phone", "value": ""},)), DAY).score == 0


def test_a_sole_trader_is_not_asked_for_a_kpp() -> None:
    # INN 12 digits: the KPP rule does not apply; the other 95 weigh as 100 %.
    trader = Card(
        "ip",
        "ИП Антонова",
        inn=INN12,
        contacts=({"kind": "phone", "value": "+79678083761"},),
        owner_id="u1",
    )
    got = score(trader, DAY)
    assert got.score == 42  # (20 + 15 + 5) / 95 = 42.1 %
    assert "kpp" not in [r.key for r in got.missing]
    # Without an INN the legal form tells: ИП (any case, with dots) has no KPP; ООО has one.
    assert "kpp" not in [r.key for r in score(Card("a", "a", legal_form="и.п."), DAY).missing]
    assert "kpp" in [r.key for r in score(Card("a", "a", legal_form="ООО"), DAY).missing]
    assert "kpp" in [r.key for r in score(Card("a", "a"), DAY).missing]
    # A full sole trader is 100.
    full = Card(
        **{**FULL.__dict__, "inn": INN12, "kpp": None, "legal_form": "ИП"}  # noqa: PIE804
    )
    assert score(full, DAY).score == 100


def test_a_contact_180_days_ago_counts_and_181_does_not() -> None:
    at_180 = Card(**{**FULL.__dict__, "last_contact": DAY - timedelta(days=180)})  # noqa: PIE804
    at_181 = Card(**{**FULL.__dict__, "last_contact": DAY - timedelta(days=181)})  # noqa: PIE804
    never = Card(**{**FULL.__dict__, "last_contact": None})  # noqa: PIE804
    assert score(at_180, DAY).score == 100
    assert [r.key for r in score(at_181, DAY).missing] == ["recent_contact"]
    assert score(at_181, DAY).score == 95 and score(never, DAY).score == 95


def test_rules_chosen_and_weighed_in_words() -> None:
    assert choose(None) == RULES and choose(" ") == RULES
    chosen = choose("inn, phone:30")
    assert [(r.key, r.weight) for r in chosen] == [("inn", 20), ("phone", 30)]
    card = Card("x", "x", inn=INN10)
    assert score(card, DAY, chosen).score == 40  # 20 / 50
    # Rounding is half up: 1 of 8 is 12.5 % → 13; 1 of 3 is 33.3 % → 33; 2 of 3 → 67.
    assert score(card, DAY, choose("inn:1,phone:7")).score == 13
    assert score(card, DAY, choose("inn:1,phone:2")).score == 33
    assert score(card, DAY, choose("inn:2,phone:1")).score == 67
    # Only the KPP asked of a sole trader: nothing applies, nothing is missing.
    assert score(Card("x", "x", inn=INN12), DAY, choose("kpp")).score == 100
    for bad, says in (
        ("inn,banana", "no rule 'banana'"),
        ("inn,inn", "named twice"),
        ("inn:0", "from 1 to 100"),
        ("inn:101", "from 1 to 100"),
        ("inn:x", "from 1 to 100"),
        ("inn:", "from 1 to 100"),
        ("inn:٣", "from 1 to 100"),
        (",", "no rule ''"),
        ("inn," * 200, "at most 500"),
    ):
        with pytest.raises(ValueError, match=says):
            choose(bad)


def _at(day: date, hour: int = 12) -> str:
    return datetime.combine(day, time(hour), UTC).isoformat()


def completeness_company(database: Database, day: date) -> dict[str, str]:
    """office, ivanov and petrov (one team, private cards) and four cards judged on ``day``:

    - ivanov's «Полная»: every rule passes, its last contact exactly 180 days before → 100;
    - ivanov's «Пустая»: its name alone (and its owner, who made it) → 5;
    - petrov's «ИП Петров»: a sole trader's INN, a phone, an owner → (20 + 15 + 5) / 95 → 42;
    - petrov's «Старая»: all but a reachable contact person (his person has neither phone nor
      email) and a recent contact (the last one 181 days before; a planned one yesterday does
      not count) → 90.
    """
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrov")
    ids: dict[str, str] = {}
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}

        def add(login: str, type_name: str, **data: Any) -> str:
            made = records.create(session, users[login], records.record_type(type_name), data)
            session.flush()
            return str(made.id)

        full = {
            "legal_form": "ООО",
            "kpp": "770701001",
            "legal_address": "Москва, ул. Тверская, 1",
            "contacts": [
                {"kind": "phone", "value": "+74951234567"},
                {"kind": "email", "value": "info@polnaya.ru"},
            ],
            "region": "Москва",
            "industry": "Ювелирная розница",
            "source": "Выставка",
            "visibility": "private",
        }
        ids["full"] = add(
            "ivanov", "counterparties", legal_name="ООО «Полная»", inn=inn10("770708389"), **full
        )
        ids["empty"] = add("ivanov", "counterparties", legal_name="ООО «Пустая»")
        ids["trader"] = add(
            "petrov",
            "counterparties",
            legal_name="ИП Петров",
            legal_form="ИП",
            inn=INN12,
            contacts=[{"kind": "phone", "value": "+79678083761"}],
        )
        ids["old"] = add(
            "petrov", "counterparties", legal_name="ООО «Старая»", inn=inn10("780000001"), **full
        )
        add(
            "ivanov",
            "contact-persons",
            counterparty_id=ids["full"],
            full_name="Сидорова Анна",
            contacts=[{"kind": "email", "value": "anna@polnaya.ru"}],
        )
        add("petrov", "contact-persons", counterparty_id=ids["old"], full_name="Кто-то Без Связи")
        for login, name, status, when in (
            ("ivanov", "full", "done", day - timedelta(days=180)),
            ("petrov", "old", "done", day - timedelta(days=181)),
            ("petrov", "old", "planned", day - timedelta(days=1)),
        ):
            add(
                login,
                "interactions",
                counterparty_id=ids[name],
                responsible_id=users[login].id,
                kind="call",
                status=status,
                subject="Звонок",
                starts_at=_at(when),
            )
    return ids


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def test_a_company_by_hand(database: Database) -> None:
    ids = completeness_company(database, DAY)
    with database.read() as session:
        office, ivanov, petrov = (_user(session, n) for n in ("office", "ivanov", "petrov"))
        seen = {s.counterparty_id: s for s in completeness.scores(session, office, DAY)}
        assert {name: seen[ids[name]].score for name in ids} == {
            "full": 100,
            "empty": 5,
            "trader": 42,
            "old": 90,
        }
        assert [r.key for r in seen[ids["old"]].missing] == ["person_reach", "recent_contact"]
        worst = [s.card.name for s in completeness.scores(session, office, DAY)]
        assert worst == ["ООО «Пустая»", "ИП Петров", "ООО «Старая»", "ООО «Полная»"]
        best = completeness.scores(session, office, DAY, sort="-score")
        assert [s.score for s in best] == [100, 90, 42, 5]
        assert [s.card.name for s in completeness.scores(session, office, DAY, sort="name")] == [
            "ИП Петров",
            "ООО «Полная»",
            "ООО «Пустая»",
            "ООО «Старая»",
        ]
        with pytest.raises(ValueError, match="sort is one of"):
            completeness.scores(session, office, DAY, sort="banana")
        # A salesperson does not see a colleague's private cards, nor their people or contacts.
        mine = completeness.scores(session, ivanov, DAY)
        assert {s.counterparty_id for s in mine} == {ids["full"], ids["empty"]}
        assert completeness.of_card(session, ivanov, ids["old"], DAY) is None
        one = completeness.of_card(session, petrov, ids["old"], DAY)
        assert one is not None and one.score == 90
        # One salesperson's cards, as the office asks.
        only = completeness.scores(session, office, DAY, owner_id=petrov.id)
        assert {s.counterparty_id for s in only} == {ids["trader"], ids["old"]}
        # Per salesperson: ivanov (100 + 5) / 2 = 52.5, one under 50; petrov (42 + 90) / 2 = 66.
        summary = completeness.by_owner(completeness.scores(session, office, DAY))
        assert [(o.owner_id, o.cards, o.average, o.poor) for o in summary] == [
            (ivanov.id, 2, 52.5, 1),
            (petrov.id, 2, 66.0, 1),
        ]


def test_the_reports(database: Database) -> None:
    ids = completeness_company(database, DAY)
    with database.read() as session:
        office, ivanov = _user(session, "office"), _user(session, "ivanov")
        cards = reports.completeness(session, office, DAY).as_json()
        assert cards["report"] == "completeness"
        assert [c["key"] for c in cards["columns"]] == ["name", "inn", "owner", "score", "missing"]
        assert [(r["name"], r["owner"], r["score"]) for r in cards["rows"]] == [
            ("ООО «Пустая»", "ivanov", 5),
            ("ИП Петров", "petrov", 42),
            ("ООО «Старая»", "petrov", 90),
            ("ООО «Полная»", "ivanov", 100),
        ]
        trader = cards["rows"][1]
        assert trader["inn"] == INN12 and trader["counterparty_id"] == ids["trader"]
        assert trader["missing"] == (
            "e-mail / email, адрес / address, регион (город) / region (city), отрасль / industry, "
            "источник / source, контактное лицо / contact person, телефон или e-mail контактного "
            "лица / a contact person's phone or email, контакт за 180 дней / a contact in the "
            "last 180 days"
        )
        assert cards["rows"][-1]["missing"] == "" and cards["rows"][-1]["missing_keys"] == []
        assert cards["about"] | {"rules": None} == {
            "day": "2026-03-20",
            "rules": None,
            "owner": None,
            "cards": 4,
            "average": 59.3,
            "poor": 2,
        }
        owners = reports.completeness(session, office, DAY, name="completeness-owners").as_json()
        assert [(r["login"], r["cards"], r["average"], r["poor"]) for r in owners["rows"]] == [
            ("ivanov", 2, 52.5, 1),
            ("petrov", 2, 66.0, 1),
        ]
        his = reports.completeness(session, ivanov, DAY, rules="inn,phone").as_json()
        assert [(r["name"], r["score"]) for r in his["rows"]] == [
            ("ООО «Пустая»", 0),
            ("ООО «Полная»", 100),
        ]
        assert his["about"]["rules"] == "inn:20,phone:15"
        with pytest.raises(ValueError, match="no report"):
            reports.completeness(session, office, DAY, name="banana")
