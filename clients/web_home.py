"""The laptop's ``Home`` for the web UI (web/home.py): ``satchel-field ui`` over the replica.

One user, the replica's: no password. The browser is let in once by a launch
token that the ``ui`` command prints and opens; that token becomes a session
token held in memory only (a restart of the command ends every session), and
a token is never good twice. Every screen reads the replica and nothing else,
so nothing waits on the network; every write goes through
``Replica.local_edits()``, which runs ``crm.records`` as the replica's user and
queues the outbox entries in the same transaction. Sync runs in the
background (``clients.background``); the header always says how it stands.

The app answers only requests whose ``Host`` is ``127.0.0.1:PORT`` or
``localhost:PORT``: a web page that rebinds its own name to 127.0.0.1 (DNS
rebinding) sends its own name and is refused before any screen runs.

The screens live under a secret path chosen per process, ``/u/<secret>/``,
and the session cookie is set for that path alone. A browser sends a host's
cookies to every port of it (``SameSite`` ignores ports too), so a cookie for
``/`` would reach any other local program the browser is led to, e.g. another
user's listener on ``127.0.0.1:OTHER``; a cookie for ``/u/<secret>/`` reaches
only a request for that secret path, which nobody else knows. The launch link
is ``/launch?token=…`` *outside* the prefix: the secret is not printed, not on
a command line (``xdg-open URL`` is readable by every local user in ``ps``) and
not in the terminal; only a browser that spends a good launch token is sent on
to it. Every other path outside the prefix is a plain 404.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from clients.background import BackgroundSync
from clients.replica import LocalEdits, Replica
from crm import records
from crm.errors import AlreadyExists, NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from crm.models import User
from crm.records import RecordType
from sync import protocol
from web import app as web_app
from web import home as web_home
from web import session as web_session
from web.home import Badge, DeviceInfo, NavLink, SyncStatus

_EDITS = "satchel.local_edits"  # where a write session keeps its LocalEdits (session.info)
FALLBACK_TIMEZONE = "Europe/Moscow"


def local_timezone() -> str:
    """The laptop's own IANA zone ("today" on the agenda is the salesperson's), else Moscow."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return FALLBACK_TIMEZONE


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """One-time launch tokens and the browser sessions they opened, in memory, by their sha256."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._launch: set[str] = set()
        self._sessions: set[str] = set()

    def new_launch(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._launch.add(_hash(token))
        return token

    def redeem(self, launch: str) -> str | None:
        """A new session token for a launch token not used before; the launch token is spent either way."""
        if not launch or len(launch) > 200:
            return None
        wanted = _hash(launch)
        with self._lock:
            found = next((h for h in self._launch if hmac.compare_digest(h, wanted)), None)
            if found is None:
                return None
            self._launch.discard(found)
            token = secrets.token_urlsafe(32)
            self._sessions.add(_hash(token))
            return token

    def valid(self, token: str) -> bool:
        wanted = _hash(token)
        with self._lock:
            return any(hmac.compare_digest(h, wanted) for h in self._sessions)

    def end(self, token: str) -> None:
        with self._lock:
            self._sessions.discard(_hash(token))


class LaptopSync:
    """The Sync screen's view of the replica and the background thread (``web.home.SyncPanel``)."""

    def __init__(self, replica: Replica, background: BackgroundSync) -> None:
        self.replica = replica
        self.background = background

    def status(self) -> SyncStatus:
        stored = self.replica.status()
        now = self.background.now
        summary = stored.get("last_summary")
        return SyncStatus(
            online=now.online,
            running=now.running,
            phase=now.phase,
            done=now.done,
            total=now.total,
            pending=stored["pending"],
            conflicts=stored["conflicts"],
            quarantine=stored["quarantine"],
            last_sync=_when(stored.get("last_sync")),
            last_attempt=now.last_attempt,
            last_error=now.last_error,
            last_summary=_summary_line(summary) if summary else None,
            server=stored.get("server"),
        )

    def sync_now(self) -> None:
        self.background.sync_now()

    def quarantine(self) -> list[dict[str, Any]]:
        return self.replica.quarantine()

    def retry(self, item_id: int) -> None:
        self.replica.retry(item_id)

    def drop(self, item_id: int) -> None:
        self.replica.drop(item_id)


def new_prefix() -> str:
    """A fresh secret path for the screens: ``/u/`` and 32 random URL-safe characters (192 bits)."""
    return "/u/" + secrets.token_urlsafe(24)


