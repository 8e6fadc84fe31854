"""Calendar subscription feeds over HTTP, and the API to manage their tokens.

``GET``/``HEAD /calendar/<token>.ics`` answers what Outlook, Google and phone
calendars poll. The validators are computed before the feed is built, so an
unchanged feed costs two small queries and a ``304``. An unknown or revoked
token, one of a disabled user, and a team feed of someone who is no longer a
manager get ``404`` (nothing to learn from it); an address that keeps guessing
gets ``429`` — from the feeds only: its misses are counted apart from failed
logins, so they never stop anyone at that address from signing in.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from calendar_bridge import feeds, tokens
from calendar_bridge.models import FeedToken
from crm import accounts
from crm.errors import MalformedInput
from crm.models import User
from crm.models.base import to_jsonable
from server.http import as_user, client_address, config, db, json_response, read_json

# Feed clients poll for ever; a wrong URL in one is not an attack, but a stream of guesses is.
# Looser than the login limit, and counted apart from it (``accounts.check_feed_guesses``).
GUESS_POLICY = accounts.LoginPolicy(max_failures=20, window=timedelta(minutes=15))
_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-cache",
}


class FeedCache:
    """The last few feeds built, by ETag: a calendar that polls without validators
    (Google's does not send them) gets the same bytes again without a rebuild.
    The ETag already names everything the bytes depend on, so an entry is never stale."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._items.get(etag)
            if body is not None:
                self._items.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        with self._lock:
            self._items[etag] = body
            self._items.move_to_end(etag)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _not_modified(request: Request, v: feeds.Validators) -> bool:
    """RFC 9110 §13.1.2 and §13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or v.etag in tags
    ims = request.headers.get("if-modified-since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        return False
    return v.last_modified.replace(microsecond=0) <= since


async def feed(request: Request) -> Response:
    token = request.path_params["token"]
    database = db(request)
    address = client_address(request)
    base_url = config(request).public_url
    cache: FeedCache = request.app.state.feed_cache

    def run() -> Response:
        now = datetime.now(UTC)
        with database.read() as session:
            found = tokens.resolve(session, token)
            if found is None:
                # Only a miss is counted and limited: a good token's polls stay two queries long.
                # Counted apart from failed logins: a stale subscription never locks an office out.
                accounts.check_feed_guesses(session, address, GUESS_POLICY)
            else:
                feed_token, user = found
                v = feeds.validators(session, feed_token, user, now.date())
                headers = {
                    **_HEADERS,
                    "ETag": v.etag,
                    "Last-Modified": format_datetime(v.last_modified, usegmt=True),
                }
                if _not_modified(request, v):
                    return Response(status_code=304, headers=headers)
                body = cache.get(v.etag)
                if body is None:
                    body = feeds.build(session, feed_token, user, now, base_url)
                    cache.put(v.etag, body)
                return Response(body, headers=headers, media_type="text/calendar; charset=utf-8")
        with database.write() as session:
            accounts.record_feed_guess(session, address, GUESS_POLICY)
        return Response(
            "no such calendar\n", status_code=404, headers=_HEADERS, media_type="text/plain"
        )

    return await run_in_threadpool(run)


def feed_dict(request: Request, item: FeedToken, token: str | None = None) -> dict[str, Any]:
    data = {
        "id": item.id,
        "kind": item.kind,
        "free_busy": item.free_busy,
        "label": item.label,
        "created_at": to_jsonable(item.created_at),
        "revoked_at": to_jsonable(item.revoked_at),
    }
    if token is not None:  # shown once, when issued
        data["url"] = f"{config(request).public_url}/calendar/{token}.ics"
    return data


async def list_feeds(request: Request) -> Response:
    def work(session: Any, user: User) -> list[dict[str, Any]]:
        return [feed_dict(request, f) for f in tokens.mine(session, user)]

    return json_response({"items": await as_user(request, work, write=False)})


async def create_feed(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        raise MalformedInput(
            'send {"kind": "plan" | "team" | "birthdays", "free_busy": false, "label": "…"}'
        )

    def work(session: Any, user: User) -> dict[str, Any]:
        item, token = tokens.issue(
            session,
            user,
            body["kind"],
            free_busy=bool(body.get("free_busy")),
            label=str(body.get("label") or ""),
        )
        return feed_dict(request, item, token)

    return json_response(await as_user(request, work, write=True), status_code=201)


async def revoke_feed(request: Request) -> Response:
    def work(session: Any, user: User) -> dict[str, Any]:
        return feed_dict(request, tokens.revoke(session, user, request.path_params["feed_id"]))

    return json_response(await as_user(request, work, write=True))


async def regenerate_feed(request: Request) -> Response:
    def work(session: Any, user: User) -> dict[str, Any]:
        item, token = tokens.regenerate(session, user, request.path_params["feed_id"])
        return feed_dict(request, item, token)

    return json_response(await as_user(request, work, write=True), status_code=201)


routes = [
    Route("/calendar/{token}.ics", feed, methods=["GET", "HEAD"]),
    Route("/api/v1/feeds", list_feeds, methods=["GET"]),
    Route("/api/v1/feeds", create_feed, methods=["POST"]),
    Route("/api/v1/feeds/{feed_id}", revoke_feed, methods=["DELETE"]),
    Route("/api/v1/feeds/{feed_id}/regenerate", regenerate_feed, methods=["POST"]),
]
