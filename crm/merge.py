"""Merging duplicate counterparties: one survives and absorbs the other's history.

``merge(session, actor, survivor_id, absorbed_id, take=…)``, in the caller's transaction:

* **Who.** An administrator or the office (they keep the base clean), a manager of both
  owners, or a salesperson who owns both — and in every case only someone who may see
  both. Two different INNs are two legal entities, and the same INN with two KPPs is a
  head office and its branch: neither is merged.
* **The survivor's values.** Each field keeps the survivor's value, or takes the
  absorbed one's where the survivor has none; ``take`` names the fields whose absorbed
  value wins. Kinds, tags and typed contacts are united; two different notes are both
  kept. The result is written through ``crm.records.update`` — the rules and the hand-over
  and visibility checks apply to the final values as for any edit.
* **What moves.** Every record that belongs to the absorbed counterparty — contact persons,
  interactions (letters with their threads), deals, reminders, complaints, shares: each record
  type says how in its declaration (``crm.registry``, ``RecordType.merged``) — is re-pointed to
  the survivor, each a new version in the change log, so laptops pull the move; a share the survivor already
  grants the same person or team is dropped, not doubled. Derived rows outside the domain
  (the mail bridge's index) are the caller's to move (``server.merging``).
* **The absorbed counterparty** is then deleted (a tombstone: laptops drop it) and a
  ``CounterpartyMerge`` row says who merged it, when, its last values, what the survivor
  took and how many records moved. A laptop's offline edit to it, or a record it created
  under it, is later applied to the survivor (``survivor_of``; ``sync.push``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from crm import access, changes, invoices, records, registry, search, trade
from crm.errors import PermissionDenied, ValidationFailed
from crm.models import (
    ContactPerson,
    Counterparty,
    CounterpartyMerge,
    EventParticipant,
    Invoice,
    MailingRecipient,
    Payment,
    PriceItem,
    Reminder,
    Sale,
    Share,
    SupplierTerms,
    User,
    utcnow,
)
from crm.models.enums import Role
from crm.registry import Merged, RecordType

# Fields a merge decides: what a client may write of a counterparty (the rest — id, versions,
# authors, derived search names — are the survivor's). Lists are united, the rest chosen.
UNITED = ("kinds", "tags", "contacts")
SCALARS = tuple(
    name for name in records.record_type("counterparties").writable if name not in UNITED
)


def moving(*how: Merged) -> list[RecordType]:
    """The record types a merge re-points in one of the ways ``how`` (``RecordType.merged``), in
    their registration order."""
    return [rt for rt in registry.RECORD_TYPES.values() if rt.merged in how]


_CHAIN = 50  # merges followed from an id to its survivor, at most


def may_merge(
    session: Session, actor: User, survivor: Counterparty, absorbed: Counterparty
) -> bool:
    """Whether ``actor`` may merge ``absorbed`` into ``survivor`` (both already visible to them)."""
    if actor.role in (Role.ADMIN, Role.OFFICE):
        return True
    for owner_id in {survivor.owner_id, absorbed.owner_id}:
        if owner_id == actor.id:
            continue
        owner = session.get(User, owner_id) if owner_id else None
        if owner is None or not access.may_manage(actor, owner):
            return False
    return True


def _distinct(survivor: Counterparty, absorbed: Counterparty) -> None:
    if survivor.inn and absorbed.inn and survivor.inn != absorbed.inn:
        raise ValidationFailed(
            f"different INNs ({survivor.inn} and {absorbed.inn}): two legal entities are not merged",
            details={"inn": "differs"},
        )
    if survivor.inn and survivor.inn == absorbed.inn and survivor.kpp and absorbed.kpp:
        if survivor.kpp != absorbed.kpp:
            raise ValidationFailed(
                f"the same INN with two KPPs ({survivor.kpp}, {absorbed.kpp}) is a head office and its "
                "branch: they are kept apart",
                details={"kpp": "differs"},
            )


def _united(first: list[Any], second: list[Any], key: Any = None) -> list[Any]:
    seen: set[Any] = set()
    out: list[Any] = []
    for item in [*first, *second]:
        marker = key(item) if key else item
        if marker not in seen:
            seen.add(marker)
            out.append(item)
    return out


def merged_values(
    survivor: Counterparty, absorbed: Counterparty, take: set[str]
) -> tuple[dict[str, Any], list[str]]:
    """The survivor's new values, and the fields it took from ``absorbed`` (sorted)."""
    unknown = take - set(SCALARS) - set(UNITED)
    if unknown:
        raise ValidationFailed(
            f"take: unknown fields {', '.join(sorted(unknown))}",
            details={"take": f"choose among {', '.join(SCALARS)}"},
        )
    values: dict[str, Any] = {}
    taken: list[str] = []
    for name in SCALARS:
        mine, theirs = getattr(survivor, name), getattr(absorbed, name)
        if theirs in (None, ""):
            continue  # an empty value never blanks the survivor's, even when asked to take it
        if name in take or mine in (None, ""):
            if theirs != mine:
                values[name], taken = theirs, [*taken, name]
        elif name == "notes" and mine and theirs and theirs.strip() not in mine:
            values[name] = f"{mine}\n\n{theirs}"
            taken.append(name)
    for name in UNITED:
        mine, theirs = getattr(survivor, name) or [], getattr(absorbed, name) or []
        key = (lambda c: (c.get("kind"), c.get("value"))) if name == "contacts" else None
        together = theirs if name in take and theirs else _united(mine, theirs, key)
        if together != mine:
            values[name] = together
            taken.append(name)
    return values, sorted(set(taken))


