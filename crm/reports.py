"""The analyses as reports: titled columns and plain rows that every door shows the same way —
``satchel report …`` on the server, ``satchel-field report …`` on a laptop, the REST API,
and the XLSX/CSV exports (``crm.exports``). Titles are Russian and English, as the UI is.

``Report.rows`` hold typed values (Decimal, date, int); ``as_json`` makes them plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import analytics, marketing, neglect, periods, records
from crm import completeness as judged
from crm import pipeline as deal_pipeline  # ``pipeline`` here builds its reports
from crm import receivables as owing  # ``receivables`` here builds its reports
from crm.exports import Chart, Column
from crm.models import Counterparty, User
from crm.models.base import to_jsonable


@dataclass
class Report:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    charts: list[Chart] = field(default_factory=list)
    # What the report was asked (period, thresholds…) and its totals.
    about: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "title": self.title,
            "about": {k: to_jsonable(v) for k, v in self.about.items()},
            "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in self.columns],
            "rows": [{k: to_jsonable(v) for k, v in row.items()} for row in self.rows],
        }


def in_segment(report: Report, segment: Any) -> Report:
    """``report`` named for the segment (``crm.models.Segment``, or None: as it is) it was computed
    over: its title ends with the segment's name (the XLSX sheet's and the screens' heading) and
    ``about`` says which segment."""
    if segment is not None:
        report.title = f"{report.title} — {segment.name}"
        report.about["segment"] = segment.name
        report.about["segment_id"] = segment.id
    return report


def default_period(today: date) -> tuple[date, date]:
    """The last twelve full months before ``today``'s month."""
    ends = today.replace(day=1) - timedelta(days=1)
    starts = (ends.replace(day=1) - timedelta(days=330)).replace(day=1)
    return starts, ends


def period(starts: str | None, ends: str | None, today: date) -> tuple[date, date]:
    """A period asked in words (``YYYY-MM-DD`` or ``YYYY-MM``; either may be left out: the last
    twelve full months), checked as every door checks it; ``ValueError`` says what is wrong."""

    def day(text: str | None, name: str) -> date | None:
        if text is None:
            return None
        try:
            if len(text) == 7:
                return date.fromisoformat(text + "-01")
            if len(text) == 10:
                return date.fromisoformat(text)
        except ValueError:
            pass
        raise ValueError(f"{name} is a day, YYYY-MM-DD (or a month, YYYY-MM), not {text[:40]!r}")

    first, last = default_period(today)
    chosen = (day(starts, "from") or first, day(ends, "to") or last)
    periods.check_period(*chosen)
    return chosen


def names(session: Session, actor: User) -> dict[str, tuple[str, str | None, str | None]]:
    """Visible counterparties' names, owners and INNs (two clients may share a name)."""
    rt = records.record_type("counterparties")
    return {
        cp: (name, owner, inn)
        for cp, name, owner, inn in session.execute(
            select(
                col(Counterparty.id),
                col(Counterparty.legal_name),
                col(Counterparty.owner_id),
                col(Counterparty.inn),
            ).where(records.visible(rt, actor))
        )
    }


def _logins(session: Session) -> dict[str, str]:
    return dict(session.execute(select(col(User.id), col(User.login))).all())


_CLIENT = Column("name", "Контрагент / Counterparty")
_INN = Column("inn", "ИНН / INN")
_OWNER = Column("owner", "Ответственный / Owner")


