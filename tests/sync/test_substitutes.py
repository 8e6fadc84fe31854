"""A substitute covers a colleague's absence: sees and works their clients on those days only, on
every door, and the substitute's laptop loads them when the cover begins and evicts them after.

The home's day is moved by hand (``crm.clock.today``): a cover that begins or ends on a later day
is entered by the first sync of that day (``crm.substitutes.sweep``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from crm import access, clock, substitutes
from crm.database import Database
from crm.models import Counterparty, User
from server.app import create_app
from server.config import Config
from tests.conftest import PASSWORD, at_once
from tests.inprocess import InProcessClient
from tests.sync.test_agent import laptop, rest

MONDAY = date(2026, 12, 7)


class Days:
    """The home's day, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.day = MONDAY - timedelta(days=3)
        monkeypatch.setattr(clock, "today", lambda: self.day)
        # Each process remembers the last day it saw swept: a new "day" must be swept again.
        monkeypatch.setattr(substitutes, "_swept", [None])

    def go(self, day: date) -> None:
        self.day = day


@pytest.fixture
def days(monkeypatch: pytest.MonkeyPatch) -> Days:
    return Days(monkeypatch)


@pytest.fixture
def server(config: Config, database: Database) -> Iterator[TestClient]:
    with InProcessClient(create_app(config, database)) as client:
        yield client


def _setup(server: TestClient, db: Database) -> dict[str, Any]:
    """Ivanov (salesperson, team Москва) owns two private clients, one with a person and a call;
    Petrova (another team) owns one; Sidorov (team Казань) will cover for Ivanov."""
    from tests.conftest import make_user

    make_user(db, "ivanov")
    make_user(db, "petrova", team="Питер")
    make_user(db, "sidorov", team="Казань")
    make_user(db, "boss", role="manager")
    ivanov, petrova, sidorov = (
        rest(server, "ivanov"),
        rest(server, "petrova"),
        rest(server, "sidorov"),
    )
    mine = []
    for name in ("ООО Альфа", "ООО Бета"):
        r = server.post(
            "/api/v1/counterparties",
            headers=ivanov,
            json={"legal_name": name, "visibility": "private"},
        )
        assert r.status_code == 201, r.text
        mine.append(r.json()["id"])
    r = server.post(
        "/api/v1/contact-persons",
        headers=ivanov,
        json={"counterparty_id": mine[0], "full_name": "Анна Смирнова"},
    )
    assert r.status_code == 201, r.text
    r = server.post(
        "/api/v1/counterparties",
        headers=petrova,
        json={"legal_name": "ООО Чужое", "visibility": "private"},
    )
    theirs = r.json()["id"]
    return {
        "db": db,
        "ivanov": ivanov,
        "petrova": petrova,
        "sidorov": sidorov,
        "boss": rest(server, "boss"),
        "mine": mine,
        "theirs": theirs,
    }


def _ids(db: Database, login: str) -> str:
    with db.read() as session:
        return str(
            session.execute(select(col(User.id)).where(col(User.login) == login)).scalar_one()
        )


def _cover(server: TestClient, headers: dict[str, str], **fields: Any) -> Any:
    return server.post("/api/v1/absences", headers=headers, json={"kind": "vacation", **fields})


