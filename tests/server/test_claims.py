"""Claims on clients (issue 15) over REST and sync: defaults, overlaps, who hands one over, the
warning colleagues see, and laptops of the older schema 5 served without them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm import claims
from crm.models import User
from sync import protocol
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop

TODAY = datetime.now(UTC).date()


def _client(api: Api, h: dict[str, str], **extra: Any) -> dict[str, Any]:
    return api.create(h, "counterparties", legal_name="ООО «Ювелир»", kinds=["client"], **extra)


def _me(api: Api, h: dict[str, str]) -> dict[str, Any]:
    return api.client.get("/api/v1/me", headers=h).json()["user"]  # type: ignore[no-any-return]


def test_a_claim_runs_ninety_days_and_another_on_the_same_group_is_refused_naming_its_holder(
    api: Api,
) -> None:
    ivanov = api.user("ivanov")
    petrov = api.user("petrov")
    cp = _client(api, ivanov, visibility="company")
    made = api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="  Золото  585 ")
    assert made["holder_id"] == _me(api, ivanov)["id"]
    assert made["product_group"] == "Золото 585"
    assert made["starts_on"] == TODAY.isoformat()
    assert made["ends_on"] == (TODAY + timedelta(days=90)).isoformat()

    # The same group (case, ё and spacing aside), overlapping in time: refused, naming the holder.
    r = api.client.post(
        "/api/v1/claims",
        json={"counterparty_id": cp["id"], "product_group": "золото 585"},
        headers=petrov,
    )
    assert r.status_code == 422, r.text
    problem = r.json()["details"]["product_group"]
    assert "Пользователь ivanov" in problem and made["ends_on"] in problem
    # Another group, or the same one after the claim lapses, is free.
    api.create(petrov, "claims", counterparty_id=cp["id"], product_group="Серебро")
    later = TODAY + timedelta(days=91)
    api.create(
        petrov,
        "claims",
        counterparty_id=cp["id"],
        product_group="Золото 585",
        starts_on=later.isoformat(),
        ends_on=(later + timedelta(days=30)).isoformat(),
    )
    # A year at most, and never ending before it starts.
    for ends_on in (TODAY + timedelta(days=400), TODAY - timedelta(days=1)):
        r = api.client.post(
            "/api/v1/claims",
            json={
                "counterparty_id": cp["id"],
                "product_group": "Платина",
                "ends_on": ends_on.isoformat(),
            },
            headers=ivanov,
        )
        assert r.status_code == 422 and "ends_on" in r.json()["details"], r.text


def test_only_a_manager_hands_a_claim_over_and_the_holder_ends_it(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrov = api.user("petrov")
    boss = api.user("boss", role="manager")
    stranger = api.user("sidorov", team="Урал")
    cp = _client(api, ivanov, visibility="company")
    claim = api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="Золото")
    url = f"/api/v1/claims/{claim['id']}"
    petrov_id = _me(api, petrov)["id"]

    # The holder may not give it away, nor a colleague take it, nor one from another team end it.
    r = api.client.patch(url, json={"holder_id": petrov_id}, headers=ivanov)
    assert r.status_code == 403 and "only their manager" in r.json()["message"], r.text
    r = api.client.patch(url, json={"holder_id": petrov_id}, headers=petrov)
    assert r.status_code == 403, r.text
    r = api.client.patch(url, json={"ends_on": TODAY.isoformat()}, headers=stranger)
    assert r.status_code == 403, r.text
    r = api.client.delete(url, headers=petrov)
    assert r.status_code == 403, r.text
    # Nor may anyone claim in a colleague's name, but their manager.
    r = api.client.post(
        "/api/v1/claims",
        json={"counterparty_id": cp["id"], "product_group": "Жемчуг", "holder_id": petrov_id},
        headers=ivanov,
    )
    assert r.status_code == 403, r.text
    api.create(
        boss, "claims", counterparty_id=cp["id"], product_group="Жемчуг", holder_id=petrov_id
    )

    # Their manager hands it over; the new holder ends it today.
    r = api.client.patch(url, json={"holder_id": petrov_id}, headers=boss)
    assert r.status_code == 200 and r.json()["holder_id"] == petrov_id, r.text
    r = api.client.patch(url, json={"ends_on": TODAY.isoformat()}, headers=petrov)
    assert r.status_code == 200 and r.json()["ends_on"] == TODAY.isoformat(), r.text
    # A claim stays with its client.
    other = _client(api, petrov, visibility="company")
    r = api.client.patch(url, json={"counterparty_id": other["id"]}, headers=petrov)
    assert r.status_code == 422 and "counterparty_id" in r.json()["details"], r.text


def test_a_private_clients_claims_are_hidden_and_cannot_be_made_by_strangers(api: Api) -> None:
    ivanov = api.user("ivanov")
    stranger = api.user("sidorov", team="Урал")
    cp = _client(api, ivanov)  # private: its owner and their manager see it
    claim = api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="Золото")
    assert api.client.get(f"/api/v1/claims/{claim['id']}", headers=stranger).status_code == 404
    assert api.client.get("/api/v1/claims", headers=stranger).json()["items"] == []
    # Not even the group its owner holds tells the stranger who holds it, or that the client exists.
    for group in ("Серебро", "Золото"):
        r = api.client.post(
            "/api/v1/claims",
            json={"counterparty_id": cp["id"], "product_group": group},
            headers=stranger,
        )
        assert r.status_code == 422, r.text
        assert r.json()["details"] == {"counterparty_id": f"no Counterparty with id {cp['id']}"}
    assert len(api.client.get("/api/v1/claims", headers=ivanov).json()["items"]) == 1


def test_colleagues_are_warned_of_claims_in_force_others_hold(api: Api) -> None:
    ivanov = api.user("ivanov")
    api.user("petrov")
    cp = _client(api, ivanov, visibility="company")
    api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="Золото 585")
    past = TODAY - timedelta(days=40)
    api.create(
        ivanov,
        "claims",
        counterparty_id=cp["id"],
        product_group="Серебро",
        starts_on=past.isoformat(),
        ends_on=(past + timedelta(days=10)).isoformat(),
    )
    with api.database.read() as session:
        users = {u.login: u for u in session.execute(select(User)).scalars()}
        held = claims.held_by_others(session, users["petrov"], cp["id"])
        assert [(h.product_group, h.holder) for h in held] == [
            ("Золото 585", "Пользователь ivanov")
        ]
        assert "Золото 585 — Пользователь ivanov" in claims.warning(held)
        # The holder is not warned of their own claim; a lapsed one warns nobody.
        assert claims.held_by_others(session, users["ivanov"], cp["id"]) == []
        assert claims.warning([]) == ""


def test_a_laptop_of_schema_5_is_served_without_claims_and_gets_them_once_updated(
    api: Api,
) -> None:
    ivanov = api.user("ivanov")
    cp = _client(api, ivanov)
    claim = api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="Золото")
    old = Laptop(api, "ivanov", "Старый")
    old.headers[protocol.SCHEMA_HEADER] = "5"
    seen = {(c["type"], c["id"]) for c in old.pull()}
    assert ("counterparties", cp["id"]) in seen and ("claims", claim["id"]) not in seen
    pages = []
    body: dict[str, Any] = {"watermark": None, "type": None, "after": None}
    while True:
        r = old.post("/sync/v1/bootstrap", body)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page["type"])
        if page["next"] is None:
            break
        body = {"watermark": page["watermark"], **page["next"]}
    assert "claims" not in pages and "counterparties" in pages
    assert "claims" not in page.get("total", {}) and "claims" not in r.json().get("total", {})

    new = Laptop(api, "ivanov", "Новый")
    assert ("claims", claim["id"]) in {(c["type"], c["id"]) for c in new.pull()}
    # Older than schema 5 is told to update, as before.
    old.headers[protocol.SCHEMA_HEADER] = "4"
    assert old.post("/sync/v1/pull", {"cursor": None}).status_code == 426


def test_a_colleagues_laptop_can_neither_take_nor_end_nor_fake_a_claim(api: Api) -> None:
    ivanov = api.user("ivanov")
    api.user("petrov")
    cp = _client(api, ivanov, visibility="company")
    claim = api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="Золото")
    petrov = Laptop(api, "petrov")
    petrov.pull()
    ivanov_id = _me(api, ivanov)["id"]
    attempts = [
        petrov.update(claim["id"], "claims", holder_id=petrov.user_id),
        petrov.update(claim["id"], "claims", ends_on=TODAY.isoformat()),
        {"op": "delete", "type": "claims", "id": claim["id"], "base_version": 1},
        {
            "op": "create",
            "type": "claims",
            "id": str(uuid.uuid4()),
            "fields": {
                "counterparty_id": cp["id"],
                "product_group": "Жемчуг",
                "holder_id": ivanov_id,
            },
        },
    ]
    for attempt in attempts:
        assert petrov.push(attempt)["results"][0]["status"] == "refused", attempt
    got = api.client.get(f"/api/v1/claims/{claim['id']}", headers=ivanov).json()
    assert (got["holder_id"], got["ends_on"], got["version"]) == (
        ivanov_id,
        claim["ends_on"],
        1,
    )
    assert len(api.client.get("/api/v1/claims", headers=ivanov).json()["items"]) == 1


def test_a_merge_moves_the_duplicates_claims_to_the_survivor(api: Api) -> None:
    ivanov = api.user("ivanov")
    office = api.user("office", role="office", team=None)
    survivor = _client(api, ivanov)
    duplicate = api.create(ivanov, "counterparties", legal_name="Ювелир ООО", kinds=["client"])
    claim = api.create(ivanov, "claims", counterparty_id=duplicate["id"], product_group="Золото")
    r = api.client.post(
        f"/api/v1/counterparties/{survivor['id']}/merge",
        json={"absorb": duplicate["id"]},
        headers=office,
    )
    assert r.status_code == 200, r.text
    assert r.json()["moved"].get("claims") == 1
    got = api.client.get(f"/api/v1/claims/{claim['id']}", headers=ivanov).json()
    assert got["counterparty_id"] == survivor["id"] and got["version"] == 2


def test_a_batch_may_not_hold_two_overlapping_claims_or_absences(api: Api) -> None:
    ivanov = api.user("ivanov")
    cp = _client(api, ivanov)
    r = api.client.post(
        "/api/v1/claims/batch",
        json={
            "items": [
                {"counterparty_id": cp["id"], "product_group": "Бриллианты"},
                {"counterparty_id": cp["id"], "product_group": "бриллианты"},
            ]
        },
        headers=ivanov,
    )
    assert r.status_code == 422, r.text
    assert api.client.get("/api/v1/claims", headers=ivanov).json()["items"] == []
    r = api.client.post(
        "/api/v1/absences/batch",
        json={
            "items": [
                {"kind": "day_off", "starts_on": "2027-01-04", "ends_on": "2027-01-04"},
                {"kind": "trip", "starts_on": "2027-01-03", "ends_on": "2027-01-05"},
            ]
        },
        headers=ivanov,
    )
    assert r.status_code == 422, r.text
    assert api.client.get("/api/v1/absences", headers=ivanov).json()["items"] == []


def test_a_disabled_holders_claim_and_absence_are_still_ended_by_their_manager(api: Api) -> None:
    sidorov = api.user("sidorov")
    boss = api.user("boss", role="manager")
    admin = api.user("root", role="admin", team=None)
    cp = _client(api, sidorov)
    claim = api.create(sidorov, "claims", counterparty_id=cp["id"], product_group="Жемчуг")
    leave = api.create(
        sidorov, "absences", kind="vacation", starts_on="2027-01-10", ends_on="2027-01-20"
    )
    sidorov_id = _me(api, sidorov)["id"]
    r = api.client.patch(f"/api/v1/users/{sidorov_id}", json={"is_active": False}, headers=admin)
    assert r.status_code == 200, r.text
    r = api.client.patch(
        f"/api/v1/claims/{claim['id']}", json={"ends_on": TODAY.isoformat()}, headers=boss
    )
    assert r.status_code == 200 and r.json()["ends_on"] == TODAY.isoformat(), r.text
    r = api.client.patch(
        f"/api/v1/absences/{leave['id']}", json={"ends_on": "2027-01-12"}, headers=boss
    )
    assert r.status_code == 200, r.text
    # Given to a disabled user, though, it is refused.
    other = api.create(boss, "claims", counterparty_id=cp["id"], product_group="Янтарь")
    r = api.client.patch(
        f"/api/v1/claims/{other['id']}", json={"holder_id": sidorov_id}, headers=boss
    )
    assert r.status_code == 422 and "disabled" in r.json()["details"]["holder_id"], r.text


def test_emptying_a_claims_holder_or_days_is_refused_not_defaulted_again(api: Api) -> None:
    ivanov = api.user("ivanov")
    cp = _client(api, ivanov)
    claim = api.create(ivanov, "claims", counterparty_id=cp["id"], product_group="Золото")
    for name in ("holder_id", "starts_on", "ends_on"):
        r = api.client.patch(f"/api/v1/claims/{claim['id']}", json={name: None}, headers=ivanov)
        assert r.status_code == 422 and name in r.json()["details"], r.text
    got = api.client.get(f"/api/v1/claims/{claim['id']}", headers=ivanov).json()
    assert got["version"] == 1 and got["ends_on"] == claim["ends_on"]


def test_a_schema_5_laptop_cannot_bootstrap_a_newer_type_by_name(api: Api) -> None:
    api.user("ivanov")
    old = Laptop(api, "ivanov", "Старый")
    old.headers[protocol.SCHEMA_HEADER] = "5"
    for name in ("claims", "absences"):
        r = old.post("/sync/v1/bootstrap", {"watermark": None, "type": name, "after": None})
        assert r.status_code == 400 and "schema 6" in r.json()["message"], r.text
