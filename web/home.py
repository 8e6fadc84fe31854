"""What differs between the two places the screens run: the ``Home`` contract.

The screens in ``web/`` are written once. They need a database session, the
signed-in user, and a ``Home`` that answers the few questions whose answers
depend on where the UI runs:

* on the **server** (``server/web_home.py``): office staff and managers sign in
  with a password; a browser session is a ``Device`` like a laptop; writes go
  straight to the server's database; the header shows open conflicts and the
  mail review queue; it has ``administration`` and ``review``.
* on the **laptop** (``satchel-field ui``, ``clients/web_home.py``): one user, the replica's;
  the browser is let in with a one-time launch token instead of a password;
  writes also append to the replica's outbox *in the same transaction*; the
  header shows online/offline, pending changes, last sync, the quarantine;
  its conflicts are its replica's, and it has no ``administration`` or ``review``.

Everything a screen reads or writes still goes through ``crm.records`` (and so
``crm.access``) inside the session the home opens: the home decides *where*
the data lives and *what else* happens with a write, never *who may see what*.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from crm.mailings import Queued
from crm.models import CounterpartyMerge, User
from crm.records import RecordType
from web.i18n import N_

# Texts a home puts in the header; defined here so the catalog sees them whichever home shows them.
CONFLICTS_BADGE = N_("Conflicts: %(n)s")
REVIEW_BADGE = N_("Letters to sort: %(n)s")
REVIEW_NAV = N_("Mail review")
OUTBOX_NAV = N_("Outbox")
USERS_NAV = N_("Users")
DUPLICATES_NAV = N_("Duplicates")
SYNC_NAV = N_("Sync")
SYNC_ONLINE = N_("Online")
SYNC_OFFLINE = N_("Offline")
SYNC_NEVER = N_("Not synced yet")
SYNC_RUNNING = N_("Syncing…")
# After a first load: the records are there, the search keys are being indexed (a search is slower).
SEARCH_PREPARING = N_("Search is being prepared: it may be slow for a minute")
SYNC_PENDING = N_("Unsent changes: %(n)s")
SYNC_LAST = N_("Last sync: %(when)s")
SYNC_ERROR = N_("Sync failed: %(message)s")
# The header's short form of SYNC_ERROR; the whole message is the badge's title.
SYNC_FAILED = N_("Sync failed")
QUARANTINE_BADGE = N_("Quarantine: %(n)s")
LAUNCH_REFUSED = N_(
    "This link was used already or is not valid. Open Satchel again with the "
    "satchel-field ui command."
)


@dataclass(frozen=True)
class Badge:
    """One piece of status shown in the header on every screen (e.g. "offline", "3 pending").

    ``text`` is already in the user's language (the home gets the translator);
    ``level`` is ``info``, ``warning`` or ``error`` and only picks the colour; ``href`` is an
    address of the screens ("/sync"): the page puts the base they are served under in front.
    ``title``, when given, is the whole story of a short ``text`` (shown on hover and read out):
    the header is one line on a 1366 px laptop and cuts a long badge short.
    """

    text: str
    level: str = "info"
    href: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class NavLink:
    """An extra entry of the main navigation that only one home has (review queue, quarantine).

    ``href`` is an address of the screens ("/review"), without the base they are served under.
    """

    text: str
    href: str


@dataclass(frozen=True)
class DeviceInfo:
    """A device of the user (a laptop, a phone, a browser session) as the settings screen lists it."""

    id: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    current: bool  # the browser session this page is shown in


class Administration(Protocol):
    """Users and their devices, for administrators; only the server has it (``Home.administration``).

    Every method refuses (``PermissionDenied``) an ``actor`` who is not an admin,
    whatever the screen in front of it checked already.
    """

    def users(self, session: Session, actor: User) -> list[User]:
        """Every user, disabled ones too, by login."""
        ...

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
        """A new user; ``ValidationFailed`` (with ``details`` per field) or ``AlreadyExists``."""
        ...

    def set_active(self, session: Session, actor: User, user_id: str, active: bool) -> None:
        """Disable or enable a user; either ends every session of theirs."""
        ...

    def set_password(self, session: Session, actor: User, user_id: str, password: str) -> None:
        """Set a user's password; every session of theirs ends."""
        ...

    def devices(self, session: Session, actor: User, user_id: str) -> list[DeviceInfo]:
        """A user's devices (laptops, browser sessions), oldest first."""
        ...

    def revoke_device(self, session: Session, actor: User, user_id: str, device_id: str) -> None:
        """Revoke one device of that user; ``NotFound`` when it is not theirs."""
        ...


