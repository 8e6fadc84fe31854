"""What a pull tells a laptop about records leaving its user's scope: evictions and tombstones.

Every evict or delete a laptop needs must reach it, however many pages the pull
takes; and no laptop hears the id of a record its user never could have held.
The laptops here speak the protocol by hand (``tests.server.test_sync_api.Laptop``)
against the real app, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.agent import SyncAgent
from clients.replica import Replica
from crm.database import Database
from crm.errors import NotFound, SatchelError
from server.app import create_app
from server.config import Config
from tests.conftest import PASSWORD, make_user
from tests.inprocess import InProcessClient
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create


@pytest.fixture
def api(config: Config, database: Database) -> Iterator[Api]:
    with InProcessClient(create_app(config, database)) as client:
        yield Api(client, database)


def _pull_all(laptop: Laptop, limit: int) -> list[dict[str, Any]]:
    """Pull every page with ``limit`` changes a page; the changes seen, in order."""
    seen: list[dict[str, Any]] = []
    while True:
        r = laptop.post("/sync/v1/pull", {"cursor": laptop.cursor, "limit": limit})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert not answer["reset"]
        for change in answer["changes"]:
            if change["op"] == "upsert":
                laptop.records[change["id"]] = change["record"]
                laptop.versions[change["id"]] = change["version"]
            else:
                laptop.records.pop(change["id"], None)
        seen.extend(answer["changes"])
        laptop.cursor = answer["cursor"]
        laptop.conflicts = answer["conflicts"]
        if not answer["more"]:
            return seen


def _rest_status(api: Api, laptop: Laptop, record_type: str, record_id: str) -> int:
    return api.client.get(f"/api/v1/{record_type}/{record_id}", headers=laptop.headers).status_code


def _shared_with(api: Api) -> tuple[Laptop, Laptop, dict[str, Any], dict[str, Any]]:
    """A manager's counterparty shared with a salesperson of another team, both laptops up to date."""
    make_user(api.database, "boss", role="manager")
    make_user(api.database, "ivanov", team="Питер")
    boss, ivanov = Laptop(api, "boss"), Laptop(api, "ivanov")
    cp = _create(legal_name="ООО Общая")
    share = _create("shares", counterparty_id=cp["id"], user_id=ivanov.user_id, can_edit=True)
    boss.push(cp, share)
    boss.pull()
    ivanov.pull()
    assert cp["id"] in ivanov.records
    return boss, ivanov, cp, share


def test_an_eviction_before_a_page_boundary_reaches_the_laptop_when_the_record_changes_after_it(
    api: Api,
) -> None:
    boss, ivanov, cp, share = _shared_with(api)
    boss.push(
        {
            "op": "delete",
            "type": "shares",
            "id": share["id"],
            "base_version": boss.versions[share["id"]],
        }
    )
    # Enough changes after the unsharing that the record's own row lands pages later ...
    boss.push(*[_create(legal_name=f"ООО Другая {i}") for i in range(4)])
    # ... and then it changes again, out of ivanov's sight.
    boss.push(boss.update(cp["id"], notes="после"))
    seen = _pull_all(ivanov, limit=2)
    assert ("evict", cp["id"]) in [(c["op"], c["id"]) for c in seen]
    assert cp["id"] not in ivanov.records
    assert _rest_status(api, ivanov, "counterparties", cp["id"]) == 404


def test_a_cursor_in_the_old_form_without_a_base_is_still_accepted(api: Api) -> None:
    boss, ivanov, _, _ = _shared_with(api)
    boss.push(*[_create(legal_name=f"ООО Ещё {i}") for i in range(3)])
    r = ivanov.post("/sync/v1/pull", {"cursor": ivanov.cursor, "limit": 1})
    answer = r.json()
    assert answer["more"] and answer["cursor"].count(":") == 3
    old = answer["cursor"].rsplit(":", 1)[0]  # what a server before this change gave out
    r = ivanov.post("/sync/v1/pull", {"cursor": old, "limit": 1})
    assert r.status_code == 200, r.text
    for bad in ("1:teams", "5:teams:x:9", "-1", "2:teams:x:-1", "a:b:c:d"):
        r = ivanov.post("/sync/v1/pull", {"cursor": bad})
        assert r.status_code == 400, (bad, r.text)


