"""Seeded random histories of several laptops against one server, with faults, then convergence.

A history: a team (a manager and salespeople, one of them with two laptops)
and an outsider from another team; each laptop edits its replica offline —
creates, edits, deletes, shares and unshares, resolves conflicts — and syncs
now and then through a transport that loses answers after the server
committed, goes down, duplicates pushes and replays old ones out of order;
laptops are "killed" (their replica reopened from the file) between sending a
push and storing its answer; their clocks are skewed by up to ±7 days; users
edit while a sync waits on the server (between its push and its pull); a
laptop is restored from an older backup of its replica (its outbox numbering
goes back while the server's does not), and in some histories s1's second
laptop is a copy of the first one's replica, syncing as the same device.
Some histories pull in pages of a few changes, and someone else writes
between two pages of a pull; a party of an open conflict loses access to its
record (unshared, handed over, made private); records with open conflicts are
deleted, or their client with them. Then the network heals, every laptop
syncs until nothing moves, and ``check`` asserts the invariants of
docs/sync-protocol.md — among them that no outbox is stuck, that each laptop
lists the conflicts the server lists for its user, and that no evict or delete
names a record the laptop never held; then everyone resolves everything they
are shown, all sync twice, and ``check_settled`` finds no conflict open for ever.

``python -m tests.sync.convergence --histories 2000`` runs many more than CI.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select

from clients.agent import Summary, SyncAgent, SyncError
from clients.replica import Replica
from clients.replica import store as replica_module
from crm import access, accounts, changes, records
from crm.database import Database
from crm.errors import SatchelError
from crm.models import Counterparty, Share, User
from crm.models import base as base_module
from crm.models.base import to_jsonable, utcnow
from crm.registry import Sight
from sync import protocol
from sync.conflicts import DELETED, may_know_deleted, page_conflicts
from sync.models import Conflict, DeviceCursor, PushResult

WORDS = [
    "поставка",
    "скидка",
    "договор",
    "образцы",
    "золото",
    "серебро",
    "опт",
    "склад",
    "счёт",
    "визит",
    "звонок",
    "претензия",
    "каталог",
    "выставка",
    "рекламация",
]
REGIONS = ["Москва", "Тула", "Казань", "Пермь", "Омск"]
TYPES = protocol.TYPES

# How often each fault strikes, tuned so that a default run (40 histories per database) meets
# each in several histories; the log in a failure's message names those that struck.
PAGED_PULLS = 0.2  # per history: every pull asks for pages of 2–5 changes (``PAGE_SIZES``)
PAGE_SIZES = (2, 3, 5)
BETWEEN_PAGES = (
    0.25  # per continuation page of a pull: another laptop pushes, or a REST user writes, first
)
MERGE = 0.03  # per step: the admin merges two counterparties (crm.merge) while laptops edit them
LOSE_ACCESS = 0.08  # per step: a party of an open conflict loses access to its record
DELETE_WITH_CONFLICT = (
    0.08  # per step: a record with an open conflict (or its counterparty) is deleted
)
# An evict or delete a laptop receives names a record it was told of (an upsert, a bootstrap row, a
# record it fetched after a push; an answer lost on the wire still counts) or made: the strict rule,
# on since the server keeps what it told each device (sync/held.py). Off, the checker applies only
# its reading of the older rules (``History.judge``), which a laptop last bootstrapped before
# migration 0005 still gets.
LEAKS_STRICT = True
# Once product bugs, fixed; the switches stay so that a regression can be isolated:
# - Every laptop resolves its conflicts at the same time before syncing (a resolution the server
#   refuses used to stay laid over the laptop's copy of the record: clients/replica/apply.py now refreshes it).
SETTLE_AT_ONCE = True
# - A late resolution of a conflict closed with its record, by someone who was shown it without being
#   one of its sides, used to be quarantined "not found" (sync/conflicts.py now settles it).
QUARANTINE_CHECK_NON_PARTIES = True
_NAMED = ("owner_id", "responsible_id", "assignee_id", "created_by", "user_id")


class FaultyTransport(httpx.BaseTransport):
    """Wraps the real transport; ``plan`` holds the faults to apply to the next sync requests.

    It also watches what each device (by its token) receives: every id a pull, a bootstrap page
    or a record fetch gave it is *held*; an evict or delete of an id its laptop never held is
    a leak (``leaks``; the ids its laptops created are forgiven by the checker).
    """

    def __init__(self, inner: httpx.BaseTransport, rng: random.Random) -> None:
        self.inner = inner
        self.rng = rng
        self.faults = 0.0  # probability of a fault per request
        self.old_pushes: list[httpx.Request] = []
        self.log: list[str] = []
        # The user's edits while a sync request is on its way (None: nobody is at the keyboard).
        self.meanwhile: Callable[[], None] | None = None
        # Someone else's writes between two pages of one pull (None: nobody else is about).
        self.between_pages: Callable[[], None] | None = None
        self.nested = False  # requests made by ``between_pages`` pass untouched
        self.held: dict[str, set[str]] = {}
        self.leaks: list[tuple[str, str, str, str]] = []  # (token, op, type, id) never held
        # Judges a never-held id when it arrives (token, the pull's base, op, type, id): a leak?
        self.judge: Callable[[str, int, str, str, str], bool] = lambda *_: True

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        return response

    def _received(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        """Note what the device behind ``request`` now holds, and any id it is told of but never held."""
        path = request.url.path
        if response.status_code != 200 or not (
            path.startswith("/sync/v1/") or path.startswith("/api/v1/")
        ):
            return response
        token = request.headers.get("authorization", "")
        held = self.held.setdefault(token, set())
        if path == "/sync/v1/pull":
            cursor = str(json.loads(request.content).get("cursor") or "0").split(":")
            base = int(cursor[3] if len(cursor) == 4 else cursor[0])
            for change in response.json().get("changes", []):
                if change["op"] == "upsert":
                    held.add(change["id"])
                elif change["id"] not in held and self.judge(
                    token, base, change["op"], change["type"], change["id"]
                ):
                    self.leaks.append((token, change["op"], change["type"], change["id"]))
        elif path == "/sync/v1/bootstrap":
            page = response.json()
            at = page["fields"].index("id") if page.get("fields") else None
            held.update(row[at] for row in page.get("rows") or [] if at is not None)
        elif request.method == "GET" and path.count("/") == 4:  # a record fetched after a push
            body = response.json()
            if isinstance(body, dict) and "id" in body:
                held.add(body["id"])
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        if self.nested:
            return self._received(request, self._send(request))
        is_push = request.url.path == "/sync/v1/push"
        if is_push:
            self.old_pushes.append(request)
        if (
            self.meanwhile is not None
            and request.url.path in ("/sync/v1/push", "/sync/v1/pull")
            and self.rng.random() < 0.2
        ):
            self.log.append(f"edit during {request.url.path}")
            self.meanwhile()
        if (
            self.between_pages is not None
            and request.url.path == "/sync/v1/pull"
            and ":" in str(json.loads(request.content).get("cursor") or "")
            and self.rng.random() < BETWEEN_PAGES
        ):
            self.nested = True
            try:
                self.between_pages()
            finally:
                self.nested = False
        if self.rng.random() >= self.faults:
            return self._received(request, self._send(request))
        fault = self.rng.choice(
            ["down", "lost_answer", "duplicate", "replay_old"]
            if is_push
            else ["down", "lost_answer"]
        )
        self.log.append(f"{fault} {request.url.path}")
        if fault == "down":
            raise httpx.ConnectError("network is down (injected)")
        if fault == "lost_answer":
            # The server did the work and said it; the answer never arrives. What it said still
            # counts as told (the server cannot know the wire lost it; it said it while the user
            # could see it), so a later evict or delete of it is no leak.
            self._received(request, self._send(request))
            raise httpx.ReadError("connection reset after the server answered (injected)")
        if fault == "duplicate":
            self._send(request)
            return self._received(request, self._send(request))
        stale = self.rng.choice(self.old_pushes)  # an old push arrives late, out of order
        self._send(_copy(stale))
        return self._received(request, self._send(request))


def _copy(request: httpx.Request) -> httpx.Request:
    return httpx.Request(
        request.method, request.url, headers=request.headers, content=request.content
    )


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file in use, as a backup tool or a disk image takes it."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@dataclass
class Laptop:
    name: str
    user: User
    path: Path
    transport: FaultyTransport
    base_url: str
    skew_days: float
    replica: Replica = field(init=False)
    agent: SyncAgent = field(init=False)
    created: list[tuple[str, str]] = field(default_factory=list)
    token: str = ""  # its Authorization header, as the transport sees it
    backed_up: list[tuple[str, str]] | None = None  # ``created`` when the backup was taken

    def __post_init__(self) -> None:
        self.open()

    @property
    def backup_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.backup")

    def back_up(self) -> None:
        copy_database(self.path, self.backup_path)
        self.backed_up = list(self.created)

    def restore(self, on_server: Callable[[str, str], bool]) -> None:
        """The disk died; the replica comes back from the backup (same device, same token).

        Records created after the backup that never reached the server died with the disk:
        the user knows their last backup is older. Everything the server acknowledged must survive.
        """
        assert self.backed_up is not None
        self.agent.http.close()
        self.replica.close()
        for leftover in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            leftover.unlink(missing_ok=True)
        copy_database(self.backup_path, self.path)
        later = self.created[len(self.backed_up) :]
        self.created = [*self.backed_up, *(made for made in later if on_server(*made))]
        self.open()

    def twin(self, name: str, skew_days: float) -> Laptop:
        """The replica copied to a second laptop, which syncs as the same device."""
        path = self.path.with_name(f"{name}.sqlite")
        copy_database(self.path, path)
        twin = Laptop(name, self.user, path, self.transport, self.base_url, skew_days)
        twin.created = list(self.created)
        twin.token = self.token
        return twin

    def open(self) -> None:
        self.replica = Replica.open(self.path)
        self.agent = SyncAgent(
            self.replica, httpx.Client(transport=self.transport, base_url=self.base_url)
        )

    def kill(self) -> None:
        """The laptop dies and starts again: only what is in its file survives."""
        self.agent.http.close()
        self.replica.close()
        self.open()


@contextmanager
def skewed(days: float) -> Iterator[None]:
    """The laptop's clock is off by ``days``: it only changes what it writes as client_time."""
    real = replica_module._now

    def now() -> str:
        return str(to_jsonable(utcnow() + timedelta(days=days)))

    replica_module._now = now  # type: ignore[attr-defined]
    try:
        yield
    finally:
        replica_module._now = real  # type: ignore[attr-defined]


