"""The server's ``Home`` for the web UI (web/home.py): office staff and managers, online.

A browser session is a ``Device`` of its user, made by the same sign-in as the
API's (Argon2id, the same login rate limit), listed by ``satchel device list``
and revoked like a lost laptop. Writes go straight to the server's database
through ``crm.records``, so laptops receive them on their next sync.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col
from starlette.routing import Router

from crm import accounts, mailings, records
from crm.database import Database
from crm.errors import NotFound, PermissionDenied
from crm.models import Device, User
from crm.models.enums import Role
from crm.records import RecordType
from mail import bridge, suggestions, unsubscribe
from mail.decode import parse_letter
from mail.models import MailReview
from mail.templates import FIELDS
from server import merging
from server.config import Config
from sync import conflicts, protocol
from web import app as web_app
from web import home as web_home
from web.home import Badge, DeviceInfo, NavLink
from web.routes.reports import REPORTS_NAV

# The company's zone for "today" on the agenda and for times typed into forms.
# Trading companies of the product's market work on Moscow time; a setting can come when one does not.
TIMEZONE = "Europe/Moscow"


class ServerMailings:
    """Queueing a mailing from the screens (web/home.py ``MailingDesk``): the outbox's merge fields
    are checked first, so a misspelt one is refused on the form, not by a thousand failed letters."""

    def queue(self, session: Session, actor: User, mailing_id: str) -> mailings.Queued:
        return mailings.queue(session, actor, mailing_id, known_fields=FIELDS)


class ServerHome:
    place = "server"
    timezone = TIMEZONE
    password_sign_in = True

    def __init__(self, config: Config, database: Database) -> None:
        self.database = database
        self.policy = accounts.LoginPolicy(
            config.login_max_failures, timedelta(minutes=config.login_failure_window_minutes)
        )
        self.administration = ServerAdministration()
        self.review = ServerReviewQueue(config, database)
        self.unsubscribe = ServerUnsubscribe(config, database)
        self.merge = (
            merging.merge
        )  # the domain's merge and the mail index's, in the screen's transaction
        self.sync = None  # the server is where laptops sync to: no Sync screen here
        self.mailings = ServerMailings()

    def read(self) -> AbstractContextManager[Session]:
        return self.database.read()

    def write(self) -> AbstractContextManager[Session]:
        return self.database.write()

    def sign_in(
        self, session: Session, login: str, password: str, address: str, device_name: str
    ) -> tuple[User, str] | None:
        user = accounts.verify_password(session, login, password, address, self.policy)
        if user is None:
            return None
        _device, token = accounts.register_device(session, user, device_name)
        return user, token

    def authenticate(self, session: Session, token: str) -> User:
        user, device = accounts.authenticate(session, token)
        if session.in_transaction() and session.bind is self.database.engine:
            accounts.touch_device(
                session, device
            )  # only writers note the time; readers must not write
        return user

    def sign_out(self, session: Session, token: str) -> None:
        device = accounts.device_of_token(session, token)
        if device is not None:
            accounts.revoke_device(session, None, device.id)

    def create(self, session: Session, actor: User, rt: RecordType, data: dict[str, Any]) -> Any:
        return records.create(session, actor, rt, data)

    def update(
        self,
        session: Session,
        actor: User,
        rt: RecordType,
        record_id: str,
        data: dict[str, Any],
        expected_version: int | None,
    ) -> Any:
        return records.update(
            session, actor, rt, record_id, data, expected_version=expected_version
        )

    def delete(self, session: Session, actor: User, rt: RecordType, record_id: str) -> None:
        records.delete(session, actor, rt, record_id)

    def devices(self, session: Session, user: User, token: str) -> list[DeviceInfo]:
        mine = accounts.token_hash(token)
        return [
            DeviceInfo(
                d.id, d.name, d.created_at, d.last_seen_at, d.revoked_at, d.token_hash == mine
            )
            for d in accounts.list_devices(session, user)
        ]

    def revoke_device(self, session: Session, user: User, device_id: str) -> None:
        device = session.get(Device, device_id)
        if device is None or device.user_id != user.id:
            raise NotFound(
                f"no device {device_id}"
            )  # another's device is not there for this screen
        accounts.revoke_device(session, user, device_id)

    def badges(self, session: Session, user: User, gettext: Any) -> list[Badge]:
        found = []
        open_conflicts = conflicts.count_open(
            session, user
        )  # every page shows it: a count, not the list
        if open_conflicts:
            found.append(
                Badge(
                    gettext(web_home.CONFLICTS_BADGE) % {"n": open_conflicts},
                    "warning",
                    "/conflicts",
                )
            )
        waiting = self.review.count(session, user)
        if waiting:
            found.append(Badge(gettext(web_home.REVIEW_BADGE) % {"n": waiting}, "info", "/review"))
        return found

    def nav(self, user: User, gettext: Any) -> list[NavLink]:
        links = []
        # Everyone's (over the clients they see) but an admin's, whose header has no room left
        # (tests/web/test_browser.py); the agenda links to /reports for everyone.
        if user.role != Role.ADMIN:
            links.append(NavLink(gettext(REPORTS_NAV), "/reports"))
        if sorts_mail(user):
            links.append(NavLink(gettext(web_home.REVIEW_NAV), "/review"))
            links.append(NavLink(gettext(web_home.OUTBOX_NAV), "/outbox"))
        # Not an admin's: their header (review, outbox, users) has no room left on a 1366 px screen.
        if user.role in (Role.OFFICE, Role.MANAGER):
            links.append(NavLink(gettext(web_home.DUPLICATES_NAV), "/duplicates"))
        if user.role == Role.ADMIN:
            links.append(NavLink(gettext(web_home.USERS_NAV), "/admin/users"))
        return links

    def conflicts(self, session: Session, user: User) -> list[dict[str, Any]]:
        found = []
        for item in conflicts.list_conflicts(session, user):
            # A browser session never made a side, so "mine" is judged by the user alone.
            mine_is_server = protocol.mine_is_server_side(item, user.id, None)
            found.append(
                {
                    **item,
                    "mine": "server" if mine_is_server else "client",
                    "free_value": _free_value(item),
                }
            )
        return found

    def resolve_conflict(
        self, session: Session, user: User, conflict_id: str, choice: str, value: Any
    ) -> None:
        conflicts.resolve(session, user, conflict_id, choice, value)

    def attachment(self, sha256: str) -> bytes | None:
        path = bridge.blob_store(self.review.config).path(sha256)
        return path.read_bytes() if path.is_file() else None


def _free_value(item: dict[str, Any]) -> bool:
    """Whether a value of one's own may settle a conflict: a plain field, not an owner, a link or who sees
    it (``sync.conflicts`` refuses those), and not a list or an object, which a text box cannot hold."""
    if item["kind"] != "field" or not item.get("field"):
        return False
    rt = records.record_type(item["type"])
    name = item["field"]
    if name in rt.relations or name.endswith("_id") or name == "visibility":
        return False
    return all(
        not isinstance(side["value"], dict | list) for side in (item["server"], item["client"])
    )


def _admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied("only an administrator manages users")


def sorts_mail(actor: User) -> bool:
    return actor.role in (Role.ADMIN, Role.OFFICE)


class ServerAdministration:
    """Users and devices through ``crm.accounts``, the same calls as ``satchel user …``."""

    def users(self, session: Session, actor: User) -> list[User]:
        _admin(actor)
        return list(session.execute(select(User).order_by(User.login)).scalars())

    def add_user(
        self,
        session: Session,
        actor: User,
        *,
        login: str,
        full_name: str,
        role: str,
        team: str | None,
        email: str | None,
        password: str,
    ) -> User:
        _admin(actor)
        return accounts.create_user(
            session,
            login=login,
            full_name=full_name,
            role=role,
            team=team,
            email=email,
            password=password,
        )

    def _user(self, session: Session, user_id: str) -> User:
        found = session.get(User, user_id)
        if found is None:
            raise NotFound(f"no user {user_id}")
        return found

    def set_active(self, session: Session, actor: User, user_id: str, active: bool) -> None:
        _admin(actor)
        if user_id == actor.id and not active:
            raise PermissionDenied("you cannot disable yourself; another administrator can")
        accounts.set_active(session, self._user(session, user_id), active)

    def set_password(self, session: Session, actor: User, user_id: str, password: str) -> None:
        _admin(actor)
        accounts.set_password(session, self._user(session, user_id), password)

    def devices(self, session: Session, actor: User, user_id: str) -> list[DeviceInfo]:
        _admin(actor)
        return [
            DeviceInfo(d.id, d.name, d.created_at, d.last_seen_at, d.revoked_at, False)
            for d in accounts.list_devices(session, self._user(session, user_id))
        ]

    def revoke_device(self, session: Session, actor: User, user_id: str, device_id: str) -> None:
        _admin(actor)
        device = session.get(Device, device_id)
        if device is None or device.user_id != user_id:
            raise NotFound(f"no device {device_id} of user {user_id}")
        accounts.revoke_device(session, actor, device_id)


class ServerUnsubscribe:
    """A mailing's unsubscribe links, checked and acted on by the mail bridge (``mail.unsubscribe``)."""

    def __init__(self, config: Config, database: Database) -> None:
        self.config = config
        self.database = database

    @functools.cached_property
    def signer(self) -> unsubscribe.Signer:
        return unsubscribe.Signer.for_settings(self.config)

    def look_up(self, token: str) -> tuple[str, bool] | None:
        if self.signer.recipient_id(token) is None:
            return None  # refused before any SQL
        with self.database.read() as session:
            found = unsubscribe.look_up(session, self.signer, token)
        return None if found is None else (found.address, found.done)

    def opt_out(self, token: str) -> tuple[str, bool] | None:
        if self.signer.recipient_id(token) is None:
            return None
        with self.database.write() as session:
            found = unsubscribe.opt_out(session, self.signer, token)
        return None if found is None else (found.address, found.done)