class ReviewQueue(Protocol):
    """Letters the mail bridge could not file by itself; only the server has it (``Home.review``).

    For office staff and admins: anyone else is refused (``PermissionDenied``).
    ``settle`` and ``dismiss`` run in the bridge's own transaction, so they take
    no session: the screen calls them after its checks, outside any transaction.

    It also holds the bridge's suggested contact persons (unknown senders of filed
    letters). Deciding one is a change of that counterparty's people, made in the
    screen's own write transaction through ``crm.records``: only whoever may change
    the counterparty decides, and a refusal changes nothing.
    """

    def waiting(self, session: Session, actor: User) -> list[dict[str, Any]]:
        """The open letters, oldest first: ``{"id", "received_at" (datetime | None), "sender",
        "subject", "reason" (no_match | ambiguous | error), "detail", "candidates": [counterparty ids]}``."""
        ...

    def count(self, session: Session, actor: User) -> int:
        """How many letters wait (0 for whoever may not sort them)."""
        ...

    def preview(self, session: Session, actor: User, review_id: str) -> dict[str, Any]:
        """What a waiting letter says, to decide whose it is: ``{"subject", "from", "to", "cc"}`` (lists of
        addresses as text), ``"text"`` (plain text, never HTML) and ``"attachments"`` (file names)."""
        ...

    def settle(
        self, actor: User, review_id: str, counterparty_id: str, contact_person_id: str | None
    ) -> None:
        """File the letter under a counterparty ``actor`` may see (``NotFound`` otherwise)."""
        ...

    def dismiss(self, actor: User, review_id: str) -> None:
        """Never file the letter: it is not for any client."""
        ...

    def suggestions(self, session: Session, actor: User) -> list[dict[str, Any]]:
        """The open suggestions on counterparties ``actor`` may change, most letters first: ``{"id",
        "address", "name" (as the letters gave it, may be ""), "counterparty_id", "letters" (how many),
        "interaction_id" (the latest such letter, or None)}``."""
        ...

    def accept_suggestion(self, session: Session, actor: User, suggestion_id: str) -> str:
        """Make the sender a contact person of the suggestion's counterparty; the person's id.

        A person of that counterparty who has the address already is taken instead of a
        second one. ``PermissionDenied`` when ``actor`` may not change the counterparty,
        ``AlreadyExists`` when the suggestion was accepted or dismissed meanwhile."""
        ...

    def dismiss_suggestion(self, session: Session, actor: User, suggestion_id: str) -> None:
        """Never suggest this sender for that counterparty again (the same rights as accepting)."""
        ...


class Unsubscribe(Protocol):
    """A mailing's unsubscribe links (RFC 2369, RFC 8058 one-click); only the server has them
    (``Home.unsubscribe``). ``token`` is the link's last part, as anyone may type it: a token the
    server did not sign is None and changes nothing. Each runs in a transaction of its own."""

    def look_up(self, token: str) -> tuple[str, bool] | None:
        """The recipient's address, masked, and whether they are opted out already."""
        ...

    def opt_out(self, token: str) -> tuple[str, bool] | None:
        """Opt the recipient out of mailings (again: nothing changes); as :meth:`look_up` after."""
        ...


