"""Hypothesis over sync pushes and conflict resolutions, from a hostile salesperson (issue 10, part 2).

The attacker owns one counterparty in a company where others own private ones;
they hold two laptops, so they can open conflicts of every kind on their own
records (the way the critical hole of item 1 was found). Hypothesis then sends
generated pushes — any op, type and id (others' records, deleted ones, new
ones), field values pointing at other people's records, users and teams — and
generated resolutions (mine, theirs, or a value of its own, by REST or inside a
push). Whatever it sends:

* no answer is a 5xx; a refused push is a 4xx, a refused mutation is ``refused``;
* the attacker can afterwards GET no record of the company they could not GET
  before, other than records that did not exist before (what they created), and
  change none they could not change before (checked by REST, record by record);
* no record of anybody else that the attacker could not change has changed.

At the start, what the attacker may read and change is checked against the table
written from docs/access.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm import records
from crm.database import Database
from crm.models import Counterparty
from server.app import create_app
from server.config import Config
from sync import protocol
from tests.conftest import FUZZ_SEED, make_user
from tests.inprocess import InProcessClient
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop

TYPES = list(protocol.TYPES)
CHILD_TYPES = ("contact-persons", "deals", "interactions", "reminders", "shares")


@pytest.fixture
def api(config: Config, database: Database) -> Iterator[Api]:
    with InProcessClient(create_app(config, database)) as client:
        yield Api(client, database)


def _new(record_type: str, **fields: Any) -> dict[str, Any]:
    return {"op": "create", "type": record_type, "id": str(uuid.uuid4()), "fields": fields}


class World:
    """The company, the attacker's two laptops, and what the attacker could do before each example."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: dict[
            str, tuple[str, dict[str, Any]]
        ] = {}  # every record ever stored, deleted ones too
        self.made: set[str] = (
            set()
        )  # records the attacker made in examples that passed: theirs by right
        self._pools: dict[str, list[tuple[str, str]]] = {}
        make_user(api.database, "ivanov")  # the attacker
        make_user(api.database, "petrova")  # a teammate with private clients
        make_user(api.database, "kuznetsova", team="Питер")
        make_user(api.database, "boss", role="manager")
        self.a, self.b = Laptop(api, "ivanov", "Ноутбук"), Laptop(api, "ivanov", "Планшет")
        petrova, kuz = Laptop(api, "petrova"), Laptop(api, "kuznetsova")
        self.victims = {"petrova": petrova.user_id, "kuznetsova": kuz.user_id}
        # The others' records: private, company-visible, shared with the attacker for reading, deleted.
        secret = _new(
            "counterparties", legal_name="ООО Тайна", visibility="private", notes="скидка 15%"
        )
        dead = _new("counterparties", legal_name="ООО Удалённая", visibility="private")
        petrova.push(
            secret,
            dead,
            _new("contact-persons", counterparty_id=secret["id"], full_name="Тайный Человек"),
            _new("deals", counterparty_id=secret["id"], title="Тайная сделка"),
            _new("interactions", counterparty_id=secret["id"], starts_at="2026-12-01T10:00:00Z"),
            _new(
                "reminders",
                title="Тайное",
                due_at="2026-12-01T10:00:00Z",
                subject_type="counterparty",
                subject_id=secret["id"],
            ),
            _new("shares", counterparty_id=secret["id"], user_id=kuz.user_id, can_edit=True),
        )
        petrova.pull()
        petrova.push(
            {
                "op": "delete",
                "type": "counterparties",
                "id": dead["id"],
                "base_version": petrova.versions[dead["id"]],
            }
        )
        public = _new("counterparties", legal_name="ООО Открытая", visibility="company")
        lent = _new("counterparties", legal_name="ООО Одолженная", visibility="private")
        kuz.push(
            public,
            lent,
            _new("contact-persons", counterparty_id=public["id"], full_name="Открытый Человек"),
            _new("contact-persons", counterparty_id=lent["id"], full_name="Одолженный Человек"),
            _new("shares", counterparty_id=lent["id"], user_id=self.a.user_id, can_edit=False),
        )
        own = _new("counterparties", legal_name="ООО Моя", visibility="private")
        self.a.push(
            own, _new("contact-persons", counterparty_id=own["id"], full_name="Мой Человек")
        )
        self.own = own["id"]
        self.secret, self.dead, self.public, self.lent = (
            secret["id"],
            dead["id"],
            public["id"],
            lent["id"],
        )
        self.check_docs()

    # --- what the attacker may do, by REST ---

    def everything(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every record of the company as stored: id → (type, values)."""
        found = {}
        with self.api.database.read() as session:
            for name in TYPES:
                rt = records.record_type(name)
                for record in session.execute(select(rt.model)).scalars():
                    found[record.id] = (name, records.to_dict(rt, record))
        for record_id, (name, values) in found.items():
            self.seen[record_id] = (name, values)
        self._pools = self._sort(found)
        return found

    def pools(self) -> dict[str, list[tuple[str, str]]]:
        """Ids by kind, as of the last look at the database (``everything``)."""
        return self._pools

    def _sort(self, now: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, list[tuple[str, str]]]:
        """Ids by kind: the attacker's own, deleted ones (theirs and others'), others' hidden ones, visible ones."""
        mine = {self.a.user_id}

        def own(values: dict[str, Any]) -> bool:
            return bool(
                mine
                & {values.get("owner_id"), values.get("created_by"), values.get("responsible_id")}
            )

        pools: dict[str, list[tuple[str, str]]] = {
            "own": [],
            "deleted": [],
            "others": [],
            "people": [],
        }
        for record_id, (name, values) in sorted(self.seen.items()):
            if record_id not in now:
                pools["deleted"].append((record_id, name))
            elif name in ("users", "teams"):
                pools["people"].append((record_id, name))
            else:
                pools["own" if own(values) else "others"].append((record_id, name))
        return pools

    def access(self) -> tuple[set[str], set[str]]:
        """The ids the attacker can GET, and those they may change (a PATCH with a stale If-Match: 409)."""
        readable, writable = set(), set()
        for record_id, (name, _values) in self.everything().items():
            if record_id in self.made:  # made by the attacker in an earlier example, checked then
                continue
            r = self.api.client.get(f"/api/v1/{name}/{record_id}", headers=self.a.headers)
            assert r.status_code in (200, 404), (name, record_id, r.status_code, r.text)
            if r.status_code == 200:
                readable.add(record_id)
                if name in ("users", "teams"):
                    continue
                probe = self.api.client.patch(
                    f"/api/v1/{name}/{record_id}",
                    json={},
                    headers={**self.a.headers, "If-Match": '"999999"'},
                )
                assert probe.status_code in (409, 403), (
                    name,
                    record_id,
                    probe.status_code,
                    probe.text,
                )
                if probe.status_code == 409:
                    writable.add(record_id)
        return readable, writable

    def check_docs(self) -> None:
        """docs/access.md: own clients read and changed; a company-visible or read-shared one read only; others'
        private ones neither; users and teams read by everyone."""
        stored = self.everything()
        readable, writable = self.access()

        def of(*counterparties: str) -> set[str]:
            return {
                i
                for i, (name, v) in stored.items()
                if i in counterparties
                or (name in CHILD_TYPES and v.get("counterparty_id") in counterparties)
            }

        people = {i for i, (name, _v) in stored.items() if name in ("users", "teams")}
        own = of(self.own)
        assert readable == own | of(self.public, self.lent) | people
        assert writable == own

    # --- conflicts of every kind on the attacker's own records ---

    def open_conflicts(self, data: st.DataObject) -> list[dict[str, Any]]:
        """A field, a delete and an edit-of-deleted conflict on the attacker's own records, made with their two
        laptops, the edits carrying generated values (links to others' records above all); every conflict open
        to the attacker. Drawn whether or not the attacker still has their counterparty to make them on."""
        field = data.draw(
            st.sampled_from(["notes", "visibility", "owner_id", "legal_name", "stage"])
        )
        mine, theirs = data.draw(RAW), data.draw(RAW)
        # The edit of the deleted share always re-points it (the critical hole of item 1 began so).
        writable = records.record_type("shares").writable
        edit = {
            **{k: v for k, v in _fields(data, self, "shares").items() if k in writable},
            "counterparty_id": _read(self, "counterparty_id", data.draw(RAW)),
            "user_id": _read(self, "user_id", data.draw(RAW)),
        }
        with self.api.database.read() as session:
            alive = session.get(Counterparty, self.own) is not None
        if alive:
            cp = _new("counterparties", legal_name="ООО Спорная")
            share = _new(
                "shares", counterparty_id=self.own, user_id=self.victims["petrova"], can_edit=False
            )
            person = _new("contact-persons", counterparty_id=self.own, full_name="Спорный Человек")
            self.a.push(cp, share, person)
            self.a.pull()
            self.b.pull()
            # The pushes that open the conflicts must be taken whole: a NUL character anywhere
            # refuses a push (400, tried by the steps below), so the setup leaves it out.
            ours, other = _no_nul(_read(self, field, mine)), _no_nul(_read(self, field, theirs))
            edit = {k: _no_nul(v) for k, v in edit.items()}
            if field in (
                "notes",
                "legal_name",
            ):  # two different texts, so that the conflict is opened
                ours, other = f"Ноутбук {ours}", f"Планшет {other}"
            self.a.push(
                {**self.a.update(cp["id"]), "fields": {field: ours}},
                self.a.update(person["id"], "contact-persons", notes="правка"),
                {
                    "op": "delete",
                    "type": "shares",
                    "id": share["id"],
                    "base_version": self.a.versions[share["id"]],
                },
            )
            self.b.push(
                {**self.b.update(cp["id"]), "fields": {field: other}},
                {
                    "op": "delete",
                    "type": "contact-persons",
                    "id": person["id"],
                    "base_version": self.b.versions[person["id"]],
                },
                {**self.b.update(share["id"], "shares"), "fields": {"can_edit": True, **edit}},
            )
        r = self.api.client.get("/api/v1/conflicts", headers=self.a.headers)
        assert r.status_code == 200, r.text
        return r.json()["items"]  # type: ignore[no-any-return]

    def people(self) -> list[str]:
        return [i for i, _name in self._pools.get("people", [])]


