"""What marketing events earned (issue 15): per event its budget, cost, participants, the deals that
name it and the sales of the clients that came, against what it cost.

Pure functions over any session — the server's database or a laptop's replica — so a laptop answers
what the server answers its user (events and their cost lines are everyone's and sync to every
laptop; participants, deals and sales summaries are those of the clients the user sees).

**Which events.** Those whose days overlap the period's whole months (``crm.periods``). An
event's days run from ``starts_on`` to ``ends_on``; with one of them only, that one day; with
neither, the day it was entered (``created_at``, UTC).

**Per event** (``EventReturn``):

* **cost**: the sum of its cost lines (``EventCost.amount``), roubles; **budget** as entered;
* **participants** by status (invited, registered, attended, declined), and **attending**: the
  distinct counterparties with a participant whose status is ``attended``;
* **enquiries**: the deals naming the event (``Deal.event_id``), whatever their stage;
* **won**: those at stage ``won``, and their **won volume**: ``closed_volume``, else ``amount``;
  a deal in another currency than roubles counts, its money does not;
* **sales after**: the revenue (sales summaries: the monthly totals a laptop holds too) of the
  attending counterparties in the **four calendar months from the event's end month through the
  third month after it** (an event ending on 20 March: March, April, May and June) — the 90 days
  after it, at the months' granularity. A client at two events counts at both;
* **revenue attributed** = won volume + sales after (a won deal's shipments may be in the sales
  too: both parts are shown);
* **return on cost** = (revenue attributed − cost) / cost × 100, percent; None when the cost is 0.

**Who sees what.** Events and cost lines are everyone's. Participants, deals and sales count only
those of counterparties ``actor`` sees (``crm.records.visible``), and with ``only`` (a segment's
members, ``crm.segments``) only those counterparties.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import periods, records
from crm.models import (
    ContactPerson,
    Counterparty,
    Deal,
    EventCost,
    EventParticipant,
    MarketingEvent,
    User,
)
from crm.models.enums import ParticipantStatus
from crm.sales import sums

ZERO = Decimal(0)
_ONE_DAY = timedelta(days=1)
STATUSES = tuple(str(s) for s in ParticipantStatus)
# Months of sales after an event's end month counted as its effect (its end month too).
MONTHS_AFTER = 3
CURRENCY = "RUB"


@dataclass
class EventReturn:
    id: str
    name: str
    kind: str
    starts_on: date
    ends_on: date
    owner_id: str | None
    budget: Decimal | None
    cost: Decimal
    by_status: dict[str, int]  # participants the actor sees per status
    participants: int
    attending: int  # distinct counterparties that attended
    enquiries: int  # deals naming the event, any stage
    won: int
    won_volume: Decimal
    sales_from: date  # the first day of the event's end month
    sales_to: date  # the last day of the third month after it
    sales_after: Decimal
    revenue: Decimal  # won_volume + sales_after
    return_on_cost: float | None  # percent; None when cost is 0


@dataclass
class CostLine:
    id: str
    item: str
    amount: Decimal
    spent_on: date | None


@dataclass
class Participant:
    id: str
    counterparty_id: str
    counterparty: str
    contact_person_id: str | None
    person: str | None
    status: str
    notes: str | None


@dataclass
class EventDeal:
    id: str
    title: str
    counterparty_id: str
    counterparty: str
    stage: str
    amount: Decimal | None
    currency: str
    closed_volume: Decimal | None
    owner_id: str | None


@dataclass
class EventDetail:
    event: MarketingEvent
    result: EventReturn
    costs: list[CostLine] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    deals: list[EventDeal] = field(default_factory=list)


def event_days(starts_on: Any, ends_on: Any, created_at: Any) -> tuple[date, date]:
    """An event's first and last day (see the module: one given day, else the day entered)."""
    first = _day(starts_on) if starts_on is not None else None
    last = _day(ends_on) if ends_on is not None else None
    if first is None and last is None:
        first = last = _day(created_at)
    first = first or last
    last = last or first
    assert first is not None and last is not None
    return first, last


def _day(value: Any) -> date:
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def sales_window(ends_on: date) -> tuple[date, date]:
    """The months whose sales an event ending on ``ends_on`` is credited with: its end month through
    the third month after it (first and last day)."""
    first = periods.month_start(ends_on)
    last = first
    for _ in range(MONTHS_AFTER):
        last = periods.last_day(last) + _ONE_DAY
    return first, periods.last_day(last)


def _percent_return(revenue: Decimal, cost: Decimal) -> float | None:
    if not cost:
        return None
    return round(float((revenue - cost) / cost * 100), 2)


def _deal_money(stage: str, amount: Any, volume: Any, currency: str | None) -> Decimal:
    if (currency or CURRENCY) != CURRENCY:
        return ZERO
    value = volume if stage == "won" and volume is not None else amount
    return Decimal(value) if value is not None else ZERO


def _events(
    session: Session, starts: date, ends: date, owner_id: str | None, ids: Iterable[str] | None
) -> list[MarketingEvent]:
    first, last = periods.whole_months(starts, ends)
    query: Any = select(MarketingEvent)
    if owner_id is not None:
        query = query.where(col(MarketingEvent.owner_id) == owner_id)
    if ids is not None:
        query = query.where(col(MarketingEvent.id).in_(list(ids)))
    out = []
    for event in session.execute(query).scalars():
        day0, day1 = event_days(event.starts_on, event.ends_on, event.created_at)
        if day0 <= last and day1 >= first:
            out.append(event)
    return sorted(out, key=lambda e: (*event_days(e.starts_on, e.ends_on, e.created_at), e.name))


