"""The company's data version and the change log that every write enters.

**Data version.** One counter row that every writing transaction raises once,
with ``version = version + 1``, the first time it flushes a change. On
PostgreSQL the row lock is held until the transaction commits, so the next
writer gets the next number only after this one committed: versions follow
commit order, and a reader that sees version *W* committed knows that every
version ≤ *W* is committed too. Calendar feeds use it as their ETag; the sync
pull uses it as its cursor (DESIGN, sync invariant 1).

**Change log.** One row per synced record (``ChangeLog``): the version of its
last change, of its last *scope* change (something that may change who sees
it), a tombstone flag with the last values of a deleted record, and the
counterparty it belongs to. ``ChangeField`` keeps, per changed field, the
version and device of its last change, so the sync merge can tell which fields
changed since a laptop's copy. A session hook writes both on every flush of a
synced record, whoever the writer is (REST API, sync, imports, mail bridge,
admin commands); bulk loaders that bypass the ORM call ``log_inserted``.

The log lives in ``crm`` rather than ``sync`` because the writers live here
and ``crm`` may import nothing of ours; ``sync`` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from functools import cache
from typing import Any, overload

from sqlalchemy import JSON, Index, Table, bindparam, event, insert, inspect, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, col

from crm import clock, registry
from crm.database import native_insert
from crm.models import Absence, Counterparty, Share, User
from crm.models.base import SYSTEM_FIELDS, UTCDateTime, to_jsonable, utcnow


class DataVersion(SQLModel, table=True):
    __tablename__ = "data_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChangeLog(SQLModel, table=True):
    """The last change of one record, as the sync pull reads it."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_stream", "version", "record_type", "record_id"),)

    record_type: str = Field(primary_key=True, max_length=20)
    record_id: str = Field(primary_key=True, max_length=36)
    version: int
    scope_version: int
    # The counterparty the record belongs to (its own id for a counterparty): a change of
    # who sees a counterparty re-sends its contact persons, deals, interactions too.
    counterparty_id: str | None = Field(default=None, max_length=36, index=True)
    deleted: bool = Field(default=False)
    # The last values of a deleted record, so a conflicting offline edit can restore it.
    tombstone: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Horizon(SQLModel, table=True):
    """The newest version whose tombstones were pruned: a cursor older than it must bootstrap again."""

    __tablename__ = "change_horizon"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(default=0)
    pruned_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChangeField(SQLModel, table=True):
    """The last change of one field of one record: which version, from which device."""

    __tablename__ = "change_field"

    record_type: str = Field(primary_key=True, max_length=20)
    record_id: str = Field(primary_key=True, max_length=36)
    field: str = Field(primary_key=True, max_length=40)
    version: int
    device_id: str | None = Field(default=None, max_length=36)


# Synced models and their names on the wire, and per model the fields whose change may change
# who sees the record: both kept by crm.registry from its record types (live: a type registered
# later is logged too).
SYNCED: dict[type[SQLModel], str] = registry.SYNCED
SCOPE_FIELDS: dict[type[SQLModel], frozenset[str]] = registry.SCOPE_FIELDS
# Fields that never travel: the service's own bookkeeping and secrets.
UNSYNCED_FIELDS = SYSTEM_FIELDS | {"password_hash", "search_name"}

_VERSION_KEY = "satchel.change_version"
# Stands for the transaction's version in rows held until it is taken (``holding(late=True)``); a
# row that reached the database with it would fail loudly (it is no integer).
LATE: Any = type("Late", (), {"__repr__": lambda self: "LATE"})()
_ROW_HELD = "satchel.version_row_held"  # the root transaction that locked the row by ``hold``


class Write(Session):
    """A writing transaction (``crm.database.Database.write``): it may take a data version."""