# --- strategies ------------------------------------------------------------------------------------------------
# The pools of ids change as the examples run; draws are indexes into them, so that the same choices replay
# the same way whatever the database holds (Hypothesis needs data generation independent of outside state).
# Ids are drawn by kind first (the attacker's own, deleted ones, the others' private ones, ...), so that the
# rare interesting ones (a deleted share of one's own) come up as often as the many dull ones.

FIELDS = [
    "owner_id",
    "counterparty_id",
    "user_id",
    "team_id",
    "visibility",
    "can_edit",
    "assignee_id",
    "responsible_id",
    "subject_type",
    "subject_id",
    "contact_person_id",
    "deal_id",
    "legal_name",
    "notes",
    "title",
    "full_name",
    "starts_at",
    "due_at",
    "role",
    "is_active",
    "login",
    "name",
    "stage",
    "created_by",
    "version",
    "id",
]
KINDS = ("own", "deleted", "others", "people", "new")
# Every value is drawn with the same shape, then read in the light of the field it is for and the ids that
# exist now: the number of draws never depends on the database.
RAW = st.tuples(
    st.integers(0, 9),
    st.integers(0, 2**16),
    st.text(max_size=10),
    st.integers(-2, 10**6),
    st.booleans(),
)


def _pick(pool: list[Any], index: int) -> Any:
    return pool[index % len(pool)] if pool else str(uuid.uuid4())


