"""Deals, channels and activity (issue 14): the funnel, lost reasons, sources, closed deals and the
managers' activity, over the deals, contacts and counterparties the asking user may see — on the
server and over a laptop's replica with no network alike.

The funnel, lost reasons and sources put a deal in a period by the day it was **created**
(``created_at``, a UTC day, whole calendar months as everywhere here: ``crm.periods``) and read its
stage as it is now, and how far it got from its stage history (``Deal.stages``, kept by crm.rules
since migration 0017): the funnel of a quarter is what became of the deals opened in that quarter.
The closed-deals report puts a won or lost deal in a period by the day it was **closed**
(``Deal.closed_on``; for a deal closed before its history was kept, the day it was last changed).
Every report reads a deal's money alike (``_deal_rows``): in roubles, a won deal's the volume
shipped where known, a deal in another currency counted but left out of the sums. The activity
report puts a contact in a period by its time (``starts_at``); sources add the period's sales
(``crm.sales``) of the counterparties from each source.

Every report takes ``owner_id`` (one salesperson's deals, counterparties or contacts) and ``only``
(the counterparties to keep: a segment's members, ``crm.segments``; None for all).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from crm import records
from crm.models import Counterparty, Deal, Interaction, User
from crm.models.enums import InteractionStatus
from crm.periods import as_date, month_start, whole_months
from crm.sales import ZERO, Sums, roubles, sums

OPEN_STAGES = ("new", "qualification", "proposal", "negotiation")
FUNNEL_STAGES = (*OPEN_STAGES, "won")
STAGES_SHOWN = (*FUNNEL_STAGES, "lost")
# The forecast's chance of an open deal at each stage, percent (what the demo and 1C:CRM's
# default funnel use). A deal's own ``probability`` field is not read: one rule for every deal.
STAGE_PROBABILITY = {
    "new": 10,
    "qualification": 20,
    "proposal": 40,
    "negotiation": 60,
    "won": 100,
    "lost": 0,
}
CURRENCY = "RUB"
INTERACTION_KINDS = ("call", "meeting", "letter", "purchase", "complaint", "other")


def _instants(starts: date, ends: date) -> tuple[datetime, datetime]:
    """The period's whole months as UTC instants: [first day 00:00, the day after the last)."""
    first, last = whole_months(starts, ends)
    return (
        datetime.combine(first, time(), UTC),
        datetime.combine(last + timedelta(days=1), time(), UTC),
    )


def text_key(text: str | None) -> str:
    """A free text as grouped: spaces trimmed and collapsed, case folded ("" for none)."""
    return " ".join((text or "").split()).casefold()


