"""The browser session: its cookie, its CSRF token, and the checks every state change passes.

A browser session is a device of the home (on the server, a ``Device`` row,
listed and revocable like a laptop). The cookie holds the device's secret
token: ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
page sends it), ``Secure`` when the page came over HTTPS.

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

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "satchel_session"
SIGNIN_COOKIE = "satchel_signin"
# The last language chosen in this browser, for pages shown before we know who it is.
LANG_COOKIE = "satchel_lang"
CSRF_FIELD = "csrf"
# Forms are small; anything bigger is refused before it is parsed.
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 200


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"satchel-web-csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(csrf_token(session_token), sent)


def new_signin_token() -> str:
    return secrets.token_urlsafe(24)


def signin_token_ok(request: Request, sent: object) -> bool:
    cookie = request.cookies.get(SIGNIN_COOKIE)
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
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=is_secure(request), path="/")


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=is_secure(request))


def set_signin_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SIGNIN_COOKIE, token, httponly=True, samesite="strict", secure=is_secure(request),
                        path="/signin", max_age=3600)


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("YaBrowser/", "Yandex"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Mac OS X", "macOS"), ("Linux", "Linux"))


def device_name(user_agent: str) -> str:
    """A name for the devices list that a person recognises: "Браузер: Chrome, Windows"."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    parts = ", ".join(p for p in (browser, system) if p) or re.sub(r"[^\w .,/()-]", "", user_agent)[:60]
    return f"Браузер: {parts}" if parts else "Браузер"
