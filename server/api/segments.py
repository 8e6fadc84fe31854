"""A saved segment's members over REST (``crm.segments``).

The segments themselves are a record type (``/api/v1/segments``: list, get, create, update, delete
from ``crm.registry``). ``GET /api/v1/segments/{id}/members`` lists the counterparties the caller
sees that match the segment, by name, paged as every list is (``limit``, ``offset``; ``q``
searches among them as ``/api/v1/counterparties?q=`` does): each one's id, name, INN, owner (id
and login), region and ABC/XYZ classes, with ``total``. (``/api/v1/counterparties?segment=`` is
the card's own ``segment`` label, a filter of that list: hence a route of its own.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import records, segments
from crm.errors import MalformedInput
from crm.models import User
from server.http import as_user, int_param, json_response, only_params


async def members(request: Request) -> Response:
    segment_id = request.path_params["id"]

    def work(session: Any, user: User) -> dict[str, Any]:
        only_params(request, "limit", "offset", "q")
        limit = int_param(request, "limit", 50, 1, records.MAX_PAGE)
        offset = int_param(request, "offset", 0, 0, records.MAX_OFFSET)
        segment = segments.of(session, user, segment_id)
        try:
            page, total = segments.listed(
                session,
                user,
                segment.criteria,
                q=request.query_params.get("q") or None,
                limit=limit,
                offset=offset,
            )
        except ValueError as exc:
            raise MalformedInput(f"q: {exc}") from None
        logins = dict(session.execute(select(col(User.id), col(User.login))).all())
        return {
            "segment": {"id": segment.id, "name": segment.name, "criteria": segment.criteria},
            "items": [
                {
                    "id": c.id,
                    "legal_name": c.legal_name,
                    "inn": c.inn,
                    "owner_id": c.owner_id,
                    "owner": logins.get(c.owner_id or ""),
                    "region": c.region,
                    "abc_class": c.abc_class,
                    "xyz_class": c.xyz_class,
                }
                for c in page
            ],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    return json_response(await as_user(request, work, write=False))


routes = [Route("/api/v1/segments/{id}/members", members, methods=["GET"])]
