"""The server's answers, written into the replica: push results, pull pages, bootstraps, refreshes.

Each answer is stored in one transaction together with how far it got (the
trimmed outbox, the cursor, where a bootstrap stands), so a sync cut off
anywhere leaves a replica the next sync continues from, and a page applied
twice changes nothing.

Pulled and bootstrapped records bypass the ORM: a page of thousands of rows is
written with ``executemany`` through ``sync.columns`` (an ORM object per row
costs more than the insert), a record already here is updated only in the
columns that changed, and the search keys ``crm.records`` would have kept are
rebuilt here from the same ``crm.search.keys_from``. A record that leaves the
user's scope takes what is seen through it along, and its pending edits go to
the quarantine, ``EVICTED`` as the reason. After each write the pending local
edits are laid back over the records it touched (``edits``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clients.replica.edits import Editing
from clients.replica.store import (
    _SEARCH_TABLE,
    _create_indexes,
    _get,
    _quarantine,
    _secondary_indexes,
    _select,
    _set,
    _synced_tables,
    _wire,
)
from crm import registry, search, validation
from sync.columns import layout

EVICTED = "evicted: you can no longer see this record"


def _seen_through_counterparty() -> list[tuple[str, str, tuple[str, ...]]]:
    """(type, table, people fields) of the synced types seen through their counterparty
    (``crm.registry.Sight``): they leave the replica with it, unless they name the user."""
    return [
        (rt.name, str(rt.model.__tablename__), rt.people)
        for rt in registry.RECORD_TYPES.values()
        if rt.synced and rt.sight is registry.Sight.ITS_COUNTERPARTY
    ]


@dataclass
class PushOutcome:
    """What storing one push's results did to the outbox."""

    applied: int = 0
    conflicts: int = 0
    refused: int = 0
    # Records whose local copy may now differ from the server's (a refused or conflicting
    # edit changed nothing there, so no pull will bring them): fetch them again.
    refresh: list[tuple[str, str]] = field(default_factory=list)


