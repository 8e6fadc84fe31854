"""A made-up but believable Russian jewellery wholesaler, for trying Satchel out and for load tests.

``build(size, seed, today)`` is pure: the same arguments give equal records,
ids and timestamps included, and every record already satisfies its
``crm.rules.check_*`` function (derived fields such as ``search_name`` and
``Reminder.counterparty_id`` are filled the way the rules fill them).
``load`` writes them into an empty database together with the derived
``ContactKey`` rows, in one transaction, so a failed load leaves nothing behind.
Every demo user logs in with ``DEMO_PASSWORD``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Table, insert, select
from sqlmodel import SQLModel, col

from crm import accounts, analytics, changes, invoices, pipeline, search, validation
from crm.database import Database
from crm.demo_words import (
    ADJECTIVES,
    BRANDS,
    CITIES,
    CP_NOTES,
    DEAL_DAYS,
    DEAL_KINDS,
    DEAL_STAGES,
    FEMALE,
    FORMS,
    FREE_MAIL,
    FULL_FORMS,
    GOODS,
    IMPORTANCE,
    INDUSTRIES,
    INTERACTION_KINDS,
    KINDS,
    LOST_REASONS,
    MALE,
    MOBILE_CODES,
    NOUNS,
    OCCASIONS,
    OUR_DOMAIN,
    PATRONYMICS,
    PERSON_NOTES,
    POSITIONS,
    PREFIX_LIST,
    PREFIXES,
    REMINDER_STATUS,
    REMINDER_SUBJECTS,
    REMINDER_TITLES,
    RESULTS,
    SEGMENTS,
    SOLE_TRADER_INDUSTRIES,
    SOURCES,
    STAGES,
    SUBJECTS,
    SUFFIXES,
    SURNAMES,
    TAGS,
    TWO_YEARS,
    USERS,
    VISIBILITY,
    City,
    feminine,
    latin,
)
from crm.errors import AlreadyExists, ValidationFailed
from crm.models import (
    Absence,
    Claim,
    Complaint,
    ContactKey,
    ContactPerson,
    ContactRule,
    Counterparty,
    Deal,
    EventCost,
    EventParticipant,
    Interaction,
    LetterTemplate,
    Mailing,
    MarketingEvent,
    Payment,
    PriceItem,
    Reminder,
    Sale,
    SalesSummary,
    Share,
    SupplierTerms,
    Team,
    User,
)
from crm.models.base import construct
from crm.models.enums import ContractStatus
from crm.models.trade import Contract, Invoice, Receivable
from crm.trade import summary_of

DEMO_PASSWORD = "demo-password"
# Sales history of the demo (issue 14): two years, by product group, priced by season.
SALES_MONTHS = 24
PRODUCT_GROUPS = ("Кольца", "Серьги", "Цепи", "Браслеты", "Подвески", "Часы")
# Jewellery sells by season: New Year, 8 March, St Valentine's; the summer is quiet.
SEASON = {
    1: 0.85,
    2: 1.05,
    3: 1.12,
    4: 0.95,
    5: 0.97,
    6: 0.93,
    7: 0.9,
    8: 0.92,
    9: 1.0,
    10: 1.02,
    11: 1.05,
    12: 1.25,
}
OUR_NAME = "ООО «Сатчел Трейд»"
# The clients' contracts (most have one): payment deferment in days, and how often each is agreed.
PAYMENT_DAYS = ((0, 0.15), (14, 0.35), (30, 0.35), (45, 0.15))
# How clients pay their invoices: (share of clients, how), see _Builder.books.
PUNCTUAL, SLOW, CHRONIC = 0.75, 0.17, 0.08
DEFAULT_TODAY = date(2026, 11, 1)
BATCH_SIZE = 2_000

Progress = Callable[[str, int, int], None]
M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")


@dataclass(frozen=True)
class DemoSize:
    """How many records of each kind to make; the users and teams are always the same few."""

    counterparties: int
    contact_persons: int
    interactions: int
    deals: int
    reminders: int


SIZES: dict[str, DemoSize] = {
    "small": DemoSize(40, 60, 120, 48, 15),
    "medium": DemoSize(2_000, 3_000, 5_000, 800, 500),
    "large": DemoSize(20_000, 30_000, 50_000, 8_000, 5_000),
}


@dataclass
class DemoData:
    """The generated records; the field order is the order foreign keys need them inserted in."""

    teams: list[Team]
    users: list[User]
    counterparties: list[Counterparty]
    shares: list[Share]
    contact_persons: list[ContactPerson]
    # Before the deals: a deal names the event that brought it.
    events: list[MarketingEvent]
    deals: list[Deal]
    interactions: list[Interaction]
    reminders: list[Reminder]
    letter_templates: list[LetterTemplate]
    sales: list[Sale] = field(default_factory=list)
    sales_summaries: list[SalesSummary] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    absences: list[Absence] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    receivables: list[Receivable] = field(default_factory=list)
    contact_rules: list[ContactRule] = field(default_factory=list)
    supplier_terms: list[SupplierTerms] = field(default_factory=list)
    price_items: list[PriceItem] = field(default_factory=list)
    event_costs: list[EventCost] = field(default_factory=list)
    event_participants: list[EventParticipant] = field(default_factory=list)
    mailings: list[Mailing] = field(default_factory=list)

    def tables(self) -> list[tuple[str, type[SQLModel], list[Any]]]:
        """(stage name, model, records) in insertion order."""
        models: tuple[type[SQLModel], ...] = (
            Team,
            User,
            Counterparty,
            Share,
            ContactPerson,
            MarketingEvent,
            Deal,
            Interaction,
            Reminder,
            LetterTemplate,
            Sale,
            SalesSummary,
            Payment,
            Complaint,
            Claim,
            Absence,
            Contract,
            Invoice,
            Receivable,
            ContactRule,
            SupplierTerms,
            PriceItem,
            EventCost,
            EventParticipant,
            Mailing,
        )
        return [
            (f.name.replace("_", " "), model, getattr(self, f.name))
            for f, model in zip(fields(self), models, strict=True)
        ]


# The demo's marketing events: name, kind, days ago it started, days it ran, place, budget,
# cost lines, how many clients were asked.
EVENTS = (
    (
        "JUNWEX Москва",
        "exhibition",
        75,
        4,
        "Москва, ВДНХ, павильон 57",
        650_000,
        (
            ("Стенд 18 м² и застройка", 320_000),
            ("Печать каталогов", 85_000),
            ("Командировки", 140_000),
            ("Подарки клиентам", 60_000),
        ),
        30,
    ),
    (
        "Семинар «Тренды ювелирной розницы»",
        "seminar",
        40,
        1,
        "Офис, переговорная",
        50_000,
        (("Кофе-брейк", 18_000), ("Раздаточные материалы", 12_000)),
        12,
    ),
    ("Весенняя промо-акция", "promotion", -20, 10, None, 30_000, (), 20),
)


# ------------------------------------------------------------------ the builder


@dataclass
class _Company:
    """What the builder remembers about a counterparty to make its people, deals and duplicates.

    Plain copies of a few fields: reading an instrumented attribute costs a
    microsecond, and the builder reads these hundreds of thousands of times.
    """

    record: Counterparty
    core: str  # the name without legal form and quotes, or the ИП's full name
    city: City
    owner_id: str
    created_at: datetime
    activity: float  # relative share of people, deals and interactions
    domain: str | None = None
    himself: tuple[str, str, str] | None = None  # the ИП: surname, first name, patronymic
    people: list[str] = field(default_factory=list)  # ids
    deals: list[str] = field(default_factory=list)  # ids


def _stage_history(
    stage: str, created: datetime, end: datetime, by: str | None
) -> list[dict[str, Any]]:
    """A demo deal's moves, as crm.rules would have kept them: from ``new`` through the open stages
    to ``stage`` (a lost deal drops out at some open stage), spread between ``created`` and ``end``.
    Drawn from its own generator, so the rest of the demo stays as it was."""
    rng = random.Random(created.timestamp())
    order = list(pipeline.OPEN_STAGES)
    if stage == "won":
        path = [*order, "won"]
    elif stage == "lost":
        path = [*order[: rng.randint(1, len(order))], "lost"]
    else:
        path = order[: order.index(stage) + 1] if stage in order else [stage]
    span = (end - created).total_seconds()
    moments = sorted(rng.random() * span for _ in path[1:])
    at = [created, *(created + timedelta(seconds=int(m)) for m in moments)]
    if stage in ("won", "lost"):
        at[-1] = end
    return [
        {"stage": s, "at": t.isoformat(timespec="seconds").replace("+00:00", "Z"), "by": by}
        for s, t in zip(path, at, strict=True)
    ]


class _Builder:
    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        # Midday UTC of ``today``: every created/updated time is at or before it.
        self.now = datetime.combine(today, time(12, 0), tzinfo=UTC)
        self.used: set[str] = set()  # INNs, phones, e-mails, domains and names already handed out
        self.companies: list[_Company] = []
        self.data = DemoData([], [], [], [], [], [], [], [], [], [])

    # ---------------------------------------------------------------- helpers

    # random.choice and randint cost a few microseconds each in pure Python; these
    # are a fraction of that and, with a fixed seed, just as repeatable.
    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.rng.random() * len(items))]

    def between(self, low: int, high: int) -> int:
        """A whole number from ``low`` to ``high``, both included."""
        return low + int(self.rng.random() * (high - low + 1))

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("the word lists are too small for this many records")

    def digits(self, count: int) -> str:
        return f"{int(self.rng.random() * 10**count):0{count}d}"

    def at_work(self, days_from_today: int) -> datetime:
        """A moment of a Moscow working day (9:00–18:00, UTC+3) that many days from today, in UTC.

        Weekends move away from today, so a past day stays past and a future one future.
        """
        day = self.now.date() + timedelta(days=days_from_today)
        if day.weekday() >= 5:
            day += (
                timedelta(days=7 - day.weekday())
                if days_from_today > 0
                else -timedelta(days=day.weekday() - 4)
            )
        minutes = 5 * self.between(9 * 12, 18 * 12 - 1) - 3 * 60
        return datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=minutes)

    def past(self, since: datetime, max_days: int) -> datetime:
        """A working moment between ``since`` (or ``max_days`` ago, whichever is later) and yesterday."""
        span = max(1, min(max_days, (self.now - since).days))
        return self.at_work(-self.between(1, span))

    def audit(self, created: datetime, by: str | None) -> dict[str, Any]:
        """id and audit fields of a record made at ``created``, maybe edited since."""
        updated, version = created, 1
        if created < self.now and self.rng.random() < 0.4:
            updated = created + timedelta(
                seconds=int((self.now - created).total_seconds() * self.rng.random())
            )
            version = self.between(2, 6)
        return {
            "id": self.uid(),
            "created_at": created,
            "created_by": by,
            "updated_at": updated,
            "updated_by": by,
            "version": version,
        }

    def phone(self, codes: list[str]) -> str:
        """A fresh number in E.164 under one of ``codes`` (area or mobile); made, not parsed, for speed."""

        def make() -> str:
            code = self.pick(codes)
            return "+7" + code + self.digits(10 - len(code))

        return self.unique(make)

    def inn(self, region: str, prefix_length: int) -> str:
        """A fresh INN of a region: 9 digits + 1 check digit (company) or 10 + 2 (sole trader)."""

        def make() -> str:
            prefix = region + f"{self.between(1, 51):02d}" + self.digits(prefix_length - 4)
            return prefix + validation.inn_check_digits(prefix)

        return self.unique(make)

    def person_name(self) -> tuple[str, str, str]:
        rng = self.rng
        surname, patronymic = self.pick(SURNAMES), self.pick(PATRONYMICS)
        if rng.random() < 0.5:
            return surname, self.pick(MALE), patronymic
        return feminine(surname), self.pick(FEMALE), patronymic[:-2] + "на"

    def address(self, city: City, *, home: bool = False) -> str:
        rng = self.rng
        parts = [
            self.pick(city.postcodes) + self.digits(3),
            f"г. {city.name}",
            self.pick(city.streets),
            f"д. {self.between(1, 120)}",
        ]
        if rng.random() < 0.2:
            parts.append(self.pick(("корп. ", "стр. ")) + str(self.between(1, 5)))
        if home:
            parts.append(f"кв. {self.between(1, 250)}")
        elif rng.random() < 0.7:
            parts.append(f"оф. {self.between(1, 420)}")
        return ", ".join(parts)

    def free_mail(self, first: str, surname: str) -> str:
        rng = self.rng
        first_l, surname_l = latin(first), latin(surname)
        domain = FREE_MAIL.draw(rng)
        local = self.pick(
            (f"{surname_l}.{first_l[0]}", f"{first_l}.{surname_l}", f"{first_l[0]}{surname_l}")
        )
        return self.unique(
            lambda: f"{local}{self.pick(('', self.between(70, 99), self.between(1, 999)))}@{domain}"
        )

    # ---------------------------------------------------------------- records

    def templates(self) -> None:
        """The office's letter templates, so that "New letter" offers them from the first day."""
        since = self.now - timedelta(days=200)
        office = next(u.id for u in self.data.users if u.login == "office")
        for name, subject, body in LETTER_TEMPLATES:
            self.data.letter_templates.append(
                construct(
                    LetterTemplate,
                    name=name,
                    subject=subject,
                    body=body,
                    **self.audit(since, office),
                )
            )

    def staff(self) -> None:
        since = self.now - timedelta(days=3 * 365)
        teams = {
            name: construct(Team, name=name, **self.audit(since, None))
            for name in ("Москва", "Санкт-Петербург")
        }
        self.data.teams.extend(teams.values())
        for login, full_name, role, team in USERS:
            self.data.users.append(
                construct(
                    User,
                    login=login,
                    full_name=full_name,
                    role=role,
                    email=f"{login}@{OUR_DOMAIN}",
                    team_id=teams[team].id if team else None,
                    **self.audit(since, None),
                )
            )
        by_login = {u.login: u.id for u in self.data.users}
        self.team_of = {u.id: u.team_id for u in self.data.users}
        self.manager = by_login["manager"]
        self.spb = by_login["kuznetsova"]
        self.sellers = [by_login[login] for login in ("ivanov", "petrova", "sidorov", "kuznetsova")]
        self.absences(by_login)
        self.contact_rules()

    def contact_rules(self) -> None:
        """The manager's contact rules: A clients every 14 days, B every 30, C every 60 (ids from
        their own generator, so the rest of the demo stays as it was)."""
        at = self.now - timedelta(days=90)
        for abc, days in (("A", 14), ("B", 30), ("C", 60)):
            self.data.contact_rules.append(
                construct(
                    ContactRule,
                    id=str(uuid.UUID(int=random.Random(f"rule {abc}").getrandbits(128), version=4)),
                    abc_class=abc,
                    days=days,
                    kinds=[],
                    created_at=at,
                    created_by=self.manager,
                    updated_at=at,
                    updated_by=self.manager,
                    version=1,
                )
            )

    def absences(self, by_login: dict[str, str]) -> None:
        """Something for the whereabouts board this week and next: a trip from today, a vacation
        from next week (Ivanov covers for Sidorov: he sees and works Sidorov's clients those two
        weeks), a sick leave last week, a day off the day after tomorrow."""
        today = self.now.date()
        for login, kind, start, length, city, substitute in (
            ("petrova", "trip", 0, 3, "Казань", None),
            ("sidorov", "vacation", 7 - today.weekday(), 14, None, "ivanov"),
            ("kuznetsova", "sick_leave", -7, 3, None, None),
            ("ivanov", "day_off", 2, 1, None, None),
        ):
            first = today + timedelta(days=start)
            self.data.absences.append(
                construct(
                    Absence,
                    user_id=by_login[login],
                    kind=kind,
                    starts_on=first,
                    ends_on=first + timedelta(days=length - 1),
                    city=city,
                    notes=None,
                    substitute_id=by_login[substitute] if substitute else None,
                    **self.audit(
                        datetime.combine(min(first, today) - timedelta(days=10), time(9), UTC),
                        by_login[login],  # each enters their own (the rules let them)
                    ),
                )
            )

    def company_name(self, city: str) -> tuple[str, str, str]:
        """(name inside the quotes, short name, words for the web domain), unique within a city."""
        rng = self.rng
        for attempt in range(1000):
            brand = (
                self.pick(BRANDS)
                if rng.random() < 0.5
                else f"{self.pick(ADJECTIVES)} {self.pick(NOUNS)}"
            )
            if attempt > 20:  # the city has most names already: "Восток-17" is a real Russian habit
                brand += f"-{self.between(2, 99)}"
            style = rng.random()
            if style < 0.45:
                prefix = self.pick(PREFIX_LIST)
                core, short = f"{prefix} „{brand}“", f"{prefix} «{brand}»"
                # "Торговый дом „Восток“" → td-vostok.ru
                word = "".join(w[0] for w in latin(prefix).split("-")) + " " + brand
            elif style < 0.8:
                core = short = word = brand + self.pick(SUFFIXES)
            else:
                core, short, word = brand, f"{brand}, {city}", brand
            key = f"{validation.fold_text(core)}|{city}"
            if key not in self.used:
                self.used.add(key)
                return core, short, word
        raise RuntimeError("the word lists are too small for this many records")

    def domain(self, word: str, city: City) -> str:
        """A fresh .ru domain: "almaz.ru", else "almaz-kaz.ru", else "almaz-kaz3.ru" and so on."""
        base = latin(word)
        candidate, number = base, 1
        while f"{candidate}.ru" in self.used:
            number += 1
            candidate = f"{base}-{latin(city.name)[:3]}" + (str(number) if number > 2 else "")
        self.used.add(f"{candidate}.ru")
        return f"{candidate}.ru"

    def counterparty(self) -> None:
        rng = self.rng
        city, form = CITIES.draw(rng), FORMS.draw(rng)
        kinds = [KINDS.draw(rng)]
        if rng.random() < 0.04:
            kinds.append("supplier" if kinds[0] != "supplier" else "client")
        stage = STAGES.get(kinds[0], STAGES["other"]).draw(rng)
        mobile = self.phone(MOBILE_CODES)
        himself: tuple[str, str, str] | None = None
        domain: str | None = None
        inn: str | None
        kpp: str | None = None
        contacts: list[dict[str, Any]] = []
        if form == "ИП":
            himself = surname, first, patronymic = self.person_name()
            core = f"{surname} {first} {patronymic}"
            legal, short = f"ИП {core}", f"ИП {surname} {first[0]}. {patronymic[0]}."
            inn = self.inn(city.inn_region, 10)
            industry = self.pick(SOLE_TRADER_INDUSTRIES)
            contacts.append({"kind": "phone", "value": mobile})
            if rng.random() < 0.6:
                contacts.append({"kind": "email", "value": self.free_mail(first, surname)})
        else:
            core, short, word = self.company_name(city.name)
            legal = f"{form} «{core}»"
            inn = self.inn(city.inn_region, 9)
            kpp = inn[:4] + "01" + self.pick(("001", "001", "001", "002"))
            domain = self.domain(word, city)
            industry = PREFIXES.get(core.split(" „")[0]) or self.pick(
                INDUSTRIES.get(kinds[0], INDUSTRIES["client"])
            )
            contacts.append(
                {
                    "kind": "phone",
                    "value": self.phone(city.area_codes),
                    "note": self.pick(("приёмная", "офис")),
                }
            )
            if rng.random() < 0.5:
                contacts.append({"kind": "phone", "value": mobile, "note": "отдел закупок"})
            contacts.append(
                {
                    "kind": "email",
                    "value": f"{self.pick(('info', 'info', 'zakaz', 'opt'))}@{domain}",
                }
            )
        if kinds[0] == "prospect" and rng.random() < 0.15:
            inn = kpp = None  # a lead whose details nobody has asked for yet
        if city.name == "Санкт-Петербург" and rng.random() < 0.8:
            owner = self.spb  # the Petersburg team works its own city
        else:
            owner = self.pick(self.sellers) if rng.random() < 0.9 else self.manager
        legal_address = self.address(city, home=form == "ИП")
        roll = rng.random()
        record = construct(
            Counterparty,
            kinds=kinds,
            legal_form=form,
            legal_name=legal,
            short_name=short,
            inn=inn,
            kpp=kpp,
            legal_address=legal_address,
            actual_address=legal_address
            if roll < 0.6
            else self.address(city)
            if roll < 0.9
            else None,
            contacts=contacts,
            website=f"https://{domain}" if domain and rng.random() < 0.6 else None,
            industry=industry,
            region=city.name,
            segment=self.pick(SEGMENTS),
            tags=sorted(rng.sample(TAGS, self.pick((0, 0, 1, 1, 2)))),
            source=SOURCES.draw(rng),
            owner_id=owner,
            stage=stage,
            visibility=VISIBILITY.draw(rng),
            notes=self.pick(CP_NOTES) if rng.random() < 0.3 else None,
            search_name=validation.fold_text(f"{legal} {short or ''}"),
            **self.audit(self.at_work(-self.between(30, 1500)), owner),
        )
        activity = {"client": 5.0, "prospect": 2.0, "supplier": 2.0, "partner": 1.0}.get(
            kinds[0], 0.2
        )
        self.remember(
            record,
            core,
            city,
            activity * (0.5 if stage in ("dormant", "lost") else 1.0),
            domain=domain,
            himself=himself,
        )

    def remember(
        self, record: Counterparty, core: str, city: City, activity: float, **more: Any
    ) -> None:
        self.data.counterparties.append(record)
        self.companies.append(
            _Company(
                record,
                core,
                city,
                record.owner_id or self.manager,
                record.created_at,
                activity,
                **more,
            )
        )

    def near_duplicate(self, original: _Company, *, same_inn: bool) -> None:
        """The same company entered again by someone else, its name spelled differently.

        With ``same_inn`` it shares the INN and spells the legal form out with
        straight quotes; otherwise it shares the first phone, shouts the name
        and has no INN.
        """
        src = original.record
        form = src.legal_form or "ООО"
        plain = original.core.replace("„", "").replace("“", "")
        if same_inn:
            legal = f"{FULL_FORMS[form]} " + (plain if form == "ИП" else f'"{plain}"')
            inn, kpp = src.inn, src.kpp
            contacts = [{"kind": "phone", "value": self.phone(MOBILE_CODES)}]
            short = (src.short_name or plain).lower()
        else:
            legal = f"{form} " + (plain.upper() if form == "ИП" else f'"{plain.upper()}"')
            inn = kpp = short = None
            contacts = [{"kind": "phone", "value": src.contacts[0]["value"]}]
        owner = self.pick([s for s in self.sellers if s != original.owner_id])
        record = construct(
            Counterparty,
            kinds=["prospect"],
            legal_form=form,
            legal_name=legal,
            short_name=short,
            inn=inn,
            kpp=kpp,
            contacts=contacts,
            industry=src.industry,
            region=src.region,
            segment=src.segment,
            tags=[],
            source=self.pick(("холодный звонок", "сайт", "входящий звонок")),
            owner_id=owner,
            stage="lead",
            visibility="private",
            search_name=validation.fold_text(f"{legal} {short or ''}"),
            **self.audit(self.past(original.created_at, 400), owner),
        )
        self.remember(record, original.core, original.city, 0.5)

    def share(self, company: _Company) -> None:
        rng = self.rng
        user_id = team_id = None
        if rng.random() < 0.6:
            user_id = self.pick([s for s in self.sellers if s != company.owner_id])
        else:
            team_id = self.pick(
                [t.id for t in self.data.teams if t.id != self.team_of[company.owner_id]]
            )
        self.data.shares.append(
            construct(
                Share,
                counterparty_id=company.record.id,
                user_id=user_id,
                team_id=team_id,
                can_edit=rng.random() < 0.3,
                **self.audit(self.past(company.created_at, 365), company.owner_id),
            )
        )

    def contact_person(self, company: _Company) -> None:
        rng = self.rng
        himself = company.himself if not company.people else None  # an ИП is his own first contact
        surname, first, patronymic = himself or self.person_name()
        contacts: list[dict[str, Any]] = [
            {"kind": "phone", "value": self.phone(MOBILE_CODES), "note": "мобильный"}
        ]
        if company.domain and rng.random() < 0.3:  # the office line with an extension
            contacts.append(
                {
                    "kind": "phone",
                    "value": company.record.contacts[0]["value"],
                    "ext": str(self.between(100, 399)),
                }
            )
        if company.domain and rng.random() < 0.7:
            first_l, surname_l = latin(first), latin(surname)
            local = self.pick((f"{first_l[0]}.{surname_l}", surname_l, f"{first_l}.{surname_l}"))
            contacts.append(
                {
                    "kind": "email",
                    "value": self.unique(
                        lambda: f"{local}{self.pick(('', self.between(2, 99)))}@{company.domain}"
                    ),
                }
            )
        elif rng.random() < 0.6:
            contacts.append({"kind": "email", "value": self.free_mail(first, surname)})
        birthday = None
        if len(self.data.contact_persons) % 200 in (
            7,
            31,
        ):  # leap-day birthdays, the calendar's edge case
            birthday = date(self.pick((1976, 1980, 1984, 1988, 1992, 1996)), 2, 29)
        elif rng.random() < 0.65:
            birthday = date(self.between(1958, 2001), 1, 1) + timedelta(days=self.between(0, 364))
        full_name = f"{surname} {first} {patronymic}"
        person = construct(
            ContactPerson,
            counterparty_id=company.record.id,
            full_name=full_name,
            position="Индивидуальный предприниматель" if himself else self.pick(POSITIONS),
            contacts=contacts,
            birthday=birthday,
            birthday_remind_days=self.pick((0, 1, 3, 3, 3, 5, 7, 14)),
            notes=self.pick(PERSON_NOTES) if rng.random() < 0.15 else None,
            search_name=validation.fold_text(full_name),
            **self.audit(self.past(company.created_at, 1500), company.owner_id),
        )
        company.people.append(person.id)
        self.data.contact_persons.append(person)

    def deal(self, company: _Company, stage: str | None = None) -> None:
        rng = self.rng
        stage = stage or DEAL_STAGES.draw(rng)
        created = self.past(company.created_at, DEAL_DAYS)
        title = f"{self.pick(DEAL_KINDS)} {self.pick(GOODS)}"
        if rng.random() < 0.4:
            title += f" к {self.pick(OCCASIONS)}"
        # Log-uniform from 50 thousand to 15 million roubles: many small orders, a few big contracts.
        amount = Decimal(round(10 ** rng.uniform(4.7, 7.2), -2)).quantize(Decimal("0.01"))
        if stage in ("won", "lost"):
            close = min(
                created.date() + timedelta(days=self.between(7, 120)),
                self.now.date() - timedelta(days=1),
            )
        else:
            close = self.now.date() + timedelta(days=self.between(7, 150))
        deal = construct(
            Deal,
            counterparty_id=company.record.id,
            title=title,
            stage=stage,
            amount=amount,
            currency="RUB",
            expected_close=close,
            probability=pipeline.STAGE_PROBABILITY[stage],
            source=company.record.source,
            lost_reason=self.pick(LOST_REASONS) if stage == "lost" else None,
            closed_volume=(amount * self.between(80, 110) / 100).quantize(Decimal("0.01"))
            if stage == "won"
            else None,
            owner_id=company.owner_id,
            **self.audit(created, company.owner_id),
        )
        end = datetime.combine(close, time(15, 0), UTC) if stage in ("won", "lost") else self.now
        deal.stages = _stage_history(stage, created, max(end, created), company.owner_id)
        deal.closed_on = close if stage in ("won", "lost") else None
        company.deals.append(deal.id)
        self.data.deals.append(deal)

    def interaction(self, company: _Company) -> None:
        rng = self.rng
        kind = INTERACTION_KINDS.draw(rng)
        direction = {"purchase": "incoming", "complaint": "incoming", "meeting": "outgoing"}.get(
            kind, self.pick(("incoming", "outgoing"))
        )
        roll = rng.random()
        remind_at = result = None
        if roll < 0.1:  # the diary: planned for the next two months
            status, starts, created = (
                "planned",
                self.at_work(self.between(1, 60)),
                self.at_work(-self.between(1, 14)),
            )
            if rng.random() < 0.6:
                remind_at = starts - self.pick(
                    (timedelta(minutes=15), timedelta(hours=1), timedelta(days=1))
                )
        else:
            starts = self.past(company.created_at, TWO_YEARS)
            status = "cancelled" if roll > 0.97 else "planned" if roll > 0.93 else "done"
            if status == "planned":  # overdue: planned for the last few weeks and not done
                starts = self.now - (self.now - starts) / 24
            created = min(starts + timedelta(minutes=self.between(5, 120)), self.now)
            if status == "done" and rng.random() < 0.6:
                result = self.pick(RESULTS)
        responsible = (
            company.owner_id if rng.random() < 0.85 else self.pick([*self.sellers, self.manager])
        )
        self.data.interactions.append(
            construct(
                Interaction,
                counterparty_id=company.record.id,
                contact_person_id=self.pick(company.people)
                if company.people and rng.random() < 0.8
                else None,
                deal_id=self.pick(company.deals) if company.deals and rng.random() < 0.35 else None,
                responsible_id=responsible,
                kind=kind,
                direction=direction,
                status=status,
                subject=self.pick(SUBJECTS[kind]).format(
                    n=self.between(100, 9999), goods=self.pick(GOODS)
                ),
                notes="Подробности в письме." if rng.random() < 0.1 else None,
                starts_at=starts,
                duration_minutes={
                    "call": self.between(2, 30),
                    "meeting": self.pick((30, 60, 90, 120)),
                }.get(kind),
                importance=IMPORTANCE.draw(rng),
                remind_at=remind_at,
                result=result,
                **self.audit(created, responsible),
            )
        )

    # ---------------------------------------------------------------- today

    def day_plan(self) -> list[tuple[str, list[_Company]]]:
        """Whose day the demo fills (each salesperson and the manager) and with which of their
        own clients (up to two): made part of the size's counts, not added to them."""
        plan = []
        for person in [*self.sellers, self.manager]:
            own = [c for c in self.companies if c.owner_id == person][:2]
            if own:
                plan.append((person, own))
        return plan

    def day_deals(self, plan: list[tuple[str, list[_Company]]]) -> None:
        """Two open deals each, at the proposal and negotiation stages."""
        for _, picks in plan:
            for company, stage in zip(picks, ("proposal", "negotiation"), strict=False):
                self.deal(company, stage=stage)

    def _today_at(self, hour: int) -> datetime:
        """``hour``:00 of today in Moscow (UTC+3), in UTC."""
        return datetime.combine(self.now.date(), time(hour), tzinfo=UTC) - timedelta(hours=3)

    def day_contacts(self, plan: list[tuple[str, list[_Company]]]) -> None:
        """A call at 11:00 and a meeting at 15:00 (Moscow) today with their own clients."""
        for person, picks in plan:
            for company, hour, kind, subject in zip(
                picks,
                (11, 15),
                ("call", "meeting"),
                ("Уточнить заказ на следующий месяц", "Показать новую коллекцию"),
                strict=False,
            ):
                starts = self._today_at(hour)
                self.data.interactions.append(
                    construct(
                        Interaction,
                        counterparty_id=company.record.id,
                        contact_person_id=company.people[0] if company.people else None,
                        responsible_id=person,
                        kind=kind,
                        direction="outgoing",
                        status="planned",
                        subject=subject,
                        starts_at=starts,
                        duration_minutes=15 if kind == "call" else 60,
                        importance="normal",
                        remind_at=starts - timedelta(minutes=15),
                        **self.audit(self.now - timedelta(days=self.between(1, 7)), person),
                    )
                )

    def day_reminders(self, plan: list[tuple[str, list[_Company]]]) -> None:
        """A reminder due at 14:00 (Moscow) today about one of their clients."""
        for person, picks in plan:
            company = picks[-1]
            due = self._today_at(14)
            self.data.reminders.append(
                construct(
                    Reminder,
                    title="Выставить счёт",
                    due_at=due,
                    remind_at=due,
                    assignee_id=person,
                    status="open",
                    subject_type="counterparty",
                    subject_id=company.record.id,
                    counterparty_id=company.record.id,
                    **self.audit(self.now - timedelta(days=self.between(1, 5)), person),
                )
            )

    def sales(self, months: int) -> None:
        """``months`` of shipments and their payments, shaped like a wholesaler's.

        Sizes follow a Pareto law (a fifth of the clients bring most of the revenue); the
        big ones buy nearly every month, the small now and then. Jewellery sells by season
        (December, the weeks before 8 March, February). Some clients start buying inside
        the period, some grow, some fade, about one in seven stops buying altogether, so
        ABC classes move and RFM has its lost and its new. Each shipment is paid, mostly
        within a month, a few late or never.
        """
        rng = self.rng
        first = (self.now.date().replace(day=1) - timedelta(days=1)).replace(day=1)
        period = [first]
        while len(period) < months:
            period.insert(0, (period[0] - timedelta(days=1)).replace(day=1))
        number = 0
        sold: dict[str, list[tuple[date, str, Decimal, Decimal | None]]] = {}
        ours = self.inn("77", 9)
        for company in self.companies:
            cp = company.record
            if "client" not in cp.kinds:
                continue
            size = min(rng.paretovariate(1.16), 400.0)
            base = 15_000 * size
            chance = min(0.98, 0.18 + 0.12 * size)
            # How much a month differs from the client's usual: the big ones order steadily.
            spread = 0.5 if size < 2 else 0.25 if size < 8 else 0.08
            starts = 0 if rng.random() < 0.8 else self.between(1, months - 6)
            stops = months if rng.random() > 0.14 else self.between(starts + 3, months)
            # Most keep their level; about a third grow or fade by up to 3 % a month.
            trend = (rng.random() - 0.45) * (0.06 if rng.random() < 0.3 else 0.01)
            groups = [self.pick(PRODUCT_GROUPS)]
            if size > 3 and rng.random() < 0.6:
                groups.append(self.pick(PRODUCT_GROUPS))
            for index in range(starts, stops):
                month = period[index]
                if rng.random() > chance:
                    continue
                level = base * SEASON[month.month] * (1 + trend) ** (index - starts)
                amount = level * (1 + spread * (2 * rng.random() - 1))
                documents = 1 if size < 5 else self.between(1, 3)
                for _ in range(documents):
                    number += 1
                    day = month.replace(day=self.between(1, 28))
                    revenue = Decimal(round(amount / documents, 2)).quantize(Decimal("0.01"))
                    cost = (revenue * Decimal(0.62 + 0.16 * rng.random())).quantize(Decimal("0.01"))
                    group = self.pick(groups)
                    at = datetime.combine(day, time(15, 0), tzinfo=UTC)
                    sale = construct(
                        Sale,
                        number=f"РН-{number:06d}",
                        sold_on=day,
                        counterparty_id=cp.id,
                        salesperson_id=company.owner_id,
                        revenue=revenue,
                        cost=cost,
                        product_group=group,
                        id=self.uid(),
                        created_at=at,
                        created_by=None,
                        updated_at=at,
                        updated_by=None,
                        version=1,
                    )
                    self.data.sales.append(sale)
                    sold.setdefault(cp.id, []).append((day, group, revenue, cost))
                    paid = day + timedelta(days=self.between(3, 40))
                    if rng.random() < 0.97 and paid < self.now.date():
                        self.data.payments.append(
                            construct(
                                Payment,
                                id=self.uid(),
                                key=f"demo-{sale.id}",
                                number=str(self.between(1, 9999)),
                                paid_on=paid,
                                amount=revenue,
                                direction="in",
                                payer_name=cp.legal_name,
                                payer_inn=cp.inn,
                                payer_kpp=cp.kpp,
                                payee_name=OUR_NAME,
                                payee_inn=ours,
                                payee_kpp=None,
                                purpose=f"Оплата по накладной {sale.number} от {day:%d.%m.%Y}",
                                counterparty_id=cp.id,
                                imported_at=self.now,
                                imported_by=None,
                            )
                        )
        for cp_id, rows in sold.items():
            at = datetime.combine(max(r[0] for r in rows), time(16, 0), tzinfo=UTC)
            self.data.sales_summaries.append(
                construct(
                    SalesSummary,
                    counterparty_id=cp_id,
                    **dict(zip(("groups", "months"), summary_of(rows), strict=True)),
                    id=self.uid(),
                    created_at=at,
                    created_by=None,
                    updated_at=at,
                    updated_by=None,
                    version=1,
                )
            )

    def books(self, seed: int) -> None:
        """Contracts, invoices and how the clients pay them (issue 14), over the shipments and
        payments ``sales`` made.

        Drawn from a random stream of their own, so every other record of the demo stays what it
        was. Most clients have a contract giving 0 (prepayment), 14, 30 or 45 days to pay; each
        shipment document has its invoice, issued the same day, due by the contract (or
        ``crm.invoices.DEFAULT_PAYMENT_DAYS``). Three clients in four pay on time, some a little
        late, about one in twelve chronically late (weeks or months, some invoices never, some
        in part). Most payments name their invoice («Оплата по счету № …»), the others the
        shipment, settled oldest first. A payment falling after today is not made yet. Then every
        client is settled as ``crm.invoices.settle`` would: most invoices paid, a realistic few
        overdue.
        """
        rng = random.Random(f"books-{seed}")
        today = self.now.date()

        def uid() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        def audit(day: date) -> dict[str, Any]:
            at = datetime.combine(day, time(10, 0), tzinfo=UTC)
            return {
                "id": uid(),
                "created_at": at,
                "created_by": None,
                "updated_at": at,
                "updated_by": None,
                "version": 1,
            }

        # Plain values, not the records' instrumented attributes: a medium demo reads them 300,000
        # times (``_row`` reads them the same way).
        by_client: dict[str, list[dict[str, Any]]] = {}
        for record in self.data.sales:
            values = vars(record)
            by_client.setdefault(values["counterparty_id"], []).append(values)
        paid_by = {vars(p)["key"].removeprefix("demo-"): p for p in self.data.payments}
        companies = {c.record.id: vars(c.record) for c in self.companies}
        ours = vars(self.data.payments[0])["payee_inn"] if self.data.payments else None
        payments: list[Payment] = []
        number = 0
        for cp_id, sales in by_client.items():
            cp = companies[cp_id]
            sales.sort(key=lambda s: (s["sold_on"], s["number"]))
            days = invoices.DEFAULT_PAYMENT_DAYS
            contract: str | None = None
            if rng.random() < 0.85:
                days = rng.choices([d for d, _ in PAYMENT_DAYS], [w for _, w in PAYMENT_DAYS])[0]
                signed = sales[0]["sold_on"] - timedelta(days=5 + int(rng.random() * 60))
                contract = f"{100 + len(self.data.contracts)}/{signed.year % 100:02d}"
                self.data.contracts.append(
                    construct(
                        Contract,
                        counterparty_id=cp_id,
                        number=contract,
                        signed_on=signed,
                        starts_on=signed,
                        ends_on=None,
                        status=ContractStatus.ACTIVE.value,
                        payment_days=days,
                        amount=None,
                        terms="Предоплата 100 %" if days == 0 else f"Отсрочка платежа {days} дней",
                        **audit(signed),
                    )
                )
            habit = rng.random()
            kind = "punctual" if habit < PUNCTUAL else "slow" if habit < PUNCTUAL + SLOW else "late"
            opened: list[invoices.Open] = []
            paying: list[tuple[date, str, Decimal, str]] = []
            for row in sales:
                number += 1
                day, revenue = row["sold_on"], row["revenue"]
                due = day + timedelta(days=days)
                billed = invoices.Open(uid(), f"СЧ-{number:06d}", day, due, revenue)
                opened.append(billed)
                if kind == "punctual":
                    on_time = rng.random() < 0.9
                    late = (
                        -int(rng.random() * (days + 1)) if on_time else 1 + int(rng.random() * 10)
                    )
                elif kind == "slow":
                    late = int(rng.random() * 36)
                else:
                    late = 20 + int(rng.random() * 130)
                    if rng.random() < 0.03:
                        continue  # never paid
                pay_day = max(day, due + timedelta(days=late))
                if pay_day >= today:
                    continue  # not paid yet
                amount = revenue
                if kind == "late" and rng.random() < 0.06:
                    amount = (amount * Decimal("0.6")).quantize(Decimal("0.01"))  # in part
                purpose = (
                    f"Оплата по счету № {billed.number} от {day:%d.%m.%Y}, в т.ч. НДС"
                    if rng.random() < 0.75
                    else f"Оплата по накладной {row['number']} от {day:%d.%m.%Y}"
                )
                made = paid_by.get(row["id"])
                if made is not None:  # as ``sales`` made it, paid another day (not yet attached)
                    vars(made).update(paid_on=pay_day, amount=amount, purpose=purpose)
                else:
                    made = construct(
                        Payment,
                        id=uid(),
                        key=f"demo-{row['id']}",
                        number=str(1 + int(rng.random() * 9999)),
                        paid_on=pay_day,
                        amount=amount,
                        direction="in",
                        payer_name=cp["legal_name"],
                        payer_inn=cp["inn"],
                        payer_kpp=cp["kpp"],
                        payee_name=OUR_NAME,
                        payee_inn=ours,
                        payee_kpp=None,
                        purpose=purpose,
                        counterparty_id=cp_id,
                        imported_at=self.now,
                        imported_by=None,
                    )
                payments.append(made)
                paying.append((pay_day, vars(made)["number"], amount, purpose))
            settled = invoices.settle_one(list(opened), paying)
            for billed, row in zip(opened, sales, strict=True):
                at = datetime.combine(row["sold_on"], time(10, 0), tzinfo=UTC)
                self.data.invoices.append(
                    construct(
                        Invoice,
                        id=billed.id,
                        number=billed.number,
                        issued_on=billed.issued_on,
                        counterparty_id=cp_id,
                        salesperson_id=row["salesperson_id"],
                        amount=billed.amount,
                        due_on=billed.due_on,
                        contract_number=contract,
                        paid_amount=billed.paid,
                        paid_on=billed.paid_on,
                        created_at=at,
                        created_by=None,
                        updated_at=at,
                        updated_by=None,
                        version=1,
                    )
                )
            entries, owed = invoices.receivable_of(settled)
            if entries:
                self.data.receivables.append(
                    construct(
                        Receivable,
                        counterparty_id=cp_id,
                        invoices=entries,
                        owed=owed,
                        **audit(today),
                    )
                )
        self.data.payments = payments

    def events(self, seed: int) -> None:
        """Marketing events (issue 15), from a random stream of their own (every other record of
        the demo stays what it was): last quarter's exhibition with its stand, catalogues and trips,
        a seminar last month, a promotion ahead; their participants among the clients (most of
        the past events' attended) and a few of those clients' later deals naming the event, so
        the events report shows what each earned."""
        rng = random.Random(f"events-{seed}")
        today = self.now.date()
        buyers = [c for c in self.companies if {"client", "prospect"} & set(c.record.kinds)]
        if not buyers:
            return

        def audit(day: date) -> dict[str, Any]:
            at = datetime.combine(day, time(10, 0), tzinfo=UTC)
            return {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created_at": at,
                "created_by": self.manager,
                "updated_at": at,
                "updated_by": self.manager,
                "version": 1,
            }

        deals = {d.id: d for d in self.data.deals}
        for name, kind, ago, days, place, budget, costs, guests in EVENTS:
            starts = today - timedelta(days=ago)
            ends = starts + timedelta(days=days - 1)
            event = construct(
                MarketingEvent,
                name=name,
                kind=kind,
                starts_on=starts,
                ends_on=ends,
                place=place,
                budget=Decimal(budget),
                owner_id=self.manager,
                notes=None,
                **audit(min(starts, today) - timedelta(days=30)),
            )
            self.data.events.append(event)
            for item, amount in costs:
                self.data.event_costs.append(
                    construct(
                        EventCost,
                        event_id=event.id,
                        item=item,
                        amount=Decimal(amount),
                        spent_on=min(starts, today),
                        **audit(min(starts, today)),
                    )
                )
            past = ends < today
            for company in rng.sample(buyers, min(len(buyers), guests)):
                draw = rng.random()
                status = (
                    ("attended" if draw < 0.65 else "registered" if draw < 0.8 else "invited")
                    if past
                    else ("registered" if draw < 0.4 else "invited")
                )
                if past and draw > 0.95:
                    status = "declined"
                self.data.event_participants.append(
                    construct(
                        EventParticipant,
                        event_id=event.id,
                        counterparty_id=company.record.id,
                        contact_person_id=None,
                        status=status,
                        notes=None,
                        **audit(min(starts, today) - timedelta(days=14)),
                    )
                )
                # An attending client's deal opened after the event came of it, now and then.
                if status == "attended" and rng.random() < 0.5:
                    later = [
                        deals[i]
                        for i in company.deals
                        if i in deals and deals[i].created_at.date() >= starts
                    ]
                    if later:
                        later[0].event_id = event.id
            if name.startswith("JUNWEX"):  # a draft mailing to those who came (crm.mailings)
                self.data.mailings.append(
                    construct(
                        Mailing,
                        name="Спасибо, что пришли на JUNWEX",
                        event_id=event.id,
                        statuses=["attended"],
                        subject="{{contact.first_name}}, спасибо за встречу на JUNWEX",
                        body="Здравствуйте, {{contact.name}}!\n\nВысылаем новый каталог.",
                        owner_id=self.manager,
                        **audit(today),
                    )
                )

    def suppliers(self, seed: int) -> None:
        """Terms and a price list for every supplier (issue 15), from a random stream of their own
        (every other record of the demo stays what it was): a lead time, a rating, delivery and
        payment terms; 8 to 14 of ``PRICE_LIST``'s products priced around their base, from a day
        some months back, some re-priced later (the list's history)."""
        rng = random.Random(f"suppliers-{seed}")
        today = self.now.date()

        def audit(day: date) -> dict[str, Any]:
            at = datetime.combine(day, time(10, 0), tzinfo=UTC)
            return {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "created_at": at,
                "created_by": None,
                "updated_at": at,
                "updated_by": None,
                "version": 1,
            }

        for company in self.companies:
            record = vars(company.record)
            if "supplier" not in record["kinds"]:
                continue
            since = today - timedelta(days=30 + int(rng.random() * 150))
            self.data.supplier_terms.append(
                construct(
                    SupplierTerms,
                    counterparty_id=record["id"],
                    delivery_terms=rng.choice(DELIVERY_TERMS),
                    payment_terms=rng.choice(PAYMENT_TERMS),
                    lead_time_days=rng.choice((3, 5, 7, 10, 14, 21, 30)),
                    rating=rng.choices((2, 3, 4, 5), (1, 3, 5, 3))[0],
                    notes=None,
                    **audit(since),
                )
            )
            for product, unit, base in rng.sample(PRICE_LIST, 8 + int(rng.random() * 7)):
                days = [since]
                if rng.random() < 0.3:  # re-priced since
                    days.append(
                        since + timedelta(days=10 + int(rng.random() * (today - since).days))
                    )
                for day in days:
                    if day > today:
                        continue
                    price = (base * Decimal(0.9 + rng.random() * 0.2)).quantize(Decimal("1"))
                    self.data.price_items.append(
                        construct(
                            PriceItem,
                            counterparty_id=record["id"],
                            product=product,
                            product_key=validation.fold_text(product),
                            article=None,
                            unit=unit,
                            price=price,
                            currency="RUB",
                            valid_from=day,
                            **audit(day),
                        )
                    )

    def reminder(self, owners: dict[str, str]) -> None:
        rng = self.rng
        pools: dict[str, list[Any]] = {
            "interaction": self.data.interactions,
            "deal": self.data.deals,
            "contact_person": self.data.contact_persons,
            "counterparty": self.data.counterparties,
        }
        subject_type = REMINDER_SUBJECTS.draw(rng)
        subject = self.pick(pools[subject_type]) if pools.get(subject_type) else None
        # counterparty_id is derived exactly as crm.rules.check_reminder derives it.
        if subject is None:
            subject_type, counterparty_id, assignee = "", None, self.pick(self.sellers)
        elif subject_type == "counterparty":
            counterparty_id = subject.id
            assignee = owners[counterparty_id]
        else:
            counterparty_id = subject.counterparty_id
            assignee = (
                subject.responsible_id if subject_type == "interaction" else owners[counterparty_id]
            )
        status = REMINDER_STATUS.draw(rng)
        if status == "done":
            due = self.at_work(-self.between(1, 300))
            created = due - timedelta(days=self.between(1, 20))
        else:
            days = self.between(1, 14) if status == "snoozed" else (self.between(-10, 30) or 1)
            due = self.at_work(days)
            created = self.at_work(min(days, 0) - self.between(1, 20))
        by = self.manager if rng.random() < 0.1 else assignee
        self.data.reminders.append(
            construct(
                Reminder,
                title=self.pick(REMINDER_TITLES[subject_type]),
                notes="Не забыть приложить прайс-лист." if rng.random() < 0.1 else None,
                due_at=due,
                remind_at=self.pick((None, due, due - timedelta(hours=1), due - timedelta(days=1))),
                assignee_id=assignee,
                status=status,
                subject_type=subject_type or None,
                subject_id=subject.id if subject else None,
                counterparty_id=counterparty_id,
                **self.audit(created, by),
            )
        )

    def complaint(self, company: _Company) -> None:
        """A client's complaint, as the journal keeps it: most are settled with a cause, some are
        open, a few of those past their deadline (``crm.rules.check_complaint``'s defaults)."""
        subject = self.pick(COMPLAINT_SUBJECTS)
        created = self.past(company.created_at, 200)
        status = self.pick(("new", "in_work", "resolved", "resolved", "resolved", "rejected"))
        closed = status in ("resolved", "rejected")
        resolved_at = (
            min(created + timedelta(days=self.between(1, 20)), self.now - timedelta(hours=1))
            if closed
            else None
        )
        self.data.complaints.append(
            construct(
                Complaint,
                counterparty_id=company.record.id,
                contact_person_id=self.pick(company.people) if company.people else None,
                subject=subject,
                product=f"{self.pick(PRODUCT_GROUPS)}, арт. {self.between(1000, 9999)}"
                if subject == "product"
                else None,
                description=self.pick(COMPLAINT_TEXTS[subject]),
                responsible_id=company.owner_id,
                deadline=created.date() + timedelta(days=10),
                status=status,
                resolution=self.pick(COMPLAINT_RESOLUTIONS[status]) if closed else None,
                cause=self.pick(COMPLAINT_CAUSES[subject]) if closed else None,
                resolved_at=resolved_at,
                registered_by=company.owner_id,
                **self.audit(created, company.owner_id),
            )
        )

    def claim(self, company: _Company) -> None:
        """The owner's claim on a client for a product group: most in force, some lapsed."""
        start = self.now.date() - timedelta(days=self.between(0, 120))
        self.data.claims.append(
            construct(
                Claim,
                counterparty_id=company.record.id,
                product_group=self.pick(PRODUCT_GROUPS),
                holder_id=company.owner_id,
                starts_on=start,
                ends_on=start + timedelta(days=self.pick((30, 90, 90, 180))),
                notes=None,
                **self.audit(datetime.combine(start, time(9), UTC), company.owner_id),
            )
        )


