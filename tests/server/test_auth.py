"""Logging in from devices, revoking them, disabling users, and the login rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from crm import accounts
from tests.conftest import make_user
from tests.server.conftest import Api


def test_login_creates_named_device_and_token_works(api: Api) -> None:
    headers = api.user("ivanov")
    r = api.client.get("/api/v1/me", headers=headers)
    assert r.status_code == 200
    assert r.json()["user"]["login"] == "ivanov"
    assert r.json()["device"]["name"] == "Ноутбук"
    assert "password_hash" not in r.json()["user"]


def test_wrong_password_and_unknown_login_look_the_same(api: Api) -> None:
    make_user(api.database, "ivanov")
    bad = api.client.post(
        "/api/v1/auth/login", json={"login": "ivanov", "password": "nope-nope", "device_name": "x"}
    )
    unknown = api.client.post(
        "/api/v1/auth/login", json={"login": "ghost", "password": "nope-nope", "device_name": "x"}
    )
    assert bad.status_code == unknown.status_code == 401
    assert bad.json()["message"] == unknown.json()["message"]


def test_no_or_bad_token_is_refused(api: Api) -> None:
    assert api.client.get("/api/v1/counterparties").status_code == 401
    r = api.client.get("/api/v1/counterparties", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_revoked_device_is_refused_at_once_other_device_keeps_working(api: Api) -> None:
    laptop = api.user("ivanov")
    phone = api.login("ivanov", device="Телефон")
    devices = api.client.get("/api/v1/devices", headers=phone).json()["items"]
    laptop_id = next(d["id"] for d in devices if d["name"] == "Ноутбук")
    assert api.client.delete(f"/api/v1/devices/{laptop_id}", headers=phone).status_code == 200
    r = api.client.post(
        "/api/v1/counterparties", json={"legal_name": "ООО Ромашка"}, headers=laptop
    )
    assert r.status_code == 401
    assert "revoked" in r.json()["message"]
    assert api.client.get("/api/v1/counterparties", headers=phone).json()["total"] == 0
    assert api.client.get("/api/v1/me", headers=phone).status_code == 200


def test_cannot_revoke_someone_elses_device(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    theirs = api.client.get("/api/v1/devices", headers=ivanov).json()["items"][0]["id"]
    assert (
        api.client.delete(f"/api/v1/devices/{theirs}", headers=petrova).status_code == 404
    )  # as a missing one (docs/access.md)
    assert api.client.get("/api/v1/me", headers=ivanov).status_code == 200


def test_logout_revokes_own_token(api: Api) -> None:
    headers = api.user("ivanov")
    assert api.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert api.client.get("/api/v1/me", headers=headers).status_code == 401


def test_disabled_user_is_refused_everywhere_at_once(api: Api) -> None:
    headers = api.user("ivanov")
    with api.database.write() as session:
        accounts.set_active(session, accounts.find_user(session, "ivanov"), False)
    assert api.client.get("/api/v1/me", headers=headers).status_code == 401
    r = api.client.post(
        "/api/v1/auth/login",
        json={"login": "ivanov", "password": "correct-horse-42", "device_name": "x"},
    )
    assert r.status_code == 401


def test_failed_logins_are_rate_limited_even_with_the_right_password(api: Api) -> None:
    make_user(api.database, "ivanov")
    for _ in range(5):
        r = api.client.post(
            "/api/v1/auth/login",
            json={"login": "ivanov", "password": "wrong-pass", "device_name": "x"},
        )
        assert r.status_code == 401
    r = api.client.post(
        "/api/v1/auth/login",
        json={"login": "ivanov", "password": "correct-horse-42", "device_name": "x"},
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    with api.database.read() as session:
        assert accounts.list_devices(session) == []


def test_login_body_must_be_well_formed(api: Api) -> None:
    assert api.client.post("/api/v1/auth/login", content=b"{not json").status_code == 400
    assert api.client.post("/api/v1/auth/login", json={"login": 1}).status_code == 400


def test_passwords_are_argon2id_and_tokens_stored_hashed(api: Api) -> None:
    from sqlalchemy import select

    from crm.models import Device, User

    make_user(api.database, "ivanov")
    r = api.client.post(
        "/api/v1/auth/login",
        json={"login": "ivanov", "password": "correct-horse-42", "device_name": "x"},
    )
    token = r.json()["token"]
    with api.database.read() as session:
        user = session.execute(select(User).where(User.login == "ivanov")).scalar_one()
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        stored = [d.token_hash for d in session.execute(select(Device)).scalars()]
    assert token not in stored
    assert accounts.token_hash(token) in stored


def test_a_request_with_a_body_looks_its_token_up_once_and_is_refused_if_revoked_meanwhile(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = api.user("ivanov")
    lookups = []
    real = accounts.authenticate
    monkeypatch.setattr(
        accounts,
        "authenticate",
        lambda session, token: lookups.append(token) or real(session, token),
    )
    r = api.client.post(
        "/api/v1/counterparties", json={"legal_name": "ООО Ромашка"}, headers=headers
    )
    assert r.status_code == 201 and len(lookups) == 1, r.text
    # Revoked between the token's check and the work's transaction (while the body was uploading):
    # the work's transaction reads the device again by its key and refuses.
    revoke = accounts.authenticate_device

    def revoked_meanwhile(session: Any, device_id: str) -> Any:
        with api.database.write() as other:
            accounts.revoke_device(other, None, device_id)
        return revoke(session, device_id)

    monkeypatch.setattr(accounts, "authenticate_device", revoked_meanwhile)
    r = api.client.post("/api/v1/counterparties", json={"legal_name": "ООО Лютик"}, headers=headers)
    assert r.status_code == 401 and "revoked" in r.json()["message"], r.text
    monkeypatch.setattr(accounts, "authenticate_device", revoke)
    admin = api.user("admin", role="admin")
    names = [
        c["legal_name"]
        for c in api.client.get("/api/v1/counterparties", headers=admin).json()["items"]
    ]
    assert names == ["ООО Ромашка"]
