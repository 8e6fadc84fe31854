"""The duplicates screen and the merge form (crm.duplicates, crm.merge through the server's home), on
SQLite and PostgreSQL: the office merges a pair and nothing of the duplicate's history is lost;
whoever may not merge, may not see, sends no token or names two legal entities changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crm.database import Database
from crm.models import Counterparty, CounterpartyMerge, Interaction, User
from tests.clients.test_laptop_ui import card, laptops, rest, server
from tests.conftest import SQLITE_ONLY, make_user
from tests.crm.test_duplicates import inn10
from tests.web.conftest import Web, create, read, user

ROMASHKA_INN = inn10("770708389")


def _pair(web: Web, owner: User) -> tuple[Any, Any]:
    """A team client entered twice by its owner: the survivor with the INN, the duplicate with a
    phone, a region of its own, a contact person and two calls."""
    survivor = create(
        web.database,
        owner,
        "counterparties",
        legal_name="ООО «Ромашка»",
        inn=ROMASHKA_INN,
        region="Москва",
        visibility="team",
    )
    duplicate = create(
        web.database,
        owner,
        "counterparties",
        legal_name="Ромашка ООО",
        region="Московская область",
        contacts=[{"kind": "phone", "value": "+7 495 123-45-67"}],
        visibility="team",
    )
    person = create(
        web.database,
        owner,
        "contact-persons",
        counterparty_id=duplicate.id,
        full_name="Пётр Петров",
    )
    for subject in ("Звонок", "Встреча"):
        create(
            web.database,
            owner,
            "interactions",
            counterparty_id=duplicate.id,
            contact_person_id=person.id,
            kind="call",
            subject=subject,
            starts_at="2026-11-20T10:00:00Z",
        )
    return survivor, duplicate


def _form(survivor: Any, duplicate: Any) -> str:
    return f"/duplicates/merge?survivor={survivor.id}&absorbed={duplicate.id}"


def _under(web: Web, counterparty_id: str) -> int:
    with web.database.read() as db:
        return int(
            db.execute(
                select(func.count())
                .select_from(Interaction)
                .where(Interaction.counterparty_id == counterparty_id)  # type: ignore[arg-type]
            ).scalar_one()
        )


def _unchanged(web: Web, survivor: Any, duplicate: Any) -> None:
    assert read(web.database, Counterparty, duplicate.id) is not None
    kept = read(web.database, Counterparty, survivor.id)
    assert kept.version == survivor.version and kept.legal_name == survivor.legal_name
    assert _under(web, duplicate.id) == 2 and _under(web, survivor.id) == 0
    with web.database.read() as db:
        assert db.execute(select(func.count()).select_from(CounterpartyMerge)).scalar_one() == 0


def test_the_office_sees_the_pairs_and_merges_one_through_the_form(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "office", role="office", team=None)
    survivor, duplicate = _pair(web, ivanov)
    web.sign_in("office")
    assert 'href="/duplicates"' in web.get("/").text  # in the office's menu

    page = web.get("/duplicates")
    assert page.status_code == 200 and "<h1>Дубликаты</h1>" in page.text
    assert f'href="/counterparties/{survivor.id}"' in page.text
    assert f'href="/counterparties/{duplicate.id}"' in page.text
    assert ">название<" in page.text and "Объединить…" in page.text
    assert "/duplicates/merge?survivor=" in page.text

    form = web.get(_form(survivor, duplicate))
    assert form.status_code == 200 and "Объединение контрагентов" in form.text
    assert (
        'name="take_region"' in form.text
    )  # both have a region: a choice, the survivor's by default
    assert 'id="keep-region" value="" checked' in form.text
    assert 'name="take_legal_name"' in form.text
    assert 'name="take_inn"' not in form.text  # the duplicate has none: nothing to take
    assert "+7 495 123-45-67" in form.text  # the duplicate's phone joins the survivor's contacts
    assert "взаимодействия: 2" in form.text and "контактные лица: 1" in form.text
    assert f"survivor={duplicate.id}&amp;absorbed={survivor.id}" in form.text  # the swap link

    done = web.post(
        "/duplicates/merge",
        {"survivor": survivor.id, "absorbed": duplicate.id, "take_region": "1"},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/counterparties/{survivor.id}?merged=")
    assert read(web.database, Counterparty, duplicate.id) is None  # the duplicate is gone
    assert _under(web, survivor.id) == 2
    kept = read(web.database, Counterparty, survivor.id)
    assert kept.legal_name == "ООО «Ромашка»" and kept.region == "Московская область"
    assert any(c["kind"] == "phone" for c in kept.contacts)

    card = web.get(done.headers["location"])
    assert card.status_code == 200
    assert 'id="merged-notice"' in card.text and "Объединено: «Ромашка ООО»" in card.text
    assert "Поглощён «Ромашка ООО»" in card.text and "Пользователь office" in card.text
    assert "взаимодействия: 2" in card.text
    plain = web.get(f"/counterparties/{survivor.id}").text
    assert "Поглощён «Ромашка ООО»" in plain and 'id="merged-notice"' not in plain
    assert web.get(f"/counterparties/{duplicate.id}").status_code == 404
    # Merged once: the pair is gone from the list, and the form for it answers 404.
    assert "duplicates-empty" in web.get("/duplicates").text
    assert web.get(_form(survivor, duplicate)).status_code == 404


def test_the_screens_speak_english_too(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    survivor, duplicate = _pair(web, ivanov)
    web.sign_in("ivanov")
    web.post("/settings/language", {"locale": "en", "back": "/settings"})
    page = web.get("/duplicates").text
    assert "<h1>Duplicates</h1>" in page and ">name<" in page and "Merge…" in page
    form = web.get(_form(survivor, duplicate)).text
    assert "Merge counterparties" in form and "interactions: 2" in form


def test_branches_are_grouped_apart_and_never_offered(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    head = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="АО «Вектор»",
        inn=ROMASHKA_INN,
        kpp="770701001",
    )
    branch = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="АО «Вектор», филиал в Туле",
        inn=ROMASHKA_INN,
        kpp="710701001",
    )
    web.sign_in("ivanov")
    page = web.get("/duplicates").text
    assert 'id="branches"' in page and "филиал в Туле" in page and "duplicates-empty" in page
    # Named by hand, the merge is refused on the form, nothing changed.
    r = web.post("/duplicates/merge", {"survivor": head.id, "absorbed": branch.id})
    assert r.status_code == 422 and "головная организация и её филиал" in r.text
    assert read(web.database, Counterparty, branch.id) is not None


def test_a_teammate_who_may_see_but_not_merge_is_refused(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "sidorov")  # the same team: sees team clients, owns neither
    survivor, duplicate = _pair(web, ivanov)
    web.sign_in("sidorov")
    assert 'href="/duplicates"' not in web.get("/").text  # not in a salesperson's menu
    page = web.get("/duplicates")
    assert page.status_code == 200 and "Ромашка ООО" in page.text  # sees the pair
    assert web.get(_form(survivor, duplicate)).status_code == 403
    r = web.post("/duplicates/merge", {"survivor": survivor.id, "absorbed": duplicate.id})
    assert r.status_code == 403 and "merge-form" not in r.text
    # Swapping the two, or taking a field, changes nothing either.
    r = web.post(
        "/duplicates/merge",
        {"survivor": duplicate.id, "absorbed": survivor.id, "take_legal_name": "1"},
    )
    assert r.status_code == 403
    _unchanged(web, survivor, duplicate)


def test_a_stranger_gets_404_for_what_he_may_not_see(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrova", team="Питер")
    survivor, duplicate = _pair(web, ivanov)
    web.sign_in("petrova")
    page = web.get("/duplicates")
    assert (
        page.status_code == 200 and "Ромашка" not in page.text and "duplicates-empty" in page.text
    )
    assert web.get(_form(survivor, duplicate)).status_code == 404
    r = web.post("/duplicates/merge", {"survivor": survivor.id, "absorbed": duplicate.id})
    assert r.status_code == 404 and "Ромашка" not in r.text
    _unchanged(web, survivor, duplicate)


@SQLITE_ONLY  # refused by the CSRF check before any SQL runs
def test_a_merge_without_the_token_or_from_another_site_changes_nothing(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    survivor, duplicate = _pair(web, ivanov)
    web.sign_in("ivanov")
    data = {"survivor": survivor.id, "absorbed": duplicate.id}
    for token in (None, "", "0" * 64):
        sent = dict(data) if token is None else {**data, "csrf": token}
        r = web.client.post("/duplicates/merge", data=sent, follow_redirects=False)
        assert r.status_code == 403 and "merge-form" not in r.text
    r = web.post("/duplicates/merge", data, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "merge-form" not in r.text
    _unchanged(web, survivor, duplicate)


def test_two_inns_and_other_refusals_show_the_form_again(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "sidorov")
    user(web.database, "office", role="office", team=None)
    survivor, duplicate = _pair(web, ivanov)
    other = create(
        web.database, ivanov, "counterparties", legal_name="ООО «Вектор»", inn=inn10("500100732")
    )
    web.sign_in("ivanov")  # owns both: may merge, but not two legal entities
    assert web.get(_form(survivor, other)).status_code == 200
    r = web.post("/duplicates/merge", {"survivor": survivor.id, "absorbed": other.id})
    assert r.status_code == 422 and 'id="merge-error"' in r.text and 'id="merge-form"' in r.text
    assert "Два разных ИНН" in r.text
    assert read(web.database, Counterparty, other.id) is not None
    # A counterparty into itself, an unknown field, a missing or overlong id: refused, nothing made.
    itself = web.post("/duplicates/merge", {"survivor": survivor.id, "absorbed": survivor.id})
    assert itself.status_code == 422
    unknown = web.post(
        "/duplicates/merge",
        {"survivor": survivor.id, "absorbed": duplicate.id, "take": "password_hash"},
    )
    assert unknown.status_code == 422 and 'id="merge-error"' in unknown.text
    assert web.post("/duplicates/merge", {"survivor": survivor.id}).status_code == 400
    assert web.get(f"/duplicates/merge?survivor={survivor.id}").status_code == 400
    long = web.post("/duplicates/merge", {"survivor": survivor.id, "absorbed": "x" * 5000})
    assert long.status_code == 404
    assert web.get(f"/duplicates/merge?survivor={survivor.id}&absorbed=no-such").status_code == 404
    _unchanged(web, survivor, duplicate)

    # The office may merge, but not hand the survivor to the duplicate's other owner by taking it.
    with web.database.write() as db:
        cp = db.get_one(Counterparty, duplicate.id)
        cp.owner_id = db.execute(select(User.id).where(User.login == "sidorov")).scalar_one()
    web.client.cookies.clear()
    web.sign_in("office")
    form = web.get(_form(survivor, duplicate))
    assert form.status_code == 200 and 'name="take_owner_id"' in form.text
    r = web.post(
        "/duplicates/merge",
        {"survivor": survivor.id, "absorbed": duplicate.id, "take_owner_id": "1"},
    )
    assert r.status_code == 403 and 'id="merge-error"' in r.text and 'id="merge-form"' in r.text
    assert 'id="take-owner_id" value="1" checked' in r.text  # the choices sent are kept
    assert read(web.database, Counterparty, duplicate.id) is not None
    assert _under(web, duplicate.id) == 2


def test_the_menu_offers_it_to_the_office_and_managers(web: Web) -> None:
    user(web.database, "boss", role="manager")
    user(web.database, "admin", role="admin", team=None)
    web.sign_in("boss")
    assert 'href="/duplicates"' in web.get("/").text
    page = web.get("/duplicates")
    assert page.status_code == 200 and 'id="duplicates-empty"' in page.text
    web.client.cookies.clear()
    web.sign_in("admin")  # no room left in an admin's header; the screen is theirs all the same
    assert 'href="/duplicates"' not in web.get("/").text
    assert web.get("/duplicates").status_code == 200


__all__ = ["laptops", "server"]  # the laptop's fixtures, used below


@SQLITE_ONLY  # the laptop's screens over its own replica; the server's database does not matter
def test_the_laptop_has_no_merging(database: Database, server: Any, laptops: Any) -> None:
    """A laptop's home has no ``merge``: the screens answer 404 and its cards show no merges."""
    make_user(database, "ivanov")
    headers = rest(server, "ivanov")
    one = card(server, headers)
    two = card(server, headers, legal_name="Ромашка ООО")
    laptop = laptops("ivanov")
    laptop.launch()
    assert laptop.ui.get("/duplicates").status_code == 404
    assert (
        laptop.ui.get(f"/duplicates/merge?survivor={one['id']}&absorbed={two['id']}").status_code
        == 404
    )
    r = laptop.post("/duplicates/merge", {"survivor": one["id"], "absorbed": two["id"]})
    assert r.status_code == 404 and laptop.pending() == []
    page = laptop.ui.get(f"/counterparties/{one['id']}")
    assert page.status_code == 200 and "cp-merges" not in page.text
    assert "/duplicates" not in laptop.ui.get("/").text