class ServerReviewQueue:
    """The mail bridge's review queue (``mail.bridge``), as ``satchel mail review`` works it."""

    def __init__(self, config: Config, database: Database) -> None:
        self.config = config
        self.database = database

    def waiting(
        self, session: Session, actor: User, *, limit: int = 500, offset: int = 0
    ) -> list[dict[str, Any]]:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        return [
            {
                "id": r.id,
                "received_at": r.received_at,
                "sender": r.sender,
                "subject": r.subject,
                "reason": r.reason,
                "detail": r.detail,
                "candidates": list(r.candidates),
            }
            for r in bridge.list_reviews(session, status_="open", limit=limit, offset=offset)
        ]

    def count(self, session: Session, actor: User) -> int:
        if not sorts_mail(actor):
            return 0
        return int(
            session.execute(
                select(func.count()).select_from(MailReview).where(col(MailReview.status) == "open")
            ).scalar_one()
        )

    def preview(self, session: Session, actor: User, review_id: str) -> dict[str, Any]:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        review = session.get(MailReview, review_id)
        if review is None:
            raise NotFound(f"no letter {review_id} in review")
        path = bridge.blob_store(self.config).path(review.raw_sha256)
        if not path.is_file():
            raise NotFound(f"the letter {review_id} is no longer kept")
        letter = parse_letter(
            path.read_bytes(), max_attachment_bytes=self.config.mail_attachment_max_bytes
        )

        def people(found: list[Any]) -> list[str]:
            return [f"{a.name} <{a.address}>" if a.name else a.address for a in found]

        return {
            "subject": letter.subject,
            "from": people(letter.from_),
            "to": people(letter.to),
            "cc": people(letter.cc),
            "text": letter.text[:200_000],
            "attachments": [a.filename for a in letter.attachments],
        }

    def settle(
        self, actor: User, review_id: str, counterparty_id: str, contact_person_id: str | None
    ) -> None:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        bridge.settle_review(
            self.database,
            self.config,
            review_id,
            actor,
            counterparty_id=counterparty_id,
            contact_person_id=contact_person_id,
        )

    def dismiss(self, actor: User, review_id: str) -> None:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        bridge.settle_review(self.database, self.config, review_id, actor, dismiss=True)

    def suggestions(
        self, session: Session, actor: User, *, limit: int = 500, offset: int = 0
    ) -> list[dict[str, Any]]:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        return [
            {
                "id": s.id,
                "address": s.address,
                "name": s.name,
                "counterparty_id": s.counterparty_id,
                "letters": s.letters,
                "interaction_id": s.interaction_id,
            }
            for s in suggestions.open_suggestions(session, actor, limit=limit, offset=offset)
        ]

    def accept_suggestion(self, session: Session, actor: User, suggestion_id: str) -> str:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        return suggestions.accept_suggestion(session, actor, suggestion_id).id

    def dismiss_suggestion(self, session: Session, actor: User, suggestion_id: str) -> None:
        if not sorts_mail(actor):
            raise PermissionDenied("the mail review queue is for office staff and administrators")
        suggestions.dismiss_suggestion(session, actor, suggestion_id)


def router(config: Config, database: Database) -> Router:
    """The web UI over this server's database, served at ``/``.

    A plain ``Router`` (not an app): a path it does not know raises the 404 that
    the server's own error handlers answer, as for any unknown path.
    """
    return Router(routes=web_app.routes(ServerHome(config, database)))
