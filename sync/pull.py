"""Pull: the changes since a laptop's cursor that its user may see, in version order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlmodel import Session

from crm import changes, records
from crm.errors import MalformedInput
from crm.models import User
from sync import protocol
from sync.conflicts import list_conflicts

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

