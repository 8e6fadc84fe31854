"""The salesperson's diary as the calendars need it: planned contacts, open reminders, birthdays.

Read-only domain queries for the calendar bridge, with the access rules applied:
a plan holds what its people are responsible for among the counterparties the
viewer may see; birthdays are those of the contact persons of the
counterparties the viewer may see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from crm import access
from crm.models import ContactPerson, Counterparty, Interaction, Reminder, User
from crm.models.enums import InteractionStatus, ReminderStatus, Role


def team(session: Session, manager: User) -> list[User]:
    """The active members of ``manager``'s team, the manager included; everybody for an admin."""
    stmt = select(User).where(col(User.is_active))
    if manager.role != Role.ADMIN:
        if manager.team_id is None:
            return [manager]
        stmt = stmt.where(User.team_id == manager.team_id)
    return list(session.execute(stmt.order_by(User.login)).scalars())


def planned(session: Session, viewer: User, people: list[str], since: datetime, until: datetime) -> list[Any]:
    """Planned interactions of ``people`` (user ids) starting in [since, until), that ``viewer`` may see.

    Rows, not records: a feed reads a dozen columns of a thousand interactions,
    and building the full objects cost more than the rest of the feed.
    """
    person = aliased(ContactPerson)
    stmt = (select(Interaction.id, Interaction.kind, Interaction.subject, Interaction.notes, Interaction.starts_at,
                   Interaction.duration_minutes, Interaction.remind_at, Interaction.updated_at, Interaction.version,
                   Interaction.responsible_id, Counterparty.legal_name, Counterparty.short_name,
                   Counterparty.actual_address, Counterparty.legal_address,
                   Counterparty.contacts.label("counterparty_contacts"),  # type: ignore[attr-defined]
                   person.full_name.label("person_name"), person.contacts.label("person_contacts"))  # type: ignore[attr-defined]
            .join(Counterparty, Counterparty.id == Interaction.counterparty_id)
            .outerjoin(person, person.id == Interaction.contact_person_id)
            .where(col(Interaction.responsible_id).in_(people),
                   Interaction.status == InteractionStatus.PLANNED.value,
                   Interaction.starts_at >= since, Interaction.starts_at < until,
                   or_(Interaction.responsible_id == viewer.id, access.visible_counterparties(viewer)))
            .order_by(Interaction.starts_at, Interaction.id))
    return list(session.connection().execute(stmt).all())


def reminders(session: Session, viewer: User, people: list[str], since: datetime, until: datetime
              ) -> list[tuple[Reminder, Counterparty | None]]:
    """Open or snoozed reminders of ``people`` due in [since, until), that ``viewer`` may see."""
    stmt = (select(Reminder, Counterparty)
            .outerjoin(Counterparty, Counterparty.id == Reminder.counterparty_id)
            .where(col(Reminder.assignee_id).in_(people),
                   col(Reminder.status).in_([ReminderStatus.OPEN.value, ReminderStatus.SNOOZED.value]),
                   Reminder.due_at >= since, Reminder.due_at < until,
                   or_(Reminder.assignee_id == viewer.id, col(Reminder.counterparty_id).is_(None),
                       access.visible_counterparties(viewer)))
            .order_by(Reminder.due_at, Reminder.id))
    return [(r, c) for r, c in session.execute(stmt).all()]


def birthdays(session: Session, viewer: User) -> list[tuple[ContactPerson, Counterparty]]:
    """Contact persons with a birthday at the counterparties ``viewer`` may see; the viewer's own clients first."""
    stmt = (select(ContactPerson, Counterparty)
            .join(Counterparty, Counterparty.id == ContactPerson.counterparty_id)
            .where(col(ContactPerson.birthday).is_not(None), access.visible_counterparties(viewer))
            .order_by((Counterparty.owner_id != viewer.id), ContactPerson.full_name, ContactPerson.id))
    return [(p, c) for p, c in session.execute(stmt).all()]
