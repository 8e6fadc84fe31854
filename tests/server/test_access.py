"""Who sees and changes what, through every API path; refusals change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from crm import access, records
from crm.database import Database
from crm.models import Counterparty, Share, User
from tests.conftest import make_user
from tests.server.conftest import Api


def _cp(api: Api, h: dict[str, str], name: str, **extra: Any) -> dict[str, Any]:
    return api.create(h, "counterparties", legal_name=name, **extra)


def test_private_counterparty_of_another_salesperson_is_invisible_and_untouchable(api: Api) -> None:
    ivanov = api.user("ivanov", team="Москва")
    petrova = api.user("petrova", team="Москва")
    secret = _cp(api, ivanov, "ООО Тайный клиент", notes="скидка 15%")
    url = f"/api/v1/counterparties/{secret['id']}"

    assert api.client.get(url, headers=petrova).status_code == 404
    assert api.client.get("/api/v1/counterparties", headers=petrova).json()["total"] == 0
    assert (
        api.client.get("/api/v1/counterparties", headers=petrova, params={"q": "тайный"}).json()[
            "total"
        ]
        == 0
    )
    assert api.client.patch(url, json={"notes": "взлом"}, headers=petrova).status_code == 404
    assert api.client.delete(url, headers=petrova).status_code == 404
    r = api.client.post(
        "/api/v1/contact-persons",
        headers=petrova,
        json={"counterparty_id": secret["id"], "full_name": "Шпион"},
    )
    assert (
        r.status_code == 422 and "no Counterparty" in r.json()["details"]["counterparty_id"]
    )  # as if missing
    r = api.client.post(
        "/api/v1/interactions",
        headers=petrova,
        json={"counterparty_id": secret["id"], "starts_at": "2026-11-01T10:00:00Z"},
    )
    assert r.status_code == 422

    after = api.client.get(url, headers=ivanov).json()
    assert after["notes"] == "скидка 15%" and after["version"] == 1
    assert api.client.get("/api/v1/contact-persons", headers=ivanov).json()["total"] == 0
    assert api.client.get("/api/v1/interactions", headers=ivanov).json()["total"] == 0


def test_manager_sees_and_changes_team_records_but_not_other_teams(api: Api) -> None:
    ivanov = api.user("ivanov", team="Москва")
    kuznetsova = api.user("kuznetsova", team="Санкт-Петербург")
    manager = api.user("manager", role="manager", team="Москва")
    mine = _cp(api, ivanov, "ООО Московский клиент")
    spb = _cp(api, kuznetsova, "ООО Питерский клиент")
    names = {
        c["legal_name"]
        for c in api.client.get("/api/v1/counterparties", headers=manager).json()["items"]
    }
    assert names == {"ООО Московский клиент"}
    assert (
        api.client.patch(
            f"/api/v1/counterparties/{mine['id']}", json={"stage": "active"}, headers=manager
        ).status_code
        == 200
    )
    assert api.client.get(f"/api/v1/counterparties/{spb['id']}", headers=manager).status_code == 404


def test_team_and_company_visibility(api: Api) -> None:
    ivanov = api.user("ivanov", team="Москва")
    petrova = api.user("petrova", team="Москва")
    kuznetsova = api.user("kuznetsova", team="Санкт-Петербург")
    team = _cp(api, ivanov, "ООО Командный", visibility="team")
    company = _cp(api, ivanov, "ООО Общий", visibility="company")
    # A teammate sees and edits a team counterparty; the other team does not see it.
    assert (
        api.client.patch(
            f"/api/v1/counterparties/{team['id']}", json={"notes": "ok"}, headers=petrova
        ).status_code
        == 200
    )
    assert (
        api.client.get(f"/api/v1/counterparties/{team['id']}", headers=kuznetsova).status_code
        == 404
    )
    # Everyone sees a company counterparty and may log a call with it, but only its owner's side edits it.
    assert (
        api.client.get(f"/api/v1/counterparties/{company['id']}", headers=kuznetsova).status_code
        == 200
    )
    assert (
        api.client.patch(
            f"/api/v1/counterparties/{company['id']}", json={"notes": "x"}, headers=kuznetsova
        ).status_code
        == 403
    )
    call = api.client.post(
        "/api/v1/interactions",
        headers=kuznetsova,
        json={
            "counterparty_id": company["id"],
            "starts_at": "2026-11-01T10:00:00Z",
            "subject": "Звонок",
        },
    )
    assert call.status_code == 201
    assert (
        api.client.get(f"/api/v1/counterparties/{company['id']}", headers=ivanov).json()["notes"]
        is None
    )


def test_explicit_share_grants_read_or_edit(api: Api) -> None:
    ivanov = api.user("ivanov", team="Москва")
    kuznetsova = api.user("kuznetsova", team="Санкт-Петербург")
    cp = _cp(api, ivanov, "ООО Совместный")
    url = f"/api/v1/counterparties/{cp['id']}"
    kuz_id = api.client.get("/api/v1/me", headers=kuznetsova).json()["user"]["id"]
    share = api.create(ivanov, "shares", counterparty_id=cp["id"], user_id=kuz_id)
    assert api.client.get(url, headers=kuznetsova).status_code == 200
    assert api.client.patch(url, json={"notes": "x"}, headers=kuznetsova).status_code == 403
    api.client.patch(f"/api/v1/shares/{share['id']}", json={"can_edit": True}, headers=ivanov)
    assert api.client.patch(url, json={"notes": "x"}, headers=kuznetsova).status_code == 200
    # The shared user may not grant the record onwards to themselves... nor delete the grant owner's record.
    assert api.client.delete(f"/api/v1/shares/{share['id']}", headers=ivanov).status_code == 204
    assert api.client.get(url, headers=kuznetsova).status_code == 404


def test_salesperson_cannot_hand_a_client_to_a_colleague_but_manager_can(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    manager = api.user("manager", role="manager")
    petrova_id = api.client.get("/api/v1/me", headers=petrova).json()["user"]["id"]
    cp = _cp(api, ivanov, "ООО Передача")
    url = f"/api/v1/counterparties/{cp['id']}"
    assert api.client.patch(url, json={"owner_id": petrova_id}, headers=ivanov).status_code == 403
    assert api.client.get(url, headers=ivanov).json()["version"] == 1
    assert api.client.patch(url, json={"owner_id": petrova_id}, headers=manager).status_code == 200
    assert api.client.get(url, headers=petrova).status_code == 200


def test_users_and_teams_are_changed_by_admins_only(api: Api) -> None:
    ivanov = api.user("ivanov")
    admin = api.user("admin", role="admin", team=None)
    me = api.client.get("/api/v1/me", headers=ivanov).json()["user"]
    assert (
        api.client.patch(
            f"/api/v1/users/{me['id']}", json={"role": "admin"}, headers=ivanov
        ).status_code
        == 403
    )
    assert (
        api.client.post("/api/v1/teams", json={"name": "Казань"}, headers=ivanov).status_code == 403
    )
    assert (
        api.client.post("/api/v1/teams", json={"name": "Казань"}, headers=admin).status_code == 201
    )
    r = api.client.patch(f"/api/v1/users/{me['id']}", json={"is_active": False}, headers=admin)
    assert r.status_code == 200
    assert api.client.get("/api/v1/me", headers=ivanov).status_code == 401
    users = api.client.get("/api/v1/users", headers=admin).json()["items"]
    assert all("password_hash" not in u for u in users)


def test_reminder_for_a_colleague_needs_a_manager(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    manager = api.user("manager", role="manager")
    petrova_id = api.client.get("/api/v1/me", headers=petrova).json()["user"]["id"]
    body = {"title": "Позвонить", "due_at": "2026-12-01T09:00:00Z", "assignee_id": petrova_id}
    assert api.client.post("/api/v1/reminders", json=body, headers=ivanov).status_code == 403
    assert api.client.post("/api/v1/reminders", json=body, headers=manager).status_code == 201
    assert api.client.get("/api/v1/reminders", headers=petrova).json()["total"] == 1
    assert api.client.get("/api/v1/reminders", headers=ivanov).json()["total"] == 0


def test_a_message_to_a_colleague_about_a_client_they_both_see(api: Api) -> None:
    """Anyone who sees a client leaves a colleague who sees it too a reminder about it; not about a
    client the colleague does not see, nor about one the sender does not see."""
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    sidorov = api.user("sidorov", team="Питер")
    ids = {
        name: api.client.get("/api/v1/me", headers=h).json()["user"]["id"]
        for name, h in (("ivanov", ivanov), ("petrova", petrova), ("sidorov", sidorov))
    }
    shared = api.client.post(
        "/api/v1/counterparties",
        json={"legal_name": "ООО Общий", "visibility": "team"},
        headers=ivanov,
    ).json()["id"]
    private = api.client.post(
        "/api/v1/counterparties", json={"legal_name": "ООО Личный"}, headers=ivanov
    ).json()["id"]
    hers = api.client.post(
        "/api/v1/counterparties", json={"legal_name": "ООО Её"}, headers=petrova
    ).json()["id"]

    def message(headers: dict[str, str], to: str, about: str) -> int:
        body = {
            "title": "Перезвони им по счёту",
            "due_at": "2026-12-03T09:00:00Z",
            "assignee_id": ids[to],
            "subject_type": "counterparty",
            "subject_id": about,
        }
        return api.client.post("/api/v1/reminders", json=body, headers=headers).status_code

    assert message(ivanov, "petrova", shared) == 201  # a teammate's view of a team client
    assert message(ivanov, "petrova", private) == 422  # she does not see his private client
    assert message(ivanov, "sidorov", shared) == 422  # another team: he does not see it
    assert message(ivanov, "petrova", hers) in (403, 404, 422)  # he does not see hers
    got = api.client.get("/api/v1/reminders", headers=petrova).json()["items"]
    assert [(r["title"], r["counterparty_id"]) for r in got] == [("Перезвони им по счёту", shared)]
    assert api.client.get("/api/v1/reminders", headers=sidorov).json()["total"] == 0


# The SQL rule used for lists and the per-record rule must agree for every arrangement.
ROLES = st.sampled_from(["salesperson", "manager", "office", "admin"])
TEAMS = st.sampled_from(["Москва", "Казань", None])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    people=st.lists(st.tuples(ROLES, TEAMS), min_size=2, max_size=4),
    cps=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["private", "team", "company"]),
            st.sampled_from([None, "read", "edit"]),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_sql_visibility_agrees_with_record_rule(
    database: Database,
    people: list[tuple[str, str | None]],
    cps: list[tuple[int, str, str | None, int]],
) -> None:
    with database.write() as session:
        for table in (Share, Counterparty, User):
            session.execute(delete(table))
    users = [
        make_user(database, f"u{i}", role=role, team=team) for i, (role, team) in enumerate(people)
    ]
    with database.write() as session:
        for owner_i, visibility, share, grantee_i in cps:
            owner = users[owner_i % len(users)]
            cp = Counterparty(legal_name="ООО Тест", owner_id=owner.id, visibility=visibility)
            session.add(cp)
            session.flush()
            if share:
                session.add(
                    Share(
                        counterparty_id=cp.id,
                        user_id=users[grantee_i % len(users)].id,
                        can_edit=share == "edit",
                    )
                )
    rt = records.record_type("counterparties")
    with database.read() as session:
        everything = list(session.execute(select(Counterparty)).scalars())
        for user in users:
            listed = {c.id for c in records.list_records(session, user, rt, limit=500).items}
            assert listed == {c.id for c in everything if access.can_read(session, user, c)}
            for c in everything:
                if access.can_write(session, user, c):
                    assert c.id in listed, "whoever may change a record must see it"
            # A push asks once for all its counterparties (``access.remembering``): the same answers.
            alone = [
                (access.can_read(session, user, c), access.can_write(session, user, c))
                for c in everything
            ]
            with access.remembering(session, user, {c.id for c in everything}):
                assert [access.sight(session, user, c) for c in everything] == alone


def test_a_hidden_counterparty_and_a_missing_one_answer_alike(api: Api) -> None:
    import uuid

    ivanov = api.user("ivanov")
    petrova = api.user("petrova", team="Питер")
    hidden = api.create(petrova, "counterparties", legal_name="ООО Скрытая", visibility="private")
    answers = []
    for cp_id in (hidden["id"], str(uuid.uuid4())):
        for kind, data in (
            ("contact-persons", {"full_name": "Анна"}),
            ("deals", {"title": "Поставка"}),
            ("interactions", {"kind": "call", "subject": "Звонок"}),
        ):
            r = api.client.post(
                f"/api/v1/{kind}", json={"counterparty_id": cp_id, **data}, headers=ivanov
            )
            detail = r.json().get("details", {}).get("counterparty_id", "")
            answers.append((kind, r.status_code, r.json()["error"], detail.replace(cp_id, "ID")))
    assert answers[:3] == answers[3:] and {a[1] for a in answers} == {422}, answers
    # Moving one's own person onto the hidden client says the same.
    mine = api.create(ivanov, "counterparties", legal_name="ООО Своя")
    person = api.create(ivanov, "contact-persons", counterparty_id=mine["id"], full_name="Олег")
    r = api.client.patch(
        f"/api/v1/contact-persons/{person['id']}",
        json={"counterparty_id": hidden["id"]},
        headers=ivanov,
    )
    assert r.status_code == 422 and "no Counterparty" in r.json()["details"]["counterparty_id"]
    # A reminder about a hidden record names neither it nor the client behind it.
    hidden_person = api.create(
        petrova, "contact-persons", counterparty_id=hidden["id"], full_name="Тайна"
    )
    me = api.client.get("/api/v1/me", headers=ivanov).json()["user"]["id"]
    said = []
    for subject_id in (hidden_person["id"], str(uuid.uuid4())):
        r = api.client.post(
            "/api/v1/reminders",
            headers=ivanov,
            json={
                "title": "x",
                "due_at": "2026-12-05T10:00:00+03:00",
                "assignee_id": me,
                "subject_type": "contact_person",
                "subject_id": subject_id,
            },
        )
        said.append(
            (
                r.status_code,
                {k: v.replace(subject_id, "ID") for k, v in r.json()["details"].items()},
            )
        )
    assert said[0] == said[1] and hidden["id"] not in str(said), said
    # Another's device answers as a missing one.
    other_device = api.client.get("/api/v1/devices", headers=petrova).json()["items"][0]["id"]
    assert api.client.delete(f"/api/v1/devices/{other_device}", headers=ivanov).status_code == 404
    assert api.client.delete(f"/api/v1/devices/{uuid.uuid4()}", headers=ivanov).status_code == 404
    assert (
        api.client.get("/api/v1/devices", headers=petrova).json()["items"][0]["revoked_at"] is None
    )


def test_only_a_manager_makes_someone_else_responsible_for_an_interaction(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    manager = api.user("boss", role="manager")
    petrova_id = api.client.get("/api/v1/me", headers=petrova).json()["user"]["id"]
    cp = api.create(ivanov, "counterparties", legal_name="ООО Общая", visibility="company")
    meeting = {
        "counterparty_id": cp["id"],
        "kind": "meeting",
        "subject": "Встреча",
        "starts_at": "2026-12-03T10:00:00+03:00",
        "responsible_id": petrova_id,
    }
    r = api.client.post("/api/v1/interactions", json=meeting, headers=ivanov)
    assert r.status_code == 403, r.text
    assert api.client.get("/api/v1/interactions", headers=petrova).json()["total"] == 0
    mine = api.create(ivanov, "interactions", **{**meeting, "responsible_id": None})
    r = api.client.patch(
        f"/api/v1/interactions/{mine['id']}", json={"responsible_id": petrova_id}, headers=ivanov
    )
    assert r.status_code == 403, r.text
    assert api.client.post("/api/v1/interactions", json=meeting, headers=manager).status_code == 201


def test_a_user_changes_their_own_language_and_nothing_else_of_their_account(api: Api) -> None:
    """``locale`` is the user's own setting (crm.access.OWN_SETTINGS); role, team, login and the
    rest of the account stay an admin's, over REST and through a laptop's push alike."""
    headers = api.user("ivanov")
    me = api.client.get("/api/v1/me", headers=headers).json()["user"]
    other = api.user("petrova")
    her = api.client.get("/api/v1/me", headers=other).json()["user"]
    r = api.client.patch(f"/api/v1/users/{me['id']}", json={"locale": "en"}, headers=headers)
    assert r.status_code == 200 and r.json()["locale"] == "en", r.text
    for change in (
        {"role": "admin"},
        {"locale": "ru", "role": "admin"},
        {"full_name": "Иван"},
        {"is_active": False},
        {"login": "boss"},
    ):
        r = api.client.patch(f"/api/v1/users/{me['id']}", json=change, headers=headers)
        assert r.status_code == 403, (change, r.text)
    assert (
        api.client.patch(
            f"/api/v1/users/{her['id']}", json={"locale": "en"}, headers=headers
        ).status_code
        == 403
    )
    after = api.client.get(f"/api/v1/users/{me['id']}", headers=headers).json()
    assert (after["role"], after["locale"], after["full_name"], after["is_active"]) == (
        me["role"],
        "en",
        me["full_name"],
        True,
    )
    assert (
        api.client.get(f"/api/v1/users/{her['id']}", headers=headers).json()["locale"]
        == her["locale"]
    )


def test_work_given_to_someone_who_cannot_see_the_client_is_refused_and_links_do_not_tell_what_exists(
    api: Api,
) -> None:
    """Found by an outside probe: a manager gave ivanov a reminder and a call on petrova's private
    client; ivanov then held ids of a client he may not see (and could not open the call). And a
    link to a hidden record answered differently from a link to none."""
    boss = api.user("boss", role="manager", team="Москва")
    ivanov = api.user("ivanov", team="Москва")
    petrova = api.user("petrova", team="Москва")
    ivanov_id = api.client.get("/api/v1/me", headers=ivanov).json()["user"]["id"]
    secret = _cp(api, petrova, "ООО Тайный клиент", visibility="private")
    person = api.create(petrova, "contact-persons", counterparty_id=secret["id"], full_name="Анна")
    deal = api.create(petrova, "deals", counterparty_id=secret["id"], title="Поставка")
    before = api.client.get("/api/v1/reminders", headers=boss).json()["total"]
    for subject_type, subject_id in (
        ("counterparty", secret["id"]),
        ("contact_person", person["id"]),
        ("deal", deal["id"]),
    ):
        r = api.client.post(
            "/api/v1/reminders",
            headers=boss,
            json={
                "title": "Позвонить",
                "due_at": "2026-12-02T09:00:00Z",
                "assignee_id": ivanov_id,
                "subject_type": subject_type,
                "subject_id": subject_id,
            },
        )
        assert r.status_code == 422 and "cannot see" in r.json()["details"]["assignee_id"], r.text
    r = api.client.post(
        "/api/v1/interactions",
        headers=boss,
        json={
            "counterparty_id": secret["id"],
            "responsible_id": ivanov_id,
            "status": "planned",
            "starts_at": "2026-12-02T10:00:00Z",
        },
    )
    assert r.status_code == 422 and "cannot see" in r.json()["details"]["responsible_id"], r.text
    assert api.client.get("/api/v1/reminders", headers=boss).json()["total"] == before
    assert api.client.get("/api/v1/interactions", headers=ivanov).json()["total"] == 0
    # Shared with him, the same work is his to do.
    api.create(petrova, "shares", counterparty_id=secret["id"], user_id=ivanov_id)
    r = api.client.post(
        "/api/v1/interactions",
        headers=boss,
        json={
            "counterparty_id": secret["id"],
            "responsible_id": ivanov_id,
            "status": "planned",
            "starts_at": "2026-12-02T10:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    assert (
        api.client.patch(
            f"/api/v1/interactions/{r.json()['id']}", json={"status": "done"}, headers=ivanov
        ).status_code
        == 200
    )

    # A link to someone else's hidden person, deal or letter reads like a link to nothing.
    mine = _cp(api, ivanov, "ООО Мой клиент")
    call = api.create(
        ivanov, "interactions", counterparty_id=mine["id"], starts_at="2026-12-01T10:00:00Z"
    )
    hidden = _cp(api, petrova, "ООО Другой тайный", visibility="private")
    hidden_person = api.create(
        petrova, "contact-persons", counterparty_id=hidden["id"], full_name="Борис"
    )
    for field, hidden_id in (("contact_person_id", hidden_person["id"]),):
        answers = []
        for target in (hidden_id, "0b9f7d2e-0000-4000-8000-000000000000"):
            r = api.client.patch(
                f"/api/v1/interactions/{call['id']}", json={field: target}, headers=ivanov
            )
            assert r.status_code == 422, r.text
            answers.append(r.json()["details"][field].replace(target, "<id>"))
        assert answers[0] == answers[1], answers


def test_a_reminder_stays_filed_where_it_was_when_its_subject_moves_to_a_client_its_assignee_cannot_see(
    api: Api,
) -> None:
    """Found by an outside re-probe: a deal moved to a private client, then any edit of a reminder
    about it re-filed the reminder under that client, and its assignee's pull carried the client's id."""
    ivanov = api.user("ivanov", team="Москва")
    petrova = api.user("petrova", team="Питер")
    ivanov_id = api.client.get("/api/v1/me", headers=ivanov).json()["user"]["id"]
    shared = _cp(api, petrova, "ООО Общая", visibility="private")
    hidden = _cp(api, petrova, "ООО Тайная", visibility="private")
    api.create(petrova, "shares", counterparty_id=shared["id"], user_id=ivanov_id)
    deal = api.create(petrova, "deals", counterparty_id=shared["id"], title="Поставка")
    reminder = api.create(
        ivanov,
        "reminders",
        title="Перезвонить",
        due_at="2026-12-05T10:00:00+03:00",
        subject_type="deal",
        subject_id=deal["id"],
    )
    assert reminder["counterparty_id"] == shared["id"]
    r = api.client.patch(
        f"/api/v1/deals/{deal['id']}", json={"counterparty_id": hidden["id"]}, headers=petrova
    )
    assert r.status_code == 200, r.text
    r = api.client.patch(
        f"/api/v1/reminders/{reminder['id']}", json={"notes": "позвонил"}, headers=ivanov
    )
    assert r.status_code == 200 and r.json()["counterparty_id"] == shared["id"], r.text
    assert (
        hidden["id"]
        not in api.client.get(f"/api/v1/reminders/{reminder['id']}", headers=ivanov).text
    )
    # Pointing it at the moved deal anew is filing it under the hidden client: refused as if missing.
    r = api.client.patch(
        f"/api/v1/reminders/{reminder['id']}",
        headers=ivanov,
        json={"subject_type": "counterparty", "subject_id": hidden["id"]},
    )
    assert r.status_code == 422 and hidden["id"] not in str(r.json()["details"]).replace(
        f"no Counterparty with id {hidden['id']}", ""
    ), r.text
