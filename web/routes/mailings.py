"""Mailings (issue 15): the list with each one's counts, the form that drafts one — to a segment's
clients or an event's participants (some statuses only), its subject and text maybe taken from a
letter template — and a mailing's page: who it writes to and who it leaves out and why, and the
button that queues its letters, one per address, in the outbox.

The draft goes through the home's ``create`` (``crm.records``: a laptop queues it for sync, the
rules and access apply). The plan and the queueing are the server's (``Home.mailings``): the
addresses mail came back from and the letters written live there, so a laptop drafts and shows the
counts the server sent. Queueing asks a confirmation — a box ticked beside the button, no script —
because it writes to hundreds of people at once; pressed twice, it writes nothing twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import access, mailings, records, segments
from crm.errors import NotFound, ValidationFailed
from crm.models import LetterTemplate, MarketingEvent, User
from crm.models.enums import ParticipantStatus
from web.home import Home
from web.i18n import N_
from web.routes.events import STATUS_NAMES
from web.visit import Visit, read_form, signed_in, written

MAILINGS = records.record_type("mailings")
MAILINGS_NAV = N_("Mailings")
FIELDS = ("name", "segment_id", "event_id", "subject", "body")
STATUSES = [s.value for s in ParticipantStatus]
SHOWN = 1000  # rows of a plan shown on the page; the counts are of all of them
EVENTS_SHOWN = 300
REASONS = {
    "opted_out": N_("asked for no mailings"),
    "no_address": N_("no email address"),
    "failing": N_("mail to this address came back"),
    "no_people": N_("no contact persons"),
    "duplicate": N_("the same address as someone above"),
}
MAILING_STATUS = {"draft": N_("draft"), "queued": N_("queued")}
LETTER_STATES = {
    "queued": N_("waiting to be sent"),
    "sent": N_("sent"),
    "failed": N_("not sent"),
    "bounced": N_("came back"),
}
CONFIRM = N_("Tick the box to confirm: the letters go to every recipient listed.")


def _words() -> dict[str, Any]:
    return {
        "reasons": REASONS,
        "mailing_status": MAILING_STATUS,
        "letter_states": LETTER_STATES,
        "status_names": STATUS_NAMES,
        "statuses": STATUSES,
    }


def _names(db: Session) -> tuple[dict[str, str], dict[str, str]]:
    events = dict(db.execute(select(col(MarketingEvent.id), col(MarketingEvent.name))).all())
    return dict(segments.choices(db)), {str(k): str(v) for k, v in events.items()}


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        page = records.list_records(db, visit.user, MAILINGS, sort="-created_at", limit=200)
        segment_names, event_names = _names(db)
        return visit.page(
            db,
            "mailings.html",
            rows=page.items,
            segment_names=segment_names,
            event_names=event_names,
            **_words(),
        )

    return await signed_in(request, home, work)


def _new_page(
    db: Session,
    visit: Visit,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    errors = errors or {}
    events = db.execute(
        select(col(MarketingEvent.id), col(MarketingEvent.name))
        .order_by(col(MarketingEvent.starts_on).desc(), col(MarketingEvent.name))
        .limit(EVENTS_SHOWN)
    ).all()
    templates = db.execute(
        select(col(LetterTemplate.id), col(LetterTemplate.name)).order_by(col(LetterTemplate.name))
    ).all()
    return visit.page(
        db,
        "mailing_new.html",
        status_code=status_code,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in (*FIELDS, "statuses")},
        segment_choices=segments.choices(db),
        event_choices=[(str(i), str(n)) for i, n in events],
        template_choices=[(str(i), str(n)) for i, n in templates],
        **_words(),
    )


async def new(request: Request, home: Home) -> Response:
    """The form; ``?event_id=`` (the event's page links here) or ``?segment_id=`` preselects."""
    values: dict[str, Any] = dict.fromkeys(FIELDS, "") | {"statuses": []}
    for name in ("event_id", "segment_id"):
        values[name] = str(request.query_params.get(name, ""))[:36]

    def work(db: Session, visit: Visit) -> Response:
        if values["event_id"]:
            event = db.get(MarketingEvent, values["event_id"])
            if event is not None and not values["name"]:
                values["name"] = visit.gettext(N_("Mailing: %(event)s")) % {"event": event.name}
        return _new_page(db, visit, values)

    return await signed_in(request, home, work)


async def create(request: Request, home: Home) -> Response:
    """A draft owned by whoever writes it; or, with ``use_template``, the form again with the
    chosen letter template's subject and text filled in."""
    form = await read_form(request)
    values: dict[str, Any] = {name: str(form.get(name, "")) for name in FIELDS}
    values["statuses"] = [str(s) for s in form.getlist("statuses")]
    values["template_id"] = str(form.get("template_id", ""))

    if form.get("use_template"):

        def fill(db: Session, visit: Visit) -> Response:
            template = db.get(LetterTemplate, values["template_id"][:36])
            if template is not None:
                values["subject"], values["body"] = template.subject, template.body
            return _new_page(db, visit, values)

        return await signed_in(request, home, fill, write=True, form=form)

    data: dict[str, Any] = {
        "name": values["name"].strip(),
        "subject": values["subject"].strip(),
        "body": values["body"],
        "segment_id": values["segment_id"] or None,
        "event_id": values["event_id"] or None,
        "statuses": values["statuses"] if values["event_id"] else [],
    }

    def work(db: Session, visit: Visit) -> Response:
        made = home.create(db, visit.user, MAILINGS, data)
        return visit.redirect(f"/mailings/{made.id}")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _new_page(db, visit, values, errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


def _page(
    db: Session,
    visit: Visit,
    mailing_id: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    mailing = mailings.find(db, visit.user, mailing_id)
    segment_names, event_names = _names(db)
    owner = db.get(User, mailing.owner_id) if mailing.owner_id else None
    plan = letters = None
    hidden = 0
    server = visit.home.mailings is not None
    if server and mailing.status == "draft":
        whole = mailings.plan(db, mailing)
        plan = mailings.seen_by(db, visit.user, whole)
        plan.recipients, plan.left_out = plan.recipients[:SHOWN], plan.left_out[:SHOWN]
        hidden = plan.hidden
        counts = {
            "recipients": len(whole.recipients),
            "clients": whole.clients,
            "opted_out": whole.opted_out,
            "unreachable": whole.unreachable,
            "duplicates": whole.duplicates,
        }
    else:
        if server:
            sent, hidden = mailings.letters_of(db, visit.user, mailing)
            letters = sent[:SHOWN]
        counts = {
            "recipients": mailing.recipients,
            "opted_out": mailing.opted_out,
            "unreachable": mailing.unreachable,
        }
    return visit.page(
        db,
        "mailing.html",
        status_code=status_code,
        mailing=mailing,
        owner=owner,
        target=(
            event_names.get(mailing.event_id or "")
            if mailing.event_id
            else segment_names.get(mailing.segment_id or "")
        ),
        counts=counts,
        plan=plan,
        letters=letters,
        hidden=hidden,
        server=server,
        keeps=access.can_write(db, visit.user, mailing),
        errors=errors or {},
        **_words(),
    )


async def mailing(request: Request, home: Home) -> Response:
    mailing_id = request.path_params["mailing_id"]
    return await signed_in(request, home, lambda db, visit: _page(db, visit, mailing_id))


async def queue(request: Request, home: Home) -> Response:
    """Queue the letters (the server's screens only: 404 on a laptop)."""
    mailing_id = request.path_params["mailing_id"]
    form = await read_form(request)
    confirmed = bool(form.get("confirm"))

    def work(db: Session, visit: Visit) -> Response:
        desk = home.mailings
        if desk is None:
            raise NotFound("mailings are queued on the server")
        mailings.find(db, visit.user, mailing_id)  # 404 before anything else is said
        if not confirmed:
            raise ValidationFailed(CONFIRM, details={"confirm": CONFIRM})
        desk.queue(db, visit.user, mailing_id)
        return visit.redirect(f"/mailings/{mailing_id}")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        errors = {k: visit.gettext(CONFIRM) if v == CONFIRM else v for k, v in found.items()}
        return _page(db, visit, mailing_id, errors, status_code=422)

    return await written(request, home, work, form=form, again=again)