def test_a_cover_gives_its_days_and_only_them_on_rest_and_laptop(
    server: TestClient, database: Database, days: Days, tmp_path: Path
) -> None:
    s = _setup(server, database)
    db = s["db"]
    sidorov_id = _ids(db, "sidorov")
    r = _cover(
        server,
        s["ivanov"],
        starts_on=MONDAY.isoformat(),
        ends_on=(MONDAY + timedelta(days=4)).isoformat(),
        substitute_id=sidorov_id,
    )
    assert r.status_code == 201, r.text
    cp = s["mine"][0]
    # Before the week: nothing yet, on the REST API and on Sidorov's laptop.
    assert server.get(f"/api/v1/counterparties/{cp}", headers=s["sidorov"]).status_code == 404
    agent = laptop(server, tmp_path, "sidorov")
    agent.sync()
    assert agent.replica.snapshot("counterparties") == {}

    # Monday: the first sync of the day loads Ivanov's clients, their people; he may work them.
    days.go(MONDAY)
    summary = agent.sync()
    assert set(agent.replica.snapshot("counterparties")) == set(s["mine"])
    assert len(agent.replica.snapshot("contact-persons")) == 1
    assert summary.pulled["upserts"] >= 3
    r = server.patch(
        f"/api/v1/counterparties/{cp}",
        headers=s["sidorov"],
        json={"notes": "звонил, пока Иванов в отпуске"},
    )
    assert r.status_code == 200, r.text
    [person] = agent.replica.snapshot("contact-persons")
    agent.replica.update("contact-persons", person, {"position": "закупщик"})
    agent.sync()
    r = server.get(f"/api/v1/contact-persons/{person}", headers=s["ivanov"])
    assert r.json()["position"] == "закупщик"
    # Never another colleague's clients: the cover is Ivanov's own.
    assert (
        server.get(f"/api/v1/counterparties/{s['theirs']}", headers=s["sidorov"]).status_code == 404
    )
    assert s["theirs"] not in agent.replica.snapshot("counterparties")

    # Nor may he keep one for good: sharing it (with himself or anyone) is the owner's say.
    for headers, who in ((s["sidorov"], sidorov_id), (s["sidorov"], _ids(database, "petrova"))):
        r = server.post(
            "/api/v1/shares",
            headers=headers,
            json={"counterparty_id": cp, "user_id": who, "can_edit": True},
        )
        assert r.status_code == 403, r.text
    # The Saturday after the last day: access ends by itself, the laptop evicts what it held.
    days.go(MONDAY + timedelta(days=5))
    assert server.get(f"/api/v1/counterparties/{cp}", headers=s["sidorov"]).status_code == 404
    summary = agent.sync()
    assert summary.pulled["evicts"] >= 3
    assert agent.replica.snapshot("counterparties") == {}
    assert agent.replica.snapshot("contact-persons") == {}
    # Ivanov's laptop keeps them all along.
    own = laptop(server, tmp_path, "ivanov")
    own.sync()
    assert set(own.replica.snapshot("counterparties")) == set(s["mine"])


def test_a_cover_entered_for_today_reaches_the_laptop_at_once_and_its_removal_evicts(
    server: TestClient, database: Database, days: Days, tmp_path: Path
) -> None:
    s = _setup(server, database)
    days.go(MONDAY)
    agent = laptop(server, tmp_path, "sidorov")
    agent.sync()
    assert agent.replica.snapshot("counterparties") == {}
    r = _cover(
        server,
        s["ivanov"],
        starts_on=MONDAY.isoformat(),
        ends_on=MONDAY.isoformat(),
        substitute_id=_ids(s["db"], "sidorov"),
    )
    assert r.status_code == 201, r.text
    agent.sync()
    assert set(agent.replica.snapshot("counterparties")) == set(s["mine"])
    # Ivanov came back early and took the substitute off: the laptop lets go at once.
    r = server.patch(
        f"/api/v1/absences/{r.json()['id']}", headers=s["ivanov"], json={"substitute_id": None}
    )
    assert r.status_code == 200, r.text
    agent.sync()
    assert agent.replica.snapshot("counterparties") == {}


