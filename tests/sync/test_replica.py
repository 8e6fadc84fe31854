"""The field client's replica on its own: offline edits, the outbox, quarantine, bulk loads.

No network here. A bootstrap page is built from records made on the server's
database (SQLite and PostgreSQL) by the record service, so the round trip
wire → replica columns → ORM → wire is checked against what the server holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clients.replica import EVICTED, Replica
from crm import records
from crm.database import Database
from crm.errors import NotFound, ValidationFailed
from crm.models import User
from crm.models.base import construct
from sync import protocol
from tests.conftest import make_user

USERS = records.record_type("users")


def _user(login: str = "ivanov") -> dict[str, Any]:
    return records.to_dict(USERS, construct(User, login=login, full_name=f"Пользователь {login}"))


@pytest.fixture
def replica(tmp_path: Path) -> Any:
    r = Replica.open(tmp_path / "replica.db")
    r.remember_login(
        server="http://example.test", login="ivanov", token="t", device_id="d1", user=_user()
    )
    yield r
    r.close()


def _counterparty(replica: Replica, name: str = "ООО Ромашка", **extra: Any) -> dict[str, Any]:
    return replica.create("counterparties", {"legal_name": name, **extra})


def test_offline_edits_change_rows_at_once_and_queue_mutations_in_order(replica: Replica) -> None:
    cp = _counterparty(replica, contacts=[{"kind": "phone", "value": "8 (916) 123-45-67"}])
    assert cp["contacts"][0]["value"] == "+79161234567"  # the same rules as the server
    person = replica.create(
        "contact-persons", {"counterparty_id": cp["id"], "full_name": "Анна Петрова"}
    )
    replica.update("counterparties", cp["id"], {"notes": "перезвонить"})
    replica.update(
        "counterparties", cp["id"], {"notes": "перезвонить"}
    )  # no change: nothing queued
    replica.delete("contact-persons", person["id"])

    assert replica.get("counterparties", cp["id"])["notes"] == "перезвонить"
    with pytest.raises(NotFound):
        replica.get("contact-persons", person["id"])
    pending = replica.pending()
    assert [(m["seq"], m["op"], m["type"]) for m in pending] == [
        (1, "create", "counterparties"),
        (2, "create", "contact-persons"),
        (3, "update", "counterparties"),
        (4, "delete", "contact-persons"),
    ]
    create = pending[0]
    assert create["id"] == cp["id"] and "base_version" not in create
    assert create["fields"]["contacts"] == [{"kind": "phone", "value": "+79161234567"}]
    assert set(create["fields"]) <= {"id", *records.record_type("counterparties").writable}
    assert pending[2]["fields"] == {"notes": "перезвонить"} and pending[2]["base_version"] is None
    assert all(m["client_time"].endswith("Z") for m in pending)
    assert replica.status()["pending"] == 4


def test_a_refused_local_edit_changes_nothing(replica: Replica) -> None:
    cp = _counterparty(replica)
    with pytest.raises(ValidationFailed):
        replica.update("counterparties", cp["id"], {"inn": "123"})
    with pytest.raises(ValidationFailed):
        replica.create("counterparties", {"legal_name": "  "})
    assert replica.get("counterparties", cp["id"])["inn"] is None
    assert len(replica.pending()) == 1


def test_push_results_trim_the_outbox_and_refusals_go_to_quarantine(replica: Replica) -> None:
    cp = _counterparty(replica)
    replica.update("counterparties", cp["id"], {"notes": "a"})
    replica.update("counterparties", cp["id"], {"stage": "active"})
    outcome = replica.store_push_results(
        [
            {"seq": 1, "status": "applied", "version": 7},
            {
                "seq": 2,
                "status": "refused",
                "error": {"error": "permission_denied", "message": "нельзя"},
            },
        ]
    )
    assert (outcome.applied, outcome.refused) == (1, 1)
    assert outcome.refresh == [("counterparties", cp["id"])]
    assert replica.versions("counterparties") == {cp["id"]: 7}
    assert [m["seq"] for m in replica.pending()] == [3]
    [item] = replica.quarantine()
    assert item["reason"] == "нельзя" and item["mutation"]["fields"] == {"notes": "a"}

    retried = replica.retry(item["id"])
    assert retried["fields"] == {"notes": "a"}
    assert [m["seq"] for m in replica.pending()] == [3, 4]  # a new seq, never a reused one
    assert replica.quarantine() == []
    replica.store_push_results(
        [
            {"seq": 3, "status": "applied"},
            {"seq": 4, "status": "refused", "error": {"message": "нет"}},
        ]
    )
    [item] = replica.quarantine()
    replica.drop(item["id"])
    assert replica.quarantine() == [] and replica.pending() == []
    with pytest.raises(NotFound):
        replica.drop(item["id"])


def test_a_sequence_gap_renumbers_the_pending_mutations(replica: Replica) -> None:
    for name in ("А", "Б", "В"):
        _counterparty(replica, name)
    replica.store_push_results([{"seq": 1, "status": "applied"}])
    replica.resequence(1)
    assert [m["seq"] for m in replica.pending()] == [1, 2]
    _counterparty(replica, "Г")
    assert [m["seq"] for m in replica.pending()] == [1, 2, 3]


def test_resequence_closes_a_hole_in_the_middle_and_keeps_the_numbers_already_sent(
    replica: Replica,
) -> None:
    made = [_counterparty(replica, name) for name in ("А", "Б", "В", "Г")]  # seqs 1–4
    # The record of seq 3 leaves the user's scope: its create goes to quarantine, leaving a hole.
    replica.apply_pull(
        {
            "cursor": "9",
            "more": False,
            "conflicts": [],
            "changes": [
                {"op": "evict", "type": "counterparties", "id": made[2]["id"], "version": 9}
            ],
        }
    )
    assert [m["seq"] for m in replica.pending()] == [1, 2, 4]
    replica.resequence(2)  # the server applied seq 1 (its answer was lost) and expects 2
    assert [(m["seq"], m["id"]) for m in replica.pending()] == [
        (1, made[0]["id"]),
        (2, made[1]["id"]),
        (3, made[3]["id"]),
    ]
    _counterparty(replica, "Д")
    assert [m["seq"] for m in replica.pending()] == [1, 2, 3, 4]


def test_renumber_moves_the_whole_outbox_after_the_servers_last_seq(replica: Replica) -> None:
    made = [_counterparty(replica, name) for name in ("А", "Б")]
    replica.renumber(7)  # a restored replica: the server applied 1–6 for other mutations
    assert [(m["seq"], m["id"]) for m in replica.pending()] == [
        (7, made[0]["id"]),
        (8, made[1]["id"]),
    ]
    _counterparty(replica, "В")
    assert [m["seq"] for m in replica.pending()] == [7, 8, 9]


def test_evict_moves_pending_edits_to_quarantine_and_removes_what_is_seen_through_it(
    replica: Replica,
) -> None:
    cp = _counterparty(replica)
    person = replica.create("contact-persons", {"counterparty_id": cp["id"], "full_name": "Анна"})
    replica.store_push_results(
        [
            {"seq": 1, "status": "applied", "version": 5},
            {"seq": 2, "status": "applied", "version": 5},
        ]
    )
    replica.update("contact-persons", person["id"], {"position": "директор"})
    replica.update("counterparties", cp["id"], {"notes": "мой"})
    counts = replica.apply_pull(
        {
            "cursor": "9",
            "more": False,
            "reset": False,
            "conflicts": [],
            "changes": [{"op": "evict", "type": "counterparties", "id": cp["id"], "version": 9}],
        }
    )
    assert counts == {"upserts": 0, "evicts": 1, "deletes": 0}
    assert replica.snapshot("counterparties") == {} and replica.snapshot("contact-persons") == {}
    assert replica.versions("counterparties") == {} and replica.pending() == []
    quarantined = replica.quarantine()
    assert {q["mutation"]["id"] for q in quarantined} == {cp["id"], person["id"]}
    assert all(q["reason"] == EVICTED for q in quarantined)
    assert replica.state("cursor") == "9"


def test_a_pull_upsert_keeps_showing_the_users_pending_edit(replica: Replica) -> None:
    cp = _counterparty(replica)
    replica.store_push_results([{"seq": 1, "status": "applied", "version": 3}])
    replica.update("counterparties", cp["id"], {"notes": "моя правка"})
    theirs = {**cp, "region": "Тверь", "notes": None, "version": 2}
    replica.apply_pull(
        {
            "cursor": "4",
            "more": False,
            "conflicts": [],
            "changes": [
                {
                    "op": "upsert",
                    "type": "counterparties",
                    "id": cp["id"],
                    "version": 4,
                    "record": theirs,
                }
            ],
        }
    )
    local = replica.get("counterparties", cp["id"])
    assert (local["region"], local["notes"]) == ("Тверь", "моя правка")
    assert replica.versions("counterparties") == {cp["id"]: 4}
    assert replica.pending()[0]["base_version"] == 3  # the edit was based on what the user saw


def test_reset_for_bootstrap_keeps_the_outbox_and_quarantine(replica: Replica) -> None:
    cp = _counterparty(replica)
    replica.update("counterparties", cp["id"], {"notes": "x"})
    replica.store_push_results([{"seq": 2, "status": "refused", "error": {"message": "нет"}}])
    replica.set_state(cursor="5")
    replica.reset_for_bootstrap()
    assert replica.snapshot("counterparties") == {} and replica.state("cursor") is None
    assert len(replica.pending()) == 1 and len(replica.quarantine()) == 1
    # The last page lays the pending create back: the user's new counterparty is still there.
    replica.apply_bootstrap_page(
        {"watermark": 8, "type": None, "fields": [], "rows": [], "versions": [], "next": None}
    )
    replica.apply_bootstrap_page(
        {
            "watermark": 8,
            "type": "users",
            "fields": list(_user()),
            "rows": [list(_user().values())],
            "versions": [1],
            "next": None,
        }
    )
    assert replica.state("cursor") == "8"


def _server_records(database: Database) -> dict[str, list[dict[str, Any]]]:
    """One record of every synced type with every kind of value, made by the record service."""
    owner = make_user(database, "petrov")
    made: dict[str, Any] = {}
    with database.write() as session:

        def create(type_name: str, **data: Any) -> Any:
            made[type_name] = records.create(session, owner, records.record_type(type_name), data)
            return made[type_name]

        cp = create(
            "counterparties",
            legal_name="ООО «Рога и Копыта»",
            inn="7707083893",
            kinds=["client", "supplier"],
            tags=["опт", "VIP"],
            contacts=[{"kind": "email", "value": "Info@Roga.RU", "note": "общий"}],
            visibility="team",
        )
        person = create(
            "contact-persons",
            counterparty_id=cp.id,
            full_name="Ёлкина Анна",
            birthday="1980-02-29",
            contacts=[{"kind": "phone", "value": "+7 916 123-45-67 доб. 12"}],
        )
        deal = create(
            "deals",
            counterparty_id=cp.id,
            title="Поставка",
            amount="1234567.50",
            expected_close="2026-12-31",
            probability=40,
        )
        create(
            "interactions",
            counterparty_id=cp.id,
            contact_person_id=person.id,
            deal_id=deal.id,
            subject="Звонок",
            starts_at="2026-11-20T09:12:00.123456+03:00",
            remind_at="2026-11-21T07:00:00Z",
            duration_minutes=15,
        )
        create(
            "reminders",
            title="Перезвонить",
            due_at="2026-11-22T10:00:00Z",
            subject_type="deal",
            subject_id=deal.id,
        )
        create("shares", counterparty_id=cp.id, user_id=owner.id, can_edit=True)
        out: dict[str, list[dict[str, Any]]] = {}
        for name in protocol.TYPES:
            rt = records.record_type(name)
            out[name] = [
                records.to_dict(rt, r) for r in session.execute(select(rt.model)).scalars()
            ]
    return out


def test_bootstrap_pages_round_trip_every_kind_of_value(database: Database, tmp_path: Path) -> None:
    server = _server_records(database)
    replica = Replica.open(tmp_path / "replica.db")
    petrov = next(u for u in server["users"] if u["login"] == "petrov")
    replica.remember_login(server="http://x", login="petrov", token="t", device_id="d", user=petrov)
    for name in protocol.TYPES:
        rt = records.record_type(name)
        fields = rt.fields()
        rows = [[record[f] for f in fields] for record in server[name]]
        loaded = replica.apply_bootstrap_page(
            {
                "watermark": 10,
                "type": name,
                "fields": fields,
                "rows": rows,
                "versions": [10] * len(rows),
                "next": {"type": name, "after": "z"},
            }
        )
        assert loaded == len(rows)
    replica.apply_bootstrap_page(
        {"watermark": 10, "type": None, "fields": [], "rows": [], "versions": [], "next": None}
    )
    for name in protocol.TYPES:
        assert replica.snapshot(name) == {r["id"]: r for r in server[name]}, name
    assert replica.state("cursor") == "10"
    # The search index was built too: Cyrillic in any case, phones typed any way.
    [found] = replica.list("counterparties", q="РОГА")
    assert found["inn"] == "7707083893"
    assert [p["full_name"] for p in replica.list("contact-persons", q="елкина")] == ["Ёлкина Анна"]
    assert replica.list("counterparties", q="+7 916") != []
    replica.close()