class Merge(Protocol):
    """Merge ``absorbed_id`` into ``survivor_id`` as ``actor`` in ``session`` (``crm.merge.merge``,
    ``take`` the fields whose duplicate's value wins) and whatever the place keeps beside the domain
    (the server's mail index); only the server has it (``Home.merge``). The domain re-checks who
    may merge (``PermissionDenied``) and refuses two INNs or a branch (``ValidationFailed``)."""

    def __call__(
        self, session: Session, actor: User, survivor_id: str, absorbed_id: str, take: set[str]
    ) -> CounterpartyMerge: ...


class MailingDesk(Protocol):
    """Queueing a mailing's letters (``crm.mailings.queue``, the outbox's merge fields checked);
    only the server has it (``Home.mailings``): the addresses mail came back from and the letters
    a mailing wrote are the server's, so a laptop drafts mailings and shows no plan."""

    def queue(self, session: Session, actor: User, mailing_id: str) -> Queued: ...


@dataclass(frozen=True)
class SyncStatus:
    """How the laptop's sync stands, for the Sync screen (``SyncPanel.status``)."""

    online: bool | None  # None: not tried since the UI started
    running: bool
    phase: str | None  # push | bootstrap | pull while running
    done: int
    total: int | None
    pending: int
    conflicts: int
    quarantine: int
    last_sync: datetime | None  # the last sync that finished
    last_attempt: datetime | None
    last_error: (
        str | None
    )  # the last attempt's problem other than being offline, as the sync said it
    last_summary: str | None  # what the last finished sync did
    server: str | None


class SyncPanel(Protocol):
    """The laptop's sync with the server: its state, "sync now", the quarantine (``Home.sync``).

    Only the laptop has it. Nothing here waits on the network: ``sync_now`` starts a sync
    in the background and returns. ``retry`` and ``drop`` run in the replica's own
    transaction, so they take no session: the screen calls them after its checks.
    """

    def status(self) -> SyncStatus: ...

    def sync_now(self) -> None:
        """Start a sync now (or soon after the running one), without waiting for it."""
        ...

    def quarantine(self) -> list[dict[str, Any]]:
        """Refused or evicted changes, oldest first: ``{"id" (int), "mutation" (the wire mutation: op, type,
        id, fields…), "reason" (the server's words), "at" (ISO time)}``."""
        ...

    def retry(self, item_id: int) -> None:
        """Queue a quarantined change again (``NotFound`` when it is not there)."""
        ...

    def drop(self, item_id: int) -> None:
        """Discard a quarantined change for good (``NotFound`` when it is not there)."""
        ...