def merge(
    session: Session,
    actor: User,
    survivor_id: str,
    absorbed_id: str,
    *,
    take: set[str] | None = None,
) -> CounterpartyMerge:
    """Merge ``absorbed_id`` into ``survivor_id`` as ``actor`` (see the module's rules)."""
    rt = records.record_type("counterparties")
    if survivor_id == absorbed_id:
        raise ValidationFailed("a counterparty is not merged into itself")
    survivor = records.get(session, actor, rt, survivor_id)
    absorbed = records.get(session, actor, rt, absorbed_id)
    if not may_merge(session, actor, survivor, absorbed):
        raise PermissionDenied(
            "only an administrator, the office, a manager of both owners or the owner of both "
            "merges counterparties"
        )
    _distinct(survivor, absorbed)
    before = records.to_dict(rt, absorbed)
    values, taken = merged_values(survivor, absorbed, take or set())
    moved: dict[str, int] = {}
    now = utcnow()
    held = {
        (s.user_id, s.team_id)
        for s in session.execute(
            select(Share).where(col(Share.counterparty_id) == survivor_id)
        ).scalars()
    }
    with session.no_autoflush:
        for rt_moved in moving(Merged.BULK):
            name, model = rt_moved.name, rt_moved.model
            # Thousands of letters and calls: one UPDATE and their change log, not an object each.
            ids = list(
                session.execute(
                    select(col(model.id)).where(col(model.counterparty_id) == absorbed_id)  # type: ignore[attr-defined]
                ).scalars()
            )
            if not ids:
                continue
            session.execute(
                update(model)
                .where(col(model.counterparty_id) == absorbed_id)  # type: ignore[attr-defined]
                .values(
                    counterparty_id=survivor_id,
                    version=col(model.version) + 1,  # type: ignore[attr-defined]
                    updated_at=now,
                    updated_by=actor.id,
                )
                .execution_options(synchronize_session=False)
            )
            changes.log_moved(session, model, ids, survivor_id)
            moved[name] = len(ids)
        # One by one, and grants last: the survivor's own grants win.
        for rt_moved in (*moving(Merged.EACH), *moving(Merged.GRANT)):
            name, model = rt_moved.name, rt_moved.model
            rows = list(
                session.execute(
                    select(model).where(col(model.counterparty_id) == absorbed_id)  # type: ignore[attr-defined]
                ).scalars()
            )
            count = 0
            for row in rows:
                if isinstance(row, Share) and (row.user_id, row.team_id) in held:
                    session.delete(row)  # the survivor grants it already
                    continue
                row.counterparty_id = survivor_id
                row.version += 1
                row.updated_at, row.updated_by = now, actor.id
                count += 1
            if count:
                moved[name] = count
        # A reminder about the absorbed counterparty itself (not only under it) is about the survivor.
        for reminder in session.execute(
            select(Reminder).where(
                col(Reminder.subject_type) == "counterparty",
                col(Reminder.subject_id) == absorbed_id,
            )
        ).scalars():
            reminder.subject_id = survivor_id
            if reminder.counterparty_id != survivor_id:  # moved above when it was under it
                reminder.version += 1
                reminder.updated_at, reminder.updated_by = now, actor.id
        # Its shipments and payments are the survivor's (the books do not change with a merge);
        # both sales summaries are rewritten from them. Deleting it would otherwise take its sales.
        sold = session.execute(
            update(Sale)
            .where(col(Sale.counterparty_id) == absorbed_id)
            .values(counterparty_id=survivor_id, updated_at=now, updated_by=actor.id)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # a DML result is a CursorResult
        if sold:
            moved["sales"] = sold
        paid = session.execute(
            update(Payment)
            .where(col(Payment.counterparty_id) == absorbed_id)
            .values(counterparty_id=survivor_id)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if paid:
            moved["payments"] = paid
        # The letters of mailings it got moved with its history: their recipients follow (a
        # mailing's record of whom it wrote to; the survivor is that client now).
        session.execute(
            update(MailingRecipient)
            .where(col(MailingRecipient.counterparty_id) == absorbed_id)
            .values(counterparty_id=survivor_id)
            .execution_options(synchronize_session=False)
        )
        # Its invoices too; the survivor's are settled anew by both clients' payments, and the
        # absorbed one's receivable goes (it owes nothing now). One invoice imported under both
        # (the same number and day) is kept once, the survivor's.
        kept = {
            (number, day)
            for number, day in session.execute(
                select(col(Invoice.number), col(Invoice.issued_on)).where(
                    col(Invoice.counterparty_id) == survivor_id
                )
            )
        }
        for twin in session.execute(
            select(Invoice).where(col(Invoice.counterparty_id) == absorbed_id)
        ).scalars():
            if (twin.number, twin.issued_on) in kept:
                session.delete(twin)
        session.flush()
        billed = session.execute(
            update(Invoice)
            .where(col(Invoice.counterparty_id) == absorbed_id)
            .values(
                counterparty_id=survivor_id,
                version=col(Invoice.version) + 1,
                updated_at=now,
                updated_by=actor.id,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if billed:
            moved["invoices"] = billed
        _move_supplier(session, actor, survivor_id, absorbed_id, moved, now)
        _move_participants(session, actor, survivor_id, absorbed_id, moved, now)
    session.flush()
    if sold:
        trade.refresh_summaries(session, [survivor_id, absorbed_id])
    if billed or paid:
        invoices.settle(session, [survivor_id, absorbed_id])
    for person in session.execute(
        select(ContactPerson).where(col(ContactPerson.counterparty_id) == survivor_id)
    ).scalars():
        search.reindex(session, person)
    records.remove(session, absorbed)  # nothing of it is left under it: only its tombstone goes
    if values:
        records.update(session, actor, rt, survivor_id, values, record=survivor)
    row = CounterpartyMerge(
        absorbed_id=absorbed_id,
        survivor_id=survivor_id,
        absorbed=before,
        taken=taken,
        moved=moved,
        merged_by=actor.id,
        merged_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _move_supplier(
    session: Session,
    actor: User,
    survivor_id: str,
    absorbed_id: str,
    moved: dict[str, int],
    now: Any,
) -> None:
    """A supplier's terms and price list (issue 15): the survivor keeps its own terms (the
    absorbed one's are deleted) or takes the absorbed one's when it has none; the price lines
    move, but for one the survivor has already (the same product and day)."""
    terms = session.execute(
        select(SupplierTerms).where(col(SupplierTerms.counterparty_id) == absorbed_id)
    ).scalar_one_or_none()
    if terms is not None:
        if session.execute(
            select(col(SupplierTerms.id)).where(col(SupplierTerms.counterparty_id) == survivor_id)
        ).first():
            session.delete(terms)
        else:
            terms.counterparty_id = survivor_id
            terms.version += 1
            terms.updated_at, terms.updated_by = now, actor.id
            moved["supplier-terms"] = 1
    kept = {
        (key, str(day)[:10])
        for key, day in session.execute(
            select(col(PriceItem.product_key), col(PriceItem.valid_from)).where(
                col(PriceItem.counterparty_id) == survivor_id
            )
        )
    }
    count = 0
    for item in session.execute(
        select(PriceItem).where(col(PriceItem.counterparty_id) == absorbed_id)
    ).scalars():
        if (item.product_key, str(item.valid_from)[:10]) in kept:
            session.delete(item)
            continue
        item.counterparty_id = survivor_id
        item.version += 1
        item.updated_at, item.updated_by = now, actor.id
        count += 1
    session.flush()
    if count:
        moved["price-items"] = count


def _move_participants(
    session: Session,
    actor: User,
    survivor_id: str,
    absorbed_id: str,
    moved: dict[str, int],
    now: Any,
) -> None:
    """Events' participants (issue 15) move to the survivor, but for one whose event and person the
    survivor has already (the participant's key): the survivor's stays, the absorbed one's goes."""
    kept = {
        (event_id, person_id)
        for event_id, person_id in session.execute(
            select(col(EventParticipant.event_id), col(EventParticipant.contact_person_id)).where(
                col(EventParticipant.counterparty_id) == survivor_id
            )
        )
    }
    count = 0
    for guest in session.execute(
        select(EventParticipant).where(col(EventParticipant.counterparty_id) == absorbed_id)
    ).scalars():
        if (guest.event_id, guest.contact_person_id) in kept:
            session.delete(guest)
            continue
        kept.add((guest.event_id, guest.contact_person_id))
        guest.counterparty_id = survivor_id
        guest.version += 1
        guest.updated_at, guest.updated_by = now, actor.id
        count += 1
    session.flush()
    if count:
        moved["event-participants"] = count


def survivor_of(session: Session, counterparty_id: str) -> str | None:
    """The counterparty that absorbed ``counterparty_id`` (through a chain of merges), or None."""
    current, seen = counterparty_id, {counterparty_id}
    for _ in range(_CHAIN):
        found = session.execute(
            select(col(CounterpartyMerge.survivor_id)).where(
                col(CounterpartyMerge.absorbed_id) == current
            )
        ).scalar_one_or_none()
        if found is None or found in seen:
            break
        current = found
        seen.add(found)
    return None if current == counterparty_id else current


def explain(session: Session, actor: User, counterparty_id: str) -> list[CounterpartyMerge]:
    """The merges into ``counterparty_id`` (which ``actor`` must see), and into the counterparties it
    absorbed before them (a chain: A into B, then B into it), newest first."""
    records.get(session, actor, records.record_type("counterparties"), counterparty_id)
    found: list[CounterpartyMerge] = []
    wanted, seen = [counterparty_id], {counterparty_id}
    for _ in range(_CHAIN):
        if not wanted:
            break
        rows = list(
            session.execute(
                select(CounterpartyMerge).where(col(CounterpartyMerge.survivor_id).in_(wanted))
            ).scalars()
        )
        found += rows
        wanted = [r.absorbed_id for r in rows if r.absorbed_id not in seen]
        seen.update(wanted)
    return sorted(found, key=lambda r: (r.merged_at, r.id), reverse=True)
