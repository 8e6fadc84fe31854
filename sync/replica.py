"""The field client's local replica: one SQLite file per (server, user).

It holds the same record tables as the server for the records in the user's
scope, plus the client's own bookkeeping (docs/sync-protocol.md, "The field
client's replica"):

* ``replica_version`` — the server version of each local record, the
  ``base_version`` of the next edit of it;
* ``outbox`` — pending mutations in ``seq`` order, kept until their result is stored;
* ``conflict`` — the server's last list of open conflicts, with any local
  resolution not yet pushed;
* ``quarantine`` — refused mutations and pending edits of evicted records;
* ``sync_state`` — server, login, device, token, cursor, next seq, last sync.

A local edit goes through ``crm.records`` with the local user as the actor, so
the laptop refuses what the server would refuse, and appends its mutation in
the same transaction. Nothing here touches the network.

Foreign keys are not enforced in the replica: it is a partial copy (a reminder
assigned to the user may point at a counterparty they cannot see), and the
server, which holds everything, enforces them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex
from sqlmodel import Session, SQLModel

from crm import changes, records, search, validation
from crm.database import Database
from crm.errors import NotFound, SatchelError, ValidationFailed
from crm.models import ContactKey, User, new_id
from crm.models.base import to_jsonable, utcnow
from sync import protocol
from sync.columns import layout

EVICTED = "evicted: you can no longer see this record"

_LOCAL_TABLES = """
CREATE TABLE IF NOT EXISTS replica_version (
    record_type TEXT NOT NULL, record_id TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (record_type, record_id));
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY, op TEXT NOT NULL, type TEXT, record_id TEXT, base_version INTEGER,
    fields TEXT, conflict_id TEXT, choice TEXT, value TEXT, client_time TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending');
CREATE INDEX IF NOT EXISTS ix_outbox_record ON outbox (record_id);
CREATE TABLE IF NOT EXISTS conflict (id TEXT PRIMARY KEY, body TEXT NOT NULL, pending_choice TEXT);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT, mutation TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sync_state (key TEXT PRIMARY KEY, value TEXT);
"""

# Children that share their counterparty's visibility: they leave the replica with it.
_CHILDREN = (("contact-persons", "contact_person"), ("interactions", "interaction"),
             ("deals", "deal"), ("shares", "share"))


def _synced_tables() -> list[Any]:
    tables = [records.record_type(name).model.__table__ for name in protocol.TYPES]  # type: ignore[attr-defined]
    # crm.records writes the data version (and whatever else crm.changes keeps) on every
    # write; the replica carries those tables so local edits run the very same code.
    own = [m.__table__ for m in vars(changes).values()  # type: ignore[attr-defined]
           if isinstance(m, type) and issubclass(m, SQLModel) and m.__module__ == changes.__name__
           and hasattr(m, "__table__")]
    return [*tables, ContactKey.__table__, *own]  # type: ignore[attr-defined]


def _secondary_indexes() -> list[Any]:
    return [index for table in _synced_tables() for index in table.indexes if not index.unique]


def _add_new_columns(raw: sqlite3.Connection) -> None:
    """Give a replica made by an older client the columns a newer schema added.

    New synced fields are always nullable or have a server default, so ``ADD COLUMN``
    is enough; the next pull fills them in for the records that have them.
    """
    dialect = sqlite_dialect.dialect()
    for table in _synced_tables():
        have = {row[1] for row in raw.execute(f'PRAGMA table_info("{table.name}")')}
        for column in table.columns:
            if column.name in have:
                continue
            ddl = f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {column.type.compile(dialect=dialect)}'
            if column.server_default is not None:
                ddl += f" DEFAULT {column.server_default.arg.text}"
            raw.execute(ddl)


def _create_indexes(raw: sqlite3.Connection) -> None:
    for index in _secondary_indexes():
        raw.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=sqlite_dialect.dialect())))


def _now() -> str:
    return str(to_jsonable(utcnow()))


@dataclass
class PushOutcome:
    """What storing one push's results did to the outbox."""

    applied: int = 0
    conflicts: int = 0
    refused: int = 0
    # Records whose local copy may now differ from the server's (a refused or conflicting
    # edit changed nothing there, so no pull will bring them): fetch them again.
    refresh: list[tuple[str, str]] = field(default_factory=list)


