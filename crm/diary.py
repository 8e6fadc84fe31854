"""The salesperson's diary as the calendars need it: planned contacts, open reminders, birthdays.

Read-only domain queries for the calendar bridge, with the access rules applied
as REST applies them (``crm.access``, ``crm.records.visible``) when the query runs:

* a plan holds what its people are responsible for among the counterparties the
  viewer may see, plus the viewer's own planned contacts whatever became of the
  counterparty — but of those, only the time and the kind: the counterparty's
  and the contact person's names, address, phones and emails, and the
  interaction's subject and notes, come back as None when the viewer may not see
  them (REST answers 404 for such an interaction);
* reminders are those REST shows the viewer (assignee, creator, or whoever sees
  the counterparty); the counterparty comes with one only when the viewer sees it;
* birthdays are those of the contact persons of the counterparties the viewer may see;
* complaints are the open ones ``people`` answer for at counterparties the viewer may see.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from crm import access, records
from crm.models import Complaint, ContactPerson, Counterparty, Interaction, Reminder, User
from crm.models.enums import ComplaintStatus, InteractionStatus, ReminderStatus, Role


def team(session: Session, manager: User) -> list[User]:
    """The active members of ``manager``'s team, the manager included; everybody for an admin."""
    stmt = select(User).where(col(User.is_active))
    if manager.role != Role.ADMIN:
        if manager.team_id is None:
            return [manager]
        stmt = stmt.where(col(User.team_id) == manager.team_id)
    return list(session.execute(stmt.order_by(col(User.login))).scalars())


# What a viewer who no longer sees an interaction's counterparty gets of it: None.
_DETAILS = (
    "subject",
    "notes",
    "legal_name",
    "short_name",
    "actual_address",
    "legal_address",
    "counterparty_contacts",
    "person_name",
    "person_contacts",
)
_PERSON = ("person_name", "person_contacts")


def _without(row: Any, names: tuple[str, ...]) -> Any:
    """``row`` with ``names`` set to None (a Row is read-only)."""
    return SimpleNamespace(**{**row._mapping, **dict.fromkeys(names)})


def planned(
    session: Session, viewer: User, people: list[str], since: datetime, until: datetime
) -> list[Any]:
    """Planned interactions of ``people`` (user ids) starting in [since, until) that ``viewer`` may see,
    and the viewer's own ones whose counterparty they no longer see, with every detail None
    (``_DETAILS``); a contact person the viewer may not see is None too. ``seen`` says which.

    Rows, not records: a feed reads a dozen columns of a thousand interactions,
    and building the full objects cost more than the rest of the feed. The rule
    is asked once per row, as a column, rather than once per hidden column.
    """
    person = aliased(ContactPerson)
    # The person's own counterparty decides about the person (it could have moved since).
    persons_cp = aliased(Counterparty)
    sees = access.visible_counterparties(viewer)
    sees_person = access.visible_counterparties(
        viewer,
        id_col=persons_cp.id,
        owner_col=persons_cp.owner_id,
        visibility_col=persons_cp.visibility,
    )
    plain = (
        Interaction.id,
        Interaction.kind,
        Interaction.subject,
        Interaction.notes,
        Interaction.starts_at,
        Interaction.duration_minutes,
        Interaction.remind_at,
        Interaction.updated_at,
        Interaction.version,
        Interaction.responsible_id,
        Counterparty.legal_name,
        Counterparty.short_name,
        Counterparty.actual_address,
        Counterparty.legal_address,
    )
    starts_at = col(Interaction.starts_at)
    stmt = (
        select(
            *(col(column) for column in plain),
            col(Counterparty.contacts).label("counterparty_contacts"),
            col(person.full_name).label("person_name"),
            col(person.contacts).label("person_contacts"),
            case((sees, True), else_=False).label("seen"),
            case((or_(col(person.id).is_(None), sees_person), True), else_=False).label(
                "person_seen"
            ),
        )
        .join(Counterparty, col(Counterparty.id) == Interaction.counterparty_id)
        .outerjoin(person, col(person.id) == Interaction.contact_person_id)
        .outerjoin(persons_cp, col(persons_cp.id) == person.counterparty_id)
        .where(
            col(Interaction.responsible_id).in_(people),
            col(Interaction.status) == InteractionStatus.PLANNED.value,
            starts_at >= since,
            starts_at < until,
            or_(col(Interaction.responsible_id) == viewer.id, sees),
        )
        .order_by(starts_at, col(Interaction.id))
    )
    rows = session.connection().execute(stmt).all()
    return [
        row
        if row.seen and row.person_seen
        else _without(row, _DETAILS if not row.seen else _PERSON)
        for row in rows
    ]


