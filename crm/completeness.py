"""How complete a counterparty's card is (issue 14): a score 0–100 and what is missing.

A card is judged by weighted rules (``Rule``), each a plain question about the card's own fields,
its contact persons and its contacts (interactions). The score is the weight of the rules the card
passes over the weight of the rules that **apply** to it, in percent, rounded half up to a whole
number: a sole trader has no KPP, so the KPP rule does not apply to one and the other rules share
its weight. A card to which no chosen rule applies scores 100.

The rules and their weights are code (``RULES``, documented in ``docs/analytics.md``); ``score``
takes the rule set as a parameter, and every door lets the asker choose which rules run and
re-weigh them with ``rules="inn,phone:30,…"`` (``choose``), so the server's configuration is not
read by the domain. Why a module of its own rather than ``crm.analytics``: the analyses there judge
sales and deals; this judges data, with its own rule table, and the card screen asks it alone.

``score`` is pure (a ``Card``'s facts and a day in, a ``Score`` out); ``cards`` gathers the facts of
the counterparties a user sees — on the server's database or a laptop's replica alike: the contact
persons and contacts counted are the ones that user sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from crm import records
from crm.models import ContactPerson, Counterparty, Interaction, User
from crm.models.enums import InteractionStatus

# A contact done within this many days before the day asked passes ``recent_contact``.
RECENT_DAYS = 180
# A card under this score is counted as poor in the per-salesperson summary.
POOR = 50
# Legal forms of a sole trader, as crm.rules judges them (a 12-digit INN): such a card has no KPP.
SOLE_TRADER_FORMS = frozenset({"ИП", "ИНДИВИДУАЛЬНЫЙ ПРЕДПРИНИМАТЕЛЬ", "КФХ", "ГКФХ"})


@dataclass(frozen=True)
class Card:
    """What the rules look at: a counterparty's fields, and facts about its people and contacts."""

    id: str
    name: str
    inn: str | None = None
    kpp: str | None = None
    legal_form: str | None = None
    legal_address: str | None = None
    actual_address: str | None = None
    contacts: Sequence[dict[str, Any]] = ()
    region: str | None = None
    industry: str | None = None
    segment: str | None = None
    source: str | None = None
    owner_id: str | None = None
    people: int = 0  # contact persons
    reachable_people: int = 0  # contact persons with a phone or an email
    last_contact: date | None = None  # the day of the latest done contact

    @property
    def sole_trader(self) -> bool:
        if self.inn:
            return len(self.inn) == 12
        form = (self.legal_form or "").strip().upper().replace(".", "")
        return form in SOLE_TRADER_FORMS


def _has(text: str | None) -> bool:
    return bool(text and text.strip())


def _contact(card: Card, kind: str) -> bool:
    return any(c.get("kind") == kind and _has(str(c.get("value") or "")) for c in card.contacts)


def _always(card: Card) -> bool:
    return True


@dataclass(frozen=True)
class Rule:
    key: str
    weight: int
    ru: str  # what is missing, in words: «ИНН»
    en: str
    passes: Callable[[Card, date], bool] = field(compare=False)
    applies: Callable[[Card], bool] = field(default=_always, compare=False)

    @property
    def title(self) -> str:
        return f"{self.ru} / {self.en}"


RULES: tuple[Rule, ...] = (
    Rule("inn", 20, "ИНН", "INN", lambda c, _d: _has(c.inn)),
    Rule(
        "kpp",
        5,
        "КПП",
        "KPP",
        lambda c, _d: _has(c.kpp),
        applies=lambda c: not c.sole_trader,
    ),
    Rule("phone", 15, "телефон", "phone", lambda c, _d: _contact(c, "phone")),
    Rule("email", 10, "e-mail", "email", lambda c, _d: _contact(c, "email")),
    Rule(
        "address",
        10,
        "адрес",
        "address",
        lambda c, _d: _has(c.legal_address) or _has(c.actual_address) or _contact(c, "address"),
    ),
    Rule("region", 5, "регион (город)", "region (city)", lambda c, _d: _has(c.region)),
    Rule("industry", 5, "отрасль", "industry", lambda c, _d: _has(c.industry)),
    Rule("source", 5, "источник", "source", lambda c, _d: _has(c.source)),
    Rule("owner", 5, "ответственный", "owner", lambda c, _d: c.owner_id is not None),
    Rule("person", 10, "контактное лицо", "contact person", lambda c, _d: c.people > 0),
    Rule(
        "person_reach",
        5,
        "телефон или e-mail контактного лица",
        "a contact person's phone or email",
        lambda c, _d: c.reachable_people > 0,
    ),
    Rule(
        "recent_contact",
        5,
        f"контакт за {RECENT_DAYS} дней",
        f"a contact in the last {RECENT_DAYS} days",
        lambda c, day: (
            c.last_contact is not None and c.last_contact >= day - timedelta(days=RECENT_DAYS)
        ),
    ),
)
BY_KEY = {r.key: r for r in RULES}
MAX_WEIGHT = 100


