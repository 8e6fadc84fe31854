"""An attacker probing clients they do not see (SQLite and PostgreSQL): whatever a hidden client
has — an invitation to an event, a supplier's terms, a contact person, or nothing — the answer
to naming it is that of an id that does not exist, over REST, a batch and a laptop's push."""

from __future__ import annotations

import uuid
from typing import Any

from sync import protocol
from tests.conftest import PASSWORD
from tests.server.conftest import Api


def _answer(r: Any) -> tuple[int, Any]:
    body = r.json()
    body.pop("request_id", None)
    return r.status_code, body


def _masked(answer: tuple[int, Any], real: str, fake: str) -> Any:
    return str(answer).replace(real, "<ID>").replace(fake, "<ID>")


def _world(api: Api) -> dict[str, Any]:
    owner = api.user("owner")
    api.user("ivanov")
    ivanov = api.login("ivanov")
    pet = api.create(owner, "counterparties", legal_name="ООО Пэт", kinds=["client", "supplier"])
    plain = api.create(owner, "counterparties", legal_name="ООО Тихое", kinds=["client"])
    event = api.create(owner, "events", name="Выставка", kind="exhibition")
    api.create(owner, "event-participants", event_id=event["id"], counterparty_id=pet["id"])
    api.create(owner, "supplier-terms", counterparty_id=pet["id"], rating=4)
    person = api.create(owner, "contact-persons", counterparty_id=pet["id"], full_name="Пётр")
    return {
        "owner": owner,
        "ivanov": ivanov,
        "pet": pet["id"],
        "plain": plain["id"],
        "event": event["id"],
        "person": person["id"],
    }


def test_a_hidden_clients_invitation_is_not_told_over_rest_and_batch(api: Api) -> None:
    w = _world(api)
    fake = str(uuid.uuid4())

    def single(cp: str, **more: Any) -> tuple[int, Any]:
        body = {"event_id": w["event"], "counterparty_id": cp, **more}
        r = api.client.post("/api/v1/event-participants", json=body, headers=w["ivanov"])
        return _answer(r)

    invited, plain, missing = single(w["pet"]), single(w["plain"]), single(fake)
    assert invited[0] == 422, invited
    assert "already" not in str(invited)
    assert _masked(invited, w["pet"], fake) == _masked(missing, w["pet"], fake)
    assert _masked(plain, w["plain"], fake) == _masked(missing, w["plain"], fake)
    # Nor through its contact person, nor another field's problem alongside.
    with_person = single(w["pet"], contact_person_id=w["person"], status="bogus")
    missing_person = single(fake, contact_person_id=w["person"], status="bogus")
    assert _masked(with_person, w["pet"], fake) == _masked(missing_person, w["pet"], fake)

    def batch(cp: str) -> tuple[int, Any]:
        items = [{"event_id": w["event"], "counterparty_id": cp}]
        r = api.client.post(
            "/api/v1/event-participants/batch", json={"items": items}, headers=w["ivanov"]
        )
        return _answer(r)

    assert _masked(batch(w["pet"]), w["pet"], fake) == _masked(batch(fake), w["pet"], fake)


def test_a_hidden_suppliers_terms_are_not_told(api: Api) -> None:
    w = _world(api)
    fake = str(uuid.uuid4())

    def post(cp: str) -> tuple[int, Any]:
        r = api.client.post(
            "/api/v1/supplier-terms", json={"counterparty_id": cp, "rating": 3}, headers=w["ivanov"]
        )
        return _answer(r)

    with_terms, not_supplier, missing = post(w["pet"]), post(w["plain"]), post(fake)
    assert with_terms[0] == 422 and "already" not in str(with_terms)
    assert "not a supplier" not in str(not_supplier)
    assert _masked(with_terms, w["pet"], fake) == _masked(missing, w["pet"], fake)
    assert _masked(not_supplier, w["plain"], fake) == _masked(missing, w["plain"], fake)


def test_a_laptops_push_learns_nothing_of_a_hidden_client(api: Api) -> None:
    w = _world(api)
    fake = str(uuid.uuid4())
    r = api.client.post(
        "/api/v1/auth/login",
        json={"login": "ivanov", "password": PASSWORD, "device_name": "Ноут"},
    )
    device = r.json()["device"]["id"]
    headers = {"Authorization": f"Bearer {r.json()['token']}", **protocol.headers()}
    seq = 0

    def push(record_type: str, cp: str, **fields: Any) -> Any:
        nonlocal seq
        seq += 1
        mutation = {
            "seq": seq,
            "client_time": "2026-11-20T10:00:00Z",
            "op": "create",
            "type": record_type,
            "id": str(uuid.uuid4()),
            "fields": {"counterparty_id": cp, **fields},
        }
        answer = api.client.post(
            "/sync/v1/push",
            json={"device_id": device, "mutations": [mutation]},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()["results"][0]
        result.pop("seq", None)
        return result

    invited = push("event-participants", w["pet"], event_id=w["event"])
    missing = push("event-participants", fake, event_id=w["event"])
    assert "already" not in str(invited)
    assert str(invited).replace(w["pet"], "<ID>") == str(missing).replace(fake, "<ID>")
    terms = push("supplier-terms", w["pet"], rating=2)
    missing = push("supplier-terms", fake, rating=2)
    assert str(terms).replace(w["pet"], "<ID>") == str(missing).replace(fake, "<ID>")