def test_the_users_own_reminder_stays_editable_on_the_laptop_and_over_rest_after_its_counterparty_left(
    api: Api, tmp_path: Path
) -> None:
    boss, ivanov, cp, share = _shared_with(api)
    agent = SyncAgent(Replica.open(tmp_path / "ivanov.db"), api.client)
    agent.login("http://testserver", "ivanov", PASSWORD, "Поезд")
    agent.sync()
    reminder = agent.replica.create(
        "reminders",
        {
            "title": "Позвонить",
            "due_at": "2026-12-01T09:00:00Z",
            "subject_type": "counterparty",
            "subject_id": cp["id"],
        },
    )
    assert agent.sync().applied == 1
    boss.push(
        {
            "op": "delete",
            "type": "shares",
            "id": share["id"],
            "base_version": boss.versions[share["id"]],
        }
    )
    agent.sync()
    with pytest.raises(NotFound):
        agent.replica.get("counterparties", cp["id"])  # evicted ...
    assert (
        agent.replica.get("reminders", reminder["id"])["counterparty_id"] == cp["id"]
    )  # ... the reminder stays
    # The laptop applies the same rules as the server: an unchanged subject is not looked up again.
    edited = agent.replica.update("reminders", reminder["id"], {"title": "Позвонить в понедельник"})
    assert edited["title"] == "Позвонить в понедельник" and edited["counterparty_id"] == cp["id"]
    summary = agent.sync()
    assert (summary.applied, summary.refused) == (1, 0)
    r = api.client.patch(
        f"/api/v1/reminders/{reminder['id']}", json={"notes": "по REST"}, headers=ivanov.headers
    )
    assert r.status_code == 200, r.text
    got = api.client.get(f"/api/v1/reminders/{reminder['id']}", headers=ivanov.headers).json()
    assert (got["title"], got["notes"], got["counterparty_id"]) == (
        "Позвонить в понедельник",
        "по REST",
        cp["id"],
    )
    # Pointing it at a record the user cannot see is still refused, and changes nothing.
    hidden = _create(legal_name="ООО Закрытая")
    boss.push(hidden)
    r = api.client.patch(
        f"/api/v1/reminders/{reminder['id']}",
        json={"subject_type": "counterparty", "subject_id": hidden["id"]},
        headers=ivanov.headers,
    )
    assert r.status_code in (403, 404, 422), r.text
    again = api.client.get(f"/api/v1/reminders/{reminder['id']}", headers=ivanov.headers).json()
    assert again == got
    with pytest.raises(SatchelError):  # a changed subject is looked up, on the laptop too
        agent.replica.update("reminders", reminder["id"], {"subject_type": "deal"})
    assert agent.replica.pending() == []


def _ops(seen: list[dict[str, Any]]) -> dict[str, str]:
    return {c["id"]: c["op"] for c in seen}