COMPLAINT_SUBJECTS = ("product", "product", "delivery", "service", "other")
COMPLAINT_TEXTS = {
    "product": (
        "Камень выпал через неделю после продажи",
        "Замок цепи не держит",
        "Проба не соответствует бирке",
        "Покупатель вернул изделие: потемнело",
    ),
    "delivery": ("Партия пришла на три дня позже", "Не хватило двух коробок", "Помята упаковка"),
    "service": ("Менеджер не перезвонил", "Счёт выставлен с ошибкой в реквизитах"),
    "other": ("Недовольны условиями отсрочки",),
}
COMPLAINT_CAUSES = {
    "product": ("product_quality", "wrong_goods"),
    "delivery": ("delivery_delay", "documents"),
    "service": ("service", "documents"),
    "other": ("price", "other"),
}
COMPLAINT_RESOLUTIONS = {
    "resolved": ("Изделие заменено", "Сделали скидку 5 % на следующую партию", "Довезли недостачу"),
    "rejected": ("Повреждение по вине покупателя", "Сроки были согласованы в договоре"),
}


LETTER_TEMPLATES = (
    (
        "Коммерческое предложение",
        "Коммерческое предложение для {{counterparty.name}}",
        "Здравствуйте, {{contact.first_name}}!\n\nНаправляем наше коммерческое предложение и "
        "актуальный прайс-лист. Будем рады ответить на вопросы.\n\nС уважением,\n"
        "{{salesperson.name}}\n{{salesperson.email}}",
    ),
    (
        "Приглашение на выставку",
        "Приглашение на выставку JUNWEX",
        "Здравствуйте, {{contact.first_name}}!\n\nПриглашаем вас на наш стенд на выставке "
        "JUNWEX: покажем новую коллекцию и обсудим условия на следующий сезон.\n\n"
        "С уважением,\n{{salesperson.name}}",
    ),
    (
        "Напоминание об оплате",
        "Счёт к оплате — {{counterparty.name}}",
        "Добрый день!\n\nНапоминаем о счёте, срок оплаты которого подходит. Если оплата уже "
        "отправлена, пожалуйста, пришлите платёжное поручение.\n\nС уважением,\n"
        "{{salesperson.name}}",
    ),
)