class LaptopHome:
    place = "laptop"
    password_sign_in = False
    administration = None
    review = None
    unsubscribe = None  # a mailing's links point at the server
    merge = None  # merging is the server's (docs/web.md): /duplicates answers 404 here
    mailings = None  # queueing is the server's: the laptop drafts mailings (crm.mailings)

    def __init__(
        self, replica: Replica, background: BackgroundSync, timezone: str | None = None
    ) -> None:
        self.replica = replica
        self.sync = LaptopSync(replica, background)
        self.timezone = timezone or local_timezone()
        self.tokens = Tokens()
        #: The secret path the screens are served under, for this process only (see the module docstring).
        self.prefix = new_prefix()
        self.user_id = replica.state("user_id")
        if self.user_id is None:
            raise NotFound("this replica has no user yet: log in first (satchel-field login)")
        with replica.db.read() as session:
            self._known_user = self._copy(session.get(User, self.user_id))

    # -- transactions -------------------------------------------------------------

    def read(self) -> AbstractContextManager[Session]:
        return self.replica.db.read()

    @contextmanager
    def write(self) -> Iterator[Session]:
        # Every write of a screen is a local edit: queued for the server in the same transaction.
        with self.replica.local_edits() as edits:
            edits.session.info[_EDITS] = edits
            yield edits.session

    def _edits(self, session: Session, actor: User) -> LocalEdits:
        edits: LocalEdits | None = session.info.get(_EDITS)
        if edits is None:
            raise RuntimeError("a laptop write needs a session of LaptopHome.write()")
        if actor.id != edits.actor.id:
            raise PermissionDenied("only the replica's own user writes on this laptop")
        return edits

    # -- who it is ----------------------------------------------------------------

    def sign_in(
        self, session: Session, login: str, password: str, address: str, device_name: str
    ) -> tuple[User, str] | None:
        return None  # no passwords here: the launch token lets the replica's user in

    def authenticate(self, session: Session, token: str) -> User:
        if not self.tokens.valid(token):
            raise Unauthenticated("open Satchel with the satchel-field ui command")
        user = session.get(User, self.user_id)
        if user is not None:
            self._known_user = self._copy(user)
            return user
        # A bootstrap empties the replica's tables before it loads them again, the user's row
        # too: until it is back the screens still open (showing what is loaded so far).
        if self._known_user is None:
            raise Unauthenticated("the replica is loading; open Satchel again in a moment")
        return self._known_user

    @staticmethod
    def _copy(user: User | None) -> User | None:
        """A copy of the user that belongs to no session (it outlives the transaction it came from)."""
        return None if user is None else User(**user.model_dump())

    # Called after a browser signs out: ``satchel-field ui`` stops itself (``ui`` sets it), so the
    # desktop shortcut opens a fresh one next time instead of a second one beside it.
    on_signed_out: Callable[[], None] | None = None

    def sign_out(self, session: Session, token: str) -> None:
        self.tokens.end(token)
        if self.on_signed_out is not None:
            self.on_signed_out()

    # -- records ------------------------------------------------------------------

    def create(self, session: Session, actor: User, rt: RecordType, data: dict[str, Any]) -> Any:
        wire = self._edits(session, actor).create(rt.name, data)
        return session.get(rt.model, wire["id"])

    def update(
        self,
        session: Session,
        actor: User,
        rt: RecordType,
        record_id: str,
        data: dict[str, Any],
        expected_version: int | None,
    ) -> Any:
        self._edits(session, actor).update(rt.name, record_id, data, expected_version)
        return session.get(rt.model, record_id)

    def delete(self, session: Session, actor: User, rt: RecordType, record_id: str) -> None:
        self._edits(session, actor).delete(rt.name, record_id)

    def devices(self, session: Session, user: User, token: str) -> list[DeviceInfo]:
        return []  # the laptop knows no device list; the server's UI shows and revokes them

    def revoke_device(self, session: Session, user: User, device_id: str) -> None:
        raise PermissionDenied("devices are revoked on the server's UI, not from a laptop")

    def attachment(self, sha256: str) -> bytes | None:
        return None  # the replica keeps no attachments' bytes

    # -- header -------------------------------------------------------------------

    def badges(self, session: Session, user: User, gettext: Any) -> list[Badge]:
        s = self.sync.status()
        found = []
        # The last sync is the title of the first badge, not a badge of its own: the header is one
        # line on a 1366 px laptop (the Sync screen shows it too).
        last = None
        if s.last_sync is not None:
            when = s.last_sync.astimezone(ZoneInfo(self.timezone)).strftime("%d.%m %H:%M")
            last = gettext(web_home.SYNC_LAST) % {"when": when}

        def titled(text: str) -> str:
            return f"{text}. {last}" if last else text

        if s.running and s.phase == "search":
            text = gettext(web_home.SEARCH_PREPARING)
            found.append(Badge(text, "info", "/sync", titled(text)))
        elif s.running:
            text = gettext(web_home.SYNC_RUNNING)
            found.append(Badge(text, "info", "/sync", titled(text)))
        elif s.online is None:
            text = gettext(web_home.SYNC_NEVER)
            found.append(Badge(text, "info", "/sync", titled(text)))
        else:
            text = gettext(web_home.SYNC_ONLINE if s.online else web_home.SYNC_OFFLINE)
            found.append(Badge(text, "info" if s.online else "warning", "/sync", titled(text)))
        found.append(
            Badge(
                gettext(web_home.SYNC_PENDING) % {"n": s.pending},
                "warning" if s.pending else "info",
                "/sync",
            )
        )
        if s.last_error:
            found.append(
                Badge(
                    gettext(web_home.SYNC_FAILED),
                    "error",
                    "/sync",
                    gettext(web_home.SYNC_ERROR) % {"message": s.last_error[:500]},
                )
            )
        open_conflicts = len(self.conflicts(session, user))
        if open_conflicts:
            found.append(
                Badge(
                    gettext(web_home.CONFLICTS_BADGE) % {"n": open_conflicts},
                    "warning",
                    "/conflicts",
                )
            )
        if s.quarantine:
            found.append(
                Badge(
                    gettext(web_home.QUARANTINE_BADGE) % {"n": s.quarantine},
                    "error",
                    "/sync#quarantine",
                )
            )
        return found

    def nav(self, user: User, gettext: Any) -> list[NavLink]:
        # No "Reports" in the header: with the offline badges and a long name it has no room left on
        # a 1366 px screen (tests/clients/test_laptop_browser.py); the agenda links to /reports.
        return [NavLink(gettext(web_home.SYNC_NAV), "/sync")]

    # -- conflicts ----------------------------------------------------------------

    def conflicts(self, session: Session, user: User) -> list[dict[str, Any]]:
        """The replica's open conflicts (the server sent only this user's), less those resolved here
        and waiting for the next sync."""
        device_id = self.replica.state("device_id")
        return [
            {
                **item,
                "mine": "server"
                if protocol.mine_is_server_side(item, user.id, device_id)
                else "client",
                "free_value": _free_value(item),
            }
            for item in self.replica.conflicts()
            if not item.get("pending_choice")
        ]

    def resolve_conflict(
        self, session: Session, user: User, conflict_id: str, choice: str, value: Any
    ) -> None:
        found = next((c for c in self.replica.conflicts() if c["id"] == conflict_id), None)
        if found is None:
            raise NotFound(f"no open conflict {conflict_id}")
        if found.get("pending_choice"):
            raise AlreadyExists("resolved on this laptop already; the next sync sends it")
        if choice == "value" and not _free_value(found):
            raise ValidationFailed(
                "this conflict is settled by one of its two values",
                details={"value": "choose one of the two values"},
            )
        self._edits(session, user).resolve(conflict_id, choice, value)