def abc(session: Session, actor: User, result: analytics.Classification) -> Report:
    known = names(session, actor)
    logins = _logins(session)
    basis = "Выручка / Revenue" if result.basis == "revenue" else "Валовая прибыль / Gross profit"
    rows = []
    for rank, c in enumerate(result.clients, 1):
        name, owner, inn = known.get(c.counterparty_id, (c.counterparty_id, None, None))
        rows.append(
            {
                "rank": rank,
                "counterparty_id": c.counterparty_id,
                "name": name,
                "inn": inn or "",
                "owner": logins.get(owner or "", ""),
                "amount": c.amount,
                "share": round(c.share, 2),
                "cumulative": round(c.cumulative, 2),
                "abc": c.abc,
                "variation": None if c.variation is None else round(c.variation, 1),
                "xyz": c.xyz or "",
                "months": len(c.series),
            }
        )
    t = result.thresholds
    return Report(
        "abc",
        "ABC/XYZ",
        [
            Column("rank", "№", "int"),
            _CLIENT,
            _INN,
            _OWNER,
            Column("amount", basis, "money"),
            Column("share", "Доля, % / Share, %", "percent"),
            Column("cumulative", "Накопленная доля, % / Cumulative, %", "percent"),
            Column("abc", "ABC"),
            Column("variation", "Вариация, % / Variation, %", "percent"),
            Column("xyz", "XYZ"),
            Column("months", "Месяцев / Months", "int"),
        ],
        rows,
        [
            Chart("Парето / Pareto", "rank", ("cumulative",), "line"),
        ],
        {
            "starts": result.starts,
            "ends": result.ends,
            "basis": result.basis,
            "thresholds": f"A {t.a:g} %, B {t.b:g} %, X ≤ {t.x:g} %, Y ≤ {t.y:g} %, "
            f"XYZ from {t.min_months} months",
            "total": result.total,
            "clients": len(result.clients),
        },
    )


def matrix(result: analytics.Classification) -> Report:
    cells = result.matrix()
    rows = []
    for a in "ABC":
        row: dict[str, Any] = {"abc": a}
        for x in ("X", "Y", "Z", "-"):
            count, amount = cells.get((a, x), (0, Decimal(0)))
            key = x if x != "-" else "none"
            row[f"{key}_clients"], row[f"{key}_amount"] = count, amount
        rows.append(row)
    columns = [Column("abc", "ABC")]
    for x, title in (("X", "X"), ("Y", "Y"), ("Z", "Z"), ("none", "— (мало месяцев / too short)")):
        columns += [
            Column(f"{x}_clients", f"{title}: клиентов / clients", "int"),
            Column(f"{x}_amount", f"{title}: сумма / amount", "money"),
        ]
    return Report(
        "matrix",
        "ABC × XYZ",
        columns,
        rows,
        [Chart("ABC × XYZ", "abc", ("X_clients", "Y_clients", "Z_clients"), "bar")],
        {"starts": result.starts, "ends": result.ends, "basis": result.basis},
    )


def rfm(
    session: Session, actor: User, clients: list[analytics.RfmClient], starts: date, ends: date
) -> Report:
    known = names(session, actor)
    logins = _logins(session)
    rows = [
        {
            "counterparty_id": c.counterparty_id,
            "name": known.get(c.counterparty_id, (c.counterparty_id, None, None))[0],
            "inn": known.get(c.counterparty_id, ("", None, None))[2] or "",
            "owner": logins.get(known.get(c.counterparty_id, ("", None, None))[1] or "", ""),
            "recency_days": c.recency_days,
            "frequency": c.frequency,
            "monetary": c.monetary,
            "score": c.score,
            "segment": c.segment,
        }
        for c in clients
    ]
    counts: dict[str, int] = {}
    for c in clients:
        counts[c.segment] = counts.get(c.segment, 0) + 1
    return Report(
        "rfm",
        "RFM",
        [
            _CLIENT,
            _INN,
            _OWNER,
            Column("recency_days", "Дней с покупки / Days since last", "int"),
            Column("frequency", "Покупок / Purchases", "int"),
            Column("monetary", "Выручка / Revenue", "money"),
            Column("score", "RFM"),
            Column("segment", "Сегмент / Segment"),
        ],
        rows,
        about={"starts": starts, "ends": ends, "segments": counts},
    )