class Applying(Editing):
    """What the server sends, written over the local copies."""

    # -- push ---------------------------------------------------------------------

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
                    _quarantine(
                        raw, mutation, str(error.get("message") or error.get("error") or "refused")
                    )
                elif status == "conflict" or result.get("conflicts"):
                    outcome.conflicts += 1
                else:
                    outcome.applied += 1
                if mutation["op"] == "create" and status == "applied" and result.get("version"):
                    _store_version(raw, mutation["type"], mutation["id"], int(result["version"]))
                if mutation["op"] == "create" and status != "applied":
                    self._drop_local(raw, mutation["type"], mutation["id"])
                elif mutation["op"] != "resolve" and (
                    status != "applied" or result.get("conflicts")
                ):
                    outcome.refresh.append((mutation["type"], mutation["id"]))
                    if mutation["op"] == "delete" and mutation["type"] == "counterparties":
                        # Its people, deals and history went with it locally: load the scope again.
                        _set(raw, "reset", "1")
                elif mutation["op"] == "resolve":
                    # The choice was laid over the record locally. Refused, nothing on the server
                    # changes it back; applied, the server may have kept a value this laptop never
                    # saw laid (the server's side is the field as it is now, perhaps edited since
                    # the conflict) and wrote nothing a pull would bring: fetch the server's copy.
                    body = raw.execute(
                        "SELECT body FROM conflict WHERE id = ?", (mutation["conflict_id"],)
                    ).fetchone()
                    if body is not None:
                        conflict = json.loads(body[0])
                        outcome.refresh.append((conflict["type"], conflict["record_id"]))
            if outcome.refresh:
                # Kept with the results that call for them: a fetch whose answer is lost is
                # tried again at the next sync (no pull would ever bring the server's copy).
                waiting = [tuple(item) for item in json.loads(_get(raw, "refresh") or "[]")]
                waiting += [item for item in outcome.refresh if item not in waiting]
                _set(raw, "refresh", json.dumps(waiting))
        return outcome

    def refreshes_waiting(self) -> list[tuple[str, str]]:
        """Records to fetch again because the server did not take an edit of them (oldest first)."""
        with self._read() as (_, raw):
            return [(t, i) for t, i in json.loads(_get(raw, "refresh") or "[]")]

    def refreshed(self, type_name: str, record_id: str) -> None:
        """A record fetched again (``refreshes_waiting``) is no longer waiting."""
        with self._write() as (_, raw):
            waiting = json.loads(_get(raw, "refresh") or "[]")
            left = [item for item in waiting if tuple(item) != (type_name, record_id)]
            _set(raw, "refresh", json.dumps(left) if left else None)

    def apply_record(self, type_name: str, record: dict[str, Any] | None, record_id: str) -> None:
        """Replace the local copy of one record by the server's (``None``: it is gone or hidden)."""
        with self._write() as (session, raw):
            if record is None:
                self._drop_local(raw, type_name, record_id)
            else:
                _apply_upserts(raw, {type_name: {record_id: (record, None)}})
            session.expire_all()
            self._overlay(session, raw, {record_id})

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
                    upserts.setdefault(type_name, {})[record_id] = (
                        change["record"],
                        int(change["version"]),
                    )
                    counts["upserts"] += 1
                elif op in ("evict", "delete"):
                    _apply_upserts(raw, upserts)
                    upserts = {}
                    self._drop_local(
                        raw, type_name, record_id, reason=EVICTED if op == "evict" else None
                    )
                    counts["evicts" if op == "evict" else "deletes"] += 1
            _apply_upserts(raw, upserts)
            _replace_conflicts(raw, answer.get("conflicts") or [])
            _set(raw, "cursor", str(answer["cursor"]))
            if answer.get("reset"):
                _set(raw, "reset", "1")
            session.expire_all()
            self._overlay(session, raw, touched)
        return counts

    def _drop_local(
        self, raw: sqlite3.Connection, type_name: str, record_id: str, *, reason: str | None = None
    ) -> None:
        """Remove a record's local copy (and, for a counterparty, what is seen through it)."""
        doomed = [(type_name, record_id)]
        if type_name == "counterparties":
            me = _get(raw, "user_id") or ""
            for child, table, people in _seen_through_counterparty():
                # What names the user (a reminder assigned to them) stays: they still see it.
                mine = "".join(f" AND coalesce({name}, '') != ?" for name in people)
                doomed += [
                    (child, r[0])
                    for r in raw.execute(
                        f"SELECT id FROM {table} WHERE counterparty_id = ?{mine}",
                        (record_id, *[me] * len(people)),
                    )
                ]
        for doomed_type, doomed_id in reversed(doomed):  # children first
            table = layout(doomed_type).table.name
            raw.execute(f'DELETE FROM "{table}" WHERE id = ?', (doomed_id,))
            raw.execute(
                "DELETE FROM replica_version WHERE record_type = ? AND record_id = ?",
                (doomed_type, doomed_id),
            )
            raw.execute("DELETE FROM contact_key WHERE record_id = ?", (doomed_id,))
            if reason is not None:
                for row in _select(
                    raw, "SELECT * FROM outbox WHERE record_id = ? ORDER BY seq", (doomed_id,)
                ):
                    _quarantine(raw, _wire(row), reason)
                raw.execute("DELETE FROM outbox WHERE record_id = ?", (doomed_id,))

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

    def search_pending(self) -> bool:
        """Whether the search keys still wait for their indexes (a bootstrap finished without them)."""
        return self.state("search_index") is not None

    def build_search_index(self) -> bool:
        """Index the search keys a bootstrap left unindexed, in one transaction; False if none wait.

        Runs after the bootstrap's last page is committed (``SyncAgent.sync`` does it last): the
        screens read the records meanwhile, and a search scans the keys until this commits.
        """
        with self._write() as (_, raw):
            if _get(raw, "search_index") is None or _get(raw, "cursor") is None:
                return (
                    False  # nothing waits, or a bootstrap is under way (its last page comes first)
                )
            raw.execute("PRAGMA cache_size=-262144")
            _create_indexes(raw, search=None)
            raw.execute("PRAGMA cache_size=-65536")
            raw.execute("PRAGMA analysis_limit=1000")  # as the last page's: a sample is enough
            raw.execute(f'ANALYZE "{_SEARCH_TABLE}"')
            _set(raw, "search_index", None)
        return True

    def apply_bootstrap_page(self, page: dict[str, Any], **state: str | None) -> int:
        """Bulk-load one bootstrap page; the last one sets the cursor to the snapshot's watermark.

        Each page is one transaction that also records where the load stands (and the caller's
        ``state``, e.g. how many records are loaded), so a load interrupted anywhere resumes after
        the last page that was committed.
        """
        count = 0
        with self._write() as (session, raw):
            for key, value in state.items():
                _set(raw, key, value)
            rows = page.get("rows") or []
            if page.get("type") and rows:
                type_name = page["type"]
                lay = layout(type_name)
                wire: dict[str, Sequence[Any]] = {}
                stored = lay.stored_columns(page["fields"], rows, wire)
                raw.executemany(lay.upsert_sql, lay.table_rows(stored))
                ids = stored["id"]
                raw.executemany(
                    _VERSION_UPSERT,
                    [(type_name, i, v) for i, v in zip(ids, page["versions"], strict=True)],
                )
                if type_name == "counterparties":
                    raw.executemany(
                        _KEY_INSERT,
                        _counterparty_keys(
                            ids,
                            stored["search_name"],
                            stored["inn"],
                            stored["website"],
                            wire["contacts"],
                            stored["owner_id"],
                            stored["visibility"],
                        ),
                    )
                elif type_name == "contact-persons":
                    raw.executemany(
                        _KEY_INSERT,
                        _person_keys(
                            raw,
                            ids,
                            stored["search_name"],
                            wire["contacts"],
                            stored["counterparty_id"],
                        ),
                    )
                count = len(ids)
            _set(raw, "bootstrap_watermark", str(page["watermark"]))
            if page.get("next"):
                _set(raw, "bootstrap_next", json.dumps(page["next"]))
            else:
                for key in ("bootstrap_watermark", "bootstrap_next", "reset"):
                    _set(raw, key, None)
                # Building the indexes sorts every row of every table: with the usual 64 MB of
                # cache the sorts spill to (encrypted) temporary files. The search keys' (the
                # largest: 70 % of the time) come after, in build_search_index: the records are
                # usable first, and a search meanwhile scans the keys.
                raw.execute("PRAGMA cache_size=-262144")
                _create_indexes(raw, search=False)
                _set(raw, "search_index", "building")
                raw.execute("PRAGMA cache_size=-65536")
                raw.execute(
                    "PRAGMA analysis_limit=1000"
                )  # statistics from a sample: enough for plans
                raw.execute("ANALYZE")
                _set(raw, "cursor", str(page["watermark"]))
                session.expire_all()
                self._overlay(session, raw, None)
        return count


