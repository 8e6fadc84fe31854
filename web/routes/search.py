"""Quick search: a counterparty by any part of a phone, a name, an INN or an email.

The search page also filters by ABC class (``?abc=A|B|C``, the class the newest kept computation
put on the cards, ``crm.analytics``) and by a saved segment (``?segment=<id>``, ``crm.segments``):
with a query, the matches in that class and segment; without one, every counterparty of that class
and segment one sees, by name. Each result shows its class («A/X»).

The same query serves the full results page (no script needed) and the
fragment the static script fetches as the user types. Both go through
``crm.records.list_records(q=...)``, which applies the access rules.
"""

from __future__ import annotations

from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import records, search
from crm import segments as saved
from crm.errors import MalformedInput, ValidationFailed
from crm.models import Counterparty, Segment
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


def segment_filter(request: Request) -> str:
    """The saved segment asked (its id; ``""``: none)."""
    segment = request.query_params.get("segment") or ""
    if len(segment) > 200 or "\x00" in segment:
        raise MalformedInput("segment is a saved segment's id")
    return segment


def find(
    db: Session,
    visit: Visit,
    q: str,
    limit: int = PAGE,
    abc: str = "",
    segment: Segment | None = None,
) -> tuple[list[Counterparty], int]:
    # What a person types into a search box is never refused: an over-long paste is cut to
    # the words the search takes (crm.search bounds them, as it must for the API).
    q = " ".join(q.replace("\x00", " ").split()[: search.MAX_QUERY_WORDS])[:MAX_QUERY]
    if segment is not None:
        where = [col(Counterparty.abc_class) == abc] if abc else []
        try:
            return saved.listed(
                db, visit.user, segment.criteria, q=q or None, where=where, limit=limit
            )
        except ValueError:
            return [], 0
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
        asked = segment_filter(request)
        segment = saved.of(db, visit.user, asked) if asked else None
        items, total = find(db, visit, q, limit=50, abc=abc, segment=segment)
        return visit.page(
            db,
            "search.html",
            q=q[:MAX_QUERY],
            items=items,
            total=total,
            phones=phones,
            abc=abc,
            classes=ABC,
            segment=segment,
            segment_choices=saved.choices(db),
        )

    return await signed_in(request, home, work)


async def results(request: Request, home: Home) -> Response:
    q = request.query_params.get("q", "")

    def work(db: Session, visit: Visit) -> Response:
        items, total = find(db, visit, q)
        return visit.fragment(
            "search_results.html",
            q=q[:MAX_QUERY],
            items=items,
            total=total,
            phones=phones,
            abc="",
            segment=None,
        )

    return await signed_in(request, home, work)
