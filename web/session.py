"""The browser session: its cookie, its CSRF token, and the checks every state change passes.

A browser session is a device of the home (on the server, a ``Device`` row,
listed and revocable like a laptop). The cookie holds the device's secret
token: ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
page sends it), ``Secure`` when the page came over HTTPS.

Where the screens live: ``base(request)`` is the path they are served under,
``""`` on the server and ``/u/<secret>`` on a laptop (the ``Mount`` of
``clients/web_home.py``, seen here as the ASGI ``root_path``). Every cookie is
set with ``Path=<base>/`` and, under a base, a name of its own: browsers send a
cookie to every port of a host and ``SameSite`` ignores ports, so a cookie for
``/`` of 127.0.0.1 would reach any other program listening there; one for
``/u/<secret>/`` reaches only requests under that secret path. The distinct
name keeps a ``Path=/`` cookie of the same host (the server's UI run locally)
from being read in its place.

CSRF: every form that changes something carries a hidden ``csrf`` field equal
to an HMAC of the session token. It needs no server state, changes when the
session changes, and cannot be computed by a page that cannot read the
cookie. The sign-in form, which has no session yet, uses a double-submit
token instead (a random cookie echoed in the form), so nobody can sign a
victim's browser into the attacker's account. A request whose ``Origin``
names another site is refused before any of that.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "satchel_session"
SIGNIN_COOKIE = "satchel_signin"
# The last language chosen in this browser, for pages shown before we know who it is.
LANG_COOKIE = "satchel_lang"
CSRF_FIELD = "csrf"
# Forms are small; anything bigger is refused before it is parsed.
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 200


def base(request: Request) -> str:
    """The path the screens are served under, without its last slash: "" on the server, "/u/<secret>" on a laptop."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def here(request: Request) -> str:
    """The request's path below ``base``: the address the screens know ("/search"), whatever the prefix."""
    path, prefix = request.url.path, base(request)
    return (path[len(prefix) :] or "/") if prefix and path.startswith(prefix) else path


def named(prefix: str, name: str) -> str:
    """The name of cookie ``name`` under base ``prefix``: itself at "", else one of that base alone."""
    return name if not prefix else f"{name}_{hashlib.sha256(prefix.encode()).hexdigest()[:16]}"


def cookie_name(request: Request, name: str) -> str:
    """``name`` on the server; under a base, a name of that base alone (see the module docstring)."""
    return named(base(request), name)


def session_token(request: Request) -> str | None:
    """The browser session's token from its cookie, if the browser sent one."""
    return request.cookies.get(cookie_name(request, COOKIE)) or None


def language(request: Request) -> str | None:
    """The language last chosen in this browser (for pages shown before we know who it is)."""
    return request.cookies.get(cookie_name(request, LANG_COOKIE))


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"satchel-web-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(csrf_token(session_token), sent)


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)


def signin_token_ok(request: Request, sent: object) -> bool:
    cookie = request.cookies.get(cookie_name(request, SIGNIN_COOKIE))
    return bool(cookie) and isinstance(sent, str) and hmac.compare_digest(cookie or "", sent)


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site's page.

    Browsers send ``Origin`` on every POST; when it is missing (an old browser,
    a test client), the CSRF token alone decides.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def set_session(response: Response, request: Request, token: str) -> None:
    # No max-age: the cookie ends with the browser; the device stays listed until revoked.
    response.set_cookie(
        cookie_name(request, COOKIE),
        token,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path=base(request) + "/",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        cookie_name(request, COOKIE),
        path=base(request) + "/",
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
    )


def set_signin_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        cookie_name(request, SIGNIN_COOKIE),
        token,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path=base(request) + "/signin",
        max_age=3600,
    )


def clear_signin_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(cookie_name(request, SIGNIN_COOKIE), path=base(request) + "/signin")


def set_language(response: Response, request: Request, locale: str) -> None:
    response.set_cookie(
        cookie_name(request, LANG_COOKIE),
        locale,
        samesite="strict",
        secure=is_secure(request),
        path=base(request) + "/",
    )


def local_path(target: str | None) -> str:
    """``target`` if it is an address of the screens ("/search?q=1"), else "/": a ``next`` or ``back``
    from a form or a link must never send someone to another host.

    It is a path below the base; ``redirect`` puts the base in front, so a laptop's secret prefix
    never travels in a query string or a form.
    """
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def redirect(request: Request, path: str) -> RedirectResponse:
    """A 303 to ``path``, an address of the screens ("/sync"), under this request's base."""
    return RedirectResponse(base(request) + path, status_code=303)


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("YaBrowser/", "Yandex"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_name(user_agent: str) -> str:
    """A name for the devices list that a person recognises: "Браузер: Chrome, Windows"."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    parts = (
        ", ".join(p for p in (browser, system) if p) or re.sub(r"[^\w .,/()-]", "", user_agent)[:60]
    )
    return f"Браузер: {parts}" if parts else "Браузер"
