"""The server's end of sync: apply a device's pushed mutations, serve pulls and bootstraps.

The wire format and the rules are in docs/sync-protocol.md. Every write goes
through ``crm.records``, so the rules, access checks and the change log are the
same as for the REST API; this module adds ordering, idempotency, the per-field
merge and the conflicts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import and_, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from crm import access, changes, records
from crm.errors import (
    AlreadyExists,
    MalformedInput,
    NotFound,
    PermissionDenied,
    SatchelError,
    TooLarge,
)
from crm.models import Device, User
from crm.models.base import to_jsonable, utcnow
from crm.models.enums import Role
from sync import protocol
from sync.models import Conflict, DeviceCursor, PushResult


class UpgradeRequired(SatchelError):
    """The client speaks an older protocol or schema than the server serves."""

    code = "upgrade_required"


class SequenceGap(SatchelError):
    """A push skipped some of the device's mutations; ``details.expected`` says where to resend from."""

    code = "sequence_gap"


def check_versions(protocol_header: str | None, schema_header: str | None) -> None:
    def number(raw: str | None) -> int:
        return int(raw) if raw is not None and raw.strip().isdigit() else 0

    if number(protocol_header) < protocol.MIN_PROTOCOL or number(schema_header) < protocol.MIN_SCHEMA:
        raise UpgradeRequired(
            "this version of Satchel is too old for the server; update it — your unsent changes are kept",
            details={"protocol": protocol.PROTOCOL, "schema": protocol.SCHEMA})


# ---------------------------------------------------------------- push

def _uuid(value: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise MalformedInput(f"{what} must be a UUID, got {str(value)[:60]!r}") from None


def _parse_mutation(raw: Any, index: int) -> dict[str, Any]:
    where = f"mutations[{index}]"
    if not isinstance(raw, dict):
        raise MalformedInput(f"{where} must be an object")
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise MalformedInput(f"{where}.seq must be a positive integer")
    op = raw.get("op")
    if op not in protocol.OPS:
        raise MalformedInput(f"{where}.op must be one of {', '.join(protocol.OPS)}")
    client_time = raw.get("client_time")
    if client_time is not None and (not isinstance(client_time, str) or len(client_time) > 40):
        raise MalformedInput(f"{where}.client_time must be a short ISO 8601 string")
    m: dict[str, Any] = {"seq": seq, "op": op, "client_time": client_time}
    if op == "resolve":
        m["conflict_id"] = _uuid(raw.get("conflict_id"), f"{where}.conflict_id")
        if raw.get("choice") not in protocol.CHOICES:
            raise MalformedInput(f"{where}.choice must be one of {', '.join(protocol.CHOICES)}")
        m["choice"] = raw["choice"]
        m["value"] = raw.get("value")
        return m
    if raw.get("type") not in protocol.TYPES:
        raise MalformedInput(f"{where}.type must be one of {', '.join(protocol.TYPES)}")
    m["type"] = raw["type"]
    m["id"] = _uuid(raw.get("id"), f"{where}.id")
    base = raw.get("base_version")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 0):
        raise MalformedInput(f"{where}.base_version must be a non-negative integer or null")
    m["base_version"] = base
    fields = raw.get("fields", {})
    if op in ("create", "update") and (not isinstance(fields, dict) or (op == "update" and not fields)):
        raise MalformedInput(f"{where}.fields must be an object of field values")
    m["fields"] = fields if isinstance(fields, dict) else {}
    return m


def parse_push(body: Any, device: Device) -> list[dict[str, Any]]:
    """The push's mutations in seq order, or an error that says what is wrong (nothing is applied)."""
    if not isinstance(body, dict) or not isinstance(body.get("mutations"), list):
        raise MalformedInput('send {"device_id": ..., "mutations": [...]}')
    if body.get("device_id") != device.id:
        raise PermissionDenied(f"this push is for device {str(body.get('device_id'))[:40]!r}, "
                               f"but you are signed in as device {device.id}; a device pushes only its own changes")
    raw = body["mutations"]
    if len(raw) > protocol.MAX_MUTATIONS:
        raise TooLarge(f"at most {protocol.MAX_MUTATIONS} mutations in one push; got {len(raw)}")
    mutations = sorted((_parse_mutation(m, i) for i, m in enumerate(raw)), key=lambda m: m["seq"])
    seqs = [m["seq"] for m in mutations]
    if len(set(seqs)) != len(seqs):
        raise MalformedInput("a seq appears twice in one push")
    return mutations


