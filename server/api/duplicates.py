"""Likely duplicate counterparties (``crm.duplicates``) over REST, for whoever reviews them.

``GET /api/v1/duplicates?min_score=70&limit=100&offset=0``: the pairs among the
counterparties the caller may see, the surest first, each with its reasons and score,
the counterparties' names, and the groups of a company with its branches (one INN,
several KPPs), which are never merged. Office staff and administrators see the whole
base; a salesperson or a manager sees pairs among what they may see.

``POST /api/v1/duplicates/similar`` with the fields of a counterparty about to be created answers
the existing ones it would likely duplicate (score ≥ 85), for a warning before the create.

``POST /api/v1/counterparties/{id}/merge`` with ``{"absorb": ID, "take": ["legal_name", …]}``
merges the counterparty ``absorb`` into ``{id}`` (``crm.merge``: who may, what the survivor
keeps, what moves) and answers with the merge; ``GET /api/v1/counterparties/{id}/merges``
explains the merges into ``{id}``, newest first.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import duplicates, records
from crm import merge as merging
from crm.errors import MalformedInput
from crm.models import User
from server import merging as server_merging
from server.http import as_user, int_param, json_response, only_params, read_json

MAX_PAGE = 500


async def list_duplicates(request: Request) -> Response:
    def work(session: Any, user: User) -> dict[str, Any]:
        only_params(request, "min_score", "limit", "offset")
        min_score = int_param(request, "min_score", 70, 0, 100)
        limit = int_param(request, "limit", 100, 1, MAX_PAGE)
        offset = int_param(request, "offset", 0, 0, records.MAX_OFFSET)
        found = duplicates.scan(session, user, min_score=min_score)
        page = found.candidates[offset : offset + limit]
        shown = {i for c in page for i in (c.first, c.second)} | {
            i for group in found.branches for i in group
        }
        return {
            "items": [
                {"first": c.first, "second": c.second, "score": c.score, "reasons": c.reasons}
                for c in page
            ],
            "total": len(found.candidates),
            "limit": limit,
            "offset": offset,
            "branches": found.branches,
            "names": {i: found.names[i] for i in sorted(shown)},
        }

    return json_response(await as_user(request, work, write=False))


async def merge(request: Request) -> Response:
    survivor_id = request.path_params["id"]
    body = await read_json(request)  # authenticates first
    if not isinstance(body, dict) or not isinstance(body.get("absorb"), str):
        raise MalformedInput('send {"absorb": "<id of the counterparty to merge into this one>"}')
    unknown = set(body) - {"absorb", "take"}
    if unknown:
        raise MalformedInput(f"unknown keys: {', '.join(sorted(unknown))}")
    take = body.get("take", [])
    if not isinstance(take, list) or not all(isinstance(t, str) for t in take):
        raise MalformedInput("take must be a list of field names")

    def work(session: Any, user: User) -> dict[str, Any]:
        row = server_merging.merge(session, user, survivor_id, body["absorb"], set(take))
        return server_merging.as_dict(row)

    return json_response(await as_user(request, work, write=True))


async def similar(request: Request) -> Response:
    body = await read_json(request)  # authenticates first
    if not isinstance(body, dict):
        raise MalformedInput(
            'send the counterparty you are about to create: {"legal_name": ..., "inn": ..., ...}'
        )

    def work(session: Any, user: User) -> dict[str, Any]:
        # What a create would refuse (unknown keys, an INN as a number, no name) is refused here the
        # same way: a wrong type must not read as "no duplicate".
        records.validate_new(session, user, records.record_type("counterparties"), body)
        found = duplicates.similar(session, user, body)
        return {
            "items": [
                {
                    "id": c.second,
                    "legal_name": c.name,
                    "score": c.score,
                    "reasons": c.reasons,
                }
                for c in found
            ]
        }

    return json_response(await as_user(request, work, write=False))


async def list_merges(request: Request) -> Response:
    counterparty_id = request.path_params["id"]

    def work(session: Any, user: User) -> dict[str, Any]:
        only_params(request)
        rows = merging.explain(session, user, counterparty_id)
        return {"items": [server_merging.as_dict(r) for r in rows]}

    return json_response(await as_user(request, work, write=False))


routes = [
    Route("/api/v1/duplicates", list_duplicates, methods=["GET"]),
    Route("/api/v1/duplicates/similar", similar, methods=["POST"]),
    Route("/api/v1/counterparties/{id}/merge", merge, methods=["POST"]),
    Route("/api/v1/counterparties/{id}/merges", list_merges, methods=["GET"]),
]
