"""A push's mutations written together (one savepoint, the change log at the end) or one by one
(a savepoint each, the change log at every flush) give the same answers and leave the same data.

``sync.push._apply_all`` tries the first and falls back to the second when a mutation is refused;
``crm.changes.holding`` holds the change log's rows meanwhile. Here every push of a working day —
edits, a refused edit in the middle, an edit of a record deleted earlier in the same push, a hand
over, a contested field, a hidden client — is played in two companies alike, one with the
mutations written together and one with them written one by one, and the answers, the records,
the change log and the field versions are compared, ids and versions aside. On both databases.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from crm import changes
from crm.database import Database
from crm.models import ContactPerson, Counterparty
from server.app import create_app
from server.config import Config
from sync import held as told
from sync import push as push_verb
from sync.models import DeviceCursor
from tests.conftest import make_user, someone_waits_for_a_lock
from tests.inprocess import InProcessClient
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create, edit_of_deleted


@pytest.fixture
def api(config: Config, database: Database) -> Iterator[Api]:
    with InProcessClient(create_app(config, database)) as client:
        yield Api(client, database)


def _day(api: Api, suffix: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A salesperson's day of pushes in a company of its own (logins end in ``suffix``); the
    answers of each push, and the ids made, by role in the story."""
    make_user(api.database, f"ivanov{suffix}", team=f"Москва{suffix}")
    make_user(api.database, f"petrova{suffix}", team=f"Москва{suffix}")
    make_user(api.database, f"sidorov{suffix}", team=f"Питер{suffix}")
    mine = Laptop(api, f"ivanov{suffix}")
    colleague = Laptop(api, f"petrova{suffix}")
    stranger = Laptop(api, f"sidorov{suffix}")
    one = _create(legal_name="ООО Ромашка", inn="7707083893", visibility="team")
    two = _create(legal_name="ООО Лютик", visibility="team")
    three = _create(legal_name="ООО Василёк")
    hidden = _create(legal_name="ООО Чужая", visibility="private")
    stranger.push(hidden)
    person = _create("contact-persons", counterparty_id=one["id"], full_name="Анна Смирнова")
    answers = [mine.push(one, two, three, person)]
    mine.pull()
    colleague.pull()
    # The colleague changes the notes of the first client meanwhile.
    colleague.push(colleague.update(one["id"], notes="звонила Петрова"))
    answers.append(
        mine.push(
            mine.update(one["id"], notes="моя заметка", region="Москва"),  # notes contested
            mine.update(two["id"], inn="7707083890"),  # a wrong check digit: refused by the rules
            mine.update(two["id"], industry="Ювелирная розница", segment="B"),
            mine.update(person["id"], "contact-persons", position="Директор"),
            mine.update(person["id"], "contact-persons", position="Генеральный директор"),
        )
    )
    answers.append(
        mine.push(
            {
                "op": "delete",
                "type": "counterparties",
                "id": three["id"],
                "base_version": mine.versions[three["id"]],
            },
            mine.update(three["id"], notes="после удаления"),
            mine.update(two["id"], visibility="private"),  # who sees it changes
            mine.update(two["id"], notes="теперь только моя"),
            {
                "op": "update",
                "type": "counterparties",
                "id": hidden["id"],
                "base_version": 0,
                "fields": {"notes": "не моё"},
            },
            # A contact person under the hidden client: refused as under a missing one.
            _create("contact-persons", counterparty_id=hidden["id"], full_name="Чужой Контакт"),
            mine.update(one["id"], region="Тверь"),
        )
    )
    answers.append(
        mine.push(
            mine.update(one["id"], industry="Опт"),
            mine.update(one["id"], industry="Опт и розница", visibility="private"),
        )
    )
    answers.append(
        mine.push(
            # Moved to another client (a scope change of the person alone), then edited.
            mine.update(person["id"], "contact-persons", counterparty_id=two["id"]),
            mine.update(person["id"], "contact-persons", position="Коммерческий директор"),
        )
    )
    return answers, {
        "one": one["id"],
        "two": two["id"],
        "three": three["id"],
        "hidden": hidden["id"],
        "person": person["id"],
        "device": mine.device_id,
    }