class ServerWrite(Write):
    """A write on the company's database, as ``crm.database.Database.write`` opens it.

    Its flushes enter the change log (the hooks below are registered on this class, not on
    every session: a laptop's replica opens its database with ``change_log=False`` and its
    writes are plain ``Write``s that log nothing). ``device_id`` names the laptop whose push is being
    applied (given when the write is opened, or by ``from_device`` once the push's caller is
    known); the field versions it writes carry it, so the next pull of that laptop can tell
    its own changes from others'.
    """

    def __init__(self, *args: Any, device_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device_id = device_id


def from_device(session: Session, device_id: str) -> None:
    """Mark the rest of this write as applying ``device_id``'s push."""
    if not isinstance(session, ServerWrite):
        raise TypeError("only a server write (Database.write with a change log) applies a push")
    session.device_id = device_id


def on_server(session: Session | OrmSession) -> bool:
    """Whether this is a write on the company's database (not a laptop's replica, which holds
    the synced tables only)."""
    return isinstance(session, ServerWrite)


def device_of(session: Session | OrmSession) -> str | None:
    """The device whose push this write applies, if any."""
    return session.device_id if isinstance(session, ServerWrite) else None


_VERSIONS: Table = DataVersion.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
# Built once (every writing transaction runs it): the counter raised and read in one round trip.
_STEP = (
    update(_VERSIONS)
    .where(_VERSIONS.c.id == 1)
    .values(version=_VERSIONS.c.version + 1, changed_at=bindparam("now"))
    .returning(_VERSIONS.c.version)
)


def allocate(session: Session | OrmSession) -> int:
    """This transaction's version: taken (and the counter row locked) on the first call."""
    taken = session.info.get(_VERSION_KEY)
    if taken is not None:
        return int(taken[0])
    connection = session.connection()
    now = utcnow()
    version = connection.execute(_STEP, {"now": now}).scalar()
    if version is None:
        # The first write of a new database, perhaps several at once: one makes the row, the others
        # wait for it to commit and then count on from it.
        connection.execute(
            native_insert(connection.dialect.name, _VERSIONS)
            .values(id=1, version=0, changed_at=now)
            .on_conflict_do_nothing()
        )
        version = connection.execute(_STEP, {"now": now}).scalar_one()
    _note_taken(session, version)
    return int(version)


def _note_taken(session: Session | OrmSession, version: int) -> None:
    # Remember where it was taken: a rolled-back savepoint undoes the counter's update too.
    session.info[_VERSION_KEY] = (
        version,
        session.get_nested_transaction() or session.get_transaction(),
    )


def taken(session: Session | OrmSession) -> int | None:
    """The version this transaction has taken, if it took one (and no rollback gave it back)."""
    version = session.info.get(_VERSION_KEY)
    return None if version is None else int(version[0])


def hold(session: Session | OrmSession) -> None:
    """Lock the version row for the rest of this transaction without taking a version: a writer that
    will lock other rows first and may take a version later (a group of pushes) takes the row first,
    so that every writer locks it before anything else it shares with another. SQLite needs nothing:
    its writers are one at a time already."""
    connection = session.connection()  # begun first: a session that has not begun has no root
    root = session.get_transaction()
    if session.info.get(_ROW_HELD) is root or taken(session) is not None:
        return  # held already in this transaction (a group's pushes each ask): no second statement
    if connection.dialect.name == "postgresql":
        connection.execute(
            select(col(DataVersion.version)).where(col(DataVersion.id) == 1).with_for_update()
        )
    session.info[_ROW_HELD] = root


def bump(session: Session | OrmSession) -> None:
    """Record that the data changed, inside the caller's transaction (once per transaction); in a
    ``holding(late=True)`` block, when the block ends."""
    held: _Held | None = session.info.get(_HELD)
    if held is not None and held.late and taken(session) is None:
        held.bumped = True
        return
    allocate(session)


def current(session: Session) -> tuple[int, datetime | None]:
    """(version, when it last changed); (0, None) before the first write."""
    row = session.execute(
        select(col(DataVersion.version), col(DataVersion.changed_at)).where(
            col(DataVersion.id) == 1
        )
    ).first()
    return (row[0], row[1]) if row else (0, None)


@cache
def data_fields(model: type[SQLModel]) -> tuple[str, ...]:
    """The fields of ``model`` that travel (asked on every flush of every synced record)."""
    return tuple(name for name in model.model_fields if name not in UNSYNCED_FIELDS)


@overload
def _counterparty_of(obj: Counterparty | Share) -> str: ...
@overload
def _counterparty_of(obj: Any) -> str | None: ...
def _counterparty_of(obj: Any) -> str | None:
    return obj.id if isinstance(obj, Counterparty) else getattr(obj, "counterparty_id", None)


def _changed_fields(obj: Any) -> list[str]:
    state = inspect(obj)
    changed = []
    model: type[SQLModel] = type(obj)
    for name in data_fields(model):
        history = state.attrs[name].history
        if not history.added:
            continue
        if history.deleted and history.deleted[0] == history.added[0]:
            continue
        changed.append(name)
    return changed


@cache
def _upsert_statement(
    dialect_name: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]
) -> Any:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET`` the other ``columns``, built once per shape.

    Building the construct costs more than running it; every write runs one or two.
    """
    stmt = native_insert(dialect_name, table)
    updates = {c: getattr(stmt.excluded, c) for c in columns if c not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


def _upsert(
    connection: Any,
    table: Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    columns: Sequence[str] | None = None,
) -> None:
    """Upsert ``rows``; on conflict only ``columns`` (default: every column given) are updated."""
    if not rows:
        return
    stmt = _upsert_statement(connection.dialect.name, table, tuple(columns or rows[0]), tuple(keys))
    connection.execute(stmt, rows)


_LOG = ChangeLog.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
_FIELD = ChangeField.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it


def _write_rows(
    session: Session | OrmSession, logs: list[dict[str, Any]], fields: list[dict[str, Any]]
) -> None:
    if fields:
        session.info.pop(_FIELDS_KNOWN, None)  # ``know_field_versions`` holds them no longer
    connection = session.connection()
    # Rows keep their last scope version when this change is not a scope change.
    scoped = [r for r in logs if r["scope_version"] is not None]
    plain = [{**r, "scope_version": 0} for r in logs if r["scope_version"] is None]
    _upsert(connection, _LOG, scoped, ("record_type", "record_id"))
    _upsert(
        connection,
        _LOG,
        plain,
        ("record_type", "record_id"),
        ("version", "deleted", "tombstone", "changed_at", "counterparty_id"),
    )
    _upsert(connection, _FIELD, fields, ("record_type", "record_id", "field"))


@dataclass
class _Held:
    """What ``holding`` holds: the rows of each flush inside it not written yet, in order, and
    those written, by the savepoint they were written in (a savepoint rolled back undoes them:
    the rows of the flushes outside it are held again)."""

    @dataclass
    class Flush:
        order: int
        transaction: Any  # the transaction or savepoint the flush ran in
        logs: list[dict[str, Any]]
        fields: list[dict[str, Any]]
        late: bool = False  # its rows carry ``LATE`` for the version

    waiting: list[Flush] = dc_field(default_factory=list)
    written: list[tuple[Any, list[Flush]]] = dc_field(default_factory=list)
    flushes: int = 0
    # The version taken only when the rows are written (``holding(late=True)``): the rows held
    # carry ``LATE`` until then, and ``bumped`` says a version is wanted even with no rows.
    late: bool = False
    bumped: bool = False

    def settle(self, session: Session | OrmSession, version: int | None = None) -> None:
        """Give the rows held with ``LATE`` the transaction's version: ``version`` if it was just
        taken, else taken now."""
        if not (self.bumped or any(f.late for f in self.waiting)):
            return
        if version is None:
            version = allocate(session)
        self.bumped = False
        for flush in self.waiting:
            if flush.late:
                flush.late = False
                _give_version(flush.logs, flush.fields, version)

    def hold(
        self,
        transaction: Any,
        logs: list[dict[str, Any]],
        fields: list[dict[str, Any]],
        late: bool = False,
    ) -> None:
        self.flushes += 1
        self.waiting.append(self.Flush(self.flushes, transaction, logs, fields, late))

    def rolled_back(self, savepoint: Any) -> None:
        again = [
            flush
            for written_in, flushes in self.written
            if _inside(written_in, savepoint)
            for flush in flushes
            if not _inside(flush.transaction, savepoint)
        ]
        self.written = [w for w in self.written if not _inside(w[0], savepoint)]
        kept = [flush for flush in self.waiting if not _inside(flush.transaction, savepoint)]
        self.waiting = sorted(again + kept, key=lambda flush: flush.order)


_HELD = "changes.held"


@contextmanager
def holding(session: Session | OrmSession, *, late: bool = False) -> Iterator[None]:
    """Enter the change log of the flushes inside in a few statements at the end, not two per flush.

    A push applies mutations one by one, each flushed for the next to see; writing each one's
    change-log and field rows at once is two of its few round trips to the database. Inside, the
    rows are held in order and written together when the block ends without an error, each
    record's and field's last row only: the same as writing them one after the other, since all
    rows of a transaction carry its one version. Whatever reads or writes the change log meanwhile
    (``log_entry``, the field versions, ``log_moved``, a change of who sees a counterparty) has the
    held rows written first. A savepoint rolled back inside drops the rows its flushes held, and
    holds again those of other flushes that were written inside it.

    ``late``: the transaction's version is taken only then, right before its rows are written
    (a single REST write, ``server.http.as_caller``): a writer holds the version's row from taking
    its version to its commit, and every other writer waits for it meanwhile; taken at the
    flush, the row was held through the rest of the request's work too (its answer built, its
    thread waiting for the interpreter between round trips). Whatever reads the held rows first
    takes it then.
    """
    if _HELD in session.info:  # inside another ``holding`` (a push of a group): that one writes
        yield
        return
    session.info[_HELD] = _Held(late=late)
    try:
        yield
        write_held(session)
    finally:
        session.info.pop(_HELD, None)


def write_held(session: Session | OrmSession) -> None:
    """Write the rows ``holding`` holds now (nothing outside it)."""
    held: _Held | None = session.info.get(_HELD)
    if held is None or (held.waiting and _taken_with_log(session, held)):
        return
    held.settle(session)
    if not held.waiting:
        return
    logs, fields = _merged(held.waiting)
    held.written.append((_current(session), held.waiting))
    held.waiting = []
    _write_rows(session, logs, fields)


def _merged(flushes: list[_Held.Flush]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The held flushes' rows, each record's and field's last only."""
    logs: dict[tuple[str, str], dict[str, Any]] = {}
    fields: dict[tuple[str, str, str], dict[str, Any]] = {}
    for flush in flushes:
        for row in flush.logs:
            key = (row["record_type"], row["record_id"])
            earlier = logs.get(key)
            # A scope change earlier in the block stays one: its last row takes its scope version.
            if row["scope_version"] is None and earlier is not None:
                row = {**row, "scope_version": earlier["scope_version"]}
            logs[key] = row
        for row in flush.fields:
            fields[(row["record_type"], row["record_id"], row["field"])] = row
    return list(logs.values()), list(fields.values())