def push(session: Session, user: User, device: Device, body: Any) -> dict[str, Any]:
    mutations = parse_push(body, device)
    cursor = session.get(DeviceCursor, device.id, with_for_update=True)
    if cursor is None:
        cursor = DeviceCursor(device_id=device.id)
        session.add(cursor)
        session.flush()
    last = cursor.last_seq
    new = [m for m in mutations if m["seq"] > last]
    if new and [m["seq"] for m in new] != list(range(last + 1, last + 1 + len(new))):
        raise SequenceGap(f"expected mutation {last + 1} next; resend from there",
                          details={"expected": last + 1})
    replayed = [m["seq"] for m in mutations if m["seq"] <= last]
    stored = {}
    if replayed:
        stored = {r.seq: r.result for r in session.execute(
            select(PushResult).where(PushResult.device_id == device.id, PushResult.seq.in_(replayed))).scalars()}
    results = [stored.get(seq, {"seq": seq, "status": "applied", "note": "applied earlier"}) for seq in replayed]
    version = changes.current(session)[0]
    if new:
        version = changes.allocate(session)
        session.info[changes.DEVICE_KEY] = device.id
        # Fields changed by others, for every record the push edits, in one query per type.
        # Nobody else writes while this transaction holds the version, so they stay true.
        wanted: dict[str, list[str]] = {}
        for m in new:
            if m["op"] in ("update", "delete"):
                wanted.setdefault(m["type"], []).append(m["id"])
        known = {(name, record_id): fields for name, ids in wanted.items()
                 for record_id, fields in changes.many_field_versions(session, name, ids).items()}
        # Load the records the push touches, and the company's users (the rules look up owners
        # and assignees), in a few queries; held here, the session finds them without asking again.
        held: list[Any] = list(session.execute(select(User)).scalars())
        for name, ids in wanted.items():
            model: Any = records.record_type(name).model
            for start in range(0, len(ids), 500):
                held.extend(session.execute(select(model).where(model.id.in_(ids[start:start + 500]))).scalars())
        stored_results = []
        for m in new:
            result = _apply_one(session, user, device, m, known)
            stored_results.append({"device_id": device.id, "seq": m["seq"], "result": result, "at": utcnow()})
            results.append(result)
        session.execute(insert(PushResult), stored_results)
        cursor.last_seq = new[-1]["seq"]
        session.add(cursor)
        session.flush()
    return {"last_seq": cursor.last_seq, "version": version, "results": results}


Known = dict[tuple[str, str], dict[str, tuple[int, str | None]]]


def _apply_one(session: Session, user: User, device: Device, m: dict[str, Any], known: Known) -> dict[str, Any]:
    try:
        with session.begin_nested():
            result = _apply(session, user, device, m, known)
            session.flush()
    except SatchelError as exc:
        return {"seq": m["seq"], "status": "refused", "error": exc.to_dict()}
    except IntegrityError as exc:
        return {"seq": m["seq"], "status": "refused",
                "error": {"error": "integrity", "message": f"the database refused it: {exc.orig}"[:500]}}
    return {"seq": m["seq"], **result}


def _apply(session: Session, user: User, device: Device, m: dict[str, Any], known: Known) -> dict[str, Any]:
    if m["op"] == "resolve":
        resolve(session, user, m["conflict_id"], m["choice"], m["value"], device.id)
        return {"status": "applied"}
    rt = records.record_type(m["type"])
    if m["op"] == "create":
        records.create(session, user, rt, {**m["fields"], "id": m["id"]})
        return {"status": "applied", "version": changes.allocate(session)}
    others = _others_changed(known.get((rt.name, m["id"]), {}), m["base_version"], device)
    if m["op"] == "update":
        return _update(session, user, device, rt, m, others)
    return _delete(session, user, device, rt, m, others)