def neglected(session: Session, items: list[neglect.Neglected], days: int) -> Report:
    logins = _logins(session)
    rows = [
        {
            "counterparty_id": n.counterparty_id,
            "name": n.name,
            "owner": logins.get(n.owner_id or "", ""),
            "last_contact": n.last_contact,
            "days": n.days,
            "abc": n.abc or "",
        }
        for n in items
    ]
    return Report(
        "neglected",
        "Без контакта / Neglected",
        [
            _CLIENT,
            _OWNER,
            Column("last_contact", "Последний контакт / Last contact", "date"),
            Column("days", "Дней / Days", "int"),
            Column("abc", "ABC"),
        ],
        rows,
        about={"days": days, "clients": len(rows)},
    )


def due(session: Session, items: list[neglect.Due]) -> Report:
    """Clients due for contact by their class's rule (``crm.neglect.due_contacts``)."""
    logins = _logins(session)
    rows = [
        {
            "counterparty_id": d.counterparty_id,
            "name": d.name,
            "owner": logins.get(d.owner_id or "", ""),
            "abc": d.abc,
            "every": d.every,
            "last_contact": d.last_contact,
            "days": d.days,
            "overdue": d.overdue,
        }
        for d in items
    ]
    return Report(
        "due",
        "Пора связаться / Due for contact",
        [
            _CLIENT,
            _OWNER,
            Column("abc", "ABC"),
            Column("every", "Раз в, дней / Every, days", "int"),
            Column("last_contact", "Последний контакт / Last contact", "date"),
            Column("days", "Дней без контакта / Days since", "int"),
            Column("overdue", "Просрочено, дней / Overdue, days", "int"),
        ],
        rows,
        about={"clients": len(rows), "never": sum(1 for d in items if d.days is None)},
    )


def moves(
    older: Any,
    newest: Any,
    moved: list[Any],
    logins: dict[str, str] | None = None,
    only: set[str] | None = None,
) -> Report:
    """Who changed class between two kept computations (``only``: of these clients, a segment)."""
    if only is not None:
        moved = [m for m in moved if m.counterparty_id in only]
    rows = [
        {
            "counterparty_id": m.counterparty_id,
            "name": m.name,
            "before": m.before or "—",
            "after": m.after or "—",
            "amount_before": m.amount_before,
            "amount_after": m.amount_after,
        }
        for m in moved
    ]
    return Report(
        "moves",
        "Смена класса / Class moves",
        [
            _CLIENT,
            Column("before", "Было / Before"),
            Column("after", "Стало / After"),
            Column("amount_before", "Сумма до / Amount before", "money"),
            Column("amount_after", "Сумма после / Amount after", "money"),
        ],
        rows,
        about={
            "before_run": getattr(older, "id", None),
            "before_computed_at": getattr(older, "computed_at", None),
            "after_run": getattr(newest, "id", None),
            "after_computed_at": getattr(newest, "computed_at", None),
        },
    )


# -- Deals, channels and activity

STAGE_TITLES = {
    "new": "Новая / New",
    "qualification": "Квалификация / Qualification",
    "proposal": "Предложение / Proposal",
    "negotiation": "Переговоры / Negotiation",
    "won": "Выиграна / Won",
    "lost": "Проиграна / Lost",
}
NOT_GIVEN = "не указана / not given"  # a lost deal's reason
NO_SOURCE = "не указан / not given"  # a counterparty's or deal's source
NOBODY = "— (никто / nobody)"
KIND_TITLES = {
    "call": "Звонки / Calls",
    "meeting": "Встречи / Meetings",
    "letter": "Письма / Letters",
    "purchase": "Покупки / Purchases",
    "complaint": "Жалобы / Complaints",
    "other": "Другое / Other",
}
_OWNER_LENGTH = 100