# The version taken and the change log written in one statement (PostgreSQL): a writer holds the
# version's row from the first to its commit, so each round trip (and each wait of its thread
# for the interpreter after it) in between is a wait of every other writer. Rows as arrays: the
# statement's text is the same however many rows it writes.
_TAKE_AND_LOG = """
WITH taken AS (
    UPDATE data_version SET version = version + 1, changed_at = %(now)s WHERE id = 1
    RETURNING version
)
INSERT INTO change_log
    (record_type, record_id, version, scope_version, counterparty_id, deleted, tombstone,
     changed_at)
SELECT r.record_type, r.record_id, taken.version,
       CASE WHEN r.scoped THEN taken.version ELSE 0 END,
       r.counterparty_id, r.deleted, r.tombstone::json, r.changed_at
FROM taken, unnest(%(types)s::varchar[], %(ids)s::varchar[], %(scoped)s::boolean[],
                   %(counterparties)s::varchar[], %(deleted)s::boolean[], %(tombstones)s::text[],
                   %(changed_at)s::timestamptz[])
    AS r(record_type, record_id, scoped, counterparty_id, deleted, tombstone, changed_at)
ON CONFLICT (record_type, record_id) DO UPDATE SET
    version = excluded.version,
    scope_version = CASE WHEN excluded.scope_version = 0 THEN change_log.scope_version
                         ELSE excluded.scope_version END,
    counterparty_id = excluded.counterparty_id,
    deleted = excluded.deleted,
    tombstone = excluded.tombstone,
    changed_at = excluded.changed_at
RETURNING version
"""


