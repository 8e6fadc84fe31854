"""The user's own settings: for now, the language of the screens."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from crm import preferences, records
from web import i18n, session
from web.home import Home
from web.visit import Visit, read_form, signed_in


async def show(request: Request, home: Home) -> Response:
    """The language, and the user's devices where the home keeps a list of them: the server's always
    holds the very browser asking; a home that lists none (the laptop) has no devices section at all."""

    def work(db: Session, visit: Visit) -> Response:
        return visit.page(
            db,
            "settings.html",
            locales=i18n.LOCALE_NAMES,
            devices=home.devices(db, visit.user, visit.token),
        )

    return await signed_in(request, home, work)


async def set_language(request: Request, home: Home) -> Response:
    form = await read_form(request)
    locale = str(form.get("locale", ""))
    back = session.local_path(str(form.get("back", "/")))

    def work(db: Session, visit: Visit) -> Response:
        # Through the home: on a laptop the change goes to the outbox and reaches the server.
        preferences.check_locale(locale)
        home.update(
            db, visit.user, records.record_type("users"), visit.user.id, {"locale": locale}, None
        )
        response = visit.redirect(back)
        session.set_language(response, request, locale)
        return response

    return await signed_in(request, home, work, write=True, form=form)


async def revoke_device(request: Request, home: Home) -> Response:
    device_id = request.path_params["device_id"]
    form = await read_form(request)

    def work(db: Session, visit: Visit) -> Response:
        home.revoke_device(db, visit.user, device_id)
        return visit.redirect("/settings#devices")

    return await signed_in(request, home, work, write=True, form=form)
