"""Which records a laptop may hold: the only ones a pull names in an ``evict`` or a ``delete``.

DESIGN: a laptop never learns the id of a record its user may not see; tombstones and
evictions go only to devices that may have held the record.

The server keeps what each device was told (``sync.models.Told``, as Siebel Remote kept
each mobile node's visibility): every record a bootstrap or a pull sent it and every one
its own pushes named, from its first bootstrap on (``DeviceCursor.told_since``). A pull
from a base at or after that names in an evict or a delete exactly the records the device
was told of: nothing it never held, and everything it may hold — even from a copy of its
data folder restored from a backup, since rows stay when the record goes.

A pull from an older base (a device last bootstrapped before the server kept these rows,
or a replica restored from before that bootstrap) is judged by the rules below instead,
which need no history and err towards telling. A laptop whose pull started from cursor *B*
(its base) holds what its user could see at *B* — what earlier pulls sent it — and what it
made since. A record now out of the user's sight (or deleted) counts as possibly held
when *B* > 0 (from 0 a laptop holds nothing of the server's: it always bootstraps first) and

1. the user is an admin or office user (they see every record); or
2. its values — current, or the tombstone's last ones — name the user (owner, responsible,
   assignee, creator, a share's user or team); or
3. its counterparty is visible to the user now, or its counterparty's last values let the
   user see it (owner, company visibility, team visibility or manager of the owner's team); or
4. something deciding who sees it changed after *B* (the old value is not kept, so it may
   have shown it to the user): a scope field of the record itself (a child's counterparty,
   a reminder's assignee), its counterparty's owner or visibility, a share of that
   counterparty that names the user or their team or whose user or team changed, or the
   team or role of that counterparty's owner.

A record another user created after *B* and never changed in a way that could have shown
it to this user is none of these, so its id never reaches the laptop. Rule 4 is
conservative: an owner or visibility change after *B* counts even when the old value never
showed the record to the user (documented in docs/sync-protocol.md).

A page costs a dozen indexed queries whatever its size, and none when it has no candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from crm import access, changes, records
from crm.models import Counterparty, Share, User
from crm.models.enums import Role, Visibility
from sync.models import DeviceCursor, Told

_LOG = changes.ChangeLog.__table__  # type: ignore[attr-defined]
_FIELD = changes.ChangeField.__table__  # type: ignore[attr-defined]
_CHUNK = 500
# Fields naming the people a record belongs to (a tombstone has no ``created_by``: it is a system field).
_NAMED = ("owner_id", "responsible_id", "assignee_id", "created_by", "user_id")
_OWNER_SCOPE = ("team_id", "role")

Key = tuple[str, str]


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(ids))
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _changed_after(session: Session, record_type: str, ids: Iterable[str], fields: Iterable[str],
                   base: int) -> set[str]:
    """Of ``ids``, those whose ``fields`` changed after version ``base``."""
    names = sorted(fields)
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(session.connection().execute(
            select(_FIELD.c.record_id).where(_FIELD.c.record_type == record_type, _FIELD.c.record_id.in_(chunk),
                                             _FIELD.c.field.in_(names), _FIELD.c.version > base)).scalars())
    return found


def _current(session: Session, record_type: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The people- and scope-deciding values of the stored records ``ids`` of one type."""
    model: Any = records.record_type(record_type).model
    wanted = [name for name in (*_NAMED, "team_id", "counterparty_id", "visibility") if name in model.model_fields]
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for record in session.execute(select(model).where(model.id.in_(chunk))).scalars():
            found[record.id] = {name: getattr(record, name) for name in wanted}
    return found


def _names(user: User, values: dict[str, Any]) -> bool:
    if user.id in {values.get(name) for name in _NAMED}:
        return True
    return user.team_id is not None and values.get("team_id") == user.team_id