def _taken_with_log(session: Session | OrmSession, held: _Held) -> bool:
    """In a ``holding(late=True)`` block on PostgreSQL whose rows all wait for the version: take it
    and write the change log in one statement (``_TAKE_AND_LOG``), then the field rows; False when
    that is not the case here (the rows are then written the usual way)."""
    if not held.late or taken(session) is not None or not all(f.late for f in held.waiting):
        return False
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    logs, fields = _merged(held.waiting)
    if not logs:
        return False
    found = connection.exec_driver_sql(
        _TAKE_AND_LOG,
        {
            "now": utcnow(),
            "types": [r["record_type"] for r in logs],
            "ids": [r["record_id"] for r in logs],
            "scoped": [r["scope_version"] is LATE for r in logs],
            "counterparties": [r["counterparty_id"] for r in logs],
            "deleted": [r["deleted"] for r in logs],
            # JSON text, ``null`` included: as SQLAlchemy's JSON type writes the other rows.
            "tombstones": [json.dumps(r["tombstone"]) for r in logs],
            "changed_at": [r["changed_at"] for r in logs],
        },
    ).first()
    if found is None:  # no version row yet (a new database): ``allocate`` makes it
        return False
    _note_taken(session, found[0])
    held.settle(session, found[0])  # the rows held get it (the field rows are written below)
    held.written.append((_current(session), held.waiting))
    held.waiting = []
    if fields:
        session.info.pop(_FIELDS_KNOWN, None)
        _upsert(connection, _FIELD, fields, ("record_type", "record_id", "field"))
    return True


