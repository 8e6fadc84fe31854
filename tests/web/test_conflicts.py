"""The conflicts screen: both values side by side, resolved as an edit the person could make directly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.models import Counterparty, User
from crm.models.base import utcnow
from sync.models import Conflict
from tests.web.conftest import Web, create, read, user


def clash(
    web: Web,
    cp: Counterparty,
    server_by: User,
    client_by: User,
    field: str = "notes",
    values: tuple[str, str] = ("с сервера", "с ноутбука"),
) -> str:
    """An open field conflict as a push leaves it: the server's value stays on the record."""
    with web.database.write() as db:
        stored = db.get_one(Counterparty, cp.id)
        setattr(stored, field, values[0])
        db.add(stored)
        conflict = Conflict(
            kind="field",
            record_type="counterparties",
            record_id=cp.id,
            field=field,
            server_value=values[0],
            server_by=server_by.id,
            server_at=utcnow() - timedelta(hours=1),
            client_value=values[1],
            client_by=client_by.id,
            client_time="2026-12-01T09:00:00+03:00",
        )
        db.add(conflict)
        db.flush()
        return conflict.id


def conflict(web: Web, conflict_id: str) -> Conflict:
    return read(web.database, Conflict, conflict_id)  # type: ignore[no-any-return]


@pytest.fixture
def people(web: Web) -> dict[str, User]:
    return {
        "ivanov": user(web.database, "ivanov"),
        "sidorov": user(web.database, "sidorov"),
        "petrova": user(web.database, "petrova", team="Питер"),
        "office": user(web.database, "office", role="office"),
    }


def test_both_values_are_shown_with_authors_and_a_badge(web: Web, people: dict[str, User]) -> None:
    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="team",
    )
    conflict_id = clash(web, cp, people["sidorov"], people["ivanov"])
    web.sign_in("ivanov")
    page = web.get("/conflicts")
    assert page.status_code == 200
    assert "с сервера" in page.text and "с ноутбука" in page.text
    assert "Пользователь sidorov" in page.text and "Пользователь ivanov" in page.text
    assert "ООО «Ромашка»" in page.text and "Заметки" in page.text
    assert f'id="keep-client-{conflict_id}"' in page.text
    # the header of every screen counts them and links here
    assert 'href="/conflicts">Конфликты: 1</a>' in web.get("/").text
    # and the card says it has one
    assert "Открытые конфликты в этой карточке: 1" in web.get(f"/counterparties/{cp.id}").text


def test_keeping_my_value_writes_it_and_closes_the_conflict(
    web: Web, people: dict[str, User]
) -> None:
    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="team",
    )
    conflict_id = clash(web, cp, people["sidorov"], people["ivanov"])
    web.sign_in("ivanov")
    r = web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "mine"})
    assert r.status_code == 303 and r.headers["location"] == "/conflicts"
    assert read(web.database, Counterparty, cp.id).notes == "с ноутбука"
    closed = conflict(web, conflict_id)
    assert (closed.status, closed.resolution, closed.resolved_by) == (
        "resolved",
        "mine",
        people["ivanov"].id,
    )
    assert 'id="no-conflicts"' in web.get("/conflicts").text
    # resolving it again is told, not a crash
    assert web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "theirs"}).status_code in (
        404,
        409,
    )


def test_a_new_value_is_checked_like_an_edit(web: Web, people: dict[str, User]) -> None:
    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="team",
    )
    conflict_id = clash(
        web,
        cp,
        people["sidorov"],
        people["ivanov"],
        field="legal_name",
        values=("ООО «Ромашка-1»", "ООО «Ромашка-2»"),
    )
    web.sign_in("ivanov")
    r = web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "value", "value": "Я" * 600})
    assert r.status_code == 422
    assert f'id="value-{conflict_id}-error">Не более 500 символов' in r.text
    assert conflict(web, conflict_id).status == "open"
    assert read(web.database, Counterparty, cp.id).legal_name == "ООО «Ромашка-1»"
    r = web.post(
        f"/conflicts/{conflict_id}/resolve", {"choice": "value", "value": "ООО «Ромашка и К»"}
    )
    assert r.status_code == 303
    assert read(web.database, Counterparty, cp.id).legal_name == "ООО «Ромашка и К»"
    assert conflict(web, conflict_id).resolution == "value"


