"""A conflict resolution never does what its author could not do directly, and hand-over is the owner's
manager's (issue 10, part 1, items 1 and 2): each test is an attack that worked once."""

from __future__ import annotations

from typing import Any

from crm import changes
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create


def _version(api: Api) -> int:
    with api.database.read() as session:
        return changes.current(session)[0]


def _deleted_then_edited(
    api: Api, owner: Laptop, editor: Laptop, record: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """``owner`` deletes ``record`` that ``editor`` holds; ``editor`` pushes an edit of it: the conflict."""
    editor.pull()
    owner.pull()
    owner.push(
        {
            "op": "delete",
            "type": record["type"],
            "id": record["id"],
            "base_version": owner.versions[record["id"]],
        }
    )
    answer = editor.push(
        {
            "op": "update",
            "type": record["type"],
            "id": record["id"],
            "base_version": editor.versions[record["id"]],
            "fields": fields,
        }
    )
    assert answer["results"][0]["status"] == "conflict", answer
    editor.pull()
    [conflict] = [c for c in editor.conflicts if c["record_id"] == record["id"]]
    assert conflict["kind"] == "edit_deleted"
    return conflict


def _resolve(api: Api, laptop: Laptop, conflict_id: str, choice: str, value: Any = None) -> Any:
    return api.client.post(
        f"/api/v1/conflicts/{conflict_id}/resolve",
        json={"choice": choice, "value": value},
        headers=laptop.headers,
    )


def test_a_resolution_cannot_turn_a_deleted_share_into_edit_access_to_someone_elses_client(
    api: Api,
) -> None:
    from tests.conftest import make_user

    make_user(api.database, "ivanov")
    make_user(api.database, "petrova", team="Питер")
    attacker, victim = Laptop(api, "ivanov"), Laptop(api, "petrova")
    target = _create(legal_name="ООО Чужая тайна", visibility="private")
    victim.push(target)
    mine = _create(legal_name="ООО Своя")
    share = _create("shares", counterparty_id=mine["id"], user_id=victim.user_id, can_edit=False)
    attacker.push(mine, share)
    hijack = {"counterparty_id": target["id"], "user_id": attacker.user_id, "can_edit": True}
    # The edit itself carries the hijack, and the chosen value does too.
    conflict = _deleted_then_edited(api, attacker, attacker, share, can_edit=True)
    before = _version(api)
    for choice, value in [
        ("value", hijack),
        ("value", {"can_edit": True, "counterparty_id": target["id"]}),
    ]:
        r = _resolve(api, attacker, conflict["id"], choice, value)
        assert r.status_code == 403, r.text
    assert _version(api) == before
    url = f"/api/v1/counterparties/{target['id']}"
    assert api.client.get(url, headers=attacker.headers).status_code == 404
    assert api.client.patch(url, json={"notes": "моё"}, headers=attacker.headers).status_code == 404
    # A second deleted share, whose pushed edit itself points elsewhere: "mine" is refused too.
    share2 = _create("shares", counterparty_id=mine["id"], user_id=victim.user_id, can_edit=False)
    attacker.push(share2)
    conflict2 = _deleted_then_edited(api, attacker, attacker, share2, **hijack)
    assert _resolve(api, attacker, conflict2["id"], "mine").status_code == 403
    assert api.client.get(url, headers=attacker.headers).status_code == 404
    with api.database.read() as session:
        assert changes.log_entry(session, "shares", share2["id"]).deleted  # type: ignore[union-attr]
    # Restoring it where it was is still the owner's right.
    assert _resolve(api, attacker, conflict["id"], "mine").status_code == 200
    assert (
        api.client.get(f"/api/v1/shares/{share['id']}", headers=attacker.headers).json()["can_edit"]
        is True
    )


def test_a_resolution_cannot_create_a_person_on_a_client_the_resolver_may_only_read(
    api: Api,
) -> None:
    from tests.conftest import make_user

    make_user(api.database, "ivanov")
    make_user(api.database, "petrova", team="Питер")
    reader, owner = Laptop(api, "ivanov"), Laptop(api, "petrova")
    cp = _create(legal_name="ООО Открытая", visibility="company")
    person = _create("contact-persons", counterparty_id=cp["id"], full_name="Анна Смирнова")
    owner.push(cp, person)
    conflict = _deleted_then_edited(
        api, owner, reader, {"type": "contact-persons", "id": person["id"]}, position="директор"
    )
    before = _version(api)
    assert _resolve(api, reader, conflict["id"], "mine").status_code == 403
    assert (
        _resolve(api, reader, conflict["id"], "value", {"position": "бухгалтер"}).status_code == 403
    )
    assert _version(api) == before
    assert (
        api.client.get(f"/api/v1/contact-persons/{person['id']}", headers=owner.headers).status_code
        == 404
    )


def test_a_resolution_cannot_bring_back_a_company_client_as_the_resolvers_own(api: Api) -> None:
    from tests.conftest import make_user

    make_user(api.database, "ivanov")
    make_user(api.database, "petrova", team="Питер")
    reader, owner = Laptop(api, "ivanov"), Laptop(api, "petrova")
    cp = _create(legal_name="ООО Общая", visibility="company")
    owner.push(cp)
    conflict = _deleted_then_edited(
        api,
        owner,
        reader,
        {"type": "counterparties", "id": cp["id"]},
        notes="забираю",
        owner_id=reader.user_id,
    )
    before = _version(api)
    assert _resolve(api, reader, conflict["id"], "mine").status_code == 403
    assert (
        _resolve(api, reader, conflict["id"], "value", {"owner_id": reader.user_id}).status_code
        == 403
    )
    assert _resolve(api, reader, conflict["id"], "value", {"notes": "забираю"}).status_code == 403
    assert (
        _resolve(api, reader, conflict["id"], "value", {"legal_name": "ООО Моя"}).status_code == 403
    )
    assert _version(api) == before
    assert (
        api.client.get(f"/api/v1/counterparties/{cp['id']}", headers=reader.headers).status_code
        == 404
    )


def test_a_field_resolution_cannot_set_a_link_to_a_value_of_its_own(api: Api) -> None:
    from tests.conftest import make_user

    make_user(api.database, "boss", role="manager")
    make_user(api.database, "ivanov")
    make_user(api.database, "petrova")
    boss, one, two = Laptop(api, "boss"), Laptop(api, "ivanov"), Laptop(api, "petrova")
    cp = _create(legal_name="ООО Спорная", visibility="team")
    one.push(cp)
    boss.pull()
    one.pull()
    boss.push(boss.update(cp["id"], owner_id=two.user_id))
    answer = boss.push(
        boss.update(cp["id"], owner_id=boss.user_id)
    )  # sequential: no conflict with itself
    assert answer["results"][0]["status"] == "applied"
    other = Laptop(api, "boss", "Второй")
    other.pull()
    boss.push(boss.update(cp["id"], owner_id=one.user_id))
    other.versions[cp["id"]] = other.versions[cp["id"]] - 1
    answer = other.push(other.update(cp["id"], owner_id=two.user_id))
    other.pull()
    [conflict] = [c for c in other.conflicts if c["field"] == "owner_id"]
    r = _resolve(api, other, conflict["id"], "value", "00000000-0000-0000-0000-000000000000")
    assert r.status_code == 403, r.text
    assert _resolve(api, other, conflict["id"], "theirs").status_code == 200


def _me(api: Api, headers: dict[str, str]) -> str:
    return str(api.client.get("/api/v1/me", headers=headers).json()["user"]["id"])


def test_only_a_manager_of_both_or_an_admin_hands_a_client_over(api: Api) -> None:
    ivanov = api.user("ivanov")
    teammate = api.user("petrova")
    holder = api.user("kuznetsova", team="Питер")
    manager = api.user("boss", role="manager")
    admin = api.user("admin", role="admin", team=None)
    cp = api.create(ivanov, "counterparties", legal_name="ООО Команда", visibility="team")
    api.create(ivanov, "shares", counterparty_id=cp["id"], user_id=_me(api, holder), can_edit=True)
    url = f"/api/v1/counterparties/{cp['id']}"
    before = _version(api)
    for headers in (teammate, holder):
        me = _me(api, headers)
        assert api.client.patch(url, json={"owner_id": me}, headers=headers).status_code == 403
        assert (
            api.client.patch(
                url, json={"owner_id": me, "visibility": "private"}, headers=headers
            ).status_code
            == 403
        )
        assert (
            api.client.patch(url, json={"visibility": "private"}, headers=headers).status_code
            == 403
        )
        assert (
            api.client.patch(url, json={"notes": f"можно {me}"}, headers=headers).status_code == 200
        )
        before += 1
    for headers in (ivanov, teammate, manager, admin):
        r = api.client.patch(url, json={"owner_id": None}, headers=headers)
        assert r.status_code == 422 and "owner_id" in r.json()["details"], r.text
    assert _version(api) == before
    stored = api.client.get(url, headers=ivanov).json()
    assert stored["owner_id"] == _me(api, ivanov) and stored["visibility"] == "team"
    # The owner decides who sees it; the manager hands it over.
    assert api.client.patch(url, json={"visibility": "company"}, headers=ivanov).status_code == 200
    assert (
        api.client.patch(url, json={"owner_id": _me(api, teammate)}, headers=manager).status_code
        == 200
    )
    assert (
        api.client.patch(url, json={"owner_id": _me(api, holder)}, headers=manager).status_code
        == 403
    )
    assert (
        api.client.patch(url, json={"owner_id": _me(api, holder)}, headers=admin).status_code == 200
    )


def test_a_teammates_laptop_cannot_take_a_client_by_sync_either(api: Api) -> None:
    from tests.conftest import make_user

    make_user(api.database, "ivanov")
    make_user(api.database, "petrova")
    owner, teammate = Laptop(api, "ivanov"), Laptop(api, "petrova")
    cp = _create(legal_name="ООО Команда", visibility="team")
    owner.push(cp)
    teammate.pull()
    answer = teammate.push(
        teammate.update(cp["id"], owner_id=teammate.user_id, visibility="private")
    )
    assert answer["results"][0]["status"] == "refused"
    stored = api.client.get(f"/api/v1/counterparties/{cp['id']}", headers=owner.headers).json()
    assert stored["owner_id"] == owner.user_id and stored["visibility"] == "team"