# A jeweller's suppliers' price lists (issue 15): (product, unit, base price in roubles); every
# supplier prices some of them, around the base, so comparing them shows something.
PRICE_LIST = (
    ("Цепь Бисмарк 585", "г", Decimal("5200")),
    ("Цепь якорная 585", "г", Decimal("5050")),
    ("Цепь панцирная 585", "г", Decimal("5100")),
    ("Кольцо обручальное 585 4 мм", "шт", Decimal("18500")),
    ("Кольцо обручальное 585 3 мм", "шт", Decimal("14200")),
    ("Кольцо с фианитом 585", "шт", Decimal("9800")),
    ("Серьги пусеты 585", "шт", Decimal("7400")),
    ("Серьги конго 585", "шт", Decimal("11900")),
    ("Браслет Бисмарк 585", "г", Decimal("5300")),
    ("Крест нательный 585", "шт", Decimal("6200")),
    ("Подвеска сердце 585", "шт", Decimal("4900")),
    ("Цепь серебро 925 Бисмарк", "г", Decimal("145")),
    ("Кольцо серебро 925 с фианитом", "шт", Decimal("1890")),
    ("Футляр для кольца бархатный", "шт", Decimal("95")),
)
DELIVERY_TERMS = (
    "DAP Москва",
    "Самовывоз со склада поставщика",
    "Доставка курьером за счёт поставщика",
)
PAYMENT_TERMS = (
    "Предоплата 100 %",
    "Отсрочка 14 дней",
    "Отсрочка 30 дней",
    "50 % предоплата, 50 % по факту",
)


