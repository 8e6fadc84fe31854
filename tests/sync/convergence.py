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
Then the network heals, every laptop syncs until nothing moves, and ``check``
asserts the invariants of docs/sync-protocol.md — among them that no outbox
is stuck.

``python -m tests.sync.convergence --histories 2000`` runs many more than CI.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from crm import accounts, changes, records
from crm.database import Database
from crm.errors import SatchelError
from crm.models import User
from crm.models.base import to_jsonable, utcnow
from sync import replica as replica_module
from sync.agent import SyncAgent, SyncError
from sync.models import DeviceCursor, PushResult
from sync.replica import Replica

WORDS = ["поставка", "скидка", "договор", "образцы", "золото", "серебро", "опт", "склад", "счёт", "визит",
         "звонок", "претензия", "каталог", "выставка", "рекламация"]
REGIONS = ["Москва", "Тула", "Казань", "Пермь", "Омск"]
TYPES = ("teams", "users", "counterparties", "shares", "contact-persons", "deals", "interactions", "reminders")


class FaultyTransport(httpx.BaseTransport):
    """Wraps the real transport; ``plan`` holds the faults to apply to the next sync requests."""

    def __init__(self, inner: httpx.BaseTransport, rng: random.Random) -> None:
        self.inner = inner
        self.rng = rng
        self.faults = 0.0  # probability of a fault per request
        self.old_pushes: list[httpx.Request] = []
        self.log: list[str] = []
        # The user's edits while a sync request is on its way (None: nobody is at the keyboard).
        self.meanwhile: Callable[[], None] | None = None

    def _send(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        is_push = request.url.path == "/sync/v1/push"
        if is_push:
            self.old_pushes.append(request)
        if self.meanwhile is not None and request.url.path in ("/sync/v1/push", "/sync/v1/pull") \
                and self.rng.random() < 0.2:
            self.log.append(f"edit during {request.url.path}")
            self.meanwhile()
        if self.rng.random() >= self.faults:
            return self._send(request)
        fault = self.rng.choice(["down", "lost_answer", "duplicate", "replay_old"] if is_push else
                                ["down", "lost_answer"])
        self.log.append(f"{fault} {request.url.path}")
        if fault == "down":
            raise httpx.ConnectError("network is down (injected)")
        if fault == "lost_answer":
            self._send(request)  # the server did the work; the answer never arrives
            raise httpx.ReadError("connection reset after the server answered (injected)")
        if fault == "duplicate":
            self._send(request)
            return self._send(request)
        stale = self.rng.choice(self.old_pushes)  # an old push arrives late, out of order
        self._send(_copy(stale))
        return self._send(request)


def _copy(request: httpx.Request) -> httpx.Request:
    return httpx.Request(request.method, request.url, headers=request.headers, content=request.content)


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
        later = self.created[len(self.backed_up):]
        self.created = [*self.backed_up, *(made for made in later if on_server(*made))]
        self.open()

    def twin(self, name: str, skew_days: float) -> Laptop:
        """The replica copied to a second laptop, which syncs as the same device."""
        path = self.path.with_name(f"{name}.sqlite")
        copy_database(self.path, path)
        twin = Laptop(name, self.user, path, self.transport, self.base_url, skew_days)
        twin.created = list(self.created)
        return twin

    def open(self) -> None:
        self.replica = Replica.open(self.path)
        self.agent = SyncAgent(self.replica, httpx.Client(transport=self.transport, base_url=self.base_url))

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


class History:
    def __init__(self, seed: int, database: Database, inner: httpx.BaseTransport, base_url: str,
                 workdir: Path, *, steps: int = 40) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.database = database
        self.steps = steps
        self.transport = FaultyTransport(inner, random.Random(seed * 7919 + 1))
        tag = uuid.UUID(int=random.Random(seed).getrandbits(128)).hex[:8]
        people = [("manager", "manager", "A"), ("s1", "salesperson", "A"), ("out", "salesperson", "B")]
        if self.rng.random() < 0.5:
            people.append(("s2", "salesperson", "A"))
        self.users: dict[str, User] = {}
        self.laptops: list[Laptop] = []
        with database.write() as session:
            for login, role, team in people:
                user = accounts.create_user(session, login=f"{login}-{tag}", full_name=f"{login} {tag}",
                                            role=role, team=f"{team}-{tag}")
                self.users[login] = user
        # s1 has two laptops: two devices, or (in some histories) one device whose replica is
        # copied to the second laptop mid-history (see ``plan_disasters``).
        self.copied = self.rng.random() < 0.3
        for login, user in self.users.items():
            for n in range(2 if login == "s1" and not self.copied else 1):
                with database.write() as session:
                    device, token = accounts.register_device(session, user, f"{login}-{n}")
                    wire_user = records.to_dict(records.record_type("users"), user)
                laptop = Laptop(f"{login}-{n}", user, workdir / f"{login}-{n}.sqlite", self.transport,
                                base_url, self.rng.uniform(-7, 7))
                laptop.replica.remember_login(server=base_url, login=user.login, token=token,
                                              device_id=device.id, user=wire_user)
                self.laptops.append(laptop)

    # ------------------------------------------------------------------ actions

    def sync(self, laptop: Laptop, *, faults: float) -> None:
        self.transport.faults = faults
        self.transport.meanwhile = lambda: self.meanwhile(laptop)
        try:
            with skewed(laptop.skew_days):
                laptop.agent.sync()
        except SyncError:
            if self.rng.random() < 0.5:
                laptop.kill()  # killed before it could store the answer
        finally:
            self.transport.faults = 0.0
            self.transport.meanwhile = None

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
                        laptop.replica.update("counterparties", cp["id"], {"notes": f"в пути {self.rng.randint(1, 9)}"})
                    with self.database.write() as session:
                        owner = session.get(User, cp["owner_id"])
                        assert owner is not None
                        records.update(session, owner, records.record_type("counterparties"), cp["id"],
                                       {"visibility": "private"})
                except SatchelError:
                    pass  # refused on the laptop or on the server: nothing hidden this time
            self.act(laptop)

    def on_server(self, record_type: str, record_id: str) -> bool:
        with self.database.read() as session:
            return changes.log_entry(session, record_type, record_id) is not None

    def _pick(self, laptop: Laptop, record_type: str) -> dict[str, Any] | None:
        items = sorted(laptop.replica.snapshot(record_type).values(), key=lambda r: r["id"])
        return self.rng.choice(items) if items else None

    def act(self, laptop: Laptop) -> None:
        rng = self.rng
        action = rng.choices(["create_cp", "create_person", "create_interaction", "edit", "edit", "edit",
                              "delete", "share", "unshare", "resolve", "hand_over"],
                             weights=[3, 2, 2, 4, 4, 4, 1, 1.5, 1, 1.5, 0.5])[0]
        replica = laptop.replica
        with skewed(laptop.skew_days):
            try:
                if action == "create_cp":
                    made = replica.create("counterparties", {
                        "legal_name": f"ООО {rng.choice(WORDS).title()} {rng.randint(1, 999)}",
                        "visibility": rng.choice(["private", "team", "team"]), "region": rng.choice(REGIONS)})
                    laptop.created.append(("counterparties", made["id"]))
                elif action in ("create_person", "create_interaction"):
                    cp = self._pick(laptop, "counterparties")
                    if cp is None:
                        return
                    if action == "create_person":
                        made = replica.create("contact-persons", {"counterparty_id": cp["id"],
                                                                  "full_name": f"Иван {rng.choice(WORDS)}"})
                        laptop.created.append(("contact-persons", made["id"]))
                    else:
                        made = replica.create("interactions", {
                            "counterparty_id": cp["id"], "kind": rng.choice(["call", "meeting", "letter"]),
                            "subject": rng.choice(WORDS), "starts_at": "2026-11-20T10:00:00Z"})
                        laptop.created.append(("interactions", made["id"]))
                elif action == "edit":
                    record_type = rng.choice(["counterparties", "counterparties", "counterparties",
                                              "contact-persons", "interactions"])
                    record = self._pick(laptop, record_type)
                    if record is None:
                        return
                    names = {"counterparties": ["notes", "notes", "region", "industry", "segment"],
                             "contact-persons": ["position", "notes"], "interactions": ["subject", "notes"]}
                    chosen = sorted(set(rng.sample(names[record_type], rng.randint(1, 2))))
                    replica.update(record_type, record["id"],
                                   {n: rng.choice(REGIONS) if n == "region" else f"{rng.choice(WORDS)} {rng.randint(1, 9)}"
                                    for n in chosen})
                elif action == "delete":
                    record_type = rng.choice(["counterparties", "contact-persons", "interactions"])
                    record = self._pick(laptop, record_type)
                    if record is not None:
                        replica.delete(record_type, record["id"])
                elif action == "share":
                    cp = self._pick(laptop, "counterparties")
                    if cp is not None:
                        made = replica.create("shares", {"counterparty_id": cp["id"], "user_id": self.users["out"].id,
                                                         "can_edit": rng.random() < 0.5})
                        laptop.created.append(("shares", made["id"]))
                elif action == "unshare":
                    share = self._pick(laptop, "shares")
                    if share is not None:
                        replica.delete("shares", share["id"])
                elif action == "hand_over":
                    cp = self._pick(laptop, "counterparties")
                    if cp is not None:
                        owner = rng.choice([u for k, u in self.users.items() if k != "out"])
                        replica.update("counterparties", cp["id"], {"owner_id": owner.id,
                                                                    "visibility": rng.choice(["private", "team"])})
                elif action == "resolve":
                    open_ = [c for c in replica.conflicts() if not c.get("pending_choice")]
                    if open_:
                        conflict = rng.choice(open_)
                        choice = rng.choice(["mine", "theirs", "value"])
                        value = (f"решено {rng.randint(1, 9)}" if choice == "value" and conflict["kind"] == "field"
                                 and conflict["field"] in ("notes", "subject", "position", "industry", "segment")
                                 else None)
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
                cp = records.create(session, manager, rt, {"legal_name": f"АО Общий клиент {n}", "owner_id": owner.id,
                                                           "visibility": "team", "region": "Москва"})
                records.create(session, manager, records.record_type("contact-persons"),
                               {"counterparty_id": cp.id, "full_name": f"Мария Петрова {n}"})
                if n == 0:
                    records.create(session, manager, records.record_type("shares"),
                                   {"counterparty_id": cp.id, "user_id": self.users["out"].id, "can_edit": True})

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
                    raise AssertionError(f"seed {self.seed} (faults: {', '.join(self.transport.log) or 'none'}): "
                                         f"{laptop.name} cannot sync on a healthy network: {exc.message}") from None
                moved |= bool(summary.pushed or sum(summary.pulled.values()) or summary.bootstrapped)
            if not moved:
                return
        raise AssertionError(f"seed {self.seed}: laptops still exchanging changes after {rounds} rounds")

    # ------------------------------------------------------------------ invariants

    def server_view(self, user: User, record_type: str) -> dict[str, dict[str, Any]]:
        rt = records.record_type(record_type)
        with self.database.read() as session:
            fresh = session.get(User, user.id)
            assert fresh is not None
            rows = session.execute(select(rt.model).where(records.visible(rt, fresh))).scalars()
            return {r.id: records.to_dict(rt, r) for r in rows}

    def check(self) -> None:
        where = f"seed {self.seed} (faults: {', '.join(self.transport.log) or 'none'})"
        for laptop in self.laptops:
            status = laptop.replica.status()
            assert status["pending"] == 0, (f"{where}: {laptop.name}'s outbox is stuck: {status['pending']} "
                                            "changes never drained")
            for record_type in TYPES:
                local = laptop.replica.snapshot(record_type)
                server = self.server_view(laptop.user, record_type)
                extra, missing = set(local) - set(server), set(server) - set(local)
                assert not extra, f"{where}: {laptop.name} holds {record_type} it may not see: {sorted(extra)[:3]}"
                assert not missing, f"{where}: {laptop.name} lacks {record_type} {sorted(missing)[:3]}"
                differ = [i for i in local if local[i] != server[i]]
                assert not differ, (f"{where}: {laptop.name} differs on {record_type} {differ[0]}: "
                                    f"{local[differ[0]]} != {server[differ[0]]}")
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
                        "and is not in quarantine")
        with self.database.read() as session:
            for cursor in session.execute(select(DeviceCursor)).scalars():
                seqs = sorted(session.execute(select(PushResult.seq).where(
                    PushResult.device_id == cursor.device_id)).scalars())
                assert seqs == list(range(1, cursor.last_seq + 1)), f"{where}: a mutation applied twice or skipped"

    def close(self) -> None:
        for laptop in self.laptops:
            laptop.agent.http.close()
            laptop.replica.close()


