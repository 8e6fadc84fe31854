"""Users, passwords, devices and their tokens.

Passwords are hashed with Argon2id. Logging in names a device and returns a
bearer token for it; only the token's sha256 is stored, so the table cannot be
replayed. Revoking a device, or disabling its user, refuses the token on the
very next request because every request looks the token up afresh.

A password change, and any change of ``is_active`` (disable or enable, by
whatever path: the CLI, ``PATCH /api/v1/users/ID``, a sync push, the mail
bridge), *ends* every device token of the user — revoked, not just refused
while disabled — so that re-enabling a user revives none of them. Other
credentials registered with ``on_sessions_ended`` (calendar feed tokens) end
with them.

Login failures are counted per login name and per address; calendar feed
URLs that miss are counted apart (``check_feed_guesses``), so that an office's
stale subscription never locks its address out of signing in.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, delete, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col

from crm import changes, rules
from crm.errors import (
    AlreadyExists,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from crm.models import Device, LoginFailure, Team, User, utcnow
from crm.models.enums import Role

log = logging.getLogger(__name__)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class LoginPolicy:
    """Failed logins allowed per login name (and, separately, per address) within ``window``."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


# Verifying against a dummy hash when the login is unknown keeps the answer's
# timing the same, so a stranger cannot probe which logins exist.
@functools.cache
def _dummy_hash() -> str:
    """Made on first use, not at import: every command that imports accounts would pay for it."""
    return _hasher.hash("satchel-timing-equaliser")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            details={"password": "too short"},
        )
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    login: str,
    full_name: str,
    password: str | None = None,
    role: str = Role.SALESPERSON,
    team: str | None = None,
    email: str | None = None,
    locale: str = "ru",
    active: bool = True,
) -> User:
    """Create a user, creating the named team when it does not exist yet (an admin command);
    ``active`` False makes one who cannot log in (the mail bridge's robot)."""
    if session.execute(select(User).where(col(User.login) == login.strip().lower())).first():
        raise AlreadyExists(f"user {login} already exists")
    team_id = ensure_team(session, team).id if team else None
    user = User(
        login=login,
        full_name=full_name,
        role=role,
        team_id=team_id,
        email=email,
        locale=locale,
        is_active=active,
    )
    rules.run_check(rules.check_user, session, user, user)
    if password is not None:
        user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    return user


def ensure_team(session: Session, name: str) -> Team:
    team = session.execute(select(Team).where(col(Team.name) == name)).scalar_one_or_none()
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def find_user(session: Session, login: str) -> User:
    stmt = select(User).where(col(User.login) == login.strip().lower())
    user = session.execute(stmt).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with login {login}")
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Set ``user``'s password and end every token of theirs (DESIGN: a password change ends them all)."""
    user.password_hash = hash_password(password)
    user.updated_at = utcnow()
    session.add(user)
    end_sessions(session.connection(), user.id)
    log.info("password of user %s changed; their tokens ended", user.id)


def set_active(session: Session, user: User, active: bool) -> None:
    """Disable or enable ``user``; either way their tokens end (the session hook below does it)."""
    user.is_active = active
    user.version += 1
    user.updated_at = utcnow()
    session.add(user)
    changes.bump(session)


# -- ending a user's tokens -------------------------------------------------------------------

SessionEnder = Callable[[Any, str, datetime], None]
_enders: list[SessionEnder] = []


def on_sessions_ended(ender: SessionEnder) -> SessionEnder:
    """Register ``ender(connection, user_id, at)``, run whenever a user's tokens end.

    For credentials kept outside ``crm`` (``calendar_bridge.tokens`` registers
    its feed tokens), which ``crm`` may not import. Usable as a decorator.
    """
    if ender not in _enders:
        _enders.append(ender)
    return ender