def owner(session: Session, who: str | None) -> str | None:
    """The user ``who`` names (a login or an id) as an id, for a report's ``owner`` filter;
    ``ValueError`` when nobody is called that."""
    if who is None:
        return None
    if not who or len(who) > _OWNER_LENGTH or "\x00" in who:
        raise ValueError("owner is a user's login or id")
    found = session.execute(
        select(col(User.id)).where((col(User.login) == who) | (col(User.id) == who))
    ).first()
    if found is None:
        raise ValueError(f"no user {who[:40]!r}: owner is a user's login or id")
    return str(found[0])


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def funnel(session: Session, result: deal_pipeline.Funnel) -> Report:
    rows = [
        {
            "stage": s.stage,
            "title": STAGE_TITLES[s.stage],
            "deals": s.deals,
            "amount": s.amount,
            "reached": s.reached,
            "conversion": _round(s.conversion),
            "probability": s.probability,
            "forecast": s.forecast,
        }
        for s in result.stages
    ]
    return Report(
        "funnel",
        "Воронка сделок / Deals funnel",
        [
            Column("title", "Этап / Stage"),
            Column("deals", "Сделок / Deals", "int"),
            Column("amount", "Сумма / Amount", "money"),
            Column("reached", "Дошли до этапа / Reached", "int"),
            Column("conversion", "Конверсия в следующий, % / To the next, %", "percent"),
            Column("probability", "Вероятность, % / Probability, %", "percent"),
            Column("forecast", "Прогноз / Forecast", "money"),
        ],
        rows,
        [Chart("Воронка / Funnel", "title", ("reached",), "bar")],
        {
            "starts": result.starts,
            "ends": result.ends,
            "owner": _logins(session).get(result.owner_id or "") or None,
            "deals": result.deals,
            "won": result.won,
            "won_amount": result.won_amount,
            "lost": result.lost,
            "lost_amount": result.lost_amount,
            "win_rate": _round(result.win_rate),
            "open_amount": result.open_amount,
            "forecast": result.forecast,
            "other_currency": result.other_currency,
        },
    )


def lost(
    session: Session,
    items: list[deal_pipeline.LostReason],
    starts: date,
    ends: date,
    owner_id: str | None = None,
) -> Report:
    first, last = periods.whole_months(starts, ends)
    rows = [
        {
            "reason": r.reason or NOT_GIVEN,
            "deals": r.deals,
            "amount": r.amount,
            "share": _round(r.share),
            "amount_share": _round(r.amount_share),
        }
        for r in items
    ]
    return Report(
        "lost",
        "Причины проигрыша / Lost reasons",
        [
            Column("reason", "Причина / Reason"),
            Column("deals", "Сделок / Deals", "int"),
            Column("amount", "Сумма / Amount", "money"),
            Column("share", "Доля сделок, % / Share of deals, %", "percent"),
            Column("amount_share", "Доля суммы, % / Share of amount, %", "percent"),
        ],
        rows,
        [Chart("Причины / Reasons", "reason", ("deals",), "bar")],
        {
            "starts": first,
            "ends": last,
            "owner": _logins(session).get(owner_id or "") or None,
            "deals": sum(r.deals for r in items),
            "amount": sum((r.amount for r in items), Decimal(0)),
        },
    )


def sources(
    session: Session,
    items: list[deal_pipeline.SourceRow],
    starts: date,
    ends: date,
    owner_id: str | None = None,
) -> Report:
    first, last = periods.whole_months(starts, ends)
    rows = [
        {
            "source": r.source or NO_SOURCE,
            "new": r.new,
            "clients": r.clients,
            "conversion": _round(r.conversion),
            "deals": r.deals,
            "won": r.won,
            "won_amount": r.won_amount,
            "revenue": r.revenue,
        }
        for r in items
    ]
    return Report(
        "sources",
        "Источники клиентов / Sources",
        [
            Column("source", "Источник / Source"),
            Column("new", "Новых контрагентов / New counterparties", "int"),
            Column("clients", "Из них клиенты / Became clients", "int"),
            Column("conversion", "Конверсия, % / Conversion, %", "percent"),
            Column("deals", "Сделок / Deals", "int"),
            Column("won", "Выиграно / Won", "int"),
            Column("won_amount", "Сумма выигранных / Won amount", "money"),
            Column("revenue", "Выручка за период / Revenue", "money"),
        ],
        rows,
        [Chart("Источники / Sources", "source", ("new", "clients"), "bar")],
        {
            "starts": first,
            "ends": last,
            "owner": _logins(session).get(owner_id or "") or None,
            "new": sum(r.new for r in items),
            "clients": sum(r.clients for r in items),
        },
    )