def run_history(seed: int, database: Database, inner: httpx.BaseTransport, base_url: str, workdir: Path,
                steps: int = 40) -> History:
    history = History(seed, database, inner, base_url, workdir, steps=steps)
    try:
        history.run()
        history.heal()
        history.check()
    finally:
        history.close()
    return history


def main() -> None:
    """Run many histories on a throwaway SQLite (or --database URL, which must be empty)."""
    import argparse
    import shutil
    import tempfile

    from starlette.testclient import TestClient

    from server import migrate
    from server.app import create_app
    from server.config import Config

    parser = argparse.ArgumentParser(prog="python -m tests.sync.convergence", description=main.__doc__)
    parser.add_argument("--histories", type=int, default=1000)
    parser.add_argument("--first-seed", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    failed = []
    for seed in range(args.first_seed, args.first_seed + args.histories):
        workdir = Path(tempfile.mkdtemp(prefix=f"convergence-{seed}-"))
        database = Database(f"sqlite:///{workdir / 'server.db'}")
        migrate.upgrade(database)
        config = Config.load(environ={"SATCHEL_DATA_DIR": str(workdir), "SATCHEL_DATABASE_URL": database.url})
        with TestClient(create_app(config, database)) as client:
            try:
                run_history(seed, database, client._transport, str(client.base_url), workdir, args.steps)
            except AssertionError as exc:
                failed.append(seed)
                print(f"FAILED seed {seed}: {exc}")
        database.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
        if (seed - args.first_seed + 1) % 50 == 0:
            print(f"{seed - args.first_seed + 1} histories, {len(failed)} failed")
    print(f"done: {args.histories} histories, failed seeds: {failed or 'none'}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