def _record_id(data: st.DataObject, world: World, record_type: str) -> str:
    """An id of a record of ``record_type`` of a drawn kind (the attacker's own, deleted, others', new)."""
    kind, index = data.draw(st.sampled_from(KINDS)), data.draw(st.integers(0, 2**16))
    if kind == "new":
        return str(uuid.uuid4())
    pool = world.pools()[kind]
    typed = [i for i, name in pool if name == record_type]
    return str(_pick(typed or [i for i, _name in pool], index))


def _no_nul(value: Any) -> Any:
    """``value`` without NUL characters in its texts (a push holding one is refused whole)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_nul(v) for k, v in value.items()}
    return value


def _read(world: World, field: str, raw: tuple[int, int, str, int, bool]) -> Any:
    """The value ``raw`` stands for in ``field``: for links, a user, a team, a counterparty or any record."""
    kind, index, text, number, flag = raw
    if field.endswith("_id") or field == "id":
        pools = world.pools()
        users = [world.a.user_id, world.a.user_id, *world.victims.values()]
        counterparties = [
            world.secret,
            world.secret,
            world.public,
            world.lent,
            world.own,
            world.dead,
        ]
        # A field that names a person mostly names one; one that names a counterparty mostly names one.
        likely = counterparties if field in ("counterparty_id", "subject_id") else users
        choices: list[list[Any]] = [
            likely,
            likely,
            likely,
            likely,
            counterparties if likely is users else users,
            world.people(),
            [i for i, _n in pools["deleted"]],
            [i for i, _n in pools["others"]],
            [i for i, _n in pools["own"]],
        ]
        if kind < len(choices):
            return _pick(choices[kind], index)
        return [None, text, number, str(uuid.uuid4())][kind - len(choices)]
    if field == "visibility":
        return _pick(["private", "team", "company", "all", None], index)
    if field in ("can_edit", "is_active"):
        return flag if kind < 8 else [None, "yes"][index % 2]
    if field == "role":
        return _pick(["admin", "manager", "office", "salesperson"], index)
    if field == "subject_type":
        return _pick(["counterparty", "deal", "interaction", "contact_person", "user"], index)
    if field in ("starts_at", "due_at"):
        return _pick(
            ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00", "0001-01-01T00:00:00+03:00"], index
        )
    return [text, None, number, flag][kind % 4]


def _fields(data: st.DataObject, world: World, record_type: str) -> dict[str, Any]:
    """Field values for ``record_type``: mostly its own fields, links to others' records above all."""
    own = list(records.record_type(record_type).writable)
    links = [f for f in own if f.endswith("_id") or f in ("visibility", "can_edit")] or own
    drawn = data.draw(
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**16), RAW), min_size=1, max_size=5)
    )
    return {
        _pick([links, own, FIELDS][where], index): _read(
            world, _pick([links, own, FIELDS][where], index), raw
        )
        for where, index, raw in drawn
    }


