"""Who may see and change which record.

The rules, in the order they are tried:

* an admin sees and changes everything; an office user sees everything and
  changes what is shared with them for editing;
* the owner (responsible salesperson) of a counterparty sees and changes it;
* a manager sees and changes the counterparties owned by members of their team;
* ``visibility = team`` lets the owner's teammates see and change it;
* ``visibility = company`` lets everybody see it;
* an explicit ``Share`` lets a user (or a whole team) see it, and change it when
  ``can_edit`` is set; shares are made and taken back by whoever decides who sees the
  counterparty (its owner, their manager, an admin), not by every editor of it.

Contact persons, interactions, deals, complaints and claims follow their counterparty.
Anyone who sees a counterparty may log an interaction with it, or register a
complaint, or claim a product group of it for themselves; the interaction's (complaint's)
responsible user may change it, a claim only its holder and their manager (who alone hands it to
another holder). A reminder is seen by its assignee and creator
and by whoever sees its counterparty; anyone who sees a client leaves a colleague who sees it too
a reminder about it (a message), while one about nothing in particular is put in someone else's
agenda only by their manager.

``visible_counterparties(actor)`` is the same rule as ``can_read_counterparty``
written as SQL, so lists filter in the database; a test checks they agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, bindparam, or_, select, true
from sqlmodel import Session, col

from crm import clock
from crm.models import (
    Absence,
    Claim,
    Complaint,
    ContactPerson,
    ContactRule,
    Contract,
    Counterparty,
    Deal,
    EventCost,
    EventParticipant,
    Interaction,
    Invoice,
    LetterTemplate,
    Mailing,
    MarketingEvent,
    PriceItem,
    Receivable,
    Reminder,
    Sale,
    SalesSummary,
    Segment,
    Share,
    SupplierTerms,
    Team,
    User,
)
from crm.models.enums import Role, Visibility


def team_members(team_id: Any) -> Any:
    """SQL: the ids of the members of team ``team_id``."""
    return select(col(User.id)).where(col(User.team_id) == team_id)


def _covered(actor: User | _Placeholder) -> Any:
    """The people ``actor`` stands in for today (``Absence.substitute_id``, on the absence's days
    at home, ``crm.clock``): their clients are the substitute's to see and work meanwhile. The day is
    bound when the statement runs, so a statement built once stays right tomorrow."""
    day = bindparam("cover_day", type_=Date, unique=True, callable_=lambda: clock.today())
    return select(col(Absence.user_id)).where(
        col(Absence.substitute_id) == actor.id,
        col(Absence.starts_on) <= day,
        col(Absence.ends_on) >= day,
    )


def _shared_with(actor: User | _Placeholder, *, editable: bool) -> Any:
    who = col(Share.user_id) == actor.id
    if actor.team_id is not None:
        who = or_(who, col(Share.team_id) == actor.team_id)
    cond = and_(who, col(Share.can_edit) == true()) if editable else who
    return select(col(Share.counterparty_id)).where(cond)


def visible_counterparties(
    actor: User | _Placeholder,
    *,
    id_col: Any = Counterparty.id,
    owner_col: Any = Counterparty.owner_id,
    visibility_col: Any = Counterparty.visibility,
) -> ColumnElement[bool]:
    """SQL condition true exactly for the counterparties ``actor`` may see.

    On ``Counterparty`` by default; the columns may be those of a table that
    copies them (the search index), so a search filters without a join.
    """
    if actor.role in (Role.ADMIN, Role.OFFICE):
        return true()
    conds: list[ColumnElement[bool]] = [
        owner_col == actor.id,
        visibility_col == Visibility.COMPANY.value,
        id_col.in_(_shared_with(actor, editable=False)),
        owner_col.in_(_covered(actor)),
    ]
    if actor.team_id is not None:
        members = team_members(actor.team_id)
        conds.append(and_(visibility_col == Visibility.TEAM.value, owner_col.in_(members)))
        if actor.role == Role.MANAGER:
            conds.append(owner_col.in_(members))
    return or_(*conds)


def writable_counterparties(actor: User | _Placeholder) -> ColumnElement[bool]:
    """SQL condition on ``Counterparty`` true exactly for rows ``actor`` may change."""
    if actor.role == Role.ADMIN:
        return true()
    conds: list[ColumnElement[bool]] = [
        col(Counterparty.owner_id) == actor.id,
        col(Counterparty.id).in_(_shared_with(actor, editable=True)),
        col(Counterparty.owner_id).in_(_covered(actor)),
    ]
    if actor.team_id is not None and actor.role != Role.OFFICE:
        members = team_members(actor.team_id)
        conds.append(
            and_(
                col(Counterparty.visibility) == Visibility.TEAM.value,
                col(Counterparty.owner_id).in_(members),
            )
        )
        if actor.role == Role.MANAGER:
            conds.append(col(Counterparty.owner_id).in_(members))
    return or_(*conds)


def shareable_counterparties(actor: User) -> ColumnElement[bool]:
    """SQL condition on ``Counterparty`` true exactly for rows whose shares ``actor`` keeps
    (``_keeps_shares``): its owner's, their manager's, an admin's."""
    if actor.role == Role.ADMIN:
        return true()
    conds: list[ColumnElement[bool]] = [col(Counterparty.owner_id) == actor.id]
    if actor.role == Role.MANAGER and actor.team_id is not None:
        conds.append(col(Counterparty.owner_id).in_(team_members(actor.team_id)))
    return or_(*conds)


