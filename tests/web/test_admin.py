"""Administration on the server's screens: only admins, through crm.accounts; a refused request changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.models import Device, User
from tests.web.conftest import Web, user


@pytest.fixture
def staff(web: Web) -> dict[str, User]:
    return {
        "admin": user(web.database, "admin", role="admin"),
        "ivanov": user(web.database, "ivanov"),
        "office": user(web.database, "office", role="office"),
    }


def stored(web: Web, login: str) -> User | None:
    with web.database.read() as db:
        return db.execute(select(User).where(User.login == login)).scalar_one_or_none()


def devices(web: Web, user_id: str) -> list[Device]:
    with web.database.read() as db:
        return list(db.execute(select(Device).where(Device.user_id == user_id)).scalars())


def test_an_admin_lists_and_adds_users(web: Web, staff: dict[str, User]) -> None:
    web.sign_in("admin")
    assert 'href="/admin/users"' in web.get("/").text  # the home's navigation offers it
    page = web.get("/admin/users")
    assert page.status_code == 200 and "ivanov" in page.text and "Офис" in page.text
    r = web.post(
        "/admin/users",
        {
            "login": "Sidorov",
            "full_name": "Сидоров Пётр",
            "role": "manager",
            "team": "Питер",
            "email": "sidorov@torgdom.ru",
            "password": "long-enough-1",
        },
    )
    assert r.status_code == 303
    made = stored(web, "sidorov")
    assert made is not None and (made.full_name, made.role, made.email) == (
        "Сидоров Пётр",
        "manager",
        "sidorov@torgdom.ru",
    )
    web.client.cookies.clear()
    assert web.sign_in("sidorov", "long-enough-1").status_code == 303


def test_problems_of_a_new_user_are_beside_their_fields(web: Web, staff: dict[str, User]) -> None:
    web.sign_in("admin")
    r = web.post(
        "/admin/users",
        {"login": "ivanov", "full_name": "Второй", "role": "salesperson", "password": "short"},
    )
    assert r.status_code == 422
    assert '<span class="field-error" id="u-password-error">Не менее 8 символов</span>' in r.text
    r = web.post(
        "/admin/users",
        {
            "login": "ivanov",
            "full_name": "Второй",
            "role": "salesperson",
            "password": "long-enough-1",
        },
    )
    assert (
        r.status_code == 422
        and '<span class="field-error" id="u-login-error">Этот логин уже занят</span>' in r.text
    )
    r = web.post(
        "/admin/users",
        {"login": "x" * 300, "full_name": " ", "role": "king", "password": "long-enough-1"},
    )
    assert r.status_code == 422 and 'id="u-login-error">Не более 100 символов' in r.text
    r = web.post(
        "/admin/users",
        {"login": "new", "full_name": " ", "role": "king", "password": "long-enough-1"},
    )
    assert (
        r.status_code == 422
        and 'id="u-full_name-error"' in r.text
        and 'id="u-role-error"' in r.text
    )
    assert stored(web, "new") is None


def test_disabling_ends_the_users_sessions_and_enabling_lets_them_in(
    web: Web, staff: dict[str, User]
) -> None:
    other = Web(web.client.__class__(web.client.app), web.database)
    with other.client:
        assert other.sign_in("ivanov").status_code == 303
        assert other.get("/").status_code == 200
        web.sign_in("admin")
        assert (
            web.post(f"/admin/users/{staff['ivanov'].id}/active", {"active": "0"}).status_code
            == 303
        )
        assert stored(web, "ivanov").is_active is False  # type: ignore[union-attr]
        assert other.get("/", follow_redirects=False).status_code == 303  # sent to sign in
        assert other.sign_in("ivanov").status_code == 401
        assert (
            web.post(f"/admin/users/{staff['ivanov'].id}/active", {"active": "1"}).status_code
            == 303
        )
        assert other.sign_in("ivanov").status_code == 303


def test_an_admin_cannot_disable_themselves(web: Web, staff: dict[str, User]) -> None:
    web.sign_in("admin")
    assert web.post(f"/admin/users/{staff['admin'].id}/active", {"active": "0"}).status_code == 403
    assert stored(web, "admin").is_active is True  # type: ignore[union-attr]


def test_setting_a_password_and_revoking_a_device(web: Web, staff: dict[str, User]) -> None:
    other = Web(web.client.__class__(web.client.app), web.database)
    with other.client:
        other.sign_in("ivanov")
        web.sign_in("admin")
        [device] = devices(web, staff["ivanov"].id)
        page = web.get(f"/admin/users/{staff['ivanov'].id}")
        assert page.status_code == 200 and device.name in page.text
        r = web.post(f"/admin/users/{staff['ivanov'].id}/devices/{device.id}/revoke", {})
        assert r.status_code == 303
        assert devices(web, staff["ivanov"].id)[0].revoked_at is not None
        assert other.get("/", follow_redirects=False).status_code == 303
        r = web.post(f"/admin/users/{staff['ivanov'].id}/password", {"password": "123"})
        assert r.status_code == 422 and 'id="p-password-error">Не менее 8 символов' in r.text
        assert (
            web.post(
                f"/admin/users/{staff['ivanov'].id}/password", {"password": "new-password-9"}
            ).status_code
            == 303
        )
        assert other.sign_in("ivanov").status_code == 401
        assert other.sign_in("ivanov", "new-password-9").status_code == 303
        # a device of another user is not this user's to revoke
        [admins] = [d for d in devices(web, staff["admin"].id) if d.revoked_at is None]
        assert (
            web.post(
                f"/admin/users/{staff['ivanov'].id}/devices/{admins.id}/revoke", {}
            ).status_code
            == 404
        )


@pytest.mark.parametrize("login", ["ivanov", "office"])
def test_anyone_but_an_admin_is_refused_and_nothing_changes(
    web: Web, staff: dict[str, User], login: str
) -> None:
    web.sign_in(login)
    assert 'href="/admin/users"' not in web.get("/").text
    target = staff["admin"].id
    for path in ("/admin/users", f"/admin/users/{target}"):
        r = web.get(path)
        assert (
            r.status_code == 403
            and 'id="users"' not in r.text
            and "Пользователь admin" not in r.text
        )
    assert (
        web.post(
            "/admin/users",
            {"login": "mole", "full_name": "Крот", "role": "admin", "password": "long-enough-1"},
        ).status_code
        == 403
    )
    assert web.post(f"/admin/users/{target}/active", {"active": "0"}).status_code == 403
    assert (
        web.post(f"/admin/users/{target}/password", {"password": "taken-over-1"}).status_code == 403
    )
    assert stored(web, "mole") is None and stored(web, "admin").is_active is True  # type: ignore[union-attr]
    web.client.cookies.clear()
    assert web.sign_in("admin").status_code == 303  # the password is still the old one


def test_admin_forms_need_the_token(web: Web, staff: dict[str, User]) -> None:
    web.sign_in("admin")
    r = web.client.post(
        f"/admin/users/{staff['ivanov'].id}/active", data={"active": "0"}, follow_redirects=False
    )
    assert r.status_code == 403 and stored(web, "ivanov").is_active is True  # type: ignore[union-attr]
    r = web.client.post(
        "/admin/users",
        data={
            "login": "mole",
            "full_name": "Крот",
            "role": "admin",
            "password": "long-enough-1",
            "csrf": "forged",
        },
        follow_redirects=False,
    )
    assert r.status_code == 403 and stored(web, "mole") is None