def _grants(user: User, values: dict[str, Any], teams: dict[str, str | None]) -> bool:
    """Whether a counterparty with these owner and visibility values is one ``user`` sees."""
    owner = values.get("owner_id")
    visibility = values.get("visibility")
    if owner == user.id or visibility == Visibility.COMPANY.value:
        return True
    same_team = user.team_id is not None and owner is not None and teams.get(owner) == user.team_id
    return same_team and (visibility == Visibility.TEAM.value or user.role == Role.MANAGER)


def _counterparties_seen(session: Session, user: User, base: int, ids: set[str]) -> set[str]:
    """Of the counterparties ``ids`` (stored or deleted), those the user may have seen since ``base``."""
    if not ids:
        return set()
    seen: set[str] = set()
    values: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        seen.update(session.connection().execute(select(Counterparty.id).where(
            Counterparty.id.in_(chunk), access.visible_counterparties(user))).scalars())  # type: ignore[attr-defined]
        for row in session.connection().execute(select(_LOG.c.record_id, _LOG.c.tombstone).where(
                _LOG.c.record_type == "counterparties", _LOG.c.record_id.in_(chunk), _LOG.c.deleted)):
            values[row.record_id] = row.tombstone or {}
    values.update(_current(session, "counterparties", ids - seen - set(values)))
    owners = {v["owner_id"] for v in values.values() if v.get("owner_id")}
    teams: dict[str, str | None] = {}
    for chunk in _chunks(owners):
        teams.update(session.connection().execute(select(User.id, User.team_id).where(User.id.in_(chunk))).all())  # type: ignore[attr-defined, arg-type]
    seen.update(cp for cp, v in values.items() if _grants(user, v, teams))
    seen.update(_changed_after(session, "counterparties", ids - seen, ("owner_id", "visibility"), base))
    if user.team_id is not None:
        moved = _changed_after(session, "users", owners, _OWNER_SCOPE, base)
        seen.update(cp for cp, v in values.items() if v.get("owner_id") in moved)
    seen.update(_shared_since(session, user, base, ids - seen))
    return seen


def _shared_since(session: Session, user: User, base: int, ids: set[str]) -> set[str]:
    """Of the counterparties ``ids``, those with a share changed after ``base`` that named the user
    (or their team), or whose user or team changed (from whom, the log does not say)."""
    shares: dict[str, str] = {}
    values: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for row in session.connection().execute(select(_LOG.c.record_id, _LOG.c.counterparty_id, _LOG.c.deleted,
                                                       _LOG.c.tombstone).where(
                _LOG.c.record_type == "shares", _LOG.c.counterparty_id.in_(chunk), _LOG.c.version > base)):
            shares[row.record_id] = row.counterparty_id
            if row.deleted:
                values[row.record_id] = row.tombstone or {}
    values.update(_current(session, "shares", set(shares) - set(values)))
    repointed = _changed_after(session, "shares", shares, ("user_id", "team_id"), base)
    return {cp for share, cp in shares.items() if share in repointed or _names(user, values.get(share, {}))}


def _moved_shares(session: Session, user: User, base: int) -> bool:
    """Whether a share naming the user moved to another counterparty after ``base``: the one it left
    is not recorded, so every counterparty then counts as possibly seen (rare: shares seldom move)."""
    who = Share.user_id == user.id
    if user.team_id is not None:
        who = or_(who, Share.team_id == user.team_id)
    mine = list(session.connection().execute(select(Share.id).where(who)).scalars())  # type: ignore[call-overload]
    return bool(_changed_after(session, "shares", mine, ("counterparty_id",), base))


_TOLD = Told.__table__  # type: ignore[attr-defined]


def keeps_told(user: User) -> bool:
    """Whether what ``user``'s devices are told is kept: not for admins and office users, who see
    every record (everything gone is named to them); should their role change, their laptops
    bootstrap again (a moved scope resets them) and the keeping starts there."""
    return user.role not in (Role.ADMIN, Role.OFFICE)


def remember(session: Session, device_id: str, keys: Iterable[Key]) -> None:
    """Note that the device ``device_id`` has been told of the records ``keys``."""
    rows = [{"device_id": device_id, "record_type": name, "record_id": record_id} for name, record_id in set(keys)]
    if not rows:
        return
    connection = session.connection()
    dialect: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), _CHUNK):
        connection.execute(dialect.insert(_TOLD).on_conflict_do_nothing(), rows[start:start + _CHUNK])


