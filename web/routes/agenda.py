"""The start page: the signed-in user's day."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import agenda, whereabouts
from web.home import Home
from web.visit import Visit, signed_in


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        every = request.query_params.get("reminders") == "all"
        day = agenda.for_user(db, visit.user, ZoneInfo(home.timezone), all_reminders=every)
        # Who is not at work today (crm.whereabouts): the office knows whom a client cannot reach.
        gone = whereabouts.away(db, day.day)
        # Whom the user stands in for today: their clients are the user's to work meanwhile.
        covering = [a for a in gone if a.substitute_id == visit.user.id]
        return visit.page(
            db, "agenda.html", agenda=day, all_reminders=every, away=gone, covering=covering
        )

    return await signed_in(request, home, work)
