"""Push: apply a device's mutations in seq order, once each (docs/sync-protocol.md).

Every write goes through ``crm.records``, so the rules, access checks and the
change log are the same as for the REST API; this module adds ordering,
idempotency and the per-field merge. Conflicts it opens are kept by
``sync.conflicts``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col

from crm import access, accounts, changes, merge, records
from crm.database import Database
from crm.errors import (
    MalformedInput,
    NotFound,
    PermissionDenied,
    SatchelError,
    TooLarge,
    refused_by_keys,
)
from crm.models import Counterparty, Device, User
from crm.models.base import utcnow
from sync import held as told
from sync import protocol, wire
from sync.conflicts import author, may_know_deleted, resolve
from sync.models import Conflict, DeviceCursor, PushResult
from sync.versions import SequenceGap, SequenceReused


def parse_push(body: Any, device: Device) -> list[dict[str, Any]]:
    """The push's mutations in seq order, or an error that says what is wrong (nothing is applied).

    Who may push and how much are answered first (403, 413), then the mutations' shapes
    (``sync.wire``: 400 naming the first problem).
    """
    if not isinstance(body, dict) or not isinstance(body.get("mutations"), list):
        raise MalformedInput('send {"device_id": ..., "mutations": [...]}')
    if body.get("device_id") != device.id:
        raise PermissionDenied(
            f"this push is for device {wire.quoted(body.get('device_id'))}, "
            f"but you are signed in as device {device.id}; a device pushes only its own changes"
        )
    raw = body["mutations"]
    if len(raw) > protocol.MAX_MUTATIONS:
        raise TooLarge(f"at most {protocol.MAX_MUTATIONS} mutations in one push; got {len(raw)}")
    mutations = sorted(wire.parse_mutations(raw), key=lambda m: m["seq"])
    seqs = [m["seq"] for m in mutations]
    if len(set(seqs)) != len(seqs):
        raise MalformedInput("a seq appears twice in one push")
    return mutations


# What a mutation's digest covers: everything parsed but its seq, named here once so that a
# parser that learns a new key later does not make every stored digest look like another mutation
# (which would turn honest replays into refusals).
_DIGESTED = (
    "op",
    "type",
    "id",
    "base_version",
    "fields",
    "conflict_id",
    "choice",
    "value",
    "client_time",
)


def digest(m: dict[str, Any]) -> str:
    """sha256 of a parsed mutation's canonical JSON: equal for a resend of the same outbox entry,
    different for another edit that reuses its seq."""
    canonical = json.dumps(
        {k: m.get(k) for k in _DIGESTED}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# session.info: the company's users were loaded into this session (by a push before, in its group).
_USERS_HELD = "satchel.push_users_held"


def push(session: Session, user: User, device: Device, body: Any) -> dict[str, Any]:
    """Apply a push's new mutations in order, once each; a replay gets its stored result.

    A seq at or below the device's last one is a replay only when it carries the same mutation
    (its digest matches, or the stored row predates digests). Otherwise the device's outbox was
    restored from a backup or copied to a second laptop and reuses numbers for edits the server
    never saw: the whole push is refused (``SequenceReused``) before anything is applied, with the
    results of the pushed seqs that did match, so the client can renumber the rest and resend.
    """
    mutations = parse_push(body, device)
    cursor = told.cursor_of(session, device.id)
    last = cursor.last_seq
    new = [m for m in mutations if m["seq"] > last]
    replayed = [m for m in mutations if m["seq"] <= last]
    stored: dict[int, PushResult] = {}
    later: _Later | None = session.info.get(_LATER)
    if replayed:
        if later is not None:
            _write_results(session, later)  # a push of the same laptop earlier in the group
        stored = {
            r.seq: r
            for r in session.execute(
                select(PushResult).where(
                    col(PushResult.device_id) == device.id,
                    col(PushResult.seq).in_([m["seq"] for m in replayed]),
                )
            ).scalars()
        }
    results = [
        stored[m["seq"]].result
        if m["seq"] in stored
        else {"seq": m["seq"], "status": "applied", "note": "applied earlier"}
        for m in replayed
    ]
    reused = [
        m["seq"]
        for m in replayed
        if m["seq"] in stored and stored[m["seq"]].digest not in (None, digest(m))
    ]
    if reused:
        raise SequenceReused(
            f"mutations {', '.join(map(str, reused[:10]))}{' …' if len(reused) > 10 else ''} reuse numbers the "
            f"server already used for other changes of this device (a laptop restored from a backup, or a copied "
            f"replica); number them from {last + 1} and push again",
            details={
                "expected": last + 1,
                "reused": reused,
                "results": [r for r in results if r["seq"] not in reused],
            },
        )
    if new and [m["seq"] for m in new] != list(range(last + 1, last + 1 + len(new))):
        raise SequenceGap(
            f"expected mutation {last + 1} next; resend from there", details={"expected": last + 1}
        )
    if new:
        # The version row locked, not raised: the first mutation that applies takes the version, so
        # a push whose every mutation is refused changes nothing, the data version included.
        changes.hold(session)
        changes.from_device(session, device.id)
        # Fields changed by others, for every record the push edits, in one query per type.
        # Nobody else writes while this transaction holds the version row, so they stay true.
        wanted = _edited(new)
        known = {
            (name, record_id): fields
            for name, ids in wanted.items()
            for record_id, fields in changes.many_field_versions(session, name, ids).items()
        }
        # Load the records the push touches, and the company's users (the rules look up owners
        # and assignees), in a few queries; held here, the session finds them without asking again.
        # Once per transaction: the pushes written with it in a group (``sync.group``) find them
        # in the session already.
        if _USERS_HELD not in session.info:
            session.info[_USERS_HELD] = list(session.execute(select(User)).scalars())
        # And the counterparties the records it writes are put under (a call, a new contact
        # person): each create asks whether its counterparty was merged away, and a person's
        # search keys copy its counterparty's owner — found in the session, not asked one by one.
        # Kept until the push is written: the session holds its objects only while something does.
        alive = _load(session, _with_parents(wanted, new))
        # Taken before applying: nothing downstream may change what was sent.
        taken = [digest(m) for m in new]
        applied = _apply_all(session, user, device, new, known, _free(session, new))
        if any(m.get("type") in _SIGHT_TYPES for m in new):
            # A user changed (disabled, say): the next push of the group asks for its device anew.
            accounts.forget_devices(session)
        now = utcnow()
        stored_results = [
            {"device_id": device.id, "seq": m["seq"], "result": result, "at": now, "digest": d}
            for m, result, d in zip(new, applied, taken, strict=True)
        ]
        results.extend(applied)
        if later is not None:
            later.results.extend(stored_results)
        else:
            session.execute(insert(PushResult), stored_results)
        # The laptop holds what it made and what it changed: both may be evicted later. A refused
        # mutation tells it nothing, and its id is not taken as known (a guessed id stays a guess).
        if told.keeps_told(user):
            done = [
                m
                for m, r in zip(new, stored_results, strict=True)
                if r["result"]["status"] != "refused"
            ]
            told.remember(
                session,
                device.id,
                [(m["type"], m["id"]) for m in done if m["op"] != "resolve"]
                + _resolved_records(
                    session, [m["conflict_id"] for m in done if m["op"] == "resolve"]
                ),
            )
        if later is not None:
            # Written with the group's (``group``); the session does not write it again.
            set_committed_value(cursor, "last_seq", new[-1]["seq"])
            later.cursors[device.id] = new[-1]["seq"]
        else:
            cursor.last_seq = new[-1]["seq"]
            session.add(cursor)
            session.flush()
        del alive
    version = changes.taken(session)
    if version is None:
        version = changes.current(session)[0]
    return {"last_seq": cursor.last_seq, "version": version, "results": results}


@contextmanager
def group(session: Session, pushes: list[tuple[str, Any]], trusting: bool) -> Iterator[None]:
    """The block pushes written together in one transaction run in (``sync.group``; ``pushes``:
    ``(device id, body)`` each).

    What each of them asks first is asked once for all: their devices (noted seen together), their
    cursors (locked in the order of their keys), the field versions of the records they edit, and
    those records with the counterparties they write under. Nothing is decided here: each push
    still checks everything itself and finds the answers in the session; a body too malformed to
    read is left for its push to refuse. The change log of the block is written at its end
    (``crm.changes.holding``). ``trusting`` (no savepoint a push: an error ends the whole write,
    see ``sync.group``): the push results, what the laptops were told and their cursors are held
    too, and written at the end in a statement each; a mutation a rule refuses fails the write.
    """
    device_ids = [device_id for device_id, _ in pushes if isinstance(device_id, str)]
    devices = accounts.hold_devices(session, device_ids)
    expected = {d: c.last_seq + 1 for d, c in told.lock_cursors(session, device_ids).items()}
    mutations: list[dict[str, Any]] = []
    doomed = False  # a push sure to be refused: the group is written guarded from the start
    for device_id, body in pushes:
        raw = body.get("mutations") if isinstance(body, dict) else None
        if not isinstance(raw, list) or len(raw) > protocol.MAX_MUTATIONS:
            doomed = True
            continue
        try:
            parsed = wire.parse_mutations(raw)
        except SatchelError:
            doomed = True
            continue
        mutations.extend(parsed)
        doomed = doomed or device_id not in devices or body.get("device_id") != device_id
        # A gap in the laptop's numbers (its pushes of the group in the order they are written).
        seqs = sorted(m["seq"] for m in parsed if m["seq"] >= expected.get(device_id, 1))
        if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            doomed = True
        elif seqs:
            doomed = doomed or seqs[0] != expected.get(device_id, 1)
            expected[device_id] = seqs[-1] + 1
    if trusting and doomed:
        # Written trusting, its refusal would roll back every push of the group's write.
        raise _Doomed
    wanted = _edited(mutations)
    changes.know_field_versions(session, wanted)
    # Kept for the transaction: the session holds its objects only while something else does.
    alive = _load(session, _with_parents(wanted, mutations))
    later = _Later() if trusting else None
    with changes.holding(session):
        if later is not None:
            session.info[_LATER] = later
            told.hold_told(session)
        yield
        if later is not None:
            _write_results(session, later)
            told.write_told(session)
            if later.cursors:
                session.connection().execute(
                    _SET_LAST_SEQ,
                    [{"device": d, "seq": seq} for d, seq in sorted(later.cursors.items())],
                )
    del alive


def after_group(database: Database, pushes: list[tuple[str, Any]]) -> None:
    """After a group of pushes (or one alone) is written (``sync.group``): its laptops noted seen,
    in a transaction of their own (``crm.accounts.note_seen`` says why) — only those this process
    has not noted in the last minute, so a laptop pushing often costs no write a push."""
    now = time.monotonic()
    due = [d for d, _ in pushes if isinstance(d, str) and now - _NOTED.get(d, -60.0) >= 60.0]
    if not due:
        return
    with database.write() as session:
        accounts.note_seen(session, due)
    if len(_NOTED) > 10_000:  # bounded: forgetting costs one more write for a laptop, no more
        _NOTED.clear()
    _NOTED.update(dict.fromkeys(due, now))


# When this process last noted each laptop seen (``after_group``); the database keeps the truth.
_NOTED: dict[str, float] = {}


class _Doomed(Exception):
    """A push of a group is sure to be refused: the group is written guarded (``sync.group``)."""


@dataclass
class _Later:
    """What pushes written trusting (``group``) write at the end of their group."""

    results: list[dict[str, Any]] = field(default_factory=list)
    cursors: dict[str, int] = field(default_factory=dict)  # device id: its last seq


_LATER = "satchel.push_later"
_CURSORS = DeviceCursor.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
_SET_LAST_SEQ = (
    update(_CURSORS)
    .where(_CURSORS.c.device_id == bindparam("device"))
    .values(last_seq=bindparam("seq"))
)


def _write_results(session: Session, later: _Later) -> None:
    if later.results:
        session.execute(insert(PushResult), later.results)
        later.results = []


def _edited(mutations: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The ids of the records ``mutations`` edit or delete, by type."""
    wanted: dict[str, list[str]] = {}
    for m in mutations:
        if m["op"] in ("update", "delete"):
            wanted.setdefault(m["type"], []).append(m["id"])
    return wanted