def test_a_pull_names_no_record_its_user_could_never_have_held(api: Api) -> None:
    make_user(api.database, "ivanov", team="Питер")
    make_user(api.database, "petrova", team="Казань")
    make_user(api.database, "sidorov", team="Казань")
    ivanov, petrova = Laptop(api, "ivanov"), Laptop(api, "petrova")
    sidorov = Laptop(api, "sidorov")
    mine = _create(legal_name="ООО Иванова")
    ivanov.push(mine)
    ivanov.pull()
    # Petrova's private work after ivanov's cursor: made, changed, shared with a colleague, deleted.
    kept, dropped = _create(legal_name="ООО Петровой"), _create(legal_name="ООО Удалённая")
    person = _create("contact-persons", counterparty_id=kept["id"], full_name="Анна")
    gone_person = _create("contact-persons", counterparty_id=kept["id"], full_name="Борис")
    share = _create("shares", counterparty_id=kept["id"], user_id=sidorov.user_id)
    reminder = _create(
        "reminders",
        title="Позвонить",
        due_at="2026-12-01T09:00:00Z",
        subject_type="counterparty",
        subject_id=kept["id"],
    )
    petrova.push(kept, dropped, person, gone_person, share, reminder)
    petrova.pull()
    petrova.push(
        petrova.update(kept["id"], notes="важный"),
        {
            "op": "delete",
            "type": "counterparties",
            "id": dropped["id"],
            "base_version": petrova.versions[dropped["id"]],
        },
        {
            "op": "delete",
            "type": "contact-persons",
            "id": gone_person["id"],
            "base_version": petrova.versions[gone_person["id"]],
        },
        {
            "op": "delete",
            "type": "shares",
            "id": share["id"],
            "base_version": petrova.versions[share["id"]],
        },
    )
    hers = {r["id"] for r in (kept, dropped, person, gone_person, share, reminder)}

    seen = _pull_all(ivanov, limit=2)
    assert not hers & set(_ops(seen)), _ops(seen)
    # A laptop starting from nothing holds nothing: only upserts, whoever did what.
    fresh = Laptop(api, "ivanov", "Новый")
    seen = _pull_all(fresh, limit=3)
    assert {c["op"] for c in seen} == {"upsert"} and not hers & set(_ops(seen))
    assert mine["id"] in fresh.records
    # Her laptop, which held them, hears of every delete.
    ops = _ops(_pull_all(petrova, limit=2))
    assert ops[dropped["id"]] == ops[gone_person["id"]] == ops[share["id"]] == "delete"
    # She leaves the company (disabled, later enabled again): who sees her clients does not change,
    # so nobody else's laptop is told their ids.
    admin = api.user("admin", role="admin", team=None)
    for active in (False, True):
        r = api.client.patch(
            f"/api/v1/users/{petrova.user_id}", json={"is_active": active}, headers=admin
        )
        assert r.status_code == 200, r.text
        seen = _pull_all(ivanov, limit=2)
        assert not hers & set(_ops(seen)) and {c["op"] for c in seen} <= {"upsert"}, _ops(seen)


def test_what_the_user_held_is_still_evicted_or_deleted(api: Api) -> None:
    make_user(api.database, "admin", role="admin")
    make_user(api.database, "boss", role="manager", team="Москва")
    make_user(api.database, "ivanov", team="Питер")
    make_user(api.database, "kuznetsov", team="Питер")
    admin = api.login("admin")
    boss, ivanov, kuznetsov = Laptop(api, "boss"), Laptop(api, "ivanov"), Laptop(api, "kuznetsov")
    shared = _create(legal_name="ООО Общая")
    share = _create("shares", counterparty_id=shared["id"], user_id=ivanov.user_id)
    public = _create(legal_name="ООО Открытая", visibility="company")
    boss.push(shared, share, public)
    teams = _create(legal_name="ООО Командная", visibility="team")
    doomed = _create(legal_name="ООО Обречённая", visibility="team")
    kuznetsov.push(teams, doomed)
    boss.pull()
    kuznetsov.pull()
    ivanov.pull()
    assert {shared["id"], public["id"], teams["id"], doomed["id"]} <= set(ivanov.records)

    # Unshared and deleted between two pulls; made private; its owner moved to another team; deleted.
    boss.push(
        {
            "op": "delete",
            "type": "shares",
            "id": share["id"],
            "base_version": boss.versions[share["id"]],
        }
    )
    boss.pull()
    boss.push(
        {
            "op": "delete",
            "type": "counterparties",
            "id": shared["id"],
            "base_version": boss.versions[shared["id"]],
        },
        boss.update(public["id"], visibility="private"),
    )
    kuznetsov.push(
        {
            "op": "delete",
            "type": "counterparties",
            "id": doomed["id"],
            "base_version": kuznetsov.versions[doomed["id"]],
        }
    )
    moscow = next(
        t["id"]
        for t in api.client.get("/api/v1/teams", headers=admin).json()["items"]
        if t["name"] == "Москва"
    )
    r = api.client.patch(
        f"/api/v1/users/{kuznetsov.user_id}", json={"team_id": moscow}, headers=admin
    )
    assert r.status_code == 200, r.text

    ops = _ops(_pull_all(ivanov, limit=2))
    assert ops[shared["id"]] == ops[share["id"]] == ops[doomed["id"]] == "delete"
    assert ops[public["id"]] == ops[teams["id"]] == "evict"
    assert not {shared["id"], public["id"], teams["id"], doomed["id"]} & set(ivanov.records)


