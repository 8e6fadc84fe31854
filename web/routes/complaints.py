"""The complaints journal on the screens (issue 15): the list, a new complaint from a card, and a
complaint taken into work, resolved or rejected with a small form.

Through the home's ``create``/``update`` (``crm.records``), so a laptop queues them for sync and the
rules are the API's: whoever sees a card registers a complaint on it (it goes to the card's owner
unless the form says otherwise), its responsible person or whoever may change the card works it,
and a resolved or rejected one needs what was done and its cause (``crm.rules.check_complaint``),
asked beside the status and refused beside that very field when missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import access, records
from crm.errors import VersionConflict
from crm.models import Complaint, Counterparty, User
from crm.models.enums import ComplaintCause, ComplaintStatus, ComplaintSubject
from crm.rules import COMPLAINT_MOVES
from web import i18n
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

COMPLAINTS = records.record_type("complaints")
COUNTERPARTIES = records.record_type("counterparties")
PEOPLE = records.record_type("contact-persons")
OPEN = (ComplaintStatus.NEW.value, ComplaintStatus.IN_WORK.value)
SUBJECTS = [s.value for s in ComplaintSubject]
CAUSES = [c.value for c in ComplaintCause]
# The open ones on the list, the oldest deadline first; and the latest closed ones below them.
MAX_OPEN = 200
MAX_CLOSED = 50
NEW_FIELDS = ("subject", "product", "description", "contact_person_id", "deadline")


def today(home: Home) -> date:
    return datetime.now(ZoneInfo(home.timezone)).date()


@dataclass(frozen=True)
class Listed:
    open: list[Complaint]
    open_total: int
    closed: list[Complaint]


def journal(db: Session, user: User, *, mine: bool) -> Listed:
    """The complaints ``user`` may see (``mine``: those they answer for): open ones by deadline,
    then the most recently closed."""
    only = {"responsible_id": user.id} if mine else {}
    opened = records.list_records(
        db,
        user,
        COMPLAINTS,
        filters={**only, "status__in": ",".join(OPEN)},
        sort="deadline",
        limit=MAX_OPEN,
    )
    closed = records.list_records(
        db,
        user,
        COMPLAINTS,
        filters={**only, "status__in": "resolved,rejected"},
        sort="-updated_at",
        limit=MAX_CLOSED,
        count=False,
    )
    return Listed(opened.items, opened.total, closed.items)


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
    listed = journal(db, visit.user, mine=mine)
    every = [*listed.open, *listed.closed]
    return visit.page(
        db,
        "complaints.html",
        status_code=status_code,
        listed=listed,
        mine=mine,
        today=today(visit.home),
        moves={c.id: sorted(COMPLAINT_MOVES.get(c.status, ())) for c in listed.open},
        causes=CAUSES,
        counterparties=_names(
            db, Counterparty, Counterparty.legal_name, {c.counterparty_id for c in every}
        ),
        people=_names(db, User, User.full_name, {c.responsible_id for c in every}),
        writable={c.id for c in listed.open if access.can_write(db, visit.user, c)},
        errors=errors or {},
        typed=typed or {},
    )


async def show(request: Request, home: Home) -> Response:
    mine = request.query_params.get("mine") == "1"
    return await signed_in(request, home, lambda db, visit: _page(db, visit, mine=mine))


async def move(request: Request, home: Home) -> Response:
    """Take a complaint into work, or close it (resolved or rejected) with its resolution and cause."""
    complaint_id = request.path_params["complaint_id"]
    form = await read_form(request)
    values = {n: str(form.get(n, "")).strip() for n in ("status", "resolution", "cause")}
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None
    mine = str(form.get("mine", "")) == "1"
    back = "/complaints?mine=1" if mine else "/complaints"

    def work(db: Session, visit: Visit) -> Response:
        data: dict[str, Any] = {"status": values["status"]}
        if values["status"] not in OPEN:
            data["resolution"] = values["resolution"] or None
            data["cause"] = values["cause"] or None
        home.update(db, visit.user, COMPLAINTS, complaint_id, data, version)
        return visit.redirect(f"{back}#complaint-{complaint_id}")

    def again(
        db: Session, visit: Visit, errors: dict[str, str], status_code: int = 422
    ) -> Response:
        return _page(
            db,
            visit,
            mine=mine,
            status_code=status_code,
            typed={complaint_id: values},
            errors={complaint_id: errors},
        )

    try:
        return await written(request, home, work, form=form, again=again, whole="status")
    except VersionConflict:
        stale = i18n.N_("Someone changed this complaint meanwhile; here it is as it stands now.")
        return await signed_in(
            request,
            home,
            lambda db, visit: again(db, visit, {"status": i18n.problem(stale, visit.gettext)}, 409),
        )


def _new_page(
    db: Session,
    visit: Visit,
    cp_id: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    cp = records.get(db, visit.user, COUNTERPARTIES, cp_id)  # 404 for a card one may not see
    people = records.list_records(
        db, visit.user, PEOPLE, filters={"counterparty_id": cp.id}, limit=records.MAX_PAGE
    ).items
    errors = errors or {}
    return visit.page(
        db,
        "complaint_new.html",
        status_code=status_code,
        cp=cp,
        people=people,
        subjects=SUBJECTS,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in NEW_FIELDS},
    )


async def new(request: Request, home: Home) -> Response:
    cp_id = request.path_params["record_id"]
    values = dict.fromkeys(NEW_FIELDS, "") | {"subject": ComplaintSubject.PRODUCT.value}
    return await signed_in(request, home, lambda db, visit: _new_page(db, visit, cp_id, values))


async def create(request: Request, home: Home) -> Response:
    """A new complaint of a counterparty: responsible its owner, due in ten days unless typed."""
    cp_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in NEW_FIELDS}
    data: dict[str, Any] = {
        "counterparty_id": cp_id,
        "description": values["description"],  # even blank: the rules say so with the rest
        **{k: v for k, v in values.items() if v and k != "description"},
    }

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, COUNTERPARTIES, cp_id)  # 404 before any field talk
        home.create(db, visit.user, COMPLAINTS, data)
        return visit.redirect(f"/counterparties/{cp_id}#complaints")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _new_page(db, visit, cp_id, values, errors, 422)

    return await written(request, home, work, form=form, again=again)