def start_telling(session: Session, device_id: str, watermark: int) -> None:
    """A bootstrap from ``watermark`` began on an emptied replica: from here on, what the device
    holds is what it is told (kept from its first such bootstrap on; never moved back)."""
    cursor = session.get(DeviceCursor, device_id, with_for_update=True)
    if cursor is None:
        session.add(DeviceCursor(device_id=device_id, told_since=watermark))
    elif cursor.told_since is None:
        cursor.told_since = watermark
        session.add(cursor)


def was_told(session: Session, device_id: str, key: Key) -> bool:
    """Whether the device ``device_id`` has been told of the record ``key``."""
    return bool(_told(session, device_id, {key}))


def _told(session: Session, device_id: str, keys: set[Key]) -> set[Key]:
    by_type: dict[str, list[str]] = {}
    for name, record_id in keys:
        by_type.setdefault(name, []).append(record_id)
    found: set[Key] = set()
    for name, ids in by_type.items():
        for chunk in _chunks(ids):
            found.update((name, record_id) for record_id in session.connection().execute(
                select(_TOLD.c.record_id).where(_TOLD.c.device_id == device_id, _TOLD.c.record_type == name,
                                                _TOLD.c.record_id.in_(chunk))).scalars())
    return found


def may_hold(session: Session, user: User, base: int, rows: Sequence[Any], device_id: str | None = None) -> set[Key]:
    """Of ``rows`` (change-log rows: ``record_type``, ``record_id``, ``counterparty_id``, ``deleted``,
    ``tombstone``) of records now out of ``user``'s sight or deleted, the keys of those the laptop
    ``device_id`` whose cursor was ``base`` may hold: what it was told, or by the module's rules."""
    keys = {(row.record_type, row.record_id) for row in rows}
    if base <= 0 or not keys:
        return set()
    if user.role in (Role.ADMIN, Role.OFFICE):
        return keys
    cursor = session.get(DeviceCursor, device_id) if device_id is not None else None
    if cursor is not None and cursor.told_since is not None and base >= cursor.told_since:
        return _told(session, cursor.device_id, keys)
    values: dict[Key, dict[str, Any]] = {}
    alive: dict[str, list[str]] = {}
    for row in rows:
        if row.deleted:
            values[(row.record_type, row.record_id)] = row.tombstone or {}
        else:
            alive.setdefault(row.record_type, []).append(row.record_id)
    for name, ids in alive.items():
        values.update({(name, i): v for i, v in _current(session, name, ids).items()})
    parents = {row.counterparty_id for row in rows if row.counterparty_id}
    seen = set(parents) if _moved_shares(session, user, base) else _counterparties_seen(session, user, base, parents)
    scope_changed: set[Key] = set()
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row.record_type, []).append(row.record_id)
    for name, ids in by_type.items():
        fields = changes.SCOPE_FIELDS.get(records.record_type(name).model, frozenset())
        if fields and name != "counterparties":
            scope_changed.update((name, i) for i in _changed_after(session, name, ids, fields, base))
    managed = _team_members(session, user) if user.role == Role.MANAGER else set()
    held: set[Key] = set()
    for row in rows:
        key = (row.record_type, row.record_id)
        mine = values.get(key, {})
        if _names(user, mine) or key in scope_changed or row.counterparty_id in seen \
                or row.record_type in ("users", "teams"):
            held.add(key)
        elif row.record_type == "reminders" and row.deleted and mine.get("assignee_id") in managed:
            held.add(key)  # a manager may have made it for a member of the team (a tombstone has no creator)
    return held


def _team_members(session: Session, user: User) -> set[str]:
    if user.team_id is None:
        return set()
    return set(session.connection().execute(select(User.id).where(User.team_id == user.team_id)).scalars())  # type: ignore[arg-type]