@dataclass(frozen=True)
class _Placeholder:
    """Stands for a user in a statement built once per kind of user, with the values bound later."""

    role: str
    id: Any = field(default_factory=lambda: bindparam("actor_id"))
    team_id: Any = None


@cache
def _check_statement(role: str, has_team: bool, write: bool) -> Any:
    """``SELECT id FROM counterparty WHERE id = :cp AND <rule>``, built once per role and team-ness.

    Every API write checks access; building the rule's expression anew each time
    cost more than running it.
    """
    actor = _Placeholder(role=role, team_id=bindparam("team_id") if has_team else None)
    rule = writable_counterparties if write else visible_counterparties
    return select(col(Counterparty.id)).where(
        col(Counterparty.id) == bindparam("counterparty_id"),
        rule(actor),
    )


def _counterparty_matches(
    session: Session, actor: User, counterparty_id: str | None, *, write: bool
) -> bool:
    if counterparty_id is None:
        return False
    held = session.info.get(_HELD)
    if held is not None and held[0] == actor.id:
        known = held[1].known(actor, counterparty_id, write=write)
        if known is not None:
            return known
    stmt = _check_statement(actor.role, actor.team_id is not None, write)
    params = {"counterparty_id": counterparty_id, "actor_id": actor.id, "team_id": actor.team_id}
    # Core execution: no autoflush, so a caller that changed ``counterparty_id``'s
    # record must flush first (``records.update`` does).
    return session.connection().execute(stmt, params).first() is not None


class Memo:
    """The answers to "may this user see (or change) this counterparty?" within one batch.

    A batch that cannot change who sees what meanwhile (not counterparties, not shares)
    asks each question once: ``records.create_many`` and the mail bridge's filing pass one
    through ``records.create`` to the rules and the access check. Keyed by user, so the
    actor's own sight and that of the person a record is given to are both remembered.
    """

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, bool], bool] = {}

    def matches(
        self, session: Session, user: User, counterparty_id: str | None, *, write: bool
    ) -> bool:
        if counterparty_id is None:
            return False
        key = (user.id, counterparty_id, write)
        if key not in self._answers:
            self._answers[key] = _counterparty_matches(session, user, counterparty_id, write=write)
        return self._answers[key]

    def known(self, user: User, counterparty_id: str, *, write: bool) -> bool | None:
        """The answer remembered, or None when the question was not asked yet."""
        return self._answers.get((user.id, counterparty_id, write))

    def prefetch(
        self, session: Session, user: User, counterparty_ids: set[str], *, write: bool
    ) -> None:
        """Ask about every id of ``counterparty_ids`` at once (one query)."""
        rule = writable_counterparties(user) if write else visible_counterparties(user)
        allowed = set(
            session.connection()
            .execute(
                select(col(Counterparty.id)).where(col(Counterparty.id).in_(counterparty_ids), rule)
            )
            .scalars()
        )
        self._answers.update({(user.id, cp, write): cp in allowed for cp in counterparty_ids})


