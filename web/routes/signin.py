"""Signing in and out of the browser UI."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crm.errors import PermissionDenied, RateLimited
from web import i18n, render, session
from web.home import Home
from web.visit import read_form


def _locale(request: Request) -> str:
    wanted = request.query_params.get("lang")
    return i18n.pick(wanted if wanted in i18n.LOCALES else session.language(request))


def _form(
    request: Request,
    home: Home,
    *,
    locale: str,
    error: str | None = None,
    login: str = "",
    status_code: int = 200,
    next_path: str = "/",
) -> Response:
    token = (
        request.cookies.get(session.cookie_name(request, session.SIGNIN_COOKIE))
        or session.new_signin_token()
    )
    response = render.html(
        locale,
        "signin.html",
        {
            "base": session.base(request),
            "error": error,
            "login": login,
            "signin_token": token,
            "next": next_path,
            "locale": locale,
            "password_sign_in": home.password_sign_in,
        },
        status_code=status_code,
    )
    session.set_signin_cookie(response, request, token)
    if request.query_params.get("lang") in i18n.LOCALES:
        session.set_language(response, request, locale)
    return response


async def show(request: Request, home: Home) -> Response:
    return _form(
        request,
        home,
        locale=_locale(request),
        next_path=session.local_path(request.query_params.get("next")),
    )


async def submit(request: Request, home: Home) -> Response:
    form = await read_form(request)
    locale = _locale(request)
    gettext = i18n.gettext_for(locale)
    next_path = session.local_path(str(form.get("next") or "/"))
    if not session.same_origin(request) or not session.signin_token_ok(
        request, form.get(session.CSRF_FIELD)
    ):
        raise PermissionDenied("the sign-in form's security token is missing or stale")
    login, password = form.get("login"), form.get("password")
    if (
        not isinstance(login, str)
        or not isinstance(password, str)
        or not login.strip()
        or len(login) > 100
        or len(password) > 1000
    ):
        return _form(
            request,
            home,
            locale=locale,
            error=gettext("Enter your login and password."),
            login=str(login or "")[:100],
            status_code=400,
            next_path=next_path,
        )
    address = request.client.host if request.client else "unknown"
    name = session.device_name(request.headers.get("user-agent", ""))

    def run() -> tuple[str, str] | None:
        with home.write() as db:
            found = home.sign_in(db, login, password, address, name)
            return None if found is None else (found[1], found[0].locale)

    try:
        result = await run_in_threadpool(run)
    except RateLimited as exc:
        message = gettext("Too many failed attempts. Try again in %(seconds)s s.") % {
            "seconds": exc.retry_after
        }
        response = _form(
            request,
            home,
            locale=locale,
            error=message,
            login=login,
            status_code=429,
            next_path=next_path,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if result is None:
        return _form(
            request,
            home,
            locale=locale,
            error=gettext("Wrong login or password."),
            login=login,
            status_code=401,
            next_path=next_path,
        )
    token, user_locale = result
    response = session.redirect(request, next_path)
    session.set_session(response, request, token)
    session.set_language(response, request, i18n.pick(user_locale))
    session.clear_signin_cookie(response, request)
    return response


async def sign_out(request: Request, home: Home) -> Response:
    form = await read_form(request)
    token = session.session_token(request)
    if token:
        if not session.same_origin(request) or not session.csrf_ok(
            token, form.get(session.CSRF_FIELD)
        ):
            raise PermissionDenied("the form's security token is missing or stale; reload the page")

        def run() -> None:
            with home.write() as db:
                home.sign_out(db, token)

        await run_in_threadpool(run)
    response = session.redirect(request, "/signin")
    session.clear_session(response, request)
    return response
