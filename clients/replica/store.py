"""The replica file itself: opening it, its schema and encryption, its bookkeeping, reading it.

One SQLite file per (server, user) holds the synced record tables and the
client's own (``replica_version``, ``outbox``, ``conflict``, ``quarantine``,
``sync_state``). Opening it creates what is missing and adds the columns a newer
schema brought, so a file made by an older client keeps working without a
migration step: new synced fields are always nullable or defaulted, and the next
pull fills them in.

The rest of the replica is built on ``Store``'s two transactions and the helpers
on the raw connection below: the client's own tables are written in plain SQL on
the connection SQLAlchemy already holds, inside the same transaction as the ORM's
writes, so an edit and its outbox entry, or a pull page and its cursor, commit
together or not at all. Reading goes through ``crm.records`` as the local user,
as on the server.

The file and its WAL are owner-only; with a key the whole file is encrypted
(SQLCipher), and a plain file an older client made is encrypted in place the
first time it is opened with one. Foreign keys are not enforced: the replica is
a partial copy (a reminder assigned to the user may point at a counterparty they
cannot see), and the server, which holds everything, enforces them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Self

from sqlalchemy import event, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex
from sqlmodel import Session, SQLModel

from crm import (
    analytics,
    changes,
    claims,
    duplicates,
    neglect,
    records,
    reports,
    segments,
    whereabouts,
)
from crm.database import Database
from crm.errors import NotFound
from crm.models import ContactKey, User
from crm.models.base import to_jsonable, utcnow
from sync import protocol
from sync.columns import layout

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

# The builtin, for annotations in ``Store``: its method ``list`` hides the name in the class body.
_List = list


def _synced_tables() -> list[Any]:
    tables = [records.record_type(name).model.__table__ for name in protocol.TYPES]  # type: ignore[attr-defined]
    # crm.records writes the data version (and whatever else crm.changes keeps) on every
    # write; the replica carries those tables so local edits run the very same code.
    own = [
        m.__table__
        for m in vars(changes).values()
        if isinstance(m, type)
        and issubclass(m, SQLModel)
        and m.__module__ == changes.__name__
        and hasattr(m, "__table__")
    ]
    return [*tables, ContactKey.__table__, *own]  # type: ignore[attr-defined]


def _secondary_indexes() -> list[Any]:
    return [index for table in _synced_tables() for index in table.indexes if not index.unique]


# The search keys' indexes: after a bootstrap they are built last, in a transaction of their own,
# once the records are usable (``Replica.build_search_index``); until then a search scans the keys.
_SEARCH_TABLE = ContactKey.__tablename__


def _search_index(index: Any) -> bool:
    return bool(index.table.name == _SEARCH_TABLE)


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


def _reload_for_new_schema(raw: sqlite3.Connection) -> None:
    """A replica synced by a client of an older schema loads its scope again at the next sync.

    Its cursor is past the records of a type (or the values of a field) the older client
    could not hold — the complaints of schema 5 made before this laptop's update — and a pull
    brings only what changes after it; a bootstrap (the outbox is kept and pushed first)
    brings them all. A fresh replica only notes its schema.
    """
    had = _get(raw, "schema")
    if had == str(protocol.SCHEMA):
        return
    if _get(raw, "cursor") is not None:
        _set(raw, "reset", "1")
    _set(raw, "schema", str(protocol.SCHEMA))


def _create_indexes(raw: sqlite3.Connection, *, search: bool | None = True) -> None:
    """Create the missing secondary indexes: all (``search`` True), all but the search keys'
    (False), or the search keys' only (None)."""
    for index in _secondary_indexes():
        if search is False and _search_index(index):
            continue
        if search is None and not _search_index(index):
            continue
        raw.execute(
            str(CreateIndex(index, if_not_exists=True).compile(dialect=sqlite_dialect.dialect()))
        )


def _now() -> str:
    return str(to_jsonable(utcnow()))


