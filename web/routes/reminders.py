"""Closing a reminder from the agenda."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from crm.models.enums import ReminderStatus
from web.home import Home
from web.visit import Visit, read_form, signed_in

REMINDERS = records.record_type("reminders")


async def done(request: Request, home: Home) -> Response:
    record_id = request.path_params["record_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        home.update(
            db, visit.user, REMINDERS, record_id, {"status": ReminderStatus.DONE.value}, None
        )
        return visit.redirect("/#reminders")

    return await signed_in(request, home, work, write=True, form=form)
