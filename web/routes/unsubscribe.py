"""``/unsubscribe/{token}``: a mailing's recipient asks for no more mailings (RFC 2369, RFC 8058).

Every letter of a mailing carries this address in ``List-Unsubscribe`` (``mail.unsubscribe``).
Nobody signs in here: the token, signed by the server, is what names the recipient. ``GET``
shows a small page in Russian and English with their address, masked, and one button; ``POST``
opts them out (``ContactPerson.no_mailings``, which the laptops receive) and says so. A token
the server did not sign — made up, changed, too long — is 404 and changes nothing; doing it
again is harmless. Only the server has mailings (``Home.unsubscribe``): 404 on a laptop.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from crm.errors import NotFound
from web import i18n, render, session
from web.home import Home
from web.i18n import N_

TITLE = N_("Unsubscribe from mailings")
ASK = N_(
    "Our mailings come to %(address)s. Press the button and no more of them will; "
    "letters written to you in person still come."
)
BUTTON = N_("Unsubscribe")
DONE = N_("Done: no more mailings will come to %(address)s.")
MAX_TOKEN = 128  # longer is no token of ours: refused before anything is looked up


def _page(request: Request, token: str, address: str, done: bool) -> Response:
    texts = []
    for locale in ("ru", "en"):  # Russian first: the recipient has not chosen, and may read either
        gettext = i18n.gettext_for(locale)
        texts.append(
            {
                "lang": locale,
                "title": gettext(TITLE),
                "text": gettext(DONE if done else ASK) % {"address": address},
                "button": gettext(BUTTON),
            }
        )
    return render.html(
        "ru",
        "unsubscribe.html",
        {"base": session.base(request), "token": token, "texts": texts, "done": done},
        # The link is a key to the opt-out: the page never hands it to another site.
        headers={"Referrer-Policy": "no-referrer"},
    )


def _token(request: Request, home: Home) -> str:
    token = str(request.path_params["token"])
    if home.unsubscribe is None or len(token) > MAX_TOKEN:
        raise NotFound("no such link")
    return token


async def show(request: Request, home: Home) -> Response:
    token = _token(request, home)
    assert home.unsubscribe is not None
    found = await run_in_threadpool(home.unsubscribe.look_up, token)
    if found is None:
        raise NotFound("no such link")
    return _page(request, token, *found)


async def submit(request: Request, home: Home) -> Response:
    # No CSRF token and no Origin check, on purpose: RFC 8058's one-click unsubscribe is a POST
    # the recipient's mail provider (or mail client) makes with nothing of ours but this URL, so
    # no token of a session could be in it. The URL's signed token is what authorises it, and all
    # it can do is opt the one person it names out of mailings — the very thing the link is for,
    # idempotent, nothing else. The body (List-Unsubscribe=One-Click) is not read.
    token = _token(request, home)
    assert home.unsubscribe is not None
    found = await run_in_threadpool(home.unsubscribe.opt_out, token)
    if found is None:
        raise NotFound("no such link")
    return _page(request, token, *found)