def _resolution_value(data: st.DataObject, world: World, conflict: dict[str, Any] | None) -> Any:
    whole, raw, field = data.draw(st.booleans()), data.draw(RAW), data.draw(st.sampled_from(FIELDS))
    fields = _fields(data, world, str((conflict or {}).get("type") or "counterparties"))
    if whole:
        return fields
    return _read(world, str((conflict or {}).get("field") or field), raw)


def _mutation(data: st.DataObject, world: World, conflicts: list[dict[str, Any]]) -> dict[str, Any]:
    op, record_type = (
        data.draw(st.sampled_from(["create", "update", "update", "delete", "resolve"])),
        data.draw(st.sampled_from(TYPES)),
    )
    record_id = _record_id(data, world, record_type)
    which, choice = data.draw(st.integers(0, 5)), data.draw(st.sampled_from(protocol.CHOICES))
    conflict = _pick(conflicts, which) if conflicts and which else None
    value = _resolution_value(data, world, conflict)
    base = data.draw(st.one_of(st.none(), st.integers(0, 3), st.integers(0, 10**4)))
    fields = _fields(data, world, record_type)
    if op == "resolve":
        return {
            "op": "resolve",
            "conflict_id": conflict["id"] if conflict else str(uuid.uuid4()),
            "choice": choice,
            "value": value,
        }
    m: dict[str, Any] = {"op": op, "type": record_type, "id": record_id}
    if op in ("update", "delete"):
        m["base_version"] = base
    if op in ("create", "update"):
        m["fields"] = fields
    return m


def _push(world: World, laptop: Laptop, mutations: list[dict[str, Any]]) -> None:
    numbered = [
        {"seq": laptop.seq + i + 1, "client_time": "2026-11-20T10:00:00Z", **m}
        for i, m in enumerate(mutations)
    ]
    before = world.everything()
    r = world.api.client.post(
        "/sync/v1/push",
        json={"device_id": laptop.device_id, "mutations": numbered},
        headers=laptop.headers,
    )
    assert r.status_code < 500, f"push answered {r.status_code}: {r.text[:500]}\n{numbered}"
    if r.status_code != 200:
        assert 400 <= r.status_code < 500
        assert world.everything() == before, (
            f"a refused push ({r.status_code}) changed records: {numbered}"
        )
        return
    laptop.seq = r.json()["last_seq"]
    for result in r.json()["results"]:
        assert result["status"] in ("applied", "conflict", "refused"), result


