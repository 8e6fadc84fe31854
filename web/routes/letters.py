"""Letters: reading a filed one, and writing one that the mail bridge sends after sync.

A letter is an interaction of kind ``letter`` read and created through
``crm.records``, so who may read it is who may see its counterparty.

Its HTML is shown only inside ``<iframe sandbox>`` (no ``allow-scripts``, no
``allow-same-origin``) loaded from its own route, which answers with a CSP of
its own: no script, no remote anything, only inline styles and ``data:``
images, and a ``sandbox`` directive so that even opened on its own it runs
nothing. The mail bridge sanitised the HTML when it filed the letter; it is
sanitised again here, because a screen should not trust what any one writer
of the database did.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import nh3
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from crm import records
from crm.errors import NotFound, ValidationFailed
from crm.models import Counterparty, Interaction
from crm.models.enums import InteractionKind, MailStatus
from web import i18n
from web.home import Home
from web.visit import Visit, read_form, signed_in

INTERACTIONS = records.record_type("interactions")
COUNTERPARTIES = records.record_type("counterparties")
PEOPLE = records.record_type("contact-persons")
TEMPLATES = records.record_type("letter-templates")
MAX_HTML = 2_000_000
FORM_FIELDS = ("to", "cc", "subject", "text", "contact_person_id", "reply_to_id")

BODY_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
BODY_HEADERS = {
    "Content-Security-Policy": BODY_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",  # framed by our own letter page, nobody else's
    "Cache-Control": "no-store",
}


def clean(html: str) -> str:
    """Letter HTML safe to put in the sandboxed frame: no script, style element, handler or form."""
    return nh3.clean(
        html[:MAX_HTML],
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def _letter(db: Session, visit: Visit, letter_id: str) -> Interaction:
    item = records.get(db, visit.user, INTERACTIONS, letter_id)
    if item.kind != InteractionKind.LETTER:
        raise NotFound(f"letter {letter_id} not found")
    return item


def _thread(db: Session, visit: Visit, letter: Interaction) -> list[Interaction]:
    if not letter.thread_id:
        return []
    found = records.list_records(
        db,
        visit.user,
        INTERACTIONS,
        filters={"thread_id": letter.thread_id, "counterparty_id": letter.counterparty_id},
        sort="starts_at",
        limit=100,
    ).items
    return [i for i in found if i.id != letter.id]


async def read(request: Request, home: Home) -> Response:
    letter_id = request.path_params["letter_id"]

    def work(db: Session, visit: Visit) -> Response:
        letter = _letter(db, visit, letter_id)
        cp = db.get(Counterparty, letter.counterparty_id)
        return visit.page(
            db,
            "letter.html",
            letter=letter,
            cp=cp,
            thread=_thread(db, visit, letter),
            people=letter.participants or [],
        )

    return await signed_in(request, home, work)


async def body(request: Request, home: Home) -> Response:
    """The letter's HTML alone, for the sandboxed frame of the letter page."""
    letter_id = request.path_params["letter_id"]

    def work(db: Session, visit: Visit) -> Response:
        letter = _letter(db, visit, letter_id)
        # Built here rather than in a template: the one place sanitised HTML is put into a page unescaped.
        page = (
            '<!doctype html><html><head><meta charset="utf-8"><base target="_blank"></head><body>'
            + clean(letter.body_html or "")
            + "</body></html>"
        )
        return HTMLResponse(page, headers=BODY_HEADERS)

    return await signed_in(request, home, work)


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


async def attachment(request: Request, home: Home) -> Response:
    """One attachment of a letter the user may read, as a download that no browser renders in place."""
    letter_id, sha256 = request.path_params["letter_id"], request.path_params["sha256"]

    def work(db: Session, visit: Visit) -> Response:
        letter = _letter(db, visit, letter_id)
        listed = next(
            (
                a
                for a in letter.attachments or []
                if a.get("sha256") == sha256 and not a.get("omitted")
            ),
            None,
        )
        # Only a hash listed on this very letter: the route never reads an arbitrary stored file.
        if listed is None or not _SHA256.match(sha256) or (data := home.attachment(sha256)) is None:
            raise NotFound(f"attachment {sha256[:64]} of letter {letter_id} not found")
        name = str(listed.get("filename") or "attachment")
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )

    return await signed_in(request, home, work)


async def mail_status(request: Request, home: Home) -> Response:
    """Send a failed letter again, or take back one that still waits (the rules allow nothing else)."""
    letter_id = request.path_params["letter_id"]
    form = await read_form(request)
    wanted = {"queue": MailStatus.QUEUED.value, "cancel": None}
    action = str(form.get("action", ""))
    raw_version = str(form.get("version", ""))
    version = int(raw_version) if raw_version.isdigit() else None

    def work(db: Session, visit: Visit) -> Response:
        _letter(db, visit, letter_id)
        if action not in wanted:
            raise ValidationFailed(
                "unknown action", details={"mail_status": "must be queue or cancel"}
            )
        home.update(
            db, visit.user, INTERACTIONS, letter_id, {"mail_status": wanted[action]}, version
        )
        return visit.redirect(f"/letters/{letter_id}")

    return await signed_in(request, home, work, write=True, form=form)


_ADDRESSES = re.compile(r"[,;\s]+")


