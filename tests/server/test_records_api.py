"""CRUD through the REST API in Russian, with validation and optimistic concurrency."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import Api

ROMASHKA: dict[str, Any] = {
    "legal_form": "ООО",
    "legal_name": "ООО «Ромашка»",
    "short_name": "Ромашка",
    "inn": "7707083893",
    "kpp": "773601001",
    "kinds": ["client", "supplier"],
    "contacts": [
        {"kind": "phone", "value": "8 (916) 123-45-67", "note": "директор"},
        {"kind": "email", "value": "Info@Romashka.RU"},
    ],
    "region": "Москва",
}


def test_create_get_update_delete_counterparty(api: Api) -> None:
    h = api.user("ivanov")
    created = api.create(h, "counterparties", **ROMASHKA)
    assert created["contacts"][0] == {"kind": "phone", "value": "+79161234567", "note": "директор"}
    assert created["contacts"][1]["value"] == "info@romashka.ru"
    assert created["version"] == 1
    me = api.client.get("/api/v1/me", headers=h).json()["user"]
    assert created["owner_id"] == me["id"] == created["created_by"]

    r = api.client.patch(
        f"/api/v1/counterparties/{created['id']}", json={"stage": "active"}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["stage"] == "active" and r.json()["version"] == 2
    assert r.json()["legal_name"] == "ООО «Ромашка»"
    assert r.headers["etag"] == '"2"'

    got = api.client.get(f"/api/v1/counterparties/{created['id']}", headers=h)
    assert got.json()["stage"] == "active"

    assert (
        api.client.delete(f"/api/v1/counterparties/{created['id']}", headers=h).status_code == 204
    )
    assert api.client.get(f"/api/v1/counterparties/{created['id']}", headers=h).status_code == 404


def test_stale_edit_is_refused_with_409_and_changes_nothing(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", **ROMASHKA)
    url = f"/api/v1/counterparties/{cp['id']}"
    assert (
        api.client.patch(
            url, json={"notes": "первая правка"}, headers={**h, "If-Match": '"1"'}
        ).status_code
        == 200
    )
    r = api.client.patch(url, json={"notes": "устаревшая правка"}, headers={**h, "If-Match": '"1"'})
    assert r.status_code == 409
    assert r.json()["details"]["current_version"] == 2
    assert api.client.get(url, headers=h).json()["notes"] == "первая правка"


def test_invalid_values_are_all_reported_and_nothing_is_stored(api: Api) -> None:
    h = api.user("ivanov")
    r = api.client.post(
        "/api/v1/counterparties",
        headers=h,
        json={
            "legal_name": " ",
            "inn": "7707083894",
            "kinds": ["friend"],
            "contacts": [{"kind": "phone", "value": "12"}],
            "stage": "nonsense",
        },
    )
    assert r.status_code == 422
    details = r.json()["details"]
    assert {"legal_name", "inn", "kinds", "contacts[0]", "stage"} <= set(details)
    assert "check digit" in details["inn"]
    assert api.client.get("/api/v1/counterparties", headers=h).json()["total"] == 0


def test_unknown_and_system_fields_are_refused(api: Api) -> None:
    h = api.user("ivanov")
    r = api.client.post(
        "/api/v1/counterparties", headers=h, json={"legal_name": "АО Вектор", "colour": "red"}
    )
    assert r.status_code == 422 and "colour" in r.json()["details"]
    cp = api.create(h, "counterparties", legal_name="АО Вектор")
    r = api.client.patch(
        f"/api/v1/counterparties/{cp['id']}", headers=h, json={"version": 99, "created_by": "x"}
    )
    assert r.status_code == 422
    assert api.client.get(f"/api/v1/counterparties/{cp['id']}", headers=h).json()["version"] == 1


def test_sole_trader_has_twelve_digit_inn_and_no_kpp(api: Api) -> None:
    h = api.user("ivanov")
    ok = api.client.post(
        "/api/v1/counterparties",
        headers=h,
        json={
            "legal_form": "ИП",
            "legal_name": "ИП Смирнов Алексей Петрович",
            "inn": "500100732259",
        },
    )
    assert ok.status_code == 201, ok.text
    bad = api.client.post(
        "/api/v1/counterparties",
        headers=h,
        json={"legal_name": "ИП Смирнов", "inn": "500100732259", "kpp": "773601001"},
    )
    assert bad.status_code == 422 and "kpp" in bad.json()["details"]
    # The legal form and the INN's length agree: an ИП with a company's INN, an ООО with a person's.
    for form, inn in (("ИП", "7707083893"), ("ООО", "500100732259"), ("и.п.", "7707083893")):
        r = api.client.post(
            "/api/v1/counterparties",
            headers=h,
            json={"legal_form": form, "legal_name": f"{form} Проверка", "inn": inn},
        )
        assert r.status_code == 422 and "inn" in r.json()["details"], (form, r.text)


def test_contact_person_interaction_deal_reminder_flow(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", **ROMASHKA)
    person = api.create(
        h,
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Петров Пётр Петрович",
        position="Директор по закупкам",
        birthday="1988-02-29",
        birthday_remind_days=5,
        contacts=[
            {"kind": "phone", "value": "+7 495 123-45-67 доб. 123"},
            {"kind": "extension", "value": "123"},
        ],
    )
    assert person["contacts"][0]["value"] == "+74951234567"
    assert person["contacts"][0]["ext"] == "123"
    deal = api.create(
        h,
        "deals",
        counterparty_id=cp["id"],
        title="Поставка колец",
        amount="1250000.50",
        stage="proposal",
        probability=60,
        expected_close="2026-12-20",
    )
    assert deal["amount"] == "1250000.50"
    meeting = api.create(
        h,
        "interactions",
        counterparty_id=cp["id"],
        contact_person_id=person["id"],
        deal_id=deal["id"],
        kind="meeting",
        status="planned",
        subject="Презентация коллекции",
        starts_at="2026-12-01T10:00:00+03:00",
        duration_minutes=60,
        importance="high",
        remind_at="2026-12-01T09:00:00+03:00",
    )
    assert meeting["starts_at"] == "2026-12-01T07:00:00Z"
    reminder = api.create(
        h,
        "reminders",
        title="Перезвонить после встречи",
        due_at="2026-12-02T09:00:00Z",
        subject_type="interaction",
        subject_id=meeting["id"],
    )
    assert reminder["counterparty_id"] == cp["id"]

    listed = api.client.get(
        "/api/v1/interactions", headers=h, params={"counterparty_id": cp["id"], "status": "planned"}
    )
    assert [i["id"] for i in listed.json()["items"]] == [meeting["id"]]

    lost = api.client.patch(f"/api/v1/deals/{deal['id']}", headers=h, json={"stage": "lost"})
    assert lost.status_code == 422 and "lost_reason" in lost.json()["details"]
    lost = api.client.patch(
        f"/api/v1/deals/{deal['id']}", headers=h, json={"stage": "lost", "lost_reason": "дорого"}
    )
    assert lost.status_code == 200

    # Deleting the counterparty takes its people, history, deals and reminders with it.
    assert api.client.delete(f"/api/v1/counterparties/{cp['id']}", headers=h).status_code == 204
    for kind in ("contact-persons", "interactions", "deals", "reminders"):
        assert api.client.get(f"/api/v1/{kind}", headers=h).json()["total"] == 0, kind


def test_naive_times_and_foreign_contact_person_are_refused(api: Api) -> None:
    h = api.user("ivanov")
    a = api.create(h, "counterparties", legal_name="ООО А")
    b = api.create(h, "counterparties", legal_name="ООО Б")
    person_b = api.create(h, "contact-persons", counterparty_id=b["id"], full_name="Сидоров С.")
    r = api.client.post(
        "/api/v1/interactions",
        headers=h,
        json={"counterparty_id": a["id"], "starts_at": "2026-12-01T10:00:00"},
    )
    assert r.status_code == 422 and "UTC offset" in r.json()["details"]["starts_at"]
    r = api.client.post(
        "/api/v1/interactions",
        headers=h,
        json={
            "counterparty_id": a["id"],
            "contact_person_id": person_b["id"],
            "starts_at": "2026-12-01T10:00:00Z",
        },
    )
    assert (
        r.status_code == 422 and "at this counterparty" in r.json()["details"]["contact_person_id"]
    )
    assert api.client.get("/api/v1/interactions", headers=h).json()["total"] == 0


def test_list_paginates_and_sorts_and_rejects_unknown_parameters(api: Api) -> None:
    h = api.user("ivanov")
    for name in ["ООО Вектор", "АО Альфа", "ООО Бета", "ИП Гаврилов"]:
        api.create(h, "counterparties", legal_name=name)
    first = api.client.get(
        "/api/v1/counterparties", headers=h, params={"limit": 2, "sort": "legal_name"}
    ).json()
    second = api.client.get(
        "/api/v1/counterparties", headers=h, params={"limit": 2, "offset": 2, "sort": "legal_name"}
    ).json()
    names = [c["legal_name"] for c in first["items"] + second["items"]]
    assert names == ["АО Альфа", "ИП Гаврилов", "ООО Бета", "ООО Вектор"]
    assert first["total"] == 4
    desc = api.client.get(
        "/api/v1/counterparties", headers=h, params={"sort": "-legal_name"}
    ).json()
    assert desc["items"][0]["legal_name"] == "ООО Вектор"
    assert (
        api.client.get("/api/v1/counterparties", headers=h, params={"sort": "password"}).status_code
        == 422
    )
    assert (
        api.client.get("/api/v1/counterparties", headers=h, params={"colour": "red"}).status_code
        == 422
    )
    assert (
        api.client.get("/api/v1/counterparties", headers=h, params={"limit": "many"}).status_code
        == 400
    )


def test_malformed_and_oversized_bodies(api: Api) -> None:
    h = api.user("ivanov")
    assert (
        api.client.post("/api/v1/counterparties", headers=h, content=b"\xff\xfe").status_code == 400
    )
    assert api.client.post("/api/v1/counterparties", headers=h, json=[1, 2]).status_code == 422
    huge = {"legal_name": "ООО Большая", "notes": "я" * 2_000_000}
    assert api.client.post("/api/v1/counterparties", headers=h, json=huge).status_code == 413
    assert api.client.get("/api/v1/counterparties", headers=h).json()["total"] == 0


def test_client_chosen_uuid_is_kept_and_duplicates_refused(api: Api) -> None:
    h = api.user("ivanov")
    rid = "6f1c5a7e-2b44-4c1e-9a55-0b7b1f2d3c4e"
    assert api.create(h, "counterparties", id=rid, legal_name="ООО Офлайн")["id"] == rid
    r = api.client.post(
        "/api/v1/counterparties", headers=h, json={"id": rid, "legal_name": "ООО Другая"}
    )
    assert r.status_code == 409


def test_same_values_in_another_format_are_no_change(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", **ROMASHKA)
    r = api.client.patch(
        f"/api/v1/counterparties/{cp['id']}",
        headers=h,
        json={
            "contacts": [
                {"kind": "phone", "value": "+7 916 123 45 67", "note": "директор"},
                {"kind": "email", "value": "INFO@romashka.ru"},
            ]
        },
    )
    assert r.status_code == 200
    assert r.json()["version"] == 1


def test_too_long_and_missing_values_are_validation_errors_on_every_backend(api: Api) -> None:
    h = api.user("ivanov")
    r = api.client.post(
        "/api/v1/counterparties",
        headers=h,
        json={"legal_name": "ООО Длинная", "legal_form": "О" * 40},
    )
    assert r.status_code == 422 and "at most 20" in r.json()["details"]["legal_form"]
    r = api.client.post("/api/v1/contact-persons", headers=h, json={"full_name": "Без компании"})
    assert r.status_code == 422 and r.json()["details"]["counterparty_id"] == "is required"
    cp = api.create(h, "counterparties", legal_name="ООО Пустая", kpp="")
    assert cp["kpp"] is None


def test_batch_create_is_all_or_nothing(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", legal_name="ООО Пакет")
    good = {
        "counterparty_id": cp["id"],
        "kind": "call",
        "starts_at": "2026-11-02T10:00:00Z",
        "subject": "Звонок",
    }
    r = api.client.post(
        "/api/v1/interactions/batch",
        headers=h,
        json={"items": [good, {**good, "kind": "telegram"}, {**good, "starts_at": "вчера"}]},
    )
    assert r.status_code == 422
    assert set(r.json()["details"]) == {"1.kind", "2.starts_at"}
    assert api.client.get("/api/v1/interactions", headers=h).json()["total"] == 0
    r = api.client.post("/api/v1/interactions/batch", headers=h, json={"items": [good] * 3})
    assert r.status_code == 201 and len(r.json()["items"]) == 3
    assert api.client.get("/api/v1/interactions", headers=h).json()["total"] == 3


def test_batch_refuses_what_the_user_may_not_touch(api: Api) -> None:
    ivanov = api.user("ivanov")
    petrova = api.user("petrova")
    secret = api.create(ivanov, "counterparties", legal_name="ООО Чужая")
    mine = api.create(petrova, "counterparties", legal_name="ООО Своя")
    item = {"kind": "call", "starts_at": "2026-11-02T10:00:00Z"}
    r = api.client.post(
        "/api/v1/interactions/batch",
        headers=petrova,
        json={
            "items": [
                {**item, "counterparty_id": mine["id"]},
                {**item, "counterparty_id": secret["id"]},
            ]
        },
    )
    assert r.status_code == 422 and set(r.json()["details"]) == {
        "1.counterparty_id"
    }  # as if it were missing
    assert api.client.get("/api/v1/interactions", headers=petrova).json()["total"] == 0
    assert (
        api.client.post(
            "/api/v1/interactions/batch", headers=petrova, json={"items": []}
        ).status_code
        == 422
    )
    assert (
        api.client.post("/api/v1/interactions/batch", headers=petrova, json=[item]).status_code
        == 400
    )


def test_batch_with_a_repeated_id_is_refused(api: Api) -> None:
    h = api.user("ivanov")
    cp = api.create(h, "counterparties", legal_name="ООО Повтор")
    item = {
        "id": "6f1c5a7e-2b44-4c1e-9a55-0b7b1f2d3c4e",
        "counterparty_id": cp["id"],
        "starts_at": "2026-11-02T10:00:00Z",
    }
    r = api.client.post("/api/v1/interactions/batch", headers=h, json={"items": [item, item]})
    assert r.status_code == 422 and set(r.json()["details"]) == {"0", "1"}
    assert api.client.get("/api/v1/interactions", headers=h).json()["total"] == 0


# The disk is "filled" with SQLite's own size limit (PRAGMA max_page_count); PostgreSQL has none.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_full_disk_is_a_clear_error_and_loses_nothing(api: Api) -> None:
    h = api.user("ivanov")
    kept = api.create(h, "counterparties", legal_name="ООО До заполнения")
    with api.database.engine.connect() as conn:  # the single writer connection keeps the limit
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
        conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")
        conn.rollback()
    big = {"legal_name": "ООО Большая", "notes": "я" * 200_000}
    r = api.client.post("/api/v1/counterparties", headers=h, json=big)
    assert r.status_code == 507
    assert r.json()["error"] == "storage_full" and "nothing was changed" in r.json()["message"]
    names = [
        c["legal_name"] for c in api.client.get("/api/v1/counterparties", headers=h).json()["items"]
    ]
    assert names == [kept["legal_name"]]


def test_batch_of_counterparties_is_searchable(api: Api) -> None:
    h = api.user("ivanov")
    r = api.client.post(
        "/api/v1/counterparties/batch",
        headers=h,
        json={
            "items": [
                {
                    "legal_name": "ООО Пакетная Первая",
                    "contacts": [{"kind": "phone", "value": "8 495 111-22-33"}],
                },
                {"legal_name": "ООО Пакетная Вторая", "inn": "7736207543"},
            ]
        },
    )
    assert r.status_code == 201
    found = api.client.get("/api/v1/counterparties", headers=h, params={"q": "пакетная"}).json()
    assert found["total"] == 2
    assert (
        api.client.get("/api/v1/counterparties", headers=h, params={"q": "111-22-33"}).json()[
            "total"
        ]
        == 1
    )