def _give_version(logs: list[dict[str, Any]], fields: list[dict[str, Any]], version: int) -> None:
    """Put ``version`` where rows held with ``LATE`` wait for it."""
    for row in logs:
        row["version"] = version
        if row["scope_version"] is LATE:
            row["scope_version"] = version
    for row in fields:
        row["version"] = version


def _current(session: Session | OrmSession) -> Any:
    return session.get_nested_transaction() or session.get_transaction()


def _rescope(connection: Any, version: int, counterparty_ids: Iterable[str]) -> None:
    ids = sorted(set(counterparty_ids))
    for start in range(0, len(ids), 500):
        connection.execute(
            update(_LOG)
            .where(_LOG.c.counterparty_id.in_(ids[start : start + 500]))
            .values(version=version, scope_version=version)
        )


def _after_flush(session: OrmSession, _context: Any) -> None:
    new = [o for o in session.new if type(o) in SYNCED]
    deleted: list[SQLModel] = [o for o in session.deleted if type(o) in SYNCED]
    dirty = [(o, _changed_fields(o)) for o in session.dirty if type(o) in SYNCED]
    dirty = [(o, fields) for o, fields in dirty if fields]
    if not (new or deleted or dirty):
        return
    held: _Held | None = session.info.get(_HELD)
    late = held is not None and held.late and taken(session) is None
    version: Any = LATE if late else allocate(session)
    device = device_of(session)
    now = utcnow()
    connection = session.connection()
    logs: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    rescope: set[str] = set()
    owners_moved: set[str] = set()

    def entry(
        obj: Any, *, scope: bool, dead: bool = False, tombstone: dict[str, Any] | None = None
    ) -> None:
        logs.append(
            {
                "record_type": SYNCED[type(obj)],
                "record_id": obj.id,
                "version": version,
                "scope_version": version if scope else None,
                "counterparty_id": _counterparty_of(obj),
                "deleted": dead,
                "tombstone": tombstone,
                "changed_at": now,
            }
        )

    for obj in new:
        # A new record's fields all date from its creation; only later edits get a row each.
        entry(obj, scope=True)
        if isinstance(obj, Counterparty | Share):
            rescope.add(_counterparty_of(obj))
        if isinstance(obj, Absence):
            owners_moved.update(_covering_today(obj))
    for obj, changed in dirty:
        scope = bool(SCOPE_FIELDS.get(type(obj), frozenset()) & set(changed))
        entry(obj, scope=scope)
        fields.extend(
            {
                "record_type": SYNCED[type(obj)],
                "record_id": obj.id,
                "field": name,
                "version": version,
                "device_id": device,
            }
            for name in changed
        )
        if scope and isinstance(obj, Counterparty | Share):
            rescope.add(_counterparty_of(obj))
            if isinstance(obj, Share):
                old = inspect(obj).attrs["counterparty_id"].history.deleted
                rescope.update(old)
        if scope and isinstance(obj, User):
            owners_moved.add(obj.id)
        if scope and isinstance(obj, Absence):
            owners_moved.update(_covering_today(obj))
    for obj in deleted:
        entry(
            obj,
            scope=True,
            dead=True,
            tombstone={name: to_jsonable(getattr(obj, name)) for name in data_fields(type(obj))},
        )
        if isinstance(obj, Share):
            rescope.add(obj.counterparty_id)
        if isinstance(obj, Absence):
            owners_moved.update(_covering_today(obj))
    if held is not None and not (rescope or owners_moved):
        held.hold(_current(session), logs, fields, late)
        return
    if late:  # written now: the version is taken now (the rescope below names it too)
        version = allocate(session)
        _give_version(logs, fields, version)
    write_held(session)  # what was held goes first: the rows below may change the same ones
    _write_rows(session, logs, fields)
    if owners_moved:
        rescope.update(
            connection.execute(
                select(col(Counterparty.id)).where(col(Counterparty.owner_id).in_(owners_moved))
            ).scalars()
        )
    rescope.discard(None)
    if rescope:
        _rescope(connection, version, rescope)


