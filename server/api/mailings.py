"""Mailings over REST (``crm.mailings``): a mailing's plan, and queueing it.

The mailings themselves are a record type (``/api/v1/mailings``: list, get, create, update, delete
from ``crm.registry``; a draft only changes). ``GET /api/v1/mailings/{id}/plan`` previews a draft:
how many letters, clients, people opted out, unreachable and sharing an address, the recipients
(client, person, address) and who is left out and why; of a queued mailing it lists the letters
written and where each stands. Whoever sees the mailing sees its counts; the rows only of the
clients they see themselves (``hidden`` counts the rest). ``POST /api/v1/mailings/{id}/queue``
writes its letters to the outbox: 201 with the mailing and ``letters``; 200 with ``letters: 0``
when it was queued already (nothing is written twice); 403 for who sees it but does not keep it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import mailings, records
from crm.models import User
from mail.templates import FIELDS
from server.http import as_user, json_response, only_params

MAILINGS = records.record_type("mailings")


def answer(session: Any, user: User, mailing_id: str) -> dict[str, Any]:
    """The plan of a draft, or the letters of a queued mailing, as ``user`` may be shown them."""
    mailing = mailings.find(session, user, mailing_id)
    body: dict[str, Any] = {"mailing": records.to_dict(MAILINGS, mailing)}
    if mailing.status != "draft":
        letters, hidden = mailings.letters_of(session, user, mailing)
        body |= {
            "recipients": mailing.recipients,
            "opted_out": mailing.opted_out,
            "unreachable": mailing.unreachable,
            "items": [
                {**asdict(s.recipient), "interaction_id": s.interaction_id, "state": s.state}
                for s in letters
            ],
            "left_out": [],
            "hidden": hidden,
        }
        return body
    whole = mailings.plan(session, mailing)
    shown = mailings.seen_by(session, user, whole)
    return body | {
        "recipients": len(whole.recipients),
        "clients": whole.clients,
        "opted_out": whole.opted_out,
        "unreachable": whole.unreachable,
        "duplicates": whole.duplicates,
        "items": [asdict(r) for r in shown.recipients],
        "left_out": [asdict(x) for x in shown.left_out],
        "hidden": shown.hidden,
    }


async def plan(request: Request) -> Response:
    mailing_id = request.path_params["id"]

    def work(session: Any, user: User) -> dict[str, Any]:
        only_params(request)
        return answer(session, user, mailing_id)

    return json_response(await as_user(request, work, write=False))


async def queue(request: Request) -> Response:
    mailing_id = request.path_params["id"]

    def work(session: Any, user: User) -> tuple[dict[str, Any], bool]:
        only_params(request)
        done = mailings.queue(session, user, mailing_id, known_fields=FIELDS)
        return {"mailing": records.to_dict(MAILINGS, done.mailing), "letters": done.letters}, (
            done.already
        )

    body, already = await as_user(request, work, write=True)
    return json_response(body, status_code=200 if already else 201)


routes = [
    Route("/api/v1/mailings/{id}/plan", plan, methods=["GET"]),
    Route("/api/v1/mailings/{id}/queue", queue, methods=["POST"]),
]
