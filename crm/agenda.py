"""A user's day: planned contacts of today, open reminders due by the end of it, near birthdays,
the user's letters still on their way out, and the open complaints they answer for whose
deadline is today or past.

Read-only, with the access rules of ``crm.access`` applied in the query (the
same rules as the calendar feeds of ``crm.diary``). "Today" is a day in the
viewer's time zone, which the caller passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col

from crm import access, diary, neglect
from crm.models import Complaint, ContactPerson, Counterparty, Interaction, Reminder, User
from crm.models.enums import ComplaintStatus, InteractionKind, InteractionStatus, MailStatus

# Reminders older than this are not "overdue" any more but forgotten; the agenda stays short.
OVERDUE_HORIZON = timedelta(days=365)
MAX_ITEMS = 200
# A letter in one of these has not left yet (or may not have): the agenda lists it apart.
UNSENT = (MailStatus.QUEUED, MailStatus.SENDING, MailStatus.FAILED, MailStatus.UNCERTAIN)
# At most this many such letters, the newest first.
MAX_LETTERS = 50
# Clients due for contact shown on the agenda; the due report lists them all.
MAX_DUE = 20


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
    # Birthdays in the coming days beyond the ones shown (``MAX_BIRTHDAYS``): "and N more".
    more_birthdays: int = 0
    # Reminders due earlier than the ones shown (``MAX_REMINDERS``): "and N earlier".
    more_reminders: int = 0
    # The viewer's own letters waiting to be sent (or that failed), newest first.
    letters: list[tuple[Interaction, Counterparty]] = field(default_factory=list)
    # The viewer's open complaints due today or overdue, the oldest deadline first.
    complaints: list[tuple[Complaint, Counterparty]] = field(default_factory=list)
    # The viewer's own clients due for contact by their class's rule (``MAX_DUE`` shown), and how
    # many more there are.
    due: list[neglect.Due] = field(default_factory=list)
    more_due: int = 0
    # Who wrote each reminder someone else left the viewer (a message from a colleague): its id →
    # the author's name. The viewer's own reminders are not in it.
    authors: dict[str, str] = field(default_factory=dict)

    def overdue(self, complaint: Complaint) -> bool:
        """Whether ``complaint``'s deadline has passed (it was due before today)."""
        return complaint.deadline is not None and complaint.deadline < self.day