def choose(text: str | None) -> tuple[Rule, ...]:
    """The rules asked in words: ``"inn,phone,email"`` (the default weights) or with weights of
    one's own, ``"inn:30,phone"``; ``None`` or ``""``: every rule (``RULES``). ``ValueError`` says
    what is wrong (an unknown rule, one named twice, a weight not from 1 to 100)."""
    if text is None or not text.strip():
        return RULES
    if len(text) > 500:
        raise ValueError("rules is a list of at most 500 characters")
    chosen: list[Rule] = []
    for part in text.split(","):
        key, colon, weight = part.strip().partition(":")
        rule = BY_KEY.get(key.strip())
        if rule is None:
            raise ValueError(
                f"no rule {key.strip()[:40]!r}: rules are among {', '.join(BY_KEY)}"
                " (a weight may follow: inn:30)"
            )
        if any(r.key == rule.key for r in chosen):
            raise ValueError(f"the rule {rule.key} is named twice")
        if colon:  # "inn:" names a weight, and an empty one is no weight
            w = weight.strip()
            if not (w.isascii() and w.isdigit() and 1 <= int(w) <= MAX_WEIGHT):
                raise ValueError(f"a rule's weight is a whole number from 1 to {MAX_WEIGHT}")
            rule = Rule(rule.key, int(w), rule.ru, rule.en, rule.passes, rule.applies)
        chosen.append(rule)
    return tuple(chosen)


def describe(rules: Sequence[Rule]) -> str:
    """The rules as ``choose`` reads them: ``"inn:20,kpp:5,…"``."""
    return ",".join(f"{r.key}:{r.weight}" for r in rules)


@dataclass
class Score:
    card: Card
    score: int  # 0–100
    missing: list[Rule]  # the rules that apply and fail, in the rule set's order

    @property
    def counterparty_id(self) -> str:
        return self.card.id


def score(card: Card, day: date, rules: Sequence[Rule] = RULES) -> Score:
    """How complete ``card`` is on ``day`` by ``rules``: the passed rules' weight over the weight
    of the rules that apply to it, in percent rounded half up (100 when none applies)."""
    applying = [r for r in rules if r.applies(card)]
    total = sum(r.weight for r in applying)
    missing = [r for r in applying if not r.passes(card, day)]
    got = total - sum(r.weight for r in missing)
    # Half up, in whole numbers: (200·got + total) // (2·total) is round(100·got/total) with .5 up.
    value = (200 * got + total) // (2 * total) if total else 100
    return Score(card, value, missing)


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value)).date()


