"""A counterparty's history as one timeline: interactions, reminders and deals, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm import records
from crm.models import User

INTERACTIONS = records.record_type("interactions")
REMINDERS = records.record_type("reminders")
DEALS = records.record_type("deals")
# A card shows the latest events; "the whole history" link shows up to WHOLE of each kind.
CARD = 100
WHOLE = records.MAX_PAGE - 1  # the most one list_records call gives, less the "more" row


@dataclass(frozen=True)
class Event:
    type: str  # interaction | reminder | deal
    at: datetime
    record: Any
    who: str | None


def timeline_limit(whole: bool) -> int:
    return WHOLE if whole else CARD


@dataclass(frozen=True)
class History:
    events: list[Event]
    more: bool  # older events exist beyond those shown


def timeline(db: Session, actor: User, counterparty_id: str, limit: int = CARD) -> History:
    """The newest ``limit`` events of a counterparty, and whether there are older ones.

    The newest ``limit`` of the merged timeline are among the newest ``limit`` of each
    kind, so each kind is read with ``limit + 1`` rows (the extra one says "more")."""
    only = {"counterparty_id": counterparty_id}
    # One counterparty's children: ``list_records`` asks the access rule once, of that counterparty;
    # the card shows no totals, so none is counted.
    interactions = records.list_records(
        db, actor, INTERACTIONS, filters=only, sort="-starts_at", limit=limit + 1, count=False
    ).items
    reminders = records.list_records(
        db, actor, REMINDERS, filters=only, sort="-due_at", limit=limit + 1, count=False
    ).items
    deals = records.list_records(
        db, actor, DEALS, filters=only, sort="-updated_at", limit=limit + 1, count=False
    ).items
    people = (
        {i.responsible_id for i in interactions}
        | {r.assignee_id for r in reminders}
        | {d.owner_id for d in deals}
    ) - {None}
    names = (
        dict(
            db.execute(
                select(col(User.id), col(User.full_name)).where(col(User.id).in_(people))
            ).all()
        )
        if people
        else {}
    )
    events = [
        Event("interaction", i.starts_at, i, names.get(i.responsible_id)) for i in interactions
    ]
    events += [Event("reminder", r.due_at, r, names.get(r.assignee_id)) for r in reminders]
    events += [Event("deal", d.updated_at, d, names.get(d.owner_id)) for d in deals]
    events.sort(key=lambda e: e.at, reverse=True)
    return History(events[:limit], len(events) > limit)