# Where ``remembering`` keeps its answers in a session: (the actor's id, the ``Memo``).
_HELD = "access.remembered"


@contextmanager
def remembering(session: Session, actor: User, counterparty_ids: set[str]) -> Iterator[None]:
    """Answer "may ``actor`` see, may they change, this counterparty" for ``counterparty_ids`` from
    two queries, for every check of ``actor`` inside the block (``can_read``, ``can_write``,
    ``can_create``, … of records under those counterparties), instead of a query a check.

    Only while nothing inside changes who sees what: the caller calls ``forget`` after anything
    that might (a counterparty's owner or visibility, a share, a user's team or role, an absence
    and its substitute) — a push does after every mutation of such a type. Other users' checks,
    and ids not asked for, still go to the database.
    """
    memo = Memo()
    ids = sorted(cp for cp in counterparty_ids if cp)
    for start in range(0, len(ids), 500):
        chunk = set(ids[start : start + 500])
        memo.prefetch(session, actor, chunk, write=True)
        memo.prefetch(session, actor, chunk, write=False)
    session.info[_HELD] = (actor.id, memo)
    try:
        yield
    finally:
        session.info.pop(_HELD, None)


def forget(session: Session) -> None:
    """Drop what ``remembering`` holds: who sees what may have changed since."""
    session.info.pop(_HELD, None)


def can_read_counterparty(
    session: Session, actor: User, counterparty_id: str | None, memo: Memo | None = None
) -> bool:
    if memo is not None:
        return memo.matches(session, actor, counterparty_id, write=False)
    return _counterparty_matches(session, actor, counterparty_id, write=False)


def can_write_counterparty(session: Session, actor: User, counterparty_id: str | None) -> bool:
    return _counterparty_matches(session, actor, counterparty_id, write=True)


def may_manage(actor: User, other: User) -> bool:
    """Whether ``actor`` may act for ``other`` (assign them work, hand them clients)."""
    if actor.id == other.id or actor.role == Role.ADMIN:
        return True
    return (
        actor.role == Role.MANAGER and actor.team_id is not None and actor.team_id == other.team_id
    )


def can_read(session: Session, actor: User, record: Any) -> bool:
    """Whether ``actor`` may see ``record`` (any record type of the domain)."""
    if isinstance(record, Counterparty):
        return can_read_counterparty(session, actor, record.id)
    if isinstance(record, Reminder):
        if actor.role in (Role.ADMIN, Role.OFFICE) or actor.id in (
            record.assignee_id,
            record.created_by,
        ):
            return True
        return can_read_counterparty(session, actor, record.counterparty_id)
    if isinstance(
        record,
        ContactPerson
        | Interaction
        | Deal
        | Share
        | Sale
        | SalesSummary
        | Complaint
        | Claim
        | Contract
        | Invoice
        | Receivable
        | EventParticipant
        | SupplierTerms
        | PriceItem,
    ):
        return can_read_counterparty(session, actor, record.counterparty_id)
    # Users and teams: everybody sees their colleagues (to pick a responsible person), and where
    # they are (their absences); the company's letter templates, contact rules, segments, and its
    # marketing events with their costs.
    return isinstance(
        record,
        User
        | Team
        | LetterTemplate
        | Absence
        | ContactRule
        | Segment
        | MarketingEvent
        | EventCost
        | Mailing,
    )


