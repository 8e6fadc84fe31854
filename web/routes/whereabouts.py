"""Where is everyone (issue 15): a week's board of the staff — office, at a client, business trip
and city, vacation, sick leave, day off — a form to enter an absence, and one to change or delete
it (its dates, its substitute), reached from its days on the board by whoever keeps it.

The board is ``crm.whereabouts.board`` over the home's session (the server's database or a
laptop's replica). An absence is written through the home's ``create`` (``crm.records``: the API's
rules and access): one's own, or, for a manager, the office and an admin, someone else's; an
overlap with another absence of the same person is refused beside the form.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import access, records, whereabouts
from crm.errors import MalformedInput, PermissionDenied
from crm.models.enums import AbsenceKind
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

ABSENCES = records.record_type("absences")
KINDS = [k.value for k in AbsenceKind]
FIELDS = ("user_id", "kind", "starts_on", "ends_on", "city", "notes", "substitute_id")
DAYS = 7


def _monday(raw: str | None, today: date) -> date:
    """The Monday of the week of ``raw`` (an ISO date), else of today's."""
    day = today
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise MalformedInput("from must be a date, YYYY-MM-DD") from None
    return day - timedelta(days=day.weekday())


def _page(
    db: Session,
    visit: Visit,
    first: date,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    zone = ZoneInfo(visit.home.timezone)
    today = datetime.now(zone).date()
    rows = whereabouts.board(db, visit.user, first, DAYS, zone=zone)
    # Whom the form may enter an absence for: oneself, and whom one keeps them of.
    people = [
        (r.user_id, r.name) for r in rows if access.keeps_absences_of(db, visit.user, r.user_id)
    ]
    return visit.page(
        db,
        "whereabouts.html",
        status_code=status_code,
        rows=rows,
        days=[first + timedelta(days=n) for n in range(DAYS)],
        today=today,
        previous=(first - timedelta(days=DAYS)).isoformat(),
        following=(first + timedelta(days=DAYS)).isoformat(),
        people=people,
        keeps={user_id for user_id, _name in people},
        # A substitute may be any colleague on the board (crm.rules refuses the absent one).
        colleagues=[(r.user_id, r.name) for r in rows],
        kinds=KINDS,
        values=values or {"user_id": visit.user.id, "kind": "trip", "starts_on": today.isoformat()},
        errors=errors or {},
        other_errors={k: v for k, v in (errors or {}).items() if k not in FIELDS},
    )


async def show(request: Request, home: Home) -> Response:
    raw = request.query_params.get("from")

    def work(db: Session, visit: Visit) -> Response:
        today = datetime.now(ZoneInfo(visit.home.timezone)).date()
        return _page(db, visit, _monday(raw, today))

    return await signed_in(request, home, work)


async def create(request: Request, home: Home) -> Response:
    """An absence: the signed-in user's unless the form names someone they keep absences of."""
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    data: dict[str, Any] = {k: v for k, v in values.items() if v}

    def work(db: Session, visit: Visit) -> Response:
        data.setdefault("user_id", visit.user.id)
        made = home.create(db, visit.user, ABSENCES, data)
        return visit.redirect(f"/whereabouts?from={made.starts_on.isoformat()}#row-{made.user_id}")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        today = datetime.now(ZoneInfo(visit.home.timezone)).date()
        first = _monday(values["starts_on"] if _is_date(values["starts_on"]) else None, today)
        return _page(db, visit, first, values=values, errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


def _is_date(raw: str) -> bool:
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return True


def _absence_page(
    db: Session,
    visit: Visit,
    absence_id: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    absence = records.get(db, visit.user, ABSENCES, absence_id)  # 404 as for any record
    if not access.can_write(db, visit.user, absence):
        raise PermissionDenied(f"you may see but not change absence {absence_id}")
    zone = ZoneInfo(visit.home.timezone)
    rows = whereabouts.board(db, visit.user, _monday(None, datetime.now(zone).date()), 1, zone=zone)
    names = dict((r.user_id, r.name) for r in rows)
    shown = values or {
        "kind": absence.kind,
        "starts_on": absence.starts_on.isoformat(),
        "ends_on": absence.ends_on.isoformat(),
        "city": absence.city or "",
        "notes": absence.notes or "",
        "substitute_id": absence.substitute_id or "",
    }
    return visit.page(
        db,
        "absence.html",
        status_code=status_code,
        absence=absence,
        person=names.get(absence.user_id, ""),
        colleagues=[(r.user_id, r.name) for r in rows if r.user_id != absence.user_id],
        kinds=KINDS,
        values=shown,
        errors=errors or {},
        other_errors={k: v for k, v in (errors or {}).items() if k not in FIELDS},
    )


async def edit(request: Request, home: Home) -> Response:
    absence_id = request.path_params["absence_id"]
    return await signed_in(request, home, lambda db, visit: _absence_page(db, visit, absence_id))


async def save(request: Request, home: Home) -> Response:
    """Change an absence: its kind, days, city, notes and substitute (not whose it is)."""
    absence_id = request.path_params["absence_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS if name != "user_id"}
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None
    data: dict[str, Any] = {k: (v or None) for k, v in values.items()}

    def work(db: Session, visit: Visit) -> Response:
        made = home.update(db, visit.user, ABSENCES, absence_id, data, version)
        return visit.redirect(f"/whereabouts?from={made.starts_on.isoformat()}#row-{made.user_id}")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _absence_page(db, visit, absence_id, values=values, errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


async def delete(request: Request, home: Home) -> Response:
    absence_id = request.path_params["absence_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        absence = records.get(db, visit.user, ABSENCES, absence_id)  # 404 before anything else
        home.delete(db, visit.user, ABSENCES, absence_id)
        return visit.redirect(f"/whereabouts?from={absence.starts_on.isoformat()}")

    return await signed_in(request, home, work, write=True, form=form)
