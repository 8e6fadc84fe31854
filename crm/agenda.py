"""A user's day: planned contacts of today, open reminders due by the end of it, near birthdays.

Read-only, with the access rules of ``crm.access`` applied in the query (the
same rules as the calendar feeds of ``crm.diary``). "Today" is a day in the
viewer's time zone, which the caller passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, extract, or_, select
from sqlmodel import Session, col

from crm import access, diary
from crm.models import ContactPerson, Counterparty, Interaction, Reminder, User
from crm.models.enums import InteractionStatus

# Reminders older than this are not "overdue" any more but forgotten; the agenda stays short.
OVERDUE_HORIZON = timedelta(days=365)
MAX_ITEMS = 200


@dataclass(frozen=True)
class Birthday:
    person: ContactPerson
    counterparty: Counterparty
    on: date
    days_left: int


@dataclass(frozen=True)
class Agenda:
    day: date
    planned: list[tuple[Interaction, Counterparty]]
    reminders: list[tuple[Reminder, Counterparty | None]]
    birthdays: list[Birthday]
    now: datetime


def _next_birthday(born: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            day = born.replace(year=year)
        except ValueError:  # 29 February in a common year: celebrated on the 28th
            day = date(year, 2, 28)
        if day >= today:
            return day
    raise AssertionError("unreachable")


def planned_on(session: Session, viewer: User, since: datetime, until: datetime) -> list[tuple[Interaction, Counterparty]]:
    """The viewer's own planned contacts starting in [since, until) at counterparties they may see."""
    stmt = (select(Interaction, Counterparty)
            .join(Counterparty, Counterparty.id == Interaction.counterparty_id)
            .where(Interaction.responsible_id == viewer.id,
                   Interaction.status == InteractionStatus.PLANNED.value,
                   Interaction.starts_at >= since, Interaction.starts_at < until,
                   # Stricter than the feeds: a client taken away drops off the screen at once.
                   access.visible_counterparties(viewer))
            .order_by(Interaction.starts_at, Interaction.id).limit(MAX_ITEMS))
    return [(i, c) for i, c in session.execute(stmt).all()]


def _days(today: date, days: int) -> list[tuple[int, int]]:
    """(month, day) of each day from today to ``days`` ahead; 29 February joins the 28th in a common year."""
    found = []
    for n in range(days + 1):
        day = today + timedelta(days=n)
        found.append((day.month, day.day))
        if (day.month, day.day) == (2, 28) and (day + timedelta(days=1)).month == 3:
            found.append((2, 29))
    return found


def birthdays_within(session: Session, viewer: User, today: date, days: int) -> list[Birthday]:
    """Birthdays of contact persons (of counterparties the viewer sees) from today to ``days`` ahead.

    Filtered by month and day in the database: an office user sees every
    counterparty, and loading every person with a birthday to keep a dozen was
    the slowest part of the agenda.
    """
    born = col(ContactPerson.birthday)
    stmt = (select(ContactPerson, Counterparty)
            .join(Counterparty, Counterparty.id == ContactPerson.counterparty_id)
            .where(born.is_not(None), access.visible_counterparties(viewer),
                   or_(*(and_(extract("month", born) == m, extract("day", born) == d) for m, d in _days(today, days))))
            .limit(MAX_ITEMS * 5))
    found: list[Birthday] = []
    for person, counterparty in session.execute(stmt).all():
        assert person.birthday is not None
        on = _next_birthday(person.birthday, today)
        left = (on - today).days
        if left <= days:
            found.append(Birthday(person, counterparty, on, left))
    found.sort(key=lambda b: (b.days_left, b.counterparty.owner_id != viewer.id, b.person.full_name))
    return found[:MAX_ITEMS]


def for_user(session: Session, viewer: User, zone: ZoneInfo, *, now: datetime | None = None,
             birthday_days: int = 7) -> Agenda:
    now = now or datetime.now(UTC)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(), zone).astimezone(UTC)
    end = start + timedelta(days=1)
    reminders = diary.reminders(session, viewer, [viewer.id], now - OVERDUE_HORIZON, end)[:MAX_ITEMS]
    return Agenda(day=today, planned=planned_on(session, viewer, start, end), reminders=reminders,
                  birthdays=birthdays_within(session, viewer, today, birthday_days), now=now)

