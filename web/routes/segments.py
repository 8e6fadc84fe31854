"""Saved segments (issue 14, ``crm.segments``): the list, and a form to save, change or delete one.

``/segments`` lists every segment (everyone sees them all) with how many of the counterparties the
viewer sees are in each, and links to the reports and the search page over it
(``/reports?segment=<id>``, ``/search?segment=<id>``). The form takes the criteria as fields:
choices from the closed vocabularies (kinds, stage, visibility, ABC and XYZ class — "none yet"
among them — and the salespeople whose clients), and free texts separated by commas (region,
industry, source, the card's own segment label, tags). Saved through the home's
``create``/``update``/``delete`` (``crm.records``), so a laptop queues the change for sync and the
API's rules apply (``crm.rules.check_segment``, ``crm.access``: its owner, their manager or an
admin changes a segment); a refusal is shown beside its field, in the viewer's language.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from crm import access, records
from crm import segments as saved
from crm.errors import PermissionDenied
from crm.models import Segment, User
from web import i18n
from web.home import Home
from web.i18n import N_
from web.visit import Visit, read_form, signed_in, written

SEGMENTS = records.record_type("segments")
# The criteria the form offers as choices, and those typed as texts separated by commas.
CHOSEN = ("kinds", "stage", "visibility", "abc_class", "xyz_class", "owner_id")
TYPED = ("region", "industry", "source", "segment", "tags")
# The criteria's names in words (the stage, kinds and visibility take labels.html's).
CRITERION_NAMES = {
    "kinds": N_("Counterparty type"),
    "stage": N_("Stage"),
    "visibility": N_("Visibility"),
    "abc_class": N_("ABC class"),
    "xyz_class": N_("XYZ class"),
    "owner_id": N_("Owner"),
    "region": N_("Region"),
    "industry": N_("Industry"),
    "source": N_("Source"),
    "segment": N_("Segment label on the card"),
    "tags": N_("Tags"),
}
NONE_YET = N_("none")


def _texts(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _typed(form: FormData) -> dict[str, Any]:
    """What the form says: name and notes as typed, each criterion's values (chosen or typed)."""
    values: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "notes": str(form.get("notes", "")).strip(),
    }
    for name in CHOSEN:
        values[name] = [str(v) for v in form.getlist(name) if str(v)]
    for name in TYPED:
        values[name] = str(form.get(name, "")).strip()
    return values


def _criteria(values: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in CHOSEN:
        if values[name]:
            out[name] = list(values[name])
    for name in TYPED:
        if values[name]:
            out[name] = _texts(values[name])
    return out


def _values(segment: Segment) -> dict[str, Any]:
    """A stored segment as the form shows it."""
    criteria = segment.criteria or {}
    values: dict[str, Any] = {"name": segment.name, "notes": segment.notes or ""}
    for name in CHOSEN:
        values[name] = list(criteria.get(name, []))
    for name in TYPED:
        values[name] = ", ".join(criteria.get(name, []))
    return values


def _users(db: Session) -> list[tuple[str, str]]:
    query = select(col(User.id), col(User.full_name), col(User.login)).order_by(
        col(User.full_name), col(User.login)
    )
    return [(str(i), str(n or login)) for i, n, login in db.execute(query)]


def _form(
    db: Session,
    visit: Visit,
    *,
    segment: Segment | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return visit.page(
        db,
        "segment_form.html",
        status_code=status_code,
        segment=segment,
        values=values,
        errors=errors or {},
        choices={
            **{name: [(v, v) for v in saved.CHOICES[name]] for name in saved.CHOICES},
            "owner_id": _users(db),
        },
        typed_names=TYPED,
        chosen_names=CHOSEN,
        criterion_names=CRITERION_NAMES,
        none_yet=saved.NONE,
        none_label=NONE_YET,
    )


def _blank() -> dict[str, Any]:
    return {"name": "", "notes": "", **{n: [] for n in CHOSEN}, **{n: "" for n in TYPED}}


def _errors(found: dict[str, str], values: dict[str, Any], gettext: Any) -> dict[str, str]:
    """The refusal per field: a criterion's problem beside its field (``crm.segments.problems``
    tells them apart: the rules say them all under ``criteria``)."""
    out: dict[str, str] = {}
    for key, text in found.items():
        each = saved.problems(_criteria(values)) if key == "criteria" else None
        if each:
            out.update({name: i18n.problem(said, gettext) for name, said in each.items()})
        else:
            out[key] = text
    return out


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        rows = saved.overview(db, visit.user)
        stored = {s.id: s for s in db.execute(select(Segment)).scalars()}
        for row in rows:
            row["may_change"] = access.can_write(db, visit.user, stored[row["id"]])
        return visit.page(db, "segments.html", rows=rows)

    return await signed_in(request, home, work)


async def new(request: Request, home: Home) -> Response:
    return await signed_in(
        request, home, lambda db, visit: _form(db, visit, segment=None, values=_blank())
    )


async def edit(request: Request, home: Home) -> Response:
    segment_id = request.path_params["segment_id"]

    def work(db: Session, visit: Visit) -> Response:
        segment = saved.of(db, visit.user, segment_id)
        if not access.can_write(db, visit.user, segment):
            raise PermissionDenied(f"you may see but not change segment {segment_id}")
        return _form(db, visit, segment=segment, values=_values(segment))

    return await signed_in(request, home, work)


async def create(request: Request, home: Home) -> Response:
    form = await read_form(request)
    values = _typed(form)

    def work(db: Session, visit: Visit) -> Response:
        data = {"name": values["name"], "criteria": _criteria(values)}
        if values["notes"]:
            data["notes"] = values["notes"]
        made = home.create(db, visit.user, SEGMENTS, data)
        return visit.redirect(f"/segments#segment-{made.id}")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        errors = _errors(found, values, visit.gettext)
        return _form(db, visit, segment=None, values=values, errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


async def save(request: Request, home: Home) -> Response:
    segment_id = request.path_params["segment_id"]
    form = await read_form(request)
    values = _typed(form)
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None

    def work(db: Session, visit: Visit) -> Response:
        data = {
            "name": values["name"],
            "criteria": _criteria(values),
            "notes": values["notes"] or None,
        }
        home.update(db, visit.user, SEGMENTS, segment_id, data, version)
        return visit.redirect(f"/segments#segment-{segment_id}")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        segment = saved.of(db, visit.user, segment_id)
        errors = _errors(found, values, visit.gettext)
        return _form(db, visit, segment=segment, values=values, errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


async def delete(request: Request, home: Home) -> Response:
    segment_id = request.path_params["segment_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        saved.of(db, visit.user, segment_id)  # 404 before anything else
        home.delete(db, visit.user, SEGMENTS, segment_id)
        return visit.redirect("/segments")

    return await signed_in(request, home, work, write=True, form=form)
