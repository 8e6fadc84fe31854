"""Substitutes: while a salesperson is away, a named colleague covers for them.

An absence (``crm.models.Absence``) may name a ``substitute_id``: on the absence's days (the home's
days, ``crm.clock``) the substitute sees and works every counterparty the absent one owns — read
and act, as the owner would (``crm.access`` adds the cover to its rules; the REST API, the web,
the reports and the sync all follow it at once). The cover ends by itself after the last day.

Laptops learn of a cover through the change log: a write that makes or changes a cover that
includes today enters a scope change of the absent one's counterparties then
(``crm.changes``); a cover that begins or ends on a later day is entered by :func:`sweep` on the
first sync of that day (the server runs it before a pull or a bootstrap, once a day per process),
so the substitute's laptop loads the colleague's clients when the cover begins and evicts them
after it ends, as it does for any other change of who sees what.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlmodel import Session, col

from crm import changes, clock
from crm.database import Database, native_insert
from crm.models import Absence, CoverSweep, User

_swept: list[date | None] = [None]  # the last day this process saw swept (saves a read per pull)


def covering(session: Session, substitute: User, day: date | None = None) -> list[Absence]:
    """The absences ``substitute`` covers on ``day`` (today at home by default)."""
    day = day or clock.today()
    return list(
        session.execute(
            select(Absence)
            .where(
                col(Absence.substitute_id) == substitute.id,
                col(Absence.starts_on) <= day,
                col(Absence.ends_on) >= day,
            )
            .order_by(col(Absence.starts_on))
        ).scalars()
    )


def _changed_between(session: Session, last: date, day: date) -> set[str]:
    """The absent people whose cover was in force on ``last`` and not on ``day``, or the other
    way round."""

    def active(d: date) -> ColumnElement[bool]:
        return and_(col(Absence.starts_on) <= d, col(Absence.ends_on) >= d)

    rows = session.execute(
        select(col(Absence.user_id)).where(
            col(Absence.substitute_id).is_not(None),
            or_(
                and_(active(day), ~active(last)),
                and_(active(last), ~active(day)),
            ),
        )
    ).scalars()
    return set(rows)


def sweep(session: Session, day: date | None = None) -> set[str]:
    """Enter the scope changes of the covers that began or ended since the last sweep (in a server
    write); the absent people concerned. Idempotent: once a day, whoever comes first (the sweep row
    is locked while it runs, so two processes do it once)."""
    day = day or clock.today()
    row = session.get(CoverSweep, 1, with_for_update=True)
    if row is None:
        # The first sweep of a new database: the first pulls of its first morning all come here at
        # once, and a missing row locks nothing. One of them makes it; the others wait for that one
        # to commit, then lock the row it made (and find the day swept).
        connection = session.connection()
        connection.execute(
            native_insert(connection.dialect.name, CoverSweep.__table__)  # type: ignore[attr-defined]
            .values(id=1, day=day - timedelta(days=1))
            .on_conflict_do_nothing()
        )
        row = session.get(CoverSweep, 1, with_for_update=True, populate_existing=True)
        assert row is not None
    if row.day >= day:
        return set()
    owners = _changed_between(session, row.day, day)
    changes.rescope_owners(session, owners)
    row.day = day
    session.add(row)
    return owners


def due() -> bool:
    """Whether this process has not yet seen today swept (checked before handing the sweep to a
    thread: every pull asks, and almost always the answer is no)."""
    return _swept[0] != clock.today()


def sweep_if_due(database: Database) -> set[str]:
    """Run :func:`sweep` unless this process already saw today swept (a pull's first step)."""
    day = clock.today()
    if _swept[0] == day:
        return set()
    with database.read() as session:
        row = session.get(CoverSweep, 1)
        done = row is not None and row.day >= day
    owners: set[str] = set()
    if not done:
        with database.write() as session:
            owners = sweep(session, day)
    _swept[0] = day
    return owners