def _free_value(item: dict[str, Any]) -> bool:
    """As the server's home decides it: a plain field, not an owner, a link or who sees it, nor a list."""
    if item.get("kind") != "field" or not item.get("field"):
        return False
    rt = records.record_type(item["type"])
    name = item["field"]
    if name in rt.relations or name.endswith("_id") or name == "visibility":
        return False
    return all(
        not isinstance((item.get(side) or {}).get("value"), dict | list)
        for side in ("server", "client")
    )


def _when(raw: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        return None


def _summary_line(summary: dict[str, Any]) -> str:
    pulled = summary.get("pulled") or {}
    return (
        f"↑ {summary.get('applied', 0)}/{summary.get('pushed', 0)} · ↓ {pulled.get('upserts', 0)}"
        + (f" · ✕ {summary['refused']}" if summary.get("refused") else "")
    )


class HostCheck:
    """Refuses any request whose ``Host`` is not this UI's own loopback address (DNS rebinding)."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.allowed = {f"127.0.0.1:{port}".encode(), f"localhost:{port}".encode()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v for k, v in scope["headers"] if k == b"host"), b"").lower()
            if host not in self.allowed:
                response = PlainTextResponse(
                    "This is Satchel on this computer; open it with satchel-field ui.",
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


NOT_HERE = "Not found. Open Satchel with the satchel-field ui command."


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Any address outside the screens' secret path: a plain 404 that names none of theirs."""
    await PlainTextResponse(NOT_HERE, status_code=404, headers={"Cache-Control": "no-store"})(
        scope, receive, send
    )


def create_app(home: LaptopHome, port: int) -> ASGIApp:
    """The laptop UI, behind the Host check: ``/launch`` and every screen of ``web`` under ``home.prefix``.

    The screens are mounted at the prefix, so they see it as the ASGI ``root_path`` and build every
    link, redirect and cookie path from it (``web.session.base``); nothing else answers but a 404.
    """

    async def launch(request: Request) -> Response:
        token = home.tokens.redeem(request.query_params.get("token", ""))
        if token is None:
            # Outside the prefix: a page that links nowhere, so a wrong token learns no address.
            return web_app.error_page(request, 403, web_home.LAUNCH_REFUSED, link=False)
        screens = Request({**request.scope, "root_path": home.prefix})
        response = web_session.redirect(screens, "/")
        web_session.set_session(response, screens, token)
        response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "same-origin"})
        return response

    app = Starlette(
        routes=[
            Route("/launch", launch, methods=["GET"]),
            Mount(home.prefix, routes=web_app.routes(home)),
        ]
    )
    app.router.default = _not_found
    return HostCheck(app, port)


def launch_url(home: LaptopHome, port: int) -> str:
    """A fresh one-time address that lets the browser in (it does not hold the secret prefix)."""
    return f"http://127.0.0.1:{port}/launch?token={home.tokens.new_launch()}"