def _others_changed(fields: dict[str, tuple[int, str | None]], base: int | None,
                    device: Device) -> dict[str, tuple[int, str | None]]:
    """Of a record's field versions, those changed after ``base`` by another device than ``device``."""
    if base is None:
        return {}
    return {name: (v, dev) for name, (v, dev) in fields.items() if v > base and dev != device.id}


def _author(session: Session, device_id: str | None) -> str | None:
    if device_id is None:
        return None
    found = session.get(Device, device_id)
    return found.user_id if found else None


def _update(session: Session, user: User, device: Device, rt: records.RecordType, m: dict[str, Any],
            contested: dict[str, tuple[int, str | None]]) -> dict[str, Any]:
    record = session.get(rt.model, m["id"])
    if record is None:
        return _edit_of_deleted(session, user, device, rt, m)
    if not access.can_read(session, user, record):
        raise NotFound(f"{rt.singular} {m['id']} not found, or you can no longer see it")
    if not access.can_write(session, user, record):
        raise PermissionDenied(f"you may see but not change {rt.singular} {m['id']}")
    current = records.to_dict(rt, record)
    clean = {k: v for k, v in m["fields"].items() if k not in contested}
    disputed = {k: v for k, v in m["fields"].items() if k in contested and v != current.get(k)}
    if clean:
        records.update(session, user, rt, m["id"], clean, record=record)
    conflict_ids = [_field_conflict(session, user, device, rt, record, current, name, value,
                                    contested[name], m["client_time"]) for name, value in disputed.items()]
    if disputed and not clean:
        return {"status": "conflict", "conflicts": conflict_ids}
    result: dict[str, Any] = {"status": "applied", "version": changes.allocate(session)}
    if conflict_ids:
        result["conflicts"] = conflict_ids
    return result


def _field_conflict(session: Session, user: User, device: Device, rt: records.RecordType, record: Any,
                    current: dict[str, Any], name: str, value: Any, server_change: tuple[int, str | None],
                    client_time: str | None) -> str:
    """Open (or refresh this user's open) conflict on one field; the server's value stays."""
    existing = session.execute(select(Conflict).where(
        Conflict.record_type == rt.name, Conflict.record_id == record.id, Conflict.field == name,
        Conflict.status == "open", Conflict.client_by == user.id)).scalars().first()
    conflict = existing or Conflict(kind="field", record_type=rt.name, record_id=record.id, field=name,
                                    client_by=user.id)
    conflict.server_value = current.get(name)
    conflict.server_device = server_change[1]
    conflict.server_by = _author(session, server_change[1]) or record.updated_by
    conflict.server_at = record.updated_at
    conflict.client_value = value
    conflict.client_device = device.id
    conflict.client_at = utcnow()
    conflict.client_time = client_time
    session.add(conflict)
    session.flush()
    return conflict.id


def _may_know_deleted(session: Session, user: User, record_type: str, tombstone: dict[str, Any]) -> bool:
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
    return parent is not None and parent.deleted and _may_know_deleted(session, user, "counterparties",
                                                                       parent.tombstone or {})


def _edit_of_deleted(session: Session, user: User, device: Device, rt: records.RecordType,
                     m: dict[str, Any]) -> dict[str, Any]:
    log = changes.log_entry(session, rt.name, m["id"])
    if log is None or not log.deleted or not _may_know_deleted(session, user, rt.name, log.tombstone or {}):
        raise NotFound(f"{rt.singular} {m['id']} not found")
    conflict = Conflict(kind="edit_deleted", record_type=rt.name, record_id=m["id"], server_value=None,
                        server_at=log.changed_at, client_value=m["fields"], client_by=user.id,
                        client_device=device.id, client_time=m["client_time"])
    session.add(conflict)
    session.flush()
    return {"status": "conflict", "conflicts": [conflict.id]}


