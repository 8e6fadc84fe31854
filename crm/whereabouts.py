"""Where is everyone: a board of the staff's days — in the office, at a client, on a business trip,
on vacation, on sick leave, on a day off.

An employee's day is, in this order: an absence that covers it (``crm.models.Absence``: trip and
its city, vacation, sick leave, day off); else the meetings they planned or held that day at
clients (their names where the viewer may see those clients, else only "at a client"); else a
weekend; else the office. Everybody sees the whole board (colleagues need to know whom they can
reach); who keeps the absences is ``crm.access``'s.

Works over any session: the server's database or a laptop's replica (absences and users reach
every laptop; the meetings it holds are those of clients its user sees, so there a colleague at
a client one may not see shows as in the office).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from crm import access
from crm.models import Absence, Counterparty, Interaction, Team, User
from crm.models.enums import MAIL_BRIDGE_LOGIN

OFFICE = "office"
CLIENT = "client"
WEEKEND = "weekend"
MAX_DAYS = 31


@dataclass(frozen=True)
class Day:
    """One person's one day on the board."""

    kind: str  # OFFICE, CLIENT, WEEKEND or an absence's kind
    detail: str = ""  # a trip's city; the clients met, by name where the viewer sees them
    absence_id: str | None = None
    substitute: str = ""  # who covers for them that day (their name), if anyone
    substitute_away: bool = False  # the one who covers is away that day too: nobody covers


@dataclass(frozen=True)
class Row:
    user_id: str
    name: str
    team: str  # the team's name, "" for none
    days: list[Day] = field(default_factory=list)


def board(
    session: Session, actor: User, first: date, days: int = 7, *, zone: ZoneInfo | None = None
) -> list[Row]:
    """Every active employee's ``days`` days from ``first`` (at most ``MAX_DAYS``), by team and
    name; ``zone`` is the company's, for which day a meeting falls on (UTC by default)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be from 1 to {MAX_DAYS}")
    zone = zone or ZoneInfo("UTC")
    last = first + timedelta(days=days - 1)
    teams: dict[str, str] = {i: n for i, n in session.execute(select(col(Team.id), col(Team.name)))}
    people = sorted(
        session.execute(
            select(User).where(col(User.is_active), col(User.login) != MAIL_BRIDGE_LOGIN)
        ).scalars(),
        key=lambda u: (teams.get(u.team_id or "", "\uffff"), u.full_name or u.login, u.login),
    )
    away: dict[tuple[str, date], Absence] = {}
    for absence in session.execute(
        select(Absence).where(col(Absence.starts_on) <= last, col(Absence.ends_on) >= first)
    ).scalars():
        day = max(absence.starts_on, first)
        while day <= min(absence.ends_on, last):
            away[(absence.user_id, day)] = absence
            day += timedelta(days=1)
    met = _meetings(session, actor, first, last, zone)
    names = _names(session, {a.substitute_id for a in away.values() if a.substitute_id})
    rows = []
    for person in people:
        row = Row(person.id, person.full_name or person.login, teams.get(person.team_id or "", ""))
        for offset in range(days):
            day = first + timedelta(days=offset)
            absence = away.get((person.id, day))
            if absence is not None:
                row.days.append(
                    Day(
                        absence.kind,
                        absence.city or "",
                        absence.id,
                        names.get(absence.substitute_id or "", ""),
                        (absence.substitute_id, day) in away,
                    )
                )
            elif (person.id, day) in met:
                row.days.append(Day(CLIENT, ", ".join(met[(person.id, day)])))
            elif day.weekday() >= 5:
                row.days.append(Day(WEEKEND))
            else:
                row.days.append(Day(OFFICE))
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Away:
    """Someone absent on a day: who, why, until when, and where a trip goes."""

    user_id: str
    name: str
    kind: str
    ends_on: date
    city: str
    substitute_id: str | None = None
    substitute: str = ""  # who covers for them (their name), if anyone


def _names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {
        i: full_name or login
        for i, full_name, login in session.execute(
            select(col(User.id), col(User.full_name), col(User.login)).where(col(User.id).in_(ids))
        )
    }


def away(session: Session, day: date, *, user_ids: set[str] | None = None) -> list[Away]:
    """The active employees (or those of ``user_ids``) absent on ``day``, by name: for the agenda's
    "away today" and a card whose owner is away (whom the office tells a calling client)."""
    query = (
        select(Absence, col(User.full_name), col(User.login))
        .join(User, col(User.id) == col(Absence.user_id))
        .where(
            col(Absence.starts_on) <= day,
            col(Absence.ends_on) >= day,
            col(User.is_active),
        )
    )
    if user_ids is not None:
        query = query.where(col(Absence.user_id).in_(user_ids))
    rows = session.execute(query).all()
    names = _names(session, {a.substitute_id for a, _, _ in rows if a.substitute_id})
    found = [
        Away(
            a.user_id,
            full_name or login,
            a.kind,
            a.ends_on,
            a.city or "",
            a.substitute_id,
            names.get(a.substitute_id or "", ""),
        )
        for a, full_name, login in rows
    ]
    return sorted(found, key=lambda a: a.name)


def _meetings(
    session: Session, actor: User, first: date, last: date, zone: ZoneInfo
) -> dict[tuple[str, date], list[str]]:
    """Per (person, day), the clients of their meetings that day (planned or held, not cancelled):
    by name where ``actor`` sees the client, else "?" once."""
    starts = datetime.combine(first, time(), zone).astimezone(UTC)
    ends = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC)
    rows = session.execute(
        select(
            col(Interaction.responsible_id),
            col(Interaction.starts_at),
            col(Interaction.counterparty_id),
        ).where(
            col(Interaction.kind) == "meeting",
            col(Interaction.status) != "cancelled",
            col(Interaction.starts_at) >= starts,
            col(Interaction.starts_at) < ends,
        )
    ).all()
    ids = {r.counterparty_id for r in rows}
    names: dict[str, str] = {}
    if ids:
        for cp_id, short, legal in session.execute(
            select(
                col(Counterparty.id), col(Counterparty.short_name), col(Counterparty.legal_name)
            ).where(col(Counterparty.id).in_(ids), access.visible_counterparties(actor))
        ).all():
            names[cp_id] = short or legal
    met: dict[tuple[str, date], list[str]] = {}
    for r in rows:
        if r.responsible_id is None:
            continue
        day = r.starts_at.astimezone(zone).date()
        shown = names.get(r.counterparty_id, "?")
        listed = met.setdefault((r.responsible_id, day), [])
        if shown not in listed:
            listed.append(shown)
    return met
