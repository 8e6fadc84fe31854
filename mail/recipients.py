"""A mailing's letters as the mail bridge sees them: each recipient's state and the mailing's counts.

``crm.mailings`` queues a mailing: one outgoing letter (an Interaction, ``mail_status``
"queued") per address and a :class:`~crm.models.MailingRecipient` row naming it. From then
on the bridge moves the recipient — *sent* or *failed* as the outbox settles its letter
(:mod:`mail.outbox`), *bounced* when a delivery report names it (:mod:`mail.bounces`) — and
keeps the mailing's ``sent``, ``failed`` and ``bounced`` counts with it, in the same
transaction as the letter's own change.

The counts move by the recipient's change of state, never by a recount: the mailing's row is
locked first (``FOR UPDATE`` on PostgreSQL; SQLite has one writer anyway), so two workers
settling two letters of one mailing at once both count. A bounced letter was sent: it stays
in ``sent`` and is counted in ``bounced`` too. The mailing is a synced record: it is changed
through the ORM as the bridge's own user (version, audit fields), so the change log carries
the new counts to the laptops.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from crm.models import Mailing, MailingRecipient, User
from mail.filing import set_as_bridge

__all__ = ["BOUNCED", "FAILED", "QUEUED", "SENT", "move", "recipient_of"]

QUEUED, SENT, FAILED, BOUNCED = "queued", "sent", "failed", "bounced"

# The counts of the mailing a recipient in each state is counted in.
_COUNTED: dict[str, frozenset[str]] = {
    QUEUED: frozenset(),
    SENT: frozenset({"sent"}),
    FAILED: frozenset({"failed"}),
    BOUNCED: frozenset({"sent", "bounced"}),
}


def recipient_of(session: Session, interaction_id: str) -> MailingRecipient | None:
    """The mailing recipient whose letter ``interaction_id`` is, if the letter is a mailing's."""
    return (
        session.execute(
            select(MailingRecipient)
            .where(col(MailingRecipient.interaction_id) == interaction_id)
            .order_by(col(MailingRecipient.id))
            .limit(1)
        )
        .scalars()
        .first()
    )


def move(
    session: Session,
    bridge: User,
    recipient: MailingRecipient,
    state: str,
    *,
    at: datetime | None = None,
) -> bool:
    """Put ``recipient`` in ``state`` and count it on its mailing; False when it was there already."""
    old = recipient.state
    if old == state:
        return False
    recipient.state = state
    if state == BOUNCED:
        recipient.bounced_at = at
    session.add(recipient)
    mailing = session.execute(
        select(Mailing)
        .where(col(Mailing.id) == recipient.mailing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if mailing is not None:
        before, after = _COUNTED.get(old, frozenset()), _COUNTED.get(state, frozenset())
        counts = {
            name: max(0, getattr(mailing, name) + (name in after) - (name in before))
            for name in before ^ after
        }
        set_as_bridge(session, bridge, mailing, **counts)
    session.flush()
    return True