def _bootstrap(laptop: Laptop) -> None:
    """Load the laptop's whole scope as the agent does (its replica emptied first); cursor = the watermark."""
    laptop.records.clear()
    request: dict[str, Any] = {"watermark": None, "type": None, "after": None}
    while True:
        r = laptop.post("/sync/v1/bootstrap", request)
        assert r.status_code == 200, r.text
        page = r.json()
        at = page["fields"].index("id")
        for row, version in zip(page["rows"], page["versions"], strict=True):
            laptop.records[row[at]] = dict(zip(page["fields"], row, strict=True))
            laptop.versions[row[at]] = version
        if page["next"] is None:
            laptop.cursor = str(page["watermark"])
            return
        request = {"watermark": page["watermark"], **page["next"]}


def test_a_bootstrapped_laptop_hears_of_exactly_the_records_it_was_told_of(api: Api) -> None:
    """Rule 4 of sync/held.py erred towards telling: an owner or visibility change after the
    cursor named the record even when it never was in the user's sight. A laptop bootstrapped
    since the server keeps what it told each device hears of exactly those records."""
    make_user(api.database, "admin", role="admin")
    make_user(api.database, "ivanov", team="Питер")
    make_user(api.database, "kuznetsov", team="Питер")
    make_user(api.database, "petrova", team="Казань")
    make_user(api.database, "sidorov", team="Казань")
    admin = api.login("admin")
    kuznetsov, petrova = Laptop(api, "kuznetsov"), Laptop(api, "petrova")
    team_cp = _create(legal_name="ООО Командная", visibility="team")
    kuznetsov.push(team_cp)
    kuznetsov.pull()
    ivanov = Laptop(api, "ivanov")
    _bootstrap(ivanov)
    assert team_cp["id"] in ivanov.records
    old_cursor = ivanov.cursor
    # After ivanov's cursor: petrova's private client, never in his sight, handed over and made
    # team-visible in Казань; a client of his own, made on his laptop, handed to petrova privately.
    hers = _create(legal_name="ООО Петровой", visibility="private")
    person = _create("contact-persons", counterparty_id=hers["id"], full_name="Анна")
    petrova.push(hers, person)
    mine = _create(legal_name="ООО Иванова")
    ivanov.push(mine)
    ids = {
        u["login"]: u["id"] for u in api.client.get("/api/v1/users", headers=admin).json()["items"]
    }
    for cp, to, visibility in ((hers, "sidorov", "team"), (mine, "petrova", "private")):
        r = api.client.patch(
            f"/api/v1/counterparties/{cp['id']}",
            json={"owner_id": ids[to], "visibility": visibility},
            headers=admin,
        )
        assert r.status_code == 200, r.text
    kuznetsov.push(kuznetsov.update(team_cp["id"], visibility="private"))

    ops = _ops(_pull_all(ivanov, limit=2))
    assert hers["id"] not in ops and person["id"] not in ops, ops  # never told: never named
    assert ops[mine["id"]] == ops[team_cp["id"]] == "evict"  # told (pushed, bootstrapped): evicted
    # A copy of his data folder from before, restored: told again, though he already heard it once.
    ivanov.cursor = old_cursor
    again = _ops(_pull_all(ivanov, limit=5))
    assert again[mine["id"]] == again[team_cp["id"]] == "evict" and hers["id"] not in again, again

    # A replica restored from before the laptop's bootstrap, or a cursor made up by hand, cannot be
    # judged by what the laptop was told: the answer is a reset (load again), and names nothing.
    for made_up in (
        old_cursor and str(int(old_cursor) - 1),
        "1",
        f"1:counterparties:{hers['id']}:1",
    ):
        r = ivanov.post("/sync/v1/pull", {"cursor": made_up, "limit": 1000})
        assert r.status_code == 200 and r.json()["reset"] and r.json()["changes"] == [], (
            made_up,
            r.text,
        )
    stranger = Laptop(api, "kuznetsov", "Чужой")  # a device that never loaded anything
    r = stranger.post("/sync/v1/pull", {"cursor": "1", "limit": 1000})
    assert r.json()["reset"] and r.json()["changes"] == [], r.text
    # A bootstrap's watermark is the server's, not one from the future.
    r = ivanov.post(
        "/sync/v1/bootstrap", {"watermark": 10**12, "type": "counterparties", "after": None}
    )
    assert r.status_code == 400, r.text