def _next_birthday(born: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            day = born.replace(year=year)
        except ValueError:  # 29 February in a common year: celebrated on the 28th
            day = date(year, 2, 28)
        if day >= today:
            return day
    raise AssertionError("unreachable")


def planned_on(
    session: Session, viewer: User, since: datetime, until: datetime
) -> list[tuple[Interaction, Counterparty]]:
    """The viewer's own planned contacts starting in [since, until) at counterparties they may see.

    Not letters: a letter waiting to be sent is ``planned`` too, but it is no call or meeting
    of the day (``letters_waiting`` lists them)."""
    stmt = (
        select(Interaction, Counterparty)
        .join(Counterparty, col(Counterparty.id) == Interaction.counterparty_id)
        .where(
            col(Interaction.responsible_id) == viewer.id,
            col(Interaction.status) == InteractionStatus.PLANNED.value,
            col(Interaction.kind) != InteractionKind.LETTER.value,
            col(Interaction.starts_at) >= since,
            col(Interaction.starts_at) < until,
            # Stricter than the feeds: a client taken away drops off the screen at once.
            access.visible_counterparties(viewer),
        )
        .order_by(col(Interaction.starts_at), col(Interaction.id))
        .limit(MAX_ITEMS)
    )
    return [(i, c) for i, c in session.execute(stmt).all()]


def letters_waiting(
    session: Session, viewer: User, limit: int = MAX_LETTERS
) -> list[tuple[Interaction, Counterparty]]:
    """The viewer's own letters not sent yet — queued, being sent, failed or maybe not sent — at
    counterparties they may see, the most recently changed first, at most ``limit``."""
    stmt = (
        select(Interaction, Counterparty)
        .join(Counterparty, col(Counterparty.id) == Interaction.counterparty_id)
        .where(
            # Through the mail status's index (few letters wait at any time), not the viewer's
            # whole history: coalesce() keeps the planner off the index on responsible_id.
            func.coalesce(col(Interaction.responsible_id), "") == viewer.id,
            col(Interaction.kind) == InteractionKind.LETTER.value,
            col(Interaction.mail_status).in_([s.value for s in UNSENT]),
            access.visible_counterparties(viewer),
        )
        .order_by(col(Interaction.updated_at).desc(), col(Interaction.id).desc())
        .limit(limit)
    )
    return [(i, c) for i, c in session.execute(stmt).all()]


OPEN_COMPLAINT = (ComplaintStatus.NEW.value, ComplaintStatus.IN_WORK.value)


def complaints_due(
    session: Session, viewer: User, by: date, limit: int = MAX_ITEMS
) -> list[tuple[Complaint, Counterparty]]:
    """The open complaints the viewer is responsible for whose deadline is ``by`` or earlier, at
    counterparties they may see, the oldest deadline first, at most ``limit``."""
    stmt = (
        select(Complaint, Counterparty)
        .join(Counterparty, col(Counterparty.id) == Complaint.counterparty_id)
        .where(
            col(Complaint.responsible_id) == viewer.id,
            col(Complaint.status).in_(OPEN_COMPLAINT),
            col(Complaint.deadline) <= by,
            access.visible_counterparties(viewer),
        )
        .order_by(col(Complaint.deadline), col(Complaint.id))
        .limit(limit)
    )
    return [(c, cp) for c, cp in session.execute(stmt).all()]


def _days(today: date, days: int) -> list[tuple[int, int]]:
    """(month, day) of each day from today to ``days`` ahead; 29 February joins the 28th in a common year."""
    found = []
    for n in range(days + 1):
        day = today + timedelta(days=n)
        found.append((day.month, day.day))
        if (day.month, day.day) == (2, 28) and (day + timedelta(days=1)).month == 3:
            found.append((2, 29))
    return found


class month_day(FunctionElement[str]):  # noqa: N801 - an SQL function, named like one
    """A date's "MM-DD" in SQL: one cheap expression per row, compared with a short list of days."""

    type = String()
    inherit_cache = True


@compiles(month_day, "sqlite")
def _month_day_sqlite(element: month_day, compiler: Any, **kw: Any) -> str:
    # SQLite keeps a date as its ISO text, YYYY-MM-DD: the month and day are characters 6 to 10.
    return f"substr({compiler.process(element.clauses, **kw)}, 6, 5)"


@compiles(month_day)
def _month_day_default(element: month_day, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'MM-DD')"


# At most this many birthdays on the agenda; the rest are counted ("and N more").
MAX_BIRTHDAYS = 50
# At most this many reminders on the agenda unless all are asked for: today's and the latest overdue;
# the earlier ones are counted ("and N earlier", a link to all of them, up to ``MAX_ITEMS``).
MAX_REMINDERS = 50


def _in_chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[n : n + size] for n in range(0, len(ids), size)]


def _birthday_rows(
    session: Session, viewer: User, today: date, days: int
) -> list[tuple[str, date, str, str, str | None]]:
    """(person id, birthday, full name, counterparty id, its owner) of the persons with a birthday from today
    to ``days`` ahead at counterparties the viewer sees: a few columns, not the records.

    Two steps, so that no database starts from the counterparties (SQLite did, walking every
    one the viewer sees and then its persons): the persons are read once with a cheap test of
    their day; the access rule is then asked of the counterparties of those found, by primary key.
    """
    keys = sorted({f"{m:02d}-{d:02d}" for m, d in _days(today, days)})
    born = col(ContactPerson.birthday)
    persons = session.execute(
        select(
            col(ContactPerson.id),
            born,
            col(ContactPerson.full_name),
            col(ContactPerson.counterparty_id),
        ).where(born.is_not(None), month_day(born).in_(keys))
    ).all()
    wanted = sorted({row[3] for row in persons})
    owners: dict[str, str | None] = {}
    for chunk in _in_chunks(wanted):
        owners.update(
            (cp, owner)
            for cp, owner in session.execute(
                select(col(Counterparty.id), col(Counterparty.owner_id)).where(
                    col(Counterparty.id).in_(chunk), access.visible_counterparties(viewer)
                )
            )
        )
    return [(pid, bday, name, cp, owners[cp]) for pid, bday, name, cp in persons if cp in owners]