def activity(
    session: Session,
    items: list[deal_pipeline.ActivityRow],
    starts: date,
    ends: date,
    owner_id: str | None = None,
) -> Report:
    first, last = periods.whole_months(starts, ends)
    people = dict(session.execute(select(col(User.id), col(User.full_name))).all())
    logins = _logins(session)
    rows = []
    for r in items:
        who = r.responsible_id or ""
        rows.append(
            {
                "user_id": r.responsible_id,
                "login": logins.get(who, NOBODY if not who else who),
                "name": people.get(who, ""),
                **{kind: r.done_by_kind[kind] for kind in deal_pipeline.INTERACTION_KINDS},
                "done": r.done,
                "planned": r.planned,
                "overdue": r.overdue,
                "cancelled": r.cancelled,
                "total": r.total,
            }
        )
    return Report(
        "activity",
        "Активность менеджеров / Activity",
        [
            Column("login", "Сотрудник / User"),
            Column("name", "ФИО / Name"),
            *(
                Column(kind, f"{KIND_TITLES[kind]} (сделано / done)", "int")
                for kind in deal_pipeline.INTERACTION_KINDS
            ),
            Column("done", "Сделано / Done", "int"),
            Column("planned", "Запланировано / Planned", "int"),
            Column("overdue", "Просрочено / Overdue", "int"),
            Column("cancelled", "Отменено / Cancelled", "int"),
            Column("total", "Всего / Total", "int"),
        ],
        rows,
        [Chart("Активность / Activity", "login", ("done", "overdue"), "bar")],
        {
            "starts": first,
            "ends": last,
            "owner": logins.get(owner_id or "") or None,
            "done": sum(r.done for r in items),
            "overdue": sum(r.overdue for r in items),
        },
    )


def closed(
    session: Session,
    items: list[deal_pipeline.ClosedRow],
    starts: date,
    ends: date,
    owner_id: str | None = None,
) -> Report:
    first, last = periods.whole_months(starts, ends)
    logins = _logins(session)
    rows = [
        {
            "month": r.month,
            "owner": logins.get(r.owner_id or "") or NOT_GIVEN,
            "won": r.won,
            "won_amount": r.won_amount,
            "lost": r.lost,
            "lost_amount": r.lost_amount,
            "win_rate": _round(r.win_rate),
        }
        for r in items
    ]
    won = sum(r.won for r in items)
    lost_ = sum(r.lost for r in items)
    return Report(
        "closed",
        "Закрытые сделки / Closed deals",
        [
            Column("month", "Месяц / Month", "date"),
            Column("owner", "Ответственный / Owner"),
            Column("won", "Выиграно / Won", "int"),
            Column("won_amount", "Объём выигранных / Won volume", "money"),
            Column("lost", "Проиграно / Lost", "int"),
            Column("lost_amount", "Сумма проигранных / Lost amount", "money"),
            Column("win_rate", "Доля выигранных, % / Win rate, %", "percent"),
        ],
        rows,
        [Chart("Выиграно по месяцам / Won by month", "month", ("won_amount",), "bar")],
        {
            "starts": first,
            "ends": last,
            "owner": logins.get(owner_id or "") or None,
            "won": won,
            "won_amount": sum((r.won_amount for r in items), Decimal(0)),
            "lost": lost_,
            "lost_amount": sum((r.lost_amount for r in items), Decimal(0)),
            "win_rate": _round(won / (won + lost_) * 100 if won + lost_ else None),
            "other_currency": sum(r.other_currency for r in items),
        },
    )


EVENT_KINDS = {
    "exhibition": "Выставка / Exhibition",
    "seminar": "Семинар / Seminar",
    "promotion": "Акция / Promotion",
    "advertising": "Реклама / Advertising",
    "mailing": "Рассылка / Mailing",
}