def _delete(session: Session, user: User, device: Device, rt: records.RecordType, m: dict[str, Any],
            contested: dict[str, tuple[int, str | None]]) -> dict[str, Any]:
    record = session.get(rt.model, m["id"])
    if record is None:
        log = changes.log_entry(session, rt.name, m["id"])
        if log is not None and log.deleted:
            return {"status": "applied", "note": "already deleted"}
        raise NotFound(f"{rt.singular} {m['id']} not found")
    if not access.can_read(session, user, record):
        raise NotFound(f"{rt.singular} {m['id']} not found, or you can no longer see it")
    if not access.can_write(session, user, record):
        raise PermissionDenied(f"you may see but not delete {rt.singular} {m['id']}")
    if contested:
        device_id = max(contested.values())[1]
        conflict = Conflict(kind="delete", record_type=rt.name, record_id=m["id"],
                            server_value=records.to_dict(rt, record), server_device=device_id,
                            server_by=_author(session, device_id) or record.updated_by,
                            server_at=record.updated_at, client_value=None, client_by=user.id,
                            client_device=device.id, client_time=m["client_time"])
        session.add(conflict)
        session.flush()
        return {"status": "conflict", "conflicts": [conflict.id]}
    records.delete(session, user, rt, m["id"])
    return {"status": "applied", "version": changes.allocate(session)}


# ---------------------------------------------------------------- conflicts

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
        if not _may_know_deleted(session, user, rt.name, tombstone):
            raise PermissionDenied(f"you could not see {rt.singular} {c.record_id}; it cannot be restored by you")
        records.create(session, user, rt, {**data, "id": c.record_id}, restoring=True)
    c.status, c.resolution, c.resolved_by, c.resolved_at = "resolved", choice, user.id, utcnow()
    session.add(c)
    session.flush()
    return c


# ---------------------------------------------------------------- pull

_LOG = changes.ChangeLog.__table__  # type: ignore[attr-defined]


def _parse_cursor(raw: Any) -> tuple[int, str | None, str | None]:
    if raw is None:
        return 0, None, None
    if not isinstance(raw, str):
        raise MalformedInput("cursor must be the string a previous pull returned")
    parts = raw.split(":", 2)
    try:
        version = int(parts[0])
    except ValueError:
        raise MalformedInput(f"cursor {raw[:60]!r} is not one this server gave out") from None
    if len(parts) == 3:
        return version, parts[1], parts[2]
    if len(parts) != 1 or version < 0:
        raise MalformedInput(f"cursor {raw[:60]!r} is not one this server gave out")
    return version, None, None


def _limit(raw: Any, default: int, most: int) -> int:
    if raw is None:
        return default
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= most:
        raise MalformedInput(f"limit must be an integer from 1 to {most}")
    return raw


