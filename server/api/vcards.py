"""Contact persons as vCards over REST (``crm.vcards``), for phones, Outlook and address books.

``GET /api/v1/counterparties/{id}/vcard``: every contact person of a counterparty one may see,
as one ``.vcf``; ``GET /api/v1/contact-persons/{id}/vcard``: one person;
``POST /api/v1/counterparties/{id}/vcard`` with a ``.vcf`` body (``text/vcard``): its cards as
contact persons of that counterparty — all or nothing, cards already there skipped; answers
``201 {"created": [ids], "skipped": [names]}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import records, vcards
from crm.models import User
from server.http import as_user, json_response, only_params, read_text

VCARD = "text/vcard; charset=utf-8"


def _download(text: str, name: str) -> Response:
    return Response(
        text,
        media_type=VCARD,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.vcf"},
    )


async def counterparty_cards(request: Request) -> Response:
    counterparty_id = request.path_params["id"]

    def work(session: Any, user: User) -> tuple[str, str]:
        only_params(request)
        people = vcards.people_of(session, user, counterparty_id)
        cp = records.get(session, user, records.record_type("counterparties"), counterparty_id)
        return vcards.export(session, user, people), cp.short_name or cp.legal_name

    text, name = await as_user(request, work, write=False)
    return _download(text, name)


async def person_card(request: Request) -> Response:
    person_id = request.path_params["id"]

    def work(session: Any, user: User) -> tuple[str, str]:
        only_params(request)
        person = records.get(session, user, vcards.PEOPLE, person_id)
        return vcards.export(session, user, [person]), person.full_name

    text, name = await as_user(request, work, write=False)
    return _download(text, name)


async def import_cards(request: Request) -> Response:
    counterparty_id = request.path_params["id"]
    text = await read_text(request)  # authenticates first

    def work(session: Any, user: User) -> dict[str, Any]:
        only_params(request)
        done = vcards.import_cards(session, user, counterparty_id, text)
        return {"created": [p.id for p in done.created], "skipped": done.skipped}

    return json_response(await as_user(request, work, write=True), status_code=201)


routes = [
    Route("/api/v1/counterparties/{id}/vcard", counterparty_cards, methods=["GET"]),
    Route("/api/v1/counterparties/{id}/vcard", import_cards, methods=["POST"]),
    Route("/api/v1/contact-persons/{id}/vcard", person_card, methods=["GET"]),
]
