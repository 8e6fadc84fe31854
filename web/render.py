"""Rendering pages: one Jinja2 environment per language, autoescaped, and the headers every page carries."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from web import i18n

# No inline script or style anywhere: everything the page runs comes from /static.
# form-action 'self' keeps an injected form from posting elsewhere; frame-ancestors
# 'none' stops clickjacking; base-uri 'none' stops an injected <base> redirecting URLs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages hold personal data: no shared or back-button cache of them.
    "Cache-Control": "no-store",
}


@cache
def environment(locale: str) -> Environment:
    """The template environment of ``locale``; built once, shared by every request (thread-safe)."""
    env = Environment(
        loader=PackageLoader("web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,  # a misspelt variable is a failing test, not a blank on the screen
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # jinja2.ext.i18n adds the method when the environment is made; the stubs cannot know it.
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["LOCALE_NAMES"] = i18n.LOCALE_NAMES
    return env


def render(locale: str, template: str, context: dict[str, Any]) -> str:
    return environment(i18n.pick(locale)).get_template(template).render(context)


def html(
    locale: str,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    response = HTMLResponse(render(locale, template, context), status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    if headers:
        response.headers.update(headers)
    return response
