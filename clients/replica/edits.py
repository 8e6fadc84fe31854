"""Local edits: each one a ``crm.records`` write and an outbox entry, in one transaction.

A local edit goes through ``crm.records`` with the local user as the actor, so
the laptop refuses what the server would refuse, and appends its mutation to
the outbox in the same transaction: a record never changes here without the
server being told. Nothing here touches the network.

Until the server answers, a pending edit is what the user sees: whenever the
server's copy of a record replaces the local one (a pull, a bootstrap, a
refresh), ``_overlay`` lays the record's pending mutations over it again, a
conflict's chosen value included. A mutation the server refused waits in the
quarantine, visible, until the user queues it again (``retry``) or lets it go
(``drop``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from clients.replica.store import Store, _enqueue, _get, _raw, _select, _wire
from crm import records
from crm.errors import NotFound, SatchelError, ValidationFailed
from crm.models import User, new_id
from sync import protocol


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

    def update(
        self,
        type_name: str,
        record_id: str,
        fields: dict[str, Any],
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Change fields and queue what really changed (nothing when nothing did).

        ``expected_version`` is the local record's version the edit was made on (a form's
        hidden field): ``VersionConflict`` when the replica changed meanwhile (a sync).
        """
        rt = records.record_type(type_name)
        before = records.to_dict(rt, records.get(self.session, self.actor, rt, record_id))
        after = records.to_dict(
            rt,
            records.update(
                self.session, self.actor, rt, record_id, fields, expected_version=expected_version
            ),
        )
        changed = {k: after[k] for k in fields if k in after and after[k] != before[k]}
        if changed:
            _enqueue(
                self._raw,
                op="update",
                type=type_name,
                record_id=record_id,
                base_version=_version(self._raw, type_name, record_id),
                fields=changed,
            )
        return after

    def delete(self, type_name: str, record_id: str) -> None:
        rt = records.record_type(type_name)
        records.delete(self.session, self.actor, rt, record_id)
        _enqueue(
            self._raw,
            op="delete",
            type=type_name,
            record_id=record_id,
            base_version=_version(self._raw, type_name, record_id),
        )

    def resolve(self, conflict_id: str, choice: str, value: Any = None) -> None:
        """Resolve a conflict: the chosen value shown locally at once, the resolution queued."""
        if choice not in protocol.CHOICES:
            raise ValidationFailed(
                f"choice must be one of {', '.join(protocol.CHOICES)}; got {choice!r}"
            )
        raw = self._raw
        row = raw.execute("SELECT body FROM conflict WHERE id = ?", (conflict_id,)).fetchone()
        if row is None:
            raise NotFound(f"no open conflict {conflict_id}; sync to refresh the list")
        conflict = json.loads(row[0])
        _lay_resolution(self.session, self.actor, conflict, choice, value, strict=True)
        _enqueue(
            raw,
            op="resolve",
            conflict_id=conflict_id,
            choice=choice,
            value=json.dumps(value) if choice == "value" else None,
        )
        raw.execute("UPDATE conflict SET pending_choice = ? WHERE id = ?", (choice, conflict_id))


class Editing(Store):
    """Local edits, queued in the outbox; pending ones laid back over the server's copies."""

    # -- local edits --------------------------------------------------------------

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

    # -- quarantine ---------------------------------------------------------------

    def retry(self, quarantine_id: int) -> dict[str, Any]:
        """Queue a quarantined mutation again, with a new seq, and show it locally again."""
        with self._write() as (session, raw):
            row = raw.execute(
                "SELECT mutation FROM quarantine WHERE id = ?", (quarantine_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"nothing in quarantine with id {quarantine_id}")
            m = json.loads(row[0])
            value = json.dumps(m["value"]) if "value" in m else None
            _enqueue(
                raw,
                op=m["op"],
                type=m.get("type"),
                record_id=m.get("id"),
                base_version=m.get("base_version"),
                fields=m.get("fields"),
                conflict_id=m.get("conflict_id"),
                choice=m.get("choice"),
                value=value,
            )
            raw.execute("DELETE FROM quarantine WHERE id = ?", (quarantine_id,))
            if m.get("id"):
                self._overlay(session, raw, {m["id"]})
            return m

    def drop(self, quarantine_id: int) -> None:
        with self._write() as (_, raw):
            if raw.execute("DELETE FROM quarantine WHERE id = ?", (quarantine_id,)).rowcount == 0:
                raise NotFound(f"nothing in quarantine with id {quarantine_id}")

    # -- pending edits over the server's copies -----------------------------------

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


def _version(raw: sqlite3.Connection, type_name: str, record_id: str) -> int | None:
    row = raw.execute(
        "SELECT version FROM replica_version WHERE record_type = ? AND record_id = ?",
        (type_name, record_id),
    ).fetchone()
    return row[0] if row else None


def _lay(session: Session, raw: sqlite3.Connection, actor: User, m: dict[str, Any]) -> None:
    """Apply one pending mutation to the local rows again (after a pull replaced them)."""
    if m["op"] == "resolve":
        row = raw.execute("SELECT body FROM conflict WHERE id = ?", (m["conflict_id"],)).fetchone()
        if row is not None:
            _lay_resolution(
                session, actor, json.loads(row[0]), m["choice"], m.get("value"), strict=False
            )
        return
    rt = records.record_type(m["type"])
    exists = session.get(rt.model, m["id"]) is not None
    if m["op"] == "create" and not exists:
        records.create(session, actor, rt, m["fields"])
    elif m["op"] == "update" and exists:
        records.update(session, actor, rt, m["id"], m["fields"])
    elif m["op"] == "delete" and exists:
        records.delete(session, actor, rt, m["id"])


def _lay_resolution(
    session: Session,
    actor: User,
    conflict: dict[str, Any],
    choice: str,
    value: Any,
    *,
    strict: bool,
) -> None:
    """Show a field conflict's chosen value locally (the server decides the rest)."""
    if conflict.get("kind") != "field" or not conflict.get("field"):
        return
    raw = _raw(session)
    server_side = protocol.mine_is_server_side(
        conflict, _get(raw, "user_id"), _get(raw, "device_id")
    )
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