def _compute(
    session: Session, actor: User, events: list[MarketingEvent], only: set[str] | None
) -> list[EventReturn]:
    if not events:
        return []
    ids = [e.id for e in events]
    costs: dict[str, Decimal] = {}
    for event_id, amount in session.execute(
        select(col(EventCost.event_id), col(EventCost.amount)).where(
            col(EventCost.event_id).in_(ids)
        )
    ):
        costs[event_id] = costs.get(event_id, ZERO) + Decimal(amount or 0)
    statuses: dict[str, dict[str, int]] = {i: {s: 0 for s in STATUSES} for i in ids}
    attending: dict[str, set[str]] = {i: set() for i in ids}
    part_rt = records.record_type("event-participants")
    for event_id, cp, status in session.execute(
        select(
            col(EventParticipant.event_id),
            col(EventParticipant.counterparty_id),
            col(EventParticipant.status),
        ).where(col(EventParticipant.event_id).in_(ids), records.visible(part_rt, actor))
    ):
        if only is not None and cp not in only:
            continue
        by = statuses[event_id]
        by[status] = by.get(status, 0) + 1
        if status == ParticipantStatus.ATTENDED:
            attending[event_id].add(cp)
    enquiries = dict.fromkeys(ids, 0)
    won = dict.fromkeys(ids, 0)
    volume = dict.fromkeys(ids, ZERO)
    deal_rt = records.record_type("deals")
    for event_id, cp, stage, amount, currency, closed_volume in session.execute(
        select(
            col(Deal.event_id),
            col(Deal.counterparty_id),
            col(Deal.stage),
            col(Deal.amount),
            col(Deal.currency),
            col(Deal.closed_volume),
        ).where(col(Deal.event_id).in_(ids), records.visible(deal_rt, actor))
    ):
        if only is not None and cp not in only:
            continue
        enquiries[event_id] += 1
        if stage == "won":
            won[event_id] += 1
            volume[event_id] += _deal_money(stage, amount, closed_volume, currency)
    out = []
    for event in events:
        day0, day1 = event_days(event.starts_on, event.ends_on, event.created_at)
        window = sales_window(day1)
        came = attending[event.id]
        sales = ZERO
        if came and periods.YEARS[0] <= window[0].year and window[1].year <= periods.YEARS[1]:
            found = sums(session, actor, *window, counterparty_ids=came, only=only)
            kopecks = sum(row[0] for by_month in found.values() for row in by_month.values())
            sales = Decimal(kopecks).scaleb(-2)
        cost = costs.get(event.id, ZERO)
        revenue = volume[event.id] + sales
        by = statuses[event.id]
        out.append(
            EventReturn(
                event.id,
                event.name,
                event.kind,
                day0,
                day1,
                event.owner_id,
                None if event.budget is None else Decimal(event.budget),
                cost,
                by,
                sum(by.values()),
                len(came),
                enquiries[event.id],
                won[event.id],
                volume[event.id],
                window[0],
                window[1],
                sales,
                revenue,
                _percent_return(revenue, cost),
            )
        )
    return out


def returns(
    session: Session,
    actor: User,
    *,
    starts: date,
    ends: date,
    only: set[str] | None = None,
    owner_id: str | None = None,
) -> list[EventReturn]:
    """What the events overlapping the period's whole months earned (see the module), over what
    ``actor`` sees; ``only``: these counterparties' participants, deals and sales (a segment);
    ``owner_id``: only that person's events. Oldest event first."""
    return _compute(session, actor, _events(session, starts, ends, owner_id, None), only)


def event_detail(session: Session, actor: User, event_id: str) -> EventDetail:
    """One event (``NotFound`` if there is none) with what it earned, its cost lines, the
    participants and deals ``actor`` sees."""
    event = records.get(session, actor, records.record_type("events"), event_id)
    (result,) = _compute(session, actor, [event], None)
    costs = [
        CostLine(c.id, c.item, Decimal(c.amount), c.spent_on)
        for c in session.execute(
            select(EventCost)
            .where(col(EventCost.event_id) == event_id)
            .order_by(col(EventCost.spent_on), col(EventCost.created_at), col(EventCost.id))
        ).scalars()
    ]
    part_rt = records.record_type("event-participants")
    rows = list(
        session.execute(
            select(EventParticipant, col(Counterparty.legal_name), col(ContactPerson.full_name))
            .join(Counterparty, col(Counterparty.id) == col(EventParticipant.counterparty_id))
            .outerjoin(
                ContactPerson, col(ContactPerson.id) == col(EventParticipant.contact_person_id)
            )
            .where(col(EventParticipant.event_id) == event_id, records.visible(part_rt, actor))
        )
    )
    participants = sorted(
        (
            Participant(
                p.id, p.counterparty_id, name, p.contact_person_id, person, p.status, p.notes
            )
            for p, name, person in rows
        ),
        key=lambda p: (p.counterparty.casefold(), (p.person or "").casefold(), p.id),
    )
    deal_rt = records.record_type("deals")
    deals = [
        EventDeal(
            d.id,
            d.title,
            d.counterparty_id,
            name,
            d.stage,
            d.amount,
            d.currency,
            d.closed_volume,
            d.owner_id,
        )
        for d, name in session.execute(
            select(Deal, col(Counterparty.legal_name))
            .join(Counterparty, col(Counterparty.id) == col(Deal.counterparty_id))
            .where(col(Deal.event_id) == event_id, records.visible(deal_rt, actor))
            .order_by(col(Deal.created_at), col(Deal.id))
        )
    ]
    return EventDetail(event, result, costs, participants, deals)


def all_returns(session: Session, actor: User) -> list[EventReturn]:
    """Every event, newest first, with what it earned (the events screen)."""
    events = list(session.execute(select(MarketingEvent)).scalars())
    found = _compute(session, actor, events, None)
    return sorted(found, key=lambda r: (r.starts_on, r.name), reverse=True)
