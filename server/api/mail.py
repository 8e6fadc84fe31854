"""The mail bridge's desk over REST: the review queue, contact-person suggestions and the outbox.

The same operations as the server's web UI (``server.web_home.ServerReviewQueue``) and
``satchel mail review``, under the same rule: the review queue and the suggestions are
for office staff and administrators (403 for anyone else, before anything is read); the
outbox answers every user with the letters they may see (``crm.records``' access rule
on their counterparties), and office staff and administrators with the counts too.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import records
from crm.errors import MalformedInput, PermissionDenied
from crm.models import User
from crm.models.base import to_jsonable
from crm.models.enums import MailStatus, Role
from server.http import as_user, config, db, int_param, json_response, only_params, read_json
from server.web_home import ServerReviewQueue, sorts_mail

INTERACTIONS = records.record_type("interactions")
# The letters an outbox listing shows: those not yet gone, and those that went wrong.
WAITING = (MailStatus.QUEUED, MailStatus.SENDING, MailStatus.FAILED, MailStatus.UNCERTAIN)


def _plain(value: Any) -> Any:
    """JSON values all the way down (dates as ISO 8601)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return to_jsonable(value)


def _queue(request: Request) -> ServerReviewQueue:
    return ServerReviewQueue(config(request), db(request))


# A listing's page: ``limit`` (1–500, 100 by default) items from ``offset``.
MAX_PAGE = 500


def _page(request: Request) -> tuple[int, int]:
    """``limit`` and ``offset`` of a listing that takes nothing else; read once the caller's role
    was checked, so a stranger learns nothing of what the endpoint takes."""
    only_params(request, "limit", "offset")
    return (
        int_param(request, "limit", 100, 1, MAX_PAGE),
        int_param(request, "offset", 0, 0, records.MAX_OFFSET),
    )


def _for_sorters(user: User) -> None:
    if not sorts_mail(user):
        raise PermissionDenied("the mail review queue is for office staff and administrators")


async def list_reviews(request: Request) -> Response:
    queue = _queue(request)

    def work(session: Any, user: User) -> dict[str, Any]:
        _for_sorters(user)
        limit, offset = _page(request)
        items = queue.waiting(session, user, limit=limit, offset=offset)
        return {"items": items, "limit": limit, "offset": offset}

    return json_response(_plain(await as_user(request, work, write=False)))


async def get_review(request: Request) -> Response:
    queue, review_id = _queue(request), request.path_params["review_id"]
    return json_response(
        _plain(
            await as_user(
                request, lambda session, user: queue.preview(session, user, review_id), write=False
            )
        )
    )


async def _actor(request: Request) -> User:
    """The caller, checked in a transaction of its own: settling opens its own writes."""
    return await as_user(request, lambda session, user: User(**user.model_dump()), write=False)


async def settle_review(request: Request) -> Response:
    actor = await _actor(
        request
    )  # refused before the body is read: a stranger learns nothing of its shape
    if not sorts_mail(actor):
        raise PermissionDenied("the mail review queue is for office staff and administrators")
    body = await read_json(request)
    if (
        not isinstance(body, dict)
        or set(body) - {"counterparty_id", "contact_person_id"}  # a typo must not pass silently
        or not isinstance(body.get("counterparty_id"), str)
        or not isinstance(body.get("contact_person_id") or "", str)
    ):
        raise MalformedInput('send {"counterparty_id": "…", "contact_person_id": "…" (optional)}')
    queue, review_id = _queue(request), request.path_params["review_id"]
    await run_in_threadpool(
        queue.settle, actor, review_id, body["counterparty_id"], body.get("contact_person_id")
    )
    return json_response({"id": review_id, "status": "settled"})


async def dismiss_review(request: Request) -> Response:
    queue, review_id = _queue(request), request.path_params["review_id"]
    actor = await _actor(request)
    await run_in_threadpool(queue.dismiss, actor, review_id)
    return json_response({"id": review_id, "status": "dismissed"})


async def list_suggestions(request: Request) -> Response:
    queue = _queue(request)

    def work(session: Any, user: User) -> dict[str, Any]:
        _for_sorters(user)
        limit, offset = _page(request)
        items = queue.suggestions(session, user, limit=limit, offset=offset)
        return {"items": items, "limit": limit, "offset": offset}

    return json_response(_plain(await as_user(request, work, write=False)))


async def accept_suggestion(request: Request) -> Response:
    queue, suggestion_id = _queue(request), request.path_params["suggestion_id"]
    person_id = await as_user(
        request,
        lambda session, user: queue.accept_suggestion(session, user, suggestion_id),
        write=True,
    )
    return json_response(
        {"id": suggestion_id, "status": "accepted", "contact_person_id": person_id}, status_code=201
    )


async def dismiss_suggestion(request: Request) -> Response:
    queue, suggestion_id = _queue(request), request.path_params["suggestion_id"]
    await as_user(
        request,
        lambda session, user: queue.dismiss_suggestion(session, user, suggestion_id),
        write=True,
    )
    return json_response({"id": suggestion_id, "status": "dismissed"})


async def outbox(request: Request) -> Response:
    def work(session: Any, user: User) -> dict[str, Any]:
        limit, offset = _page(request)
        found = records.list_records(
            session,
            user,
            INTERACTIONS,
            filters={"mail_status__in": ",".join(status.value for status in WAITING)},
            sort="-updated_at",
            limit=limit,
            offset=offset,
        )
        answer: dict[str, Any] = {
            "letters": [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "counterparty_id": i.counterparty_id,
                    "subject": i.subject,
                    "mail_status": i.mail_status,
                    "updated_at": i.updated_at,
                }
                for i in found.items
            ],
            "total": found.total,
            "limit": limit,
            "offset": offset,
        }
        if sorts_mail(user):
            from mail import bridge

            answer["counts"] = bridge.outbox_counts(session)
        return answer

    return json_response(_plain(await as_user(request, work, write=False)))


