"""The demo company: deterministic, the right size, valid by the project's own rules, and realistic.

Tests that load data use the shared ``database`` fixture, so they run on
SQLite (a fresh file under ``tmp_path``) and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from crm import accounts, demo, rules, search, validation
from crm.database import Database
from crm.errors import AlreadyExists, ValidationFailed
from crm.models import (
    Absence,
    Claim,
    Complaint,
    ContactKey,
    ContactPerson,
    Contract,
    Counterparty,
    Deal,
    Interaction,
    Invoice,
    Payment,
    PriceItem,
    Reminder,
    Share,
    SupplierTerms,
    Team,
    User,
)

SMALL = demo.SIZES["small"]
NOW = datetime.combine(demo.DEFAULT_TODAY, datetime.min.time(), tzinfo=UTC).replace(hour=12)

CHECKS: list[tuple[type, rules.Check]] = [
    (Team, rules.check_team),
    (User, rules.check_user),
    (Counterparty, rules.check_counterparty),
    (Share, rules.check_share),
    (ContactPerson, rules.check_contact_person),
    (Deal, rules.check_deal),
    (Interaction, rules.check_interaction),
    (Reminder, rules.check_reminder),
    (Complaint, rules.check_complaint),
    (Claim, rules.check_claim),
    (Absence, rules.check_absence),
    (Contract, rules.check_contract),
    (Invoice, rules.check_invoice),
    (SupplierTerms, rules.check_supplier_terms),
    (PriceItem, rules.check_price_item),
]


@pytest.fixture(scope="module")
def small() -> demo.DemoData:
    return demo.build(SMALL)


@pytest.fixture(scope="module")
def medium() -> demo.DemoData:
    return demo.build(demo.SIZES["medium"])


def dumps(data: demo.DemoData) -> list[dict[str, object]]:
    return [r.model_dump() for _, _, records in data.tables() for r in records]


def counts(data: demo.DemoData) -> dict[str, int]:
    return {name: len(records) for name, _, records in data.tables()}


# ------------------------------------------------------------------ build alone


def test_same_seed_same_data_other_seed_other_data(small: demo.DemoData) -> None:
    again = demo.build(SMALL)
    assert again == small
    assert dumps(again) == dumps(small)
    other = demo.build(SMALL, seed=2)
    assert {c.id for c in other.counterparties}.isdisjoint(c.id for c in small.counterparties)


@pytest.mark.parametrize(
    "size", [SMALL, demo.DemoSize(15, 9, 7, 3, 2), demo.DemoSize(0, 0, 0, 0, 0)]
)
def test_counts_match_the_size(size: demo.DemoSize) -> None:
    data = demo.build(size)
    got = counts(data)
    for trade in (  # follow the clients (see below)
        "sales",
        "sales summaries",
        "payments",
        "contracts",
        "invoices",
        "receivables",
    ):
        got.pop(trade)
    # Every supplier has its terms and a price list of 8 to 14 products (some re-priced).
    suppliers = [c for c in data.counterparties if "supplier" in c.kinds]
    assert got.pop("supplier terms") == len(suppliers)
    assert 8 * len(suppliers) <= got.pop("price items") <= 28 * len(suppliers)
    # One client in fifteen has a complaint, one in ten a claim (at least three of each).
    assert got.pop("absences") == 4  # the same few on every size: a trip, a vacation, …
    assert got.pop("contact rules") == 3  # the manager's: A, B and C
    # Three events when there are clients to ask: an exhibition, a seminar, a promotion ahead.
    buyers_ = [c for c in data.counterparties if {"client", "prospect"} & set(c.kinds)]
    assert got.pop("events") == (3 if buyers_ else 0)
    assert got.pop("event costs") == (6 if buyers_ else 0)
    assert got.pop("event participants") == sum(min(len(buyers_), n) for n in (30, 12, 20))
    assert got.pop("mailings") == (1 if buyers_ else 0)  # a draft to JUNWEX's attendees
    journals = (got.pop("complaints"), got.pop("claims"))
    buyers = [c for c in data.counterparties if {"client", "prospect"} & set(c.kinds)]
    expected = (max(3, size.counterparties // 15), max(3, size.counterparties // 10))
    assert journals == tuple(min(len(buyers), n) for n in expected)
    assert got | {"teams": 0, "users": 0, "shares": 0, "letter templates": 0} == {
        "teams": 0,
        "users": 0,
        "shares": 0,
        "letter templates": 0,
        "counterparties": size.counterparties,
        "contact persons": size.contact_persons,
        "deals": size.deals,
        "interactions": size.interactions,
        "reminders": size.reminders,
    }
    assert [u.login for u in data.users] == [
        "admin",
        "manager",
        "ivanov",
        "petrova",
        "sidorov",
        "kuznetsova",
        "office",
    ]


def test_large_preset_is_the_promised_size() -> None:
    large = demo.SIZES["large"]
    assert (large.counterparties, large.contact_persons, large.interactions) == (
        20_000,
        30_000,
        50_000,
    )
    assert large.deals > 0 and large.reminders > 0
    assert demo.SIZES["medium"].counterparties == 2_000


def test_staff_and_teams(small: demo.DemoData) -> None:
    teams = {t.id: t.name for t in small.teams}
    staff = {u.login: (u.role, teams.get(u.team_id or "")) for u in small.users}
    assert staff["admin"][0] == "admin" and staff["office"][0] == "office"
    assert staff["manager"] == ("manager", "Москва")
    assert staff["ivanov"] == staff["petrova"] == staff["sidorov"] == ("salesperson", "Москва")
    assert staff["kuznetsova"] == ("salesperson", "Санкт-Петербург")
    assert all(u.login.isascii() and not u.full_name.isascii() for u in small.users)


def test_inn_and_kpp_are_valid(medium: demo.DemoData) -> None:
    with_inn = [c for c in medium.counterparties if c.inn]
    assert len(with_inn) > 0.8 * len(medium.counterparties)
    for cp in with_inn:
        assert validation.validate_inn(cp.inn or "") == cp.inn
        if cp.legal_form == "ИП":
            assert len(cp.inn or "") == 12 and cp.kpp is None
        else:
            assert len(cp.inn or "") == 10
            assert cp.kpp is not None and cp.kpp[:4] == (cp.inn or "")[:4] and cp.kpp[4:6] == "01"
            assert validation.validate_kpp(cp.kpp) == cp.kpp


def test_leap_day_birthdays(small: demo.DemoData) -> None:
    leap = [
        p
        for p in small.contact_persons
        if p.birthday and (p.birthday.month, p.birthday.day) == (2, 29)
    ]
    assert len(leap) >= 2


def test_near_duplicates_share_an_inn_or_a_phone_under_another_spelling(
    small: demo.DemoData,
) -> None:
    by_inn: dict[str, list[Counterparty]] = {}
    by_phone: dict[str, list[Counterparty]] = {}
    for cp in small.counterparties:
        if cp.inn:
            by_inn.setdefault(cp.inn, []).append(cp)
        for item in cp.contacts:
            if item["kind"] == "phone":
                by_phone.setdefault(item["value"], []).append(cp)
    inn_pairs = [group for group in by_inn.values() if len(group) > 1]
    phone_pairs = [group for group in by_phone.values() if len({c.id for c in group}) > 1]
    assert inn_pairs and phone_pairs
    for group in inn_pairs + phone_pairs:
        names = {c.legal_name for c in group}
        assert len(names) == len(group), "a near-duplicate is spelled differently"
        assert len({c.owner_id for c in group}) == len(group), "entered by someone else"
    assert any(
        c.legal_name.startswith("Общество с ограниченной ответственностью")
        for group in inn_pairs
        for c in group
    ) or any(
        c.legal_name.startswith("Индивидуальный предприниматель")
        for group in inn_pairs
        for c in group
    )


def test_about_one_percent_near_duplicates(medium: demo.DemoData) -> None:
    inns = Counter(c.inn for c in medium.counterparties if c.inn)
    shared_inns = sum(1 for n in inns.values() if n > 1)
    assert 5 <= shared_inns <= 15


def test_free_mail_and_corporate_addresses(small: demo.DemoData) -> None:
    emails = [
        item["value"]
        for p in small.contact_persons
        for item in p.contacts
        if item["kind"] == "email"
    ]
    assert any(validation.is_free_mail(e) for e in emails)
    assert any(not validation.is_free_mail(e) for e in emails)
    assert len(emails) == len(set(emails))


def test_a_realistic_mix(medium: demo.DemoData) -> None:
    cps = medium.counterparties
    assert {c.legal_form for c in cps} == {"ООО", "АО", "ПАО", "ИП"}
    assert {k for c in cps for k in c.kinds} == {
        "client",
        "prospect",
        "supplier",
        "partner",
        "competitor",
    }
    assert {c.visibility for c in cps} == {"private", "team", "company"}
    assert Counter(c.visibility for c in cps).most_common(1)[0][0] == "private"
    assert len({c.owner_id for c in cps}) >= 4
    assert {"Москва", "Санкт-Петербург", "Казань", "Екатеринбург"} <= {c.region for c in cps}
    assert {"выставка JUNWEX", "сайт", "рекомендация", "Яндекс.Директ", "холодный звонок"} <= {
        c.source for c in cps
    }
    assert all(not c.website or c.website.startswith("https://") for c in cps)
    phones = [i["value"] for c in cps for i in c.contacts if i["kind"] == "phone"]
    assert any(p.startswith("+79") for p in phones) and any(p.startswith("+7495") for p in phones)
    assert any(p.startswith("+7812") for p in phones)

    deals = medium.deals
    assert {d.stage for d in deals} == {
        "new",
        "qualification",
        "proposal",
        "negotiation",
        "won",
        "lost",
    }
    assert all(d.lost_reason for d in deals if d.stage == "lost")
    assert all(
        d.closed_volume is not None and d.closed_volume > 0 for d in deals if d.stage == "won"
    )
    assert all(d.amount is not None and d.amount > 0 for d in deals)

    items = medium.interactions
    assert any(i.status == "planned" and i.starts_at > NOW for i in items)
    assert min(i.starts_at for i in items).year == demo.DEFAULT_TODAY.year - 2
    assert {r.status for r in medium.reminders} == {"open", "done", "snoozed"}
    assert len(medium.shares) >= 2


def test_audit_times_are_in_the_past_and_ordered(small: demo.DemoData) -> None:
    for _, _, records in small.tables():
        for record in records:
            if isinstance(record, Payment):  # a bank's document, not a record people edit
                assert record.paid_on < NOW.date() and record.imported_at <= NOW
                continue
            assert record.created_at <= record.updated_at <= NOW
            assert record.created_at.tzinfo is not None


# ------------------------------------------------------------------ loaded into a database


@pytest.fixture
def loaded(database: Database, small: demo.DemoData) -> Database:
    demo.load(database, small)
    return database


def test_every_record_passes_its_rules_unchanged(loaded: Database, small: demo.DemoData) -> None:
    """What is stored is what was built, and each record is a fixed point of its check."""
    built = {(type(r), r.id): r.model_dump() for _, _, records in small.tables() for r in records}
    with loaded.read() as session:
        admin = session.execute(select(User).where(col(User.login) == "admin")).scalar_one()
        for model, check in CHECKS:
            stored = list(session.execute(select(model)).scalars())
            assert len(stored) == len([k for k in built if k[0] is model])
            for record in stored:
                before = record.model_dump()
                rules.run_check(check, session, admin, record)
                assert record.model_dump() == before, (
                    f"{model.__name__} {record.id} changed by its check"
                )
                if model is User:
                    before.pop("password_hash")
                expected = built[(model, record.id)]
                expected.pop("password_hash", None)
                assert before == expected


def test_every_user_logs_in_with_the_demo_password(loaded: Database, small: demo.DemoData) -> None:
    for user in small.users:
        with loaded.write() as session:
            assert (
                accounts.verify_password(session, user.login, demo.DEMO_PASSWORD, "127.0.0.1")
                is not None
            )


def test_search_finds_a_counterparty_by_a_phone_typed_any_way(
    loaded: Database, small: demo.DemoData
) -> None:
    cp = next(
        c for c in small.counterparties if c.legal_form != "ИП" and c.contacts[0]["value"][2] != "9"
    )
    n = cp.contacts[0]["value"][2:]  # national number, e.g. 4951234567
    person = next(
        p
        for p in small.contact_persons
        if any(i["kind"] == "email" for i in p.contacts) and p.counterparty_id != cp.id
    )
    email = next(i["value"] for i in person.contacts if i["kind"] == "email")
    admin = next(u for u in small.users if u.role == "admin")
    with loaded.read() as session:

        def found(q: str) -> set[str]:
            return set(
                session.execute(
                    select(col(Counterparty.id)).where(search.counterparty_condition(q, admin))
                ).scalars()
            )

        assert cp.id in found(f"8 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}")
        assert found(email.upper()) == {person.counterparty_id}
        assert cp.id in found(cp.inn or "")
        assert cp.id in found((cp.short_name or "").upper())
        keys: int = session.execute(select(func.count()).select_from(ContactKey)).scalar_one()
    indexed: list[Counterparty | ContactPerson] = [*small.counterparties, *small.contact_persons]
    assert keys == sum(len(search.keys_for(r)) for r in indexed)


def test_a_near_duplicate_phone_finds_both(loaded: Database, small: demo.DemoData) -> None:
    admin = next(u for u in small.users if u.role == "admin")
    with loaded.read() as session:
        shared = (
            session.execute(
                select(col(ContactKey.key))
                .where(col(ContactKey.kind) == "phone")
                .group_by(col(ContactKey.key))
                .having(func.count(func.distinct(col(ContactKey.counterparty_id))) > 1)
            )
            .scalars()
            .first()
        )
        assert shared is not None
        assert (
            len(
                session.execute(
                    select(col(Counterparty.id)).where(
                        search.counterparty_condition("+" + shared, admin)
                    )
                ).all()
            )
            >= 2
        )


def test_progress_is_reported_per_batch_in_dependency_order(
    database: Database, small: demo.DemoData
) -> None:
    calls: list[tuple[str, int, int]] = []
    demo.load(database, small, lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == [
        "teams",
        "users",
        "counterparties",
        "shares",
        "contact persons",
        "events",
        "deals",
        "interactions",
        "reminders",
        "letter templates",
        "sales",
        "sales summaries",
        "payments",
        "complaints",
        "claims",
        "absences",
        "contracts",
        "invoices",
        "receivables",
        "contact rules",
        "supplier terms",
        "price items",
        "event costs",
        "event participants",
        "mailings",
        "contact keys",
    ]
    for stage in stages:
        done, total = [c for c in calls if c[0] == stage][-1][1:]
        assert done == total


def test_loading_twice_is_refused_and_changes_nothing(
    loaded: Database, small: demo.DemoData
) -> None:
    def rows(session: Session) -> int:
        return session.execute(select(func.count()).select_from(Counterparty)).scalar_one()

    with loaded.read() as session:
        before = rows(session)
    with pytest.raises(AlreadyExists):
        demo.load(loaded, demo.build(SMALL, seed=3))
    with loaded.read() as session:
        assert rows(session) == before == SMALL.counterparties


def test_a_real_company_with_a_moscow_team_is_left_alone(database: Database) -> None:
    with database.write() as session:
        accounts.create_user(
            session, login="boss", full_name="Настоящий Директор", role="admin", team="Москва"
        )
    with pytest.raises(AlreadyExists, match="Москва"):
        demo.generate(database)
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(Counterparty)).scalar_one() == 0


def test_generate_builds_and_loads_a_named_size(database: Database) -> None:
    with pytest.raises(ValidationFailed):
        demo.generate(database, "huge")
    data = demo.generate(database, "small", seed=5)
    with database.read() as session:
        assert session.execute(select(func.count()).select_from(Interaction)).scalar_one() == len(
            data.interactions
        )


def test_each_salesperson_signs_in_to_a_days_work(database: Database) -> None:
    """Dated today, the demo's agenda is not empty: today's call and meeting, a reminder, open deals."""
    from datetime import date, timedelta
    from zoneinfo import ZoneInfo

    from crm import agenda

    today = date(2026, 12, 2)
    demo.load(database, demo.build(demo.SIZES["small"], 1, today))
    moscow = ZoneInfo("Europe/Moscow")
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 9:00 in Moscow
    with database.read() as session:
        for login in ("ivanov", "petrova", "sidorov", "kuznetsova"):
            user = session.execute(select(User).where(col(User.login) == login)).scalar_one()
            day = agenda.for_user(session, user, moscow, now=now)
            assert [(i.kind, i.starts_at.astimezone(moscow).hour) for i, _ in day.planned][:2] == [
                ("call", 11),
                ("meeting", 15),
            ], login
            assert any(
                r.title == "Выставить счёт" and r.due_at.astimezone(moscow).date() == today
                for r, _ in day.reminders
            ), login
            open_deals = session.execute(
                select(func.count())
                .select_from(Deal)
                .where(col(Deal.owner_id) == user.id, col(Deal.stage).not_in(["won", "lost"]))
            ).scalar_one()
            assert open_deals >= 2, login
            assert all(i.starts_at >= now - timedelta(hours=12) for i, _ in day.planned)


def test_two_years_of_sales_shaped_like_a_wholesalers(medium: demo.DemoData) -> None:
    """Pareto, seasons, clients that start, stop, grow and fade; every sale's client is a client."""
    kinds = {c.id: c.kinds for c in medium.counterparties}
    assert all("client" in kinds[s.counterparty_id] for s in medium.sales)
    months = sorted({s.sold_on.replace(day=1) for s in medium.sales})
    assert len(months) == demo.SALES_MONTHS and months[-1] < demo.DEFAULT_TODAY
    by_client: dict[str, Decimal] = {}
    for sale in medium.sales:
        by_client[sale.counterparty_id] = (
            by_client.get(sale.counterparty_id, Decimal(0)) + sale.revenue
        )
    ranked = sorted(by_client.values(), reverse=True)
    top_fifth = sum(ranked[: len(ranked) // 5])
    assert top_fifth / sum(ranked) > Decimal("0.55")  # a fifth of the clients bring most
    per_month: dict[int, Decimal] = {}
    for sale in medium.sales:
        per_month[sale.sold_on.month] = per_month.get(sale.sold_on.month, Decimal(0)) + sale.revenue
    assert per_month[12] > per_month[7] * Decimal("1.2")  # the New Year's season
    last_buy: dict[str, date] = {}
    for sale in medium.sales:
        last_buy[sale.counterparty_id] = max(
            last_buy.get(sale.counterparty_id, sale.sold_on), sale.sold_on
        )
    stopped = [d for d in last_buy.values() if d < date(2026, 3, 1)]
    assert 0.03 < len(stopped) / len(last_buy) < 0.3  # some clients were lost
    assert all(s.cost is not None and 0 < s.cost < s.revenue for s in medium.sales)
    # One summary per client, and its totals are the client's sales.
    summaries = {s.counterparty_id: s for s in medium.sales_summaries}
    assert set(summaries) == set(by_client)
    some = next(iter(summaries))
    kopecks = sum(int(entry.split(",")[2]) for entry in summaries[some].months.split(";"))
    assert Decimal(kopecks).scaleb(-2) == by_client[some]
    paid = {p.key.removeprefix("demo-") for p in medium.payments}
    assert len(paid) / len(medium.sales) > 0.9


def test_invoices_mostly_paid_a_few_overdue(medium: demo.DemoData) -> None:
    """One invoice per shipment, due by the client's contract; most are paid, a realistic few
    overdue, and the receivables are what settling the payments leaves open."""
    from crm import invoices, receivables

    assert len(medium.invoices) == len(medium.sales)
    by_sale = {(s.counterparty_id, s.sold_on, s.revenue) for s in medium.sales}
    assert all((i.counterparty_id, i.issued_on, i.amount) in by_sale for i in medium.invoices)
    clients = {s.counterparty_id for s in medium.sales}
    contracts = {c.counterparty_id: c for c in medium.contracts}
    assert 0.75 < len(contracts) / len(clients) < 0.95
    assert {c.payment_days for c in contracts.values()} == {0, 14, 30, 45}
    for invoice in medium.invoices[:500]:
        contract = contracts.get(invoice.counterparty_id)
        days = contract.payment_days if contract else invoices.DEFAULT_PAYMENT_DAYS
        assert (invoice.due_on - invoice.issued_on).days == days
        assert invoice.contract_number == (contract.number if contract else None)
    paid = [i for i in medium.invoices if i.paid_on is not None]
    assert len(paid) / len(medium.invoices) > 0.9
    assert all(i.paid_amount == i.amount for i in paid)
    today = demo.DEFAULT_TODAY
    overdue = {i.counterparty_id for i in medium.invoices if i.paid_on is None and i.due_on < today}
    assert 0.05 < len(overdue) / len(clients) < 0.4  # some clients are late, most are not
    owed = {r.counterparty_id: r for r in medium.receivables}
    assert set(owed) == {i.counterparty_id for i in medium.invoices if i.paid_on is None}
    some = next(iter(owed.values()))
    mine = [i for i in medium.invoices if i.counterparty_id == some.counterparty_id]
    assert some.owed == sum(i.amount - i.paid_amount for i in mine)
    # Chronic late payers: invoices more than 90 days overdue.
    late = [i for i in medium.invoices if i.paid_on is None and (today - i.due_on).days > 90]
    assert late and len({i.counterparty_id for i in late}) < len(clients) * 0.15
    assert receivables.ageing_bucket(91) == 3


def test_demo_deals_have_their_stage_history() -> None:
    data = demo.build(SMALL)
    for deal in data.deals:
        stages = [s["stage"] for s in deal.stages]
        assert stages[0] == "new" and stages[-1] == deal.stage, stages
        moments = [s["at"] for s in deal.stages]
        assert moments == sorted(moments)
        assert (deal.closed_on is not None) == (deal.stage in ("won", "lost"))
    lost = [d for d in data.deals if d.stage == "lost"]
    # Lost deals drop out at different stages, so the funnel shows where.
    assert len({len(d.stages) for d in lost}) > 1


def test_demo_events_earned_something() -> None:
    data = demo.build(SMALL)
    (fair,) = [e for e in data.events if e.kind == "exhibition"]
    assert sum(c.amount for c in data.event_costs if c.event_id == fair.id) == 605_000
    came = {
        p.counterparty_id
        for p in data.event_participants
        if p.event_id == fair.id and p.status == "attended"
    }
    assert came, "nobody attended the exhibition"
    assert any(d.event_id == fair.id for d in data.deals), "no deal came of the exhibition"
    assert all(d.counterparty_id in came for d in data.deals if d.event_id == fair.id)


def test_the_readmes_search_example_names_a_supplier_of_ivanov_and_its_phone() -> None:
    """The README's example names a counterparty of the demo and the phone to type: the demo that
    ``satchel demo`` makes today (small, seed 1) must hold it, or the new user finds nothing."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    named = re.search(
        r"# in the demo, (.+?) \(a supplier, one of ivanov's counterparties\) has (\+7[0-9 -]+)",
        readme,
    )
    typed = re.search(r"--data-urlencode 'q=([^']+)'", readme)
    assert named and typed, "the README's search example changed shape; update this test"
    name, phone = named.group(1), re.sub(r"\D", "", named.group(2))
    data = demo.build(SMALL, seed=1, today=date.today())
    ivanov = next(u for u in data.users if u.login == "ivanov")
    [found] = [c for c in data.counterparties if c.legal_name == name]
    assert found.owner_id == ivanov.id and "supplier" in found.kinds
    assert phone in {re.sub(r"\D", "", c["value"]) for c in found.contacts if c["kind"] == "phone"}
    # What the user types: the trunk 8 for the country's 7, then the number's beginning.
    digits = re.sub(r"\D", "", typed.group(1))
    assert digits.startswith("8") and phone.startswith("7" + digits[1:])