def _outcome(api: Api, ids: dict[str, str], answers: list[dict[str, Any]]) -> dict[str, Any]:
    """What the day left, in terms that do not depend on ids or version numbers."""
    name = {v: k for k, v in ids.items() if k != "device"}
    mine = ids["device"]
    # A version is named by the push of the salesperson's that took it (each push takes one).
    taken = {a["version"]: i for i, a in enumerate(answers)}

    def push(version: int | None) -> int | str | None:
        return taken.get(version, "another's") if version else version

    def result(r: dict[str, Any]) -> tuple[Any, ...]:
        return (
            r["status"],
            (r.get("error") or {}).get("error"),
            r.get("note"),
            len(r.get("conflicts", [])),
        )

    with api.database.read() as session:
        records = {
            name[cp.id]: (cp.notes, cp.region, cp.industry, cp.segment, cp.visibility, cp.inn)
            for cp in session.execute(
                select(Counterparty).where(Counterparty.id.in_(list(ids.values())))
            ).scalars()
        }
        person = session.get(ContactPerson, ids["person"])
        records["person"] = (person.position,) if person else None
        versions = {}
        for record_type, key in (
            ("counterparties", "one"),
            ("counterparties", "two"),
            ("counterparties", "three"),
            ("counterparties", "hidden"),
            ("contact-persons", "person"),
        ):
            entry = changes.log_entry(session, record_type, ids[key])
            fields = changes.field_versions(session, record_type, ids[key])
            versions[key] = (
                entry is not None and entry.deleted,
                push(entry.version) if entry else None,
                push(entry.scope_version) if entry else None,
                entry.tombstone is not None if entry else None,
                # Which push changed each field last, and from which laptop.
                sorted((field, push(v), device == mine) for field, (v, device) in fields.items()),
            )
    return {
        "answers": [[result(r) for r in a["results"]] for a in answers],
        "records": records,
        "log": versions,
    }


