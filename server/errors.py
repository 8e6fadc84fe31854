"""The one place where domain errors become HTTP responses.

Every error body is ``{"error": code, "message": text, "details"?: …, "request_id": id}``;
``request_id`` is also the answer's ``X-Request-Id`` and is on every log line of the
request (``server.logs``), so that a user's report finds the server's lines.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crm import errors
from server import http
from server.logs import request_id
from sync import versions as sync_versions

log = logging.getLogger(__name__)

# A feed's token is its password: it never goes into a log line.
_SECRET_PATH = re.compile(r"(/calendar/)[^/]+")


def _path(request: Request) -> str:
    return _SECRET_PATH.sub(r"\1…", request.url.path)


def error_response(
    body: dict[str, Any], status_code: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error answer: ``body`` (``error``, ``message``, maybe ``details``) with the request's id."""
    return JSONResponse(
        {**body, "request_id": request_id()}, status_code=status_code, headers=headers
    )


STATUS: dict[type[errors.SatchelError], int] = {
    errors.ValidationFailed: 422,
    errors.NotFound: 404,
    errors.PermissionDenied: 403,
    errors.Unauthenticated: 401,
    errors.Overloaded: 503,
    errors.RateLimited: 429,
    errors.VersionConflict: 409,
    errors.AlreadyExists: 409,
    errors.InUse: 409,
    errors.ImportFailed: 422,
    errors.MalformedInput: 400,
    errors.TooLarge: 413,
    sync_versions.UpgradeRequired: 426,
    sync_versions.ServerTooOld: 400,
    sync_versions.SequenceGap: 409,
    sync_versions.SequenceReused: 409,
}


def status_for(exc: errors.SatchelError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.SatchelError)
    if not isinstance(exc, errors.Unauthenticated):
        # A token that passed the gate on memory is checked before any other error is told: a
        # revoked laptop's malformed push still gets 401, as a stranger's does.
        try:
            await http.confirm(request)
        except errors.Unauthenticated as refused:
            exc = refused
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="satchel"'
    return error_response(exc.to_dict(), status_for(exc), headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    try:
        await http.confirm(request)  # as in ``domain_error``
    except errors.Unauthenticated as refused:
        return await domain_error(request, refused)
    return error_response(
        {"error": "http_error", "message": exc.detail}, exc.status_code, exc.headers
    )


# What SQLite and PostgreSQL say when the disk (or the database's size limit) is full.
_FULL = ("database or disk is full", "no space left on device", "disk full")


async def _refused(request: Request) -> Response | None:
    """The 401 of a token that only passed the gate (``server.http.TokenGate``) and is not good
    now, to answer instead of a database's error; None if it is good, or cannot be checked."""
    try:
        await http.confirm(request)
    except errors.Unauthenticated as refused:
        return await domain_error(request, refused)
    except Exception:  # noqa: BLE001 - the database is what failed: its own answer stands
        return None
    return None


def _try_again(message: str) -> Response:
    return error_response({"error": "overloaded", "message": message}, 503, {"Retry-After": "1"})


async def database_error(request: Request, exc: Exception) -> Response:
    """A full disk is the operator's to fix and the client's to retry; a deadlock the client's to
    retry at once; the transaction was rolled back."""
    if (refused := await _refused(request)) is not None:
        return refused
    # PostgreSQL gave up on a transaction that met another (a deadlock, a serialisation failure):
    # the same request, sent again, goes through (a REST write is sent again by the server first).
    if getattr(getattr(exc, "orig", None), "sqlstate", None) in http.MET_ANOTHER:
        log.warning(
            "a transaction met another and was rolled back on %s %s", request.method, _path(request)
        )
        return _try_again(
            "the server was busy with the same records; nothing was changed, try again"
        )
    if getattr(exc, "connection_invalidated", False):
        # The database restarted, or dropped this connection: the pool has let go of the old ones.
        log.warning("the database connection was lost on %s %s", request.method, _path(request))
        return _try_again("the server lost its connection to the database; try again")
    if any(marker in str(exc).lower() for marker in _FULL):
        log.error("storage full on %s %s", request.method, _path(request))
        return error_response(
            {
                "error": "storage_full",
                "message": "the server's disk is full; nothing was changed, try again later",
            },
            507,
            {"Retry-After": "60"},
        )
    return await unexpected_error(request, exc)


async def integrity_error(request: Request, exc: Exception) -> Response:
    """A unique key taken between our check and the insert (or never checked: a login or a
    team name differing only in case). The transaction was rolled back."""
    if (refused := await _refused(request)) is not None:
        return refused
    log.info(
        "integrity error on %s %s: %s",
        request.method,
        _path(request),
        type(getattr(exc, "orig", exc)).__name__,
    )
    orig = getattr(exc, "orig", exc)
    refusal = errors.refused_by_keys(str(orig), getattr(orig, "sqlstate", None))
    return error_response(refusal.to_dict(), status_for(refusal))


async def data_error(request: Request, exc: Exception) -> Response:
    """A value the database refused (out of range, not text). Input is bounded before it gets
    there; this is the backstop, so that a bound we missed is still the client's 4xx."""
    if (refused := await _refused(request)) is not None:
        return refused
    log.warning(
        "database refused a value on %s %s: %s",
        request.method,
        _path(request),
        type(getattr(exc, "orig", exc)).__name__,
    )
    return error_response(
        {
            "error": "validation_failed",
            "message": "a value is out of the range the database can store; nothing was changed",
        },
        422,
    )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    if (refused := await _refused(request)) is not None:
        return refused
    log.exception("unhandled error on %s %s", request.method, _path(request))
    return error_response(
        {"error": "internal", "message": "internal server error; nothing was changed"}, 500
    )


HANDLERS = {
    errors.SatchelError: domain_error,
    HTTPException: http_error,
    OperationalError: database_error,
    IntegrityError: integrity_error,
    DataError: data_error,
    Exception: unexpected_error,
}
