"""Suggested contact persons: an unknown sender of a filed letter, turned into a person or dismissed.

The bridge proposes (``filing.Suggestions``); a person decides. Accepting creates
the contact person through ``crm.records.create`` as the deciding user, so the
same rules apply as to a person typed on the card: only whoever may change the
counterparty adds people to it, and a refusal raises before anything changed
(the caller's transaction rolls back). Dismissing asks the same right: it is a
decision about that counterparty's people too.

Both work in the caller's session; neither is ever undone by the bridge, which
counts further letters on a settled suggestion but does not reopen it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from crm import access, records
from crm.errors import AlreadyExists, NotFound, PermissionDenied
from crm.models import ContactPerson, Counterparty, User
from crm.models.enums import ContactKind
from crm.validation import normalize_email
from mail.models import MailSuggestion

__all__ = ["accept_suggestion", "dismiss_suggestion", "open_suggestions"]

COUNTERPARTIES = records.record_type("counterparties")
PEOPLE = records.record_type("contact-persons")


def open_suggestions(
    session: Session, user: User, *, limit: int = 100, offset: int = 0
) -> list[MailSuggestion]:
    """The open suggestions ``user`` may decide: those on counterparties they may change, most letters first."""
    # Filtered in the database by crm.access's own rule, so the limit counts only what ``user`` may decide.
    theirs = select(col(Counterparty.id)).where(access.writable_counterparties(user))
    query = (
        select(MailSuggestion)
        .where(
            col(MailSuggestion.status) == "open", col(MailSuggestion.counterparty_id).in_(theirs)
        )
        .order_by(
            col(MailSuggestion.letters).desc(),
            col(MailSuggestion.created_at),
            col(MailSuggestion.id),
        )
        .limit(limit)
        .offset(offset)
    )
    return list(session.execute(query).scalars())


def _open(session: Session, suggestion_id: str) -> MailSuggestion:
    # Locked (FOR UPDATE on PostgreSQL; SQLite writers take the database) so that two
    # people accepting at once cannot both see it open and make the person twice.
    suggestion = session.get(MailSuggestion, suggestion_id, with_for_update=True)
    if suggestion is None:
        raise NotFound(f"no suggestion {suggestion_id}")
    if suggestion.status != "open":
        raise AlreadyExists(f"suggestion {suggestion_id} was already {suggestion.status}")
    return suggestion


def _may_change(session: Session, user: User, counterparty_id: str) -> None:
    """``NotFound`` when ``user`` may not see the counterparty, ``PermissionDenied`` when they may not change it."""
    records.get(session, user, COUNTERPARTIES, counterparty_id)
    if not access.can_write_counterparty(session, user, counterparty_id):
        raise PermissionDenied(f"you may see but not change counterparty {counterparty_id}")


def _same_address(value: object, address: str) -> bool:
    try:
        return normalize_email(str(value)) == address
    except ValueError:
        return False


def _person_with(
    session: Session, user: User, counterparty_id: str, address: str
) -> ContactPerson | None:
    """A contact person of the counterparty who has ``address`` among their emails."""
    offset = 0
    while True:
        page = records.list_records(
            session,
            user,
            PEOPLE,
            filters={"counterparty_id": counterparty_id},
            sort="created_at",
            limit=records.MAX_PAGE,
            offset=offset,
        )
        for person in page.items:
            if any(
                c.get("kind") == ContactKind.EMAIL and _same_address(c.get("value"), address)
                for c in person.contacts
            ):
                return person
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return None


def accept_suggestion(
    session: Session, user: User, suggestion_id: str, counterparty_id: str | None = None
) -> ContactPerson:
    """Make the suggested sender a contact person of the suggestion's counterparty (or of
    ``counterparty_id``), as ``user``; the person, new or the one who has that email already.

    ``user`` must be allowed to change the suggestion's counterparty and the one the person
    goes to. ``NotFound`` for a suggestion or counterparty that is not there (or not
    ``user``'s to see), ``AlreadyExists`` when the suggestion was decided already,
    ``PermissionDenied`` when ``user`` may see but not change a counterparty; nothing has
    changed then.
    """
    suggestion = _open(session, suggestion_id)
    # Deciding it is the suggestion's counterparty's business (whose correspondent it is)
    # as much as the one the person goes to.
    _may_change(session, user, suggestion.counterparty_id)
    target = counterparty_id or suggestion.counterparty_id
    if target != suggestion.counterparty_id:
        _may_change(session, user, target)
    try:
        address = normalize_email(suggestion.address)
    except ValueError:
        address = suggestion.address.strip().lower()
    person = _person_with(session, user, target, address)
    if person is None:
        person = records.create(
            session,
            user,
            PEOPLE,
            {
                "counterparty_id": target,
                "full_name": suggestion.name.strip() or address,
                "contacts": [{"kind": ContactKind.EMAIL.value, "value": address}],
            },
        )
    suggestion.status = "accepted"
    session.flush()
    return person


def dismiss_suggestion(session: Session, user: User, suggestion_id: str) -> MailSuggestion:
    """Never make this sender a contact person of that counterparty (the same rights as accepting)."""
    suggestion = _open(session, suggestion_id)
    _may_change(session, user, suggestion.counterparty_id)
    suggestion.status = "dismissed"
    session.flush()
    return suggestion
