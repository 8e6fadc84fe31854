"""The screens as Starlette routes over a ``Home``; errors become pages here and nowhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from crm.errors import (
    AlreadyExists,
    MalformedInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    TooLarge,
    ValidationFailed,
    VersionConflict,
)
from web import i18n, render, session
from web.home import Home
from web.i18n import N_
from web.routes import (
    admin,
    agenda,
    claims,
    complaints,
    conflicts,
    contact_rules,
    contracts,
    counterparty,
    deals,
    duplicates,
    events,
    letters,
    mailings,
    outbox,
    people,
    reminders,
    reports,
    review,
    search,
    segments,
    settings,
    signin,
    suppliers,
    sync,
    unsubscribe,
    whereabouts,
)
from web.visit import NeedsSignIn

Screen = Callable[[Request, Home], Awaitable[Response]]

_STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, N_("Not found: it does not exist, or it is not yours to see.")),
    (PermissionDenied, 403, N_("You may not do this.")),
    (RateLimited, 429, N_("Too many attempts. Try again later.")),
    (TooLarge, 413, N_("What was sent is too large.")),
    (MalformedInput, 400, N_("The request could not be read.")),
    (ValidationFailed, 422, N_("The values were refused.")),
    (AlreadyExists, 409, N_("Someone did this already; reload the page to see how it stands.")),
    (
        VersionConflict,
        409,
        N_("Someone changed this meanwhile; reload the page to see how it stands."),
    ),
]


def anonymous_locale(request: Request) -> str:
    """The language of a page shown before we know who it is: the last one chosen here, else ru."""
    return i18n.pick(session.language(request))


def error_page(
    request: Request, status: int, message: str, detail: str | None = None, link: bool = True
) -> Response:
    """An error as a page, with a link to the agenda under the request's base unless ``link`` is false
    (a page outside the screens, the laptop's ``/launch``, names no address of theirs)."""
    locale = anonymous_locale(request)
    gettext = i18n.gettext_for(locale)
    # The domain's words in the reader's language where the catalog knows them (web.i18n.problem).
    detail = i18n.problem(detail, gettext) if detail else None
    return render.html(
        locale,
        "error.html",
        {
            "status": status,
            "message": gettext(message),
            "detail": detail,
            "locale": locale,
            "base": session.base(request),
            "link": link,
        },
        status_code=status,
    )


def _bind(screen: Screen, home: Home) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await screen(request, home)
        except NeedsSignIn:
            if request.headers.get("x-satchel-fragment"):
                return Response(status_code=401)
            # ``next`` is an address of the screens (without the base); sign-in puts the base back.
            target = session.here(request) + (f"?{request.url.query}" if request.url.query else "")
            return session.redirect(request, f"/signin?next={quote(target, safe='')}")
        except (
            NotFound,
            PermissionDenied,
            RateLimited,
            TooLarge,
            MalformedInput,
            ValidationFailed,
            AlreadyExists,
            VersionConflict,
        ) as exc:
            for cls, status, message in _STATUS:
                if isinstance(exc, cls):
                    # The domain's own text only where it helps and reveals nothing (not for 404).
                    detail = None if status == 404 else exc.message
                    return error_page(request, status, message, detail)
            raise

    endpoint.__name__ = screen.__name__
    return endpoint


def routes(home: Home) -> list[BaseRoute]:
    """Every screen, bound to ``home``; the server mounts them at ``/``."""
    screens: list[tuple[str, Screen, list[str]]] = [
        ("/", agenda.show, ["GET"]),
        ("/signin", signin.show, ["GET"]),
        ("/signin", signin.submit, ["POST"]),
        ("/signout", signin.sign_out, ["POST"]),
        ("/search", search.page, ["GET"]),
        ("/search/results", search.results, ["GET"]),
        (
            "/counterparties/new",
            counterparty.new_form,
            ["GET"],
        ),  # before /counterparties/{record_id}
        ("/counterparties", counterparty.create, ["POST"]),
        ("/counterparties/{record_id}", counterparty.card, ["GET"]),
        ("/counterparties/{record_id}/edit", counterparty.edit_form, ["GET"]),
        ("/counterparties/{record_id}/edit", counterparty.save, ["POST"]),
        ("/counterparties/{record_id}/interactions", counterparty.log_interaction, ["POST"]),
        ("/counterparties/{record_id}/people/new", people.new, ["GET"]),
        ("/counterparties/{record_id}/people.vcf", people.vcards, ["GET"]),
        ("/counterparties/{record_id}/people", people.create, ["POST"]),
        ("/counterparties/{record_id}/people/{person_id}/edit", people.edit_form, ["GET"]),
        ("/counterparties/{record_id}/people/{person_id}/edit", people.save, ["POST"]),
        ("/counterparties/{record_id}/letters/new", letters.new, ["GET"]),
        ("/counterparties/{record_id}/letters", letters.send, ["POST"]),
        ("/letters/{letter_id}", letters.read, ["GET"]),
        ("/letters/{letter_id}/body", letters.body, ["GET"]),
        ("/letters/{letter_id}/attachments/{sha256}", letters.attachment, ["GET"]),
        ("/letters/{letter_id}/mail", letters.mail_status, ["POST"]),
        ("/reminders/new", reminders.new, ["GET"]),
        ("/reminders", reminders.create, ["POST"]),
        ("/reminders/{record_id}/done", reminders.done, ["POST"]),
        ("/deals", deals.show, ["GET"]),
        ("/deals/{deal_id}/stage", deals.move, ["POST"]),
        ("/counterparties/{record_id}/deals/new", deals.new, ["GET"]),
        ("/counterparties/{record_id}/deals", deals.create, ["POST"]),
        ("/complaints", complaints.show, ["GET"]),
        ("/complaints/{complaint_id}/status", complaints.move, ["POST"]),
        ("/counterparties/{record_id}/complaints/new", complaints.new, ["GET"]),
        ("/counterparties/{record_id}/complaints", complaints.create, ["POST"]),
        ("/counterparties/{record_id}/claims", claims.create, ["POST"]),
        ("/counterparties/{record_id}/contracts", contracts.create, ["POST"]),
        ("/counterparties/{record_id}/supplier-terms", suppliers.save_terms, ["POST"]),
        ("/suppliers/compare", suppliers.compare, ["GET"]),
        ("/claims/{claim_id}/end", claims.end, ["POST"]),
        ("/claims/{claim_id}/hand", claims.hand, ["POST"]),
        ("/whereabouts", whereabouts.show, ["GET"]),
        ("/absences", whereabouts.create, ["POST"]),
        ("/absences/{absence_id}", whereabouts.edit, ["GET"]),
        ("/absences/{absence_id}", whereabouts.save, ["POST"]),
        ("/absences/{absence_id}/delete", whereabouts.delete, ["POST"]),
        ("/conflicts", conflicts.show, ["GET"]),
        ("/conflicts/{conflict_id}/resolve", conflicts.resolve, ["POST"]),
        ("/outbox", outbox.show, ["GET"]),
        ("/duplicates", duplicates.show, ["GET"]),
        ("/duplicates/merge", duplicates.merge_form, ["GET"]),
        ("/duplicates/merge", duplicates.merge, ["POST"]),
        ("/reports", reports.show, ["GET"]),
        ("/events", events.show, ["GET"]),
        ("/events", events.create, ["POST"]),
        ("/events/new", events.new, ["GET"]),  # before /events/{event_id}
        ("/events/{event_id}", events.event, ["GET"]),
        ("/events/{event_id}/costs", events.add_cost, ["POST"]),
        ("/events/{event_id}/participants", events.invite, ["POST"]),
        ("/events/{event_id}/participants/{participant_id}/status", events.move, ["POST"]),
        ("/mailings", mailings.show, ["GET"]),
        ("/mailings", mailings.create, ["POST"]),
        ("/mailings/new", mailings.new, ["GET"]),  # before /mailings/{mailing_id}
        ("/mailings/{mailing_id}", mailings.mailing, ["GET"]),
        ("/mailings/{mailing_id}/queue", mailings.queue, ["POST"]),
        ("/contact-rules", contact_rules.show, ["GET"]),
        ("/contact-rules", contact_rules.save, ["POST"]),
        ("/reports/export/{file}", reports.export, ["GET"]),
        ("/segments", segments.show, ["GET"]),
        ("/segments", segments.create, ["POST"]),
        ("/segments/new", segments.new, ["GET"]),
        ("/segments/{segment_id}/edit", segments.edit, ["GET"]),
        ("/segments/{segment_id}/edit", segments.save, ["POST"]),
        ("/segments/{segment_id}/delete", segments.delete, ["POST"]),
        ("/review", review.show, ["GET"]),
        ("/review/{review_id}", review.letter, ["GET"]),
        ("/review/{review_id}/settle", review.settle, ["POST"]),
        ("/review/{review_id}/dismiss", review.dismiss, ["POST"]),
        ("/review/suggestions/{suggestion_id}/accept", review.accept_suggestion, ["POST"]),
        ("/review/suggestions/{suggestion_id}/dismiss", review.dismiss_suggestion, ["POST"]),
        ("/admin/users", admin.users, ["GET"]),
        ("/admin/users", admin.add_user, ["POST"]),
        ("/admin/users/{user_id}", admin.user, ["GET"]),
        ("/admin/users/{user_id}/active", admin.set_active, ["POST"]),
        ("/admin/users/{user_id}/password", admin.set_password, ["POST"]),
        ("/admin/users/{user_id}/devices/{device_id}/revoke", admin.revoke_device, ["POST"]),
        ("/sync", sync.show, ["GET"]),
        ("/sync/now", sync.now, ["POST"]),
        ("/sync/quarantine/{item_id}/retry", sync.retry, ["POST"]),
        ("/sync/quarantine/{item_id}/drop", sync.drop, ["POST"]),
        ("/settings", settings.show, ["GET"]),
        ("/settings/language", settings.set_language, ["POST"]),
        ("/settings/devices/{device_id}/revoke", settings.revoke_device, ["POST"]),
        # Public: a mailing's recipient, no sign-in; its POST is RFC 8058's one-click, without a
        # CSRF token by design (web/routes/unsubscribe.py says why).
        ("/unsubscribe/{token}", unsubscribe.show, ["GET"]),
        ("/unsubscribe/{token}", unsubscribe.submit, ["POST"]),
    ]
    bound: list[BaseRoute] = [
        Route(path, _bind(screen, home), methods=methods) for path, screen, methods in screens
    ]
    static = StaticFiles(directory=Path(__file__).parent / "static")
    return [*bound, Mount("/static", app=static, name="static")]