class LocalEdits:
    """Record writes inside one transaction of ``Replica.local_edits()``, each queued for the server.

    The actor is always the replica's own user: the laptop refuses what the server would.
    """

    def __init__(self, session: Session, raw: sqlite3.Connection, actor: User) -> None:
        self.session = session
        self.actor = actor
        self._raw = raw

    def create(self, type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a record and queue it; returns it as the wire shows it."""
        rt = records.record_type(type_name)
        data = dict(fields)
        data.setdefault("id", new_id())
        record = records.create(self.session, self.actor, rt, data)
        wire = records.to_dict(rt, record)
        sent = {"id": wire["id"], **{k: wire[k] for k in rt.writable}}
        _enqueue(self._raw, op="create", type=type_name, record_id=record.id, fields=sent)
        return wire

    def update(self, type_name: str, record_id: str, fields: dict[str, Any],
               expected_version: int | None = None) -> dict[str, Any]:
        """Change fields and queue what really changed (nothing when nothing did).

        ``expected_version`` is the local record's version the edit was made on (a form's
        hidden field): ``VersionConflict`` when the replica changed meanwhile (a sync).
        """
        rt = records.record_type(type_name)
        before = records.to_dict(rt, records.get(self.session, self.actor, rt, record_id))
        after = records.to_dict(rt, records.update(self.session, self.actor, rt, record_id, fields,
                                                   expected_version=expected_version))
        changed = {k: after[k] for k in fields if k in after and after[k] != before[k]}
        if changed:
            _enqueue(self._raw, op="update", type=type_name, record_id=record_id,
                     base_version=_version(self._raw, type_name, record_id), fields=changed)
        return after

    def delete(self, type_name: str, record_id: str) -> None:
        rt = records.record_type(type_name)
        records.delete(self.session, self.actor, rt, record_id)
        _enqueue(self._raw, op="delete", type=type_name, record_id=record_id,
                 base_version=_version(self._raw, type_name, record_id))

    def resolve(self, conflict_id: str, choice: str, value: Any = None) -> None:
        """Resolve a conflict: the chosen value shown locally at once, the resolution queued."""
        if choice not in protocol.CHOICES:
            raise ValidationFailed(f"choice must be one of {', '.join(protocol.CHOICES)}; got {choice!r}")
        raw = self._raw
        row = raw.execute("SELECT body FROM conflict WHERE id = ?", (conflict_id,)).fetchone()
        if row is None:
            raise NotFound(f"no open conflict {conflict_id}; sync to refresh the list")
        conflict = json.loads(row[0])
        _lay_resolution(self.session, self.actor, conflict, choice, value, strict=True)
        _enqueue(raw, op="resolve", conflict_id=conflict_id, choice=choice,
                 value=json.dumps(value) if choice == "value" else None)
        raw.execute("UPDATE conflict SET pending_choice = ? WHERE id = ?", (choice, conflict_id))


class Replica:
    """The local replica file. Open it with ``Replica.open(path)``."""

    def __init__(self, database: Database, path: Path) -> None:
        self.db = database
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, key: bytes | None = None) -> Replica:
        """Open (or create) the replica at ``path``; with ``key``, encrypted at rest (SQLCipher).

        The file and its WAL are readable by their owner only. A plain replica opened
        with a key is encrypted in place first (an older client made it). A wrong key
        raises ``crm.database.WrongKey`` and changes nothing.
        """
        path = Path(path)
        _private(path)
        if key is not None and _is_plain(path):
            _encrypt_in_place(path, key)
        database = Database(f"sqlite:///{path}", key=key)

        def _tune(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=OFF")
            # A bulk load updates several indexes per row; with SQLite's default 2 MB page
            # cache they spill to disk once the file outgrows it, and loading slows fivefold.
            # The readers too: an encrypted page read from outside the cache is decrypted
            # and its HMAC checked every time (a search was 6× slower with 2 MB).
            dbapi_connection.execute("PRAGMA cache_size=-65536")
            # Bootstrap pages are megabytes each: checkpoint the WAL less often than every commit.
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=16384")

        for engine in database.engines:
            event.listen(engine, "connect", _tune)

        SQLModel.metadata.create_all(database.engine, tables=_synced_tables())
        with database.write() as session:
            raw = _raw(session)
            for statement in _LOCAL_TABLES.split(";"):
                if statement.strip():
                    raw.execute(statement)
            _add_new_columns(raw)
            _create_indexes(raw)  # a bootstrap interrupted before its last page dropped them
        return cls(database, path)

    def close(self) -> None:
        self.db.dispose()

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[tuple[Session, sqlite3.Connection]]:
        with self.db.write() as session:
            session.info[changes.NO_LOG_KEY] = True  # the server keeps the change log, not the laptop
            yield session, _raw(session)

    @contextmanager
    def _read(self) -> Iterator[tuple[Session, sqlite3.Connection]]:
        with self.db.read() as session:
            yield session, _raw(session)

    # -- sync state ---------------------------------------------------------------

    def state(self, key: str, default: str | None = None) -> str | None:
        with self._read() as (_, raw):
            return _get(raw, key, default)

    def set_state(self, **values: str | None) -> None:
        with self._write() as (_, raw):
            for key, value in values.items():
                _set(raw, key, value)

    def remember_login(self, *, server: str, login: str, token: str, device_id: str,
                       user: dict[str, Any]) -> None:
        """Store a fresh login; a new device numbers its mutations from 1 again."""
        with self._write() as (_, raw):
            if _get(raw, "device_id") != device_id:
                pending = [r[0] for r in raw.execute("SELECT seq FROM outbox ORDER BY seq")]
                _renumber(raw, pending, 1)
                _set(raw, "next_seq", str(len(pending) + 1))
            for key, value in {"server": server, "login": login, "token": token,
                               "device_id": device_id, "user_id": user["id"]}.items():
                _set(raw, key, value)
            users = layout("users")
            raw.execute(users.upsert_sql, users.row(user))

    # -- local edits --------------------------------------------------------------

    def _actor(self, session: Session) -> User:
        user_id = _get(_raw(session), "user_id")
        user = session.get(User, user_id) if user_id else None
        if user is None:
            raise NotFound("this replica has no user yet: log in first (satchel-field login)")
        return user

    @contextmanager
    def local_edits(self) -> Iterator[LocalEdits]:
        """One transaction of local edits, each queued in the outbox as it is made.

        Every write made through the yielded ``LocalEdits`` goes through ``crm.records``
        as the replica's user and appends its mutation to the outbox in this same
        transaction: the block commits all of them (records and outbox entries) or,
        on any error, none. ``create``/``update``/``delete``/``resolve`` below are one
        edit each; a screen that saves several records at once (a call logged with
        the next one planned) opens this itself. The session is ``edits.session``;
        nothing else may be written in it, or it would not reach the server.
        """
        with self._write() as (session, raw):
            yield LocalEdits(session, raw, self._actor(session))

    def create(self, type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a record locally and queue it; returns it as the wire shows it."""
        with self.local_edits() as edits:
            return edits.create(type_name, fields)

    def update(self, type_name: str, record_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a record locally and queue the change (nothing when nothing changed)."""
        with self.local_edits() as edits:
            return edits.update(type_name, record_id, fields)

    def delete(self, type_name: str, record_id: str) -> None:
        with self.local_edits() as edits:
            edits.delete(type_name, record_id)

    def resolve(self, conflict_id: str, choice: str, value: Any = None) -> None:
        """Resolve a conflict (also offline): shown locally at once, sent with the next push."""
        with self.local_edits() as edits:
            edits.resolve(conflict_id, choice, value)

    # -- reading ------------------------------------------------------------------

    def get(self, type_name: str, record_id: str) -> dict[str, Any]:
        rt = records.record_type(type_name)
        with self._read() as (session, _):
            return records.to_dict(rt, records.get(session, self._actor(session), rt, record_id))

    def list(self, type_name: str, *, q: str | None = None, filters: dict[str, str] | None = None,
             limit: int = 50) -> list[dict[str, Any]]:
        rt = records.record_type(type_name)
        with self._read() as (session, _):
            page = records.list_records(session, self._actor(session), rt, q=q, filters=filters,
                                        limit=limit)
            return [records.to_dict(rt, r) for r in page.items]

    def snapshot(self, type_name: str) -> dict[str, dict[str, Any]]:
        """Every local record of a type, as the wire shows it (for comparing with the server)."""
        rt = records.record_type(type_name)
        with self._read() as (session, _):
            return {r.id: records.to_dict(rt, r) for r in session.execute(select(rt.model)).scalars()}

    def versions(self, type_name: str) -> dict[str, int]:
        with self._read() as (_, raw):
            return dict(raw.execute("SELECT record_id, version FROM replica_version WHERE record_type = ?",
                                    (type_name,)).fetchall())

    def conflicts(self) -> list[dict[str, Any]]:
        with self._read() as (_, raw):
            rows = raw.execute("SELECT body, pending_choice FROM conflict ORDER BY id").fetchall()
        return [{**json.loads(body), "pending_choice": choice} for body, choice in rows]

    def quarantine(self) -> list[dict[str, Any]]:
        with self._read() as (_, raw):
            rows = raw.execute("SELECT id, mutation, reason, at FROM quarantine ORDER BY id").fetchall()
        return [{"id": i, "mutation": json.loads(m), "reason": r, "at": at} for i, m, r, at in rows]

    def status(self) -> dict[str, Any]:
        with self._read() as (_, raw):
            count = lambda sql: raw.execute(sql).fetchone()[0]  # noqa: E731
            state = dict(raw.execute("SELECT key, value FROM sync_state").fetchall())
            return {"server": state.get("server"), "login": state.get("login"),
                    "device_id": state.get("device_id"), "cursor": state.get("cursor"),
                    "last_sync": state.get("last_sync"),
                    "last_summary": json.loads(state["last_summary"]) if state.get("last_summary") else None,
                    "pending": count("SELECT count(*) FROM outbox"),
                    "conflicts": count("SELECT count(*) FROM conflict"),
                    "quarantine": count("SELECT count(*) FROM quarantine")}

    # -- push ---------------------------------------------------------------------

    def pending(self, limit: int = protocol.MAX_MUTATIONS) -> list[dict[str, Any]]:
        """The oldest pending mutations, as the push request carries them."""
        with self._read() as (_, raw):
            rows = _select(raw, "SELECT * FROM outbox ORDER BY seq LIMIT ?", (limit,))
        return [_wire(row) for row in rows]

    def resequence(self, expected: int) -> None:
        """Close the holes in the outbox's numbering (the server's answer to a sequence gap).

        Mutations moved to quarantine before the server had them leave holes: before the first
        pending one (it starts after ``expected``) or between pending ones (an edit made while a
        sync was under way, of a record that sync's pull evicted). Seqs below ``expected`` were
        sent and applied already and keep their numbers, so resending them is a replay; the rest
        are numbered ``expected``, ``expected + 1``, … in their order, so the outbox is always
        sendable again.
        """
        with self._write() as (_, raw):
            pending = [r[0] for r in raw.execute("SELECT seq FROM outbox WHERE seq >= ? ORDER BY seq", (expected,))]
            if pending != list(range(expected, expected + len(pending))):
                _renumber(raw, pending, expected)
            # Numbers from ``expected`` on are unknown to the server: the next edit follows these.
            _set(raw, "next_seq", str(expected + len(pending)))

    def renumber(self, expected: int) -> None:
        """Number every pending mutation from ``expected`` (the server's answer to reused seqs: this
        replica was restored from a backup or copied, and the server applied other mutations under
        the numbers it holds). Call it after storing the results the answer carried for the seqs
        that did match, so that what is left was never applied."""
        with self._write() as (_, raw):
            pending = [r[0] for r in raw.execute("SELECT seq FROM outbox ORDER BY seq")]
            _renumber(raw, pending, expected)
            _set(raw, "next_seq", str(expected + len(pending)))

    def store_push_results(self, results: list[dict[str, Any]]) -> PushOutcome:
        """Trim the outbox by a push's results: refused mutations go to quarantine."""
        outcome = PushOutcome()
        with self._write() as (_, raw):
            for result in results:
                found = _select(raw, "SELECT * FROM outbox WHERE seq = ?", (result["seq"],))
                if not found:
                    continue  # stored before (a push answered twice)
                mutation = _wire(found[0])
                status = result.get("status")
                raw.execute("DELETE FROM outbox WHERE seq = ?", (result["seq"],))
                if status == "refused":
                    outcome.refused += 1
                    error = result.get("error") or {}
                    _quarantine(raw, mutation, str(error.get("message") or error.get("error") or "refused"))
                elif status == "conflict" or result.get("conflicts"):
                    outcome.conflicts += 1
                else:
                    outcome.applied += 1
                if mutation["op"] == "create" and status == "applied" and result.get("version"):
                    _store_version(raw, mutation["type"], mutation["id"], int(result["version"]))
                if mutation["op"] == "create" and status != "applied":
                    self._drop_local(raw, mutation["type"], mutation["id"])
                elif mutation["op"] != "resolve" and (status != "applied" or result.get("conflicts")):
                    outcome.refresh.append((mutation["type"], mutation["id"]))
                    if mutation["op"] == "delete" and mutation["type"] == "counterparties":
                        # Its people, deals and history went with it locally: load the scope again.
                        _set(raw, "reset", "1")
                elif mutation["op"] == "resolve" and status != "applied":
                    # The refused choice was laid over the record locally; nothing on the server
                    # will change it back, so fetch the server's copy.
                    body = raw.execute("SELECT body FROM conflict WHERE id = ?", (mutation["conflict_id"],)).fetchone()
                    if body is not None:
                        conflict = json.loads(body[0])
                        outcome.refresh.append((conflict["type"], conflict["record_id"]))
        return outcome

    def apply_record(self, type_name: str, record: dict[str, Any] | None, record_id: str) -> None:
        """Replace the local copy of one record by the server's (``None``: it is gone or hidden)."""
        with self._write() as (session, raw):
            if record is None:
                self._drop_local(raw, type_name, record_id)
            else:
                _apply_upserts(raw, {type_name: {record_id: (record, None)}})
            session.expire_all()
            self._overlay(session, raw, {record_id})

    # -- quarantine ---------------------------------------------------------------

    def retry(self, quarantine_id: int) -> dict[str, Any]:
        """Queue a quarantined mutation again, with a new seq, and show it locally again."""
        with self._write() as (session, raw):
            row = raw.execute("SELECT mutation FROM quarantine WHERE id = ?", (quarantine_id,)).fetchone()
            if row is None:
                raise NotFound(f"nothing in quarantine with id {quarantine_id}")
            m = json.loads(row[0])
            value = json.dumps(m["value"]) if "value" in m else None
            _enqueue(raw, op=m["op"], type=m.get("type"), record_id=m.get("id"), base_version=m.get("base_version"),
                     fields=m.get("fields"), conflict_id=m.get("conflict_id"), choice=m.get("choice"), value=value)
            raw.execute("DELETE FROM quarantine WHERE id = ?", (quarantine_id,))
            if m.get("id"):
                self._overlay(session, raw, {m["id"]})
            return m

    def drop(self, quarantine_id: int) -> None:
        with self._write() as (_, raw):
            if raw.execute("DELETE FROM quarantine WHERE id = ?", (quarantine_id,)).rowcount == 0:
                raise NotFound(f"nothing in quarantine with id {quarantine_id}")

    # -- pull ---------------------------------------------------------------------

    def apply_pull(self, answer: dict[str, Any]) -> dict[str, int]:
        """Apply one pull page and store its cursor, in one transaction; then lay pending edits over."""
        counts = {"upserts": 0, "evicts": 0, "deletes": 0}
        touched: set[str] = set()
        with self._write() as (session, raw):
            # Upserts are written a type at a time (one executemany each); an evict or delete
            # writes what came before it first, so the changes still apply in their order.
            upserts: dict[str, dict[str, tuple[dict[str, Any], int | None]]] = {}
            for change in answer.get("changes", []):
                op, type_name, record_id = change["op"], change["type"], change["id"]
                touched.add(record_id)
                if op == "upsert":
                    upserts.setdefault(type_name, {})[record_id] = (change["record"], int(change["version"]))
                    counts["upserts"] += 1
                elif op in ("evict", "delete"):
                    _apply_upserts(raw, upserts)
                    upserts = {}
                    self._drop_local(raw, type_name, record_id, reason=EVICTED if op == "evict" else None)
                    counts["evicts" if op == "evict" else "deletes"] += 1
            _apply_upserts(raw, upserts)
            _replace_conflicts(raw, answer.get("conflicts") or [])
            _set(raw, "cursor", str(answer["cursor"]))
            if answer.get("reset"):
                _set(raw, "reset", "1")
            session.expire_all()
            self._overlay(session, raw, touched)
        return counts

    def _drop_local(self, raw: sqlite3.Connection, type_name: str, record_id: str,
                    *, reason: str | None = None) -> None:
        """Remove a record's local copy (and, for a counterparty, what is seen through it)."""
        doomed = [(type_name, record_id)]
        if type_name == "counterparties":
            for child, table in _CHILDREN:
                doomed += [(child, r[0]) for r in raw.execute(
                    f"SELECT id FROM {table} WHERE counterparty_id = ?", (record_id,))]
            me = _get(raw, "user_id") or ""
            doomed += [("reminders", r[0]) for r in raw.execute(
                "SELECT id FROM reminder WHERE counterparty_id = ? AND assignee_id != ? "
                "AND coalesce(created_by, '') != ?", (record_id, me, me))]
        for doomed_type, doomed_id in reversed(doomed):  # children first
            table = layout(doomed_type).table.name
            raw.execute(f'DELETE FROM "{table}" WHERE id = ?', (doomed_id,))
            raw.execute("DELETE FROM replica_version WHERE record_type = ? AND record_id = ?",
                        (doomed_type, doomed_id))
            raw.execute("DELETE FROM contact_key WHERE record_id = ?", (doomed_id,))
            if reason is not None:
                for row in _select(raw, "SELECT * FROM outbox WHERE record_id = ? ORDER BY seq",
                                   (doomed_id,)):
                    _quarantine(raw, _wire(row), reason)
                raw.execute("DELETE FROM outbox WHERE record_id = ?", (doomed_id,))

    def _overlay(self, session: Session, raw: sqlite3.Connection, ids: set[str] | None) -> None:
        """Lay pending outbox mutations back over the records they touch (all when ``ids`` is None)."""
        rows = _select(raw, "SELECT * FROM outbox ORDER BY seq")
        rows = [r for r in rows if ids is None or r["record_id"] in ids or r["op"] == "resolve"]
        if not rows:
            return
        try:
            actor = self._actor(session)
        except NotFound:
            return
        for row in rows:
            m = _wire(row)
            try:
                with session.begin_nested():
                    _lay(session, raw, actor, m)
            except SatchelError:
                pass  # the server will answer this mutation; until then the server's copy shows

    # -- bootstrap ----------------------------------------------------------------

    def reset_for_bootstrap(self) -> None:
        """Forget every synced record and the cursor; keep the outbox, conflicts and quarantine."""
        with self._write() as (_, raw):
            for table in reversed(_synced_tables()):
                if table.name != "data_version":
                    raw.execute(f'DELETE FROM "{table.name}"')
            raw.execute("DELETE FROM replica_version")
            # Filling a table and then indexing it sorts once; keeping the indexes while
            # loading updates each of them at a random place for every row (five times slower).
            for index in _secondary_indexes():
                raw.execute(f'DROP INDEX IF EXISTS "{index.name}"')
            for key in ("cursor", "reset", "bootstrap_watermark", "bootstrap_next"):
                _set(raw, key, None)

    def apply_bootstrap_page(self, page: dict[str, Any]) -> int:
        """Bulk-load one bootstrap page; the last one sets the cursor to the snapshot's watermark.

        Each page is one transaction that also records where the load stands, so a load
        interrupted anywhere resumes after the last page that was committed.
        """
        count = 0
        with self._write() as (session, raw):
            rows = page.get("rows") or []
            if page.get("type") and rows:
                type_name = page["type"]
                lay = layout(type_name)
                wire: dict[str, Sequence[Any]] = {}
                stored = lay.stored_columns(page["fields"], rows, wire)
                raw.executemany(lay.upsert_sql, lay.table_rows(stored))
                ids = stored["id"]
                raw.executemany(_VERSION_UPSERT, [(type_name, i, v) for i, v in
                                                  zip(ids, page["versions"], strict=True)])
                if type_name == "counterparties":
                    raw.executemany(_KEY_INSERT, _counterparty_keys(
                        ids, stored["search_name"], stored["inn"], wire["contacts"], stored["owner_id"],
                        stored["visibility"]))
                elif type_name == "contact-persons":
                    raw.executemany(_KEY_INSERT, _person_keys(
                        raw, ids, stored["search_name"], wire["contacts"], stored["counterparty_id"]))
                count = len(ids)
            _set(raw, "bootstrap_watermark", str(page["watermark"]))
            if page.get("next"):
                _set(raw, "bootstrap_next", json.dumps(page["next"]))
            else:
                for key in ("bootstrap_watermark", "bootstrap_next", "reset"):
                    _set(raw, key, None)
                _create_indexes(raw)
                raw.execute("PRAGMA analysis_limit=1000")  # statistics from a sample: enough for plans
                raw.execute("ANALYZE")
                _set(raw, "cursor", str(page["watermark"]))
                session.expire_all()
                self._overlay(session, raw, None)
        return count


# -- helpers on the raw connection ------------------------------------------------


_PLAIN_HEADER = b"SQLite format 3\x00"


def _private(path: Path) -> None:
    """Create ``path`` owner-only before SQLite does: its WAL and shared memory take the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists():
            name.chmod(0o600)


def _is_plain(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == _PLAIN_HEADER


def _encrypt_in_place(path: Path, key: bytes) -> None:
    """Rewrite a plain replica encrypted under ``key`` (SQLCipher's export), then replace the file."""
    import sqlcipher3.dbapi2 as driver  # type: ignore[import-not-found]

    target = path.with_name(path.name + ".encrypting")
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_RDWR | os.O_CREAT, 0o600))
    connection = driver.connect(str(path))
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute(f"ATTACH DATABASE ? AS encrypted KEY \"x'{key.hex()}'\"", (str(target),))
        connection.execute("SELECT sqlcipher_export('encrypted')")
        connection.execute("DETACH DATABASE encrypted")
    finally:
        connection.close()
    for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    os.replace(target, path)


