"""Conflicts: two changes of the same thing that could not both win, listed and resolved.

A resolution writes the chosen value as a normal change through ``crm.records``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    event,
    exists,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col

from crm import access, changes, records
from crm.database import plan_once
from crm.errors import AlreadyExists, MalformedInput, NotFound, PermissionDenied
from crm.models import (
    Absence,
    Claim,
    Complaint,
    ContactPerson,
    ContactRule,
    Contract,
    Counterparty,
    Deal,
    Device,
    EventCost,
    EventParticipant,
    Interaction,
    LetterTemplate,
    Mailing,
    MarketingEvent,
    Reminder,
    Segment,
    Share,
    SupplierTerms,
    User,
)
from crm.models.base import to_jsonable, utcnow
from crm.models.enums import Role
from sync import held, protocol
from sync.models import Conflict


def author(session: Session, device_id: str | None) -> str | None:
    if device_id is None:
        return None
    found = session.get(Device, device_id)
    return found.user_id if found else None


def may_know_deleted(
    session: Session, user: User, record_type: str, tombstone: dict[str, Any]
) -> bool:
    """Whether ``user`` could see a record before it was deleted (judged from its last values)."""
    if user.role in (Role.ADMIN, Role.OFFICE):
        return True
    if user.id in {
        tombstone.get(k) for k in ("owner_id", "responsible_id", "assignee_id", "created_by")
    }:
        return True
    if record_type == "counterparties":
        owner = session.get(User, tombstone.get("owner_id") or "")
        same_team = (
            owner is not None and owner.team_id is not None and owner.team_id == user.team_id
        )
        visibility = tombstone.get("visibility")
        return visibility == "company" or (
            same_team and (visibility == "team" or user.role == Role.MANAGER)
        )
    counterparty_id = tombstone.get("counterparty_id")
    if access.can_read_counterparty(session, user, counterparty_id):
        return True
    parent = changes.log_entry(session, "counterparties", counterparty_id or "")
    return (
        parent is not None
        and parent.deleted
        and may_know_deleted(session, user, "counterparties", parent.tombstone or {})
    )


# The ``resolution`` of a conflict closed because its record was deleted.
DELETED = "deleted"
_CONFLICT = Conflict.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it


def _close_with_deleted(session: OrmSession, _context: Any) -> None:
    """A deleted record takes its open ``field`` and ``delete`` conflicts with it.

    There is nothing left to choose between (every choice would answer 404), so
    they are resolved with resolution ``deleted`` by the deleter (when a device
    tells who) in the deleting transaction, whichever path deleted the record
    (REST, a sync push, a resolution, a counterparty's cascade). ``edit_deleted``
    conflicts stay: their question is whether to bring the record back.
    A laptop's replica keeps no server conflicts and is skipped.
    """
    gone: dict[str, list[str]] = {}
    for obj in session.deleted:
        name = changes.SYNCED.get(type(obj))
        if name is not None:
            gone.setdefault(name, []).append(obj.id)
    if not gone:
        return
    connection = session.connection()
    device = changes.device_of(session)
    by = (
        connection.execute(select(col(Device.user_id)).where(col(Device.id) == device)).scalar()
        if device
        else None
    )
    for name, ids in gone.items():
        for start in range(0, len(ids), 500):
            connection.execute(
                update(_CONFLICT)
                .where(
                    _CONFLICT.c.record_type == name,
                    _CONFLICT.c.record_id.in_(ids[start : start + 500]),
                    _CONFLICT.c.status == "open",
                    _CONFLICT.c.kind.in_(("field", "delete")),
                )
                .values(status="resolved", resolution=DELETED, resolved_by=by, resolved_at=utcnow())
            )


# Registered on server writes, like the change log's hook (``crm.changes``): crm may not import sync,
# so the sync package, imported by every server process, brings it.
event.listen(changes.ServerWrite, "after_flush", _close_with_deleted)


def conflict_dict(c: Conflict) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "type": c.record_type,
        "record_id": c.record_id,
        "field": c.field,
        "status": c.status,
        "created_at": to_jsonable(c.created_at),
        "server": {
            "value": c.server_value,
            "by": c.server_by,
            "device": c.server_device,
            "at": to_jsonable(c.server_at),
        },
        "client": {
            "value": c.client_value,
            "by": c.client_by,
            "device": c.client_device,
            "at": to_jsonable(c.client_at),
            "client_time": c.client_time,
        },
        "resolution": c.resolution,
        "resolved_by": c.resolved_by,
        "resolved_at": to_jsonable(c.resolved_at),
    }


def _concerns(session: Session, user: User, c: Conflict) -> bool:
    """Whether conflict ``c`` concerns ``user`` now; the rule ``concerning`` writes as SQL.

    An admin: every conflict. Anyone else: only while they may see the record,
    and then if they made one of the two changes or may change the record. An
    ``edit_deleted`` conflict (its record gone) concerns the person who made one of
    its sides while they could have seen the record before it was deleted.
    """
    if user.role == Role.ADMIN:
        return True
    party = user.id in (c.client_by, c.server_by)
    rt = records.record_type(c.record_type)
    record = session.get(rt.model, c.record_id)
    if record is None:
        if c.kind != "edit_deleted" or not party:
            return False
        log = changes.log_entry(session, rt.name, c.record_id)
        return (
            log is not None
            and log.deleted
            and may_know_deleted(session, user, rt.name, log.tombstone or {})
        )
    return access.can_read(session, user, record) and (
        party or access.can_write(session, user, record)
    )


def _writable(rt: records.RecordType, user: User) -> ColumnElement[bool]:
    """SQL on ``rt.model``: the rows a user other than an admin may change (``access.can_write``)."""
    model: Any = rt.model
    editable = select(col(Counterparty.id)).where(access.writable_counterparties(user))
    if model is Counterparty:
        return access.writable_counterparties(user)
    if model in (Interaction, Complaint):
        return or_(
            and_(model.responsible_id == user.id, records.visible(rt, user)),
            model.counterparty_id.in_(editable),
        )
    if model is Reminder:
        return or_(
            col(Reminder.assignee_id) == user.id,
            col(Reminder.created_by) == user.id,
            col(Reminder.counterparty_id).in_(editable),
        )
    if model in (ContactPerson, Deal):
        return model.counterparty_id.in_(editable)
    if model is Share:  # made and taken back by who decides who sees the client (crm.access)
        return col(Share.counterparty_id).in_(
            select(col(Counterparty.id)).where(access.shareable_counterparties(user))
        )
    if model in (Contract, SupplierTerms):
        return model.counterparty_id.in_(editable)
    seen = select(col(Counterparty.id)).where(access.visible_counterparties(user))
    if model is EventParticipant:  # who sees the client works its invitation
        return col(EventParticipant.counterparty_id).in_(seen)
    if model is Claim:  # its holder's and their manager's, among those who see the client
        return and_(col(Claim.counterparty_id).in_(seen), _kept_by(col(Claim.holder_id), user))
    if model is Absence:  # access.keeps_absences_of
        return _kept_by(col(Absence.user_id), user, office=True)
    if model is Segment:  # access._keeps_own
        return or_(col(Segment.owner_id).is_(None), _kept_by(col(Segment.owner_id), user))
    if model in (MarketingEvent, Mailing):  # access.keeps_event
        return _kept_by(model.owner_id, user, office=True)
    if model is EventCost:
        return col(EventCost.event_id).in_(
            select(col(MarketingEvent.id)).where(
                _kept_by(col(MarketingEvent.owner_id), user, office=True)
            )
        )
    if model is LetterTemplate:
        return true() if user.role == Role.OFFICE else false()
    if model is ContactRule:
        return true() if user.role == Role.MANAGER else false()
    return false()  # users and teams: an admin's


def _kept_by(person: Any, user: User, *, office: bool = False) -> ColumnElement[bool]:
    """SQL: rows of a person (``person``, a column) ``user`` acts for (``access.may_manage``):
    their own, and their team's if they are its manager; every one for the office if ``office``."""
    if office and user.role == Role.OFFICE:
        return true()
    kept = [person == user.id]
    if user.role == Role.MANAGER and user.team_id is not None:
        kept.append(person.in_(access.team_members(user.team_id)))
    return or_(*kept)


def concerning(
    user: User, status: str, types: Collection[str] | None = None
) -> ColumnElement[bool]:
    """SQL on ``Conflict``: the conflicts of ``status`` that concern ``user`` (``_concerns``), found
    through the indexes rather than by reading the company's conflicts one by one; only those of
    ``types`` when given (the types that have conflicts of ``status`` at all: ``_types_with``).

    An open conflict on a field or against a delete whose record is gone is settled
    (its record went, and with it the question) and concerns nobody.
    """
    party = or_(col(Conflict.client_by) == user.id, col(Conflict.server_by) == user.id)
    admin = user.role == Role.ADMIN
    by_type = []
    for rt in records.RECORD_TYPES.values():
        if not (rt.synced and rt.writable):
            continue  # nothing a laptop may push, so no conflict is ever about it
        if types is not None and rt.name not in types:
            continue
        model: Any = rt.model

        def row(*conds: ColumnElement[bool], model: Any = model) -> ColumnElement[bool]:
            return exists().where(model.id == Conflict.record_id, *conds)

        if admin:
            cond = row() if status == "open" else true()
        else:
            cond = or_(and_(party, row(records.visible(rt, user))), row(_writable(rt, user)))
        by_type.append(and_(col(Conflict.record_type) == rt.name, cond))
    gone = and_(col(Conflict.kind) == "edit_deleted", true() if admin else party)
    if types is not None:
        gone = and_(gone, col(Conflict.record_type).in_(sorted(types)))
    return and_(col(Conflict.status) == status, or_(*by_type, gone))


_TYPES_WITH = (
    select(col(Conflict.record_type))
    .where(col(Conflict.status) == bindparam("status"))
    .group_by(col(Conflict.record_type))
)


def _types_with(session: Session, status: str) -> tuple[str, ...]:
    """The record types that have conflicts of ``status``, from an index alone
    (``ix_sync_conflict_open``). The statements that find the conflicts concerning a user name only
    these: one that named every type's rules took PostgreSQL longer to plan (20–30 ms) than to run,
    at every pull. Read in a statement of its own, so a conflict of a new type committed just after
    it is sent at the laptop's next pull."""
    return tuple(sorted(session.execute(_TYPES_WITH, {"status": status}).scalars()))


MAX_CONFLICTS = 500


def page_conflicts(
    session: Session,
    user: User,
    *,
    status: str = "open",
    limit: int = MAX_CONFLICTS,
    after: str | None = None,
    types: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the conflicts that concern ``user``, oldest first, and the ``after`` of the next
    page (None when this is the last).

    Selected in SQL, so one person's thousands of conflicts cost a colleague nothing;
    ``after`` is the id of the last conflict of the previous page.
    """
    if types is None and after is None and limit == MAX_CONFLICTS:
        # Every pull asks for the first page: its statement is built once per kind of user (only
        # for the pulls' page size: a cache per size asked would be a cache anyone could fill).
        types = _types_with(session, status)
        if not types:
            return [], None
        plan_once(session)
        found = list(
            session.execute(
                _first_page(user.role, user.team_id is not None, status, limit + 1, types),
                {"badge_user_id": user.id, "badge_team_id": user.team_id},
            ).scalars()
        )
        return _page(session, user, found, limit)
    conds = [concerning(user, status)]
    if types is not None:  # a laptop of an older schema: only the types it knows
        conds.append(col(Conflict.record_type).in_(types))
    if after is not None:
        start = session.execute(
            select(col(Conflict.created_at)).where(col(Conflict.id) == after)
        ).first()
        if start is None:
            raise MalformedInput(f"after {after[:60]!r} is not the id of a conflict")
        created_at = col(Conflict.created_at)
        conds.append(
            or_(created_at > start[0], and_(created_at == start[0], col(Conflict.id) > after))
        )
    found = list(
        session.execute(
            select(Conflict)
            .where(*conds)
            .order_by(col(Conflict.created_at), col(Conflict.id))
            .limit(limit + 1)
        ).scalars()
    )
    return _page(session, user, found, limit)


def _page(
    session: Session, user: User, found: list[Conflict], limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    more = len(found) > limit
    found = found[:limit]
    # ``edit_deleted`` conflicts were selected by party alone: whether the person could see the
    # record before it went is judged from its tombstone here (few rows: their own edits).
    items = [
        conflict_dict(c) for c in found if c.kind != "edit_deleted" or _concerns(session, user, c)
    ]
    return items, (found[-1].id if more else None)


@lru_cache(maxsize=256)
def _first_page(role: str, has_team: bool, status: str, limit: int, types: tuple[str, ...]) -> Any:
    """``page_conflicts``' first page for users of ``role`` with or without a team, among the
    conflicts of ``types`` (the values bound later, as the badge's): building ``concerning`` anew
    for every pull was most of a pull's time when there was little to send."""
    someone: Any = _Someone(role=role, team_id=bindparam("badge_team_id") if has_team else None)
    return (
        select(Conflict)
        .where(concerning(someone, status, types))
        .order_by(col(Conflict.created_at), col(Conflict.id))
        .limit(limit)
    )


@dataclass(frozen=True)
class _Someone:
    """Stands for a user in the badge's statements, built once per kind of user; the values are bound later."""

    role: str
    id: Any = field(default_factory=lambda: bindparam("badge_user_id"))
    team_id: Any = None


@lru_cache(maxsize=256)
def _badge_statements(role: str, has_team: bool, types: tuple[str, ...]) -> tuple[Any, Any]:
    """``count_open``'s two statements for users of ``role`` with or without a team, among the
    open conflicts of ``types``.

    Every page shows the badge; building ``concerning``'s expression (a condition per
    record type) anew for each page cost twenty times the query it makes.
    """
    someone: Any = _Someone(role=role, team_id=bindparam("badge_team_id") if has_team else None)
    concern = concerning(someone, "open", types)
    plain = (
        select(func.count())
        .select_from(Conflict)
        .where(concern, col(Conflict.kind) != "edit_deleted")
    )
    deleted = select(Conflict).where(concern, col(Conflict.kind) == "edit_deleted")
    return plain, deleted


def count_open(session: Session, user: User) -> int:
    """How many open conflicts concern ``user`` (a header badge): counted in SQL, without loading them."""
    types = _types_with(session, "open")
    if not types:
        return 0
    plain, deleted = _badge_statements(user.role, user.team_id is not None, types)
    params = {"badge_user_id": user.id, "badge_team_id": user.team_id}
    plan_once(session)
    counted = session.execute(plain, params).scalar_one()
    # As in page_conflicts: edits of deleted records are judged from their tombstones (few rows).
    found = session.execute(deleted, params).scalars()
    return int(counted) + sum(1 for c in found if _concerns(session, user, c))


def list_conflicts(session: Session, user: User, *, status: str = "open") -> list[dict[str, Any]]:
    """The first ``MAX_CONFLICTS`` conflicts that concern ``user``: they made one side, or they may change
    the record — while they may see it."""
    return page_conflicts(session, user, status=status)[0]


def resolve(
    session: Session,
    user: User,
    conflict_id: str,
    choice: str,
    value: Any = None,
    device_id: str | None = None,
) -> Conflict:
    """Settle a conflict by writing the chosen value as a normal change.

    ``mine`` is the resolver's own side (``protocol.mine_is_server_side``);
    ``theirs`` the other; ``value`` a new value. Of a field conflict, the server's side is the
    field as the server holds it now (it may have been edited since the conflict was recorded);
    the laptop's side and a new value are written as they are.
    """
    c = session.get(Conflict, conflict_id)
    if (
        c is not None
        and c.resolution == DELETED
        and _may_settle_closed(session, user, c, device_id)
    ):
        # Closed with its record: a laptop's late resolution has nothing left to do, and must not
        # end in its quarantine.
        return c
    if c is None or not _concerns(session, user, c):
        raise NotFound(f"conflict {conflict_id} not found")
    if c.status != "open":
        # The resolver named as people know them, not by the id of their row.
        resolver = session.get(User, c.resolved_by) if c.resolved_by else None
        by = f" by {resolver.full_name or resolver.login}" if resolver is not None else ""
        raise AlreadyExists(f"conflict {conflict_id} was resolved already ({c.resolution}){by}")
    if choice not in protocol.CHOICES:
        raise MalformedInput(f"choice must be one of {', '.join(protocol.CHOICES)}")
    mine_is_server = protocol.mine_is_server_side(conflict_dict(c), user.id, device_id)
    take_client = (choice == "mine") != mine_is_server
    rt = records.record_type(c.record_type)
    record = session.get(rt.model, c.record_id)
    if c.kind == "field":
        chosen = value if choice == "value" else (c.client_value if take_client else c.server_value)
        if (
            choice == "value"
            and c.field in _pinned(rt)
            and chosen not in (c.client_value, c.server_value)
        ):
            # A new value for an owner or a link would move the record where neither side put it.
            raise PermissionDenied(
                f"{c.field} of {rt.singular} {c.record_id} can only take one of the two "
                "values in conflict; change it afterwards as an edit"
            )
        if record is None:
            raise NotFound(f"{rt.singular} {c.record_id} was deleted; nothing to resolve on it")
        field_name = cast(str, c.field)  # a field conflict always names its field
        now = records.to_dict(rt, record).get(field_name)
        if choice != "value" and not take_client:
            # The server's side is what the server holds now: an edit of the field made after the
            # conflict was recorded is kept, not undone by the value the conflict remembers.
            chosen = now
        if now != chosen:
            records.update(session, user, rt, c.record_id, {field_name: chosen})
    elif c.kind == "delete" and take_client and choice != "value" and record is not None:
        records.delete(session, user, rt, c.record_id)
    elif c.kind == "edit_deleted" and (take_client or choice == "value") and record is None:
        _restore(session, user, rt, c, value if choice == "value" else None)
    c.status, c.resolution, c.resolved_by, c.resolved_at = "resolved", choice, user.id, utcnow()
    session.add(c)
    session.flush()
    return c


def _may_settle_closed(
    session: Session, user: User, c: Conflict, device_id: str | None = None
) -> bool:
    """Whether ``user`` may be told that conflict ``c``, closed with its deleted record, is settled:
    its two sides, an admin, whoever could see the record before it went (a manager who resolved),
    or a device that was told of the record (its user may have lost access before it went, after
    the laptop showed the conflict)."""
    if user.role == Role.ADMIN or user.id in (c.client_by, c.server_by):
        return True
    if device_id is not None and held.was_told(session, device_id, (c.record_type, c.record_id)):
        return True
    log = changes.log_entry(session, c.record_type, c.record_id)
    return (
        log is not None
        and log.deleted
        and may_know_deleted(session, user, c.record_type, log.tombstone or {})
    )


def _pinned(rt: records.RecordType) -> frozenset[str]:
    """Fields a resolution may not set to a value of its own: owners, links, who sees the record."""
    links = {name for name in rt.writable if name.endswith("_id")}
    return frozenset(rt.relations) | links | ({"visibility"} & set(rt.writable))


def _restore(
    session: Session, user: User, rt: records.RecordType, c: Conflict, chosen: Any
) -> None:
    """Bring back a deleted record with the resolver's edit on top, as a create checked on the final values.

    The edit is the conflict's own (``c.client_value``) or, for ``value``, a chosen
    subset of its fields; the record comes back where it was: owners, links and
    visibility keep the values they had when it was deleted.
    """
    log = changes.log_entry(session, rt.name, c.record_id)
    tombstone = (log.tombstone if log else None) or {}
    if not may_know_deleted(session, user, rt.name, tombstone):
        raise PermissionDenied(
            f"you could not see {rt.singular} {c.record_id}; it cannot be restored by you"
        )
    edit = c.client_value if isinstance(c.client_value, dict) else {}
    if chosen is not None:
        if not isinstance(chosen, dict):
            raise MalformedInput("to restore with your own values, send an object of field values")
        foreign = sorted(set(chosen) - set(edit))
        if foreign:
            raise PermissionDenied(
                f"a resolution may change only the fields in conflict ({', '.join(sorted(edit))}); "
                f"not {', '.join(foreign)}"
            )
        edit = chosen
    moved = sorted(k for k in edit if k in _pinned(rt) and edit[k] != tombstone.get(k))
    if moved:
        raise PermissionDenied(
            f"a restored {rt.singular} comes back where it was; {', '.join(moved)} "
            "cannot change in the same step — restore it, then edit it"
        )
    data = {k: v for k, v in tombstone.items() if k in rt.writable}
    data.update(edit)
    records.create(session, user, rt, {**data, "id": c.record_id}, restoring=True)