def _resolve(world: World, conflict_id: str, choice: str, value: Any) -> None:
    before = world.everything()
    r = world.api.client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"choice": choice, "value": value},
        headers=world.a.headers,
    )
    assert r.status_code < 500, (
        f"resolve answered {r.status_code}: {r.text[:500]}\n{choice} {value!r}"
    )
    if r.status_code != 200:
        assert 400 <= r.status_code < 500
        assert world.everything() == before, (
            f"a refused resolution ({r.status_code}) changed records"
        )


@pytest.fixture
def world(api: Api) -> World:
    return World(api)


# No shrinking: the company changes from one example to the next, so a replay is not the same test; a failure
# is reported as found, with the draws that led to it. Drawn from the run's seed (tests/conftest.py
# FUZZ_SEED): 6 a run, other ones each run, where 30 fixed ones were drawn every run before.
@seed(FUZZ_SEED)
@settings(
    max_examples=6,
    deadline=None,
    derandomize=False,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_hostile_pushes_and_resolutions_never_gain_access(
    world: World, data: st.DataObject
) -> None:
    stored = world.everything()
    earlier = set(world.made)
    readable, writable = world.access()
    seen = set(world.seen)
    conflicts = world.open_conflicts(data)
    world.everything()
    made = (
        set(world.seen) - seen
    )  # the attacker's own new records (some deleted already), made for the conflicts
    for _ in range(data.draw(st.integers(1, 5), label="steps")):
        # Everything is drawn every time (the draws never depend on what the database holds), then used.
        by_rest, index = (
            data.draw(st.integers(0, 2), label="resolve by REST") < 2,
            data.draw(st.integers(0, 7)),
        )
        choice = data.draw(st.sampled_from(protocol.CHOICES))
        # The conflicts of this example first: older ones pile up, open, from the examples before.
        conflicts.sort(key=lambda c: c["record_id"] not in made)
        conflict = _pick(conflicts, index) if conflicts else None
        value = _resolution_value(data, world, conflict)
        laptop = data.draw(st.sampled_from([world.a, world.b]))
        mutations = [_mutation(data, world, conflicts) for _ in range(data.draw(st.integers(1, 4)))]
        if by_rest and conflict is not None:
            _resolve(world, conflict["id"], choice, value)
        else:
            _push(world, laptop, mutations)
        r = world.api.client.get("/api/v1/conflicts", headers=world.a.headers)
        assert r.status_code == 200, r.text
        conflicts = r.json()["items"]
    after = world.everything()
    new = set(after) - set(stored) - made
    now_readable, now_writable = world.access()
    world.made |= made | new
    gained_read = now_readable - readable - made - new
    gained_write = now_writable - writable - made - new
    assert not gained_read, f"the attacker can now read {[(after[i][0], i) for i in gained_read]}"
    assert not gained_write, (
        f"the attacker can now change {[(after[i][0], i) for i in gained_write]}"
    )
    untouchable = set(stored) - writable - earlier
    changed = {
        i
        for i in untouchable
        if after.get(i) != stored[i] and not (stored[i][0] == "users" and i == world.a.user_id)
    }
    assert not changed, (
        f"records the attacker may not change did: {[(stored[i][0], i) for i in changed]}"
    )
    # Records made in this example that name a counterparty are only where the attacker may put them.
    for i in (made | new) & set(after):
        name, values = after[i]
        cp = values.get("counterparty_id")
        if name in ("contact-persons", "deals", "shares") and cp is not None:
            assert cp in writable | made | new, (
                f"a new {name} on a counterparty the attacker may not change: {values}"
            )
        if name in ("interactions", "reminders") and cp is not None:
            assert cp in readable | made | new, (
                f"a new {name} on a counterparty the attacker may not see: {values}"
            )
