"""Suppliers on the screens (issue 15): a supplier's terms and price list on its card, and the
suppliers compared for a product (``/suppliers/compare``).

The terms are written through the home's ``create``/``update`` (``crm.records``), so a laptop
queues them for sync and the rules are the API's: whoever may change the supplier's card keeps
its terms. Price lists stay on the server (``crm.suppliers``): a laptop's card and compare page say
so instead.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import records, suppliers
from crm.errors import VersionConflict
from crm.models import Counterparty, User
from web import i18n
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

TERMS = records.record_type("supplier-terms")
COUNTERPARTIES = records.record_type("counterparties")
FIELDS = ("delivery_terms", "payment_terms", "lead_time_days", "rating", "notes")
# Price lines shown on a supplier's card (the rest: satchel's compare, the API).
CARD_PRICES = 50


def on_server(visit: Visit) -> bool:
    """Whether this home keeps price lists: the server does, a laptop's replica does not (merges,
    also the server's alone, tell them apart the same way)."""
    return visit.home.merge is not None


def _terms_of(db: Session, user: User, cp_id: str) -> Any:
    found = records.list_records(db, user, TERMS, filters={"counterparty_id": cp_id}, limit=1)
    return found.items[0] if found.items else None


def section(
    db: Session,
    visit: Visit,
    cp: Counterparty,
    can_edit: bool,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """The card's «Supplier terms» section, or None for a counterparty that supplies nothing (and
    has no terms): its terms, the form (who may change the card), its price list (the server's)."""
    terms = _terms_of(db, visit.user, cp.id)
    if terms is None and "supplier" not in (cp.kinds or []):
        return None
    form = values or (
        {name: "" if getattr(terms, name) is None else str(getattr(terms, name)) for name in FIELDS}
        if terms is not None
        else {}
    )
    return {
        "terms": terms,
        "form": form,
        "errors": errors or {},
        "can_edit": can_edit,
        "prices": suppliers.price_list(db, visit.user, cp.id, limit=CARD_PRICES)
        if on_server(visit)
        else None,
    }


async def save_terms(request: Request, home: Home) -> Response:
    cp_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, COUNTERPARTIES, cp_id)  # 404 before any field talk
        terms = _terms_of(db, visit.user, cp_id)
        if terms is None:
            data: dict[str, Any] = {
                "counterparty_id": cp_id,
                **{k: v for k, v in values.items() if v},
            }
            home.create(db, visit.user, TERMS, data)
        else:
            changed = {k: (v or None) for k, v in values.items()}
            home.update(db, visit.user, TERMS, terms.id, changed, version)
        return visit.redirect(f"/counterparties/{cp_id}#supplier-terms")

    def again(db: Session, visit: Visit, errors: dict[str, str], status: int = 422) -> Response:
        from web.routes.counterparty import _card

        return _card(db, visit, cp_id, terms_values=values, terms_errors=errors, status_code=status)

    try:
        return await written(request, home, work, form=form, again=again)
    except VersionConflict:
        stale = "changed meanwhile by someone else; here are the terms now"
        return await signed_in(
            request,
            home,
            lambda db, visit: again(db, visit, {"": i18n.problem(stale, visit.gettext)}, 409),
        )


async def compare(request: Request, home: Home) -> Response:
    product = (request.query_params.get("product") or "").strip()
    raw_on = request.query_params.get("on") or ""

    def work(db: Session, visit: Visit) -> Response:
        day, problem, product_problem = None, None, None
        if raw_on:
            try:
                day = suppliers.check_day(date.fromisoformat(raw_on))
            except ValueError as exc:
                day = None
                problem = (
                    i18n.problem(str(exc), visit.gettext)
                    if "years" in str(exc)
                    else visit.gettext("Write the day as YYYY-MM-DD.")
                )
        if len(product) > suppliers.MAX_QUERY:  # as the API refuses it, not cut short unsaid
            product_problem = i18n.problem(
                f"at most {suppliers.MAX_QUERY} characters; got {len(product)}", visit.gettext
            )
        offers = (
            suppliers.current_prices(db, visit.user, product, on=day)
            if product and not problem and not product_problem and on_server(visit)
            else []
        )
        return visit.page(
            db,
            "suppliers_compare.html",
            status_code=400 if problem or product_problem else 200,
            product=product,
            on=raw_on,
            day=day or date.today(),
            problem=problem,
            product_problem=product_problem,
            offers=offers,
            on_server=on_server(visit),
        )

    return await signed_in(request, home, work)
