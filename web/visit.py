"""One signed-in request: who, in which language, with which CSRF token — and the plumbing to run it.

``signed_in`` authenticates the session cookie and runs a screen's work in one
transaction of the home, off the event loop. For a state change it checks
the origin and the CSRF token *before* opening the transaction, so a refused
request changes nothing. ``written`` is a form's write that, when the records
refuse it, shows the page again with the problems beside the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from crm.errors import (
    MalformedInput,
    PermissionDenied,
    TooLarge,
    Unauthenticated,
    ValidationFailed,
)
from crm.models import User
from web import i18n, render, session
from web.home import Home


class NeedsSignIn(Exception):
    """No valid browser session: the screen sends the person to the sign-in form."""


@dataclass
class Visit:
    """The signed-in user's request as a screen sees it."""

    home: Home
    request: Request
    user: User
    token: str
    locale: str = field(init=False)
    gettext: Callable[[str], str] = field(init=False)
    formats: i18n.Formats = field(init=False)

    def __post_init__(self) -> None:
        self.locale = i18n.pick(self.user.locale)
        self.gettext = i18n.gettext_for(self.locale)
        self.formats = i18n.Formats(self.locale, self.home.timezone)

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.token)

    @property
    def base(self) -> str:
        """The path the screens are served under ("" on the server, "/u/<secret>" on a laptop)."""
        return session.base(self.request)

    def redirect(self, path: str) -> Response:
        """After a change: a 303 to ``path``, an address of the screens, under the base."""
        return session.redirect(self.request, path)

    def page(self, db: Session, template: str, status_code: int = 200, **context: Any) -> Response:
        """A full page with the header (search box, navigation, the home's status badges)."""
        base = {
            "base": self.base,
            "user": self.user,
            "csrf": self.csrf,
            "fmt": self.formats,
            "locale": self.locale,
            "badges": self.home.badges(db, self.user, self.gettext),
            "nav": self.home.nav(self.user, self.gettext),
            "place": self.home.place,
            "q": "",
            "here": session.here(self.request),
        }
        return render.html(self.locale, template, {**base, **context}, status_code=status_code)

    def fragment(self, template: str, **context: Any) -> Response:
        """A piece of a page for the static script to put in place (no header)."""
        return render.html(
            self.locale,
            template,
            {"base": self.base, "fmt": self.formats, "csrf": self.csrf, **context},
        )


Work = Callable[[Session, Visit], Response]
# The page again after a refused write, with the problems by field (already in the user's language).
Again = Callable[[Session, Visit, dict[str, str]], Response]


async def read_form(request: Request) -> FormData:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise MalformedInput("a form needs a Content-Length")
    if int(declared) > session.MAX_FORM_BYTES:
        raise TooLarge(f"a form of {declared} bytes is over the limit of {session.MAX_FORM_BYTES}")
    return await request.form(max_files=0, max_fields=session.MAX_FORM_FIELDS)


async def signed_in(
    request: Request, home: Home, work: Work, *, write: bool = False, form: FormData | None = None
) -> Response:
    """Run ``work`` for the signed-in user. A write needs ``form`` with the right CSRF token."""
    token = session.session_token(request)
    if not token:
        raise NeedsSignIn()
    if write:
        if not session.same_origin(request):
            raise PermissionDenied("this form was sent from another site")
        if form is None or not session.csrf_ok(token, form.get(session.CSRF_FIELD)):
            raise PermissionDenied("the form's security token is missing or stale; reload the page")

    def run() -> Response:
        with home.write() if write else home.read() as db:
            try:
                user = home.authenticate(db, token)
            except Unauthenticated:
                raise NeedsSignIn() from None
            return work(db, Visit(home, request, user, token))

    return await run_in_threadpool(run)


def problems(
    exc: ValidationFailed, gettext: Callable[[str], str], *, whole: str = ""
) -> dict[str, str]:
    """The refusal's problems by field, in the user's language.

    A refusal without details is one problem under ``whole`` (by default ``""``:
    the form as a whole)."""
    details = exc.details if isinstance(exc.details, dict) else {whole: exc.message}
    return {str(k): i18n.problem(str(v), gettext) for k, v in details.items()}


async def written(
    request: Request,
    home: Home,
    work: Work,
    *,
    form: FormData,
    again: Again,
    whole: str = "",
) -> Response:
    """Run ``work`` as a write; when the records refuse it, ``again`` shows the page anew.

    The page is rendered in a read of its own (the write rolled back), given the
    refusal's ``problems`` (``whole`` keys a refusal without details); it chooses
    its own status code (422 as a rule). Any other error goes through as it is.
    """
    try:
        return await signed_in(request, home, work, write=True, form=form)
    except ValidationFailed as exc:
        refusal = exc
        return await signed_in(
            request,
            home,
            lambda db, visit: again(db, visit, problems(refusal, visit.gettext, whole=whole)),
        )


async def acting(
    request: Request, home: Home, form: FormData, act: Callable[[Visit], Response]
) -> Response:
    """A state change the home runs in a transaction of its own (the mail bridge's filing).

    The same checks as ``signed_in(write=True)`` come first — origin, CSRF token,
    who it is — so a refused request never reaches ``act``; ``act`` runs off the
    event loop and outside any transaction of ours.
    """
    token = session.session_token(request)
    if not token:
        raise NeedsSignIn()
    if not session.same_origin(request):
        raise PermissionDenied("this form was sent from another site")
    if not session.csrf_ok(token, form.get(session.CSRF_FIELD)):
        raise PermissionDenied("the form's security token is missing or stale; reload the page")

    def run() -> Response:
        with home.read() as db:
            try:
                user = home.authenticate(db, token)
            except Unauthenticated:
                raise NeedsSignIn() from None
        return act(Visit(home, request, user, token))

    return await run_in_threadpool(run)
