"""Small pieces every endpoint uses: reading bodies, finding the caller, running DB work."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from crm import accounts
from crm.database import Database
from crm.errors import MalformedInput, TooLarge, Unauthenticated
from crm.models import Device, User
from server.config import Config

T = TypeVar("T")


def db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def config(request: Request) -> Config:
    return request.app.state.config  # type: ignore[no-any-return]


async def read_json(request: Request) -> Any:
    """The request body as JSON, refusing oversized and malformed bodies before any work."""
    limit = config(request).max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body is {declared} bytes; the limit is {limit}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body is over the limit of {limit} bytes")
    try:
        return json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"request body is not valid JSON: {exc}") from None


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>'; log in to get a token")
    return token.strip()


def caller(session: Session, request: Request) -> tuple[User, Device]:
    """The authenticated user and device of ``request``, looked up in ``session``'s transaction."""
    return accounts.authenticate(session, bearer_token(request))


async def as_caller(request: Request, work: Callable[[Session, User, Device], T], *, write: bool) -> T:
    """Authenticate and run ``work`` (given the user and their device) in one transaction off the event loop.

    Authentication happens inside the same transaction as the work, so a device
    revoked a moment ago cannot slip one more write through.
    """
    database = db(request)

    def run() -> T:
        with (database.write() if write else database.read()) as session:
            user, device = caller(session, request)
            if write:
                accounts.touch_device(session, device)
            return work(session, user, device)

    return await run_in_threadpool(run)


async def as_user(request: Request, work: Callable[[Session, User], T], *, write: bool) -> T:
    """``as_caller`` for work that needs only the user."""
    return await as_caller(request, lambda session, user, _device: work(session, user), write=write)


def json_response(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status_code, headers=headers)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
