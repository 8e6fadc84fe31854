"""Saved segments (``crm.segments``): known answers for ``matches`` and the criteria's checks; over a
database on SQLite and PostgreSQL, ``members`` is exactly the visible cards that match (a property
over any criteria) and never a card its user cannot see; the analyses over a segment are the
analyses of its members — ABC ranks within the segment and its totals add up."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from crm import (
    access,
    analytics,
    completeness,
    neglect,
    pipeline,
    records,
    reports,
    sales,
    segments,
    trade,
)
from crm.database import Database
from crm.errors import NotFound, ValidationFailed
from crm.models import Counterparty, Segment, User
from crm.segments import check_criteria, matches, normalised
from tests.conftest import examples, make_user
from tests.crm.test_duplicates import inn10

# -- matches: known answers


def test_any_value_of_a_criterion_matches_and_every_criterion_must() -> None:
    card = {"region": "Казань", "abc_class": "B", "kinds": ["client"], "tags": []}
    assert matches(card, {"region": ["Москва", "Казань"]})  # any of a criterion's values
    assert not matches(card, {"region": ["Москва"]})
    assert matches(card, {"region": ["Казань"], "abc_class": ["A", "B"]})  # every criterion
    assert not matches(card, {"region": ["Казань"], "abc_class": ["A"]})
    assert matches(card, {})  # an empty segment: every client
    assert matches(card, {"region": []})  # an empty criterion asks nothing


def test_a_dash_stands_for_an_empty_field() -> None:
    empty = {"region": None, "abc_class": None, "tags": [], "kinds": [], "source": "   "}
    filled = {
        "region": "Тверь",
        "abc_class": "A",
        "tags": ["vip"],
        "kinds": ["client"],
        "source": "сайт",
    }
    for name in ("region", "abc_class", "tags", "kinds", "source"):
        assert matches(empty, {name: ["-"]}), name
        assert not matches(filled, {name: ["-"]}), name
    assert matches({"region": ""}, {"region": ["-", "Тверь"]})
    assert matches({"region": "Тверь"}, {"region": ["-", "Тверь"]})
    assert matches({"tags": ["", "  "]}, {"tags": ["-"]})  # blank tags are no tags


def test_case_and_spaces_are_folded() -> None:
    card = {"region": "  Санкт   Петербург ", "industry": "Ювелирная ТОРГОВЛЯ", "abc_class": "A"}
    assert matches(card, {"region": ["санкт петербург"]})
    assert matches(card, {"industry": ["ювелирная  торговля"]})
    assert matches(card, {"abc_class": ["a"]})
    assert not matches(card, {"region": ["Санкт-Петербург"]})  # a hyphen is not a space


def test_tags_and_kinds_are_lists_any_of_them_matching() -> None:
    card = {"tags": ["Опт", "VIP"], "kinds": ["client", "supplier"]}
    assert matches(card, {"tags": ["vip"]})
    assert matches(card, {"tags": ["розница", "опт "]})
    assert not matches(card, {"tags": ["розница"]})
    assert matches(card, {"kinds": ["supplier"]})
    assert matches(card, {"kinds": ["partner", "client"], "tags": ["vip"]})
    assert not matches(card, {"kinds": ["partner"]})
    assert not matches({"tags": None, "kinds": None}, {"tags": ["vip"]})


def test_criteria_are_checked_and_normalised() -> None:
    assert check_criteria({"abc_class": ["A", "b", "-"], "region": ["Москва"]}) == {}
    assert check_criteria({}) == {}
    unknown = check_criteria({"colour": ["red"]})["criteria"]
    assert unknown.startswith("unknown criterion 'colour'; known: kinds, tags")
    assert check_criteria({"region": "Москва"}) == {"criteria": "region: must be a list of texts"}
    assert check_criteria({"region": [1]}) == {"criteria": "region: must be a list of texts"}
    many = [f"Город {n}" for n in range(201)]
    assert check_criteria({"region": many}) == {"criteria": "region: at most 200 values"}
    assert check_criteria({"region": many[:200]}) == {}
    assert check_criteria({"tags": ["  "]}) == {
        "criteria": "tags: each value is 1 to 200 characters"
    }
    assert check_criteria({"abc_class": ["D"]}) == {
        "criteria": "abc_class: 'D' is not one of A, B, C (or - for none)"
    }
    assert check_criteria(["abc_class"]) == {
        "criteria": "must be an object of criteria, each a list of values"
    }
    both = segments.problems({"region": "x", "kinds": ["alien"], "colour": []})
    assert set(both) == {"region", "kinds", "criteria"}
    assert normalised(
        {"region": [" Москва ", "москва", "Казань"], "abc_class": ["a", "A"], "tags": []}
    ) == {"region": ["Москва", "Казань"], "abc_class": ["A"]}


def test_criteria_as_the_commands_take_them() -> None:
    assert segments.parse(["abc_class=A,B", "region=Москва", "region= Тверь ,"]) == {
        "abc_class": ["A", "B"],
        "region": ["Москва", "Тверь"],
    }
    for bad in (["abc_class"], ["=A"], ["colour=red"]):
        try:
            segments.parse(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert segments.describe({"abc_class": ["A", "B"], "region": ["Москва"]}) == (
        "abc_class=A,B; region=Москва"
    )


# -- over a database

REGIONS = ["Москва", " москва ", "Казань", None, "Тверь"]
TAGS: list[list[str]] = [["vip"], ["VIP", "опт"], [], ["опт"]]
KINDS: list[list[str]] = [["client"], ["client", "supplier"], ["prospect"], ["supplier"]]
STAGES = ["lead", "active", "dormant"]
VISIBILITY = ["private", "team", "company", "private", "private"]
CLASSES = ["A", "B", "C", None]


def _world(database: Database) -> dict[str, Any]:
    """Four salespeople in two teams, a manager, the office; 20 counterparties spread over every
    criterion, most of them private to their owner."""
    for login, role, team in (
        ("office", "office", None),
        ("boss", "manager", "Москва"),
        ("ivanov", "salesperson", "Москва"),
        ("petrov", "salesperson", "Москва"),
        ("sidorova", "salesperson", "Питер"),
        ("mallory", "salesperson", "Питер"),
    ):
        make_user(database, login, role=role, team=team)
    rt = records.record_type("counterparties")
    owners = ["ivanov", "petrov", "sidorova", "mallory", "boss"]
    with database.write() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        ids = []
        for n in range(20):
            owner = users[owners[n % len(owners)]]
            cp = records.create(
                session,
                owner,
                rt,
                {
                    "legal_name": f"ООО Клиент {n:02d}",
                    "inn": inn10(f"77{n:07d}"),
                    "region": REGIONS[n % len(REGIONS)],
                    "industry": "Ювелирная торговля" if n % 3 else None,
                    "source": ["Выставка", "сайт", None][n % 3],
                    "tags": TAGS[n % len(TAGS)],
                    "kinds": KINDS[n % len(KINDS)],
                    "stage": STAGES[n % len(STAGES)],
                    "visibility": VISIBILITY[n % len(VISIBILITY)],
                },
            )
            ids.append(cp.id)
        session.flush()
        for n, cp_id in enumerate(ids):  # classes come from a kept computation, not by hand
            session.get_one(Counterparty, cp_id).abc_class = CLASSES[n % len(CLASSES)]
    return {"ids": ids, "users": {login: u.id for login, u in users.items()}}


def _actor(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _cards(session: Any) -> list[dict[str, Any]]:
    columns = sorted({column for column, _ in segments.CRITERIA.values()})
    return [
        {"id": cp.id, **{c: getattr(cp, c) for c in columns}}
        for cp in session.execute(select(Counterparty)).scalars()
    ]


VALUES: dict[str, list[str]] = {
    "region": ["Москва", "  МОСКВА", "Казань", "Тверь", "Омск", "-"],
    "industry": ["ювелирная торговля", "-", "Оптовая"],
    "source": ["выставка", "Сайт", "-", "реклама"],
    "tags": ["vip", "ОПТ", "-", "розница"],
    "kinds": ["client", "supplier", "prospect", "partner", "-"],
    "stage": ["lead", "active", "dormant", "lost"],
    "visibility": ["private", "team", "company"],
    "abc_class": ["A", "b", "C", "-"],
    "xyz_class": ["X", "-"],
    "segment": ["-", "опт"],
}
LOGINS = ["ivanov", "petrov", "sidorova", "mallory", "boss", "office"]


def _criteria(owner_ids: list[str]) -> st.SearchStrategy[dict[str, list[str]]]:
    pools = {**VALUES, "owner_id": [*owner_ids, "-"]}
    return st.dictionaries(
        st.sampled_from(sorted(pools)),
        st.just(None),
        max_size=4,
    ).flatmap(
        lambda keys: st.fixed_dictionaries(
            {k: st.lists(st.sampled_from(pools[k]), min_size=1, max_size=3) for k in keys}
        )
    )


def test_members_are_exactly_the_visible_cards_that_match(database: Database) -> None:
    world = _world(database)
    owner_ids = list(world["users"].values())
    with database.read() as session:
        cards = _cards(session)
        actors = {login: _actor(session, login) for login in LOGINS}
        # Who sees which card, asked one card at a time (not the SQL condition members reads).
        sees = {
            login: {c["id"] for c in cards if access.can_read_counterparty(session, a, c["id"])}
            for login, a in actors.items()
        }
    assert sees["office"] == set(world["ids"]) and len(sees["mallory"]) < len(world["ids"])

    @settings(
        max_examples=examples(40),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(login=st.sampled_from(LOGINS), criteria=_criteria(owner_ids))
    def check(login: str, criteria: dict[str, list[str]]) -> None:
        with database.read() as session:
            got = segments.members(session, _actor(session, login), criteria)
        expected = {c["id"] for c in cards if c["id"] in sees[login] and matches(c, criteria)}
        assert got == expected
        assert got <= sees[login]

    check()


def test_a_segment_never_yields_a_card_its_user_cannot_see(database: Database) -> None:
    world = _world(database)
    ivanov = world["users"]["ivanov"]
    with database.write() as session:
        mallory = _actor(session, "mallory")
        # Mallory (another team) saves a segment naming Ivanov's clients, every kind of them.
        spy = records.create(
            session,
            mallory,
            records.record_type("segments"),
            {"name": "Клиенты Иванова", "criteria": {"owner_id": [ivanov]}},
        )
        spy_id = spy.id
    with database.read() as session:
        mallory, boss = _actor(session, "mallory"), _actor(session, "boss")
        got = segments.members_of(session, mallory, spy_id)
        assert got is not None
        for cp_id in got:
            assert access.can_read_counterparty(session, mallory, cp_id)
        ivanovs = {
            cp.id
            for cp in session.execute(
                select(Counterparty).where(col(Counterparty.owner_id) == ivanov)
            ).scalars()
        }
        # Only his cards shared with the whole company reach her; his manager sees them all.
        company = {
            cp_id
            for cp_id in ivanovs
            if session.get_one(Counterparty, cp_id).visibility == "company"
        }
        assert got == company and got < ivanovs
        assert segments.members_of(session, boss, spy_id) == ivanovs
        # Any report over her segment names no more than she sees.
        result = analytics.classify(
            session, mallory, date(2025, 1, 1), date(2025, 12, 31), only=got
        )
        assert {c.counterparty_id for c in result.clients} <= got
        assert segments.members_of(session, mallory, None) is None
        try:
            segments.members_of(session, mallory, "no-such-segment")
        except NotFound as exc:
            assert "no segment" in exc.message
        else:
            raise AssertionError("an unknown segment was taken")


def test_a_segment_is_found_by_id_or_name_and_a_shared_name_asks_for_the_id(
    database: Database,
) -> None:
    _world(database)
    rt = records.record_type("segments")
    with database.write() as session:
        ivanov, petrov = _actor(session, "ivanov"), _actor(session, "petrov")
        one = records.create(session, ivanov, rt, {"name": "Крупные Москва", "criteria": {}})
        records.create(session, ivanov, rt, {"name": "VIP", "criteria": {"tags": ["vip"]}})
        one_id = one.id
    # A name is the company's: a colleague's "vip " would make "VIP" ambiguous for everyone.
    try:
        with database.write() as session:
            petrov = _actor(session, "petrov")
            records.create(session, petrov, rt, {"name": "vip ", "criteria": {"tags": ["VIP"]}})
    except ValidationFailed as exc:
        assert "exists already" in exc.details["name"]
    else:
        raise AssertionError("a second segment named VIP was saved")
    with database.write() as session:
        # Two of one name can still be there from before names were kept unique: the id decides.
        session.add(Segment(name="vip", owner_id=_actor(session, "petrov").id, criteria={}))
    with database.read() as session:
        assert segments.find(session, None, one_id).id == one_id
        assert segments.find(session, None, "  крупные   москва").id == one_id
        for bad in ("VIP", "нет такого", ""):
            try:
                segments.find(session, None, bad)
            except NotFound as exc:
                said = exc.message
            else:
                raise AssertionError(bad)
            assert ("several segments" in said) == (bad == "VIP"), said
        assert [name for _, name in segments.choices(session)] == ["VIP", "vip", "Крупные Москва"]


def test_bad_criteria_are_refused_and_nothing_is_stored(database: Database) -> None:
    _world(database)
    rt = records.record_type("segments")
    for criteria, said in (
        ({"colour": ["red"]}, "unknown criterion 'colour'"),
        ({"region": "Москва"}, "region: must be a list of texts"),
        ({"region": [f"Город {n}" for n in range(201)]}, "region: at most 200 values"),
        ({"abc_class": ["D"]}, "abc_class: 'D' is not one of A, B, C"),
        (
            {f: [f"з {n}" for n in range(100)] for f in ("region", "industry", "source", "tags")},
            "at most 300 values over all criteria",
        ),
        ({"owner_id": ["nobody"]}, "owner_id: no user 'nobody'"),
    ):
        try:
            with database.write() as session:
                records.create(
                    session, _actor(session, "ivanov"), rt, {"name": "x", "criteria": criteria}
                )
        except ValidationFailed as exc:
            assert said in str(exc.details["criteria"]), exc.details
        else:
            raise AssertionError(criteria)
    with database.read() as session:
        assert session.execute(select(Segment)).first() is None


def test_an_owner_is_named_by_login_or_id_and_keeps_a_bounded_number(database: Database) -> None:
    _world(database)
    rt = records.record_type("segments")
    with database.write() as session:
        ivanov, petrov = _actor(session, "ivanov"), _actor(session, "petrov")
        made = records.create(
            session, ivanov, rt, {"name": "Петрова", "criteria": {"owner_id": ["petrov", "-"]}}
        )
        assert made.criteria == {"owner_id": [petrov.id, "-"]}
        for n in range(segments.MAX_PER_OWNER - 1):
            records.create(session, ivanov, rt, {"name": f"С{n}", "criteria": {}})
    try:
        with database.write() as session:
            records.create(session, _actor(session, "ivanov"), rt, {"name": "ещё", "criteria": {}})
    except ValidationFailed as exc:
        assert f"at most {segments.MAX_PER_OWNER}" in exc.details["owner_id"]
    else:
        raise AssertionError("a 101st segment was saved")
    with database.read() as session:
        owned = session.execute(select(Segment).where(col(Segment.name) == "ещё")).first()
        assert owned is None


def _sales(database: Database, tmp_path: Path, ids: list[str]) -> None:
    lines = ["Номер;Дата;ИНН;Сумма;Себестоимость"]
    for n in range(len(ids)):
        for m in range(1, 13):
            if (n + m) % (1 + n % 3) == 0:
                amount = 1000 * (n + 1) + 37 * m
                lines.append(f"Д{n}-{m};{5 + n % 20}.{m:02d}.2025;{inn10(f'77{n:07d}')};{amount};")
    path = tmp_path / "sales.csv"
    path.write_bytes("\n".join(lines).encode("cp1251"))
    with database.write() as session:
        trade.import_sales(session, _actor(session, "office"), path)


START, END = date(2025, 1, 1), date(2025, 12, 31)


def test_abc_over_a_segment_ranks_within_it_and_its_totals_add_up(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database)
    _sales(database, tmp_path, world["ids"])
    criteria = {"region": ["Москва", "Казань"]}
    with database.read() as session:
        for login in ("office", "boss", "ivanov"):
            actor = _actor(session, login)
            only = segments.members(session, actor, criteria)
            whole = analytics.classify(session, actor, START, END)
            within = analytics.classify(session, actor, START, END, only=only)
            amounts = {c.counterparty_id: c.amount for c in whole.clients}
            # Every member with sales is classed once, nobody else; the total is theirs.
            classed = [c.counterparty_id for c in within.clients]
            assert len(classed) == len(set(classed))
            assert set(classed) == only & set(amounts)
            assert within.total == sum((amounts[cp] for cp in classed), Decimal(0))
            assert {c.abc for c in within.clients} <= {"A", "B", "C"}
            if within.clients:
                assert abs(sum(c.share for c in within.clients) - 100) < 1e-6
                assert within.clients[0].abc == "A"  # the largest of the segment is an A
            # Ranked within the segment: ABC of the members' amounts alone.
            expected = analytics.abc_classes({cp: int(amounts[cp] * 100) for cp in classed}, 70, 20)
            assert [(c.counterparty_id, c.abc) for c in within.clients] == [
                (c.counterparty_id, c.abc) for c in expected
            ]
            # The same as the whole classification over the members' summaries by hand.
            data = sales.sums(session, actor, START, END)
            by_hand = analytics.classify(
                session, actor, START, END, data={cp: v for cp, v in data.items() if cp in only}
            )
            assert [(c.counterparty_id, c.abc, c.xyz, c.amount) for c in within.clients] == [
                (c.counterparty_id, c.abc, c.xyz, c.amount) for c in by_hand.clients
            ]
            rfm = analytics.rfm(session, actor, START, END, only=only)
            assert {c.counterparty_id for c in rfm} == set(classed)
            # Without a segment, nothing changed.
            assert analytics.classify(session, actor, START, END, only=None) == whole


def test_every_analysis_over_a_segment_is_the_analysis_restricted_to_its_members(
    database: Database, tmp_path: Path
) -> None:
    world = _world(database)
    _sales(database, tmp_path, world["ids"])
    rt = records.record_type("deals")
    with database.write() as session:
        for n, cp_id in enumerate(world["ids"]):
            owner = session.get_one(User, session.get_one(Counterparty, cp_id).owner_id)
            deal = records.create(
                session,
                owner,
                rt,
                {"counterparty_id": cp_id, "title": f"Сделка {n}", "amount": str(1000 * n)},
            )
            if n % 4 == 1:
                records.update(
                    session, owner, rt, deal.id, {"stage": "lost", "lost_reason": "Дорого"}
                )
            records.create(
                session,
                owner,
                records.record_type("interactions"),
                {
                    "counterparty_id": cp_id,
                    "subject": "Звонок",
                    "kind": "call",
                    "status": "done",
                    "starts_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                },
            )
    today = datetime.now(UTC).date()
    starts, ends = date(today.year - 1, 1, 1), today
    with database.read() as session:
        office = _actor(session, "office")
        only = segments.members(session, office, {"kinds": ["client"], "tags": ["vip", "-"]})
        assert 0 < len(only) < len(world["ids"])
        neglected = neglect.neglected(session, office, 30, today=today, kinds=())
        assert neglect.neglected(session, office, 30, today=today, kinds=(), only=only) == [
            n for n in neglected if n.counterparty_id in only
        ]
        scores = completeness.scores(session, office, today)
        assert [
            (s.counterparty_id, s.score)
            for s in completeness.scores(session, office, today, only=only)
        ] == [(s.counterparty_id, s.score) for s in scores if s.counterparty_id in only]
        funnel = pipeline.funnel(session, office, starts, ends, only=only)
        assert funnel.deals == len(only)  # one deal each
        lost = pipeline.lost(session, office, starts, ends, only=only)
        lost_members = [n for n, cp in enumerate(world["ids"]) if cp in only and n % 4 == 1]
        assert sum(r.deals for r in lost) == len(lost_members)
        sources = pipeline.sources(session, office, starts, ends, only=only)
        assert sum(r.new for r in sources) == len(only)
        assert sum(r.deals for r in sources) == len(only)
        now = datetime.now(UTC)
        everyone = pipeline.activity(session, office, starts, ends, now=now)
        assert sum(r.done for r in everyone) == len(world["ids"])
        assert pipeline.activity(session, office, starts, ends, now=now, only=None) == everyone
        within = pipeline.activity(session, office, starts, ends, now=now, only=only)
        assert sum(r.done_by_kind["call"] for r in within) == len(only)
        assert pipeline.activity(session, office, starts, ends, now=now, only=set()) == []
        # A report names the segment it was computed over.
        segment = Segment(id="s1", name="VIP клиенты", criteria={})
        report = reports.in_segment(reports.neglected(session, neglected, 30), segment)
        assert report.title.endswith("— VIP клиенты") and report.about["segment"] == "VIP клиенты"
