"""Issuing, finding, regenerating and revoking feed tokens.

A token is 192 random bits (``secrets.token_urlsafe(24)``), shown once. It is
found by its sha256, which is then compared with ``hmac.compare_digest`` so
the answer's time does not depend on how much of a guess was right.

A feed URL is a credential like a device token: when a user's tokens end (a
password change, a disable or enable — ``crm.accounts.end_sessions``) their
feeds are revoked too. A password is changed because it may have leaked, and
whoever held it could have issued themselves a feed; the cost is subscribing
again in Outlook. This module registers that on import; every process that
changes credentials imports it (the server app, the ``satchel user`` commands).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from calendar_bridge.models import FeedKind, FeedToken
from crm import accounts
from crm.errors import NotFound, PermissionDenied, ValidationFailed
from crm.models import User, utcnow
from crm.models.enums import Role


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def entitled(kind: str, owner: User) -> bool:
    """Whether ``owner`` may have a feed of ``kind`` now: a team plan is a manager's (or an admin's)."""
    return kind != FeedKind.TEAM or owner.role in (Role.MANAGER, Role.ADMIN)


def issue(
    session: Session, owner: User, kind: str, *, free_busy: bool = False, label: str = ""
) -> tuple[FeedToken, str]:
    """A new feed for ``owner`` and its secret token (shown once; only its hash is stored)."""
    if kind not in [k.value for k in FeedKind]:
        raise ValidationFailed(
            f"kind must be one of {', '.join(k.value for k in FeedKind)}", details={"kind": kind}
        )
    if not entitled(kind, owner):
        raise PermissionDenied("only managers have a team plan feed")
    token = secrets.token_urlsafe(24)
    feed = FeedToken(
        user_id=owner.id,
        kind=kind,
        free_busy=free_busy,
        label=label.strip()[:200],
        token_hash=_hash(token),
    )
    session.add(feed)
    session.flush()
    return feed, token


def resolve(session: Session, token: str) -> tuple[FeedToken, User] | None:
    """The live feed and its user for ``token``; None for unknown, revoked, a disabled user,
    or a team feed whose owner is no longer a manager (asked on every poll, so it stops at once)."""
    digest = _hash(token)
    row = session.execute(
        select(FeedToken, User)
        .join(User, col(User.id) == FeedToken.user_id)
        .where(col(FeedToken.token_hash) == digest)
    ).first()
    if row is None:
        return None
    feed, user = row
    if (
        not hmac.compare_digest(feed.token_hash, digest)
        or feed.revoked_at is not None
        or not user.is_active
    ):
        return None
    if not entitled(feed.kind, user):
        return None
    return feed, user


def mine(session: Session, owner: User | None) -> list[FeedToken]:
    """Feeds of ``owner`` (everyone's when None, for an admin command), newest first."""
    stmt = select(FeedToken).order_by(col(FeedToken.created_at).desc())
    if owner is not None:
        stmt = stmt.where(col(FeedToken.user_id) == owner.id)
    return list(session.execute(stmt).scalars())


def _own(session: Session, actor: User | None, feed_id: str) -> FeedToken:
    feed = session.get(FeedToken, feed_id)
    if feed is None or (
        actor is not None and actor.role != Role.ADMIN and feed.user_id != actor.id
    ):
        raise NotFound(f"no feed {feed_id}")
    return feed


def revoke(session: Session, actor: User | None, feed_id: str) -> FeedToken:
    """Revoke one feed; its URL fails from the next request on. ``actor`` None: a server command."""
    feed = _own(session, actor, feed_id)
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()
        session.add(feed)
    return feed


def regenerate(session: Session, actor: User | None, feed_id: str) -> tuple[FeedToken, str]:
    """Revoke a feed and issue the same kind anew: a leaked URL is replaced without touching the others."""
    old = revoke(session, actor, feed_id)
    owner = session.get_one(User, old.user_id)
    return issue(session, owner, old.kind, free_busy=old.free_busy, label=old.label)


@accounts.on_sessions_ended
def _end_feeds(connection: Any, user_id: str, at: datetime) -> None:
    """Revoke every live feed of ``user_id`` (run by ``crm.accounts.end_sessions``)."""
    table: Any = FeedToken.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    connection.execute(
        update(table)
        .where(table.c.user_id == user_id, table.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