class Home(Protocol):
    """The contract a place that serves the screens fulfils. See the module docstring."""

    #: ``"server"`` or ``"laptop"``; templates never branch on it, it is only shown.
    place: str
    #: IANA zone in which "today" and times are shown, e.g. ``"Europe/Moscow"``.
    timezone: str
    #: Whether the sign-in form asks for a login and password (the laptop lets its user in by launch token).
    password_sign_in: bool

    def read(self) -> AbstractContextManager[Session]:
        """A read-only transaction."""
        ...

    def write(self) -> AbstractContextManager[Session]:
        """A transaction that commits when the block ends and rolls back on any error."""
        ...

    def sign_in(
        self, session: Session, login: str, password: str, address: str, device_name: str
    ) -> tuple[User, str] | None:
        """Check a password (with the login rate limit) and open a browser session.

        Returns the user and the session's secret token, or None for a wrong
        login/password (the failure is recorded in ``session``, which the caller
        commits). Raises ``crm.errors.RateLimited`` when too many attempts failed.
        """
        ...

    def authenticate(self, session: Session, token: str) -> User:
        """The user behind a browser session's token; ``Unauthenticated`` when it is not good now."""
        ...

    def sign_out(self, session: Session, token: str) -> None:
        """End the browser session of ``token`` (it must fail at once afterwards)."""
        ...

    def create(self, session: Session, actor: User, rt: RecordType, data: dict[str, Any]) -> Any:
        """Create a record through ``crm.records.create`` (and, on a laptop, queue it for sync)."""
        ...

    def update(
        self,
        session: Session,
        actor: User,
        rt: RecordType,
        record_id: str,
        data: dict[str, Any],
        expected_version: int | None,
    ) -> Any:
        """Update a record through ``crm.records.update`` (and, on a laptop, queue the change)."""
        ...

    def delete(self, session: Session, actor: User, rt: RecordType, record_id: str) -> None:
        """Delete a record through ``crm.records.delete`` (and, on a laptop, queue the delete)."""
        ...

    def devices(self, session: Session, user: User, token: str) -> list[DeviceInfo]:
        """The user's devices, ``token``'s own marked current (a laptop may list only itself)."""
        ...

    def revoke_device(self, session: Session, user: User, device_id: str) -> None:
        """Revoke one of the user's devices; ``NotFound``/``PermissionDenied`` otherwise."""
        ...

    def badges(self, session: Session, user: User, gettext: Any) -> list[Badge]:
        """Status for the header of every screen."""
        ...

    def nav(self, user: User, gettext: Any) -> list[NavLink]:
        """Navigation entries only this home has."""
        ...

    def conflicts(self, session: Session, user: User) -> list[dict[str, Any]]:
        """The open conflicts that concern ``user`` (they made a side, or may change the record), oldest first.

        Plain dicts in the sync protocol's shape (docs/sync-protocol.md, "Conflicts"):
        ``{"id", "kind": field | delete | edit_deleted, "type", "record_id", "field", "created_at",
        "server": {"value", "by", "at"}, "client": {"value", "by", "at", "client_time"}}`` with times as
        ISO strings, plus ``"mine"``: ``"server"`` or ``"client"``, the side the choice ``mine`` keeps
        for this user, and ``"free_value"``: whether a value of one's own may be chosen instead.
        """
        ...

    def resolve_conflict(
        self, session: Session, user: User, conflict_id: str, choice: str, value: Any
    ) -> None:
        """Settle a conflict with ``mine``, ``theirs`` or ``value`` as a change ``user`` could make directly:
        ``NotFound`` when it does not concern them, ``PermissionDenied``/``ValidationFailed`` as an edit,
        ``AlreadyExists`` when someone resolved it first."""
        ...

    def attachment(self, sha256: str) -> bytes | None:
        """The bytes of a letter's attachment by its hash, or None where they are not kept (a laptop
        fetches them from the server when it is reachable). The screen has checked the letter is the
        user's to read and lists that hash."""
        ...

    # Read-only members, so a home may hold a narrower type (``None``, or its own implementation).
    @property
    def administration(self) -> Administration | None:
        """Users and devices for admins (``None`` where the place has no accounts of its own,
        the laptop)."""
        ...

    @property
    def review(self) -> ReviewQueue | None:
        """The mail review queue (``None`` where there is no mail bridge, the laptop)."""
        ...

    @property
    def unsubscribe(self) -> Unsubscribe | None:
        """A mailing's unsubscribe links (``None`` where no mailings are sent, the laptop:
        ``/unsubscribe/…`` answers 404 there)."""
        ...

    @property
    def merge(self) -> Merge | None:
        """Merging duplicate counterparties (``None`` where the screens do not merge, the laptop:
        ``/duplicates`` answers 404 there — a merge moves records a laptop may not hold)."""
        ...

    @property
    def mailings(self) -> MailingDesk | None:
        """A mailing's plan and queueing (``None`` where the screens only draft mailings, the
        laptop: the plan needs the server's failing addresses)."""
        ...

    @property
    def sync(self) -> SyncPanel | None:
        """Sync status, "sync now" and the quarantine (``None`` where nothing syncs, the server:
        ``/sync`` answers 404 there)."""
        ...