def _covering_today(absence: Absence) -> set[str]:
    """The absent people whose cover by a substitute, before or after this change of ``absence``,
    includes today: who sees their clients changes now (``crm.access``). Covers that start or end
    on a later day are told when that day comes (``crm.substitutes.sweep``)."""
    state = inspect(absence)
    names = ("user_id", "substitute_id", "starts_on", "ends_on")

    def before(name: str) -> Any:
        history = state.attrs[name].history
        return history.deleted[0] if history.deleted else getattr(absence, name)

    day = clock.today()
    out = set()
    for user_id, substitute_id, starts_on, ends_on in (
        tuple(getattr(absence, n) for n in names),
        tuple(before(n) for n in names),
    ):
        if substitute_id and starts_on and ends_on and starts_on <= day <= ends_on:
            out.add(user_id)
    return out


def rescope_owners(session: Session, owners: Iterable[str]) -> None:
    """Enter a scope change of every counterparty ``owners`` own, and of its records: who may see
    them changed without a write to them (a substitute's cover began or ended)."""
    owners = sorted(set(owners))
    if not owners:
        return
    version = allocate(session)
    connection = session.connection()
    ids: list[str] = []
    for start in range(0, len(owners), 500):
        ids.extend(
            connection.execute(
                select(col(Counterparty.id)).where(
                    col(Counterparty.owner_id).in_(owners[start : start + 500])
                )
            ).scalars()
        )
    _rescope(connection, version, ids)


def _inside(transaction: Any, outer: Any) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def _transaction_ended(session: OrmSession, transaction: Any) -> None:
    # The next transaction takes a new version. (``after_commit`` would not do: it also
    # fires when a savepoint is released, and the push runs each mutation in one.)
    if transaction.parent is None:
        session.info.pop(_VERSION_KEY, None)


def _rolled_back(session: OrmSession, previous: Any) -> None:
    held: _Held | None = session.info.get(_HELD)
    if held is not None:
        held.rolled_back(previous)
    # A savepoint rolled back undid the counter's update if the version was taken inside it.
    taken = session.info.get(_VERSION_KEY)
    owner = taken[1] if taken else None
    while owner is not None:
        if owner is previous:
            session.info.pop(_VERSION_KEY, None)
            return
        owner = owner.parent