def test_nobody_names_themselves_a_substitute_of_a_colleague(
    server: TestClient, database: Database, days: Days
) -> None:
    s = _setup(server, database)
    db = s["db"]
    days.go(MONDAY)
    ivanov_id, petrova_id, sidorov_id = (_ids(db, n) for n in ("ivanov", "petrova", "sidorov"))
    week = {"starts_on": MONDAY.isoformat(), "ends_on": (MONDAY + timedelta(days=4)).isoformat()}
    # Sidorov enters an absence for Ivanov naming himself: refused (not his to keep).
    r = _cover(server, s["sidorov"], user_id=ivanov_id, substitute_id=sidorov_id, **week)
    assert r.status_code in (403, 404), r.text
    # Sidorov moves his own absence onto Ivanov: refused on the final values.
    own = _cover(server, s["sidorov"], substitute_id=petrova_id, **week)
    assert own.status_code == 201, own.text
    r = server.patch(
        f"/api/v1/absences/{own.json()['id']}",
        headers=s["sidorov"],
        json={"user_id": ivanov_id, "substitute_id": sidorov_id},
    )
    assert r.status_code in (403, 404, 422), r.text
    assert (
        server.get(f"/api/v1/counterparties/{s['mine'][0]}", headers=s["sidorov"]).status_code
        == 404
    )
    # Oneself, the mail bridge, nobody: refused with the reason.
    r = _cover(server, s["ivanov"], substitute_id=ivanov_id, **week)
    assert r.status_code == 422 and "substitute_id" in r.text
    r = _cover(server, s["ivanov"], substitute_id="00000000-0000-0000-0000-000000000000", **week)
    assert r.status_code == 422 and "substitute_id" in r.text
    with db.read() as session:
        sidorov = session.get(User, sidorov_id)
        assert sidorov is not None
        assert not access.can_read_counterparty(session, sidorov, s["mine"][0])
    # Petrova covering Sidorov sees her own and Sidorov's clients (he has none) — none of Ivanov's.
    with db.read() as session:
        petrova = session.get(User, petrova_id)
        assert petrova is not None
        seen = set(
            session.execute(
                select(col(Counterparty.id)).where(access.visible_counterparties(petrova))
            ).scalars()
        )
        assert seen == {s["theirs"]}


def test_a_manager_names_a_substitute_for_one_of_their_people(
    server: TestClient, database: Database, days: Days
) -> None:
    s = _setup(server, database)
    db = s["db"]
    days.go(MONDAY)
    r = _cover(
        server,
        s["boss"],
        user_id=_ids(db, "ivanov"),
        substitute_id=_ids(db, "sidorov"),
        starts_on=MONDAY.isoformat(),
        ends_on=MONDAY.isoformat(),
    )
    assert r.status_code == 201, r.text
    r = server.get("/api/v1/counterparties", headers=s["sidorov"], params={"limit": 50})
    assert {c["id"] for c in r.json()["items"]} == set(s["mine"])


def test_a_crafted_push_naming_oneself_a_colleagues_substitute_is_refused_and_changes_nothing(
    server: TestClient, database: Database, days: Days
) -> None:
    import uuid

    from sync import protocol

    s = _setup(server, database)
    days.go(MONDAY)
    ivanov_id, sidorov_id = _ids(database, "ivanov"), _ids(database, "sidorov")
    login = server.post(
        "/api/v1/auth/login",
        json={"login": "sidorov", "password": PASSWORD, "device_name": "Ноутбук"},
    )
    device = login.json()["device"]["id"]
    headers = {"Authorization": f"Bearer {login.json()['token']}", **protocol.headers()}
    week = {"starts_on": MONDAY.isoformat(), "ends_on": (MONDAY + timedelta(days=4)).isoformat()}
    body = {
        "device_id": device,
        "mutations": [
            {
                "seq": 1,
                "client_time": "2026-12-07T09:00:00Z",
                "op": "create",
                "type": "absences",
                "id": str(uuid.uuid4()),
                "fields": {
                    "user_id": ivanov_id,
                    "kind": "vacation",
                    "substitute_id": sidorov_id,
                    **week,
                },
            }
        ],
    }
    r = server.post("/sync/v1/push", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "refused"
    with database.read() as session:
        from crm.models import Absence

        assert session.execute(select(col(Absence.id))).first() is None
    assert server.get(f"/api/v1/counterparties/{s['mine'][0]}", headers=headers).status_code == 404


def test_the_first_sweep_of_a_new_database_taken_by_many_pulls_at_once_is_made_once(
    database: Database,
) -> None:
    """The first morning of a new company: every laptop's first pull asks for the day's sweep at
    the same moment, while there is no sweep row yet to lock (a trial of two processes and 500
    laptops saw 8 of them answered 409)."""
    from crm.models import CoverSweep

    day = clock.today()

    def first_pull(_n: int) -> None:
        with database.write() as session:
            substitutes.sweep(session, day)

    at_once(6, first_pull)
    with database.read() as session:
        assert [r.day for r in session.execute(select(CoverSweep)).scalars()] == [day]