def test_mutations_written_together_or_one_by_one_leave_the_same(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, ids = _day(api, "1")
    written_together = _outcome(api, ids, answers)
    monkeypatch.setattr(push_verb, "TOGETHER", False)
    answers, ids = _day(api, "2")
    one_by_one = _outcome(api, ids, answers)
    assert written_together == one_by_one
    # Not vacuous: the day has every kind of answer and leaves a deleted record, a scope change
    # and fields changed by several pushes.
    statuses = {r[0] for push in written_together["answers"] for r in push}
    assert statuses == {"applied", "refused", "conflict"}, written_together["answers"]
    assert written_together["log"]["three"][0] is True
    assert written_together["log"]["two"][2] == 2  # its scope changed in the third push
    assert written_together["records"]["person"] == ("Коммерческий директор",)
    # The contact person moved in the last push, and was edited after: its scope version stays.
    assert written_together["log"]["person"][2] == 4


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_new_laptops_cursor_made_by_two_transactions_at_once(api: Api) -> None:
    """A new laptop's first pull notes what it was told while its first push is written (two
    processes): the second transaction to make the device's cursor waits for the first and takes
    its row, where it used to fail on the duplicate key (a 409 to the laptop). PostgreSQL only:
    SQLite's writers never overlap."""
    make_user(api.database, "ivanov")
    laptop = Laptop(api, "ivanov")
    made = threading.Event()
    finish = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        with api.database.write() as session:
            told.start_telling(session, laptop.device_id, 0)  # the row, not committed yet
            made.set()
            finish.wait(60)

    def second() -> None:
        made.wait(60)
        try:
            with api.database.write() as session:
                outcome["last_seq"] = told.cursor_of(session, laptop.device_id).last_seq
        except Exception as exc:  # noqa: BLE001 - the outcome the test reads
            outcome["error"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    # Released once the second waits on the first's uncommitted row (a condition, not a sleep).
    waiting = someone_waits_for_a_lock(api.database, 30)
    finish.set()
    for thread in threads:
        thread.join(60)
    assert waiting, "the second transaction never waited for the first"
    assert outcome == {"last_seq": 0}
    with api.database.read() as session:
        assert session.get_one(DeviceCursor, laptop.device_id).told_since == 0


@pytest.mark.parametrize("together", [True, False])
def test_a_push_creating_taken_ids_or_children_of_hidden_clients_is_refused_those_alone(
    api: Api, monkeypatch: pytest.MonkeyPatch, together: bool
) -> None:
    """What a push asks once for all its creates (which ids are free, which clients its children go
    under) answers as each create asked alone would: an id another record has — a hidden one's
    too —, an id made twice in the push, a child under a client the user may not see are refused,
    each alone; a person created under a client the user sees is found by its phone at once."""
    monkeypatch.setattr(push_verb, "TOGETHER", together)
    make_user(api.database, "ivanov", team="Москва")
    make_user(api.database, "sidorov", team="Питер")
    mine, stranger = Laptop(api, "ivanov"), Laptop(api, "sidorov")
    hidden = _create(legal_name="ООО Чужая", visibility="private")
    stranger.push(hidden)
    client = _create(legal_name="ООО Ромашка")
    person = _create(
        "contact-persons",
        counterparty_id=client["id"],
        full_name="Анна Смирнова",
        contacts=[{"kind": "phone", "value": "+7 916 555-44-33"}],
    )
    twice = _create(legal_name="ООО Дважды")
    answer = mine.push(
        client,
        person,
        {**_create(legal_name="ООО Захват"), "id": hidden["id"]},  # a hidden client's id
        twice,
        {**twice, "fields": {"legal_name": "ООО Дважды снова"}},  # the same id again
        _create(
            "interactions",
            counterparty_id=hidden["id"],
            subject="Звонок",
            kind="call",
            starts_at="2026-11-20T09:00:00Z",
        ),
        _create("contact-persons", counterparty_id=hidden["id"], full_name="Шпион"),
        _create(
            "interactions",
            counterparty_id=client["id"],
            subject="Звонок",
            kind="call",
            starts_at="2026-11-20T09:00:00Z",
        ),
    )
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == [
        "applied",
        "applied",
        "refused",
        "applied",
        "refused",
        "refused",
        "refused",
        "applied",
    ], answer
    for refused in (answer["results"][2], answer["results"][4]):
        assert refused["error"]["error"] == "already_exists", refused
    for refused in answer["results"][5:7]:
        # As for a client that does not exist: the push does not tell that the hidden one does.
        assert refused["error"]["details"] == {
            "counterparty_id": f"no Counterparty with id {hidden['id']}"
        }, refused
    headers = {"Authorization": mine.headers["Authorization"]}
    found = api.client.get("/api/v1/counterparties", params={"q": "916 555-44"}, headers=headers)
    assert [c["id"] for c in found.json()["items"]] == [client["id"]], found.text
    with api.database.read() as session:
        assert session.get(Counterparty, hidden["id"]).legal_name == "ООО Чужая"  # type: ignore[union-attr]
        assert session.get(Counterparty, twice["id"]).legal_name == "ООО Дважды"  # type: ignore[union-attr]


@pytest.mark.parametrize("together", [True, False])
def test_a_create_of_an_id_a_resolution_restored_in_the_same_push_is_refused_as_taken(
    api: Api, monkeypatch: pytest.MonkeyPatch, together: bool
) -> None:
    """The ids a push's creates found free at its start stop being trusted after a resolution: it
    may bring a deleted record back under its id."""
    monkeypatch.setattr(push_verb, "TOGETHER", together)
    _one, two, cp, edited = edit_of_deleted(api)
    assert edited["results"][0]["status"] == "conflict"
    two.pull()
    [conflict] = two.conflicts
    answer = two.push(
        {"op": "resolve", "conflict_id": conflict["id"], "choice": "mine"},
        {**_create(legal_name="ООО Снова"), "id": cp["id"]},
    )
    assert [r["status"] for r in answer["results"]] == ["applied", "refused"], answer
    assert answer["results"][1]["error"]["error"] == "already_exists", answer
    with api.database.read() as session:
        assert session.get(Counterparty, cp["id"]).legal_name == "ООО Удалённая"  # type: ignore[union-attr]
