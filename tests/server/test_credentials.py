"""Tokens end when their user's credentials change; bad feed URLs never lock anyone out of login
(issue 10, items 8 and 9). Written as an attacker would probe it: try, be refused, read back."""

from __future__ import annotations

from typer.testing import CliRunner

from crm import accounts
from crm.database import Database
from server.commands import app
from tests.conftest import PASSWORD, make_user
from tests.server.conftest import Api

runner = CliRunner()


def _cli(database: Database, *args: str) -> None:
    result = runner.invoke(
        app, list(args), env={"SATCHEL_DATABASE_URL": database.url, "COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output


def _feed(api: Api, headers: dict[str, str], kind: str = "plan") -> str:
    r = api.client.post("/api/v1/feeds", headers=headers, json={"kind": kind})
    assert r.status_code == 201, r.text
    return r.json()["url"].split("://", 1)[1].split("/", 1)[1]


def _login(api: Api, login: str, password: str = PASSWORD) -> int:
    return api.client.post(
        "/api/v1/auth/login", json={"login": login, "password": password, "device_name": "Офис"}
    ).status_code


# -- item 8: feed-token failures are counted apart from login failures -------------------------


def test_bad_feed_urls_from_one_address_never_lock_it_out_of_login(api: Api) -> None:
    make_user(api.database, "ivanov")
    # An office behind one address, with an old subscription polling a revoked URL all day.
    for i in range(30):
        assert api.client.get(f"/calendar/stale-subscription-{i}.ics").status_code in (404, 429)
    assert api.client.get("/calendar/one-more.ics").status_code == 429  # guessing is still limited
    assert _login(api, "ivanov") == 201
    # Nor do they count towards the login limit: four wrong passwords still leave the fifth try.
    for _ in range(4):
        assert _login(api, "ivanov", "wrong-password") == 401
    assert _login(api, "ivanov") == 201


def test_failed_logins_do_not_use_up_the_feed_guess_allowance(api: Api) -> None:
    make_user(api.database, "ivanov")
    for _ in range(6):
        assert _login(api, "ivanov", "wrong-password") in (401, 429)
    assert _login(api, "ivanov") == 429  # the login limit still holds
    assert api.client.get("/calendar/typo.ics").status_code == 404  # a miss, not yet "too many"


# -- item 9: a password change or a disable ends every token of the user -----------------------


def test_password_change_ends_every_device_and_feed_token(api: Api) -> None:
    laptop = api.user("ivanov")
    phone = api.login("ivanov", device="Телефон")
    feed = _feed(api, laptop)
    assert api.client.get("/api/v1/me", headers=phone).status_code == 200
    assert api.client.get(feed).status_code == 200

    _cli(api.database, "user", "password", "ivanov", "--password", "a-brand-new-one")

    for headers in (laptop, phone):
        assert api.client.get("/api/v1/me", headers=headers).status_code == 401
        r = api.client.post(
            "/api/v1/counterparties", headers=headers, json={"legal_name": "ООО После смены"}
        )
        assert r.status_code == 401
    assert api.client.get(feed).status_code == 404
    assert _login(api, "ivanov") == 401  # the old password is gone too
    fresh = api.login("ivanov", password="a-brand-new-one")
    assert (
        api.client.get("/api/v1/counterparties", headers=fresh).json()["total"] == 0
    )  # nothing slipped in
    assert api.client.get(_feed(api, fresh)).status_code == 200


def test_disable_then_enable_on_the_command_line_revives_no_token(api: Api) -> None:
    laptop = api.user("ivanov")
    feed = _feed(api, laptop)
    _cli(api.database, "user", "disable", "ivanov")
    assert api.client.get("/api/v1/me", headers=laptop).status_code == 401
    _cli(api.database, "user", "enable", "ivanov")
    assert api.client.get("/api/v1/me", headers=laptop).status_code == 401
    assert api.client.get(feed).status_code == 404
    assert _login(api, "ivanov") == 201  # the user is back, with new tokens only


def test_disable_then_enable_over_rest_revives_no_token(api: Api) -> None:
    admin = api.user("admin", role="admin")
    laptop = api.user("ivanov")
    feed = _feed(api, laptop)
    me = api.client.get("/api/v1/me", headers=laptop).json()["user"]
    for active in (False, True):
        r = api.client.patch(f"/api/v1/users/{me['id']}", headers=admin, json={"is_active": active})
        assert r.status_code == 200, r.text
    assert api.client.get("/api/v1/me", headers=laptop).status_code == 401
    assert (
        api.client.post(
            "/api/v1/counterparties", headers=laptop, json={"legal_name": "ООО Призрак"}
        ).status_code
        == 401
    )
    assert api.client.get(feed).status_code == 404
    fresh = api.login("ivanov")
    assert api.client.get("/api/v1/counterparties", headers=fresh).json()["total"] == 0
    # The admin's own tokens are untouched.
    assert api.client.get("/api/v1/me", headers=admin).status_code == 200


def test_refused_credential_change_ends_nothing(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    me = api.client.get("/api/v1/me", headers=ivanov).json()["user"]
    assert api.client.patch(
        f"/api/v1/users/{me['id']}", headers=petrova, json={"is_active": False}
    ).status_code in (403, 404)
    assert api.client.get("/api/v1/me", headers=ivanov).status_code == 200
    with api.database.read() as session:
        assert accounts.find_user(session, "ivanov").is_active


def test_a_rehashed_password_at_login_ends_no_token(api: Api) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import update

    from crm.models import User

    laptop = api.user("ivanov")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(
        PASSWORD
    )  # needs a rehash
    with api.database.write() as session:
        session.execute(update(User).where(User.login == "ivanov").values(password_hash=weak))
    assert _login(api, "ivanov") == 201
    with api.database.read() as session:
        assert accounts.find_user(session, "ivanov").password_hash != weak
    assert api.client.get("/api/v1/me", headers=laptop).status_code == 200
