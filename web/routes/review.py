"""The mail review queue: letters the bridge could not file by itself, settled by office staff.

A letter is filed under one of the candidates the bridge found, or under a
counterparty found by name, INN or email right in the form; or dismissed. The
home's ``ReviewQueue`` does the filing (on the server, ``mail.bridge``) in a
transaction of its own, after this screen's checks (``visit.acting``).

Below the letters, the senders the bridge suggests as contact persons: **Create
contact person** makes one on the suggestion's counterparty, **Dismiss** drops the
suggestion. Both are changes to that counterparty, in this screen's own write
transaction, refused (403, nothing changed) to whoever may not change it.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from crm.errors import AlreadyExists, NotFound, ValidationFailed
from crm.models import Counterparty, User
from web import i18n
from web.home import Home, ReviewQueue
from web.routes.search import MAX_QUERY
from web.visit import Visit, acting, read_form, signed_in

COUNTERPARTIES = records.record_type("counterparties")
FOUND_AT_MOST = 10
DECIDED_ALREADY = i18n.N_("Someone decided on this suggestion already.")


def _queue(home: Home) -> ReviewQueue:
    if home.review is None:
        raise NotFound("no mail review here")
    return home.review


def _named(db: Session, user: User, ids: list[str]) -> list[Counterparty]:
    """The candidates this user may see; the others are not named to them."""
    found = []
    for record_id in ids:
        try:
            found.append(records.get(db, user, COUNTERPARTIES, record_id))
        except NotFound:
            continue
    return found


def _page(
    db: Session,
    visit: Visit,
    errors: dict[str, str] | None = None,
    offered: dict[str, list[Counterparty]] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Response:
    queue = _queue(visit.home)
    waiting = queue.waiting(db, visit.user)
    for item in waiting:
        item["named"] = (offered or {}).get(item["id"]) or _named(
            db, visit.user, item["candidates"]
        )
    suggested = queue.suggestions(db, visit.user)
    names = {
        cp.id: cp
        for cp in _named(db, visit.user, sorted({s["counterparty_id"] for s in suggested}))
    }
    for item in suggested:
        item["counterparty"] = names.get(item["counterparty_id"])
    return visit.page(
        db,
        "review.html",
        status_code=status_code,
        waiting=waiting,
        errors=errors or {},
        typed=typed or {},
        suggested=[s for s in suggested if s["counterparty"] is not None],
        notice=notice,
    )


async def show(request: Request, home: Home) -> Response:
    return await signed_in(request, home, _page)


async def settle(request: Request, home: Home) -> Response:
    """File under the chosen candidate, or under the one counterparty the search words find."""
    review_id = request.path_params["review_id"]
    form = await read_form(request)
    chosen = str(form.get("counterparty_id", ""))[:36]
    words = str(form.get("find", "")).strip()[:MAX_QUERY]

    def choose(db: Session, visit: Visit) -> tuple[str | None, list[Counterparty], str | None]:
        _queue(home).waiting(db, visit.user)  # refuses whoever may not sort mail, before any search
        if chosen and not words:
            return chosen, [], None
        if not words:
            return None, [], i18n.N_("Choose a counterparty or find one")
        found = records.list_records(
            db, visit.user, COUNTERPARTIES, q=words, limit=FOUND_AT_MOST
        ).items
        if len(found) == 1:
            return found[0].id, [], None
        return (
            None,
            found,
            i18n.N_("Nothing found") if not found else i18n.N_("Several found: choose one"),
        )

    def act(visit: Visit) -> Response:
        with home.read() as db:
            counterparty_id, offered, problem = choose(db, visit)
            if counterparty_id is None:
                return _page(
                    db,
                    visit,
                    {review_id: visit.gettext(problem) if problem else ""},
                    {review_id: offered} if offered else None,
                    {review_id: words},
                    422,
                )
        try:
            _queue(home).settle(visit.user, review_id, counterparty_id, None)
        except ValidationFailed as exc:  # settled meanwhile by someone else
            with home.read() as db:
                return _page(db, visit, {review_id: exc.message}, status_code=409)
        return visit.redirect("/review")

    return await acting(request, home, form, act)


async def dismiss(request: Request, home: Home) -> Response:
    review_id = request.path_params["review_id"]
    form = await read_form(request)

    def act(visit: Visit) -> Response:
        _queue(home).dismiss(visit.user, review_id)
        return visit.redirect("/review")

    return await acting(request, home, form, act)


async def letter(request: Request, home: Home) -> Response:
    """A waiting letter's text and addresses, to decide whose it is (plain text: no HTML here)."""
    review_id = request.path_params["review_id"]

    def work(db: Session, visit: Visit) -> Response:
        queue = _queue(home)
        item = next((r for r in queue.waiting(db, visit.user) if r["id"] == review_id), None)
        if item is None:
            raise NotFound(f"no letter {review_id} waits in review")
        return visit.page(
            db, "review_letter.html", item=item, letter=queue.preview(db, visit.user, review_id)
        )

    return await signed_in(request, home, work)


async def accept_suggestion(request: Request, home: Home) -> Response:
    """Make a suggested sender a contact person of the suggestion's counterparty."""
    suggestion_id = request.path_params["suggestion_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        try:
            _queue(home).accept_suggestion(db, visit.user, suggestion_id)
        except (
            AlreadyExists
        ):  # decided meanwhile (or the button pressed twice): nothing more is made
            return _page(db, visit, status_code=409, notice=visit.gettext(DECIDED_ALREADY))
        return visit.redirect("/review")

    return await signed_in(request, home, work, write=True, form=form)


async def dismiss_suggestion(request: Request, home: Home) -> Response:
    suggestion_id = request.path_params["suggestion_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        try:
            _queue(home).dismiss_suggestion(db, visit.user, suggestion_id)
        except AlreadyExists:
            return _page(db, visit, status_code=409, notice=visit.gettext(DECIDED_ALREADY))
        return visit.redirect("/review")

    return await signed_in(request, home, work, write=True, form=form)
