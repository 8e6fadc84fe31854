"""Quick search: a counterparty by any part of a phone, a name, an INN or an email.

The search page also filters by ABC class (``?abc=A|B|C``, the class the newest kept computation
put on the cards, ``crm.analytics``): with a query, the matches of that class; without one, every
counterparty of that class one sees, by name. Each result shows its class («A/X»).

The same query serves the full results page (no script needed) and the
fragment the static script fetches as the user types. Both go through
``crm.records.list_records(q=...)``, which applies the access rules.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import records, search
from crm.errors import MalformedInput, ValidationFailed
from crm.models import Counterparty
from web import i18n
from web.home import Home
from web.visit import Visit, signed_in

COUNTERPARTIES = records.record_type("counterparties")
MAX_QUERY = 200
PAGE = 20
ABC = ("A", "B", "C")


def abc_filter(request: Request) -> str:
    """The ABC class asked (``""``: any); anything but A, B or C is a 400 (it is a choice, not text)."""
    abc = request.query_params.get("abc") or ""
    if abc and abc not in ABC:
        raise MalformedInput("abc is one of A, B, C")
    return abc


def find(
    db: Session, visit: Visit, q: str, limit: int = PAGE, abc: str = ""
) -> tuple[list[Counterparty], int]:
    # What a person types into a search box is never refused: an over-long paste is cut to
    # the words the search takes (crm.search bounds them, as it must for the API).
    q = " ".join(q.replace("\x00", " ").split()[: search.MAX_QUERY_WORDS])[:MAX_QUERY]
    if not q and not abc:
        return [], 0
    filters = {"abc_class": abc} if abc else None
    try:
        found = records.list_records(
            db,
            visit.user,
            COUNTERPARTIES,
            q=q or None,
            filters=filters,
            sort=None if q else "legal_name",
            limit=limit,
        )
    except ValidationFailed:
        return [], 0
    return found.items, found.total


def phones(counterparty: Counterparty) -> list[str]:
    return [i18n.phone(c["value"]) for c in counterparty.contacts if c.get("kind") == "phone"][:2]


async def page(request: Request, home: Home) -> Response:
    q = request.query_params.get("q", "")

    def work(db: Session, visit: Visit) -> Response:
        abc = abc_filter(request)
        items, total = find(db, visit, q, limit=50, abc=abc)
        return visit.page(
            db,
            "search.html",
            q=q[:MAX_QUERY],
            items=items,
            total=total,
            phones=phones,
            abc=abc,
            classes=ABC,
        )

    return await signed_in(request, home, work)


async def results(request: Request, home: Home) -> Response:
    q = request.query_params.get("q", "")

    def work(db: Session, visit: Visit) -> Response:
        items, total = find(db, visit, q)
        return visit.fragment(
            "search_results.html", q=q[:MAX_QUERY], items=items, total=total, phones=phones, abc=""
        )

    return await signed_in(request, home, work)