def _with_parents(
    wanted: dict[str, list[str]], mutations: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """``wanted`` and the counterparties ``mutations`` put records under."""
    under = sorted(_parents(mutations) - set(wanted.get("counterparties", ())))
    if not under:
        return wanted
    return {**wanted, "counterparties": [*wanted.get("counterparties", ()), *under]}


def _load(session: Session, wanted: dict[str, list[str]]) -> list[Any]:
    """The records ``wanted`` (ids by type) in the session, a query per type and 500 ids; those it
    holds already (a push of the same group loaded them) are not asked for again."""
    held: list[Any] = []
    for name, ids in wanted.items():
        model: Any = records.record_type(name).model
        ids = [i for i in ids if session.identity_map.get(identity_key(model, i)) is None]
        for start in range(0, len(ids), 500):
            held.extend(
                session.execute(
                    select(model).where(model.id.in_(ids[start : start + 500]))
                ).scalars()
            )
    return held


def _resolved_records(session: Session, conflict_ids: list[str]) -> list[tuple[str, str]]:
    """The records of the conflicts ``conflict_ids`` (a laptop resolving a deletion may restore one)."""
    if not conflict_ids:
        return []
    return [
        (row.record_type, row.record_id)
        for row in session.execute(
            select(col(Conflict.record_type), col(Conflict.record_id)).where(
                col(Conflict.id).in_(conflict_ids)
            )
        )
    ]


Known = dict[tuple[str, str], dict[str, tuple[int, str | None]]]
# The (type, id) of a push's creates whose id no record had when the push began (``_free``).
Free = frozenset[tuple[str, str]]


def _free(session: Session, new: list[dict[str, Any]]) -> Free:
    """The creates of ``new`` whose id is unused, asked in one query per type (``records.create``'s
    ``fresh``). Writers commit one at a time on the data version, which the push holds; a write
    not committed yet was invisible to a one-by-one lookup too, and the table's key refuses it
    either way. The push itself may take one of them — a create of the same id, a resolution
    restoring a record — so each pass takes an id as fresh once only and a resolution forgets
    them all (``_apply``)."""
    wanted: dict[str, list[str]] = {}
    for m in new:
        if m["op"] == "create" and isinstance(m.get("id"), str):
            wanted.setdefault(m["type"], []).append(m["id"])
    free: set[tuple[str, str]] = set()
    for name, ids in wanted.items():
        model: Any = records.record_type(name).model
        taken: set[str] = set()
        for start in range(0, len(ids), 500):
            taken.update(
                session.execute(
                    select(model.id).where(model.id.in_(ids[start : start + 500]))
                ).scalars()
            )
        free.update((name, i) for i in ids if i not in taken)
    return frozenset(free)


# Whether a push's mutations are first tried together (``_apply_all``); the tests switch it off to
# hold the two ways to the same results.
TOGETHER = True


class _Refused(Exception):
    """A mutation of a push written without a savepoint each was refused (``_apply_all``)."""


def _apply_all(
    session: Session,
    user: User,
    device: Device,
    new: list[dict[str, Any]],
    known: Known,
    free: Free = frozenset(),
) -> list[dict[str, Any]]:
    """The result of each mutation of ``new``, applied in order, each all or nothing.

    Most pushes are refused nothing, and a savepoint per mutation is two of its five or so round
    trips to the database. So the mutations are first applied together in one savepoint; only if
    one is refused is that savepoint rolled back and every mutation applied again in a savepoint of
    its own (``_apply_one``), the refused ones rolled back alone. Both ways give the same results.
    The change log of the mutations applied together is written together at the end
    (``crm.changes.holding``), and the user's access to the counterparties they concern is asked
    once for all of them (``crm.access.remembering``), again after any mutation that may change it.
    """
    if _LATER in session.info:
        return _apply_trusting(session, user, device, new, known, free)
    if TOGETHER and len(new) > 1:
        try:
            with (
                session.begin_nested(),
                changes.holding(session),
                access.remembering(session, user, _counterparties(session, new)),
            ):
                fast = []
                unused = set(free)
                for m in new:
                    try:
                        result = _apply(session, user, device, m, known, unused)
                        session.flush()
                    except (SatchelError, IntegrityError) as exc:
                        raise _Refused from exc
                    fast.append({"seq": m["seq"], **result})
                    if _may_change_sight(m):
                        access.forget(session)
                return fast
        except _Refused:
            accounts.forget_devices(session)
    unused = set(free)
    return [_apply_one(session, user, device, m, known, unused) for m in new]


def _apply_trusting(
    session: Session,
    user: User,
    device: Device,
    new: list[dict[str, Any]],
    known: Known,
    free: Free,
) -> list[dict[str, Any]]:
    """``_apply_all`` in a group written trusting (``group``): no savepoint; a mutation refused
    fails the group's write, which is written again guarded and refuses it there."""
    applied = []
    unused = set(free)
    remembered = (
        access.remembering(session, user, _counterparties(session, new))
        if len(new) > 1
        else nullcontext()
    )
    with remembered:
        for m in new:
            result = _apply(session, user, device, m, known, unused)
            session.flush()
            applied.append({"seq": m["seq"], **result})
            if _may_change_sight(m):
                access.forget(session)
    return applied


# Record types whose writes may change who sees or may change a counterparty (``crm.access``).
_SIGHT_TYPES = frozenset({"shares", "users", "teams", "absences"})


def _may_change_sight(m: dict[str, Any]) -> bool:
    """Whether, after ``m``, the user's access to counterparties must be asked again: a write of a
    share, a user, a team or an absence; a counterparty deleted or given another owner or
    visibility; a conflict resolved (its value may be any of those)."""
    if m["op"] == "resolve" or m["type"] in _SIGHT_TYPES:
        return True
    if m["type"] != "counterparties" or m["op"] == "create":
        return False
    scope = records.record_type("counterparties").scope_fields
    return m["op"] != "update" or bool(scope & set(m.get("fields") or {}))


def _parents(new: list[dict[str, Any]]) -> set[str]:
    """The counterparties the mutations of a push name in their fields."""
    ids: set[str] = set()
    for m in new:
        fields = m.get("fields") or {}
        if isinstance(fields.get("counterparty_id"), str):
            ids.add(fields["counterparty_id"])
        if fields.get("subject_type") == "counterparty" and isinstance(
            fields.get("subject_id"), str
        ):
            ids.add(fields["subject_id"])
    return ids


def _counterparties(session: Session, new: list[dict[str, Any]]) -> set[str]:
    """The counterparties the mutations of a push concern, but for those it creates: the user's
    access to them is asked once for all."""
    made = {m["id"] for m in new if m["op"] == "create" and m["type"] == "counterparties"}
    ids = _parents(new)  # those the mutations name
    for m in new:
        if m["op"] in ("resolve", "create"):
            continue
        if m["type"] == "counterparties":
            ids.add(m["id"])
            continue
        # Loaded with the push's records (``push``): found in the session without a query.
        record = session.get(records.record_type(m["type"]).model, m["id"])
        counterparty_id = getattr(record, "counterparty_id", None)
        if isinstance(counterparty_id, str):
            ids.add(counterparty_id)
    return ids - made


def _apply_one(
    session: Session,
    user: User,
    device: Device,
    m: dict[str, Any],
    known: Known,
    unused: set[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    try:
        with session.begin_nested():
            result = _apply(session, user, device, m, known, unused)
            session.flush()
    except SatchelError as exc:
        return {"seq": m["seq"], "status": "refused", "error": exc.to_dict()}
    except IntegrityError as exc:
        refusal = refused_by_keys(str(exc.orig), getattr(exc.orig, "sqlstate", None))
        return {"seq": m["seq"], "status": "refused", "error": refusal.to_dict()}
    return {"seq": m["seq"], **result}


def _apply(
    session: Session,
    user: User,
    device: Device,
    m: dict[str, Any],
    known: Known,
    unused: set[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Apply one mutation. ``unused``: the ids of creates still free (``_free``), each taken once:
    a second create of the same id in the push asks the database (and finds the first)."""
    if m["op"] == "resolve":
        if unused is not None:
            unused.clear()  # a resolution may restore a deleted record under its id: ask again
        resolve(session, user, m["conflict_id"], m["choice"], m["value"], device.id)
        return {"status": "applied"}
    m, note = _to_survivor(session, user, device, m)
    if note is not None:
        return {"status": "applied", "note": note}
    rt = records.record_type(m["type"])
    if m["op"] == "create":
        fresh = unused is not None and (rt.name, m["id"]) in unused
        if unused is not None:
            unused.discard((rt.name, m["id"]))
        records.create(session, user, rt, {**m["fields"], "id": m["id"]}, fresh=fresh)
        return {"status": "applied", "version": changes.allocate(session)}
    others = _others_changed(known.get((rt.name, m["id"]), {}), m["base_version"], device)
    if m["op"] == "update":
        return _update(session, user, device, rt, m, others)
    return _delete(session, user, device, rt, m, others)


def _to_survivor(
    session: Session, user: User, device: Device, m: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """A mutation made offline before its counterparty was merged into another, aimed at the
    survivor (``crm.merge``): an edit of the absorbed counterparty edits the survivor (with no base:
    every field it sends is applied, as the user meant it), a record created or moved under it
    goes under the survivor. A delete of it deletes nothing (the note says where it went). A
    survivor the user may not see is never named: an edit of the absorbed one is refused as
    merged into a counterparty they may not see (never an edit-of-deleted conflict, whose
    resolution would bring the duplicate back); a record created under it as under a missing one."""

    def survivor_of(counterparty_id: str) -> str | None:
        survivor = merge.survivor_of(session, counterparty_id)
        if survivor is None or not access.can_read_counterparty(session, user, survivor):
            return None
        return survivor

    fields = m.get("fields") or {}
    if m["type"] == "counterparties" and m["op"] in ("update", "delete"):
        if session.get(Counterparty, m["id"]) is None:
            survivor = survivor_of(m["id"])
            if survivor is None and merge.survivor_of(session, m["id"]) is not None:
                # Said only to a laptop that held it: to any other the id is as unknown as a made
                # up one (a merge must not tell a stranger that a hidden client existed).
                if not told.was_told(session, device.id, ("counterparties", m["id"])):
                    raise NotFound(f"counterparty {m['id']} not found")
                raise NotFound(
                    f"counterparty {m['id']} was merged into another one you may not see"
                )
            if survivor is not None:
                if m["op"] == "delete":
                    return m, f"counterparty {m['id']} was merged into {survivor}; that one stays"
                m = {**m, "id": survivor, "base_version": None}
        return m, None
    moved = dict(fields)
    for name in ("counterparty_id", "subject_id"):
        value = fields.get(name)
        if name == "subject_id" and fields.get("subject_type") != "counterparty":
            continue
        if isinstance(value, str) and session.get(Counterparty, value) is None:
            moved[name] = survivor_of(value) or value
    return ({**m, "fields": moved} if moved != fields else m), None


def _others_changed(
    fields: dict[str, tuple[int, str | None]], base: int | None, device: Device
) -> dict[str, tuple[int, str | None]]:
    """Of a record's field versions, those changed after ``base`` by another device than ``device``."""
    if base is None:
        return {}
    return {name: (v, dev) for name, (v, dev) in fields.items() if v > base and dev != device.id}


def _update(
    session: Session,
    user: User,
    device: Device,
    rt: records.RecordType,
    m: dict[str, Any],
    contested: dict[str, tuple[int, str | None]],
) -> dict[str, Any]:
    record = session.get(rt.model, m["id"])
    if record is None:
        return _edit_of_deleted(session, user, device, rt, m)
    seen, writable = access.sight(session, user, record)
    if not seen:
        raise NotFound(f"{rt.singular} {m['id']} not found, or you can no longer see it")
    if not writable and not access.may_change_own(user, record, m["fields"]):
        raise PermissionDenied(f"you may see but not change {rt.singular} {m['id']}")
    # A field no client may write (a class the server computes, an unknown name, a wrong type) is
    # refused whoever changed it last: it must not become a conflict to settle.
    records.check_fields(rt, m["fields"])
    current = records.to_dict(rt, record)
    clean = {k: v for k, v in m["fields"].items() if k not in contested}
    disputed = {k: v for k, v in m["fields"].items() if k in contested and v != current.get(k)}
    if clean:
        records.update(session, user, rt, m["id"], clean, record=record)
    conflict_ids = [
        _field_conflict(
            session,
            user,
            device,
            rt,
            record,
            current,
            name,
            value,
            contested[name],
            m["client_time"],
        )
        for name, value in disputed.items()
    ]
    if disputed and not clean:
        return {"status": "conflict", "conflicts": conflict_ids}
    result: dict[str, Any] = {"status": "applied", "version": changes.allocate(session)}
    if conflict_ids:
        result["conflicts"] = conflict_ids
    return result


def _field_conflict(
    session: Session,
    user: User,
    device: Device,
    rt: records.RecordType,
    record: Any,
    current: dict[str, Any],
    name: str,
    value: Any,
    server_change: tuple[int, str | None],
    client_time: str | None,
) -> str:
    """Open (or refresh this user's open) conflict on one field; the server's value stays."""
    existing = (
        session.execute(
            select(Conflict).where(
                col(Conflict.record_type) == rt.name,
                col(Conflict.record_id) == record.id,
                col(Conflict.field) == name,
                col(Conflict.status) == "open",
                col(Conflict.client_by) == user.id,
            )
        )
        .scalars()
        .first()
    )
    conflict = existing or Conflict(
        kind="field", record_type=rt.name, record_id=record.id, field=name, client_by=user.id
    )
    conflict.server_value = current.get(name)
    conflict.server_device = server_change[1]
    conflict.server_by = author(session, server_change[1]) or record.updated_by
    conflict.server_at = record.updated_at
    conflict.client_value = value
    conflict.client_device = device.id
    conflict.client_at = utcnow()
    conflict.client_time = client_time
    session.add(conflict)
    session.flush()
    return conflict.id


def _edit_of_deleted(
    session: Session, user: User, device: Device, rt: records.RecordType, m: dict[str, Any]
) -> dict[str, Any]:
    log = changes.log_entry(session, rt.name, m["id"])
    if (
        log is None
        or not log.deleted
        or not may_know_deleted(session, user, rt.name, log.tombstone or {})
    ):
        raise NotFound(f"{rt.singular} {m['id']} not found, or you can no longer see it")
    conflict = Conflict(
        kind="edit_deleted",
        record_type=rt.name,
        record_id=m["id"],
        server_value=None,
        server_at=log.changed_at,
        client_value=m["fields"],
        client_by=user.id,
        client_device=device.id,
        client_time=m["client_time"],
    )
    session.add(conflict)
    session.flush()
    return {"status": "conflict", "conflicts": [conflict.id]}


def _delete(
    session: Session,
    user: User,
    device: Device,
    rt: records.RecordType,
    m: dict[str, Any],
    contested: dict[str, tuple[int, str | None]],
) -> dict[str, Any]:
    record: Any = session.get(rt.model, m["id"])
    if record is None:
        log = changes.log_entry(session, rt.name, m["id"])
        # Only to who could have seen it: to anyone else a deleted record answers like a missing one.
        if (
            log is not None
            and log.deleted
            and may_know_deleted(session, user, rt.name, log.tombstone or {})
        ):
            return {"status": "applied", "note": "already deleted"}
        raise NotFound(f"{rt.singular} {m['id']} not found, or you can no longer see it")
    if not access.can_read(session, user, record):
        raise NotFound(f"{rt.singular} {m['id']} not found, or you can no longer see it")
    if not access.can_delete(session, user, record):
        raise PermissionDenied(f"you may see but not delete {rt.singular} {m['id']}")
    if contested:
        device_id = max(contested.values())[1]
        conflict = Conflict(
            kind="delete",
            record_type=rt.name,
            record_id=m["id"],
            server_value=records.to_dict(rt, record),
            server_device=device_id,
            server_by=author(session, device_id) or record.updated_by,
            server_at=record.updated_at,
            client_value=None,
            client_by=user.id,
            client_device=device.id,
            client_time=m["client_time"],
        )
        session.add(conflict)
        session.flush()
        return {"status": "conflict", "conflicts": [conflict.id]}
    records.delete(session, user, rt, m["id"])
    return {"status": "applied", "version": changes.allocate(session)}
