"""Pull: the changes since a laptop's cursor that its user may see, in version order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, true, tuple_
from sqlmodel import Session, col

from crm import changes, records
from crm.database import among
from crm.models import User
from sync import held as held_records
from sync import protocol, wire
from sync.conflicts import page_conflicts
from sync.models import DeviceCursor

_LOG = changes.ChangeLog.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
# Where the server stands for a pull, in one round trip: the data version, the horizon of pruned
# tombstones, and since when the device's ``told`` rows are kept (``sync.held``); each None when
# its row does not exist yet.
_STANDING = select(
    select(col(changes.DataVersion.version))
    .where(col(changes.DataVersion.id) == 1)
    .scalar_subquery(),
    select(col(changes.Horizon.version)).where(col(changes.Horizon.id) == 1).scalar_subquery(),
    select(col(DeviceCursor.told_since))
    .where(col(DeviceCursor.device_id) == bindparam("device_id"))
    .scalar_subquery(),
)


def pull(
    session: Session,
    user: User,
    body: Any,
    device_id: str | None = None,
    *,
    schema: int = protocol.SCHEMA,
) -> dict[str, Any]:
    """The next page of changes for the laptop ``device_id`` of ``user``, of the types its
    ``schema`` knows. The caller then ``told``-s the answer in a write (``remember_pull``) before
    sending it."""
    types = None if schema >= protocol.SCHEMA else protocol.types_for(schema)
    request = wire.parse(wire.PullRequest, body, 'send {"cursor": "...", "limit": 1000}')
    since, after_type, after_id, base = wire.cursor_position(request.cursor)
    limit = protocol.DEFAULT_PULL if request.limit is None else request.limit
    top, horizon, told_since = session.execute(_STANDING, {"device_id": device_id}).one()
    top, horizon = top or 0, horizon or 0
    answer: dict[str, Any] = {"cursor": str(top), "more": False, "reset": False, "changes": []}
    own = changes.field_versions(session, "users", user.id)
    # Judged against the base, not the page's position: what the laptop holds dates from there.
    moved = any(own.get(name, (0, None))[0] > base for name in changes.SCOPE_FIELDS[User])
    if (
        since > top
        or (base > 0 and moved)
        or (0 < base < horizon)
        or (device_id is not None and not held_records.judged_from(user, base, told_since))
    ):
        # The cursor is from another life of the server, the user's scope moved, or what the
        # device holds cannot be told from what it was told (a base from before that was kept).
        answer["reset"] = True
    elif since < top or after_type is not None:
        position = (
            _LOG.c.version > since
            if after_type is None
            else tuple_(_LOG.c.version, _LOG.c.record_type, _LOG.c.record_id)
            > tuple_(since, after_type, after_id)
        )
        rows = session.execute(
            select(
                _LOG.c.record_type,
                _LOG.c.record_id,
                _LOG.c.version,
                _LOG.c.scope_version,
                _LOG.c.deleted,
                _LOG.c.counterparty_id,
                _LOG.c.tombstone,
            )
            .where(position, _LOG.c.version <= top)
            .where(_LOG.c.record_type.in_(types) if types is not None else true())
            .order_by(_LOG.c.version, _LOG.c.record_type, _LOG.c.record_id)
            .limit(limit + 1)
        ).all()
        if len(rows) > limit:
            rows = rows[:limit]
            answer["more"] = True
            last = rows[-1]
            answer["cursor"] = f"{last.version}:{last.record_type}:{last.record_id}:{base}"
        answer["changes"] = _changes(
            session, user, rows, base, device_id, fresh=after_type is None and base == 0
        )
    # At most MAX_CONFLICTS, oldest first; the rest are paged through GET /api/v1/conflicts.
    answer["conflicts"], following = page_conflicts(session, user, types=types)
    answer["conflicts_more"] = following is not None
    return answer


def starts_from_nothing(body: Any) -> bool:
    """Whether a pull's request starts from cursor 0: the device holds nothing of the server's."""
    return isinstance(body, dict) and body.get("cursor") in (None, "0")


def remember_pull(session: Session, device_id: str, body: Any, answer: dict[str, Any]) -> None:
    """Note what a pull's answer tells the device (its upserts), before it is sent; a pull from
    cursor 0 starts the keeping (``sync.held``)."""
    if starts_from_nothing(body) and not answer["reset"]:
        held_records.start_telling(session, device_id, 0)
    held_records.remember(
        session,
        device_id,
        ((c["type"], c["id"]) for c in answer.get("changes", ()) if c["op"] == "upsert"),
    )


def _changes(
    session: Session,
    user: User,
    rows: Sequence[Any],
    base: int,
    device_id: str | None,
    *,
    fresh: bool,
) -> list[dict[str, Any]]:
    """The page's rows as the laptop of ``user`` sees them, its cursor having been ``base``.

    A record ``user`` sees is an upsert. A deleted one is a delete, and one out of sight
    whose scope changed after ``base`` an evict — but only if the laptop may hold it
    (``sync.held``): others' records never give their ids away.
    """
    by_type: dict[str, list[str]] = {}
    for row in rows:
        if not row.deleted:
            by_type.setdefault(row.record_type, []).append(row.record_id)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    connection = session.connection()  # Core statements: none of the ORM's work a statement
    dialect = connection.dialect.name
    for name, ids in by_type.items():
        rt = records.record_type(name)
        table: Any = rt.model.__table__  # type: ignore[attr-defined]
        fields = rt.fields()
        at = fields.index("id")
        # Rows of the fields' columns, not ORM objects: a pull's page is up to 500 records and
        # loading each as an object cost more than the query.
        columns = select(*[table.c[f] for f in fields])
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = columns.where(among(dialect, table.c.id, chunk), records.visible(rt, user))
            for row in connection.execute(query).all():  # fetched at once, not row by row
                found[(name, row[at])] = records.row_dict(name, row)
    gone = [
        row
        for row in rows
        if row.deleted
        or ((row.record_type, row.record_id) not in found and row.scope_version > base)
    ]
    held = (
        held_records.may_hold(session, user, gone, device_id, fresh=fresh)
        if device_id is not None
        else set()
    )
    out = []
    for row in rows:
        key = (row.record_type, row.record_id)
        head = {"type": row.record_type, "id": row.record_id, "version": row.version}
        if key in found:
            out.append({"op": "upsert", **head, "record": found[key]})
        elif key in held:
            out.append({"op": "delete" if row.deleted else "evict", **head})
    return out