def _raw(session: Session) -> sqlite3.Connection:
    raw: sqlite3.Connection = session.connection().connection.driver_connection  # type: ignore[assignment]
    return raw


def _select(raw: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    cursor = raw.cursor()
    # This cursor only: SQLAlchemy shares the connection. The driver's own Row (sqlite3's, or
    # SQLCipher's for an encrypted replica), keyed by column name either way.
    cursor.row_factory = sys.modules[type(raw).__module__].Row
    return cursor.execute(sql, params).fetchall()


def _get(raw: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = raw.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
    return row[0] if row and row[0] is not None else default


def _set(raw: sqlite3.Connection, key: str, value: str | None) -> None:
    raw.execute("INSERT INTO sync_state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


def _version(raw: sqlite3.Connection, type_name: str, record_id: str) -> int | None:
    row = raw.execute("SELECT version FROM replica_version WHERE record_type = ? AND record_id = ?",
                      (type_name, record_id)).fetchone()
    return row[0] if row else None


def _store_version(raw: sqlite3.Connection, type_name: str, record_id: str, version: int) -> None:
    raw.execute("INSERT INTO replica_version (record_type, record_id, version) VALUES (?, ?, ?) "
                "ON CONFLICT (record_type, record_id) DO UPDATE SET version = excluded.version",
                (type_name, record_id, version))


def _enqueue(raw: sqlite3.Connection, *, op: str, type: str | None = None, record_id: str | None = None,
             base_version: int | None = None, fields: dict[str, Any] | None = None,
             conflict_id: str | None = None, choice: str | None = None, value: str | None = None) -> int:
    seq = int(_get(raw, "next_seq", "1") or 1)
    raw.execute("INSERT INTO outbox (seq, op, type, record_id, base_version, fields, conflict_id, choice, "
                "value, client_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, op, type, record_id, base_version, json.dumps(fields) if fields is not None else None,
                 conflict_id, choice, value, _now()))
    _set(raw, "next_seq", str(seq + 1))
    return seq


def _renumber(raw: sqlite3.Connection, seqs: list[int], start: int) -> None:
    # Through negative numbers, so that no new seq collides with an old one on the way.
    for i, seq in enumerate(seqs):
        raw.execute("UPDATE outbox SET seq = ? WHERE seq = ?", (-(start + i), seq))
    raw.execute("UPDATE outbox SET seq = -seq WHERE seq < 0")


def _wire(row: sqlite3.Row) -> dict[str, Any]:
    """An outbox row as the push request carries it."""
    m: dict[str, Any] = {"seq": row["seq"], "op": row["op"]}
    if row["op"] == "resolve":
        m.update(conflict_id=row["conflict_id"], choice=row["choice"])
        if row["choice"] == "value":
            m["value"] = json.loads(row["value"])
    else:
        m.update(type=row["type"], id=row["record_id"])
        if row["op"] != "create":
            m["base_version"] = row["base_version"]
        if row["op"] != "delete":
            m["fields"] = json.loads(row["fields"])
    m["client_time"] = row["client_time"]
    return m


def _quarantine(raw: sqlite3.Connection, mutation: dict[str, Any], reason: str) -> None:
    raw.execute("INSERT INTO quarantine (mutation, reason, at) VALUES (?, ?, ?)",
                (json.dumps(mutation, ensure_ascii=False), reason, _now()))


def _replace_conflicts(raw: sqlite3.Connection, conflicts: list[dict[str, Any]]) -> None:
    raw.execute("DELETE FROM conflict")
    raw.executemany("INSERT INTO conflict (id, body) VALUES (?, ?)",
                    [(c["id"], json.dumps(c, ensure_ascii=False)) for c in conflicts])
    # A resolution made here and not yet pushed stays visible as such.
    raw.execute("UPDATE conflict SET pending_choice = (SELECT choice FROM outbox WHERE op = 'resolve' "
                "AND outbox.conflict_id = conflict.id ORDER BY seq DESC LIMIT 1)")


def _lay(session: Session, raw: sqlite3.Connection, actor: User, m: dict[str, Any]) -> None:
    """Apply one pending mutation to the local rows again (after a pull replaced them)."""
    if m["op"] == "resolve":
        row = raw.execute("SELECT body FROM conflict WHERE id = ?", (m["conflict_id"],)).fetchone()
        if row is not None:
            _lay_resolution(session, actor, json.loads(row[0]), m["choice"], m.get("value"), strict=False)
        return
    rt = records.record_type(m["type"])
    exists = session.get(rt.model, m["id"]) is not None
    if m["op"] == "create" and not exists:
        records.create(session, actor, rt, m["fields"])
    elif m["op"] == "update" and exists:
        records.update(session, actor, rt, m["id"], m["fields"])
    elif m["op"] == "delete" and exists:
        records.delete(session, actor, rt, m["id"])


def _lay_resolution(session: Session, actor: User, conflict: dict[str, Any], choice: str, value: Any,
                    *, strict: bool) -> None:
    """Show a field conflict's chosen value locally (the server decides the rest)."""
    if conflict.get("kind") != "field" or not conflict.get("field"):
        return
    raw = _raw(session)
    server_side = protocol.mine_is_server_side(conflict, _get(raw, "user_id"), _get(raw, "device_id"))
    server_value = (conflict.get("server") or {}).get("value")
    client_value = (conflict.get("client") or {}).get("value")
    mine, theirs = (server_value, client_value) if server_side else (client_value, server_value)
    chosen = {"mine": mine, "theirs": theirs, "value": value}[choice]
    rt = records.record_type(conflict["type"])
    if session.get(rt.model, conflict["record_id"]) is None:
        return
    try:
        with session.begin_nested():
            records.update(session, actor, rt, conflict["record_id"], {conflict["field"]: chosen})
    except SatchelError:
        if strict and choice == "value":
            raise


_VERSION_UPSERT = ("INSERT INTO replica_version (record_type, record_id, version) VALUES (?, ?, ?) "
                   "ON CONFLICT (record_type, record_id) DO UPDATE SET version = excluded.version")
_KEY_INSERT = ("INSERT INTO contact_key (record_type, record_id, counterparty_id, owner_id, visibility, kind, key) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)")
# The columns the search keys of a record are made of (its counterparty's owner and visibility too).
_KEY_COLUMNS = {"counterparties": ("legal_name", "short_name", "inn", "contacts", "owner_id", "visibility"),
                "contact-persons": ("full_name", "contacts", "counterparty_id")}
_ACCESS_COLUMNS = ("owner_id", "visibility")


def _in_ids(ids: Iterable[str]) -> str:
    """A list of ids as one parameter: ``… IN (SELECT value FROM json_each(?))``."""
    return json.dumps(list(ids))


def _counterparty_keys(ids: Sequence[str], folded_names: Sequence[str], inns: Sequence[str | None],
                       contacts: Sequence[list[dict[str, Any]]], owners: Sequence[str | None],
                       visibilities: Sequence[str]) -> list[tuple[Any, ...]]:
    """``contact_key`` rows of counterparties, from their values (``crm.search.keys_from``)."""
    keys: list[tuple[Any, ...]] = []
    for cp_id, name, inn, items, owner, visibility in zip(ids, folded_names, inns, contacts, owners, visibilities,
                                                          strict=True):
        head = ("counterparty", cp_id, cp_id, owner, visibility)
        keys += [head + key for key in search.keys_from(items, name, inn)]
    return keys


def _person_keys(raw: sqlite3.Connection, ids: Sequence[str], folded_names: Sequence[str],
                 contacts: Sequence[list[dict[str, Any]]], counterparty_ids: Sequence[str | None]
                 ) -> list[tuple[Any, ...]]:
    """``contact_key`` rows of contact persons, with their counterparty's owner and visibility as
    the replica holds it; a person whose counterparty is not here has none."""
    access = {cp_id: (owner, visibility) for cp_id, owner, visibility in raw.execute(
        "SELECT id, owner_id, visibility FROM counterparty WHERE id IN (SELECT value FROM json_each(?))",
        (_in_ids({c for c in counterparty_ids if c is not None}),))}
    keys: list[tuple[Any, ...]] = []
    for person_id, name, items, cp_id in zip(ids, folded_names, contacts, counterparty_ids, strict=True):
        if cp_id in access:
            head = ("contact_person", person_id, cp_id, *access[cp_id])
            keys += [head + key for key in search.keys_from(items, name)]
    return keys


def _apply_upserts(raw: sqlite3.Connection,
                   upserts: dict[str, dict[str, tuple[dict[str, Any], int | None]]]) -> None:
    """Write pulled records (type → id → (wire record, version or None)) and bring their
    versions and search keys in step.

    A record already here gets an UPDATE of only the columns that changed (none when it is
    the same): setting an indexed column, even to its own value, rewrites its index entries.
    Likewise the search keys of a counterparty or person are rebuilt only when what they are
    made of changed, and its people's copies of its owner and visibility only when those did.
    """
    cp_keys: list[tuple[Any, ...]] = []
    cp_rekeyed: list[str] = []
    access_moved: list[tuple[Any, ...]] = []
    people_rekeyed: list[str] = []
    people_same: list[str] = []
    for type_name, items in upserts.items():
        if not items:
            continue
        lay = layout(type_name)
        versions = [(type_name, record_id, version) for record_id, (_, version) in items.items()
                    if version is not None]
        groups: dict[tuple[str, ...], list[list[Any]]] = {}
        for record, _ in items.values():
            groups.setdefault(tuple(record), []).append(list(record.values()))
        for fields, values in groups.items():
            wire: dict[str, Sequence[Any]] = {}
            stored = lay.stored_columns(fields, values, wire)
            rows = lay.table_rows(stored)
            ids = stored["id"]
            old = {row[0]: row[1:] for row in raw.execute(lay.select_sql, (_in_ids(ids),))}
            inserts: list[tuple[Any, ...]] = []
            updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
            changed_by_row: list[frozenset[str] | None] = []
            for row in rows:
                before = old.get(row[lay.id_at])
                if before is None:
                    inserts.append(row)
                    changed_by_row.append(None)
                    continue
                changed = tuple(i for i, (was, now) in enumerate(zip(before, row, strict=True)) if was != now)
                if changed:
                    updates.setdefault(changed, []).append((*(row[i] for i in changed), row[lay.id_at]))
                changed_by_row.append(frozenset(lay.columns[i] for i in changed))
            if inserts:
                raw.executemany(lay.upsert_sql, inserts)
            for changed, params in updates.items():
                raw.executemany(lay.update_sql(changed), params)
            if type_name not in _KEY_COLUMNS:
                continue
            key_columns = _KEY_COLUMNS[type_name]
            for n, changed_columns in enumerate(changed_by_row):
                rekey = changed_columns is None or not changed_columns.isdisjoint(key_columns)
                if type_name == "counterparties":
                    if rekey:
                        cp_rekeyed.append(ids[n])
                        cp_keys += _counterparty_keys([ids[n]], [stored["search_name"][n]], [stored["inn"][n]],
                                                      [wire["contacts"][n]], [stored["owner_id"][n]],
                                                      [stored["visibility"][n]])
                    if changed_columns is None or not changed_columns.isdisjoint(_ACCESS_COLUMNS):
                        owner, visibility = stored["owner_id"][n], stored["visibility"][n]
                        access_moved.append((owner, visibility, ids[n], owner, visibility))
                else:
                    (people_rekeyed if rekey else people_same).append(ids[n])
        if versions:
            raw.executemany(_VERSION_UPSERT, versions)
    if cp_rekeyed:
        raw.execute("DELETE FROM contact_key WHERE record_id IN (SELECT value FROM json_each(?))",
                    (_in_ids(cp_rekeyed),))
        raw.executemany(_KEY_INSERT, cp_keys)
    if access_moved:  # its people's keys carry copies of its owner and visibility
        raw.executemany("UPDATE contact_key SET owner_id = ?, visibility = ? WHERE counterparty_id = ? "
                        "AND (owner_id IS NOT ? OR visibility IS NOT ?)", access_moved)
    if people_same:
        # A person loaded while its counterparty was not here has no keys yet: build them now.
        keyed = {r[0] for r in raw.execute("SELECT DISTINCT record_id FROM contact_key "
                                           "WHERE record_id IN (SELECT value FROM json_each(?))",
                                           (_in_ids(people_same),))}
        people_rekeyed += [i for i in people_same if i not in keyed]
    if people_rekeyed:
        packed = _in_ids(people_rekeyed)
        raw.execute("DELETE FROM contact_key WHERE record_id IN (SELECT value FROM json_each(?))", (packed,))
        found = raw.execute("SELECT p.id, p.full_name, p.contacts, p.counterparty_id "
                            "FROM contact_person p WHERE p.id IN (SELECT value FROM json_each(?))",
                            (packed,)).fetchall()
        raw.executemany(_KEY_INSERT, _person_keys(
            raw, [r[0] for r in found], [validation.fold_text(r[1]) for r in found],
            [json.loads(r[2]) for r in found], [r[3] for r in found]))
