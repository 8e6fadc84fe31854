"""Small pieces every endpoint uses: reading bodies, finding the caller, running DB work."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import orjson
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from crm import accounts, changes
from crm.database import Database
from crm.errors import MalformedInput, TooLarge, Unauthenticated
from crm.models import Device, User
from crm.models.base import utcnow
from server.config import Config

T = TypeVar("T")
log = logging.getLogger(__name__)

# How often a device's last contact is written down (crm.accounts.touch_device's minute).
SEEN_EVERY = timedelta(minutes=1)


def db(request: Request) -> Database:
    return request.app.state.db


def config(request: Request) -> Config:
    return request.app.state.config


# Deep enough for any body Satchel sends (a sync push nests about six levels); a
# hostile body nested thousands deep would exhaust the parser's or a handler's stack.
MAX_JSON_DEPTH = 32
# Python refuses to parse an integer of over 4,300 digits with a ValueError (a 500). Counts,
# versions and amounts are bounded far lower where they are read; this only keeps int() safe.
MAX_JSON_INT_DIGITS = 100


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise MalformedInput(
            f"request body has an integer of {len(text)} digits; at most {MAX_JSON_INT_DIGITS}"
        )
    return int(text)


def _parse_constant(name: str) -> Any:
    raise MalformedInput(f"request body has {name}, which is not a JSON number")


def check_text(value: str, where: str) -> None:
    """Refuse text no database stores: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates
    (not encodable as UTF-8). ``MalformedInput`` names ``where`` it was found."""
    if "\x00" in value:
        raise MalformedInput(f"{where} contains a NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedInput(
            f"{where} contains a lone UTF-16 surrogate, which is not text"
        ) from None


def _check_tree(data: Any) -> None:
    """Walk a parsed body without recursion: bound its depth, refuse bad text and non-finite numbers.

    A refusal names where in the body it was found (``mutations[2].fields.notes``), so that a client
    with a thousand mutations in one push knows which one; the path is worked out only then."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            try:
                check_text(item, "request body")
            except MalformedInput:
                check_text(item, _path_of(data, item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise MalformedInput(f"{_path_of(data, item)} has a number too large to represent")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise MalformedInput(
                    f"request body is nested more than {MAX_JSON_DEPTH} levels deep "
                    f"({_path_of(data, item, cut=MAX_JSON_DEPTH // 4).removeprefix('request body ')})"
                )
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((value, depth + 1) for value in item.values())
            else:
                stack.extend((value, depth + 1) for value in item)


def _path_of(data: Any, found: Any, *, cut: int = 8) -> str:
    """Where ``found`` (the very object) sits in ``data``: ``request body at mutations[2].fields.notes``;
    a key of an object is named as ``(a key)``. Depth first with one path for the branch being
    walked (memory as deep as the body, not as large); at most ``cut`` steps are shown."""
    if data is found:
        return "request body"
    path: list[str] = []
    branches: list[Iterator[tuple[str, Any, bool]]] = [_steps(data)]
    while branches:
        step = next(branches[-1], None)
        if step is None:
            branches.pop()
            if path:
                path.pop()
            continue
        name, item, is_key = step
        if item is found:
            return _named([*path, name], cut, key=is_key)
        if isinstance(item, dict | list):
            path.append(name)
            branches.append(_steps(item))
    return "request body"


def _steps(item: Any) -> Iterator[tuple[str, Any, bool]]:
    """Each key and value of an object (a key, then its value), or each element of an array."""
    if isinstance(item, dict):
        for key, value in item.items():
            name = (
                f".{key[:60]}"
                if key.isidentifier()
                else f"[{json.dumps(key[:60], ensure_ascii=False)}]"
            )
            yield name, key, True
            yield name, value, False
    elif isinstance(item, list):
        for at, value in enumerate(item):
            yield f"[{at}]", value, False


_PATH_SHOWN = 120  # characters of a path in an answer


def _named(path: list[str], cut: int, *, key: bool = False) -> str:
    shown = "".join(path[:cut]).lstrip(".")
    if len(path) > cut or len(shown) > _PATH_SHOWN:
        shown = shown[:_PATH_SHOWN] + "…"
    return f"request body at {shown}" + (" (a key)" if key else "")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: ``{"absorb": A, "absorb": B}`` is ambiguous
    (parsers disagree on which wins), so it is refused rather than read as the last one."""
    made: dict[str, Any] = {}
    for key, value in pairs:
        if key in made:
            raise MalformedInput(f"request body gives the key {key[:40]!r} more than once")
        made[key] = value
    return made


def _parse(body: bytes) -> Any:
    try:
        data = json.loads(
            body or b"null",
            parse_int=_parse_int,
            parse_constant=_parse_constant,
            object_pairs_hook=_object,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedInput(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedInput(
            f"request body is nested more than {MAX_JSON_DEPTH} levels deep"
        ) from None
    _check_tree(data)
    return data


async def read_json(request: Request, *, public: bool = False) -> Any:
    """The request body as JSON, refusing oversized and malformed bodies before any work.

    Unless the route is ``public`` (logging in), the caller is authenticated
    first, so that an unauthenticated request gets 401 whatever its body holds
    and no stranger's bytes are read. The caller found is kept on the request for
    the handler's transaction (``as_caller``), which does not look the token up again.
    """
    if not public:
        await authenticated(request)
    limit = config(request).max_body_bytes
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise TooLarge(f"request body is {declared} bytes; the limit is {limit}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body is over the limit of {limit} bytes")
    return _parse(body)


async def read_text(request: Request) -> str:
    """The request body as text (a ``.vcf`` file): the caller authenticated first, the size
    limited as for JSON; UTF-8, or Windows-1251 as older Outlook writes it."""
    await authenticated(request)
    limit = config(request).max_body_bytes
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body is over the limit of {limit} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = body.decode("cp1251", errors="replace")
    if "\x00" in text:
        raise MalformedInput("request body holds a NUL character")
    return text


class TokenGate:
    """The tokens this process found good in the last few seconds (by hash: the device each names).

    ``authenticated`` is the gate before a request's body is read: a stranger gets 401 and none of
    their bytes are read. A laptop syncing, or a browser's screens, send one request after another
    with the same token; asking the database at the gate each time was a transaction and a thread
    of its own for every request with a body. The gate is not the decision: the request's own
    transaction checks the device again (``caller``), and an error told before that check — a
    malformed body, an old protocol — is told only after the token is checked for real
    (``confirm``), so a token revoked a second ago still gets the 401 it got before. Bounded;
    nothing in it has to agree with another process.
    """

    def __init__(self, seconds: float = 10.0, most: int = 4096) -> None:
        self.seconds = seconds
        self.most = most
        self._good: dict[str, tuple[str, float]] = {}

    def device(self, token: str) -> str | None:
        key = accounts.token_hash(token)
        found = self._good.get(key)
        if found is None:
            return None
        if time.monotonic() > found[1]:
            self._good.pop(key, None)
            return None
        return found[0]

    def good(self, token: str, device_id: str) -> None:
        if len(self._good) >= self.most:
            self._good.pop(next(iter(self._good)), None)
        self._good[accounts.token_hash(token)] = (device_id, time.monotonic() + self.seconds)


def _gate(request: Request) -> TokenGate | None:
    return getattr(request.app.state, "token_gate", None)


async def authenticated(request: Request) -> None:
    """Raise ``Unauthenticated`` unless the request carries a token that is good now.

    The token is looked up once per request: the device found is kept on
    ``request.state`` for ``as_caller``. A token found good a moment ago passes at once
    (``TokenGate``) and is checked in the request's transaction.
    """
    if getattr(request.state, "device_id", None) is not None:
        return
    token = bearer_token(request)
    gate = _gate(request)
    known = gate.device(token) if gate is not None else None
    if known is not None:
        request.state.device_id = known
        request.state.through_gate = True
        return
    request.state.device_id = await _check(request, token)


async def _check(request: Request, token: str) -> str:
    database = db(request)

    def check() -> str:
        with database.read() as session:
            _user, device = accounts.authenticate(session, token)
            return device.id

    device_id = await run_in_threadpool(check)
    gate = _gate(request)
    if gate is not None:
        gate.good(token, device_id)
    return device_id


async def confirm(request: Request) -> None:
    """Check for real a token that only passed ``TokenGate`` and was not checked since; raise
    ``Unauthenticated`` if it is not good now. Before telling any other error (``server.errors``)."""
    if getattr(request.state, "through_gate", False) and not getattr(
        request.state, "confirmed", False
    ):
        request.state.confirmed = True
        await _check(request, bearer_token(request))


# ASCII digits only (str.isdigit() and int() take superscripts and other scripts' digits),
# and few enough that int() never meets a 5,000-digit number.
NUMBER = re.compile(r"[0-9]{1,19}")


def int_param(
    request: Request, name: str, default: int, low: int = 0, high: int | None = None
) -> int:
    """An integer query parameter from ``low`` to ``high``, or ``default`` when it is not given;
    400 for anything else, naming the range."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = int(raw) if NUMBER.fullmatch(raw) else None
    if value is None or value < low or (high is not None and value > high):
        within = f"from {low}" + (f" to {high}" if high is not None else "")
        raise MalformedInput(
            f"query parameter {name} must be a whole number {within}, got {raw[:40]!r}"
        )
    return value


def only_params(request: Request, *names: str) -> None:
    """400 for a query parameter the endpoint does not take (a typo must not pass for a default)."""
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        takes = ", ".join(names) if names else "none"
        raise MalformedInput(
            f"unknown query parameter {', '.join(repr(u[:40]) for u in unknown[:5])}; this endpoint takes {takes}"
        )


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>'; log in to get a token")
    return token.strip()


def caller(session: Session, request: Request) -> tuple[User, Device]:
    """The authenticated user and device of ``request``, looked up in ``session``'s transaction:
    by the token, or by the device's key when ``read_json`` has already checked the token."""
    device_id = getattr(request.state, "device_id", None)
    if device_id is not None:
        found = accounts.authenticate_device(session, device_id)
    else:
        found = accounts.authenticate(session, bearer_token(request))
    request.state.confirmed = True
    return found


async def as_caller(
    request: Request, work: Callable[[Session, User, Device], T], *, write: bool
) -> T:
    """Authenticate and run ``work`` (given the user and their device) in one transaction off the event loop.

    The caller is checked inside the same transaction as the work, so a device
    revoked a moment ago (while its body was uploading, say) cannot slip one more
    write through. The token itself is looked up once: here, or in ``read_json``.
    """
    database = db(request)

    def run() -> T:
        # A write that met another one (a deadlock, a serialisation failure) was rolled back whole
        # by the database: written again, it goes through. A laptop's push takes the data version
        # first and then its records, a REST write its records and then the version, so the two
        # on one record at once deadlock now and then; the REST write, a person waiting, is the
        # one sent again (a push given up is answered 503, and its laptop comes back).
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return once()
            except DBAPIError as exc:
                if not write or attempt == WRITE_ATTEMPTS or not _met_another(exc):
                    raise
                # The method only: a path may carry what a log must not (server.errors._path).
                log.info("a %s met another write and is written again", request.method)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def once() -> T:
        with database.write() if write else database.read() as session:
            user, device = caller(session, request)
            check_request_line(request)  # after the token: a stranger learns nothing from a 400
            if write:
                accounts.touch_device(session, device)
                # The data version taken at the end, right before the change log is written and
                # the commit: other writers wait for its row only that long (``crm.changes``).
                with changes.holding(session, late=True):
                    result = work(session, user, device)
            else:
                result = work(session, user, device)
            unseen = device.id if not write and _unseen_for_a_minute(device) else None
        if unseen is not None:
            _seen(database, unseen)
        return result

    return await run_in_threadpool(run)


# How many times a REST write is tried when the database gives it up for meeting another.
WRITE_ATTEMPTS = 3
# PostgreSQL's codes for a transaction given up for another's sake: a deadlock, a serialisation failure.
MET_ANOTHER = ("40P01", "40001")


def _met_another(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in MET_ANOTHER


def _unseen_for_a_minute(device: Device) -> bool:
    seen = device.last_seen_at
    return seen is None or utcnow() - seen > SEEN_EVERY


def _seen(database: Database, device_id: str) -> None:
    """Note that a device that only read (pulled) was seen: one short write at most once a minute
    per device, after its answer is ready. Failing to note it never fails the request."""
    try:
        with database.write() as session:
            device = session.get(Device, device_id)
            if device is not None:
                accounts.touch_device(session, device)
    except Exception:  # noqa: BLE001 - a busy writer only delays the note to the next request
        log.warning("could not note when device %s was last seen", device_id, exc_info=True)


def check_request_line(request: Request) -> None:
    """Refuse NUL and the like in the path's ids and the query before they reach a database."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, f"path parameter {name}")
    for name, value in request.query_params.multi_items():
        check_text(name + value, f"query parameter {name}")


def as_caller_in(
    session: Session, request: Request, work: Callable[[Session, User, Device], T]
) -> T:
    """``as_caller``'s checks and ``work`` for a write, in a transaction someone else opened and
    commits (``sync.group``: a push written with others)."""
    user, device = caller(session, request)
    check_request_line(request)
    # Not seen here: the group notes its laptops seen after its commit (``accounts.note_seen``).
    return work(session, user, device)


async def as_user(request: Request, work: Callable[[Session, User], T], *, write: bool) -> T:
    """``as_caller`` for work that needs only the user."""
    return await as_caller(request, lambda session, user, _device: work(session, user), write=write)


class Json(JSONResponse):
    """Starlette's JSON answer (UTF-8, compact) written by orjson: a pull's page of 500 records in
    0.3 ms against the standard library's 4.3 ms. Keys that are not strings are written as strings,
    as the standard library does; NaN is written as null."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def dumps(content: Any) -> bytes:
    """``content`` as JSON bytes, as :class:`Json` writes it."""
    try:
        return orjson.dumps(content)
    except TypeError:  # a key that is not a string: the slower way, which writes it as one
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def json_response(
    data: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return Json(data, status_code=status_code, headers=headers)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