def upcoming_birthdays(
    session: Session, viewer: User, today: date, days: int, limit: int = MAX_BIRTHDAYS
) -> tuple[list[Birthday], int]:
    """Birthdays of contact persons (of counterparties the viewer sees) from today to ``days`` ahead,
    the nearest first (the viewer's own clients first on a day), at most ``limit``; and how many more.

    Filtered by month and day in the database: an office user sees every
    counterparty, and loading every person with a birthday to keep a dozen was
    the slowest part of the agenda. Only the shown ones are loaded as records.
    """
    found = []
    for person_id, born, name, counterparty_id, owner_id in _birthday_rows(
        session, viewer, today, days
    ):
        on = _next_birthday(born, today)
        left = (on - today).days
        if left <= days:
            found.append((left, owner_id != viewer.id, name, person_id, counterparty_id, on))
    found.sort()
    shown = found[:limit]
    people: dict[str, ContactPerson] = {}
    companies: dict[str, Counterparty] = {}
    for chunk in _in_chunks([row[3] for row in shown]):
        people.update(
            (p.id, p)
            for p in session.execute(
                select(ContactPerson).where(col(ContactPerson.id).in_(chunk))
            ).scalars()
        )
    for chunk in _in_chunks(sorted({row[4] for row in shown})):
        companies.update(
            (c.id, c)
            for c in session.execute(
                select(Counterparty).where(col(Counterparty.id).in_(chunk))
            ).scalars()
        )
    birthdays = [
        Birthday(people[pid], companies[cp], on, left)
        for left, _, _, pid, cp, on in shown
        if pid in people and cp in companies
    ]
    return birthdays, len(found) - len(shown)


def birthdays_within(session: Session, viewer: User, today: date, days: int) -> list[Birthday]:
    """Birthdays of contact persons (of counterparties the viewer sees) from today to ``days`` ahead,
    at most ``MAX_ITEMS`` (``upcoming_birthdays`` without the count of the rest)."""
    return upcoming_birthdays(session, viewer, today, days, limit=MAX_ITEMS)[0]


def for_user(
    session: Session,
    viewer: User,
    zone: ZoneInfo,
    *,
    now: datetime | None = None,
    birthday_days: int = 7,
    all_reminders: bool = False,
) -> Agenda:
    now = now or datetime.now(UTC)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(), zone).astimezone(UTC)
    end = start + timedelta(days=1)
    shown = MAX_ITEMS if all_reminders else MAX_REMINDERS
    since = now - OVERDUE_HORIZON
    reminders = diary.reminders(session, viewer, [viewer.id], since, end, latest=shown)
    more_reminders = 0
    if len(reminders) == shown:
        more_reminders = diary.count_reminders(session, viewer, [viewer.id], since, end) - shown
    birthdays, more = upcoming_birthdays(session, viewer, today, birthday_days, limit=MAX_BIRTHDAYS)
    due = neglect.due_contacts(session, viewer, today=today, owner_id=viewer.id)
    return Agenda(
        authors=diary.reminder_authors(session, [r for r, _ in reminders]),
        day=today,
        planned=planned_on(session, viewer, start, end),
        reminders=reminders,
        birthdays=birthdays,
        now=now,
        more_birthdays=more,
        more_reminders=more_reminders,
        letters=letters_waiting(session, viewer),
        complaints=complaints_due(session, viewer, today),
        due=due[:MAX_DUE],
        more_due=max(0, len(due) - MAX_DUE),
    )