def _store_version(raw: sqlite3.Connection, type_name: str, record_id: str, version: int) -> None:
    raw.execute(
        "INSERT INTO replica_version (record_type, record_id, version) VALUES (?, ?, ?) "
        "ON CONFLICT (record_type, record_id) DO UPDATE SET version = excluded.version",
        (type_name, record_id, version),
    )


def _replace_conflicts(raw: sqlite3.Connection, conflicts: list[dict[str, Any]]) -> None:
    raw.execute("DELETE FROM conflict")
    raw.executemany(
        "INSERT INTO conflict (id, body) VALUES (?, ?)",
        [(c["id"], json.dumps(c, ensure_ascii=False)) for c in conflicts],
    )
    # A resolution made here and not yet pushed stays visible as such.
    raw.execute(
        "UPDATE conflict SET pending_choice = (SELECT choice FROM outbox WHERE op = 'resolve' "
        "AND outbox.conflict_id = conflict.id ORDER BY seq DESC LIMIT 1)"
    )


_VERSION_UPSERT = (
    "INSERT INTO replica_version (record_type, record_id, version) VALUES (?, ?, ?) "
    "ON CONFLICT (record_type, record_id) DO UPDATE SET version = excluded.version"
)
_KEY_INSERT = (
    "INSERT INTO contact_key (record_type, record_id, counterparty_id, owner_id, visibility, kind, key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_ACCESS_COLUMNS = ("owner_id", "visibility")


def _in_ids(ids: Iterable[str]) -> str:
    """A list of ids as one parameter: ``… IN (SELECT value FROM json_each(?))``."""
    return json.dumps(list(ids))


def _counterparty_keys(
    ids: Sequence[str],
    folded_names: Sequence[str],
    inns: Sequence[str | None],
    websites: Sequence[str | None],
    contacts: Sequence[list[dict[str, Any]]],
    owners: Sequence[str | None],
    visibilities: Sequence[str],
) -> list[tuple[Any, ...]]:
    """``contact_key`` rows of counterparties, from their values (``crm.search.keys_from``)."""
    keys: list[tuple[Any, ...]] = []
    for cp_id, name, inn, website, items, owner, visibility in zip(
        ids, folded_names, inns, websites, contacts, owners, visibilities, strict=True
    ):
        head = ("counterparty", cp_id, cp_id, owner, visibility)
        keys += [head + key for key in search.keys_from(items, name, inn, website)]
    return keys


def _person_keys(
    raw: sqlite3.Connection,
    ids: Sequence[str],
    folded_names: Sequence[str],
    contacts: Sequence[list[dict[str, Any]]],
    counterparty_ids: Sequence[str | None],
) -> list[tuple[Any, ...]]:
    """``contact_key`` rows of contact persons, with their counterparty's owner and visibility as
    the replica holds it; a person whose counterparty is not here has none."""
    access = {
        cp_id: (owner, visibility)
        for cp_id, owner, visibility in raw.execute(
            "SELECT id, owner_id, visibility FROM counterparty WHERE id IN (SELECT value FROM json_each(?))",
            (_in_ids({c for c in counterparty_ids if c is not None}),),
        )
    }
    keys: list[tuple[Any, ...]] = []
    for person_id, name, items, cp_id in zip(
        ids, folded_names, contacts, counterparty_ids, strict=True
    ):
        if cp_id in access:
            head = ("contact_person", person_id, cp_id, *access[cp_id])
            keys += [head + key for key in search.keys_from(items, name)]
    return keys


def _apply_upserts(
    raw: sqlite3.Connection, upserts: dict[str, dict[str, tuple[dict[str, Any], int | None]]]
) -> None:
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
        versions = [
            (type_name, record_id, version)
            for record_id, (_, version) in items.items()
            if version is not None
        ]
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
                changed = tuple(
                    i for i, (was, now) in enumerate(zip(before, row, strict=True)) if was != now
                )
                if changed:
                    updates.setdefault(changed, []).append(
                        (*(row[i] for i in changed), row[lay.id_at])
                    )
                changed_by_row.append(frozenset(lay.columns[i] for i in changed))
            if inserts:
                raw.executemany(lay.upsert_sql, inserts)
            for changed, params in updates.items():
                raw.executemany(lay.update_sql(changed), params)
            # The columns the search keys of a record are made of (its counterparty's owner and visibility too).
            key_columns = registry.RECORD_TYPES[type_name].keyed_by
            if not key_columns:
                continue
            for n, changed_columns in enumerate(changed_by_row):
                rekey = changed_columns is None or not changed_columns.isdisjoint(key_columns)
                if type_name == "counterparties":
                    if rekey:
                        cp_rekeyed.append(ids[n])
                        cp_keys += _counterparty_keys(
                            [ids[n]],
                            [stored["search_name"][n]],
                            [stored["inn"][n]],
                            [stored["website"][n]],
                            [wire["contacts"][n]],
                            [stored["owner_id"][n]],
                            [stored["visibility"][n]],
                        )
                    if changed_columns is None or not changed_columns.isdisjoint(_ACCESS_COLUMNS):
                        owner, visibility = stored["owner_id"][n], stored["visibility"][n]
                        access_moved.append((owner, visibility, ids[n], owner, visibility))
                else:
                    (people_rekeyed if rekey else people_same).append(ids[n])
        if versions:
            raw.executemany(_VERSION_UPSERT, versions)
    if cp_rekeyed:
        raw.execute(
            "DELETE FROM contact_key WHERE record_id IN (SELECT value FROM json_each(?))",
            (_in_ids(cp_rekeyed),),
        )
        raw.executemany(_KEY_INSERT, cp_keys)
    if access_moved:  # its people's keys carry copies of its owner and visibility
        raw.executemany(
            "UPDATE contact_key SET owner_id = ?, visibility = ? WHERE counterparty_id = ? "
            "AND (owner_id IS NOT ? OR visibility IS NOT ?)",
            access_moved,
        )
    if people_same:
        # A person loaded while its counterparty was not here has no keys yet: build them now.
        keyed = {
            r[0]
            for r in raw.execute(
                "SELECT DISTINCT record_id FROM contact_key "
                "WHERE record_id IN (SELECT value FROM json_each(?))",
                (_in_ids(people_same),),
            )
        }
        people_rekeyed += [i for i in people_same if i not in keyed]
    if people_rekeyed:
        packed = _in_ids(people_rekeyed)
        raw.execute(
            "DELETE FROM contact_key WHERE record_id IN (SELECT value FROM json_each(?))", (packed,)
        )
        found = raw.execute(
            "SELECT p.id, p.full_name, p.contacts, p.counterparty_id "
            "FROM contact_person p WHERE p.id IN (SELECT value FROM json_each(?))",
            (packed,),
        ).fetchall()
        raw.executemany(
            _KEY_INSERT,
            _person_keys(
                raw,
                [r[0] for r in found],
                [validation.fold_text(r[1]) for r in found],
                [json.loads(r[2]) for r in found],
                [r[3] for r in found],
            ),
        )