def _addresses(raw: str) -> list[str]:
    return [a for a in _ADDRESSES.split(raw.strip()) if a]


def _form(
    db: Session,
    visit: Visit,
    cp_id: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    cp = records.get(db, visit.user, COUNTERPARTIES, cp_id)
    people = records.list_records(
        db, visit.user, PEOPLE, filters={"counterparty_id": cp.id}, limit=records.MAX_PAGE
    ).items
    errors = errors or {}
    known = {"to", "cc", "subject", "text", "contact_person_id"}
    templates = records.list_records(
        db, visit.user, TEMPLATES, limit=records.MAX_PAGE, count=False
    ).items
    return visit.page(
        db,
        "letter_new.html",
        status_code=status_code,
        cp=cp,
        people=people,
        values=values,
        errors=errors,
        other_errors={k: v for k, v in errors.items() if k not in known},
        templates=templates,
    )


async def new(request: Request, home: Home) -> Response:
    """The form; ``?reply_to=`` answers a letter (its sender and subject filled in); ``?template=``
    starts from a stored template (its merge fields are filled when the letter is sent)."""
    cp_id = request.path_params["record_id"]
    reply_to = request.query_params.get("reply_to", "")[:36]
    template_id = request.query_params.get("template", "")[:36]

    def work(db: Session, visit: Visit) -> Response:
        values = dict.fromkeys(FORM_FIELDS, "")
        if reply_to:
            original = _letter(db, visit, reply_to)
            if original.counterparty_id != cp_id:
                raise NotFound(f"letter {reply_to} not found")
            answer = "from" if original.direction == "incoming" else "to"
            values["to"] = ", ".join(
                p["address"] for p in original.participants or [] if p.get("role") == answer
            )
            subject = original.subject or ""
            values["subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
            values["reply_to_id"] = original.id
            values["contact_person_id"] = original.contact_person_id or ""
        if template_id:
            template = records.get(db, visit.user, TEMPLATES, template_id)
            values["subject"] = values["subject"] or template.subject
            values["text"] = template.body
            values["template"] = template.id
        return _form(db, visit, cp_id, values)

    return await signed_in(request, home, work)


def _person_email(db: Session, visit: Visit, cp_id: str, person_id: str) -> tuple[str, str] | None:
    """The first email and the name of a contact person of that counterparty, or None (no email,
    or not one of its persons)."""
    try:
        person = records.get(db, visit.user, PEOPLE, person_id[:36])
    except NotFound:
        return None
    if person.counterparty_id != cp_id:
        return None
    address = next((str(c["value"]) for c in person.contacts if c.get("kind") == "email"), None)
    return (address, person.full_name) if address else None


async def send(request: Request, home: Home) -> Response:
    """Queue the letter: an outgoing interaction the mail bridge sends (after sync, on a laptop)."""
    cp_id = request.path_params["record_id"]
    form = await read_form(request)
    values = {name: str(form.get(name, "")) for name in FORM_FIELDS}
    to, cc = _addresses(values["to"]), _addresses(values["cc"])
    data: dict[str, Any] = {
        "counterparty_id": cp_id,
        "kind": InteractionKind.LETTER.value,
        "direction": "outgoing",
        "status": "planned",
        "starts_at": datetime.now(UTC).isoformat(),
        "subject": values["subject"].strip(),
        "notes": values["text"],
        "mail_status": MailStatus.QUEUED.value,
        "participants": [{"role": "to", "address": a} for a in to]
        + [{"role": "cc", "address": a} for a in cc],
        "contact_person_id": values["contact_person_id"] or None,
        "reply_to_id": values["reply_to_id"] or None,
    }
    problems: dict[str, str] = {}
    if not data["subject"]:
        problems["subject"] = i18n.N_("Required")

    def work(db: Session, visit: Visit) -> Response:
        records.get(db, visit.user, COUNTERPARTIES, cp_id)  # 404 before any talk of its fields
        if not to and values["contact_person_id"]:
            # "To" left empty (no script filled it in): the chosen contact person's first email.
            found_to = _person_email(db, visit, cp_id, values["contact_person_id"])
            if found_to:
                address, name = found_to
                data["participants"].insert(0, {"role": "to", "address": address, "name": name})
            else:
                problems["to"] = i18n.N_("Enter at least one address")
        elif not to:
            problems["to"] = i18n.N_("Enter at least one address")
        found = dict(problems)
        try:
            created = home.create(db, visit.user, INTERACTIONS, data)
        except ValidationFailed as exc:
            details = exc.details if isinstance(exc.details, dict) else {"": exc.message}
            for key, message in details.items():
                found.setdefault("to" if key == "participants" else key, message)
        if found:
            raise ValidationFailed("letter has invalid fields", details=found)
        return visit.redirect(f"/letters/{created.id}")

    try:
        return await signed_in(request, home, work, write=True, form=form)
    except ValidationFailed as exc:
        details = exc.details if isinstance(exc.details, dict) else {"": exc.message}

        def again(db: Session, visit: Visit) -> Response:
            errors = {
                k: visit.gettext(v) if problems.get(k) == v else i18n.problem(str(v), visit.gettext)
                for k, v in details.items()
            }
            return _form(db, visit, cp_id, values, errors, 422)

        return await signed_in(request, home, again)
