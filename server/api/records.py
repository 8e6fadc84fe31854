"""REST endpoints for every record type: list, get, create, partial update, delete.

``/api/v1/<type>`` and ``/api/v1/<type>/<id>`` for each type in
``crm.records.RECORD_TYPES``. A PATCH or DELETE may carry ``If-Match`` with the
record's version (its ETag) so that an edit based on an old copy is refused
with 409 instead of overwriting a colleague's change.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import records
from crm.errors import MalformedInput
from crm.models import User
from server.http import NUMBER, as_user, authenticated, int_param, json_response, read_json

_PAGING = ("limit", "offset", "sort", "q")


def _expected_version(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    raw = raw.strip().removeprefix("W/").strip('"')
    if not NUMBER.fullmatch(raw):
        raise MalformedInput('If-Match must be the record\'s ETag, e.g. "3"')
    return int(raw)


def _etag(record: Any) -> dict[str, str]:
    return {"ETag": f'"{record.version}"'}


def endpoints(rt: records.RecordType) -> list[Route]:
    async def list_(request: Request) -> Response:
        params = request.query_params
        filters = {k: v for k, v in params.items() if k not in _PAGING}

        def work(session: Any, user: User) -> dict[str, Any]:
            # Parsed once the caller is known: a stranger gets 401 whatever they send.
            # A number out of range is the record service's to refuse (422, with its range).
            limit = int_param(request, "limit", 50)
            offset = int_param(request, "offset", 0)
            page = records.list_records(
                session,
                user,
                rt,
                filters=filters,
                q=params.get("q"),
                sort=params.get("sort"),
                limit=limit,
                offset=offset,
            )
            return {
                "items": [records.to_dict(rt, r) for r in page.items],
                "total": page.total,
                "limit": page.limit,
                "offset": page.offset,
            }

        return json_response(await as_user(request, work, write=False))

    async def create(request: Request) -> Response:
        body = await read_json(request)

        def work(session: Any, user: User) -> tuple[dict[str, Any], dict[str, str]]:
            record = records.create(session, user, rt, body)
            return records.to_dict(rt, record), _etag(record)

        data, headers = await as_user(request, work, write=True)
        headers["Location"] = f"/api/v1/{rt.name}/{data['id']}"
        return json_response(data, status_code=201, headers=headers)

    async def create_batch(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise MalformedInput('send {"items": [{...}, ...]}')

        def work(session: Any, user: User) -> list[dict[str, Any]]:
            return [
                records.to_dict(rt, r)
                for r in records.create_many(session, user, rt, body["items"])
            ]

        return json_response({"items": await as_user(request, work, write=True)}, status_code=201)

    async def get(request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(session: Any, user: User) -> tuple[dict[str, Any], dict[str, str]]:
            record = records.get(session, user, rt, record_id)
            return records.to_dict(rt, record), _etag(record)

        data, headers = await as_user(request, work, write=False)
        return json_response(data, headers=headers)

    async def patch(request: Request) -> Response:
        record_id = request.path_params["id"]
        body = await read_json(request)  # authenticates first
        expected = _expected_version(request)

        def work(session: Any, user: User) -> tuple[dict[str, Any], dict[str, str]]:
            record = records.update(session, user, rt, record_id, body, expected_version=expected)
            return records.to_dict(rt, record), _etag(record)

        data, headers = await as_user(request, work, write=True)
        return json_response(data, headers=headers)

    async def delete(request: Request) -> Response:
        record_id = request.path_params["id"]

        def work(session: Any, user: User) -> None:
            records.delete(
                session, user, rt, record_id, expected_version=_expected_version(request)
            )

        await as_user(request, work, write=True)
        return Response(status_code=204)

    base = f"/api/v1/{rt.name}"
    reads = [
        Route(base, list_, methods=["GET"], name=f"list_{rt.singular}"),
        Route(base + "/{id}", get, methods=["GET"], name=f"get_{rt.singular}"),
    ]
    if rt.read_only:

        async def refuse(request: Request) -> Response:
            # A stranger learns nothing, not even that the type is read-only: 401 first.
            await authenticated(request)
            # Starlette would answer a bare "Method Not Allowed": say why, and where they come from.
            raise HTTPException(
                405,
                f"{rt.name} are read-only: the server computes or imports them, nobody writes them "
                "(docs/api.md)",
                headers={"Allow": "GET"},
            )

        return [
            *reads,
            Route(base, refuse, methods=["POST"], include_in_schema=False),
            Route(base + "/batch", refuse, methods=["POST"], include_in_schema=False),
            Route(base + "/{id}", refuse, methods=["PATCH", "DELETE"], include_in_schema=False),
        ]
    return [
        *reads,
        Route(base, create, methods=["POST"], name=f"create_{rt.singular}"),
        Route(base + "/batch", create_batch, methods=["POST"], name=f"create_{rt.singular}_batch"),
        Route(base + "/{id}", patch, methods=["PATCH"], name=f"update_{rt.singular}"),
        Route(base + "/{id}", delete, methods=["DELETE"], name=f"delete_{rt.singular}"),
    ]


routes = [route for rt in records.RECORD_TYPES.values() for route in endpoints(rt)]
