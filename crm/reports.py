"""The analyses as reports: titled columns and plain rows that every door shows the same way —
``satchel report …`` on the server, ``satchel-field report …`` on a laptop, the REST API,
and the XLSX/CSV exports (``crm.exports``). Titles are Russian and English, as the UI is.

``Report.rows`` hold typed values (Decimal, date, int); ``as_json`` makes them plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import analytics, records
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
    analytics.check_period(*chosen)
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


def neglected(session: Session, items: list[analytics.Neglected], days: int) -> Report:
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


def moves(
    older: Any,
    newest: Any,
    moved: list[Any],
    logins: dict[str, str] | None = None,
) -> Report:
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
