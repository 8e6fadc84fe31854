"""Reminders from the screens: a new one (about a counterparty or on its own), closing one from the agenda.

Through the home's ``create``/``update`` (``crm.records``), so a laptop queues them for sync and the
rules are the API's: a reminder about a counterparty is filed under it (``subject_type`` counterparty)
and needs only to see it, as logging a call does; its assignee is the author unless they pick a
colleague who sees that counterparty too (a message: "call them back about the invoice"), or a
manager or an administrator picks someone they may assign work to.
The due time is typed as a wall-clock time of the home's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import access, records
from crm.errors import ValidationFailed
from crm.models import User
from crm.models.enums import ReminderStatus, Role
from crm.rules import MAIL_BRIDGE_LOGIN
from web import i18n
from web.home import Home
from web.visit import Visit, read_form, signed_in

REMINDERS = records.record_type("reminders")
COUNTERPARTIES = records.record_type("counterparties")
FIELDS = ("title", "due_at", "notes", "assignee_id", "counterparty_id")
# The fields shown in the form; any other problem the domain finds is listed above it.
SHOWN = ("title", "due_at", "notes", "assignee_id")


async def done(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        home.update(
            db, visit.user, REMINDERS, record_id, {"status": ReminderStatus.DONE.value}, None
        )
        return visit.redirect("/#reminders")

    return await signed_in(request, home, work, write=True, form=form)


def assignees(db: Session, actor: User, counterparty_id: str | None = None) -> list[User]:
    """Whom ``actor`` may give a reminder: themselves; for a manager their team, for an admin
    everyone active; and about a client, every colleague who sees it too (a message to a
    colleague, ``docs/access.md``). The actor first, then by name."""
    others = [
        u
        for u in db.execute(
            select(User).where(col(User.is_active), col(User.id) != actor.id)
        ).scalars()
        if u.login != MAIL_BRIDGE_LOGIN
        and (
            (actor.role in (Role.MANAGER, Role.ADMIN) and access.may_manage(actor, u))
            or (
                counterparty_id is not None and access.can_read_counterparty(db, u, counterparty_id)
            )
        )
    ]
    return [actor, *sorted(others, key=lambda u: u.full_name)]


def _page(
    db: Session,
    visit: Visit,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    cp = (
        records.get(db, visit.user, COUNTERPARTIES, values["counterparty_id"])
        if values.get("counterparty_id")
        else None
    )
    errors = errors or {}
    return visit.page(
        db,
        "reminder_new.html",
        status_code=status_code,
        cp=cp,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in SHOWN},
        assignees=assignees(db, visit.user, cp.id if cp is not None else None),
    )


async def new(request: Request, home: Home) -> Response:
    """The form; ``?counterparty_id=`` makes it about that counterparty (404 when it is not one's to see)."""
    counterparty_id = request.query_params.get("counterparty_id", "")[:36]
    # Tomorrow at ten, the home's time: a sensible default to change.
    tomorrow = datetime.now(ZoneInfo(home.timezone)).date() + timedelta(days=1)
    values = dict.fromkeys(FIELDS, "") | {
        "counterparty_id": counterparty_id,
        "due_at": f"{tomorrow.isoformat()}T10:00",
    }
    return await signed_in(request, home, lambda db, visit: _page(db, visit, values))


async def create(request: Request, home: Home) -> Response:
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    problems: dict[str, str] = {}
    data: dict[str, Any] = {"title": values["title"]}  # even blank: the rules say so with the rest
    if values["notes"]:
        data["notes"] = values["notes"]
    if values["assignee_id"]:
        data["assignee_id"] = values["assignee_id"]
    if values["counterparty_id"]:
        data["subject_type"] = "counterparty"
        data["subject_id"] = values["counterparty_id"]
    try:
        data["due_at"] = (
            datetime.fromisoformat(values["due_at"]).replace(tzinfo=ZoneInfo(home.timezone))
        ).isoformat()
    except ValueError:
        problems["due_at"] = i18n.N_("Enter a date and time")
        # A stand-in, never saved (the problem rolls the write back), so the rules still report
        # every other field at once.
        data["due_at"] = datetime.now(UTC).isoformat()

    def work(db: Session, visit: Visit) -> Response:
        if values["counterparty_id"]:  # 404 before any talk of fields
            records.get(db, visit.user, COUNTERPARTIES, values["counterparty_id"])
        found = dict(problems)
        try:
            home.create(db, visit.user, REMINDERS, data)
        except ValidationFailed as exc:
            details = exc.details if isinstance(exc.details, dict) else {"": exc.message}
            for key, message in details.items():
                found.setdefault(str(key), str(message))  # ours say it better (the local time)
        if found:
            raise ValidationFailed("reminder has invalid fields", details=found)
        if values["counterparty_id"]:
            return visit.redirect(f"/counterparties/{values['counterparty_id']}#history")
        return visit.redirect("/#reminders")

    try:
        return await signed_in(request, home, work, write=True, form=form)
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, dict) else {"": exc.message}

        def again(db: Session, visit: Visit) -> Response:
            errors = {
                str(k): visit.gettext(v)
                if problems.get(k) == v
                else i18n.problem(str(v), visit.gettext)
                for k, v in details.items()
            }
            return _page(db, visit, values, errors, 422)

        return await signed_in(request, home, again)