def pull(session: Session, user: User, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedInput('send {"cursor": "...", "limit": 1000}')
    since, after_type, after_id = _parse_cursor(body.get("cursor"))
    limit = _limit(body.get("limit"), protocol.DEFAULT_PULL, protocol.MAX_PULL)
    top = changes.current(session)[0]
    answer: dict[str, Any] = {"cursor": str(top), "more": False, "reset": False, "changes": []}
    own = changes.field_versions(session, "users", user.id)
    moved = any(own.get(name, (0, None))[0] > since for name in changes.SCOPE_FIELDS[User])
    if since > top or (since > 0 and moved) or (0 < since < changes.horizon(session)):
        answer["reset"] = True  # the cursor is from another life of the server, or the user's scope moved
    elif since < top or after_type is not None:
        position = (_LOG.c.version > since if after_type is None else
                    tuple_(_LOG.c.version, _LOG.c.record_type, _LOG.c.record_id) > tuple_(since, after_type, after_id))
        rows = session.execute(select(_LOG.c.record_type, _LOG.c.record_id, _LOG.c.version, _LOG.c.scope_version,
                                      _LOG.c.deleted)
                               .where(position, _LOG.c.version <= top)
                               .order_by(_LOG.c.version, _LOG.c.record_type, _LOG.c.record_id)
                               .limit(limit + 1)).all()
        if len(rows) > limit:
            rows = rows[:limit]
            answer["more"] = True
            last = rows[-1]
            answer["cursor"] = f"{last.version}:{last.record_type}:{last.record_id}"
        answer["changes"] = _changes(session, user, rows, since if after_type is None else since - 1)
    answer["conflicts"] = list_conflicts(session, user)
    return answer


def _changes(session: Session, user: User, rows: list[Any], since: int) -> list[dict[str, Any]]:
    by_type: dict[str, list[str]] = {}
    for row in rows:
        if not row.deleted:
            by_type.setdefault(row.record_type, []).append(row.record_id)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, ids in by_type.items():
        rt = records.record_type(name)
        model: Any = rt.model
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for record in session.execute(select(model).where(model.id.in_(chunk), records.visible(rt, user))).scalars():
                found[(name, record.id)] = records.to_dict(rt, record)
    out = []
    for row in rows:
        key = (row.record_type, row.record_id)
        head = {"type": row.record_type, "id": row.record_id, "version": row.version}
        if row.deleted:
            out.append({"op": "delete", **head})
        elif key in found:
            out.append({"op": "upsert", **head, "record": found[key]})
        elif row.scope_version > since:
            out.append({"op": "evict", **head})
    return out


# ---------------------------------------------------------------- bootstrap

def bootstrap(session: Session, user: User, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MalformedInput('send {"watermark": null, "type": null, "after": null}')
    watermark = body.get("watermark")
    first = watermark is None
    if first:
        watermark = changes.current(session)[0]
    elif not isinstance(watermark, int) or isinstance(watermark, bool) or watermark < 0:
        raise MalformedInput("watermark must be the integer the first page returned")
    name = body.get("type") or protocol.TYPES[0]
    if name not in protocol.TYPES:
        raise MalformedInput(f"type must be one of {', '.join(protocol.TYPES)}")
    after = body.get("after")
    if after is not None and not isinstance(after, str):
        raise MalformedInput("after must be the id the previous page returned")
    limit = _limit(body.get("limit"), protocol.DEFAULT_PAGE, protocol.MAX_PAGE)
    rt = records.record_type(name)
    model: Any = rt.model
    fields = rt.fields()
    table = model.__table__
    stmt = (select(*[table.c[f] for f in fields], _LOG.c.version)
            .outerjoin(_LOG, and_(_LOG.c.record_type == name, _LOG.c.record_id == table.c.id))
            .where(records.visible(rt, user)).order_by(table.c.id).limit(limit))
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    rows = session.execute(stmt).all()
    width = len(fields)
    convert = _converters(name)
    if any(convert):
        out_rows = [[c(v) if c is not None and v is not None else v for c, v in zip(convert, row[:width], strict=True)]
                    for row in rows]
    else:
        out_rows = [list(row[:width]) for row in rows]
    versions = [row[width] if row[width] is not None else watermark for row in rows]
    if len(rows) == limit:
        nxt: dict[str, Any] | None = {"type": name, "after": rows[-1][fields.index("id")]}
    else:
        index = protocol.TYPES.index(name)
        nxt = {"type": protocol.TYPES[index + 1], "after": None} if index + 1 < len(protocol.TYPES) else None
    answer: dict[str, Any] = {"watermark": watermark, "type": name, "fields": fields, "rows": out_rows,
                              "versions": versions, "next": nxt}
    if first:
        answer["total"] = _totals(session, user)
    return answer


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def _converters(name: str) -> list[Any]:
    """Per field of a type, how its database value becomes JSON (None: as it is).

    ``to_jsonable`` on every value of a 100,000-record bootstrap costs seconds;
    deciding once per column costs nothing.
    """
    rt = records.record_type(name)
    out: list[Any] = []
    for field in rt.fields():
        column_type = rt.model.__table__.c[field].type  # type: ignore[attr-defined]
        python_type = getattr(column_type, "impl", column_type).python_type
        if python_type is datetime:
            out.append(_iso_utc)
        elif python_type is date:
            out.append(date.isoformat)
        elif python_type is Decimal:
            out.append(str)
        else:
            out.append(None)
    return out


def _totals(session: Session, user: User) -> dict[str, int]:
    totals = {}
    for name in protocol.TYPES:
        rt = records.record_type(name)
        model: Any = rt.model
        totals[name] = session.execute(select(func.count()).select_from(model).where(records.visible(rt, user))).scalar_one()
    return totals