def test_a_conflict_on_a_record_i_cannot_see_is_not_there(
    web: Web, people: dict[str, User]
) -> None:
    cp = create(
        web.database, people["ivanov"], "counterparties", legal_name="ООО «Ромашка»"
    )  # private
    conflict_id = clash(web, cp, people["ivanov"], people["sidorov"])
    web.sign_in("petrova")
    assert "ООО «Ромашка»" not in web.get("/conflicts").text
    assert web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "theirs"}).status_code == 404
    assert conflict(web, conflict_id).status == "open"
    assert read(web.database, Counterparty, cp.id).notes == "с сервера"


def test_a_side_i_made_on_a_record_i_may_no_longer_change_is_refused(
    web: Web, people: dict[str, User]
) -> None:
    # Petrova made one side, but the card is only visible to her company-wide, not hers to change.
    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="company",
    )
    conflict_id = clash(web, cp, people["ivanov"], people["petrova"])
    web.sign_in("petrova")
    assert "с ноутбука" in web.get("/conflicts").text
    r = web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "mine"})
    assert r.status_code == 403
    assert read(web.database, Counterparty, cp.id).notes == "с сервера"
    assert conflict(web, conflict_id).status == "open"
    # office sees the card but neither made a side nor may change it: not their conflict
    web.client.cookies.clear()
    web.sign_in("office")
    assert web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "theirs"}).status_code == 404


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_resolution_without_the_token_changes_nothing(
    web: Web, people: dict[str, User], token: str | None
) -> None:
    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="team",
    )
    conflict_id = clash(web, cp, people["sidorov"], people["ivanov"])
    web.sign_in("ivanov")
    data = {"choice": "mine"} | ({"csrf": token} if token else {})
    assert (
        web.client.post(
            f"/conflicts/{conflict_id}/resolve", data=data, follow_redirects=False
        ).status_code
        == 403
    )
    assert conflict(web, conflict_id).status == "open"
    assert read(web.database, Counterparty, cp.id).notes == "с сервера"


def test_an_unknown_choice_is_shown_beside_the_conflict(web: Web, people: dict[str, User]) -> None:
    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="team",
    )
    conflict_id = clash(web, cp, people["sidorov"], people["ivanov"])
    web.sign_in("ivanov")
    r = web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "both"})
    assert r.status_code == 422 and f'id="value-{conflict_id}-error"' in r.text
    assert conflict(web, conflict_id).status == "open"


def test_a_delete_against_an_edit_shows_the_record_and_can_delete_it(
    web: Web, people: dict[str, User]
) -> None:
    from crm import records

    cp = create(
        web.database,
        people["ivanov"],
        "counterparties",
        legal_name="ООО «Ромашка»",
        visibility="team",
        notes="правка коллеги",
    )
    with web.database.write() as db:
        kept = records.to_dict(
            records.record_type("counterparties"), db.get_one(Counterparty, cp.id)
        )
        item = Conflict(
            kind="delete",
            record_type="counterparties",
            record_id=cp.id,
            server_value=kept,
            server_by=people["sidorov"].id,
            server_at=utcnow(),
            client_value=None,
            client_by=people["ivanov"].id,
        )
        db.add(item)
        db.flush()
        conflict_id = item.id
    web.sign_in("ivanov")
    page = web.get("/conflicts").text
    assert "notes: правка коллеги" in page and "created_at" not in page
    assert (
        "Удалить" in page and "Оставить запись" in page and f'id="value-{conflict_id}"' not in page
    )
    assert web.post(f"/conflicts/{conflict_id}/resolve", {"choice": "mine"}).status_code == 303
    assert read(web.database, Counterparty, cp.id) is None
