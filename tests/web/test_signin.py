"""Signing in and out: the same accounts and rate limit as the API; a browser session is a device."""

from __future__ import annotations

import re

from sqlalchemy import select

from crm import accounts
from crm.models import Device
from server.app import create_app
from tests.conftest import PASSWORD, SQLITE_ONLY
from tests.inprocess import InProcessClient
from tests.web.conftest import Web, csrf_in, user


def devices(web: Web) -> list[Device]:
    with web.database.read() as db:
        return list(db.execute(select(Device)).scalars())


@SQLITE_ONLY  # redirects and cookies, decided before or after the SQL
def test_a_stranger_is_sent_to_the_sign_in_form(web: Web) -> None:
    r = web.client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2F"
    page = web.get("/signin")
    assert page.status_code == 200
    assert 'name="password"' in page.text and "Вход" in page.text


def test_signing_in_makes_a_device_and_a_strict_cookie(web: Web) -> None:
    user(web.database, "ivanov")
    r = web.sign_in("ivanov")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("satchel_session="))
    assert (
        "HttpOnly" in cookie and "SameSite=strict" in cookie and re.search(r"; Path=/(;|$)", cookie)
    )
    assert "Secure" not in cookie  # plain http here; see the https test
    [device] = devices(web)
    assert device.name.startswith("Браузер") and device.revoked_at is None
    assert web.get("/").status_code == 200


@SQLITE_ONLY  # redirects and cookies, decided before or after the SQL
def test_over_https_the_cookie_is_secure(config, database) -> None:  # type: ignore[no-untyped-def]
    user(database, "ivanov")
    with InProcessClient(
        create_app(config, database), base_url="https://satchel.example"
    ) as client:
        page = client.get("/signin")
        r = client.post(
            "/signin",
            data={"login": "ivanov", "password": "correct-horse-42", "csrf": csrf_in(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303
        cookie = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith("satchel_session=")
        )
        assert "Secure" in cookie


def test_wrong_password_is_refused_and_counted(web: Web) -> None:
    user(web.database, "ivanov")
    for _ in range(5):
        r = web.sign_in("ivanov", password="wrong-password")
        assert r.status_code == 401
        assert "Неверный логин или пароль" in r.text
    # the same rate limit as the API: now even the right password waits
    r = web.sign_in("ivanov")
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert devices(web) == []


def test_sign_in_without_the_form_token_changes_nothing(web: Web) -> None:
    user(web.database, "ivanov")
    web.get("/signin")
    r = web.client.post(
        "/signin", data={"login": "ivanov", "password": "correct-horse-42"}, follow_redirects=False
    )
    assert r.status_code == 403
    r = web.client.post(
        "/signin",
        data={"login": "ivanov", "password": "correct-horse-42", "csrf": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert devices(web) == [] and "satchel_session" not in web.client.cookies


@SQLITE_ONLY  # redirects and cookies, decided before or after the SQL
def test_next_never_leaves_the_site(web: Web) -> None:
    user(web.database, "ivanov")
    page = web.get("/signin?next=//evil.example/x")
    r = web.client.post(
        "/signin",
        data={
            "login": "ivanov",
            "password": "correct-horse-42",
            "csrf": csrf_in(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_signing_out_revokes_the_device(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    token = web.client.cookies["satchel_session"]
    r = web.post("/signout", {})
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    [device] = devices(web)
    assert device.revoked_at is not None
    # the old cookie is worth nothing now
    web.client.cookies.set("satchel_session", token)
    assert web.client.get("/", follow_redirects=False).status_code == 303


def test_a_device_revoked_elsewhere_is_signed_out_at_once(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    web.sign_in("ivanov")
    [device] = devices(web)
    with web.database.write() as db:
        accounts.revoke_device(db, db.get_one(type(ivanov), ivanov.id), device.id)
    r = web.client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_a_disabled_user_is_signed_out(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    web.sign_in("ivanov")
    with web.database.write() as db:
        accounts.set_active(db, db.get_one(type(ivanov), ivanov.id), False)
    assert web.client.get("/", follow_redirects=False).status_code == 303


@SQLITE_ONLY  # redirects and cookies, decided before or after the SQL
def test_unknown_paths_still_answer_like_the_api(web: Web) -> None:
    r = web.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"] == "http_error"


def test_my_devices_are_listed_and_revocable_in_settings(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    with web.database.write() as db:
        laptop, _ = accounts.register_device(
            db, db.get_one(type(ivanov), ivanov.id), "Ноутбук Иванова"
        )
        hers, _ = accounts.register_device(
            db, db.get_one(type(petrova), petrova.id), "Ноутбук Петровой"
        )
    web.sign_in("ivanov")
    page = web.get("/settings").text
    assert "Ноутбук Иванова" in page and "этот браузер" in page and "Ноутбук Петровой" not in page
    assert (
        web.client.post(
            f"/settings/devices/{laptop.id}/revoke", data={}, follow_redirects=False
        ).status_code
        == 403
    )  # no CSRF token
    assert web.post(f"/settings/devices/{hers.id}/revoke", {}).status_code == 404
    r = web.post(f"/settings/devices/{laptop.id}/revoke", {})
    assert r.status_code == 303
    with web.database.read() as db:
        assert db.get_one(Device, laptop.id).revoked_at is not None
        assert db.get_one(Device, hers.id).revoked_at is None
    assert "отозвано" in web.get("/settings").text


@SQLITE_ONLY  # redirects and cookies, decided before or after the SQL
def test_next_and_back_stay_on_this_site_whatever_their_shape(web: Web) -> None:
    user(web.database, "ivanov")
    for target, landed in (
        ("/deals?mine=1", "/deals?mine=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("evil.example", "/"),
    ):
        page = web.client.get("/signin")
        r = web.client.post(
            "/signin",
            data={
                "login": "ivanov",
                "password": PASSWORD,
                "csrf": csrf_in(page.text),
                "next": target,
            },
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == landed, target
    for back, landed in (("/deals", "/deals"), ("//evil.example/", "/"), ("/\t/evil.example", "/")):
        r = web.post("/settings/language", {"locale": "ru", "back": back})
        assert r.status_code == 303 and r.headers["location"] == landed, back


def test_the_settings_list_this_browser_among_my_devices(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    page = web.get("/settings").text
    assert 'id="devices"' in page and "Мои устройства" in page and "этот браузер" in page