def sight(session: Session, actor: User, record: Any) -> tuple[bool, bool]:
    """(``can_read``, ``can_write``) of ``record``, in one question where one answers both.

    Whoever may change a counterparty may see it (``writable_counterparties`` is narrower than
    ``visible_counterparties``; tests/server/test_access.py draws arrangements to hold them to it),
    and so for the records whose rights are their counterparty's: for those, a yes to the second
    question answers the first. A push asks this of every record it changes.
    """
    if isinstance(record, Counterparty | ContactPerson | Deal | Contract | SupplierTerms):
        if can_write(session, actor, record):
            return True, True
        return can_read(session, actor, record), False
    seen = can_read(session, actor, record)
    return seen, seen and can_write(session, actor, record)


def can_delete(session: Session, actor: User, record: Any) -> bool:
    """Whether ``actor`` may delete ``record``: whoever may change it, but a complaint — a journal
    entry — only who may change its counterparty (its responsible person works and closes it)."""
    if isinstance(record, Complaint):
        return can_write_counterparty(session, actor, record.counterparty_id)
    return can_write(session, actor, record)


def can_write(session: Session, actor: User, record: Any) -> bool:
    """Whether ``actor`` may change or delete ``record`` as it is stored now."""
    if isinstance(record, Counterparty):
        return can_write_counterparty(session, actor, record.id)
    if isinstance(record, Interaction | Complaint):
        if record.responsible_id == actor.id and can_read_counterparty(
            session, actor, record.counterparty_id
        ):
            return True
        return can_write_counterparty(session, actor, record.counterparty_id)
    if isinstance(record, Reminder):
        if actor.role == Role.ADMIN or actor.id in (record.assignee_id, record.created_by):
            return True
        return can_write_counterparty(session, actor, record.counterparty_id)
    if isinstance(record, Absence):
        return keeps_absences_of(session, actor, record.user_id)
    if isinstance(record, Claim):
        # The holder's, and their manager's (an admin's): not every editor of the client's.
        if not can_read_counterparty(session, actor, record.counterparty_id):
            return False
        if record.holder_id == actor.id:
            return True
        holder = session.get(User, record.holder_id) if record.holder_id else None
        return holder is not None and may_manage(actor, holder)
    if isinstance(record, Share):
        return _keeps_shares(session, actor, record.counterparty_id)
    if isinstance(record, ContactPerson | Deal | Contract | SupplierTerms):
        return can_write_counterparty(session, actor, record.counterparty_id)
    if isinstance(record, MarketingEvent | Mailing):
        return keeps_event(session, actor, record.owner_id)
    if isinstance(record, EventCost):
        return keeps_event(session, actor, _event_owner(session, record.event_id))
    if isinstance(record, EventParticipant):
        # Who sees the client works its invitation; the event's keepers too.
        return can_read_counterparty(session, actor, record.counterparty_id)
    if isinstance(record, LetterTemplate | Sale | Invoice | PriceItem):
        return actor.role in (Role.ADMIN, Role.OFFICE)
    if isinstance(record, SalesSummary | Receivable):
        return False  # computed from the sales, invoices and payments, never written by hand
    if isinstance(record, ContactRule):
        return actor.role in (Role.ADMIN, Role.MANAGER)
    if isinstance(record, Segment):
        return _keeps_own(session, actor, record.owner_id)
    return actor.role == Role.ADMIN


# A user's own settings, which they change on their own record though only an admin may change
# the rest of it (login, role, team, …). Changing any other field needs ``can_write``.
OWN_SETTINGS = frozenset({"locale"})


def may_change_own(actor: User, record: Any, fields: Iterable[str]) -> bool:
    """Whether ``actor`` may set ``fields`` of ``record`` as their own settings (``OWN_SETTINGS``)."""
    names = set(fields)
    return (
        isinstance(record, User) and record.id == actor.id and bool(names) and names <= OWN_SETTINGS
    )