def events(
    session: Session,
    items: list[marketing.EventReturn],
    starts: date,
    ends: date,
    owner_id: str | None = None,
) -> Report:
    """What the events of the period earned (``crm.marketing.returns``): one row per event."""
    first, last = periods.whole_months(starts, ends)
    logins = _logins(session)
    rows = [
        {
            "event_id": r.id,
            "name": r.name,
            "kind": EVENT_KINDS.get(r.kind, r.kind),
            "starts_on": r.starts_on,
            "ends_on": r.ends_on,
            "owner": logins.get(r.owner_id or "") or NOT_GIVEN,
            "budget": r.budget,
            "cost": r.cost,
            "participants": r.participants,
            "invited": r.by_status.get("invited", 0),
            "registered": r.by_status.get("registered", 0),
            "attended": r.by_status.get("attended", 0),
            "declined": r.by_status.get("declined", 0),
            "attending": r.attending,
            "enquiries": r.enquiries,
            "won": r.won,
            "won_volume": r.won_volume,
            "sales_after": r.sales_after,
            "revenue": r.revenue,
            "return_on_cost": r.return_on_cost,
        }
        for r in items
    ]
    cost = sum((r.cost for r in items), Decimal(0))
    revenue = sum((r.revenue for r in items), Decimal(0))
    return Report(
        "events",
        "Мероприятия / Events",
        [
            Column("name", "Мероприятие / Event"),
            Column("kind", "Вид / Kind"),
            Column("starts_on", "С / From", "date"),
            Column("ends_on", "По / Until", "date"),
            Column("owner", "Ответственный / Owner"),
            Column("budget", "Бюджет / Budget", "money"),
            Column("cost", "Затраты / Cost", "money"),
            Column("participants", "Участников / Participants", "int"),
            Column("invited", "Приглашено / Invited", "int"),
            Column("registered", "Зарегистрировано / Registered", "int"),
            Column("attended", "Пришло / Attended", "int"),
            Column("declined", "Отказались / Declined", "int"),
            Column("attending", "Клиентов пришло / Clients attending", "int"),
            Column("enquiries", "Обращений (сделок) / Enquiries (deals)", "int"),
            Column("won", "Выиграно / Won", "int"),
            Column("won_volume", "Объём выигранных / Won volume", "money"),
            Column("sales_after", "Продажи пришедшим после / Sales after", "money"),
            Column("revenue", "Выручка от мероприятия / Revenue attributed", "money"),
            Column("return_on_cost", "Окупаемость, % / Return on cost, %", "percent"),
        ],
        rows,
        [Chart("Затраты и выручка / Cost and revenue", "name", ("cost", "revenue"), "bar")],
        {
            "starts": first,
            "ends": last,
            "owner": logins.get(owner_id or "") or None,
            "events": len(items),
            "cost": cost,
            "revenue": revenue,
            "return_on_cost": _round(float((revenue - cost) / cost * 100) if cost else None),
        },
    )


PIPELINE = ("funnel", "lost", "sources", "activity", "closed", "events")


def pipeline(
    session: Session,
    actor: User,
    name: str,
    starts: date,
    ends: date,
    *,
    owner_id: str | None = None,
    now: datetime | None = None,
    only: set[str] | None = None,
) -> Report:
    """One of the deal and activity reports (``PIPELINE``) over what ``actor`` sees — every door
    (REST, the commands, the laptop, the screens) builds them here. ``only``: over these
    counterparties (a segment's members, ``crm.segments``), None for all."""
    if name == "funnel":
        result = deal_pipeline.funnel(session, actor, starts, ends, owner_id=owner_id, only=only)
        return funnel(session, result)
    if name == "lost":
        items = deal_pipeline.lost(session, actor, starts, ends, owner_id=owner_id, only=only)
        return lost(session, items, starts, ends, owner_id)
    if name == "sources":
        found = deal_pipeline.sources(session, actor, starts, ends, owner_id=owner_id, only=only)
        return sources(session, found, starts, ends, owner_id)
    if name == "activity":
        rows = deal_pipeline.activity(
            session,
            actor,
            starts,
            ends,
            now=now or datetime.now(UTC),
            owner_id=owner_id,
            only=only,
        )
        return activity(session, rows, starts, ends, owner_id)
    if name == "closed":
        done = deal_pipeline.closed(session, actor, starts, ends, owner_id=owner_id, only=only)
        return closed(session, done, starts, ends, owner_id)
    if name == "events":
        held = marketing.returns(
            session, actor, starts=starts, ends=ends, only=only, owner_id=owner_id
        )
        return events(session, held, starts, ends, owner_id)
    raise ValueError(f"no report {name!r}: {', '.join(PIPELINE)}")