def _reminders_due(
    viewer: User, people: list[str], since: datetime, until: datetime
) -> list[ColumnElement[bool]]:
    return [
        col(Reminder.assignee_id).in_(people),
        col(Reminder.status).in_([ReminderStatus.OPEN.value, ReminderStatus.SNOOZED.value]),
        col(Reminder.due_at) >= since,
        col(Reminder.due_at) < until,
        records.visible(records.record_type("reminders"), viewer),
    ]


def reminders(
    session: Session,
    viewer: User,
    people: list[str],
    since: datetime,
    until: datetime,
    *,
    latest: int | None = None,
) -> list[tuple[Reminder, Counterparty | None]]:
    """Open or snoozed reminders of ``people`` due in [since, until) that ``viewer`` may see (as REST
    shows them), each with its counterparty when it has one that ``viewer`` may see, else None;
    by due time. With ``latest``, only that many of those due last (still in due-time order)."""
    stmt = (
        select(Reminder, Counterparty)
        .outerjoin(
            Counterparty,
            and_(
                col(Counterparty.id) == Reminder.counterparty_id,
                access.visible_counterparties(viewer),
            ),
        )
        .where(*_reminders_due(viewer, people, since, until))
    )
    if latest is None:
        stmt = stmt.order_by(col(Reminder.due_at), col(Reminder.id))
        return [(r, c) for r, c in session.execute(stmt).all()]
    stmt = stmt.order_by(col(Reminder.due_at).desc(), col(Reminder.id).desc()).limit(latest)
    return [(r, c) for r, c in reversed(session.execute(stmt).all())]


def count_reminders(
    session: Session, viewer: User, people: list[str], since: datetime, until: datetime
) -> int:
    """How many reminders ``reminders`` would list."""
    stmt = (
        select(func.count())
        .select_from(Reminder)
        .where(*_reminders_due(viewer, people, since, until))
    )
    return int(session.execute(stmt).scalar_one())


def birthdays(session: Session, viewer: User) -> list[tuple[ContactPerson, Counterparty]]:
    """Contact persons with a birthday at the counterparties ``viewer`` may see; the viewer's own clients first."""
    stmt = (
        select(ContactPerson, Counterparty)
        .join(Counterparty, col(Counterparty.id) == ContactPerson.counterparty_id)
        .where(col(ContactPerson.birthday).is_not(None), access.visible_counterparties(viewer))
        .order_by(
            (col(Counterparty.owner_id) != viewer.id),
            col(ContactPerson.full_name),
            col(ContactPerson.id),
        )
    )
    return [(p, c) for p, c in session.execute(stmt).all()]


def complaints(
    session: Session, viewer: User, people: list[str], since: date, until: date
) -> list[tuple[Complaint, Counterparty]]:
    """Open complaints (new or in work) ``people`` are responsible for, with a deadline in
    [since, until), at counterparties ``viewer`` may see (as REST shows them); by deadline."""
    stmt = (
        select(Complaint, Counterparty)
        .join(Counterparty, col(Counterparty.id) == Complaint.counterparty_id)
        .where(
            col(Complaint.responsible_id).in_(people),
            col(Complaint.status).in_([ComplaintStatus.NEW.value, ComplaintStatus.IN_WORK.value]),
            col(Complaint.deadline) >= since,
            col(Complaint.deadline) < until,
            access.visible_counterparties(viewer),
        )
        .order_by(col(Complaint.deadline), col(Complaint.id))
    )
    return [(c, cp) for c, cp in session.execute(stmt).all()]


def reminder_authors(session: Session, reminders: Iterable[Reminder]) -> dict[str, str]:
    """The author's name of each of ``reminders`` that someone else than its assignee wrote (a
    message to a colleague), by the reminder's id; their full name, else their login."""
    wrote = {
        r.id: r.created_by
        for r in reminders
        if r.created_by is not None and r.created_by != r.assignee_id
    }
    if not wrote:
        return {}
    names = {
        user_id: full_name or login
        for user_id, full_name, login in session.execute(
            select(col(User.id), col(User.full_name), col(User.login)).where(
                col(User.id).in_(set(wrote.values()))
            )
        )
    }
    return {rid: names[uid] for rid, uid in wrote.items() if uid in names}
