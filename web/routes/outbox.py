"""The outbox: letters on their way out through the company's mail server, for office staff and admins.

Where the screens have a mail bridge (the server: ``Home.review`` is there) the office sees what
waits to be sent, is being sent, failed or maybe did not leave — every such letter it may see,
read through ``crm.records`` (so the access rules hold) as ``GET /api/v1/mail/outbox`` does.
A laptop has no bridge: the address answers 404 there. A salesperson or a manager is refused
(403); their own waiting letters are on their agenda.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from crm.agenda import UNSENT
from crm.errors import NotFound, PermissionDenied
from crm.models import Counterparty, User
from crm.models.enums import Role
from web.home import Home
from web.visit import Visit, signed_in

INTERACTIONS = records.record_type("interactions")
SHOWN = 200  # the most recently changed; the rest are counted


async def show(request: Request, home: Home) -> Response:
    def work(db: Session, visit: Visit) -> Response:
        if visit.home.review is None:
            raise NotFound("no mail bridge here")
        if visit.user.role not in (Role.OFFICE, Role.ADMIN):
            raise PermissionDenied("the outbox is for office staff and administrators")
        found = records.list_records(
            db,
            visit.user,
            INTERACTIONS,
            filters={"mail_status__in": ",".join(s.value for s in UNSENT)},
            sort="-updated_at",
            limit=SHOWN,
        )
        letters = found.items
        wanted = {i.counterparty_id for i in letters} - {None}
        names = (
            dict(
                db.execute(
                    select(col(Counterparty.id), col(Counterparty.legal_name)).where(
                        col(Counterparty.id).in_(wanted)
                    )
                ).all()
            )
            if wanted
            else {}
        )
        people = {i.responsible_id for i in letters} - {None}
        who = (
            dict(
                db.execute(
                    select(col(User.id), col(User.full_name)).where(col(User.id).in_(people))
                ).all()
            )
            if people
            else {}
        )
        return visit.page(
            db,
            "outbox.html",
            letters=letters,
            names=names,
            who=who,
            more=max(0, found.total - len(letters)),
        )

    return await signed_in(request, home, work)
