"""Marketing events (issue 15): the list with what each earned, an event's page — its cost lines,
participants and deals — and the forms that add an event, a cost line, an invitation, and move a
participant from invited to registered, attended or declined.

Everything goes through the home's ``create``/``update`` (``crm.records``), so a laptop queues the
edits for sync and the API's rules apply (``crm.rules``, ``crm.access``): the event's owner, their
manager, the office and an admin keep an event and its costs; whoever sees a client invites it. A
refusal is shown beside the form's field, in the user's language. What an event earned is
``crm.marketing``'s answer over what the user sees.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import access, marketing, records
from crm.errors import ValidationFailed
from crm.models import Counterparty, EventParticipant
from crm.models.enums import EventKind, ParticipantStatus
from web.home import Home
from web.i18n import N_
from web.visit import Visit, read_form, signed_in, written

EVENTS = records.record_type("events")
COSTS = records.record_type("event-costs")
PARTICIPANTS = records.record_type("event-participants")
COUNTERPARTIES = records.record_type("counterparties")
EVENTS_NAV = N_("Events")
KINDS = [k.value for k in EventKind]
STATUSES = [s.value for s in ParticipantStatus]
KIND_NAMES = {
    "exhibition": N_("Exhibition"),
    "seminar": N_("Seminar"),
    "promotion": N_("Promotion"),
    "advertising": N_("Advertising"),
    "mailing": N_("Mailing"),
}
STATUS_NAMES = {
    "invited": N_("invited"),
    "registered": N_("registered"),
    "attended": N_("attended"),
    "declined": N_("declined"),
}
EVENT_FIELDS = ("name", "kind", "starts_on", "ends_on", "place", "budget")
COST_FIELDS = ("item", "amount", "spent_on")
INVITE_FIELDS = ("counterparty_id", "contact_person_id", "status")
OWN_CLIENTS_SHOWN = 500


def _amount(text: str) -> str:
    """An amount typed the Russian way ("125 000,50") as the records read it."""
    return text.replace(" ", "").replace("\u00a0", "").replace(",", ".")


def _words(visit: Visit) -> dict[str, Any]:
    return {
        "kinds": KINDS,
        "statuses": STATUSES,
        "kind_names": KIND_NAMES,
        "status_names": STATUS_NAMES,
        "percent": lambda value: format_decimal(value, "0.00", locale=visit.locale),
    }


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        return visit.page(
            db, "events.html", events=marketing.all_returns(db, visit.user), **_words(visit)
        )

    return await signed_in(request, home, work)


def _new_page(
    db: Session,
    visit: Visit,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    errors = errors or {}
    return visit.page(
        db,
        "event_new.html",
        status_code=status_code,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in EVENT_FIELDS},
        **_words(visit),
    )


async def new(request: Request, home: Home) -> Response:
    values = dict.fromkeys(EVENT_FIELDS, "") | {"kind": "exhibition"}
    return await signed_in(request, home, lambda db, visit: _new_page(db, visit, values))


async def create(request: Request, home: Home) -> Response:
    """A new event, owned by whoever enters it."""
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in EVENT_FIELDS}
    data: dict[str, Any] = {"name": values["name"], **{k: v for k, v in values.items() if v}}
    if "budget" in data:
        data["budget"] = _amount(data["budget"])

    def work(db: Session, visit: Visit) -> Response:
        event = home.create(db, visit.user, EVENTS, data)
        return visit.redirect(f"/events/{event.id}")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _new_page(db, visit, values, errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


def _page(
    db: Session,
    visit: Visit,
    event_id: str,
    *,
    cost_values: dict[str, str] | None = None,
    cost_errors: dict[str, str] | None = None,
    invite_values: dict[str, str] | None = None,
    invite_errors: dict[str, str] | None = None,
    status_errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    detail = marketing.event_detail(db, visit.user, event_id)  # 404 for no such event
    own = list(
        db.execute(
            select(col(Counterparty.id), col(Counterparty.legal_name))
            .where(
                col(Counterparty.owner_id) == visit.user.id,
                records.visible(COUNTERPARTIES, visit.user),
                # Those invited already are not offered again.
                col(Counterparty.id).not_in(
                    select(col(EventParticipant.counterparty_id)).where(
                        col(EventParticipant.event_id) == event_id
                    )
                ),
            )
            .order_by(col(Counterparty.legal_name))
            .limit(OWN_CLIENTS_SHOWN)
        )
    )
    owner = db.get(type(visit.user), detail.event.owner_id) if detail.event.owner_id else None
    return visit.page(
        db,
        "event.html",
        status_code=status_code,
        detail=detail,
        event=detail.event,
        result=detail.result,
        owner=owner,
        keeps=access.can_write(db, visit.user, detail.event),
        own_clients=own,
        cost_values=cost_values or {},
        cost_errors=cost_errors or {},
        invite_values=invite_values or {},
        invite_errors=invite_errors or {},
        status_errors=status_errors or {},
        **_words(visit),
    )


async def event(request: Request, home: Home) -> Response:
    event_id = request.path_params["event_id"]
    return await signed_in(request, home, lambda db, visit: _page(db, visit, event_id))


async def add_cost(request: Request, home: Home) -> Response:
    event_id = request.path_params["event_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in COST_FIELDS}
    data: dict[str, Any] = {
        "event_id": event_id,
        "item": values["item"],
        "amount": _amount(values["amount"]) or None,
    }
    if values["spent_on"]:
        data["spent_on"] = values["spent_on"]

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, EVENTS, event_id)  # 404 before any field talk
        home.create(db, visit.user, COSTS, data)
        return visit.redirect(f"/events/{event_id}#costs")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _page(db, visit, event_id, cost_values=values, cost_errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


async def invite(request: Request, home: Home) -> Response:
    """A client (a counterparty the user sees, by its id or picked among their own) invited."""
    event_id = request.path_params["event_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in INVITE_FIELDS}
    typed = str(form.get("counterparty_typed", "")).strip()
    values["counterparty_typed"] = typed
    data: dict[str, Any] = {
        "event_id": event_id,
        "counterparty_id": typed or values["counterparty_id"] or None,
        "status": values["status"] or "invited",
    }
    if values["contact_person_id"]:
        data["contact_person_id"] = values["contact_person_id"]

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, EVENTS, event_id)
        if data["counterparty_id"] is None:
            raise ValidationFailed("choose a client", details={"counterparty_id": "is required"})
        home.create(db, visit.user, PARTICIPANTS, data)
        return visit.redirect(f"/events/{event_id}#participants")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _page(
            db, visit, event_id, invite_values=values, invite_errors=errors, status_code=422
        )

    return await written(request, home, work, form=form, again=again)


async def move(request: Request, home: Home) -> Response:
    """A participant's status changed: invited → registered → attended, or declined."""
    event_id = request.path_params["event_id"]
    participant_id = request.path_params["participant_id"]
    form = await read_form(request)
    status = str(form.get("status", "")).strip()

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, EVENTS, event_id)
        guest = records.get(db, visit.user, PARTICIPANTS, participant_id)
        if guest.event_id != event_id:
            records.get(db, visit.user, PARTICIPANTS, "")  # not this event's: as if missing
        home.update(db, visit.user, PARTICIPANTS, participant_id, {"status": status}, None)
        return visit.redirect(f"/events/{event_id}#participants")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _page(db, visit, event_id, status_errors={participant_id: errors}, status_code=422)

    return await written(request, home, work, form=form, again=again)
