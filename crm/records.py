"""The record service: every create, update and delete of a domain record goes through here.

Callers (the REST API, imports, the demo, later the sync engine and the mail
bridge) hand in plain values and the acting user; this module coerces the
values, applies the rules of ``crm.rules``, checks ``crm.access``, keeps the
audit fields and the row version, and maintains the search index. It raises a
domain error on any refusal; the caller's transaction then rolls back, so a
refused request changes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticError
from sqlalchemy import ColumnElement, Numeric, false, func, or_, select, true
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlmodel import Session, SQLModel, col

from crm import access, changes, rules, search, validation
from crm.errors import AlreadyExists, NotFound, PermissionDenied, ValidationFailed, VersionConflict
from crm.models import (
    Claim,
    Complaint,
    ContactPerson,
    Contract,
    Counterparty,
    Deal,
    EventCost,
    EventParticipant,
    Interaction,
    Invoice,
    Mailing,
    MailingRecipient,
    MarketingEvent,
    Payment,
    PriceItem,
    Receivable,
    Reminder,
    Sale,
    SalesSummary,
    Share,
    SupplierTerms,
    Team,
    User,
    utcnow,
)
from crm.models.base import SYSTEM_FIELDS, construct, to_jsonable
from crm.models.enums import MailingStatus, Role

# Record types are declared in crm.registry; most callers find them here.
from crm.registry import RECORD_TYPES as RECORD_TYPES
from crm.registry import RecordType as RecordType
from crm.registry import Sight


def _visible_children(model: Any, actor: User) -> ColumnElement[bool]:
    if actor.role in (Role.ADMIN, Role.OFFICE):
        # They see every counterparty; "IN (all of them)" would only cost the planner its index order.
        return true()
    return model.counterparty_id.in_(
        select(col(Counterparty.id)).where(access.visible_counterparties(actor))
    )


def visible(rt: RecordType, actor: User) -> ColumnElement[bool]:
    """SQL condition for the rows of ``rt`` that ``actor`` may see (its ``sight``)."""
    model: Any = rt.model
    if rt.sight is Sight.COUNTERPARTY:
        return access.visible_counterparties(actor)
    if rt.sight is Sight.ITS_COUNTERPARTY:
        if not rt.people:
            return _visible_children(model, actor)
        if actor.role in (Role.ADMIN, Role.OFFICE):
            return true()
        return or_(
            *(getattr(model, name) == actor.id for name in rt.people),
            _visible_children(model, actor),
        )
    return true()  # users and teams: everybody sees their colleagues


def record_type(name: str) -> RecordType:
    try:
        return RECORD_TYPES[name]
    except KeyError:
        raise NotFound(f"no such record type: {name}") from None


@cache
def _adapter(model: type[SQLModel], name: str) -> TypeAdapter[Any]:
    annotation = model.model_fields[name].annotation
    assert annotation is not None, (
        f"{model.__name__}.{name} has no annotation"
    )  # a model field always has one
    return TypeAdapter(annotation)


@cache
def _max_length(model: type[SQLModel], name: str) -> int | None:
    for item in model.model_fields[name].metadata:
        if getattr(item, "max_length", None) is not None:
            return int(item.max_length)
    return None


@cache
def _scale(model: type[SQLModel], name: str) -> int | None:
    """The scale of a NUMERIC (money) column, None for other columns."""
    column = getattr(model, "__table__").columns.get(name)  # noqa: B009 - SQLModel's stubs lack it
    return column.type.scale if column is not None and isinstance(column.type, Numeric) else None


# PostgreSQL's INTEGER; no count, duration or probability comes near it.
_INT_MAX = 2**31 - 1
# Checks of single fields that are about the value alone, not the record.
_FIELD_CHECKS: dict[tuple[type[SQLModel], str], Callable[[Any], Any]] = {
    (Deal, "currency"): validation.currency_code,
}


# Money typed by people (a form, a laptop, a script) taken only as written out in digits, as the
# sales imports take it (``crm.trade``): "1,5E+3" is a cell Excel showed rounded, not a sum. The
# API's deal amounts keep taking a JSON number's every spelling ("1E+2"), as they always have.
_WRITTEN_OUT: frozenset[tuple[type[SQLModel], str]] = frozenset(
    {(MarketingEvent, "budget"), (EventCost, "amount")}
)


def _has_nul(raw: Any) -> bool:
    """Whether any text in ``raw`` (a value, or a list or object of them) holds NUL, which
    PostgreSQL cannot store even inside JSON."""
    stack = [raw]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def coerce(rt: RecordType, name: str, raw: Any) -> Any:
    """A wire value as the Python value of field ``name``; ``ValueError`` says why not.

    A blank string for an optional field means "no value", so that a cleared
    cell and an absent one are stored alike. Whatever a database could not store
    as given is refused here, before it gets there: text with NUL, times outside
    the years 1900–2200, integers beyond 32 bits, inexact amounts of money.
    """
    info = rt.model.model_fields[name]
    if isinstance(raw, str) and not raw.strip() and not info.is_required() and info.default is None:
        return None
    if _has_nul(raw):
        raise ValueError("must not contain a NUL character (\\u0000)")
    if (rt.model, name) in _WRITTEN_OUT and isinstance(raw, str):
        validation.plain_money_text(raw)  # "1,5E+3" is no amount of money: as sales refuse it
    try:
        value = _adapter(rt.model, name).validate_python(raw)
    except PydanticError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a time must carry its UTC offset, e.g. 2026-11-23T10:00:00+03:00 or ...Z")
    if isinstance(value, date):
        validation.check_year(value)
    if type(value) is int and not -_INT_MAX <= value <= _INT_MAX:
        raise ValueError(f"must be between {-_INT_MAX} and {_INT_MAX}")
    scale = _scale(rt.model, name)
    if isinstance(value, Decimal) and scale is not None:
        value = validation.exact_money(value, scale)
    limit = _max_length(rt.model, name)
    if isinstance(value, str) and limit is not None and len(value) > limit:
        raise ValueError(f"at most {limit} characters; got {len(value)}")
    check = _FIELD_CHECKS.get((rt.model, name))
    return check(value) if check is not None and value is not None else value


def _coerce_all(
    rt: RecordType, data: dict[str, Any], *, creating: bool, actor: User | None = None
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object of field values")
    problems: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if name == "id" and creating:
            try:
                values["id"] = str(uuid.UUID(str(raw)))
            except ValueError:
                problems["id"] = "must be a UUID"
        elif name in SYSTEM_FIELDS:
            problems[name] = "is set by the server and cannot be written"
        elif name not in rt.writable:
            problems[name] = (
                "is kept by the server and cannot be written"
                if name in rt.model.model_fields and name not in rt.hidden
                else f"unknown field of {rt.singular}"
            )
        else:
            try:
                values[name] = coerce(rt, name, raw)
            except ValueError as exc:
                problems[name] = str(exc)
    if creating:
        for name in rt.actor_defaults:
            if values.get(name) is None and actor is not None:
                values[name] = actor.id
        for name in rt.writable:
            if rt.model.model_fields[name].is_required() and values.get(name) is None:
                problems.setdefault(name, "is required")
    if problems:
        raise ValidationFailed(
            f"{rt.singular} has invalid fields: {', '.join(sorted(problems))}", details=problems
        )
    return values


def check_fields(rt: RecordType, data: dict[str, Any]) -> None:
    """``ValidationFailed`` listing every field of an edit that may not be written as given
    (unknown, kept by the server, of the wrong type), before anything else is decided."""
    _coerce_all(rt, data, creating=False)


def to_dict(rt: RecordType, record: Any) -> dict[str, Any]:
    return {name: to_jsonable(getattr(record, name)) for name in rt.fields()}


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def converters(name: str) -> tuple[Callable[[Any], Any] | None, ...]:
    """Per field of a type (``fields()``'s order), how its column's value becomes JSON as ``to_dict``
    makes it (None: as it is), for rows read without the ORM (a bootstrap, a pull): ``to_jsonable``
    on every value of a 100,000-record bootstrap costs seconds; deciding once per column, nothing."""
    rt = record_type(name)
    out: list[Callable[[Any], Any] | None] = []
    for field in rt.fields():
        column_type = rt.model.__table__.c[field].type  # type: ignore[attr-defined]
        python_type = getattr(column_type, "impl", column_type).python_type
        if python_type is datetime:
            out.append(_iso_utc)
        elif python_type is date:
            out.append(date.isoformat)
        elif python_type is Decimal:
            out.append(str)
        else:
            out.append(None)
    return tuple(out)


def row_dict(name: str, row: Sequence[Any]) -> dict[str, Any]:
    """``to_dict`` of a record read as a row of its ``fields()``' columns, in that order."""
    return {
        field: convert(value) if convert is not None and value is not None else value
        for field, convert, value in zip(_fields(name), converters(name), row, strict=True)
    }


@cache
def _fields(name: str) -> tuple[str, ...]:
    return tuple(record_type(name).fields())


def get(session: Session, actor: User, rt: RecordType, record_id: str) -> Any:
    """The record, or ``NotFound`` when it does not exist or ``actor`` may not see it."""
    record = session.get(rt.model, record_id)
    if record is None or not access.can_read(session, actor, record):
        raise NotFound(f"{rt.singular} {record_id} not found")
    return record


def _reindex(record: Any, session: Session, *, new: bool = False) -> None:
    if isinstance(record, Counterparty | ContactPerson):
        search.reindex(session, record, new=new)


def _taken(session: Session, rt: RecordType, record_id: str, fresh: bool) -> bool:
    """Whether ``record_id`` is taken. ``fresh``: the caller knows no record has it — a push asks
    once for all its creates, holding the data version, and passes each id found free as fresh
    once only (``sync.push._free``) — so the database is not asked again."""
    if fresh:
        return False
    return session.get(rt.model, record_id) is not None


def create(
    session: Session,
    actor: User,
    rt: RecordType,
    data: dict[str, Any],
    *,
    memo: access.Memo | None = None,
    batched: bool = False,
    restoring: bool = False,
    fresh: bool = False,
) -> Any:
    """Create one record. ``create_many`` passes its cache of access checks as ``memo``
    and ``batched``: it flushes and raises the data version once for the whole batch.
    ``restoring`` brings back a deleted record as it was (its owner too): allowed
    when ``actor`` may create it, or could change it as it comes back
    (``access.can_restore``); the caller has checked that ``actor`` could see it
    before it was deleted."""
    values = _coerce_all(rt, data, creating=True, actor=actor)
    if "id" in values and _taken(session, rt, values["id"], fresh):
        raise AlreadyExists(f"{rt.singular} {values['id']} already exists")
    # One create asks each question of sight once: here, in the rules and in the access check.
    memo = access.Memo() if memo is None else memo
    _unseen_counterparty(session, actor, rt, values, memo)
    record: Any = construct(rt.model, **values)
    now = utcnow()
    record.created_at = record.updated_at = now
    record.created_by = record.updated_by = actor.id
    rules.run_check(rt.check, session, actor, record, memo)
    allowed = (
        access.can_restore(session, actor, record)
        if restoring
        else access.can_create(session, actor, record, memo)
    )
    if not allowed:
        _hidden_parent(session, actor, record)
        raise PermissionDenied(
            f"you may not {'restore' if restoring else 'create'} this {rt.singular}"
        )
    session.add(record)
    if not batched:
        session.flush()  # a single create reports a database refusal here, not at commit
        changes.bump(session)
    # A new record has no search keys yet (a deleted one's went with it; a restored one may differ).
    _reindex(record, session, new=not restoring)
    return record


def validate_new(session: Session, actor: User, rt: RecordType, data: dict[str, Any]) -> None:
    """Raise ``ValidationFailed`` as ``create`` would for ``data``, creating nothing (a form that
    warns of something else first — a likely duplicate — reports the rules' problems before it)."""
    values = _coerce_all(rt, data, creating=True, actor=actor)
    _unseen_counterparty(session, actor, rt, values)
    with session.no_autoflush:
        rules.run_check(rt.check, session, actor, construct(rt.model, **values))


MAX_BATCH = 1000


def create_many(
    session: Session, actor: User, rt: RecordType, items: list[dict[str, Any]]
) -> list[Any]:
    """Create every record of ``items`` or none: the problems of all of them are reported together.

    ``details`` of the raised ``ValidationFailed`` maps ``"<index>.<field>"`` (or
    ``"<index>"``) to the problem, so a client can point at the very row.
    """
    if not isinstance(items, list) or not items:
        raise ValidationFailed('send {"items": [...]} with at least one record')
    if len(items) > MAX_BATCH:
        raise ValidationFailed(f"at most {MAX_BATCH} records in one batch; got {len(items)}")
    created: list[Any] = []
    problems: dict[str, Any] = {}
    # Records of these types cannot change who sees what, so one access check per
    # counterparty serves the whole batch. The inserts go out together at the end.
    memo = None if rt.model in (Counterparty, Share, User, Team) else access.Memo()
    if memo is not None and "counterparty_id" in rt.writable:
        wanted = {
            d["counterparty_id"]
            for d in items
            if isinstance(d, dict) and isinstance(d.get("counterparty_id"), str)
        }
        memo.prefetch(session, actor, wanted, write=rt.model in (ContactPerson, Deal))
        if rt.model in (ContactPerson, Deal):  # and whether they see them at all
            memo.prefetch(session, actor, wanted, write=False)
    counts = Counter(str(d["id"]) for d in items if isinstance(d, dict) and d.get("id") is not None)
    repeated = {i for i, n in counts.items() if n > 1}
    with session.no_autoflush:
        for index, data in enumerate(items):
            if isinstance(data, dict) and str(data.get("id")) in repeated:
                problems[str(index)] = f"id {data['id']} appears more than once in the batch"
                continue
            try:
                created.append(create(session, actor, rt, data, memo=memo, batched=True))
            except ValidationFailed as exc:
                if isinstance(exc.details, dict):
                    problems.update(
                        {f"{index}.{name}": message for name, message in exc.details.items()}
                    )
                else:
                    problems[str(index)] = exc.message
            except (PermissionDenied, AlreadyExists) as exc:
                problems[str(index)] = exc.message
    if problems:
        raise ValidationFailed(
            f"{len({k.split('.')[0] for k in problems})} of {len(items)} {rt.name} refused; "
            "nothing was created",
            details=problems,
        )
    session.flush()
    changes.bump(session)
    return created


def update(
    session: Session,
    actor: User,
    rt: RecordType,
    record_id: str,
    data: dict[str, Any],
    *,
    expected_version: int | None = None,
    record: Any = None,
) -> Any:
    """Apply a partial update. ``expected_version`` guards against overwriting a newer edit.

    ``record`` is the stored record when the caller has already checked that
    ``actor`` may change it (the sync engine); otherwise it is looked up and checked here.
    """
    values = _coerce_all(rt, data, creating=False)
    if record is None:
        record = get(session, actor, rt, record_id)
        if not access.can_write(session, actor, record) and not access.may_change_own(
            actor, record, values
        ):
            raise PermissionDenied(f"you may see but not change {rt.singular} {record_id}")
    if expected_version is not None and record.version != expected_version:
        raise VersionConflict(
            f"{rt.singular} {record_id} is at version {record.version}, "
            f"not {expected_version}; reload it and edit again",
            details={"current_version": record.version},
        )
    if values.get("counterparty_id") not in (None, getattr(record, "counterparty_id", None)):
        _unseen_counterparty(session, actor, rt, values)
    before = to_dict(rt, record)
    with session.no_autoflush:  # the rules' lookups must not write a half-checked record
        for name, value in values.items():
            setattr(record, name, value)
        rules.run_check(rt.check, session, actor, record)
    # Compared after the rules normalised the values: "8 (916)…" over "+7916…" is no change.
    after = to_dict(rt, record)
    changed = [name for name in after if after[name] != before[name]]
    if not changed:
        return record
    if isinstance(record, Counterparty):
        _check_hand_over(session, actor, record_id, before, after)
    record.version += 1
    record.updated_at = utcnow()
    record.updated_by = actor.id
    session.flush()
    if any(name in rt.relations for name in changed) and not access.can_create(
        session, actor, record
    ):
        _hidden_parent(session, actor, record)
        moved = [name for name in changed if name in rt.relations]
        if any(name in ("counterparty_id", "subject_type", "subject_id") for name in moved):
            raise PermissionDenied(f"you may not move {rt.singular} {record_id} there")
        raise PermissionDenied(
            f"you may not give {rt.singular} {record_id} to that person ({', '.join(moved)}): "
            "only their manager or an admin does"
        )
    changes.bump(session)
    if rt.keyed_by & set(changed):
        _reindex(record, session)
    return record


def _unseen_counterparty(
    session: Session,
    actor: User,
    rt: RecordType,
    values: dict[str, Any],
    memo: access.Memo | None = None,
) -> None:
    """A record put under a counterparty ``actor`` does not see is refused before any rule looks
    at it, in the words and with the one problem of a counterparty that does not exist: a rule
    (a participant entered once, a supplier's terms, a contact person of that client) must not
    tell a stranger that the hidden client exists or what it has (docs/access.md). Creating any
    record under a counterparty needs to see it (``access.can_create``)."""
    counterparty_id = values.get("counterparty_id")
    if (
        counterparty_id is None
        or rt.model is Counterparty
        or "counterparty_id" not in rt.writable
        or access.can_read_counterparty(session, actor, counterparty_id, memo)
    ):
        return
    raise ValidationFailed(
        f"{rt.model.__name__} is not valid: counterparty_id",
        details={"counterparty_id": f"no Counterparty with id {counterparty_id}"},
    )


def _hidden_parent(session: Session, actor: User, record: Any) -> None:
    """A refused write whose counterparty ``actor`` may not see answers as if it did not exist.

    (docs/access.md: a record you may not see looks missing — its id must not
    tell a stranger that it exists.) The same words as ``crm.rules`` for a missing one.
    """
    counterparty_id = (
        record.id if isinstance(record, Counterparty) else getattr(record, "counterparty_id", None)
    )
    if counterparty_id is None or isinstance(record, Counterparty):
        return
    if not access.can_read_counterparty(session, actor, counterparty_id):
        if isinstance(record, Reminder) and record.subject_id is not None:
            # Its subject is what the caller named: the counterparty behind it must not show.
            subject = rules.REMINDER_SUBJECTS[str(record.subject_type)].__name__
            raise ValidationFailed(
                f"{type(record).__name__} is not valid: subject_id",
                details={"subject_id": f"no {subject} with id {record.subject_id}"},
            )
        raise ValidationFailed(
            f"{type(record).__name__} is not valid: counterparty_id",
            details={"counterparty_id": f"no Counterparty with id {counterparty_id}"},
        )


def _check_hand_over(
    session: Session, actor: User, record_id: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Owner and visibility of a counterparty are its owner's say (docs/access.md), not every editor's."""
    if after["owner_id"] != before["owner_id"] and not access.may_hand_over(
        session, actor, before["owner_id"], after["owner_id"]
    ):
        if after["owner_id"] is None:
            raise ValidationFailed(
                "a counterparty always has a responsible person",
                details={"owner_id": "is required"},
            )
        raise PermissionDenied(
            f"only a manager of both salespeople or an admin hands counterparty {record_id} "
            "to another owner"
        )
    if after["visibility"] != before["visibility"] and not access.may_set_visibility(
        session, actor, before["owner_id"]
    ):
        raise PermissionDenied(
            f"only the owner of counterparty {record_id}, their manager or an admin "
            "changes who sees it"
        )


# What goes with a record when it is deleted, in the order it must go.
_DEPENDENTS: dict[type, list[tuple[type, str]]] = {
    Counterparty: [
        (Reminder, "counterparty_id"),
        (Interaction, "counterparty_id"),
        (Complaint, "counterparty_id"),
        (Deal, "counterparty_id"),
        (EventParticipant, "counterparty_id"),
        (ContactPerson, "counterparty_id"),
        (Share, "counterparty_id"),
        (SalesSummary, "counterparty_id"),
        (Receivable, "counterparty_id"),
        (SupplierTerms, "counterparty_id"),
        (Contract, "counterparty_id"),
        (Claim, "counterparty_id"),
    ],
    # An event's cost lines and participants go with it; its deals stay, naming no event.
    MarketingEvent: [(EventCost, "event_id"), (EventParticipant, "event_id")],
}


def delete(
    session: Session,
    actor: User,
    rt: RecordType,
    record_id: str,
    *,
    expected_version: int | None = None,
) -> None:
    record = get(session, actor, rt, record_id)
    if not access.can_delete(session, actor, record):
        raise PermissionDenied(f"you may see but not delete {rt.singular} {record_id}")
    if expected_version is not None and record.version != expected_version:
        raise VersionConflict(
            f"{rt.singular} {record_id} is at version {record.version}, not {expected_version}",
            details={"current_version": record.version},
        )
    if isinstance(record, User | Team):
        raise PermissionDenied(
            f"a {rt.singular} is disabled, not deleted, so that history keeps its author"
        )
    if isinstance(record, Mailing) and record.status != MailingStatus.DRAFT.value:
        raise ValidationFailed(
            f"mailing {record_id} is queued: its letters are in the clients' history, so it stays",
            details={"status": "a queued mailing is not deleted"},
        )
    _delete(session, record)
    changes.bump(session)


def remove(session: Session, record: Any) -> None:
    """Delete ``record`` (with what goes with it) as ``delete`` does, for a caller that has decided
    by rules of its own that the actor may (``crm.merge``: whoever may merge two counterparties)."""
    _delete(session, record)
    changes.bump(session)


def _delete(session: Session, record: Any) -> None:
    # A mailing's note of whom it wrote to goes with the client (and its letters); when only the
    # person goes, it stays without them. (The server's: a laptop's replica holds no such table.)
    server = changes.on_server(session)
    if server and isinstance(record, Counterparty):
        session.execute(
            sql_delete(MailingRecipient)
            .where(col(MailingRecipient.counterparty_id) == record.id)
            .execution_options(synchronize_session=False)
        )
    elif server and isinstance(record, ContactPerson):
        session.execute(
            sql_update(MailingRecipient)
            .where(col(MailingRecipient.contact_person_id) == record.id)
            .values(contact_person_id=None)
            .execution_options(synchronize_session=False)
        )
    for model, column in _DEPENDENTS.get(type(record), []):
        for child in session.execute(
            select(model).where(getattr(model, column) == record.id)
        ).scalars():
            _delete(session, child)
    if isinstance(record, ContactPerson):
        for model in (Interaction, Complaint):
            for item in session.execute(
                select(model).where(col(model.contact_person_id) == record.id)
            ).scalars():
                item.contact_person_id = None
        # Their client stays at the events they went to, unless it is there without them already.
        for guest in session.execute(
            select(EventParticipant).where(col(EventParticipant.contact_person_id) == record.id)
        ).scalars():
            twin = session.execute(
                select(col(EventParticipant.id)).where(
                    col(EventParticipant.event_id) == guest.event_id,
                    col(EventParticipant.counterparty_id) == guest.counterparty_id,
                    col(EventParticipant.contact_person_id).is_(None),
                )
            ).first()
            if twin is None:
                guest.contact_person_id = None
                guest.version += 1
                guest.updated_at = utcnow()
            else:
                session.delete(guest)
    if isinstance(record, MarketingEvent):
        for deal in session.execute(select(Deal).where(col(Deal.event_id) == record.id)).scalars():
            deal.event_id = None
            deal.version += 1
            deal.updated_at = utcnow()
    if isinstance(record, Counterparty) and changes.on_server(session):
        # Its shipments and invoices go with it (the monthly totals and the receivable above,
        # through the change log); its
        # payments go back to the unmatched (crm.trade.match_payments).
        session.execute(sql_delete(Sale).where(col(Sale.counterparty_id) == record.id))
        session.execute(sql_delete(Invoice).where(col(Invoice.counterparty_id) == record.id))
        session.execute(sql_delete(PriceItem).where(col(PriceItem.counterparty_id) == record.id))
        session.execute(
            sql_update(Payment)
            .where(col(Payment.counterparty_id) == record.id)
            .values(counterparty_id=None)
        )
    if isinstance(record, Counterparty | ContactPerson):
        search.reindex(session, record, deleted=True)
    session.delete(record)
    session.flush()


@dataclass
class Page:
    items: list[Any]
    total: int
    limit: int
    offset: int


MAX_PAGE = 500
# Both databases take a 64-bit OFFSET; nobody pages a billion records deep.
MAX_OFFSET = 10**9


def _visible_within(
    session: Session, rt: RecordType, actor: User, counterparty_id: str
) -> ColumnElement[bool]:
    """``visible(rt, actor)`` for rows whose ``counterparty_id`` is ``counterparty_id`` (the caller's filter).

    The rule asked once, of that one counterparty (a primary-key lookup), instead of
    for every row as ``counterparty_id IN (<every counterparty the actor sees>)``,
    which SQLite answered by reading all the counterparties on every list of one
    card's children. The rows found are exactly those ``visible`` gives.
    """
    if session.autoflush:
        session.flush()  # as the list's own query would: the check sees the session's pending changes
    if access.can_read_counterparty(session, actor, counterparty_id):
        return true()
    if rt.people:
        model: Any = rt.model
        return or_(*(getattr(model, name) == actor.id for name in rt.people))
    return false()


# At most this many values in one ``field__in`` filter.
MAX_IN = 50


def list_records(
    session: Session,
    actor: User,
    rt: RecordType,
    *,
    filters: dict[str, str] | None = None,
    q: str | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
    count: bool = True,
) -> Page:
    """One page of the records ``actor`` may see, filtered, searched and sorted.

    ``filters`` maps a field to a value (equality) or ``field__gte``/``field__lt`` etc. to a bound,
    or ``field__in`` to values separated by commas (any of them, at most ``MAX_IN``);
    a value of "" or "null" asks for records without one, and is no bound. ``q`` over the
    bounds of ``search.check_query``, an offset over ``MAX_OFFSET`` and the like are
    refused with ``ValidationFailed`` before any query runs.

    ``total`` is counted only when the page is full (a shorter page tells it), and not at
    all with ``count=False``: then a full page's ``total`` is -1 (unknown).
    """
    model: Any = rt.model
    conds: list[ColumnElement[bool]] = [visible(rt, actor)]
    problems: dict[str, str] = {}
    within: str | None = None  # the counterparty of an equality filter on counterparty_id
    for key, raw in (filters or {}).items():
        name, _, op = key.partition("__")
        if name not in rt.filters or op not in ("", "gte", "gt", "lte", "lt", "in"):
            problems[key] = f"cannot filter {rt.name} by {key}; filters: {', '.join(rt.filters)}"
            continue
        column = getattr(model, name)
        if op == "in":
            values = raw.split(",")
            if not raw or len(values) > MAX_IN:
                problems[key] = f"needs 1 to {MAX_IN} values separated by commas"
                continue
            try:
                wanted = [coerce(rt, name, v) for v in values]
            except ValueError as exc:
                problems[key] = str(exc)
                continue
            if any(v is None or isinstance(v, bool) for v in wanted):
                problems[key] = "needs values; a yes/no field is filtered by equality"
                continue
            conds.append(column.in_(wanted))
            continue
        if raw in ("", "null"):
            # "No value" is something to be equal to, not a bound.
            if op:
                problems[key] = "a range filter needs a value"
            else:
                conds.append(column.is_(None))
            continue
        try:
            value = coerce(rt, name, raw)
        except ValueError as exc:
            problems[key] = str(exc)
            continue
        if value is None:  # a blank optional value
            problems[key] = "needs a value; send field=null for records without one"
            continue
        if op and isinstance(value, bool):
            problems[key] = "a yes/no field has no range; filter by equality"
            continue
        ops = {
            "": column.__eq__,
            "gte": column.__ge__,
            "gt": column.__gt__,
            "lte": column.__le__,
            "lt": column.__lt__,
        }
        conds.append(ops[op](value))
        if name == "counterparty_id" and not op:
            within = value
    if q:
        try:
            cond = search.condition_for(model, q, actor)
        except ValueError as exc:
            problems["q"] = str(exc)
            cond = true()
        if cond is None:
            problems["q"] = f"{rt.name} cannot be searched"
        else:
            # The search index applies the same access rule to its own copy of owner and
            # visibility; repeating it on the records made PostgreSQL scan them all.
            conds[0] = cond
    sort = sort or rt.default_sort
    if sort.lstrip("-") not in rt.sorts:
        problems["sort"] = f"cannot sort by {sort}; sorts: {', '.join(rt.sorts)}"
    if not 1 <= limit <= MAX_PAGE:
        problems["limit"] = f"must be between 1 and {MAX_PAGE}"
    if not 0 <= offset <= MAX_OFFSET:
        problems["offset"] = f"must be between 0 and {MAX_OFFSET}"
    if problems:
        raise ValidationFailed(
            f"bad list request for {rt.name}: {', '.join(sorted(problems))}", details=problems
        )
    if (
        within is not None
        and not q
        and rt.sight is Sight.ITS_COUNTERPARTY
        and actor.role not in (Role.ADMIN, Role.OFFICE)
    ):
        conds[0] = _visible_within(session, rt, actor, within)
    column = getattr(model, sort.lstrip("-"))
    order = [column.desc() if sort.startswith("-") else column.asc(), model.id.asc()]
    stmt = select(model).where(*conds)
    items = list(session.execute(stmt.order_by(*order).limit(limit).offset(offset)).scalars())
    if len(items) < limit and (items or offset == 0):
        total = offset + len(items)  # the last page: nothing beyond it to count
    elif count:
        total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    else:
        total = -1
    return Page(items=items, total=total, limit=limit, offset=offset)