def can_create(session: Session, actor: User, record: Any, memo: Memo | None = None) -> bool:
    """Whether ``actor`` may create ``record`` (already filled with its fields).

    ``memo`` remembers counterparty checks across the records of one batch of a
    type that cannot change access itself (not counterparties, not shares).
    """

    def counterparty(write: bool) -> bool:
        if memo is None:
            return _counterparty_matches(session, actor, record.counterparty_id, write=write)
        return memo.matches(session, actor, record.counterparty_id, write=write)

    if isinstance(record, Counterparty):
        if record.owner_id in (None, actor.id):
            return True
        owner = session.get(User, record.owner_id)
        return owner is not None and may_manage(actor, owner)
    if isinstance(record, Interaction):
        if record.responsible_id not in (None, actor.id):
            # Someone else's call or meeting lands in their agenda and calendar: as with a
            # reminder, only their manager (or an admin) puts it there.
            responsible = session.get(User, record.responsible_id)
            if responsible is None or not may_manage(actor, responsible):
                return False
        return counterparty(write=False)
    if isinstance(record, Complaint):
        # Anyone who sees a client registers its complaint; it goes to the client's owner unless
        # they take it themselves, or their manager (an admin) gives it to someone else.
        if record.responsible_id not in (None, actor.id):
            responsible = session.get(User, record.responsible_id)
            if responsible is None or not (
                may_manage(actor, responsible)
                or _owner_of(session, record.counterparty_id) == responsible.id
            ):
                return False
        return counterparty(write=False)
    if isinstance(record, Absence):
        return keeps_absences_of(session, actor, record.user_id)
    if isinstance(record, Claim):
        # Whoever sees a client claims a group of it for themselves; a manager (an admin) for one
        # of their people, and only they hand a claim to another holder.
        if record.holder_id not in (None, actor.id):
            holder = session.get(User, record.holder_id)
            if holder is None or not may_manage(actor, holder):
                return False
        return counterparty(write=False)
    if isinstance(record, Reminder):
        if record.counterparty_id is not None and not counterparty(write=False):
            return False
        assignee = session.get(User, record.assignee_id)
        if assignee is None:
            return False
        # A message to a colleague about a client ("call them back about the invoice"): anyone who
        # sees the client leaves one for a colleague who sees it too (crm.rules checks they do).
        # A reminder about nothing in particular is put in someone else's agenda by their manager.
        return may_manage(actor, assignee) or record.counterparty_id is not None
    if isinstance(record, Share):
        return _keeps_shares(session, actor, record.counterparty_id)
    if isinstance(record, ContactPerson | Deal | Contract | SupplierTerms):
        return counterparty(write=True)
    if isinstance(record, MarketingEvent | Mailing):
        return keeps_event(session, actor, record.owner_id)
    if isinstance(record, EventCost):
        return keeps_event(session, actor, _event_owner(session, record.event_id))
    if isinstance(record, EventParticipant):
        # Whoever sees a client invites it (the event is the company's).
        return counterparty(write=False)
    if isinstance(record, ContactRule):
        return actor.role in (Role.ADMIN, Role.MANAGER)
    if isinstance(record, Segment):
        return _keeps_own(session, actor, record.owner_id)
    if isinstance(record, Sale | Invoice | PriceItem):
        # Shipments come from 1C; the office keys in or corrects one for a client it sees.
        return actor.role in (Role.ADMIN, Role.OFFICE) and counterparty(write=False)
    if isinstance(record, LetterTemplate):
        return actor.role in (Role.ADMIN, Role.OFFICE)
    if isinstance(record, SalesSummary | Receivable):
        return False  # computed from the sales, invoices and payments, never written by hand
    return actor.role == Role.ADMIN


