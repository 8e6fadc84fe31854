"""Conflicts: two changes of the same thing that could not both win, listed and resolved.

A resolution writes the chosen value as a normal change through ``crm.records``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from crm import access, changes, records
from crm.errors import AlreadyExists, MalformedInput, NotFound, PermissionDenied
from crm.models import Device, User
from crm.models.base import to_jsonable, utcnow
from crm.models.enums import Role
from sync import protocol
from sync.models import Conflict


def author(session: Session, device_id: str | None) -> str | None:
    if device_id is None:
        return None
    found = session.get(Device, device_id)
    return found.user_id if found else None



def may_know_deleted(session: Session, user: User, record_type: str, tombstone: dict[str, Any]) -> bool:
    """Whether ``user`` could see a record before it was deleted (judged from its last values)."""
    if user.role in (Role.ADMIN, Role.OFFICE):
        return True
    if user.id in {tombstone.get(k) for k in ("owner_id", "responsible_id", "assignee_id", "created_by")}:
        return True
    if record_type == "counterparties":
        owner = session.get(User, tombstone.get("owner_id") or "")
        same_team = owner is not None and owner.team_id is not None and owner.team_id == user.team_id
        visibility = tombstone.get("visibility")
        return visibility == "company" or (same_team and (visibility == "team" or user.role == Role.MANAGER))
    counterparty_id = tombstone.get("counterparty_id")
    if access.can_read_counterparty(session, user, counterparty_id):
        return True
    parent = changes.log_entry(session, "counterparties", counterparty_id or "")
    return parent is not None and parent.deleted and may_know_deleted(session, user, "counterparties",
                                                                       parent.tombstone or {})



def conflict_dict(c: Conflict) -> dict[str, Any]:
    return {
        "id": c.id, "kind": c.kind, "type": c.record_type, "record_id": c.record_id, "field": c.field,
        "status": c.status, "created_at": to_jsonable(c.created_at),
        "server": {"value": c.server_value, "by": c.server_by, "device": c.server_device,
                   "at": to_jsonable(c.server_at)},
        "client": {"value": c.client_value, "by": c.client_by, "device": c.client_device,
                   "at": to_jsonable(c.client_at), "client_time": c.client_time},
        "resolution": c.resolution, "resolved_by": c.resolved_by, "resolved_at": to_jsonable(c.resolved_at),
    }


def _concerns(session: Session, user: User, c: Conflict) -> bool:
    if user.id in (c.client_by, c.server_by) or user.role == Role.ADMIN:
        return True
    rt = records.record_type(c.record_type)
    record = session.get(rt.model, c.record_id)
    return record is not None and access.can_write(session, user, record)


MAX_CONFLICTS = 500


def list_conflicts(session: Session, user: User, *, status: str = "open") -> list[dict[str, Any]]:
    """The conflicts that concern ``user``: they made one side, or they may change the record."""
    rows = session.execute(select(Conflict).where(Conflict.status == status)
                           .order_by(Conflict.created_at, Conflict.id).limit(MAX_CONFLICTS * 4)).scalars()
    return [conflict_dict(c) for c in rows if _concerns(session, user, c)][:MAX_CONFLICTS]


def resolve(session: Session, user: User, conflict_id: str, choice: str, value: Any = None,
            device_id: str | None = None) -> Conflict:
    """Settle a conflict by writing the chosen value as a normal change.

    ``mine`` is the resolver's own side (``protocol.mine_is_server_side``);
    ``theirs`` the other; ``value`` a new value.
    """
    c = session.get(Conflict, conflict_id)
    if c is None or not _concerns(session, user, c):
        raise NotFound(f"conflict {conflict_id} not found")
    if c.status != "open":
        raise AlreadyExists(f"conflict {conflict_id} was resolved already ({c.resolution}) by {c.resolved_by}")
    if choice not in protocol.CHOICES:
        raise MalformedInput(f"choice must be one of {', '.join(protocol.CHOICES)}")
    mine_is_server = protocol.mine_is_server_side(conflict_dict(c), user.id, device_id)
    take_client = (choice == "mine") != mine_is_server
    rt = records.record_type(c.record_type)
    record = session.get(rt.model, c.record_id)
    if c.kind == "field":
        chosen = value if choice == "value" else (c.client_value if take_client else c.server_value)
        if record is None:
            raise NotFound(f"{rt.singular} {c.record_id} was deleted; nothing to resolve on it")
        if records.to_dict(rt, record).get(c.field) != chosen:
            records.update(session, user, rt, c.record_id, {c.field: chosen})
    elif c.kind == "delete" and take_client and choice != "value" and record is not None:
        records.delete(session, user, rt, c.record_id)
    elif c.kind == "edit_deleted" and (take_client or choice == "value") and record is None:
        log = changes.log_entry(session, rt.name, c.record_id)
        tombstone = (log.tombstone if log else None) or {}
        data = {k: v for k, v in tombstone.items() if k in rt.writable}
        data.update(value if choice == "value" and isinstance(value, dict) else (c.client_value or {}))
        if not may_know_deleted(session, user, rt.name, tombstone):
            raise PermissionDenied(f"you could not see {rt.singular} {c.record_id}; it cannot be restored by you")
        records.create(session, user, rt, {**data, "id": c.record_id}, restoring=True)
    c.status, c.resolution, c.resolved_by, c.resolved_at = "resolved", choice, user.id, utcnow()
    session.add(c)
    session.flush()
    return c