# -- Data completeness (crm.completeness)

COMPLETENESS = ("completeness", "completeness-owners")


def completeness(
    session: Session,
    actor: User,
    day: date,
    *,
    name: str = "completeness",
    rules: str | None = None,
    owner_id: str | None = None,
    sort: str = "score",
    found: list[judged.Score] | None = None,
    only: set[str] | None = None,
) -> Report:
    """How complete the cards ``actor`` sees are on ``day`` (``crm.completeness``): per card
    (``completeness``: name, INN, owner, score, what is missing; the worst first by default) or
    per salesperson (``completeness-owners``: cards, average score, cards under 50 %). ``rules``
    as ``completeness.choose`` reads them (every rule by default); ``ValueError`` for a bad one.
    ``found``: the scores already computed with those rules (a screen showing both reports);
    ``only``: these cards (a segment's members), None for all."""
    if name not in COMPLETENESS:
        raise ValueError(f"no report {name!r}: {', '.join(COMPLETENESS)}")
    chosen = judged.choose(rules)
    if found is None:
        found = judged.scores(
            session, actor, day, rules=chosen, owner_id=owner_id, sort=sort, only=only
        )
    logins = _logins(session)
    about: dict[str, Any] = {
        "day": day,
        "rules": judged.describe(chosen),
        "owner": logins.get(owner_id or "") or None,
        "cards": len(found),
        "average": judged.average([s.score for s in found]),
        "poor": sum(s.score < judged.POOR for s in found),
    }
    if name == "completeness-owners":
        people = dict(session.execute(select(col(User.id), col(User.full_name))).all())
        rows = [
            {
                "user_id": o.owner_id,
                "login": logins.get(o.owner_id or "", NOBODY if o.owner_id is None else ""),
                "name": people.get(o.owner_id or "", ""),
                "cards": o.cards,
                "average": o.average,
                "poor": o.poor,
            }
            for o in judged.by_owner(found)
        ]
        return Report(
            name,
            "Полнота данных по менеджерам / Completeness per salesperson",
            [
                Column("login", "Сотрудник / User"),
                Column("name", "ФИО / Name"),
                Column("cards", "Карточек / Cards", "int"),
                Column("average", "Средняя полнота, % / Average score, %", "percent"),
                Column("poor", f"Ниже {judged.POOR} % / Under {judged.POOR} %", "int"),
            ],
            rows,
            [Chart("Полнота / Completeness", "login", ("average",), "bar")],
            about,
        )
    rows = [
        {
            "counterparty_id": s.card.id,
            "name": s.card.name,
            "inn": s.card.inn or "",
            "owner": logins.get(s.card.owner_id or "", ""),
            "score": s.score,
            "missing": ", ".join(r.title for r in s.missing),
            "missing_keys": [r.key for r in s.missing],
        }
        for s in found
    ]
    return Report(
        name,
        "Полнота данных / Data completeness",
        [
            _CLIENT,
            _INN,
            _OWNER,
            Column("score", "Полнота, % / Score, %", "percent"),
            Column("missing", "Чего не хватает / Missing"),
        ],
        rows,
        about=about,
    )


# -- Receivables (crm.invoices, crm.receivables)

RECEIVABLES = ("receivables", "receivables-owners")
AGEING_TITLES = (
    ("days_1_30", "1–30 дней / 1–30 days"),
    ("days_31_60", "31–60 дней / 31–60 days"),
    ("days_61_90", "61–90 дней / 61–90 days"),
    ("days_over_90", "Более 90 дней / Over 90 days"),
)