def _keeps_shares(session: Session, actor: User, counterparty_id: str | None) -> bool:
    """Who shares a counterparty (or takes a share back): whoever may change who sees it — its
    owner, their manager, an admin (``may_set_visibility``) — and sees it. Not every editor: a
    substitute covering a colleague's week, a teammate or the holder of an editing share would
    otherwise hand the client to themselves or anyone, for good."""
    return can_read_counterparty(session, actor, counterparty_id) and may_set_visibility(
        session, actor, _owner_of(session, counterparty_id)
    )


def _keeps_own(session: Session, actor: User, owner_id: str | None) -> bool:
    """Whether ``actor`` keeps a record of ``owner_id``'s (a segment): the owner, their manager,
    an admin."""
    if owner_id in (None, actor.id):
        return True
    owner = session.get(User, owner_id)
    return owner is not None and may_manage(actor, owner)


def keeps_event(session: Session, actor: User, owner_id: str | None) -> bool:
    """Who keeps a marketing event and its costs: its owner (anyone enters an event of their own),
    the owner's manager, the office, an admin."""
    if actor.role in (Role.ADMIN, Role.OFFICE):
        return True
    return owner_id is not None and _keeps_own(session, actor, owner_id)


def _event_owner(session: Session, event_id: str | None) -> str | None:
    found = (
        session.execute(
            select(col(MarketingEvent.owner_id)).where(col(MarketingEvent.id) == event_id)
        ).first()
        if event_id
        else None
    )
    return found[0] if found else None


def keeps_absences_of(session: Session, actor: User, user_id: str | None) -> bool:
    """Who enters and changes a person's absences: they themselves, their manager, an admin, and
    the office (it keeps the staff's leave)."""
    if user_id == actor.id or actor.role in (Role.ADMIN, Role.OFFICE):
        return True
    person = session.get(User, user_id) if user_id else None
    return person is not None and may_manage(actor, person)


def _owner_of(session: Session, counterparty_id: str | None) -> str | None:
    if counterparty_id is None:
        return None
    return session.execute(
        select(col(Counterparty.owner_id)).where(col(Counterparty.id) == counterparty_id)
    ).scalar_one_or_none()


def can_restore(session: Session, actor: User, record: Any) -> bool:
    """Whether ``actor`` may bring back a deleted ``record`` with these values.

    A restore is a create, checked on the final values; a counterparty may also
    come back by whoever could change it with these values (a teammate of a
    team-visible one, the owner's manager) — its shares went with it, so they
    grant nothing here.
    """
    if can_create(session, actor, record):
        return True
    if not isinstance(record, Counterparty) or actor.role == Role.OFFICE:
        return False
    owner = session.get(User, record.owner_id) if record.owner_id else None
    if owner is None or actor.team_id is None or owner.team_id != actor.team_id:
        return False
    return actor.role == Role.MANAGER or record.visibility == Visibility.TEAM.value


def may_hand_over(
    session: Session, actor: User, old_owner_id: str | None, new_owner_id: str | None
) -> bool:
    """Whether ``actor`` may give a counterparty owned by ``old_owner_id`` to ``new_owner_id``.

    Only an admin, or a manager of both owners; a counterparty always has an owner.
    Edit access (a teammate, a share) is not enough: it would let them take the
    client and lock its owner out.
    """
    if new_owner_id is None:
        return False
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.MANAGER:
        return False
    people = [
        session.get(User, old_owner_id) if old_owner_id else None,
        session.get(User, new_owner_id),
    ]
    return all(p is not None and may_manage(actor, p) for p in people)


def may_set_visibility(session: Session, actor: User, owner_id: str | None) -> bool:
    """Whether ``actor`` may change who sees a counterparty owned by ``owner_id``: its owner, their manager, an admin."""
    if actor.role == Role.ADMIN or (owner_id is not None and owner_id == actor.id):
        return True
    owner = session.get(User, owner_id) if owner_id else None
    return actor.role == Role.MANAGER and owner is not None and may_manage(actor, owner)
