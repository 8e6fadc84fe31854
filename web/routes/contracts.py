"""Contracts on the card (issue 14): add one from a small form under the card's contracts.

Through the home's ``create`` (``crm.records``), so a laptop queues it for sync and the rules are
the API's (``crm.rules.check_contract``, ``crm.access``): whoever may change the client adds its
contracts; a refusal is shown beside the form's field, in the user's language.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from web.home import Home
from web.routes.counterparty import _card
from web.visit import Visit, read_form, written

CONTRACTS = records.record_type("contracts")
COUNTERPARTIES = records.record_type("counterparties")
FIELDS = ("number", "signed_on", "starts_on", "ends_on", "payment_days", "terms")


async def create(request: Request, home: Home) -> Response:
    cp_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    data: dict[str, Any] = {
        "counterparty_id": cp_id,
        "number": values["number"],  # even blank: the rules say so
        **{k: v for k, v in values.items() if v and k != "number"},
    }

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, COUNTERPARTIES, cp_id)  # 404 before any field talk
        home.create(db, visit.user, CONTRACTS, data)
        return visit.redirect(f"/counterparties/{cp_id}#contracts")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _card(
            db, visit, cp_id, contract_values=values, contract_errors=errors, status_code=422
        )

    return await written(request, home, work, form=form, again=again)
