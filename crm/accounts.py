"""Users, passwords, devices and their tokens.

Passwords are hashed with Argon2id. Logging in names a device and returns a
bearer token for it; only the token's sha256 is stored, so the table cannot be
replayed. Revoking a device, or disabling its user, refuses the token on the
very next request because every request looks the token up afresh.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, delete, func, select
from sqlmodel import Session

from crm import changes, rules
from crm.errors import (
    AlreadyExists,
    NotFound,
    PermissionDenied,
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
_DUMMY_HASH = _hasher.hash("satchel-timing-equaliser")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
                               details={"password": "too short"})
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, *, login: str, full_name: str, password: str | None = None,
                role: str = Role.SALESPERSON, team: str | None = None, email: str | None = None,
                locale: str = "ru") -> User:
    """Create a user, creating the named team when it does not exist yet (an admin command)."""
    if session.execute(select(User).where(User.login == login.strip().lower())).first():
        raise AlreadyExists(f"user {login} already exists")
    team_id = ensure_team(session, team).id if team else None
    user = User(login=login, full_name=full_name, role=role, team_id=team_id, email=email, locale=locale)
    rules.run_check(rules.check_user, session, user, user)
    if password is not None:
        user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    return user


def ensure_team(session: Session, name: str) -> Team:
    team = session.execute(select(Team).where(Team.name == name)).scalar_one_or_none()
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def find_user(session: Session, login: str) -> User:
    user = session.execute(select(User).where(User.login == login.strip().lower())).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user with login {login}")
    return user


def set_password(session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.updated_at = utcnow()
    session.add(user)


def set_active(session: Session, user: User, active: bool) -> None:
    user.is_active = active
    user.version += 1
    user.updated_at = utcnow()
    session.add(user)
    changes.bump(session)


def check_rate_limit(session: Session, login: str, address: str, policy: LoginPolicy) -> None:
    """Raise ``RateLimited`` when the login name or the address failed too often lately."""
    now = utcnow()
    for column, value in ((LoginFailure.login, login), (LoginFailure.address, address)):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(column == value, LoginFailure.at > now - policy.window)
        ).one()
        if count >= policy.max_failures and oldest is not None:
            wait = int((oldest + policy.window - now).total_seconds()) + 1
            raise RateLimited(f"too many failed logins; try again in {wait} s", retry_after=max(wait, 1))


def record_failure(session: Session, login: str, address: str, policy: LoginPolicy) -> None:
    session.add(LoginFailure(login=login, address=address))
    # Old rows say nothing any more; keep the table small.
    session.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - policy.window * 4))  # type: ignore[arg-type]


def verify_password(session: Session, login: str, password: str, address: str,
                    policy: LoginPolicy | None = None) -> User | None:
    """The active user whose password this is, or None (and the failure is recorded).

    The caller must commit even when None comes back, so that the failure counts.
    """
    login = login.strip().lower()
    policy = policy or LoginPolicy()
    check_rate_limit(session, login, address, policy)
    user = session.execute(select(User).where(User.login == login)).scalar_one_or_none()
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password) and user is not None and user.password_hash is not None
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
        raise ValidationFailed("name the device, e.g. 'Ноутбук Иванова'", details={"device_name": "empty"})
    token = secrets.token_urlsafe(32)
    device = Device(user_id=user.id, name=name[:200], token_hash=token_hash(token))
    session.add(device)
    session.flush()
    return device, token


# Built once: every request runs it.
_BY_TOKEN = select(Device, User).join(User, User.id == Device.user_id).where(Device.token_hash == bindparam("token_hash"))


def authenticate(session: Session, token: str) -> tuple[User, Device]:
    """The user and device behind a bearer token; ``Unauthenticated`` when it is not good now."""
    row = session.execute(_BY_TOKEN, {"token_hash": token_hash(token)}).first()
    if row is None:
        raise Unauthenticated("unknown token; log in again")
    device, user = row
    if device.revoked_at is not None:
        raise Unauthenticated(f"device '{device.name}' was revoked; log in again")
    if not user.is_active:
        raise Unauthenticated("this user is disabled")
    return user, device


def touch_device(session: Session, device: Device, now: datetime | None = None) -> None:
    """Note when a device was last seen, at most once a minute to spare the writer."""
    now = now or utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > timedelta(minutes=1):
        device.last_seen_at = now
        session.add(device)


def list_devices(session: Session, user: User | None = None) -> list[Device]:
    stmt = select(Device).order_by(Device.created_at)
    if user is not None:
        stmt = stmt.where(Device.user_id == user.id)
    return list(session.execute(stmt).scalars())


def revoke_device(session: Session, actor: User | None, device_id: str) -> Device:
    """Revoke a device. ``actor`` None means an admin command on the server itself."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    if actor is not None and actor.role != Role.ADMIN and device.user_id != actor.id:
        raise PermissionDenied("you may revoke only your own devices")
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        session.add(device)
    log.info("device %s revoked", device.id)
    return device
