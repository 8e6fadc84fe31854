"""The start page: the signed-in user's day."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import agenda
from web.home import Home
from web.visit import Visit, signed_in


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        day = agenda.for_user(db, visit.user, ZoneInfo(home.timezone))
        return visit.page(db, "agenda.html", agenda=day)

    return await signed_in(request, home, work)
