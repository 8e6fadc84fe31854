"""Likely duplicate counterparties, and merging one into another (``crm.duplicates``, ``crm.merge``).

``/duplicates`` lists the pairs among the counterparties the user may see, the surest first
(``crm.duplicates.scan`` scopes them by the user), and the groups of a company with its branches,
which are never merged. ``/duplicates/merge?survivor=A&absorbed=B`` shows both side by side with
what the survivor will keep (``crm.merge.merged_values``: a choice per field where taking the
duplicate's value would give another result) and what moves; it is shown only to whoever may merge
the two (``crm.merge.may_merge``: 404 for a counterparty one may not see, 403 otherwise). The POST
runs the home's ``merge`` (the server's: the domain's and the mail index's, in the screen's one
write transaction), which checks everything again; a refusal shows the form again with why,
nothing changed. A laptop has no ``merge``: every address here answers 404 there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import duplicates, records
from crm import merge as merging
from crm.errors import MalformedInput, NotFound, PermissionDenied, ValidationFailed
from crm.models import (
    Counterparty,
    CounterpartyMerge,
    User,
)
from crm.registry import Merged
from web import i18n, session
from web.home import Home, Merge
from web.visit import Visit, read_form, signed_in

COUNTERPARTIES = records.record_type("counterparties")
SHOWN = 100  # the surest pairs; the rest are counted
MAX_ID = 36
FIELDS = (*merging.SCALARS, *merging.UNITED)
# What ``moved`` of a merge counts, in the order the card says it (labels in duplicates.html / the card).


def _moved_kinds() -> list[str]:
    """The kinds of record a merge moves and the screens count (its grants are not counted)."""
    return [rt.name for rt in merging.moving(Merged.EACH, Merged.BULK)]


DIFFERENT_INNS = i18n.N_("Two different INNs are two legal entities: they are not merged.")
BRANCH = i18n.N_("The same INN with two KPPs is a head office and its branch: they are kept apart.")
ITSELF = i18n.N_("A counterparty is not merged into itself.")
MAY_NOT_MERGE = i18n.N_(
    "Only an administrator, the office, a manager of both owners or the owner of both merges "
    "counterparties."
)


def _merger(home: Home) -> Merge:
    if home.merge is None:
        raise NotFound("no merging here")
    return home.merge


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        _merger(visit.home)
        found = duplicates.scan(db, visit.user)
        pairs = found.candidates[:SHOWN]
        return visit.page(
            db,
            "duplicates.html",
            pairs=pairs,
            more=max(0, len(found.candidates) - len(pairs)),
            branches=found.branches,
            names=found.names,
        )

    return await signed_in(request, home, work)


@dataclass
class Row:
    """One field of the merge form: both sides, what an empty ``take`` keeps and what taking gives."""

    name: str
    survivor: Any
    absorbed: Any
    kept: Any  # the survivor's value after a merge that does not take this field
    taken: Any  # … after one that takes it
    choice: bool  # whether taking gives another value, so the form offers the choice


def _rows(survivor: Counterparty, absorbed: Counterparty) -> list[Row]:
    kept, _ = merging.merged_values(survivor, absorbed, set())
    rows = []
    for name in FIELDS:
        mine, theirs = getattr(survivor, name), getattr(absorbed, name)
        if name in merging.UNITED:
            mine, theirs = mine or [], theirs or []
        keep = kept.get(name, mine)
        take = merging.merged_values(survivor, absorbed, {name})[0].get(name, mine)
        if mine in (None, "", []) and theirs in (None, "", []):
            continue  # neither has it: nothing to show
        # Taking the duplicate's nothing would only blank the survivor's value: not offered.
        offered = keep != take and theirs not in (None, "", [])
        rows.append(Row(name, mine, theirs, keep, take, offered))
    return rows


def _moving(db: Session, absorbed_id: str) -> dict[str, int]:
    """How many records of each kind the merge moves (all of them, seen by the user or not)."""
    counts: dict[str, int] = {}
    for rt in merging.moving(Merged.EACH, Merged.BULK):
        name, model = rt.name, rt.model
        counts[name] = int(
            db.execute(
                select(func.count())
                .select_from(model)
                .where(col(model.counterparty_id) == absorbed_id)  # type: ignore[attr-defined]
            ).scalar_one()
        )
    return counts


def _ids(survivor_id: str, absorbed_id: str) -> None:
    if not survivor_id or not absorbed_id:
        raise MalformedInput("name the survivor and the duplicate to merge into it")
    if len(survivor_id) > MAX_ID or len(absorbed_id) > MAX_ID:
        raise NotFound("no such counterparty")
    if survivor_id == absorbed_id:
        raise ValidationFailed("a counterparty is not merged into itself")


def _form(
    db: Session,
    visit: Visit,
    survivor_id: str,
    absorbed_id: str,
    take: set[str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    _merger(visit.home)
    _ids(survivor_id, absorbed_id)
    survivor = records.get(db, visit.user, COUNTERPARTIES, survivor_id)
    absorbed = records.get(db, visit.user, COUNTERPARTIES, absorbed_id)
    if not merging.may_merge(db, visit.user, survivor, absorbed):
        raise PermissionDenied(
            "only an administrator, the office, a manager of both owners or the owner of both "
            "merges counterparties"
        )
    owners = {o for o in (survivor.owner_id, absorbed.owner_id) if o}
    who = (
        dict(
            db.execute(
                select(col(User.id), col(User.full_name)).where(col(User.id).in_(owners))
            ).all()
        )
        if owners
        else {}
    )
    return visit.page(
        db,
        "merge.html",
        status_code=status_code,
        survivor=survivor,
        absorbed=absorbed,
        rows=_rows(survivor, absorbed),
        take=take or set(),
        who=who,
        moving=_moving(db, absorbed.id),
        moved_kinds=_moved_kinds(),
        error=error,
    )


async def merge_form(request: Request, home: Home) -> Response:
    survivor_id = request.query_params.get("survivor", "")
    absorbed_id = request.query_params.get("absorbed", "")
    return await signed_in(
        request, home, lambda db, visit: _form(db, visit, survivor_id, absorbed_id)
    )


def _why(exc: ValidationFailed | PermissionDenied, gettext: Any) -> str:
    """A refusal in the user's language: the domain's known ones by their details, else its words."""
    details = exc.details if isinstance(exc, ValidationFailed) else None
    if isinstance(details, dict) and "inn" in details:
        return gettext(DIFFERENT_INNS)
    if isinstance(details, dict) and "kpp" in details:
        return gettext(BRANCH)
    if exc.message == "a counterparty is not merged into itself":
        return gettext(ITSELF)
    if exc.message.startswith("only an administrator, the office,"):
        return gettext(MAY_NOT_MERGE)
    if isinstance(details, dict) and details:
        return "; ".join(f"{k}: {i18n.problem(str(v), gettext)}" for k, v in details.items())
    return i18n.problem(exc.message, gettext)


async def merge(request: Request, home: Home) -> Response:
    form = await read_form(request)
    survivor_id = str(form.get("survivor", "")).strip()
    absorbed_id = str(form.get("absorbed", "")).strip()
    # ``take_<field>=1`` for each field whose duplicate's value wins (the form's radios);
    # ``take`` names more, as the API's list does (an unknown one is the domain's to refuse).
    take = {name for name in FIELDS if form.get(f"take_{name}") == "1"}
    take |= {str(t)[:64] for t in form.getlist("take")}

    def work(db: Session, visit: Visit) -> Response:
        merger = _merger(visit.home)
        _ids(survivor_id, absorbed_id)
        row = merger(db, visit.user, survivor_id, absorbed_id, take)
        return visit.redirect(f"/counterparties/{survivor_id}?merged={row.id}")

    try:
        return await signed_in(request, home, work, write=True, form=form)
    except (ValidationFailed, PermissionDenied) as exc:
        if isinstance(exc, PermissionDenied) and not _csrf_passed(request, form):
            raise  # a refused form (token, origin) is not a refused merge: no form to show again
        failure = exc
        status = 403 if isinstance(exc, PermissionDenied) else 422
        return await signed_in(
            request,
            home,
            lambda db, visit: _form(
                db,
                visit,
                survivor_id,
                absorbed_id,
                take & set(FIELDS),
                _why(failure, visit.gettext),
                status,
            ),
        )


def _csrf_passed(request: Request, form: Any) -> bool:
    token = session.session_token(request)
    return bool(
        token
        and session.same_origin(request)
        and session.csrf_ok(token, form.get(session.CSRF_FIELD))
    )


def history(db: Session, user: User, counterparty_id: str) -> list[dict[str, Any]]:
    """The merges into a counterparty ``user`` sees, newest first, as the card says them."""
    rows: list[CounterpartyMerge] = merging.explain(db, user, counterparty_id)
    people = {r.merged_by for r in rows}
    who = (
        dict(
            db.execute(
                select(col(User.id), col(User.full_name)).where(col(User.id).in_(people))
            ).all()
        )
        if people
        else {}
    )
    return [
        {
            "id": r.id,
            "name": (r.absorbed or {}).get("legal_name") or "",
            "at": r.merged_at,
            "by": who.get(r.merged_by, ""),
            "moved": [(kind, r.moved[kind]) for kind in _moved_kinds() if r.moved.get(kind)],
        }
        for r in rows
    ]
