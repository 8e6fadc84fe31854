"""Sync endpoints (docs/sync-protocol.md) and the conflicts API.

``/sync/v1/push``, ``/sync/v1/pull`` and ``/sync/v1/bootstrap`` check the caller's
token, then the protocol and schema headers before anything else, so an old client is
told to upgrade without a byte of its outbox being touched (and a stranger gets 401).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import substitutes
from crm.errors import MalformedInput, Overloaded
from crm.models import Device, User
from server.http import (
    as_caller,
    as_caller_in,
    as_user,
    authenticated,
    db,
    dumps,
    json_response,
    read_json,
)
from sync import bootstrap as bootstrap_verb
from sync import conflicts, held, protocol, versions
from sync import pull as pull_verb
from sync import push as push_verb
from sync.group import PushGroups


def _versions(request: Request) -> int:
    """The client's schema, once its protocol and schema are ones this server serves."""
    return versions.check_versions(
        request.headers.get(protocol.PROTOCOL_HEADER), request.headers.get(protocol.SCHEMA_HEADER)
    )


def _packed(request: Request, data: Any) -> Response:
    """JSON, gzip-compressed when the client accepts it (bootstrap pages are large and repetitive)."""
    body = dumps(data)
    headers = {"Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", "") and len(body) > 1024:
        body = gzip.compress(body, compresslevel=3)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)


async def push(request: Request) -> Response:
    await authenticated(request)  # a stranger gets 401, and learns nothing of the protocol, first
    _versions(request)
    body = await read_json(request)

    def work(session: Session, user: User, device: Device) -> dict[str, Any]:
        return push_verb.push(session, user, device, body)

    # Written with the pushes that arrive meanwhile (``sync.group``), answered after the commit.
    groups: PushGroups = request.app.state.push_groups
    about = (getattr(request.state, "device_id", None), body)  # for ``push_verb.group``
    return json_response(
        await groups.run(lambda session: as_caller_in(session, request, work), about)
    )


# What a busy server asks a laptop to wait before it tries again; the agent adds up to half again
# at random, so a crowd sent away together does not come back together.
RETRY_AFTER = 2


@contextmanager
def _admitted(request: Request) -> Iterator[None]:
    """Take one of the process's ``sync_queue_limit`` places for a sync request, or answer 503 with
    ``Retry-After`` at once (``Overloaded``): past the bound a laptop learns to come back later
    instead of waiting into its timeout. The count lives in the event loop (one per process), so
    checking and taking a place need no lock."""
    state = request.app.state
    busy: int = getattr(state, "sync_busy", 0)
    if busy >= state.config.sync_queue_limit:
        raise Overloaded(
            f"the server is busy with {busy} syncs; nothing was done, try again in {RETRY_AFTER} s",
            retry_after=RETRY_AFTER,
        )
    state.sync_busy = busy + 1
    try:
        yield
    finally:
        state.sync_busy -= 1


def _bounded(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A sync verb behind ``_admitted``, once the caller is known (a stranger still gets 401 first)."""

    async def bounded(request: Request) -> Response:
        await authenticated(request)
        with _admitted(request):
            return await handler(request)

    bounded.__name__ = handler.__name__
    bounded.__doc__ = handler.__doc__
    return bounded


async def _told(request: Request, device_id: str, note: Callable[[Session], None]) -> None:
    """Write down what an answer tells its device, in a short write after the read that built it
    (pulls stay reads: laptops pulling never wait on each other). Nothing is sent if this fails."""
    database = db(request)

    def run() -> None:
        with database.write() as session:
            note(session)

    await run_in_threadpool(run)


async def pull(request: Request) -> Response:
    await authenticated(request)  # a stranger gets 401, and learns nothing of the protocol, first
    schema = _versions(request)
    body = await read_json(request)
    # A substitute's cover that began or ended today is entered before the first sync reads.
    if substitutes.due():
        await run_in_threadpool(substitutes.sweep_if_due, db(request))
    answer, device_id, keeps = await as_caller(
        request,
        lambda s, u, d: (
            pull_verb.pull(s, u, body, d.id, schema=schema),
            d.id,
            held.keeps_told(u),
        ),
        write=False,
    )
    if keeps and (
        pull_verb.starts_from_nothing(body) or any(c["op"] == "upsert" for c in answer["changes"])
    ):
        await _told(
            request, device_id, lambda s: pull_verb.remember_pull(s, device_id, body, answer)
        )
    return _packed(request, answer)


async def bootstrap(request: Request) -> Response:
    await authenticated(request)  # a stranger gets 401, and learns nothing of the protocol, first
    schema = _versions(request)
    body = await read_json(request)
    # A substitute's cover that began or ended today is entered before the first sync reads.
    if substitutes.due():
        await run_in_threadpool(substitutes.sweep_if_due, db(request))
    answer, device_id, keeps = await as_caller(
        request,
        lambda s, u, d: (
            bootstrap_verb.bootstrap(s, u, body, schema=schema),
            d.id,
            held.keeps_told(u),
        ),
        write=False,
    )
    if keeps:
        await _told(
            request,
            device_id,
            lambda s: bootstrap_verb.remember_bootstrap(s, device_id, body, answer),
        )
    return _packed(request, answer)


async def list_conflicts(request: Request) -> Response:
    """One page of the caller's conflicts: ``?status=open|resolved&limit=1..500&after=<id>``;
    ``next`` is the ``after`` of the following page, null on the last."""
    params = request.query_params

    def work(session: Session, user: User) -> tuple[list[dict[str, Any]], str | None]:
        # Parsed once the caller is known: a stranger gets 401 whatever they send.
        status = params.get("status", "open")
        if status not in ("open", "resolved"):
            raise MalformedInput("status must be open or resolved")
        raw_limit = params.get("limit", str(conflicts.MAX_CONFLICTS))
        if (
            not re.fullmatch(r"[0-9]{1,3}", raw_limit)
            or not 1 <= int(raw_limit) <= conflicts.MAX_CONFLICTS
        ):
            raise MalformedInput(f"limit must be an integer from 1 to {conflicts.MAX_CONFLICTS}")
        after = params.get("after")
        if after is not None and len(after) > 36:
            raise MalformedInput("after must be the id of the last conflict of the previous page")
        return conflicts.page_conflicts(
            session, user, status=status, limit=int(raw_limit), after=after
        )

    items, following = await as_user(request, work, write=False)
    return json_response({"items": items, "next": following})


async def resolve_conflict(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or body.get("choice") not in protocol.CHOICES:
        raise MalformedInput(
            f'send {{"choice": one of {", ".join(protocol.CHOICES)}, "value": ...}}'
        )
    conflict_id = request.path_params["conflict_id"]

    def work(session: Session, user: User, device: Device) -> dict[str, Any]:
        return conflicts.conflict_dict(
            conflicts.resolve(
                session, user, conflict_id, body["choice"], body.get("value"), device.id
            )
        )

    return json_response(await as_caller(request, work, write=True))


routes = [
    Route("/sync/v1/push", _bounded(push), methods=["POST"]),
    Route("/sync/v1/pull", _bounded(pull), methods=["POST"]),
    Route("/sync/v1/bootstrap", _bounded(bootstrap), methods=["POST"]),
    Route("/api/v1/conflicts", list_conflicts, methods=["GET"]),
    Route("/api/v1/conflicts/{conflict_id}/resolve", resolve_conflict, methods=["POST"]),
]
