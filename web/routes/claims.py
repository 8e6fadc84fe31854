"""Claims on the card (issue 15): claim a product group of a client for a while, or end a claim today.

Through the home's ``create``/``update`` (``crm.records``), so a laptop queues them for sync and the
rules are the API's (``crm.rules.check_claim``, ``crm.access``): whoever sees the card claims for
themselves; the holder or their manager ends it. A claim on a group someone else holds is refused
beside the form, naming who holds it until when. Handing a claim over is a manager's, in the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from crm.errors import VersionConflict
from web import i18n
from web.home import Home
from web.routes.counterparty import _card
from web.visit import Visit, read_form, signed_in, written

CLAIMS = records.record_type("claims")
COUNTERPARTIES = records.record_type("counterparties")
FIELDS = ("product_group", "ends_on", "notes")


async def create(request: Request, home: Home) -> Response:
    """A claim of the signed-in user on the card's client, from today to the typed day."""
    cp_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    data: dict[str, Any] = {
        "counterparty_id": cp_id,
        "product_group": values["product_group"],  # even blank: the rules say so
        **{k: v for k, v in values.items() if v and k != "product_group"},
    }

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, COUNTERPARTIES, cp_id)  # 404 before any field talk
        home.create(db, visit.user, CLAIMS, {**data, "holder_id": visit.user.id})
        return visit.redirect(f"/counterparties/{cp_id}#claims")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _card(db, visit, cp_id, claim_values=values, claim_errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


async def hand(request: Request, home: Home) -> Response:
    """Hand a claim to another holder (a manager's or an admin's: the API's rules refuse others)."""
    claim_id = request.path_params["claim_id"]
    form = await read_form(request)
    holder_id = str(form.get("holder_id", "")).strip()

    def work(db: Session, visit: Visit) -> Response:
        claim = records.get(db, visit.user, CLAIMS, claim_id)  # 404 for one out of sight
        home.update(db, visit.user, CLAIMS, claim_id, {"holder_id": holder_id or None}, None)
        return visit.redirect(f"/counterparties/{claim.counterparty_id}#claims")

    def again(db: Session, visit: Visit, found: dict[str, str]) -> Response:
        claim = records.get(db, visit.user, CLAIMS, claim_id)
        errors = {"": "; ".join(found.values())}
        return _card(db, visit, claim.counterparty_id, claim_errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)


async def end(request: Request, home: Home) -> Response:
    """End a claim today (it stays in force through today, then lapses)."""
    claim_id = request.path_params["claim_id"]
    form = await read_form(request)
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None

    def work(db: Session, visit: Visit) -> Response:
        claim = records.get(db, visit.user, CLAIMS, claim_id)  # 404 for one out of sight
        today = datetime.now(ZoneInfo(visit.home.timezone)).date()
        # One that starts later than today ends the day it starts (a claim lasts a day at least;
        # to withdraw it altogether, delete it).
        ends_on = max(today, claim.starts_on) if claim.starts_on else today
        home.update(db, visit.user, CLAIMS, claim_id, {"ends_on": ends_on.isoformat()}, version)
        return visit.redirect(f"/counterparties/{claim.counterparty_id}#claims")

    try:
        return await signed_in(request, home, work, write=True, form=form)
    except VersionConflict:
        # Someone changed it meanwhile: the card shows it as it stands now.
        def again(db: Session, visit: Visit) -> Response:
            claim = records.get(db, visit.user, CLAIMS, claim_id)
            stale = visit.gettext(
                i18n.N_("Someone changed this claim meanwhile; here it is as it stands now.")
            )
            return _card(
                db, visit, claim.counterparty_id, claim_errors={"": stale}, status_code=409
            )

        return await signed_in(request, home, again)
