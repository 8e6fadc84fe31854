"""Merging duplicate counterparties (crm.merge) over REST, the command line and sync, on SQLite and
PostgreSQL: the survivor keeps its values and takes the duplicate's where it has none, every record
of the duplicate moves and laptops pull the move, an offline edit to the duplicate lands on the
survivor; whoever may not merge is refused and nothing changes."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from crm.changes import ChangeLog
from crm.models import (
    ContactPerson,
    Counterparty,
    CounterpartyMerge,
    Interaction,
    Reminder,
    Share,
    User,
)
from mail.models import MailMessage, MailSuggestion
from server.commands import app
from sync.models import Conflict
from tests.crm.test_duplicates import inn10
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create

ROMASHKA_INN = inn10("770708389")


def _company(api: Api, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    return api.create(headers, "counterparties", **fields)


def _pair(api: Api, owner: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A client entered twice: the survivor with the INN, the duplicate with a phone, a website,
    notes, a person, two calls, a deal and reminders (one under it, one about it)."""
    survivor = _company(
        api,
        owner,
        legal_name="ООО «Ромашка»",
        inn=ROMASHKA_INN,
        tags=["опт"],
        notes="Платят в срок.",
        visibility="team",
    )
    duplicate = _company(
        api,
        owner,
        legal_name="Ромашка ООО",
        website="romashka.test",
        tags=["опт", "ювелирка"],
        contacts=[{"kind": "phone", "value": "+7 495 123-45-67"}],
        notes="Директор любит звонки до обеда.",
        visibility="team",
    )
    person = api.create(
        owner, "contact-persons", counterparty_id=duplicate["id"], full_name="Пётр Петров"
    )
    for subject in ("Звонок", "Встреча"):
        api.create(
            owner,
            "interactions",
            counterparty_id=duplicate["id"],
            contact_person_id=person["id"],
            kind="call",
            subject=subject,
            starts_at="2026-11-20T10:00:00Z",
        )
    api.create(owner, "deals", counterparty_id=duplicate["id"], title="Поставка колец")
    api.create(
        owner,
        "reminders",
        subject_type="counterparty",
        subject_id=duplicate["id"],
        title="Перезвонить",
        due_at="2026-12-10T09:00:00Z",
    )
    return survivor, duplicate


def _counts(api: Api, counterparty_id: str) -> dict[str, int]:
    with api.database.read() as session:
        return {
            model.__name__: session.execute(
                select(func.count())
                .select_from(model)
                .where(model.counterparty_id == counterparty_id)  # type: ignore[attr-defined]
            ).scalar_one()
            for model in (ContactPerson, Interaction, Reminder, Share)
        }


