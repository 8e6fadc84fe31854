"""Which records a laptop may hold: the only ones a pull names in an ``evict`` or a ``delete``.

DESIGN: a laptop never learns the id of a record its user may not see; tombstones and
evictions go only to devices that may have held the record.

The server keeps what it told each device (``sync.models.Told``), as Siebel Remote kept
each mobile node's visibility: every record a bootstrap page or a pull sent it and every
record its own applied pushes named. A record out of the user's sight (or deleted) is
named to the device exactly when it was told of it. Rows stay when the record goes: a
laptop restored from an older copy of its data folder may hold it again, and is told again.

The keeping starts when the device holds nothing of the server's: at the first page of a
bootstrap (the laptop has emptied its replica) or a pull from cursor 0
(``DeviceCursor.told_since``). A pull from a base before that — a laptop last loaded before
the server kept these rows (migration 0005), a replica restored from before its last
bootstrap, or a cursor made up by hand — cannot be judged by what the device was told, so
it is answered ``reset``: the laptop pushes what it has and loads its scope again (its
outbox stays). Admins and office users see every record; nothing is kept for them and
everything gone is named to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from crm.database import native_insert
from crm.models import User
from crm.models.enums import Role
from sync.models import DeviceCursor, Told

_TOLD = Told.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
_CHUNK = 500

Key = tuple[str, str]


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(ids))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def keeps_told(user: User) -> bool:
    """Whether what ``user``'s devices are told is kept: not for admins and office users, who see
    every record; should their role change, their laptops load again (a moved scope resets them)
    and the keeping starts there."""
    return user.role not in (Role.ADMIN, Role.OFFICE)


def judged_from(user: User, base: int, told_since: int | None) -> bool:
    """Whether a pull of a device of ``user`` from ``base`` can be judged by what the device was
    told: from cursor 0 (it holds nothing), or from a base at or after the keeping started
    (``told_since``, its cursor's: None when it never started)."""
    if not keeps_told(user) or base <= 0:
        return True
    return told_since is not None and base >= told_since


def remember(session: Session, device_id: str, keys: Iterable[Key]) -> None:
    """Note that the device ``device_id`` has been told of the records ``keys``."""
    rows = [
        {"device_id": device_id, "record_type": name, "record_id": record_id}
        for name, record_id in set(keys)
    ]
    if not rows:
        return
    later: list[dict[str, str]] | None = session.info.get(_LATER)
    if later is not None:
        later.extend(rows)
        return
    _insert_told(session, rows)


def _insert_told(session: Session, rows: list[dict[str, str]]) -> None:
    connection = session.connection()
    stmt = native_insert(connection.dialect.name, _TOLD).on_conflict_do_nothing()
    for start in range(0, len(rows), _CHUNK):
        connection.execute(stmt, rows[start : start + _CHUNK])


_LATER = "held.told_later"


def hold_told(session: Session) -> None:
    """From now on in this transaction, ``remember`` holds its rows until ``write_told`` (pushes
    written together, ``sync.push.group``); what reads them meanwhile has them written first."""
    session.info[_LATER] = []


def write_told(session: Session) -> None:
    """Write the rows ``remember`` holds (``hold_told``), each once."""
    later: list[dict[str, str]] | None = session.info.get(_LATER)
    if later:
        unique = {(r["device_id"], r["record_type"], r["record_id"]): r for r in later}
        later.clear()
        _insert_told(session, [unique[key] for key in sorted(unique)])


def cursor_of(session: Session, device_id: str) -> DeviceCursor:
    """The device's cursor row, locked for the rest of the transaction; made on its first use.

    A new laptop's first push and its first pull's note can come at once (two processes, or the
    pull's short write beside a push): each makes the row if it is missing, without error if the
    other made it first, and then waits for it (an insert of an existing key, refused, would
    have failed the second request with a 409)."""
    if device_id in session.info.get(_LOCKED, ()):
        found = session.get(DeviceCursor, device_id)  # locked by ``lock_cursors`` already
    else:
        found = session.get(DeviceCursor, device_id, with_for_update=True)
    if found is not None:
        return found
    _make_cursors(session, [device_id])
    return session.get_one(DeviceCursor, device_id, with_for_update=True)


def _make_cursors(session: Session, device_ids: list[str]) -> None:
    """Empty cursor rows for ``device_ids``, each unless another request made it first."""
    connection = session.connection()
    table: Any = DeviceCursor.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    connection.execute(
        native_insert(connection.dialect.name, table).on_conflict_do_nothing(),
        [
            {
                "device_id": device_id,
                "last_seq": 0,
                "pulled_version": None,
                "pulled_at": None,
                "told_since": None,
            }
            for device_id in device_ids
        ],
    )


_LOCKED = "held.locked_cursors"


def lock_cursors(session: Session, device_ids: Iterable[str]) -> dict[str, DeviceCursor]:
    """``cursor_of`` for several devices in a transaction that writes their requests together
    (``sync.group``): their rows made where missing and locked in two or three queries, in the
    order of their keys (two such transactions lock in one order, never waiting on each other in a
    circle). ``cursor_of`` then finds each locked already. The cursors, by device."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}
    locked = select(DeviceCursor).where(col(DeviceCursor.device_id).in_(ids))
    locked = locked.order_by(col(DeviceCursor.device_id)).with_for_update()
    found = {c.device_id: c for c in session.execute(locked).scalars()}
    missing = [i for i in ids if i not in found]
    if missing:
        _make_cursors(session, missing)
        again = select(DeviceCursor).where(col(DeviceCursor.device_id).in_(missing))
        again = again.order_by(col(DeviceCursor.device_id)).with_for_update()
        found.update((c.device_id, c) for c in session.execute(again).scalars())
    # The cursors themselves kept: the session holds its objects only while something else does.
    session.info[_LOCKED] = found
    return found


def start_telling(session: Session, device_id: str, since: int) -> None:
    """The device holds nothing of the server's from version ``since`` on (a bootstrap's watermark,
    or 0 for a pull from the start): from here, what it holds is what it is told. Never moved later:
    rows kept since an earlier start still hold."""
    cursor = cursor_of(session, device_id)
    if cursor.told_since is None or since < cursor.told_since:
        cursor.told_since = since
        session.add(cursor)


def was_told(session: Session, device_id: str, key: Key) -> bool:
    """Whether the device ``device_id`` has been told of the record ``key``."""
    return bool(_told(session, device_id, {key}))


def _told(session: Session, device_id: str, keys: set[Key]) -> set[Key]:
    write_told(session)
    by_type: dict[str, list[str]] = {}
    for name, record_id in keys:
        by_type.setdefault(name, []).append(record_id)
    found: set[Key] = set()
    for name, ids in by_type.items():
        for chunk in _chunks(ids):
            found.update(
                (name, record_id)
                for record_id in session.connection()
                .execute(
                    select(_TOLD.c.record_id).where(
                        _TOLD.c.device_id == device_id,
                        _TOLD.c.record_type == name,
                        _TOLD.c.record_id.in_(chunk),
                    )
                )
                .scalars()
            )
    return found


def may_hold(
    session: Session, user: User, rows: Sequence[Any], device_id: str, *, fresh: bool
) -> set[Key]:
    """Of ``rows`` (change-log rows: ``record_type``, ``record_id``) of records now out of ``user``'s
    sight or deleted, the keys of those the device ``device_id`` was told of. The caller has made
    sure the pull can be judged so (``judged_from``). An admin's or office user's device is told of
    every one — but of none on the first page of a pull from cursor 0 (``fresh``): it holds nothing."""
    keys = {(row.record_type, row.record_id) for row in rows}
    if not keys:
        return set()
    if not keeps_told(user):
        return set() if fresh else keys
    return _told(session, device_id, keys)