def build(size: DemoSize, seed: int = 1, today: date = DEFAULT_TODAY) -> DemoData:
    """Make the demo records; the same arguments always give equal data. No database is touched.

    About 1 % of the counterparties (at least two when there are ten or more)
    are near-duplicates of another one. Users get no password hash here:
    argon2 salts are random, so ``load`` hashes ``DEMO_PASSWORD``.
    """
    b = _Builder(seed, today)
    rng = b.rng
    b.staff()
    b.templates()
    duplicates = max(2, round(size.counterparties / 100)) if size.counterparties >= 10 else 0
    for _ in range(size.counterparties - duplicates):
        b.counterparty()
    originals = list(b.companies)
    with_inn = [c for c in originals if c.record.inn]
    doubled: set[str] = set()
    for number in range(duplicates):
        same_inn = number % 2 == 0 and bool(with_inn)
        pool = with_inn if same_inn else originals
        original = b.pick(pool)
        while original.record.id in doubled and len(doubled) < len(pool):
            original = b.pick(pool)
        doubled.add(original.record.id)
        b.near_duplicate(original, same_inn=same_inn)
    for company in rng.sample(originals, min(len(originals), max(2, len(originals) // 50))):
        b.share(company)

    companies = b.companies
    if not companies and (size.contact_persons or size.deals or size.interactions):
        raise ValueError("contact persons, deals and interactions need at least one counterparty")
    weights = [c.activity for c in companies]
    # Everybody gets one person first, then the busy ones get more.
    first = companies[: size.contact_persons]
    more = rng.choices(companies, weights, k=size.contact_persons - len(first)) if companies else []
    for company in [*first, *more]:
        b.contact_person(company)
    # Today's work of each salesperson (``day_plan``), within the size's counts when they allow it.
    plan = b.day_plan()
    day_items = sum(len(picks) for _, picks in plan)
    if min(size.deals, size.interactions) < day_items or size.reminders < len(plan):
        plan = []
    day_items = sum(len(picks) for _, picks in plan)
    buyers = [c for c in companies if {"client", "prospect"} & set(c.record.kinds)] or companies
    for company in (
        rng.choices(buyers, [c.activity for c in buyers], k=size.deals - day_items)
        if buyers
        else []
    ):
        b.deal(company)
    b.day_deals(plan)
    for company in (
        rng.choices(companies, weights, k=size.interactions - day_items) if companies else []
    ):
        b.interaction(company)
    b.day_contacts(plan)
    owners = {c.record.id: c.owner_id for c in companies}
    for _ in range(size.reminders - len(plan)):
        b.reminder(owners)
    b.day_reminders(plan)
    b.sales(months=SALES_MONTHS)
    # A complaint for about one client in fifteen, a claim for one in ten (at least a few of each).
    if buyers:
        for company in rng.sample(buyers, min(len(buyers), max(3, len(companies) // 15))):
            b.complaint(company)
        for company in rng.sample(buyers, min(len(buyers), max(3, len(companies) // 10))):
            b.claim(company)
    b.books(seed)
    b.suppliers(seed)
    b.events(seed)
    return b.data


# ------------------------------------------------------------------ loading


def _contact_keys(data: DemoData) -> list[dict[str, Any]]:
    """The ``ContactKey`` rows ``crm.search.reindex`` would write for these records."""
    by_id = {c.id: c for c in data.counterparties}
    rows: list[dict[str, Any]] = []
    for counterparty in data.counterparties:
        rows += search.key_rows(counterparty, counterparty)
    for person in data.contact_persons:
        rows += search.key_rows(person, by_id[person.counterparty_id])
    return rows


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it


def _row(record: SQLModel, keys: list[str]) -> dict[str, Any]:
    stored = vars(record)
    # Read __dict__ directly: an instrumented getattr costs four times as much, and
    # every field of a built record is there (anything missing goes the slow way).
    return {k: stored[k] if k in stored else getattr(record, k) for k in keys}


def load(database: Database, data: DemoData, progress: Progress | None = None) -> None:
    """Insert ``data`` and its search index in one transaction, in batches of ``BATCH_SIZE`` rows.

    ``progress(stage, done, total)`` is called after each batch (once with
    ``0, 0`` for an empty stage). Raises ``AlreadyExists``, changing nothing,
    when a demo login or team name is taken already (the demo was loaded, or
    the company is real).
    """
    # One hash for every demo user: argon2 is slow on purpose, and they share the password anyway.
    password_hash = accounts.hash_password(DEMO_PASSWORD)
    stages = [(name, model, records) for name, model, records in data.tables()]
    stages.append(("contact keys", ContactKey, _contact_keys(data)))
    with database.write() as session:
        taken = [
            *session.execute(
                select(col(User.login))
                .where(col(User.login).in_([u.login for u in data.users]))
                .order_by(col(User.login))
            ).scalars(),
            *session.execute(
                select(col(Team.name))
                .where(col(Team.name).in_([t.name for t in data.teams]))
                .order_by(col(Team.name))
            ).scalars(),
        ]
        if taken:
            raise AlreadyExists(
                f"{', '.join(taken)} already exist; load the demo into an empty database"
            )
        for name, model, records in stages:
            table = _table(model)
            keys = [column.key for column in table.columns]
            for start in range(0, len(records), BATCH_SIZE):
                batch = records[start : start + BATCH_SIZE]
                rows = [r if isinstance(r, dict) else _row(r, keys) for r in batch]
                if table is _table(User):
                    for row in rows:
                        row["password_hash"] = row["password_hash"] or password_hash
                session.execute(insert(table), rows)
                changes.log_inserted(session, model, rows)
                if progress:
                    progress(name, start + len(batch), len(records))
            if not records and progress:
                progress(name, 0, 0)
        changes.bump(session)
    database.analyze()


def generate(
    database: Database,
    size_name: str = "small",
    seed: int = 1,
    progress: Progress | None = None,
    today: date = DEFAULT_TODAY,
) -> DemoData:
    """Build the demo of the named size (one of ``SIZES``) and load it into ``database``."""
    if size_name not in SIZES:
        raise ValidationFailed(
            f"no demo size {size_name!r}; choose one of {', '.join(SIZES)}",
            details={"size": f"must be one of {', '.join(SIZES)}"},
        )
    data = build(SIZES[size_name], seed, today)
    load(database, data, progress)
    keep_classes(database, data, today)
    return data


def keep_classes(database: Database, data: DemoData, today: date) -> None:
    """Two kept ABC/XYZ computations, so the demo shows class history: one at the end of the
    last quarter over the twelve months before it, one today over the last twelve full months."""
    from crm import trade

    office = next((u for u in data.users if u.role == "admin"), None)
    if office is None or not data.sales:
        return
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_month = today.replace(day=1) - timedelta(days=1)
    with database.write() as session:
        actor = session.get(User, office.id)
        assert actor is not None
        for ends, at in (
            (
                quarter - timedelta(days=1),
                datetime.combine(quarter - timedelta(days=1), time(18), tzinfo=UTC),
            ),
            (last_month, datetime.combine(today, time(9), tzinfo=UTC)),
        ):
            starts = (ends.replace(day=1) - timedelta(days=330)).replace(day=1)
            result = analytics.classify(session, actor, starts, ends)
            run = trade.store_classification(session, actor, result)
            run.computed_at = at