# Registered on the classes the database opens writes with, never on every session: the change log
# on server writes only (see ServerWrite), the version's bookkeeping on any write that takes one.
event.listen(ServerWrite, "after_flush", _after_flush)
event.listen(Write, "after_transaction_end", _transaction_ended)
event.listen(Write, "after_soft_rollback", _rolled_back)


def log_inserted(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Enter rows a bulk loader inserted without the ORM (they bypass the session hook)."""
    if model not in SYNCED or not rows:
        return
    write_held(session)
    version = allocate(session)
    now = utcnow()
    name = SYNCED[model]
    entries = [
        {
            "record_type": name,
            "record_id": row["id"],
            "version": version,
            "scope_version": version,
            "counterparty_id": row["id"] if model is Counterparty else row.get("counterparty_id"),
            "deleted": False,
            "tombstone": None,
            "changed_at": now,
        }
        for row in rows
    ]
    session.connection().execute(insert(_LOG), entries)


def log_moved(
    session: Session, model: type[SQLModel], ids: Sequence[str], counterparty_id: str
) -> None:
    """Enter rows a bulk ``UPDATE`` moved to ``counterparty_id`` without the ORM (``crm.merge``):
    a scope change of each (who may see it follows its counterparty) and of its field."""
    _log_bulk(session, model, [(i, counterparty_id) for i in ids], ["counterparty_id"], scope=True)


def log_updated(
    session: Session | OrmSession,
    model: type[SQLModel],
    rows: Sequence[tuple[str, str | None]],
    fields: Sequence[str],
) -> None:
    """Enter rows a bulk ``UPDATE`` changed without the ORM (``mail.threads`` moving a conversation):
    ``rows`` are (id, counterparty id) of each, ``fields`` the data fields it changed — none that
    decides who sees the record (those take ``log_moved``)."""
    assert not set(fields) & SCOPE_FIELDS.get(model, frozenset()), "a scope change: log_moved"
    _log_bulk(session, model, rows, fields, scope=False)


def _log_bulk(
    session: Session | OrmSession,
    model: type[SQLModel],
    rows: Sequence[tuple[str, str | None]],
    fields: Sequence[str],
    *,
    scope: bool,
) -> None:
    if model not in SYNCED or not rows:
        return
    version = allocate(session)
    now = utcnow()
    name = SYNCED[model]
    device = device_of(session)
    logs = [
        {
            "record_type": name,
            "record_id": record_id,
            "version": version,
            "scope_version": version if scope else None,
            "counterparty_id": counterparty_id,
            "deleted": False,
            "tombstone": None,
            "changed_at": now,
        }
        for record_id, counterparty_id in rows
    ]
    entries = [
        {
            "record_type": name,
            "record_id": record_id,
            "field": field,
            "version": version,
            "device_id": device,
        }
        for record_id, _cp in rows
        for field in fields
    ]
    held: _Held | None = session.info.get(_HELD)
    if held is not None and not scope:
        # Entered with the flushes it is held with (a thread move inside the mail bridge's batch).
        held.hold(_current(session), logs, entries)
        return
    write_held(session)
    for start in range(0, len(logs), 1000):
        _write_rows(
            session,
            logs[start : start + 1000],
            entries[start * len(fields) : (start + 1000) * len(fields)],
        )


_FIELDS_OF = select(_FIELD.c.record_id, _FIELD.c.field, _FIELD.c.version, _FIELD.c.device_id).where(
    _FIELD.c.record_type == bindparam("record_type"),
    _FIELD.c.record_id.in_(bindparam("ids", expanding=True)),
)


def field_versions(
    session: Session, record_type: str, record_id: str
) -> dict[str, tuple[int, str | None]]:
    """Per changed field of one record: (version, device) of its last change."""
    return many_field_versions(session, record_type, [record_id]).get(record_id, {})


def many_field_versions(
    session: Session, record_type: str, record_ids: Sequence[str]
) -> dict[str, dict[str, tuple[int, str | None]]]:
    """``field_versions`` of several records of one type, in one query per 500: the rows written,
    or found by ``know_field_versions`` since nothing wrote any, then those ``holding`` holds (they
    are this transaction's, later than any written)."""
    connection = session.connection()
    known: dict[tuple[str, str], Fields] | None = session.info.get(_FIELDS_KNOWN)
    found: dict[str, Fields] = {}
    ask: list[str] = []
    for record_id in record_ids:
        if known is not None and (record_type, record_id) in known:
            if known[(record_type, record_id)]:
                found[record_id] = dict(known[(record_type, record_id)])
        else:
            ask.append(record_id)
    for start in range(0, len(ask), 500):
        rows = connection.execute(
            _FIELDS_OF, {"record_type": record_type, "ids": ask[start : start + 500]}
        )
        for record_id, name, version, device in rows:
            found.setdefault(record_id, {})[name] = (version, device)
    held: _Held | None = session.info.get(_HELD)
    if held is not None and held.waiting:
        held.settle(session)  # their version is asked: taken now if it was left for later
        wanted = set(record_ids)
        for flush in held.waiting:
            for row in flush.fields:
                if row["record_type"] == record_type and row["record_id"] in wanted:
                    found.setdefault(row["record_id"], {})[row["field"]] = (
                        row["version"],
                        row["device_id"],
                    )
    return found


Fields = dict[str, tuple[int, str | None]]
_FIELDS_KNOWN = "changes.fields_known"


def know_field_versions(session: Session, wanted: dict[str, list[str]]) -> None:
    """Read the field versions of the records ``wanted`` (ids by type) for a transaction that writes
    several requests (``sync.group``), one query per type: ``many_field_versions`` answers from
    them until a field row is written (held rows it adds itself)."""
    session.info.pop(_FIELDS_KNOWN, None)
    known: dict[tuple[str, str], Fields] = {}
    for record_type, ids in wanted.items():
        for record_id, fields in many_field_versions(session, record_type, ids).items():
            known[(record_type, record_id)] = fields
        for record_id in ids:
            known.setdefault((record_type, record_id), {})
    session.info[_FIELDS_KNOWN] = known


def log_entry(session: Session, record_type: str, record_id: str) -> ChangeLog | None:
    write_held(session)
    row = (
        session.connection()
        .execute(
            select(_LOG).where(_LOG.c.record_type == record_type, _LOG.c.record_id == record_id)
        )
        .first()
    )
    return ChangeLog.model_validate(dict(row._mapping)) if row else None


def horizon(session: Session) -> int:
    """Cursors at or below this version may have missed a pruned tombstone."""
    row = session.execute(select(col(Horizon.version)).where(col(Horizon.id) == 1)).first()
    return int(row[0]) if row else 0


def prune_tombstones(session: Session, older_than: datetime) -> int:
    """Forget tombstones (and their field versions) older than ``older_than``; returns how many.

    The horizon moves up to the newest pruned version, so a laptop whose cursor
    is older is told to push its outbox and bootstrap again (sync invariant 6).
    """
    rows = session.execute(
        select(_LOG.c.record_type, _LOG.c.record_id, _LOG.c.version).where(
            _LOG.c.deleted == True,  # noqa: E712
            _LOG.c.changed_at < older_than,
        )
    ).all()
    if not rows:
        return 0
    session.info.pop(_FIELDS_KNOWN, None)  # field rows go: ``know_field_versions`` is stale
    connection = session.connection()
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        for record_type in {r.record_type for r in chunk}:
            ids = [r.record_id for r in chunk if r.record_type == record_type]
            for table in (_LOG, _FIELD):
                connection.execute(
                    table.delete().where(
                        table.c.record_type == record_type, table.c.record_id.in_(ids)
                    )
                )
    newest = max(r.version for r in rows)
    if newest > horizon(session):
        _upsert(
            connection,
            Horizon.__table__,  # type: ignore[attr-defined]  # SQLModel does not declare it
            [{"id": 1, "version": newest, "pruned_at": utcnow()}],
            ("id",),
        )
    return len(rows)