def test_a_pulled_record_is_the_record_as_the_service_shows_it(api: Api) -> None:
    """A pull reads its page's records as rows of their columns, not as objects: every field —
    times, dates, money, JSON, booleans, nulls — comes out as ``crm.records.to_dict`` makes it."""
    from crm import records

    make_user(api.database, "ivanov")
    one, two = Laptop(api, "ivanov", "Один"), Laptop(api, "ivanov", "Два")
    cp = _create(legal_name="ООО Ромашка", inn="7707083893")
    person = _create(
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Пётр Сидоров",
        birthday="1980-02-29",
        no_mailings=True,
        contacts=[{"kind": "email", "value": "p.sidorov@romashka.test"}],
    )
    deal = _create(
        "deals",
        counterparty_id=cp["id"],
        title="Кольца 585",
        amount="150000.50",
        expected_close="2026-12-20",
        probability=40,
    )
    call = _create(
        "interactions",
        counterparty_id=cp["id"],
        contact_person_id=person["id"],
        kind="call",
        subject="Звонок",
        starts_at="2026-11-20T10:30:00+03:00",
        duration_minutes=15,
        participants=[{"role": "to", "name": "Пётр", "address": "p.sidorov@romashka.test"}],
    )
    answer = one.push(cp, person, deal, call)
    assert {r["status"] for r in answer["results"]} == {"applied"}
    pulled = {c["id"]: c["record"] for c in _pull_all(two, limit=500) if c["op"] == "upsert"}
    with api.database.read() as session:
        for mutation in (cp, person, deal, call):
            rt = records.record_type(mutation["type"])
            expected = records.to_dict(rt, session.get(rt.model, mutation["id"]))
            assert pulled[mutation["id"]] == expected
    assert pulled[deal["id"]]["amount"] == "150000.50"
    assert pulled[call["id"]]["starts_at"] == "2026-11-20T07:30:00Z"
    assert pulled[person["id"]]["birthday"] == "1980-02-29"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # psycopg's own cache
def test_a_salespersons_pull_reuses_the_statements_psycopg_converted(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL every statement of a pull — the page's records (ids as one array), its first page
    of conflicts (22 KB, 76 parameters for a salesperson) — is converted by psycopg once and then
    taken from its cache: converting them anew was 5 % of a server's CPU in a burst of syncs."""
    from psycopg import _queries

    make_user(api.database, "ivanov", team="Москва")
    one, two = Laptop(api, "ivanov", "Один"), Laptop(api, "ivanov", "Два")
    one.push(*[_create(legal_name=f"ООО Номер {i}") for i in range(30)])
    _pull_all(two, limit=500)  # every statement converted once
    converted: list[tuple[int, int]] = []
    uncached = _queries._query2pg_nocache

    def counting(query: bytes, encoding: str) -> Any:
        converted.append((len(query), query.count(b"%")))
        return uncached(query, encoding)

    one.push(*[_create(legal_name=f"ООО Другая {i}") for i in range(40)])
    monkeypatch.setattr(_queries, "_query2pg_nocache", counting)
    assert len(_pull_all(two, limit=500)) == 40
    assert converted == []
