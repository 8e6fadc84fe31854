"""Claims on clients: who holds a client for which product group, and the warning colleagues see.

A salesperson claims a counterparty for a product group or a direction for a period
(``crm.models.Claim``, the rules in ``crm.rules.check_claim``, who may do what in ``crm.access``).
A claim is in force from ``starts_on`` to ``ends_on`` inclusive and lapses by itself: nothing
runs to end it. Whoever plans a contact or a deal with the client, or opens its card, is shown the
claims in force that others hold (``held_by_others``, ``warning``): a warning, not a refusal —
the colleague may still call, knowing whose client it is.

Works over any session: the server's database or a laptop's replica (what the laptop holds of
its user's clients).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlmodel import Session, col

from crm import records
from crm.models import Claim, User, utcnow


@dataclass(frozen=True)
class Held:
    """A claim in force, as a warning names it."""

    id: str
    counterparty_id: str
    product_group: str
    holder_id: str | None
    holder: str  # the holder's name (or login)
    starts_on: date | None
    ends_on: date | None


def in_force(
    session: Session, actor: User, counterparty_id: str, *, on: date | None = None
) -> list[Held]:
    """The claims on ``counterparty_id`` in force ``on`` a day (today by default) that ``actor``
    may see, by product group."""
    day = on or utcnow().date()
    rt = records.record_type("claims")
    rows = session.execute(
        select(Claim, col(User.full_name), col(User.login))
        .outerjoin(User, col(User.id) == col(Claim.holder_id))
        .where(
            col(Claim.counterparty_id) == counterparty_id,
            col(Claim.starts_on) <= day,
            col(Claim.ends_on) >= day,
            records.visible(rt, actor),
        )
        .order_by(col(Claim.product_group), col(Claim.ends_on))
    ).all()
    return [
        Held(
            claim.id,
            claim.counterparty_id,
            claim.product_group,
            claim.holder_id,
            full_name or login or "",
            claim.starts_on,
            claim.ends_on,
        )
        for claim, full_name, login in rows
    ]


def held_by_others(
    session: Session, actor: User, counterparty_id: str, *, on: date | None = None
) -> list[Held]:
    """The claims in force on the client that someone other than ``actor`` holds."""
    return [h for h in in_force(session, actor, counterparty_id, on=on) if h.holder_id != actor.id]


def warning(held: list[Held]) -> str:
    """One line for a colleague about to plan a contact or a deal (empty when nothing is held)."""
    if not held:
        return ""
    parts = "; ".join(f"{h.product_group} — {h.holder} до {h.ends_on}" for h in held)
    return f"Клиент закреплён / claimed: {parts}"
