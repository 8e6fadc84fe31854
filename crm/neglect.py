"""The clients nobody has contacted (issue 14): the neglected ones, and those due for contact by
their class's rule.

**Neglected** (``neglected``): counterparties of the chosen kinds (default: clients) with no
contact done (an interaction whose status is done; of the chosen kinds of contact, all by default)
in the last N days, or never: the longest neglected first. **Due** (``due_contacts``): a
``ContactRule`` says every how many days a client of an ABC class is to be contacted (by the kinds
of contact it names; any when it names none); the clients whose last such contact is that old or
older, or who were never contacted: never contacted first, then the most overdue. Everyone's
agenda lists their own (``crm.agenda``).

Both read the interactions and the classes kept on the cards (``Counterparty.abc_class``,
``crm.trade``), never the sales, and only the counterparties the asking user may see: a
salesperson gets the same answer on a laptop with no network as from the server. ``only``: the
counterparties to keep (a segment's members, ``crm.segments``), None for all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from crm import records
from crm.models import ContactRule, Counterparty, Interaction, User
from crm.models.enums import InteractionStatus
from crm.periods import as_date

MAX_DAYS = 3650


@dataclass
class Neglected:
    counterparty_id: str
    name: str
    owner_id: str | None
    last_contact: date | None  # None: never
    days: int | None
    abc: str | None


def neglected(
    session: Session,
    actor: User,
    days: int,
    *,
    today: date,
    kinds: Iterable[str] = ("client",),
    contact_kinds: Iterable[str] | None = None,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[Neglected]:
    """Counterparties of ``kinds`` that ``actor`` sees with no contact done in the last ``days``
    days (``contact_kinds``: which interactions count; all by default), longest neglected first
    (``only``: of these counterparties, a segment; None for all)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days is a whole number from 1 to {MAX_DAYS}")
    wanted = set(kinds)
    last_q: Any = select(
        col(Interaction.counterparty_id), func.max(col(Interaction.starts_at))
    ).where(col(Interaction.status) == InteractionStatus.DONE.value)
    if contact_kinds is not None:
        last_q = last_q.where(col(Interaction.kind).in_(list(contact_kinds)))
    last_q = last_q.group_by(col(Interaction.counterparty_id)).subquery()
    rt = records.record_type("counterparties")
    query: Any = (
        select(
            col(Counterparty.id),
            col(Counterparty.legal_name),
            col(Counterparty.owner_id),
            col(Counterparty.kinds),
            col(Counterparty.abc_class),
            last_q.c[1],
        )
        .outerjoin(last_q, last_q.c[0] == col(Counterparty.id))
        .where(records.visible(rt, actor))
    )
    if owner_id is not None:
        query = query.where(col(Counterparty.owner_id) == owner_id)
    out = []
    for cp, name, owner, cp_kinds, abc, last in session.execute(query):
        if wanted and not wanted & set(cp_kinds or ()):
            continue
        if only is not None and cp not in only:
            continue
        last_day_ = last.date() if last is not None and hasattr(last, "date") else None
        if last is not None and last_day_ is None:
            last_day_ = as_date(last)
        ago = (today - last_day_).days if last_day_ is not None else None
        if ago is not None and ago < days:
            continue
        out.append(Neglected(cp, name, owner, last_day_, ago, abc))
    out.sort(key=lambda n: (n.days is not None, -(n.days or 0), n.name))
    return out


@dataclass
class Due:
    """A client due for contact by its class's rule (``ContactRule``)."""

    counterparty_id: str
    name: str
    owner_id: str | None
    abc: str
    every: int  # the rule: contact every this many days
    last_contact: date | None  # None: never
    days: int | None  # since the last contact; None: never
    overdue: int | None  # days past the rule's interval (0: due today); None: never contacted


def due_contacts(
    session: Session,
    actor: User,
    *,
    today: date,
    owner_id: str | None = None,
    only: set[str] | None = None,
) -> list[Due]:
    """The counterparties ``actor`` sees whose ABC class has a contact rule and whose last contact
    done (of the rule's kinds; any kind when it names none) was that many days ago or more, or who
    were never contacted: never contacted first, then the most overdue. ``owner_id``: one
    salesperson's clients (the agenda asks for the viewer's own); ``only``: these counterparties."""
    rules = list(session.execute(select(ContactRule)).scalars())
    by_kinds: dict[tuple[str, ...], dict[str, int]] = {}
    for rule in rules:
        by_kinds.setdefault(tuple(sorted(rule.kinds or ())), {})[rule.abc_class] = rule.days
    rt = records.record_type("counterparties")
    out = []
    for kinds, classes in by_kinds.items():
        candidates: Any = select(col(Counterparty.id)).where(
            col(Counterparty.abc_class).in_(list(classes))
        )
        if owner_id is not None:
            candidates = candidates.where(col(Counterparty.owner_id) == owner_id)
        last_q: Any = select(
            col(Interaction.counterparty_id), func.max(col(Interaction.starts_at))
        ).where(
            col(Interaction.status) == InteractionStatus.DONE.value,
            col(Interaction.counterparty_id).in_(candidates),
        )
        if kinds:
            last_q = last_q.where(col(Interaction.kind).in_(list(kinds)))
        last_q = last_q.group_by(col(Interaction.counterparty_id)).subquery()
        query: Any = (
            select(
                col(Counterparty.id),
                col(Counterparty.legal_name),
                col(Counterparty.owner_id),
                col(Counterparty.abc_class),
                last_q.c[1],
            )
            .outerjoin(last_q, last_q.c[0] == col(Counterparty.id))
            .where(col(Counterparty.abc_class).in_(list(classes)))
            .where(records.visible(rt, actor))
        )
        if owner_id is not None:
            query = query.where(col(Counterparty.owner_id) == owner_id)
        for cp, name, owner, abc, last in session.execute(query):
            if only is not None and cp not in only:
                continue
            every = classes[abc]
            day = (
                None if last is None else (last.date() if hasattr(last, "date") else as_date(last))
            )
            ago = None if day is None else (today - day).days
            if ago is not None and ago < every:
                continue
            out.append(
                Due(cp, name, owner, abc, every, day, ago, None if ago is None else ago - every)
            )
    out.sort(key=lambda d: (d.overdue is not None, -(d.overdue or 0), d.name))
    return out
