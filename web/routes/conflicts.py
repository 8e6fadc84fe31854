"""Conflicts: the two values of one thing side by side, with their authors and times, and the choice.

The home lists and resolves them (on the server ``sync.conflicts``, on a laptop
its replica): the screen only shows the plain dicts it gets and sends back
``mine``, ``theirs`` or a value of one's own. Whatever is chosen is written as
an edit by the person choosing, so it is refused exactly when that edit would be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from crm.errors import NotFound
from crm.models import ContactPerson, Counterparty, User
from web import i18n
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

MAX_VALUE = 10_000  # characters of a value typed to settle a conflict
# A whole record (a delete conflict's side) is shown by what a person wrote, not its bookkeeping.
_BOOKKEEPING = frozenset(
    {"id", "version", "created_at", "updated_at", "created_by", "updated_by", "search_name"}
)


@dataclass(frozen=True)
class Side:
    value: str  # as shown; "" for a deleted record
    by: str | None
    at: datetime | None
    client_time: str | None
    choice: str  # what the button under it sends: mine | theirs
    made_by_me: bool


@dataclass(frozen=True)
class Shown:
    """One conflict as the screen shows it."""

    id: str
    kind: str
    type: str
    field: str | None
    title: str
    counterparty_id: str | None
    server: Side
    client: Side
    free_value: bool
    raw: str  # the value a "new value" box starts with


def shown(value: Any) -> str:
    """A stored value as text: contacts by their values, objects as "field: value" lines."""
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return (
            ", ".join(str(v.get("value", "")) if isinstance(v, dict) else shown(v) for v in value)
            or "—"
        )
    if isinstance(value, dict):
        return "\n".join(
            f"{k}: {shown(v)}"
            for k, v in value.items()
            if k not in _BOOKKEEPING and v not in (None, "", [])
        )
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _when(raw: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _title(db: Session, user: User, item: dict[str, Any]) -> tuple[str, str | None]:
    """A name for the record in conflict and the counterparty whose card holds it (as the user may see it)."""
    try:
        record = records.get(db, user, records.record_type(item["type"]), item["record_id"])
    except NotFound:  # deleted (edit_deleted): its last values name it
        values = item["client"]["value"] if isinstance(item["client"]["value"], dict) else {}
        return str(
            values.get("legal_name")
            or values.get("full_name")
            or values.get("title")
            or values.get("subject")
            or ""
        ), None
    if isinstance(record, Counterparty):
        return record.legal_name, record.id
    name = (
        getattr(record, "full_name", None)
        or getattr(record, "title", None)
        or getattr(record, "subject", "")
    )
    parent = getattr(record, "counterparty_id", None)
    if isinstance(record, ContactPerson) or parent:
        owner = db.get(Counterparty, parent) if parent else None
        name = f"{owner.legal_name}: {name}" if owner else str(name)
    return str(name), parent


def shown_conflicts(db: Session, visit: Visit) -> list[Shown]:
    items = visit.home.conflicts(db, visit.user)
    people = {side.get("by") for item in items for side in (item["server"], item["client"])} - {
        None
    }
    names = (
        dict(
            db.execute(
                select(col(User.id), col(User.full_name)).where(col(User.id).in_(people))
            ).all()
        )
        if people
        else {}
    )
    found = []
    for item in items:
        title, counterparty_id = _title(db, visit.user, item)

        def side(name: str, item: dict[str, Any] = item) -> Side:
            data = item[name]
            return Side(
                shown(data.get("value")),
                names.get(data.get("by")),
                _when(data.get("at")),
                data.get("client_time"),
                "mine" if item["mine"] == name else "theirs",
                data.get("by") == visit.user.id,
            )

        current = item["server"].get("value")
        found.append(
            Shown(
                item["id"],
                item["kind"],
                item["type"],
                item.get("field"),
                title,
                counterparty_id,
                side("server"),
                side("client"),
                bool(item.get("free_value")),
                "" if current is None else str(current),
            )
        )
    return found


def _page(
    db: Session,
    visit: Visit,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return visit.page(
        db,
        "conflicts.html",
        status_code=status_code,
        conflicts=shown_conflicts(db, visit),
        errors=errors or {},
        typed=typed or {},
    )


async def show(request: Request, home: Home) -> Response:
    return await signed_in(request, home, _page)


async def resolve(request: Request, home: Home) -> Response:
    conflict_id = request.path_params["conflict_id"]
    form = await read_form(request)
    choice = str(form.get("choice", ""))
    value = str(form.get("value", ""))
    if choice not in ("mine", "theirs", "value") or len(value) > MAX_VALUE:
        problem = i18n.N_("Choose one of the two values or type a new one")
        return await signed_in(
            request,
            home,
            lambda db, visit: _page(
                db,
                visit,
                {conflict_id: {"value": visit.gettext(problem)}},
                {conflict_id: value[:MAX_VALUE]},
                422,
            ),
        )

    def work(db: Session, visit: Visit) -> Response:
        home.resolve_conflict(
            db, visit.user, conflict_id, choice, value if choice == "value" else None
        )
        return visit.redirect("/conflicts")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        # The record's own problem with the value, shown beside the box it was typed in.
        message = "; ".join(found.values())
        return _page(db, visit, {conflict_id: {"value": message}}, {conflict_id: value}, 422)

    return await written(request, home, work, form=form, again=again)