def test_office_merges_a_duplicate_and_nothing_of_its_history_is_lost(api: Api) -> None:
    owner = api.user("ivanov")
    office = api.user("office", role="office", team=None)
    laptop = Laptop(api, "ivanov")
    survivor, duplicate = _pair(api, owner)
    laptop.pull()
    before = _counts(api, duplicate["id"])
    assert before == {"ContactPerson": 1, "Interaction": 2, "Reminder": 1, "Share": 0}

    r = api.client.post(
        f"/api/v1/counterparties/{survivor['id']}/merge",
        json={"absorb": duplicate["id"]},
        headers=office,
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["moved"] == {
        "contact-persons": 1,
        "deals": 1,
        "interactions": 2,
        "reminders": 1,
    }
    assert set(merged["taken"]) == {"website", "contacts", "tags", "notes"}
    assert merged["absorbed"]["legal_name"] == "Ромашка ООО"

    kept = api.client.get(f"/api/v1/counterparties/{survivor['id']}", headers=owner).json()
    assert kept["legal_name"] == "ООО «Ромашка»" and kept["inn"] == ROMASHKA_INN  # its own values
    assert kept["website"] == "romashka.test"  # taken where it had none
    assert kept["tags"] == ["опт", "ювелирка"]
    assert [c["value"] for c in kept["contacts"]] == ["+74951234567"]
    assert "Платят в срок." in kept["notes"] and "до обеда" in kept["notes"]
    assert _counts(api, survivor["id"]) == {**before}
    assert (
        api.client.get(f"/api/v1/counterparties/{duplicate['id']}", headers=owner).status_code
        == 404
    )
    # A search by the duplicate's phone finds the survivor.
    found = api.client.get(
        "/api/v1/counterparties", params={"q": "84951234567"}, headers=owner
    ).json()
    assert [i["id"] for i in found["items"]] == [survivor["id"]]

    # The laptop pulls the move: the duplicate goes, its records come under the survivor.
    changes = laptop.pull()
    assert ("delete", duplicate["id"]) in {(c["op"], c["id"]) for c in changes}
    moved = [r for r in laptop.records.values() if r.get("counterparty_id")]
    assert moved and {r["counterparty_id"] for r in moved} == {survivor["id"]}
    assert duplicate["id"] not in laptop.records

    # Explained afterwards: who, when, what it absorbed.
    listed = api.client.get(f"/api/v1/counterparties/{survivor['id']}/merges", headers=owner).json()
    [explained] = listed["items"]
    assert explained["absorbed_id"] == duplicate["id"] and explained["merged_by"]
    with api.database.read() as session:
        log = session.get(ChangeLog, ("counterparties", duplicate["id"]))
        assert log is not None and log.deleted


def test_an_offline_edit_to_the_merged_duplicate_lands_on_the_survivor(api: Api) -> None:
    owner = api.user("ivanov")
    admin = api.user("boss", role="admin", team=None)
    survivor, duplicate = _pair(api, owner)
    one, two = Laptop(api, "ivanov", "Один"), Laptop(api, "ivanov", "Два")
    one.pull()
    two.pull()
    # Offline, before the merge: laptop one edits the duplicate and logs a call under it;
    # laptop two edits the survivor.
    offline_edit = one.update(duplicate["id"], actual_address="Москва, Тверская 1")
    offline_call = _create(
        "interactions",
        counterparty_id=duplicate["id"],
        kind="call",
        subject="С дороги",
        starts_at="2026-11-21T10:00:00Z",
    )
    r = api.client.post(
        f"/api/v1/counterparties/{survivor['id']}/merge",
        json={"absorb": duplicate["id"], "take": ["legal_name"]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    answer = one.push(offline_edit, offline_call)
    assert [x["status"] for x in answer["results"]] == ["applied", "applied"], answer
    kept = api.client.get(f"/api/v1/counterparties/{survivor['id']}", headers=owner).json()
    assert kept["actual_address"] == "Москва, Тверская 1"
    assert kept["legal_name"] == "Ромашка ООО"  # taken from the duplicate, as asked
    with api.database.read() as session:
        call = session.get(Interaction, offline_call["id"])
        assert call is not None and call.counterparty_id == survivor["id"]
    # A delete of the duplicate made offline deletes nothing.
    gone = two.push(
        {
            "op": "delete",
            "type": "counterparties",
            "id": duplicate["id"],
            "base_version": two.versions[duplicate["id"]],
        }
    )
    assert gone["results"][0]["status"] == "applied" and "merged into" in gone["results"][0]["note"]
    assert (
        api.client.get(f"/api/v1/counterparties/{survivor['id']}", headers=owner).status_code == 200
    )
    two.pull()
    assert two.records[survivor["id"]]["actual_address"] == "Москва, Тверская 1"
    assert offline_call["id"] in two.records


def test_who_may_not_merge_is_refused_and_nothing_changes(api: Api) -> None:
    owner = api.user("ivanov")
    colleague = api.user("sidorov")  # the same team: sees team clients, owns neither
    stranger = api.user("petrova", team="Питер")
    office = api.user("office", role="office", team=None)
    survivor, duplicate = _pair(api, owner)
    other = _company(api, owner, legal_name="ООО «Вектор»", inn=inn10("500100732"))
    branch = _company(
        api, owner, legal_name="ООО «Ромашка» филиал", inn=ROMASHKA_INN, kpp="771001001"
    )
    _company(api, owner, legal_name="Частная", visibility="private")
    before = _counts(api, duplicate["id"])

    def merge(headers: dict[str, str], into: str, absorb: str, **more: Any) -> Any:
        return api.client.post(
            f"/api/v1/counterparties/{into}/merge", json={"absorb": absorb, **more}, headers=headers
        )

    assert merge(stranger, survivor["id"], duplicate["id"]).status_code == 404  # sees neither
    assert merge(colleague, survivor["id"], duplicate["id"]).status_code == 403  # owns neither
    assert merge(owner, survivor["id"], survivor["id"]).status_code == 422
    two_inns = merge(owner, survivor["id"], other["id"])
    assert two_inns.status_code == 422 and "INN" in two_inns.json()["message"]
    with api.database.write() as session:  # the survivor with a KPP: the branch is another one
        cp = session.get(Counterparty, survivor["id"])
        assert cp is not None
        cp.kpp = "770701001"
    assert merge(owner, survivor["id"], branch["id"]).status_code == 422
    # The office may merge, but not hand the survivor to another owner by taking the duplicate's.
    with api.database.write() as session:
        cp = session.get(Counterparty, duplicate["id"])
        assert cp is not None
        cp.owner_id = session.execute(select(User.id).where(User.login == "sidorov")).scalar_one()
    for bad in (
        {"take": ["owner_id"]},
        {"take": ["no_such_field"]},
        {"take": "legal_name"},
        {"extra": 1},
    ):
        refused = merge(office, survivor["id"], duplicate["id"], **bad)
        assert refused.status_code in (400, 403, 422), (bad, refused.text)
    assert merge(owner, survivor["id"], "no-such-id").status_code == 404
    assert _counts(api, duplicate["id"]) == before
    with api.database.read() as session:
        assert (
            session.execute(select(func.count()).select_from(CounterpartyMerge)).scalar_one() == 0
        )
        assert session.get(Counterparty, duplicate["id"]) is not None


def test_the_owner_of_both_merges_from_the_command_line_and_the_mail_index_follows(
    api: Api,
) -> None:
    owner = api.user("ivanov")
    survivor, duplicate = _pair(api, owner)
    with api.database.write() as session:
        session.add(
            MailMessage(
                key="<a@romashka.test>",
                kind="business",
                counterparty_id=duplicate["id"],
                thread_id="<a@romashka.test>",
            )
        )
        session.add(MailSuggestion(address="new@romashka.test", counterparty_id=duplicate["id"]))
        session.add(
            MailSuggestion(address="same@romashka.test", counterparty_id=duplicate["id"], letters=2)
        )
        session.add(MailSuggestion(address="same@romashka.test", counterparty_id=survivor["id"]))
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "200"}
    runner = CliRunner()
    refused = runner.invoke(
        app, ["merge", survivor["id"], duplicate["id"], "--as", "ivanov"], env=env, input="n\n"
    )
    assert refused.exit_code != 0
    assert _counts(api, survivor["id"])["Interaction"] == 0
    done = runner.invoke(
        app, ["merge", survivor["id"], duplicate["id"], "--as", "ivanov", "--yes"], env=env
    )
    assert done.exit_code == 0, done.output
    assert "2 interactions" in done.output
    assert _counts(api, survivor["id"])["Interaction"] == 2
    with api.database.read() as session:
        row = session.get(MailMessage, "<a@romashka.test>")
        assert row is not None and row.counterparty_id == survivor["id"]
        suggestions = {
            s.address: s.letters for s in session.execute(select(MailSuggestion)).scalars()
        }
        assert suggestions == {"new@romashka.test": 1, "same@romashka.test": 3}
        assert {s.counterparty_id for s in session.execute(select(MailSuggestion)).scalars()} == {
            survivor["id"]
        }
    explained = runner.invoke(app, ["merges", survivor["id"], "--json"], env=env)
    assert explained.exit_code == 0, explained.output
    [row] = json.loads(explained.stdout)["items"]
    assert row["absorbed_id"] == duplicate["id"] and row["moved"]["interactions"] == 2
    listed = runner.invoke(app, ["merges", survivor["id"]], env=env)
    assert "ivanov" in listed.output and "Ромашка ООО" in listed.output


def test_taking_an_empty_value_never_blanks_the_survivors() -> None:
    from crm.merge import merged_values

    survivor = Counterparty(
        legal_name="ООО «Ромашка»", inn=ROMASHKA_INN, tags=["опт"], region="Москва"
    )
    duplicate = Counterparty(legal_name="Ромашка", inn=None, tags=[], region="Тула")
    values, taken = merged_values(survivor, duplicate, {"inn", "tags", "region", "legal_name"})
    assert values == {"region": "Тула", "legal_name": "Ромашка"}
    assert taken == ["legal_name", "region"]


def test_a_chain_of_merges_is_explained_and_an_unseen_survivor_is_never_named(api: Api) -> None:
    owner = api.user("ivanov")
    stranger_owner = api.user("sidorov")
    admin = api.user("boss", role="admin", team=None)
    first = _company(api, owner, legal_name="ООО «Первая»")
    second = _company(api, owner, legal_name="Первая ООО")
    third = _company(api, stranger_owner, legal_name="ООО «Первая» (склад)")  # private: sidorov's
    laptop = Laptop(api, "ivanov")
    laptop.pull()
    edit = laptop.update(first["id"], notes="с дороги")
    for into, absorb in ((second, first), (third, second)):
        r = api.client.post(
            f"/api/v1/counterparties/{into['id']}/merge",
            json={"absorb": absorb["id"]},
            headers=admin,
        )
        assert r.status_code == 200, r.text
    chain = api.client.get(f"/api/v1/counterparties/{third['id']}/merges", headers=admin).json()
    assert [m["absorbed_id"] for m in chain["items"]] == [second["id"], first["id"]]
    # ivanov may not see where his card went: his offline edit is refused, the survivor unnamed.
    answer = laptop.push(edit)
    [result] = answer["results"]
    assert result["status"] == "refused"
    assert third["id"] not in str(result) and "merged into another" in result["error"]["message"]
    with api.database.read() as session:
        kept = session.get(Counterparty, third["id"])
        assert kept is not None and kept.notes != "с дороги"
        assert session.execute(select(func.count()).select_from(Conflict)).scalar_one() == 0


def test_similar_refuses_what_a_create_would_refuse(api: Api) -> None:
    owner = api.user("ivanov")
    _company(api, owner, legal_name="ООО «Ромашка»", inn=ROMASHKA_INN)
    found = api.client.post(
        "/api/v1/duplicates/similar",
        json={"legal_name": "Ромашка", "inn": ROMASHKA_INN},
        headers=owner,
    )
    assert found.status_code == 200 and [i["legal_name"] for i in found.json()["items"]] == [
        "ООО «Ромашка»"
    ]
    for bad in (
        {"legal_name": "Ромашка", "inn": int(ROMASHKA_INN)},
        {"legal_name": "Ромашка", "contacts": "+7 495 123-45-67"},
        {"legal_name": {"x": 1}},
        {"legal_name": "Ромашка", "no_such_field": 1},
    ):
        r = api.client.post("/api/v1/duplicates/similar", json=bad, headers=owner)
        assert r.status_code in (400, 422), (bad, r.text)