@contextmanager
def pull_pages(limit: int | None) -> Iterator[None]:
    """Every pull asks for pages of ``limit`` changes (None: the protocol's default).

    ``SyncAgent._pull`` reads ``protocol.DEFAULT_PULL`` when it asks and offers no other way;
    the module's value comes back afterwards, so no other test of this process sees it.
    """
    real = protocol.DEFAULT_PULL
    if limit is not None:
        protocol.DEFAULT_PULL = limit
    try:
        yield
    finally:
        protocol.DEFAULT_PULL = real


@contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """Record ids drawn from the history's seed, so that a seed replays the same history (the
    records a step picks are chosen in id order). Restored afterwards."""
    rng = random.Random(seed * 104729 + 7)
    real = base_module.uuid
    base_module.uuid = SimpleNamespace(uuid4=lambda: uuid.UUID(int=rng.getrandbits(128), version=4))  # type: ignore[assignment]
    try:
        yield
    finally:
        base_module.uuid = real


class History:
    def __init__(
        self,
        seed: int,
        database: Database,
        inner: httpx.BaseTransport,
        base_url: str,
        workdir: Path,
        *,
        steps: int = 40,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        # Merges draw from their own generator: the rest of a seed's history (REGRESSIONS) stays as
        # it was drawn before merges were a fault, up to the first merge.
        self.merges = random.Random(seed * 7919 + 1)
        self.database = database
        self.steps = steps
        self.transport = FaultyTransport(inner, random.Random(seed * 7919 + 1))
        tag = uuid.UUID(int=random.Random(seed).getrandbits(128)).hex[:8]
        people = [
            ("manager", "manager", "A"),
            ("s1", "salesperson", "A"),
            ("out", "salesperson", "B"),
        ]
        if self.rng.random() < 0.5:
            people.append(("s2", "salesperson", "A"))
        self.users: dict[str, User] = {}
        self.laptops: list[Laptop] = []
        with database.write() as session:
            for login, role, team in people:
                user = accounts.create_user(
                    session,
                    login=f"{login}-{tag}",
                    full_name=f"{login} {tag}",
                    role=role,
                    team=f"{team}-{tag}",
                )
                self.users[login] = user
        # s1 has two laptops: two devices, or (in some histories) one device whose replica is
        # copied to the second laptop mid-history (see ``plan_disasters``).
        self.copied = self.rng.random() < 0.3
        for login, user in self.users.items():
            for n in range(2 if login == "s1" and not self.copied else 1):
                with database.write() as session:
                    device, token = accounts.register_device(session, user, f"{login}-{n}")
                    wire_user = records.to_dict(records.record_type("users"), user)
                laptop = Laptop(
                    f"{login}-{n}",
                    user,
                    workdir / f"{login}-{n}.sqlite",
                    self.transport,
                    base_url,
                    self.rng.uniform(-7, 7),
                )
                laptop.replica.remember_login(
                    server=base_url,
                    login=user.login,
                    token=token,
                    device_id=device.id,
                    user=wire_user,
                )
                laptop.token = f"Bearer {token}"
                self.laptops.append(laptop)
        # An admin works over REST only (no laptop): hands clients over across teams, deletes.
        with database.write() as session:
            self.admin = accounts.create_user(
                session, login=f"admin-{tag}", full_name=f"admin {tag}", role="admin"
            )
        self.transport.judge = self.judge
        # Some histories pull in pages of a few changes, so that every pull spans several pages.
        self.pull_page = self.rng.choice(PAGE_SIZES) if self.rng.random() < PAGED_PULLS else None
        if self.pull_page is not None:
            self.transport.log.append(f"pages of {self.pull_page}")

    # ------------------------------------------------------------------ actions

    def sync(self, laptop: Laptop, *, faults: float) -> None:
        self.transport.faults = faults
        self.transport.meanwhile = lambda: self.meanwhile(laptop)
        self.transport.between_pages = lambda: self.between_pages(laptop)
        try:
            with skewed(laptop.skew_days):
                laptop.agent.sync()
        except SyncError:
            if self.rng.random() < 0.5:
                laptop.kill()  # killed before it could store the answer
        finally:
            self.transport.faults = 0.0
            self.transport.meanwhile = None
            self.transport.between_pages = None

    def meanwhile(self, laptop: Laptop) -> None:
        """The user goes on working while a sync waits on the server; sometimes the owner of a
        client they are editing just then hides it from them, so that this very sync's pull evicts
        an edit from the middle of the outbox."""
        self.act(laptop)
        if self.rng.random() < 0.3:
            cp = self._pick(laptop, "counterparties")
            if cp is not None and cp["owner_id"] not in (None, laptop.user.id):
                try:
                    with skewed(laptop.skew_days):
                        laptop.replica.update(
                            "counterparties",
                            cp["id"],
                            {"notes": f"в пути {self.rng.randint(1, 9)}"},
                        )
                    with self.database.write() as session:
                        owner = session.get(User, cp["owner_id"])
                        assert owner is not None
                        records.update(
                            session,
                            owner,
                            records.record_type("counterparties"),
                            cp["id"],
                            {"visibility": "private"},
                        )
                except SatchelError:
                    pass  # refused on the laptop or on the server: nothing hidden this time
            self.act(laptop)

    def between_pages(self, laptop: Laptop) -> None:
        """Someone else writes while ``laptop`` is between two pages of one pull: another laptop
        pushes what it just did, or a REST user edits, hides, shows, hands over or shares a client,
        or deletes one of its people."""
        others = [other for other in self.laptops if other is not laptop]
        if others and self.rng.random() < 0.4:
            other = self.rng.choice(others)
            self.transport.log.append(
                f"{other.name} pushes between two pages of {laptop.name}'s pull"
            )
            self.act(other)
            try:
                with skewed(other.skew_days):
                    other.agent.push(Summary(), lambda *_: None)
            except SyncError:
                pass
            return
        what = self.rng.choice(
            ["notes", "visibility", "visibility", "hand_over", "delete_person", "share"]
        )
        self.transport.log.append(f"REST {what} between two pages of {laptop.name}'s pull")
        rt = records.record_type("counterparties")
        try:
            with self.database.write() as session:
                cps = list(
                    session.execute(select(Counterparty).order_by(Counterparty.id)).scalars()
                )
                if not cps:
                    return
                cp = self.rng.choice(cps)
                owner = session.get(User, cp.owner_id)
                assert owner is not None
                if what == "notes":
                    records.update(
                        session, owner, rt, cp.id, {"notes": f"REST {self.rng.randint(1, 99)}"}
                    )
                elif what == "visibility":
                    records.update(
                        session,
                        owner,
                        rt,
                        cp.id,
                        {"visibility": "team" if str(cp.visibility) == "private" else "private"},
                    )
                elif what == "hand_over":
                    admin = session.get(User, self.admin.id)
                    assert admin is not None
                    to = self.rng.choice(sorted(self.users.values(), key=lambda u: u.login))
                    records.update(
                        session,
                        admin,
                        rt,
                        cp.id,
                        {"owner_id": to.id, "visibility": self.rng.choice(["private", "team"])},
                    )
                elif what == "delete_person":
                    person = records.record_type("contact-persons")
                    people = sorted(
                        i
                        for i in session.execute(
                            select(person.model.id).where(person.model.counterparty_id == cp.id)
                        ).scalars()
                    )
                    if people:
                        records.delete(session, owner, person, self.rng.choice(people))
                else:
                    shares = sorted(
                        session.execute(
                            select(Share.id).where(Share.counterparty_id == cp.id)
                        ).scalars()
                    )
                    if shares:
                        records.delete(
                            session, owner, records.record_type("shares"), self.rng.choice(shares)
                        )
                    else:
                        records.create(
                            session,
                            owner,
                            records.record_type("shares"),
                            {
                                "counterparty_id": cp.id,
                                "user_id": self.users["out"].id,
                                "can_edit": True,
                            },
                        )
        except SatchelError:
            pass  # refused, as REST would refuse it: nothing written

    def judge(self, token: str, base: int, op: str, record_type: str, record_id: str) -> bool:
        """Whether an evict or delete of a record this device never held is a leak: always with
        ``LEAKS_STRICT``; else only when the record does not name its user, its client neither shows it
        to them now nor did with its last values, and nothing the protocol counts as a possible showing
        changed after ``base`` (docs/sync-protocol.md; an independent reading of sync/held.py's rules)."""
        # A replica copied to a second laptop syncs as the same device: what either made counts.
        twins = [laptop for laptop in self.laptops if laptop.token == token]
        if not twins or any(made == record_id for twin in twins for _, made in twin.created):
            return False
        laptop = twins[0]
        if LEAKS_STRICT:
            return True
        if records.record_type(record_type).sight is Sight.EVERYONE:
            return False
        user = laptop.user
        with self.database.read() as session:
            entry = changes.log_entry(session, record_type, record_id)
            if entry is None:
                return True
            model: Any = records.record_type(record_type).model
            current = session.get(model, record_id)
            values = entry.tombstone or (
                records.to_dict(records.record_type(record_type), current) if current else {}
            )
            if user.id in {values.get(name) for name in _NAMED}:
                return False
            cp_id = (
                record_id
                if record_type == "counterparties"
                else (entry.counterparty_id or values.get("counterparty_id"))
            )
            fresh = session.get(User, user.id)
            cp_log = changes.log_entry(session, "counterparties", cp_id) if cp_id else None
            if cp_log is not None and fresh is not None:
                cp = session.get(Counterparty, cp_id)
                if cp_log.deleted and may_know_deleted(
                    session, fresh, "counterparties", cp_log.tombstone or {}
                ):
                    return False  # its client's last values showed it to the user (rule 3)
                if cp is not None and access.can_read(session, fresh, cp):
                    return False
            if not entry.deleted and entry.scope_version > base and record_type != "counterparties":
                return (
                    False  # its own scope field (its client, its assignee) changed after the base
                )
            if cp_id is None:
                return True
            changed = changes.field_versions(session, "counterparties", cp_id)
            if any(changed.get(name, (0, None))[0] > base for name in ("owner_id", "visibility")):
                return False  # rule 4: the old owner or visibility may have shown it
            shares = session.execute(
                select(changes.ChangeLog.version).where(
                    changes.ChangeLog.record_type == "shares",
                    changes.ChangeLog.counterparty_id == cp_id,
                    changes.ChangeLog.version > base,
                )
            ).first()
            if shares is not None:
                return False  # a share of its client changed after the base
            cp_values = (
                cp_log.tombstone
                if cp_log and cp_log.tombstone
                else {"owner_id": getattr(session.get(Counterparty, cp_id), "owner_id", None)}
            )
            owner = cp_values.get("owner_id")
            if owner and any(
                v[0] > base
                for k, v in changes.field_versions(session, "users", owner).items()
                if k in ("team_id", "role", "is_active")
            ):
                return False
            return True

    def _open_conflicts(self, session: Any, kinds: tuple[str, ...]) -> list[Conflict]:
        return list(
            session.execute(
                select(Conflict)
                .where(Conflict.status == "open", Conflict.kind.in_(kinds))
                .order_by(Conflict.created_at, Conflict.id)
            ).scalars()
        )

    def lose_access(self) -> bool:
        """Someone who has an open conflict loses access to its record: its client is unshared,
        handed over (by a manager of both owners, or the admin) or made private."""
        how = self.rng.choice(["unshare", "unshare", "hand_over", "private"])
        cps = records.record_type("counterparties")
        try:
            with self.database.write() as session:
                open_ = self._open_conflicts(session, ("field", "delete"))
                if not open_:
                    return False
                c = self.rng.choice(open_)
                rt = records.record_type(c.record_type)
                record = session.get(rt.model, c.record_id)
                cp_id = (
                    c.record_id
                    if rt.name == "counterparties"
                    else getattr(record, "counterparty_id", None)
                )
                cp = session.get(Counterparty, cp_id) if cp_id else None
                if cp is None:
                    return False
                owner = session.get(User, cp.owner_id)
                assert owner is not None
                shares = sorted(
                    session.execute(
                        select(Share.id).where(Share.counterparty_id == cp.id)
                    ).scalars()
                )
                if (how == "unshare" and not shares) or (
                    how == "private" and str(cp.visibility) == "private"
                ):
                    how = "hand_over"
                self.transport.log.append(
                    f"lose access ({how}) to {rt.name} {c.record_id[:8]} with conflict {c.id[:8]}"
                )
                if how == "unshare":
                    records.delete(
                        session, owner, records.record_type("shares"), self.rng.choice(shares)
                    )
                elif how == "private":
                    records.update(session, owner, cps, cp.id, {"visibility": "private"})
                else:
                    # To someone who is not a party of the conflict where possible.
                    parties = {c.client_by, c.server_by, cp.owner_id}
                    people = sorted(self.users.values(), key=lambda u: u.login)
                    to = self.rng.choice(
                        [u for u in people if u.id not in parties]
                        or [u for u in people if u.id != cp.owner_id]
                    )
                    manager = session.get(User, self.users["manager"].id)
                    assert manager is not None
                    by = (
                        manager
                        if self.rng.random() < 0.5 and to.login != self.users["out"].login
                        else None
                    )
                    by = by or session.get(User, self.admin.id)
                    assert by is not None
                    records.update(
                        session,
                        by,
                        cps,
                        cp.id,
                        {"owner_id": to.id, "visibility": self.rng.choice(["private", "team"])},
                    )
        except SatchelError:
            self.transport.log.append(
                "(refused)"
            )  # a manager of only one of the owners: nothing changed
        return True

    def delete_with_conflict(self) -> bool:
        """A record with an open conflict is deleted — or its counterparty, its children with it — over
        REST (by its owner or the admin) or on a laptop that holds it."""
        with self.database.read() as session:
            open_ = self._open_conflicts(session, ("field", "delete"))
            if not open_:
                return False
            c = self.rng.choice(open_)
            rt = records.record_type(c.record_type)
            record = session.get(rt.model, c.record_id)
            if record is None:
                return False
            target = (rt.name, c.record_id)
            parent = getattr(record, "counterparty_id", None)
            if parent is not None and self.rng.random() < 0.5:
                target = ("counterparties", parent)
            cp = session.get(Counterparty, target[1] if target[0] == "counterparties" else parent)
            owner_id = cp.owner_id if cp is not None else None
        holders = [
            laptop for laptop in self.laptops if target[1] in laptop.replica.versions(target[0])
        ]
        where = "REST"
        try:
            if holders and self.rng.random() < 0.5:
                laptop = self.rng.choice(holders)
                where = laptop.name
                with skewed(laptop.skew_days):
                    laptop.replica.delete(*target)
            else:
                with self.database.write() as session:
                    by = session.get(
                        User, owner_id if owner_id and self.rng.random() < 0.5 else self.admin.id
                    )
                    assert by is not None
                    records.delete(session, by, records.record_type(target[0]), target[1])
        except SatchelError:
            where += " (refused)"
        self.transport.log.append(
            f"delete {target[0]} {target[1][:8]} with conflict {c.id[:8]} on {rt.name} ({where})"
        )
        return True

    def merge(self) -> bool:
        """The admin merges one counterparty into another, perhaps one a laptop is editing offline:
        its records move (laptops pull the move), its offline edits land on the survivor."""
        from server import merging

        with self.database.write() as session:
            ids = sorted(session.execute(select(Counterparty.id)).scalars())
            if len(ids) < 2:
                return False
            survivor, absorbed = self.merges.sample(ids, 2)
            admin = session.get(User, self.admin.id)
            assert admin is not None
            try:
                with session.begin_nested():
                    merging.merge(session, admin, survivor, absorbed, set())
            except SatchelError:
                self.transport.log.append(f"merge {absorbed[:8]} into {survivor[:8]} (refused)")
                return False
        self.transport.log.append(f"merge {absorbed[:8]} into {survivor[:8]}")
        return True

    def on_server(self, record_type: str, record_id: str) -> bool:
        with self.database.read() as session:
            return changes.log_entry(session, record_type, record_id) is not None

    def _pick(self, laptop: Laptop, record_type: str) -> dict[str, Any] | None:
        items = sorted(laptop.replica.snapshot(record_type).values(), key=lambda r: r["id"])
        return self.rng.choice(items) if items else None

    def act(self, laptop: Laptop) -> None:
        rng = self.rng
        action = rng.choices(
            [
                "create_cp",
                "create_person",
                "create_interaction",
                "edit",
                "edit",
                "edit",
                "delete",
                "share",
                "unshare",
                "resolve",
                "hand_over",
            ],
            weights=[3, 2, 2, 4, 4, 4, 1, 1.5, 1, 1.5, 0.5],
        )[0]
        replica = laptop.replica
        with skewed(laptop.skew_days):
            try:
                if action == "create_cp":
                    made = replica.create(
                        "counterparties",
                        {
                            "legal_name": f"ООО {rng.choice(WORDS).title()} {rng.randint(1, 999)}",
                            "visibility": rng.choice(["private", "team", "team"]),
                            "region": rng.choice(REGIONS),
                        },
                    )
                    laptop.created.append(("counterparties", made["id"]))
                elif action in ("create_person", "create_interaction"):
                    cp = self._pick(laptop, "counterparties")
                    if cp is None:
                        return
                    if action == "create_person":
                        made = replica.create(
                            "contact-persons",
                            {"counterparty_id": cp["id"], "full_name": f"Иван {rng.choice(WORDS)}"},
                        )
                        laptop.created.append(("contact-persons", made["id"]))
                    else:
                        made = replica.create(
                            "interactions",
                            {
                                "counterparty_id": cp["id"],
                                "kind": rng.choice(["call", "meeting", "letter"]),
                                "subject": rng.choice(WORDS),
                                "starts_at": "2026-11-20T10:00:00Z",
                            },
                        )
                        laptop.created.append(("interactions", made["id"]))
                elif action == "edit":
                    record_type = rng.choice(
                        [
                            "counterparties",
                            "counterparties",
                            "counterparties",
                            "contact-persons",
                            "interactions",
                        ]
                    )
                    record = self._pick(laptop, record_type)
                    if record is None:
                        return
                    names = {
                        "counterparties": ["notes", "notes", "region", "industry", "segment"],
                        "contact-persons": ["position", "notes"],
                        "interactions": ["subject", "notes"],
                    }
                    chosen = sorted(set(rng.sample(names[record_type], rng.randint(1, 2))))
                    replica.update(
                        record_type,
                        record["id"],
                        {
                            n: rng.choice(REGIONS)
                            if n == "region"
                            else f"{rng.choice(WORDS)} {rng.randint(1, 9)}"
                            for n in chosen
                        },
                    )
                elif action == "delete":
                    record_type = rng.choice(["counterparties", "contact-persons", "interactions"])
                    record = self._pick(laptop, record_type)
                    if record is not None:
                        replica.delete(record_type, record["id"])
                elif action == "share":
                    cp = self._pick(laptop, "counterparties")
                    if cp is not None:
                        made = replica.create(
                            "shares",
                            {
                                "counterparty_id": cp["id"],
                                "user_id": self.users["out"].id,
                                "can_edit": rng.random() < 0.5,
                            },
                        )
                        laptop.created.append(("shares", made["id"]))
                elif action == "unshare":
                    share = self._pick(laptop, "shares")
                    if share is not None:
                        replica.delete("shares", share["id"])
                elif action == "hand_over":
                    cp = self._pick(laptop, "counterparties")
                    if cp is not None:
                        owner = rng.choice([u for k, u in self.users.items() if k != "out"])
                        replica.update(
                            "counterparties",
                            cp["id"],
                            {"owner_id": owner.id, "visibility": rng.choice(["private", "team"])},
                        )
                elif action == "resolve":
                    open_ = [c for c in replica.conflicts() if not c.get("pending_choice")]
                    if open_:
                        conflict = rng.choice(open_)
                        choice = rng.choice(["mine", "theirs", "value"])
                        value = (
                            f"решено {rng.randint(1, 9)}"
                            if choice == "value"
                            and conflict["kind"] == "field"
                            and conflict["field"]
                            in ("notes", "subject", "position", "industry", "segment")
                            else None
                        )
                        if choice == "value" and value is None:
                            choice = "theirs"
                        replica.resolve(conflict["id"], choice, value)
            except SatchelError:
                pass  # the laptop refused it on the spot, as the server would; the user saw why

    def seed_company(self) -> None:
        """What the team already shares before the history starts: the records they will fight over."""
        manager = self.users["manager"]
        rt = records.record_type("counterparties")
        with self.database.write() as session:
            for n in range(4):
                owner = self.rng.choice([u for k, u in self.users.items() if k != "out"])
                cp = records.create(
                    session,
                    manager,
                    rt,
                    {
                        "legal_name": f"АО Общий клиент {n}",
                        "owner_id": owner.id,
                        "visibility": "team",
                        "region": "Москва",
                    },
                )
                records.create(
                    session,
                    manager,
                    records.record_type("contact-persons"),
                    {"counterparty_id": cp.id, "full_name": f"Мария Петрова {n}"},
                )
                if n == 0:
                    records.create(
                        session,
                        manager,
                        records.record_type("shares"),
                        {
                            "counterparty_id": cp.id,
                            "user_id": self.users["out"].id,
                            "can_edit": True,
                        },
                    )

    def plan_disasters(self) -> dict[int, tuple[str, Laptop]]:
        """At which steps a laptop is backed up and later restored, and s1's replica copied to a
        second laptop (in the histories where s1 has one device)."""
        plan: dict[int, tuple[str, Laptop]] = {}
        if self.rng.random() < 0.6:
            restored = self.rng.choice(self.laptops)
            backup, restore = sorted(self.rng.sample(range(self.steps), 2))
            plan[backup], plan[restore] = ("back_up", restored), ("restore", restored)
        if self.copied:
            s1 = next(laptop for laptop in self.laptops if laptop.name == "s1-0")
            plan.setdefault(self.rng.randrange(self.steps // 2), ("copy", s1))
        return plan

    def disaster(self, what: str, laptop: Laptop) -> None:
        self.transport.log.append(f"{what} {laptop.name}")
        if what == "back_up":
            laptop.back_up()
        elif what == "restore":
            laptop.restore(self.on_server)
        else:
            self.laptops.append(laptop.twin("s1-1", self.rng.uniform(-7, 7)))

    def run(self) -> None:
        self.seed_company()
        for laptop in self.laptops:
            self.sync(laptop, faults=0.0)
        plan = self.plan_disasters()
        for step in range(self.steps):
            if step in plan:
                self.disaster(*plan[step])
            if self.rng.random() < LOSE_ACCESS:
                self.lose_access()
            if self.rng.random() < DELETE_WITH_CONFLICT:
                self.delete_with_conflict()
            if self.merges.random() < MERGE:
                self.merge()
            laptop = self.rng.choice(self.laptops)
            if self.rng.random() < 0.3:
                self.sync(laptop, faults=0.35)
            else:
                self.act(laptop)

    def heal(self, rounds: int = 8) -> None:
        for _ in range(rounds):
            moved = False
            for laptop in self.laptops:
                try:
                    summary = laptop.agent.sync()
                except SyncError as exc:  # e.g. an outbox the server keeps refusing: stuck for good
                    raise AssertionError(
                        f"seed {self.seed} (faults: {', '.join(self.transport.log) or 'none'}): "
                        f"{laptop.name} cannot sync on a healthy network: {exc.message}"
                    ) from None
                moved |= bool(
                    summary.pushed or sum(summary.pulled.values()) or summary.bootstrapped
                )
            if not moved:
                return
        raise AssertionError(
            f"seed {self.seed}: laptops still exchanging changes after {rounds} rounds"
        )

    # ------------------------------------------------------------------ invariants

    def server_view(
        self, user: User, record_type: str, record_id: str | None = None
    ) -> dict[str, dict[str, Any]]:
        rt = records.record_type(record_type)
        with self.database.read() as session:
            fresh = session.get(User, user.id)
            assert fresh is not None
            query = select(rt.model).where(records.visible(rt, fresh))
            if record_id is not None:
                query = query.where(rt.model.id == record_id)  # type: ignore[attr-defined]
            rows = session.execute(query).scalars()
            return {r.id: records.to_dict(rt, r) for r in rows}

    def check(self) -> None:
        where = f"seed {self.seed} (faults: {', '.join(self.transport.log) or 'none'})"
        views: dict[
            tuple[str, str], dict[str, dict[str, Any]]
        ] = {}  # s1's two laptops share theirs
        for laptop in self.laptops:
            self.check_replica(laptop, where, views)
            with sqlite3.connect(laptop.path) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", where
            # Every record the laptop created reached the server (maybe deleted since), or waits in
            # its quarantine with the reason: nothing acknowledged or not is silently lost.
            quarantined = {q["mutation"].get("id") for q in laptop.replica.quarantine()}
            with self.database.read() as session:
                for record_type, record_id in laptop.created:
                    entry = changes.log_entry(session, record_type, record_id)
                    assert entry is not None or record_id in quarantined, (
                        f"{where}: {laptop.name}'s {record_type} {record_id} never reached the server "
                        "and is not in quarantine"
                    )
        with self.database.read() as session:
            for cursor in session.execute(select(DeviceCursor)).scalars():
                seqs = sorted(
                    session.execute(
                        select(PushResult.seq).where(PushResult.device_id == cursor.device_id)
                    ).scalars()
                )
                assert seqs == list(range(1, cursor.last_seq + 1)), (
                    f"{where}: a mutation applied twice or skipped"
                )
            # A deleted record takes its open field and delete conflicts with it.
            for c in self._open_conflicts(session, ("field", "delete")):
                assert (
                    session.get(records.record_type(c.record_type).model, c.record_id) is not None
                ), (
                    f"{where}: {c.kind} conflict {c.id} stays open on {c.record_type} {c.record_id}, which is gone"
                )
        self.check_conflicts(where)

    def check_replica(
        self, laptop: Laptop, where: str, views: dict[tuple[str, str], dict[str, dict[str, Any]]]
    ) -> None:
        """The laptop's outbox is empty and it holds exactly the server's view for its user."""
        status = laptop.replica.status()
        assert status["pending"] == 0, (
            f"{where}: {laptop.name}'s outbox is stuck: {status['pending']} changes never drained"
        )
        for record_type in TYPES:
            local = laptop.replica.snapshot(record_type)
            key = (laptop.user.id, record_type)
            if key not in views:
                views[key] = self.server_view(laptop.user, record_type)
            server = views[key]
            extra, missing = set(local) - set(server), set(server) - set(local)
            assert not extra, (
                f"{where}: {laptop.name} holds {record_type} it may not see: {sorted(extra)[:3]}"
            )
            assert not missing, f"{where}: {laptop.name} lacks {record_type} {sorted(missing)[:3]}"
            differ = [i for i in local if local[i] != server[i]]
            assert not differ, (
                f"{where}: {laptop.name} differs on {record_type} {differ[0]}: "
                f"{local[differ[0]]} != {server[differ[0]]}"
            )

    def server_conflicts(self, user: User) -> dict[str, dict[str, Any]]:
        """Every open conflict the server lists for ``user``, all pages."""
        found: dict[str, dict[str, Any]] = {}
        after = None
        with self.database.read() as session:
            fresh = session.get(User, user.id)
            assert fresh is not None
            while True:
                items, after = page_conflicts(session, fresh, after=after)
                found.update((c["id"], c) for c in items)
                if after is None:
                    return found

    def check_conflicts(self, where: str) -> None:
        """Each laptop lists the conflicts the server lists for its user; nothing sits in its quarantine
        for a conflict that closed with its record; no evict or delete named a record it never held."""
        listed: dict[str, set[str]] = {}
        for laptop in self.laptops:
            local = {c["id"] for c in laptop.replica.conflicts()}
            if laptop.user.id not in listed:
                listed[laptop.user.id] = set(self.server_conflicts(laptop.user))
            server = listed[laptop.user.id]
            assert local == server, (
                f"{where}: {laptop.name} lists conflicts {sorted(local - server)[:3]} the server "
                f"does not list for its user, and lacks {sorted(server - local)[:3]}"
            )
        self.check_leftovers(where)

    def check_leftovers(self, where: str) -> None:
        """Nothing sits in a quarantine for a conflict that closed with its record; no evict or delete
        named a record its laptop never held (as ``judge`` rules)."""
        for laptop in self.laptops:
            resolutions = [
                q for q in laptop.replica.quarantine() if q["mutation"].get("op") == "resolve"
            ]
            if not resolutions:
                continue
            with self.database.read() as session:
                results = list(
                    session.execute(
                        select(PushResult).where(
                            PushResult.device_id == laptop.replica.state("device_id")
                        )
                    ).scalars()
                )
                for q in resolutions:
                    c = session.get(Conflict, q["mutation"]["conflict_id"])
                    if c is None or c.resolution != DELETED or c.resolved_at is None:
                        continue
                    party = laptop.user.id in (c.client_by, c.server_by)
                    # Refused after the conflict closed with its record (not before: someone who lost
                    # access to a record cannot resolve its conflicts, and that is right).
                    refused = [
                        r.at
                        for r in results
                        if r.result.get("status") == "refused"
                        and c.id in str(r.result.get("error"))
                    ]
                    assert (
                        not refused
                        or min(refused) < c.resolved_at
                        or not (party or QUARANTINE_CHECK_NON_PARTIES)
                    ), (
                        f"{where}: {laptop.name}'s resolution of conflict {c.id}, closed with its record, sits in "
                        f"its quarantine: {q['reason']}"
                    )
        names = {laptop.token: laptop.name for laptop in self.laptops}
        leaks = [(names[token], op, t, i) for token, op, t, i in self.transport.leaks]
        assert not leaks, (
            f"{where}: a laptop was told of records it never held (laptop, op, type, id): {leaks[:3]}"
        )

    def settle(self) -> None:
        """Everyone resolves every conflict they are shown (taking the other side), then every laptop
        syncs twice: no conflict may stay open for ever."""
        resolved = False
        self.settled: set[tuple[str, str]] = set()
        for laptop in self.laptops:
            if resolved and not SETTLE_AT_ONCE:
                self._sync_settling(laptop)  # sees what those before it resolved
            shown = [c for c in laptop.replica.conflicts() if not c.get("pending_choice")]
            for conflict in shown:
                laptop.replica.resolve(conflict["id"], "theirs")
                self.settled.add((conflict["type"], conflict["record_id"]))
            if shown and not SETTLE_AT_ONCE:
                self._sync_settling(laptop, push_only=True)
            resolved |= bool(shown)
        if not resolved:
            return  # nobody was shown anything: what ``check`` saw stays
        for _ in range(2):
            for laptop in self.laptops:
                self._sync_settling(laptop)

    def _sync_settling(self, laptop: Laptop, *, push_only: bool = False) -> None:
        try:
            if push_only:
                laptop.agent.push(Summary(), lambda *_: None)
            else:
                laptop.agent.sync()
        except SyncError as exc:
            raise AssertionError(
                f"seed {self.seed}: {laptop.name} cannot sync after resolving its "
                f"conflicts: {exc.message}"
            ) from None

    def check_settled(self) -> None:
        if not self.settled:
            return
        where = f"seed {self.seed} (faults: {', '.join(self.transport.log) or 'none'})"
        with self.database.read() as session:
            still_open = bool(self._open_conflicts(session, ("field", "delete", "edit_deleted")))
        for laptop in self.laptops:
            left = self.server_conflicts(laptop.user) if still_open else {}
            assert not left, (
                f"{where}: conflicts open for ever: {laptop.name} resolved all it was shown and "
                f"synced twice, and the server still lists {list(left.values())[:2]}"
            )
            assert not laptop.replica.conflicts(), (
                f"{where}: {laptop.name} still shows conflicts after settling"
            )
            assert laptop.replica.status()["pending"] == 0, (
                f"{where}: {laptop.name}'s resolutions never drained"
            )
            # The records the resolutions touched are the server's, here as there.
            for record_type, record_id in sorted(self.settled):
                try:
                    local: dict[str, Any] | None = laptop.replica.get(record_type, record_id)
                except SatchelError:
                    local = None
                server = self.server_view(laptop.user, record_type, record_id).get(record_id)
                assert local == server, (
                    f"{where}: after settling, {laptop.name} shows {record_type} {record_id} as "
                    f"{local}, the server as {server}"
                )
        self.check_leftovers(where)

    def close(self) -> None:
        for laptop in self.laptops:
            laptop.agent.http.close()
            laptop.replica.close()


def run_history(
    seed: int,
    database: Database,
    inner: httpx.BaseTransport,
    base_url: str,
    workdir: Path,
    steps: int = 40,
    watch: Callable[[FaultyTransport], None] | None = None,
) -> History:
    """Run one seeded history; ``watch`` is shown the history's faulty transport first (a server
    side fault may follow its phases: faults while laptops sync, none once the network heals)."""
    with seeded_ids(seed):
        history = History(seed, database, inner, base_url, workdir, steps=steps)
        if watch is not None:
            watch(history.transport)
        try:
            with pull_pages(history.pull_page):
                history.run()
                history.heal()
                history.check()
                history.settle()
                history.check_settled()
        finally:
            history.close()
    return history


def main() -> None:
    """Run many histories on a throwaway SQLite file each, or (--database postgresql) on one
    throwaway PostgreSQL database (``SATCHEL_TEST_PG_URL`` or 127.0.0.1:5432), emptied between
    histories and dropped at the end."""
    import argparse
    import os
    import shutil
    import tempfile
    import time

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from crm.models import metadata
    from server import migrate
    from server.app import create_app
    from server.config import Config
    from tests.inprocess import InProcessClient

    parser = argparse.ArgumentParser(
        prog="python -m tests.sync.convergence", description=main.__doc__
    )
    parser.add_argument("--histories", type=int, default=1000)
    parser.add_argument("--first-seed", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    pg_database = ""
    admin: Any = None
    if args.database == "postgresql":
        base = os.environ.get(
            "SATCHEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        )
        name = f"satchel_soak_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
        pg_database = make_url(base).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(Database(pg_database))
    failed = []
    started = time.monotonic()
    try:
        for seed in range(args.first_seed, args.first_seed + args.histories):
            workdir = Path(tempfile.mkdtemp(prefix=f"convergence-{seed}-"))
            if pg_database:
                database = Database(pg_database)
                names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
                with database.engine.begin() as conn:
                    conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            else:
                database = Database(f"sqlite:///{workdir / 'server.db'}")
                migrate.upgrade(database)
            config = Config.load(
                environ={"SATCHEL_DATA_DIR": str(workdir), "SATCHEL_DATABASE_URL": database.url}
            )
            with InProcessClient(create_app(config, database)) as client:
                try:
                    run_history(
                        seed, database, client._transport, str(client.base_url), workdir, args.steps
                    )
                except AssertionError as exc:
                    failed.append(seed)
                    print(f"FAILED seed {seed}: {exc}", flush=True)
            database.dispose()
            shutil.rmtree(workdir, ignore_errors=True)
            done = seed - args.first_seed + 1
            if done % 50 == 0:
                print(
                    f"{done} histories on {args.database}, {len(failed)} failed,"
                    f" {time.monotonic() - started:.0f} s",
                    flush=True,
                )
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(
        f"done: {args.histories} histories on {args.database} (seeds {args.first_seed}–"
        f"{args.first_seed + args.histories - 1}), failed seeds: {failed or 'none'}"
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
