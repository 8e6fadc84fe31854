"""The deals board: a column per stage, a deal moved to another stage with a small form.

Deals are read and changed through ``crm.records`` (the home's ``update``), so a
salesperson's board holds only the deals of counterparties they see, and a move
is refused where an edit would be. A deal marked lost must say why
(``crm.rules.check_deal``); the reason is asked beside the stage, and a refusal
is shown beside the field of that very deal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import access, claims, records
from crm.errors import PermissionDenied, VersionConflict
from crm.models import Counterparty, Deal, MarketingEvent, User
from crm.models.enums import DealStage
from web import i18n
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

DEALS = records.record_type("deals")
STAGES = [s.value for s in DealStage]
PER_STAGE = 100  # the newest of each column; a stage with more says how many more there are
EVENTS_OFFERED = 100  # the newest marketing events a new deal may name


@dataclass(frozen=True)
class Step:
    """One move of a deal's stage history (``Deal.stages``), as the board shows it."""

    stage: str
    at: datetime | None
    by: str


def history(deal: Deal, people: dict[str, str]) -> list[Step]:
    steps = []
    for entry in deal.stages or ():
        if not isinstance(entry, dict):
            continue
        try:
            at: datetime | None = datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            at = None
        steps.append(Step(str(entry.get("stage", "")), at, people.get(entry.get("by") or "", "")))
    return steps


@dataclass(frozen=True)
class Column:
    stage: str
    deals: list[Deal]
    total: int


def board(db: Session, user: User, mine: bool) -> list[Column]:
    columns = []
    for stage in STAGES:
        filters = {"stage": stage} | ({"owner_id": user.id} if mine else {})
        found = records.list_records(
            db, user, DEALS, filters=filters, sort="-updated_at", limit=PER_STAGE
        )
        columns.append(Column(stage, found.items, found.total))
    return columns


def _names(db: Session, model: Any, name: Any, ids: set[str | None]) -> dict[str, str]:
    wanted = ids - {None}
    return (
        dict(db.execute(select(model.id, name).where(col(model.id).in_(wanted))).all())
        if wanted
        else {}
    )


def _page(
    db: Session,
    visit: Visit,
    *,
    mine: bool,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    columns = board(db, visit.user, mine)
    deals = [d for c in columns for d in c.deals]
    movers = {e.get("by") for d in deals for e in d.stages or () if isinstance(e, dict)}
    people = _names(db, User, User.full_name, {d.owner_id for d in deals} | movers)
    return visit.page(
        db,
        "deals.html",
        status_code=status_code,
        columns=columns,
        stages=STAGES,
        mine=mine,
        counterparties=_names(
            db, Counterparty, Counterparty.legal_name, {d.counterparty_id for d in deals}
        ),
        owners=people,
        histories={d.id: history(d, people) for d in deals},
        writable={d.id for d in deals if access.can_write(db, visit.user, d)},
        errors=errors or {},
        typed=typed or {},
    )


async def show(request: Request, home: Home) -> Response:
    mine = request.query_params.get("mine") == "1"
    return await signed_in(request, home, lambda db, visit: _page(db, visit, mine=mine))


async def move(request: Request, home: Home) -> Response:
    """Move a deal to another stage; to ``lost`` only with a reason."""
    deal_id = request.path_params["deal_id"]
    form = await read_form(request)
    stage = str(form.get("stage", ""))
    reason = str(form.get("lost_reason", "")).strip()
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None
    mine = str(form.get("mine", "")) == "1"
    typed = {deal_id: {"stage": stage, "lost_reason": reason}}
    back = "/deals?mine=1" if mine else "/deals"

    def work(db: Session, visit: Visit) -> Response:
        data: dict[str, Any] = {"stage": stage}
        if stage == DealStage.LOST or reason:
            data["lost_reason"] = reason or None
        home.update(db, visit.user, DEALS, deal_id, data, version)
        return visit.redirect(f"{back}#deal-{deal_id}")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _page(db, visit, mine=mine, status_code=422, typed=typed, errors={deal_id: errors})

    try:
        return await written(request, home, work, form=form, again=again, whole="stage")
    except VersionConflict:
        stale = i18n.N_("Someone changed this deal meanwhile; here it is as it stands now.")
        return await signed_in(
            request,
            home,
            lambda db, visit: _page(
                db,
                visit,
                mine=mine,
                status_code=409,
                errors={deal_id: {"stage": visit.gettext(stale)}},
            ),
        )


NEW_FIELDS = ("title", "amount", "currency", "expected_close", "probability", "source")


def _new_page(
    db: Session,
    visit: Visit,
    cp_id: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    cp = records.get(db, visit.user, records.record_type("counterparties"), cp_id)
    if not access.can_write(
        db, visit.user, cp
    ):  # a deal follows its counterparty: only seen, no form
        raise PermissionDenied(f"you may see but not change counterparty {cp_id}")
    errors = errors or {}
    return visit.page(
        db,
        "deal_new.html",
        status_code=status_code,
        cp=cp,
        # A deal on a client someone else holds for a group (crm.claims): said, not refused.
        claimed_by_others=claims.held_by_others(db, visit.user, cp.id),
        values=values,
        errors=errors,
        fields=NEW_FIELDS,
        other_errors={k: v for k, v in errors.items() if k not in (*NEW_FIELDS, "event_id")},
        # The event that brought it (crm.marketing counts what events earned): the newest ones.
        events=list(
            db.execute(
                select(col(MarketingEvent.id), col(MarketingEvent.name))
                .order_by(col(MarketingEvent.starts_on).desc(), col(MarketingEvent.name))
                .limit(EVENTS_OFFERED)
            )
        ),
    )


async def new(request: Request, home: Home) -> Response:
    cp_id = request.path_params["record_id"]
    values = dict.fromkeys(NEW_FIELDS, "") | {
        "currency": "RUB",
        "event_id": str(request.query_params.get("event", ""))[:36],
    }
    return await signed_in(request, home, lambda db, visit: _new_page(db, visit, cp_id, values))


async def create(request: Request, home: Home) -> Response:
    """A new deal of a counterparty, at stage ``new``, owned by whoever creates it."""
    cp_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in (*NEW_FIELDS, "event_id")}
    data: dict[str, Any] = {"counterparty_id": cp_id, **{k: v for k, v in values.items() if v}}
    if "amount" in data:  # typed the Russian way: "125 000,50"
        data["amount"] = data["amount"].replace(" ", "").replace("\u00a0", "").replace(",", ".")

    def work(db: Session, visit: Visit) -> Response:
        records.get(
            db, visit.user, records.record_type("counterparties"), cp_id
        )  # 404 before any field talk
        home.create(db, visit.user, DEALS, data)
        return visit.redirect(f"/counterparties/{cp_id}#history")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _new_page(db, visit, cp_id, values, errors, 422)

    return await written(request, home, work, form=form, again=again)