def spellings(texts: Iterable[str | None]) -> dict[str, str]:
    """Each grouping key (``text_key``) → its most common spelling (trimmed, spaces collapsed);
    a tie goes to the spelling first in code-point order."""
    counts: dict[str, dict[str, int]] = {}
    for text in texts:
        shown = " ".join((text or "").split())
        by = counts.setdefault(shown.casefold(), {})
        by[shown] = by.get(shown, 0) + 1
    return {key: min(by.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, by in counts.items()}


@dataclass(frozen=True)
class _Deal:
    id: str
    counterparty_id: str
    owner_id: str | None
    stage: str
    amount: Decimal  # roubles; 0 when not given or in another currency
    rub: bool  # the amount is in roubles (or not given)
    source: str | None
    lost_reason: str | None
    furthest: int  # index in FUNNEL_STAGES of the furthest stage it reached


def furthest_stage(stage: str, stages: Iterable[Any] | None) -> int:
    """Index in ``FUNNEL_STAGES`` of the furthest stage a deal reached: a won deal every stage; an
    open one its stage now or a later one its history shows (moved back from negotiation, it has
    still reached negotiation); a lost one the furthest open stage of its history (``new`` when it
    has none: closed before its history was kept, or lost from the start)."""
    if stage == "won":
        return len(FUNNEL_STAGES) - 1
    been = [entry.get("stage") for entry in stages or () if isinstance(entry, dict)]
    if stage in OPEN_STAGES:
        been.append(stage)
    return max((FUNNEL_STAGES.index(s) for s in been if s in OPEN_STAGES), default=0)


def _deal_rows(
    session: Session,
    actor: User,
    owner_id: str | None,
    only: set[str] | None,
    extra: Sequence[Any],
    *where: Any,
) -> Iterator[tuple[str, str | None, str, Decimal, bool, list[Any]]]:
    """The deals ``actor`` sees that meet ``where`` (of ``owner_id`` only; of the counterparties
    ``only``, a segment, when given), each as its counterparty, owner, stage, its money
    (``_deal_money``), whether that is in roubles (or not given), and its ``extra`` columns."""
    rt = records.record_type("deals")
    query: Any = (
        select(
            col(Deal.counterparty_id),
            col(Deal.owner_id),
            col(Deal.stage),
            col(Deal.amount),
            col(Deal.currency),
            col(Deal.closed_volume),
            *extra,
        )
        .where(records.visible(rt, actor))
        .where(*where)
    )
    if owner_id is not None:
        query = query.where(col(Deal.owner_id) == owner_id)
    for cp, owner, stage, amount, currency, volume, *rest in session.execute(query):
        if only is not None and cp not in only:
            continue
        rub = (currency or CURRENCY) == CURRENCY
        yield cp, owner, stage, _deal_money(stage, amount, volume, rub), rub, rest


def _deals(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    owner_id: str | None,
    only: set[str] | None = None,
) -> list[_Deal]:
    """The deals ``actor`` sees created in the period's whole months (of ``owner_id`` only; of the
    counterparties ``only``, a segment, when given)."""
    lo, hi = _instants(starts, ends)
    extra = (col(Deal.id), col(Deal.source), col(Deal.lost_reason), col(Deal.stages))
    created = (col(Deal.created_at) >= lo, col(Deal.created_at) < hi)
    return [
        _Deal(id_, cp, owner, stage, money, rub, source, reason, furthest_stage(stage, stages))
        for cp, owner, stage, money, rub, (id_, source, reason, stages) in _deal_rows(
            session, actor, owner_id, only, extra, *created
        )
    ]


def _deal_money(stage: str, amount: Any, volume: Any, rub: bool) -> Decimal:
    """A deal's amount in roubles (0 in another currency): a won deal's is what was shipped
    (closed_volume) where that is known."""
    value = volume if stage == "won" and volume is not None else amount
    return Decimal(value) if rub and value is not None else ZERO


def _percent(part: int, whole: int) -> float | None:
    return part / whole * 100 if whole else None


def _forecast(amount: Decimal, stage: str) -> Decimal:
    return (amount * STAGE_PROBABILITY[stage] / 100).quantize(Decimal("0.01"))


@dataclass
class FunnelStage:
    stage: str
    deals: int  # deals at this stage now
    amount: Decimal  # their amount, roubles (won: the closed volume where known)
    reached: int  # deals that got to this stage or further (furthest_stage)
    conversion: float | None  # percent of ``reached`` that reached the next stage
    probability: int  # percent (STAGE_PROBABILITY)
    forecast: Decimal | None  # amount × probability, open stages only


@dataclass
class Funnel:
    starts: date
    ends: date
    owner_id: str | None
    stages: list[FunnelStage]
    deals: int
    won: int
    won_amount: Decimal
    lost: int
    lost_amount: Decimal
    win_rate: float | None  # percent of the closed deals (won + lost) that were won
    open_amount: Decimal
    forecast: Decimal
    other_currency: int  # deals counted whose amount is in another currency (left out of sums)


def funnel(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> Funnel:
    """The deals ``actor`` sees created in the period, by their stage now. A deal has *reached* the
    furthest stage it got to (``furthest_stage``: from its history; a won deal every stage, a lost
    one the furthest open stage it was at before it was lost) and every one before it. Conversion
    from a stage: reached(next) / reached(stage). Win rate: won / (won + lost). Forecast: an open
    stage's amount × its ``STAGE_PROBABILITY``. ``only``: the deals of these counterparties (a
    segment), None for all."""
    deals = _deals(session, actor, starts, ends, owner_id, only)
    first, last = whole_months(starts, ends)
    counts = {s: 0 for s in STAGES_SHOWN}
    amounts = {s: ZERO for s in STAGES_SHOWN}
    for d in deals:
        stage = d.stage if d.stage in counts else "new"  # an unknown stage: the funnel's mouth
        counts[stage] += 1
        amounts[stage] += d.amount
    reached = [sum(1 for d in deals if d.furthest >= i) for i in range(len(FUNNEL_STAGES))]
    stages = []
    for i, stage in enumerate(STAGES_SHOWN):
        is_open = stage in OPEN_STAGES
        stages.append(
            FunnelStage(
                stage,
                counts[stage],
                amounts[stage],
                reached[i] if i < len(reached) else counts[stage],
                _percent(reached[i + 1], reached[i]) if i + 1 < len(reached) else None,
                STAGE_PROBABILITY[stage],
                _forecast(amounts[stage], stage) if is_open else None,
            )
        )
    won, lost = counts["won"], counts["lost"]
    return Funnel(
        first,
        last,
        owner_id,
        stages,
        len(deals),
        won,
        amounts["won"],
        lost,
        amounts["lost"],
        _percent(won, won + lost),
        sum((amounts[s] for s in OPEN_STAGES), ZERO),
        sum((s.forecast or ZERO for s in stages), ZERO),
        sum(1 for d in deals if not d.rub),
    )


@dataclass
class ClosedRow:
    month: date  # the first day of the month the deals were closed in
    owner_id: str | None
    won: int
    won_amount: Decimal  # roubles: the closed volume where known, else the amount
    lost: int
    lost_amount: Decimal
    win_rate: float | None  # percent of won among won + lost
    other_currency: int  # deals whose amount is in another currency (left out of the sums)


def _closed_day(closed_on: Any, updated_at: Any) -> date:
    """The day a won or lost deal was closed: ``closed_on``; a deal closed before the history was
    kept has none, and counts on the day it was last changed."""
    if closed_on is not None:
        return as_date(closed_on)
    return updated_at.date() if hasattr(updated_at, "date") else as_date(updated_at)


def closed(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[ClosedRow]:
    """The deals ``actor`` sees that were won or lost in the period's whole months, by the day they
    were closed (``_closed_day``): per month and owner, oldest month first. ``only``: the
    counterparties to keep (a segment), None for all."""
    first, last = whole_months(starts, ends)
    extra = (col(Deal.closed_on), col(Deal.updated_at))
    settled = col(Deal.stage).in_(["won", "lost"])
    rows: dict[tuple[date, str | None], ClosedRow] = {}
    for _cp, owner, stage, money, rub, (closed_on, updated_at) in _deal_rows(
        session, actor, owner_id, only, extra, settled
    ):
        day = _closed_day(closed_on, updated_at)
        if not first <= day <= last:
            continue
        key = (month_start(day), owner)
        row = rows.get(key)
        if row is None:
            row = rows[key] = ClosedRow(key[0], owner, 0, ZERO, 0, ZERO, None, 0)
        row.other_currency += 0 if rub else 1
        if stage == "won":
            row.won += 1
            row.won_amount += money
        else:
            row.lost += 1
            row.lost_amount += money
    for row in rows.values():
        row.win_rate = _percent(row.won, row.won + row.lost)
    return sorted(rows.values(), key=lambda r: (r.month, r.owner_id or ""))


@dataclass
class LostReason:
    reason: str  # the most common spelling; "" when none was given
    deals: int
    amount: Decimal
    share: float  # percent of the lost deals
    amount_share: float | None  # percent of their amount (None when it is zero)


def lost(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[LostReason]:
    """The lost deals ``actor`` sees created in the period, by reason: reasons grouped trimmed
    and case-folded, shown in their most common spelling; most deals first (then the larger
    amount, then the reason). ``only``: of these counterparties (a segment), None for all."""
    deals = [d for d in _deals(session, actor, starts, ends, owner_id, only) if d.stage == "lost"]
    shown = spellings(d.lost_reason for d in deals)
    groups: dict[str, list[_Deal]] = {}
    for d in deals:
        groups.setdefault(text_key(d.lost_reason), []).append(d)
    total = sum((d.amount for d in deals), ZERO)
    out = []
    for key, members in groups.items():
        amount = sum((d.amount for d in members), ZERO)
        out.append(
            LostReason(
                shown[key],
                len(members),
                amount,
                len(members) / len(deals) * 100,
                float(amount / total * 100) if total > 0 else None,
            )
        )
    out.sort(key=lambda r: (-r.deals, -r.amount, r.reason == "", r.reason))
    return out


@dataclass
class SourceRow:
    source: str  # the most common spelling; "" when none was given
    new: int  # counterparties created in the period with this source
    clients: int  # of them, clients now (their kinds include "client")
    conversion: float | None  # clients / new, percent
    deals: int  # deals created in the period from this source (the deal's own source)
    won: int
    won_amount: Decimal
    revenue: Decimal  # sales in the period to every counterparty with this source


def sources(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    data: Sums | None = None,
    only: set[str] | None = None,
) -> list[SourceRow]:
    """Which channel brings clients: per source (grouped as ``lost`` groups reasons) the new
    counterparties of the period and how many of them are clients now, the deals created in
    the period from that source and the won ones, and the period's revenue (the sales
    summaries, ``sums``) of all the counterparties from that source. Largest first: new
    counterparties, then revenue, then won amount. ``only``: the counterparties to count (a
    segment) — their deals and sales only; None for all."""
    lo, hi = _instants(starts, ends)
    first, last = whole_months(starts, ends)
    rt = records.record_type("counterparties")
    query: Any = select(
        col(Counterparty.id),
        col(Counterparty.source),
        col(Counterparty.kinds),
        col(Counterparty.created_at),
    ).where(records.visible(rt, actor))
    if owner_id is not None:
        query = query.where(col(Counterparty.owner_id) == owner_id)
    companies = session.execute(query).all()
    if only is not None:
        companies = [c for c in companies if c[0] in only]
    deals = _deals(session, actor, starts, ends, owner_id, only)
    if data is None:
        data = sums(session, actor, first, last, only=only)
    shown = spellings([c[1] for c in companies] + [d.source for d in deals])
    rows: dict[str, SourceRow] = {}

    def row(text: str | None) -> SourceRow:
        key = text_key(text)
        if key not in rows:
            rows[key] = SourceRow(shown[key], 0, 0, None, 0, 0, ZERO, ZERO)
        return rows[key]

    for cp, source, kinds, created in companies:
        r = row(source)
        if lo <= created < hi:
            r.new += 1
            r.clients += "client" in (kinds or ())
        found = data.get(cp)
        if found:
            r.revenue += roubles(sum(m[0] for m in found.values()))
    for d in deals:
        r = row(d.source)
        r.deals += 1
        if d.stage == "won":
            r.won += 1
            r.won_amount += d.amount
    out = [r for r in rows.values() if r.new or r.deals or r.revenue]
    for r in out:
        r.conversion = _percent(r.clients, r.new)
    out.sort(key=lambda r: (-r.new, -r.revenue, -r.won_amount, r.source == "", r.source))
    return out


@dataclass
class ActivityRow:
    responsible_id: str | None  # None: contacts nobody is responsible for
    done_by_kind: dict[str, int]  # done contacts per kind (INTERACTION_KINDS)
    done: int
    planned: int  # planned, their time still ahead
    overdue: int  # planned, their time past, not done
    cancelled: int

    @property
    def total(self) -> int:
        return self.done + self.planned + self.overdue + self.cancelled


def activity(
    session: Session,
    actor: User,
    starts: date,
    ends: date,
    *,
    now: datetime,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[ActivityRow]:
    """Contacts (interactions) ``actor`` sees whose time falls in the period, per responsible
    person: done ones per kind, and done / planned ahead / overdue (planned, its time before
    ``now``, not done) / cancelled. Most contacts first. ``only``: the contacts with these
    counterparties (a segment), None for all."""
    lo, hi = _instants(starts, ends)
    rt = records.record_type("interactions")
    grouped: list[Any] = [
        col(Interaction.responsible_id),
        col(Interaction.kind),
        col(Interaction.status),
    ]
    if only is not None:  # counted per counterparty too, to keep the segment's
        grouped.append(col(Interaction.counterparty_id))
    query: Any = (
        select(
            *grouped[:3],
            func.count(),
            func.sum(case((col(Interaction.starts_at) < now, 1), else_=0)),
            *grouped[3:],
        )
        .where(records.visible(rt, actor))
        .where(col(Interaction.starts_at) >= lo, col(Interaction.starts_at) < hi)
        .group_by(*grouped)
    )
    if owner_id is not None:
        query = query.where(col(Interaction.responsible_id) == owner_id)
    rows: dict[str | None, ActivityRow] = {}
    for who, kind, status, n, past, *cp in session.execute(query):
        if only is not None and cp[0] not in only:
            continue
        r = rows.get(who)
        if r is None:
            r = rows[who] = ActivityRow(who, {k: 0 for k in INTERACTION_KINDS}, 0, 0, 0, 0)
        if status == InteractionStatus.DONE.value:
            r.done += n
            r.done_by_kind[kind if kind in r.done_by_kind else "other"] += n
        elif status == InteractionStatus.PLANNED.value:
            r.overdue += int(past or 0)
            r.planned += n - int(past or 0)
        else:
            r.cancelled += n
    out = list(rows.values())
    out.sort(key=lambda r: (-r.total, -r.done, r.responsible_id is None, r.responsible_id or ""))
    return out