def end_sessions(connection: Any, user_id: str) -> None:
    """Revoke every live device (and browser session) of ``user_id`` and run the registered enders.

    Core statements on ``connection``, so that it may run inside a flush.
    """
    now = utcnow()
    devices: Any = Device.__table__  # type: ignore[attr-defined]  # SQLModel does not declare it
    connection.execute(
        update(devices)
        .where(devices.c.user_id == user_id, devices.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    for ender in _enders:
        ender(connection, user_id, now)


def _active_changed(user: User) -> bool:
    # An unknown old value (the attribute was expired when set) counts as a change: ending
    # the tokens once too often logs someone out; once too few would let a revived token in.
    history = inspect(user).attrs["is_active"].history
    return bool(history.added) and not (history.deleted and history.deleted[0] == history.added[0])


def _after_flush(session: OrmSession, _context: Any) -> None:
    # Every path that disables or enables a user flushes the change: ending the tokens
    # here rather than in each path means no path can forget it. Registered on server
    # writes only: a laptop's replica holds no tokens of anyone's.
    for obj in session.dirty:
        if isinstance(obj, User) and _active_changed(obj):
            end_sessions(session.connection(), obj.id)
            log.info(
                "user %s %s; their tokens ended", obj.id, "enabled" if obj.is_active else "disabled"
            )


event.listen(changes.ServerWrite, "after_flush", _after_flush)


def _check(session: Session, keys: list[tuple[Any, str]], policy: LoginPolicy, what: str) -> None:
    now = utcnow()
    for column, value in keys:
        count, oldest = session.execute(
            select(func.count(), func.min(col(LoginFailure.at))).where(
                column == value, col(LoginFailure.at) > now - policy.window
            )
        ).one()
        if count >= policy.max_failures and oldest is not None:
            wait = int((oldest + policy.window - now).total_seconds()) + 1
            raise RateLimited(f"too many {what}; try again in {wait} s", retry_after=max(wait, 1))


def check_rate_limit(session: Session, login: str, address: str, policy: LoginPolicy) -> None:
    """Raise ``RateLimited`` when the login name or the address failed too often lately.

    Only failed logins count: feed misses are kept under keys of their own (``_feed_key``).
    """
    _check(
        session,
        [(LoginFailure.login, login), (LoginFailure.address, address)],
        policy,
        "failed logins",
    )


# Rows younger than this are kept whatever the policy that records one: a feed miss,
# with its short window, must not purge the failed logins a longer login window counts.
_KEEP_FAILURES = timedelta(days=1)


def record_failure(session: Session, login: str, address: str, policy: LoginPolicy) -> None:
    session.add(LoginFailure(login=login, address=address))
    # Old rows say nothing any more; keep the table small.
    horizon = utcnow() - max(policy.window * 4, _KEEP_FAILURES)
    session.execute(delete(LoginFailure).where(col(LoginFailure.at) < horizon))


def _feed_key(address: str) -> str:
    # No address starts with "feed:", so login checks by address never see these rows;
    # the login column gets the same key, which no real login name is.
    return f"feed:{address}"[:64]


def check_feed_guesses(session: Session, address: str, policy: LoginPolicy) -> None:
    """Raise ``RateLimited`` when ``address`` asked for too many unknown calendar feed URLs lately.

    Counted apart from logins both ways: misses never block a login, failed logins
    never block a feed, and a login name cannot use up an address's feed allowance.
    """
    _check(session, [(LoginFailure.address, _feed_key(address))], policy, "unknown calendar URLs")


def record_feed_guess(session: Session, address: str, policy: LoginPolicy) -> None:
    """Count a calendar feed URL from ``address`` that named no live feed (commit it)."""
    key = _feed_key(address)
    record_failure(session, key, key, policy)


def verify_password(
    session: Session, login: str, password: str, address: str, policy: LoginPolicy | None = None
) -> User | None:
    """The active user whose password this is, or None (and the failure is recorded).

    The caller must commit even when None comes back, so that the failure counts.
    """
    login = login.strip().lower()
    policy = policy or LoginPolicy()
    check_rate_limit(session, login, address, policy)
    user = session.execute(select(User).where(col(User.login) == login)).scalar_one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    try:
        ok = (
            _hasher.verify(stored, password) and user is not None and user.password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or not user.is_active:
        record_failure(session, login, address, policy)
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


def register_device(session: Session, user: User, name: str) -> tuple[Device, str]:
    """A new device for ``user`` and its bearer token (shown once, stored only hashed)."""
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "name the device, e.g. 'Ноутбук Иванова'", details={"device_name": "empty"}
        )
    token = secrets.token_urlsafe(32)
    device = Device(user_id=user.id, name=name[:200], token_hash=token_hash(token))
    session.add(device)
    session.flush()
    return device, token


# Built once: every request runs it.
_BY_TOKEN = (
    select(Device, User)
    .join(User, col(User.id) == Device.user_id)
    .where(col(Device.token_hash) == bindparam("token_hash"))
)
_BY_DEVICE = (
    select(Device, User)
    .join(User, col(User.id) == Device.user_id)
    .where(col(Device.id) == bindparam("device_id"))
)


def authenticate(session: Session, token: str) -> tuple[User, Device]:
    """The user and device behind a bearer token; ``Unauthenticated`` when it is not good now."""
    return _good_now(session.execute(_BY_TOKEN, {"token_hash": token_hash(token)}).first())


def device_of_token(session: Session, token: str) -> Device | None:
    """The device a bearer token belongs to, whatever its state (revoked, its user disabled)."""
    row = session.execute(_BY_TOKEN, {"token_hash": token_hash(token)}).first()
    return None if row is None else row[0]


def authenticate_device(session: Session, device_id: str) -> tuple[User, Device]:
    """``authenticate`` again, by the key of a device a token already led to (no second hash and
    lookup of the token): refused as ``authenticate`` would if it was revoked or its user disabled since.
    In a transaction that looked up its devices together (``hold_devices``), from what it found."""
    held: dict[str, Any] | None = session.info.get(_DEVICES_HELD)
    row = held.get(device_id) if held is not None else None
    if row is None:
        row = session.execute(_BY_DEVICE, {"device_id": device_id}).first()
    return _good_now(row)


_DEVICES_HELD = "accounts.devices_held"

_BY_DEVICES = (
    select(Device, User)
    .join(User, col(User.id) == Device.user_id)
    .where(col(Device.id).in_(bindparam("device_ids", expanding=True)))
)


def hold_devices(session: Session, device_ids: Iterable[str]) -> set[str]:
    """Look up the devices of requests written in one transaction (``sync.group``) in one query:
    each request's ``authenticate_device`` then finds its device here, as it would have found it in
    the database. Dropped by ``forget_devices`` when a write may have changed them. The ids of
    those still good."""
    ids = sorted(set(device_ids))
    rows = session.execute(_BY_DEVICES, {"device_ids": ids}).all() if ids else []
    session.info[_DEVICES_HELD] = {row[0].id: row for row in rows}
    return {device.id for device, user in rows if user.is_active and device.revoked_at is None}


def note_seen(session: Session, device_ids: Iterable[str]) -> None:
    """Note the devices ``device_ids`` seen now, those not noted for a minute, in one statement and
    in a transaction of its own (pushes, ``sync.group``): a push's own transaction takes the data
    version first, a REST write its device's row first, so a push that also wrote its device's row
    could wait on a REST write of the same laptop that waits on it. A row another transaction holds
    is skipped (noted next time), never waited for."""
    ids = sorted(set(device_ids))
    if not ids:
        return
    now = utcnow()
    due = (
        select(col(Device.id))
        .where(
            col(Device.id).in_(ids),
            or_(
                col(Device.last_seen_at).is_(None),
                col(Device.last_seen_at) < now - timedelta(minutes=1),
            ),
        )
        .order_by(col(Device.id))
        .with_for_update(skip_locked=True)
    )
    session.execute(update(Device).where(col(Device.id).in_(due)).values(last_seen_at=now))


def forget_devices(session: Session) -> None:
    """Drop what ``hold_devices`` found: a user or device may have been changed since."""
    session.info.pop(_DEVICES_HELD, None)


def _good_now(row: Any) -> tuple[User, Device]:
    if row is None:
        raise Unauthenticated("unknown token; log in again")
    device, user = row
    # Disabling revokes the devices too; say the more useful reason first.
    if not user.is_active:
        raise Unauthenticated("this user is disabled")
    if device.revoked_at is not None:
        raise Unauthenticated(f"device '{device.name}' was revoked; log in again")
    return user, device


def touch_device(session: Session, device: Device, now: datetime | None = None) -> None:
    """Note when a device was last seen, at most once a minute to spare the writer."""
    now = now or utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > timedelta(minutes=1):
        device.last_seen_at = now
        session.add(device)


def list_devices(session: Session, user: User | None = None) -> list[Device]:
    stmt = select(Device).order_by(col(Device.created_at))
    if user is not None:
        stmt = stmt.where(col(Device.user_id) == user.id)
    return list(session.execute(stmt).scalars())


def revoke_device(session: Session, actor: User | None, device_id: str) -> Device:
    """Revoke a device. ``actor`` None means an admin command on the server itself."""
    device = session.get(Device, device_id)
    # Another's device answers as a missing one: its id tells nothing about whether it exists.
    if device is None or (
        actor is not None and actor.role != Role.ADMIN and device.user_id != actor.id
    ):
        raise NotFound(f"no device {device_id}")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        session.add(device)
    log.info("device %s revoked", device.id)
    return device