def receivables(
    session: Session,
    actor: User,
    day: date,
    *,
    name: str = "receivables",
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> Report:
    """What the clients ``actor`` sees owe on ``day`` (``crm.receivables``): per client
    (``receivables``: owed, overdue, not yet due, the overdue amount by age, the oldest overdue
    days, open invoices; the most overdue first) or per salesperson (``receivables-owners``: the
    same summed over their clients). ``only``: these clients (a segment's members)."""
    if name not in RECEIVABLES:
        raise ValueError(f"no report {name!r}: {', '.join(RECEIVABLES)}")
    found = owing.receivables(session, actor, today=day, owner_id=owner_id, only=only)
    logins = _logins(session)
    ageing = [Column(key, title, "money") for key, title in AGEING_TITLES]
    about: dict[str, Any] = {
        "day": day,
        "owner": logins.get(owner_id or "") or None,
        "clients": len(found),
        "overdue_clients": sum(r.overdue > 0 for r in found),
        "owed": sum((r.owed for r in found), owing.NO_MONEY),
        "overdue": sum((r.overdue for r in found), owing.NO_MONEY),
        "not_due": sum((r.not_due for r in found), owing.NO_MONEY),
    }
    for i, (key, _title) in enumerate(AGEING_TITLES):
        about[key] = sum((r.ageing[i] for r in found), owing.NO_MONEY)
    money = [
        Column("owed", "Долг / Owed", "money"),
        Column("overdue", "Просрочено / Overdue", "money"),
        Column("not_due", "Срок не наступил / Not yet due", "money"),
        *ageing,
        Column("oldest_days", "Макс. просрочка, дней / Oldest overdue, days", "int"),
    ]
    if name == "receivables-owners":
        people = dict(session.execute(select(col(User.id), col(User.full_name))).all())
        rows = [
            {
                "user_id": o.owner_id,
                "login": logins.get(o.owner_id or "", NOBODY if o.owner_id is None else ""),
                "name": people.get(o.owner_id or "", ""),
                "clients": o.clients,
                "overdue_clients": o.overdue_clients,
                "owed": o.owed,
                "overdue": o.overdue,
                "not_due": o.not_due,
                **{key: o.ageing[i] for i, (key, _t) in enumerate(AGEING_TITLES)},
                "oldest_days": o.oldest_days,
            }
            for o in owing.receivables_by_owner(found)
        ]
        return Report(
            name,
            "Дебиторская задолженность по менеджерам / Receivables per salesperson",
            [
                Column("login", "Сотрудник / User"),
                Column("name", "ФИО / Name"),
                Column("clients", "Должников / Clients owing", "int"),
                Column("overdue_clients", "С просрочкой / Overdue clients", "int"),
                *money,
            ],
            rows,
            [Chart("Просрочено / Overdue", "login", ("overdue", "not_due"), "bar")],
            about,
        )
    known = names(session, actor)
    rows = [
        {
            "counterparty_id": r.counterparty_id,
            "name": r.name,
            "inn": (known.get(r.counterparty_id) or ("", None, None))[2] or "",
            "owner": logins.get(r.owner_id or "", ""),
            "owed": r.owed,
            "overdue": r.overdue,
            "not_due": r.not_due,
            **{key: r.ageing[i] for i, (key, _t) in enumerate(AGEING_TITLES)},
            "oldest_days": r.oldest_days,
            "invoices": r.invoices,
            "overdue_invoices": r.overdue_invoices,
        }
        for r in found
    ]
    return Report(
        name,
        "Дебиторская задолженность / Receivables",
        [
            _CLIENT,
            _INN,
            _OWNER,
            *money,
            Column("invoices", "Открытых счетов / Open invoices", "int"),
            Column("overdue_invoices", "Просроченных / Overdue invoices", "int"),
        ],
        rows,
        about=about,
    )