# -- mailboxes (administrators): what `satchel mail mailbox list` and `edit` do

_KINDS = {int: "a whole number", str: "text", bool: "true or false"}
_SETTINGS = {
    "address": str,
    "imap_host": str,
    "imap_port": int,
    "imap_security": str,
    "login": str,
    "smtp_host": str,
    "smtp_port": int,
    "smtp_security": str,
    "owner": str,
    "provider_saves_sent": bool,
    "send_per_hour": int,  # 0: no limit
}
_LISTS = ("folders", "private_addresses", "private_domains", "private_folders")


def _for_admins(user: User) -> None:
    if user.role != Role.ADMIN:
        raise PermissionDenied("mailboxes are set up by administrators")


def mailbox_dict(session: Any, box: Any) -> dict[str, Any]:
    """A mailbox as the API shows it: every setting but its password or token."""
    owner = session.get(User, box.owner_id) if box.owner_id else None
    return _plain(
        {
            "id": box.id,
            "name": box.name,
            "address": box.address,
            "kind": box.kind,
            "owner": owner.login if owner else None,
            "login": box.login,
            "auth": box.auth,
            "imap_host": box.imap_host,
            "imap_port": box.imap_port,
            "imap_security": box.imap_security,
            "smtp_host": box.smtp_host,
            "smtp_port": box.smtp_port if box.smtp_host else None,
            "smtp_security": box.smtp_security if box.smtp_host else None,
            "provider_saves_sent": box.provider_saves_sent,
            "send_per_hour": box.send_per_hour,
            "enabled": box.enabled,
            "folders": box.folders,
            "private_addresses": box.private_addresses,
            "private_domains": box.private_domains,
            "private_folders": box.private_folders,
            "last_run_at": box.last_run_at,
            "last_error": box.last_error,
        }
    )


async def list_mailboxes(request: Request) -> Response:
    def work(session: Any, user: User) -> dict[str, Any]:
        _for_admins(user)
        only_params(request)
        from sqlalchemy import select

        from mail.models import Mailbox

        boxes = session.execute(select(Mailbox).order_by(Mailbox.name)).scalars()
        return {"items": [mailbox_dict(session, box) for box in boxes]}

    return json_response(await as_user(request, work, write=False))


def _edits(body: Any) -> tuple[dict[str, Any], dict[str, tuple[list[str], list[str]]]]:
    """A PATCH body: settings to replace, and ``{"add": [...], "remove": [...]}`` per list."""
    shape = (
        'send {"imap_host": "…", …, "folders": {"add": ["…"], "remove": ["…"]}, …} with at least '
        f"one of {', '.join([*_SETTINGS, *_LISTS])}"
    )
    if not isinstance(body, dict) or not body:
        raise MalformedInput(shape)
    unknown = sorted(set(body) - set(_SETTINGS) - set(_LISTS))
    if unknown:
        raise MalformedInput(f"unknown setting {', '.join(unknown)}: {shape}")
    changes: dict[str, Any] = {}
    for key, kind in _SETTINGS.items():
        if key in body:
            value = body[key]
            # bool is an int in Python: a port of true is no port.
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise MalformedInput(f"{key} must be {_KINDS[kind]}")
            changes[key] = value
    lists: dict[str, tuple[list[str], list[str]]] = {}
    for key in _LISTS:
        if key not in body:
            continue
        value = body[key]
        if (
            not isinstance(value, dict)
            or set(value) - {"add", "remove"}
            or not all(
                isinstance(value.get(part, []), list)
                and all(isinstance(v, str) for v in value.get(part, []))
                and len(value.get(part, [])) <= 100
                for part in ("add", "remove")
            )
        ):
            raise MalformedInput(f'{key} must be {{"add": [text, …], "remove": [text, …]}}')
        lists[key] = (list(value.get("add", [])), list(value.get("remove", [])))
    return changes, lists


async def edit_mailbox(request: Request) -> Response:
    actor = await _actor(request)  # refused before the body is read
    _for_admins(actor)
    changes, lists = _edits(await read_json(request))
    name = request.path_params["mailbox"]

    def work(session: Any, user: User) -> dict[str, Any]:
        from mail import bridge

        return mailbox_dict(session, bridge.edit_mailbox(session, name, changes, lists))

    return json_response(await as_user(request, work, write=True))


routes = [
    Route("/api/v1/mail/mailboxes", list_mailboxes, methods=["GET"]),
    Route("/api/v1/mail/mailboxes/{mailbox}", edit_mailbox, methods=["PATCH"]),
    Route("/api/v1/mail/reviews", list_reviews, methods=["GET"]),
    Route("/api/v1/mail/reviews/{review_id}", get_review, methods=["GET"]),
    Route("/api/v1/mail/reviews/{review_id}/settle", settle_review, methods=["POST"]),
    Route("/api/v1/mail/reviews/{review_id}/dismiss", dismiss_review, methods=["POST"]),
    Route("/api/v1/mail/suggestions", list_suggestions, methods=["GET"]),
    Route("/api/v1/mail/suggestions/{suggestion_id}/accept", accept_suggestion, methods=["POST"]),
    Route("/api/v1/mail/suggestions/{suggestion_id}/dismiss", dismiss_suggestion, methods=["POST"]),
    Route("/api/v1/mail/outbox", outbox, methods=["GET"]),
]