class Store:
    """The replica file: opening it, its transactions, its bookkeeping, reading it."""

    def __init__(self, database: Database, path: Path) -> None:
        self.db = database
        self.path = path

    @classmethod
    def open(cls, path: str | Path, *, key: bytes | None = None) -> Self:
        """Open (or create) the replica at ``path``; with ``key``, encrypted at rest (SQLCipher).

        The file and its WAL are readable by their owner only. A plain replica opened
        with a key is encrypted in place first (an older client made it). A wrong key
        raises ``crm.database.WrongKey`` and changes nothing.
        """
        path = Path(path)
        _private(path)
        if key is not None and _is_plain(path):
            _encrypt_in_place(path, key)
        # The server keeps the change log, not the laptop.
        database = Database(f"sqlite:///{path}", key=key, change_log=False)

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
            # A bootstrap interrupted before its last page dropped them; the search keys' wait for
            # the sync that builds them when a bootstrap finished without (see search_pending).
            _create_indexes(raw, search=_get(raw, "search_index") is None)
            _reload_for_new_schema(raw)
        return cls(database, path)

    def close(self) -> None:
        self.db.dispose()

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[tuple[Session, sqlite3.Connection]]:
        with self.db.write() as session:
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

    def remember_login(
        self, *, server: str, login: str, token: str, device_id: str, user: dict[str, Any]
    ) -> None:
        """Store a fresh login; a new device numbers its mutations from 1 again."""
        with self._write() as (_, raw):
            if _get(raw, "device_id") != device_id:
                pending = [r[0] for r in raw.execute("SELECT seq FROM outbox ORDER BY seq")]
                _renumber(raw, pending, 1)
                _set(raw, "next_seq", str(len(pending) + 1))
            for key, value in {
                "server": server,
                "login": login,
                "token": token,
                "device_id": device_id,
                "user_id": user["id"],
            }.items():
                _set(raw, key, value)
            users = layout("users")
            raw.execute(users.upsert_sql, users.row(user))

    # -- the user -----------------------------------------------------------------

    def _actor(self, session: Session) -> User:
        user_id = _get(_raw(session), "user_id")
        user = session.get(User, user_id) if user_id else None
        if user is None:
            raise NotFound("this replica has no user yet: log in first (satchel-field login)")
        return user

    # -- reading ------------------------------------------------------------------

    def get(self, type_name: str, record_id: str) -> dict[str, Any]:
        rt = records.record_type(type_name)
        with self._read() as (session, _):
            return records.to_dict(rt, records.get(session, self._actor(session), rt, record_id))

    def list(
        self,
        type_name: str,
        *,
        q: str | None = None,
        filters: dict[str, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        rt = records.record_type(type_name)
        with self._read() as (session, _):
            page = records.list_records(
                session, self._actor(session), rt, q=q, filters=filters, limit=limit
            )
            return [records.to_dict(rt, r) for r in page.items]

    def whereabouts(self, monday: date) -> _List[whereabouts.Row]:
        """The week's board from ``monday`` over what this laptop holds (``crm.whereabouts``)."""
        with self._read() as (session, _):
            return whereabouts.board(session, self._actor(session), monday, 7)

    def claimed(self, counterparty_id: str) -> str:
        """The warning for the replica's user about a client others hold for a group (claims in
        force today, ``crm.claims``), empty when none."""
        with self._read() as (session, _):
            return claims.warning(
                claims.held_by_others(session, self._actor(session), counterparty_id)
            )

    def similar(self, values: dict[str, Any]) -> _List[dict[str, Any]]:
        """The local counterparties a new one with ``values`` would likely duplicate (the server's
        rules, ``crm.duplicates.similar``, over what this laptop holds), the surest first."""
        with self._read() as (session, _):
            found = duplicates.similar(session, self._actor(session), values)
            return [
                {"id": c.second, "legal_name": c.name, "score": c.score, "reasons": c.reasons}
                for c in found
            ]

    def segment_overview(self) -> _List[dict[str, Any]]:
        """Every saved segment with how many of this laptop's counterparties are in it
        (``crm.segments.overview``)."""
        with self._read() as (session, _):
            return segments.overview(session, self._actor(session))

    def segment_criteria(self, pairs: _List[str]) -> dict[str, _List[str]]:
        """Criteria as the commands take them (``crm.segments.parse``: ``abc_class=A,B``), the
        ``owner_id`` values given as logins made ids; ``ValueError`` says what is wrong."""
        with self._read() as (session, _):
            return segments.with_owner_ids(session, segments.parse(pairs))

    def segment_detail(self, name_or_id: str, *, limit: int = 50) -> dict[str, Any]:
        """The segment of this name or id (``NotFound`` when none, or several share the name), with
        the first ``limit`` of its members this laptop holds, by name, and their number."""
        with self._read() as (session, _):
            actor = self._actor(session)
            found = segments.find(session, actor, name_or_id)
            page, total = segments.listed(session, actor, found.criteria, limit=limit)
            return {
                **records.to_dict(records.record_type("segments"), found),
                "members": [
                    {"id": c.id, "name": c.legal_name, "inn": c.inn, "abc_class": c.abc_class}
                    for c in page
                ],
                "total": total,
            }

    def report(
        self,
        name: str,
        starts: date,
        ends: date,
        *,
        basis: str = "revenue",
        thresholds: analytics.Thresholds | None = None,
        product_group: str | None = None,
        days: int = 60,
        today: date | None = None,
        owner: str | None = None,
        rules: str | None = None,
        sort: str = "score",
        segment: str | None = None,
    ) -> reports.Report:
        """An analysis over the clients this laptop holds, as the server computes it
        (``crm.analytics`` over the synced sales summaries, deals and contacts): abc, matrix,
        rfm, neglected, the deal and activity reports (``reports.PIPELINE``, ``owner``: a
        login or id; ``ValueError`` for an unknown one), or the cards' completeness
        (``reports.COMPLETENESS``: ``rules``, ``sort``, ``owner``; the contact persons and
        contacts this laptop holds, which are those its user sees on the server), or receivables
        (``reports.RECEIVABLES``, ``owner``: from the synced receivable rows). ``segment``: a
        saved segment's name or id — over its members this laptop holds (``crm.segments``)."""
        with self._read() as (session, _):
            actor = self._actor(session)
            chosen, only = segments.chosen(session, actor, segment)
            if name in reports.PIPELINE:
                owner_id = reports.owner(session, owner)
                found_report = reports.pipeline(
                    session, actor, name, starts, ends, owner_id=owner_id, only=only
                )
                return reports.in_segment(found_report, chosen)
            if name in reports.RECEIVABLES:
                found_report = reports.receivables(
                    session,
                    actor,
                    today or date.today(),
                    name=name,
                    owner_id=reports.owner(session, owner),
                    only=only,
                )
                return reports.in_segment(found_report, chosen)
            if name in reports.COMPLETENESS:
                found_report = reports.completeness(
                    session,
                    actor,
                    today or date.today(),
                    name=name,
                    rules=rules,
                    owner_id=reports.owner(session, owner),
                    sort=sort,
                    only=only,
                )
                return reports.in_segment(found_report, chosen)
            if name in ("abc", "matrix"):
                result = analytics.classify(
                    session,
                    actor,
                    starts,
                    ends,
                    basis=basis,
                    thresholds=thresholds,
                    product_group=product_group,
                    only=only,
                )
                found_report = (
                    reports.matrix(result)
                    if name == "matrix"
                    else reports.abc(session, actor, result)
                )
                return reports.in_segment(found_report, chosen)
            if name == "rfm":
                clients = analytics.rfm(
                    session, actor, starts, ends, product_group=product_group, only=only
                )
                found_report = reports.rfm(session, actor, clients, starts, ends)
                return reports.in_segment(found_report, chosen)
            if name == "neglected":
                items = neglect.neglected(
                    session, actor, days, today=today or date.today(), only=only
                )
                return reports.in_segment(reports.neglected(session, items, days), chosen)
            if name == "due":
                owner_id = reports.owner(session, owner)
                found = neglect.due_contacts(
                    session, actor, today=today or date.today(), owner_id=owner_id, only=only
                )
                return reports.in_segment(reports.due(session, found), chosen)
        raise ValueError(
            f"no report {name!r}: abc, matrix, rfm, neglected, due, "
            f"{', '.join((*reports.PIPELINE, *reports.COMPLETENESS, *reports.RECEIVABLES))}"
        )

    def snapshot(self, type_name: str) -> dict[str, dict[str, Any]]:
        """Every local record of a type, as the wire shows it (for comparing with the server)."""
        rt = records.record_type(type_name)
        with self._read() as (session, _):
            return {
                r.id: records.to_dict(rt, r) for r in session.execute(select(rt.model)).scalars()
            }

    def versions(self, type_name: str) -> dict[str, int]:
        with self._read() as (_, raw):
            return dict(
                raw.execute(
                    "SELECT record_id, version FROM replica_version WHERE record_type = ?",
                    (type_name,),
                ).fetchall()
            )

    def conflicts(self) -> _List[dict[str, Any]]:
        with self._read() as (_, raw):
            rows = raw.execute("SELECT body, pending_choice FROM conflict ORDER BY id").fetchall()
        return [{**json.loads(body), "pending_choice": choice} for body, choice in rows]

    def quarantine(self) -> _List[dict[str, Any]]:
        with self._read() as (_, raw):
            rows = raw.execute(
                "SELECT id, mutation, reason, at FROM quarantine ORDER BY id"
            ).fetchall()
        return [{"id": i, "mutation": json.loads(m), "reason": r, "at": at} for i, m, r, at in rows]

    def status(self) -> dict[str, Any]:
        with self._read() as (_, raw):
            count = lambda sql: raw.execute(sql).fetchone()[0]  # noqa: E731
            state = dict(raw.execute("SELECT key, value FROM sync_state").fetchall())
            return {
                "server": state.get("server"),
                "login": state.get("login"),
                "device_id": state.get("device_id"),
                "cursor": state.get("cursor"),
                "last_sync": state.get("last_sync"),
                "last_summary": json.loads(state["last_summary"])
                if state.get("last_summary")
                else None,
                "pending": count("SELECT count(*) FROM outbox"),
                "conflicts": count("SELECT count(*) FROM conflict"),
                "quarantine": count("SELECT count(*) FROM quarantine"),
            }

    # -- the outbox ---------------------------------------------------------------

    def pending(self, limit: int = protocol.MAX_MUTATIONS) -> _List[dict[str, Any]]:
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
            pending = [
                r[0]
                for r in raw.execute(
                    "SELECT seq FROM outbox WHERE seq >= ? ORDER BY seq", (expected,)
                )
            ]
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
    import sqlcipher3.dbapi2 as driver

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
    raw.execute(
        "INSERT INTO sync_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _enqueue(
    raw: sqlite3.Connection,
    *,
    op: str,
    type: str | None = None,
    record_id: str | None = None,
    base_version: int | None = None,
    fields: dict[str, Any] | None = None,
    conflict_id: str | None = None,
    choice: str | None = None,
    value: str | None = None,
) -> int:
    seq = int(_get(raw, "next_seq", "1") or 1)
    raw.execute(
        "INSERT INTO outbox (seq, op, type, record_id, base_version, fields, conflict_id, choice, "
        "value, client_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            op,
            type,
            record_id,
            base_version,
            json.dumps(fields) if fields is not None else None,
            conflict_id,
            choice,
            value,
            _now(),
        ),
    )
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
    raw.execute(
        "INSERT INTO quarantine (mutation, reason, at) VALUES (?, ?, ?)",
        (json.dumps(mutation, ensure_ascii=False), reason, _now()),
    )