def cards(
    session: Session,
    actor: User,
    *,
    owner_id: str | None = None,
    ids: Iterable[str] | None = None,
    keep: set[str] | None = None,
) -> list[Card]:
    """The facts of every counterparty ``actor`` sees (of ``owner_id`` only; of ``ids`` only,
    asked in SQL, for a few; of ``keep`` only, picked as they are read, for many: a segment): its
    fields, its contact persons ``actor`` sees and the latest done contact ``actor`` sees."""
    only = None if ids is None else list(ids)
    query: Any = select(
        col(Counterparty.id),
        col(Counterparty.legal_name),
        col(Counterparty.inn),
        col(Counterparty.kpp),
        col(Counterparty.legal_form),
        col(Counterparty.legal_address),
        col(Counterparty.actual_address),
        col(Counterparty.contacts),
        col(Counterparty.region),
        col(Counterparty.industry),
        col(Counterparty.segment),
        col(Counterparty.source),
        col(Counterparty.owner_id),
    ).where(records.visible(records.record_type("counterparties"), actor))
    if owner_id is not None:
        query = query.where(col(Counterparty.owner_id) == owner_id)
    if only is not None:
        query = query.where(col(Counterparty.id).in_(only))
    rows = session.execute(query).all()
    if keep is not None:
        rows = [row for row in rows if row[0] in keep]
    wanted = {row[0] for row in rows}
    people: dict[str, list[int]] = {}
    people_q: Any = select(col(ContactPerson.counterparty_id), col(ContactPerson.contacts)).where(
        records.visible(records.record_type("contact-persons"), actor)
    )
    if only is not None:
        people_q = people_q.where(col(ContactPerson.counterparty_id).in_(only))
    for cp_id, contacts in session.execute(people_q):
        if cp_id not in wanted:
            continue
        counts = people.setdefault(cp_id, [0, 0])
        counts[0] += 1
        counts[1] += any(
            c.get("kind") in ("phone", "email") and c.get("value") for c in contacts or ()
        )
    last_q: Any = (
        select(col(Interaction.counterparty_id), func.max(col(Interaction.starts_at)))
        .where(col(Interaction.status) == InteractionStatus.DONE.value)
        .where(records.visible(records.record_type("interactions"), actor))
    )
    if only is not None:
        last_q = last_q.where(col(Interaction.counterparty_id).in_(only))
    last = {
        cp_id: _day(when)
        for cp_id, when in session.execute(last_q.group_by(col(Interaction.counterparty_id)))
    }
    out = []
    for row in rows:
        cp_id = row[0]
        n, reachable = people.get(cp_id, (0, 0))
        (_, name, inn, kpp, form, legal_address, actual_address, contacts, region) = row[:9]
        out.append(
            Card(
                cp_id,
                name,
                inn=inn,
                kpp=kpp,
                legal_form=form,
                legal_address=legal_address,
                actual_address=actual_address,
                contacts=contacts or (),
                region=region,
                industry=row[9],
                segment=row[10],
                source=row[11],
                owner_id=row[12],
                people=n,
                reachable_people=reachable,
                last_contact=last.get(cp_id),
            )
        )
    return out


SORTS = ("score", "-score", "name")


def scores(
    session: Session,
    actor: User,
    day: date,
    *,
    rules: Sequence[Rule] = RULES,
    owner_id: str | None = None,
    sort: str = "score",
    only: set[str] | None = None,
) -> list[Score]:
    """Every card ``actor`` sees scored on ``day``: the worst first (``sort="score"``), the best
    first (``"-score"``) or by name (``"name"``); ties by name, then id. ``only``: these cards (a
    segment), None for all."""
    if sort not in SORTS:
        raise ValueError(f"sort is one of {', '.join(SORTS)}")
    found = [score(c, day, rules) for c in cards(session, actor, owner_id=owner_id, keep=only)]
    found.sort(key=lambda s: (s.card.name, s.card.id))
    if sort != "name":
        found.sort(key=lambda s: s.score, reverse=sort == "-score")
    return found


def of_card(
    session: Session, actor: User, counterparty_id: str, day: date, rules: Sequence[Rule] = RULES
) -> Score | None:
    """One card's score as ``actor`` sees it (None when they do not see it)."""
    found = cards(session, actor, ids=[counterparty_id])
    return score(found[0], day, rules) if found else None


def average(values: Sequence[int]) -> float | None:
    """The mean of scores to one decimal place, half up (59.25 → 59.3); None for none."""
    if not values:
        return None
    mean = (Decimal(sum(values)) / len(values)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return float(mean)


@dataclass
class OwnerSummary:
    owner_id: str | None
    cards: int
    average: float
    poor: int  # cards scoring under POOR


def by_owner(found: Iterable[Score]) -> list[OwnerSummary]:
    """Per salesperson (a card's owner): cards, the average score (one decimal), cards under 50;
    the lowest average first."""
    groups: dict[str | None, list[int]] = {}
    for s in found:
        groups.setdefault(s.card.owner_id, []).append(s.score)
    out = [
        OwnerSummary(owner, len(values), average(values) or 0.0, sum(v < POOR for v in values))
        for owner, values in groups.items()
    ]
    out.sort(key=lambda o: (o.average, o.owner_id is None, o.owner_id or ""))
    return out
