"""Who sees which conflict, how many at a time, and what becomes of them when access or the record goes.

Laptops speak the protocol by hand (``tests.server.test_sync_api.Laptop``) against
the real app, on SQLite and PostgreSQL; refusals are read back to prove nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm import changes, records
from crm.database import Database
from crm.models.base import utcnow
from server.app import create_app
from server.config import Config
from sync.conflicts import MAX_CONFLICTS, _concerns, count_open, page_conflicts
from sync.models import Conflict
from tests.conftest import make_user
from tests.inprocess import InProcessClient
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create


@pytest.fixture
def api(config: Config, database: Database) -> Iterator[Api]:
    with InProcessClient(create_app(config, database)) as client:
        yield Api(client, database)


def _listed(api: Api, laptop: Laptop, **params: Any) -> dict[str, Any]:
    r = api.client.get("/api/v1/conflicts", params=params, headers=laptop.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _conflict(api: Api, conflict_id: str) -> Conflict:
    with api.database.read() as session:
        found = session.get(Conflict, conflict_id)
        assert found is not None
        session.expunge(found)
        return found


def _clash(
    first: Laptop,
    second: Laptop,
    record_id: str,
    field: str,
    record_type: str = "counterparties",
    values: tuple[str, str] = ("первое", "второе"),
) -> str:
    """Both laptops change ``field`` from the same base; the second one's change opens a conflict."""
    base = second.versions[record_id]
    first.push(first.update(record_id, record_type, **{field: values[0]}))
    answer = second.push(
        {
            "op": "update",
            "type": record_type,
            "id": record_id,
            "base_version": base,
            "fields": {field: values[1]},
        }
    )
    [conflict_id] = answer["results"][0]["conflicts"]
    return str(conflict_id)


def test_one_users_many_conflicts_neither_hide_nor_slow_a_colleagues_own(api: Api) -> None:
    make_user(api.database, "ivanov")
    make_user(api.database, "petrova", team="Питер")
    make_user(api.database, "sidorova", team="Питер")
    ivanov, petrova, sidorova = (
        Laptop(api, "ivanov"),
        Laptop(api, "petrova"),
        Laptop(api, "sidorova"),
    )
    mine = _create(legal_name="ООО Иванова")
    ivanov.push(mine)
    # 2,100 open conflicts on ivanov's record, older than anything else (made directly: the point is
    # how they are listed, not how they came about).
    long_ago = utcnow() - timedelta(days=30)
    with api.database.write() as session:
        session.add_all(
            [
                Conflict(
                    kind="field",
                    record_type="counterparties",
                    record_id=mine["id"],
                    field="notes",
                    server_value="a",
                    client_value=f"b{i}",
                    client_by=ivanov.user_id,
                    server_by=ivanov.user_id,
                    created_at=long_ago + timedelta(seconds=i),
                )
                for i in range(2100)
            ]
        )
    # Petrova's own conflict with her teammate, made through the app.
    ours = _create(legal_name="ООО Питерская", visibility="team")
    petrova.push(ours)
    petrova.pull()
    sidorova.pull()
    conflict_id = _clash(sidorova, petrova, ours["id"], "notes")

    petrova.pull()
    assert [c["id"] for c in petrova.conflicts] == [conflict_id]
    assert [c["id"] for c in _listed(api, petrova)["items"]] == [conflict_id]
    sidorova.pull()
    assert [c["id"] for c in sidorova.conflicts] == [conflict_id]

    # Ivanov's are all his, bounded in a pull and paged over REST.
    answer = ivanov.post("/sync/v1/pull", {"cursor": None}).json()
    assert len(answer["conflicts"]) == MAX_CONFLICTS and answer["conflicts_more"] is True
    assert petrova.post("/sync/v1/pull", {"cursor": None}).json()["conflicts_more"] is False
    seen: list[str] = []
    after = None
    while True:
        page = _listed(api, ivanov, limit=400, **({"after": after} if after else {}))
        assert len(page["items"]) <= 400
        seen += [c["id"] for c in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert len(seen) == len(set(seen)) == 2100 and conflict_id not in seen
    for bad in ({"limit": 0}, {"limit": 501}, {"limit": "x"}, {"after": "no-such-conflict"}):
        r = api.client.get("/api/v1/conflicts", params=bad, headers=ivanov.headers)
        assert r.status_code == 400, (bad, r.text)


def test_a_user_who_lost_access_no_longer_sees_or_resolves_its_conflicts(api: Api) -> None:
    make_user(api.database, "boss", role="manager")
    make_user(api.database, "petrova", team="Питер")
    boss, spare, petrova = (
        Laptop(api, "boss"),
        Laptop(api, "boss", "Запасной"),
        Laptop(api, "petrova"),
    )
    cp = _create(legal_name="ООО Общая")
    share = _create("shares", counterparty_id=cp["id"], user_id=petrova.user_id, can_edit=True)
    boss.push(cp, share)
    for laptop in (boss, spare, petrova):
        laptop.pull()
    # One conflict she made while she could see the record ...
    old = _clash(boss, petrova, cp["id"], "region", values=("Москва", "Тверь"))
    petrova.push(petrova.update(cp["id"], notes="от Петровой"))
    petrova.pull()
    assert [c["id"] for c in petrova.conflicts] == [old]
    boss.pull()
    boss.push(
        {
            "op": "delete",
            "type": "shares",
            "id": share["id"],
            "base_version": boss.versions[share["id"]],
        }
    )
    # ... and one made after she lost it, against her earlier change, with a value written since.
    answer = spare.push(spare.update(cp["id"], notes="после неё"))
    [new] = answer["results"][0]["conflicts"]
    assert _conflict(api, new).server_by == petrova.user_id

    petrova.pull()
    assert petrova.conflicts == []
    assert (
        _listed(api, petrova)["items"] == []
        and _listed(api, petrova, status="resolved")["items"] == []
    )
    for conflict_id in (old, new):
        r = api.client.post(
            f"/api/v1/conflicts/{conflict_id}/resolve",
            json={"choice": "mine"},
            headers=petrova.headers,
        )
        assert r.status_code == 404, r.text
    refused = petrova.push({"op": "resolve", "conflict_id": new, "choice": "mine"})
    assert refused["results"][0]["status"] == "refused"
    # Nothing changed: both still open, the record as the boss left it, and the boss sees both.
    assert _conflict(api, old).status == _conflict(api, new).status == "open"
    boss.pull()
    assert (boss.records[cp["id"]]["region"], boss.records[cp["id"]]["notes"]) == (
        "Москва",
        "от Петровой",
    )
    assert {c["id"] for c in boss.conflicts} == {old, new}


def test_deleting_a_record_closes_its_conflicts_and_laptops_see_them_go(api: Api) -> None:
    make_user(api.database, "admin", role="admin")
    make_user(api.database, "ivanov")
    make_user(api.database, "petrova")
    admin, ivanov, petrova = Laptop(api, "admin"), Laptop(api, "ivanov"), Laptop(api, "petrova")
    cp = _create(legal_name="ООО Уходящая", visibility="team")
    person = _create("contact-persons", counterparty_id=cp["id"], full_name="Анна Смирнова")
    other = _create(legal_name="ООО Остающаяся", visibility="team")
    ivanov.push(cp, person, other)
    ivanov.pull()
    petrova.pull()
    on_record = _clash(ivanov, petrova, cp["id"], "notes")
    on_child = _clash(ivanov, petrova, person["id"], "position", "contact-persons")
    ivanov.push(ivanov.update(other["id"], notes="ещё нужна"))
    against_delete = petrova.push(
        {
            "op": "delete",
            "type": "counterparties",
            "id": other["id"],
            "base_version": petrova.versions[other["id"]],
        }
    )["results"][0]["conflicts"][0]
    for laptop in (admin, ivanov, petrova):
        laptop.pull()
        assert {c["id"] for c in laptop.conflicts} == {on_record, on_child, against_delete}

    # The counterparty goes (its person with it) over REST; the other one from a laptop.
    r = api.client.delete(f"/api/v1/counterparties/{cp['id']}", headers=ivanov.headers)
    assert r.status_code == 204, r.text
    ivanov.pull()
    ivanov.push(
        {
            "op": "delete",
            "type": "counterparties",
            "id": other["id"],
            "base_version": ivanov.versions[other["id"]],
        }
    )

    for laptop in (admin, ivanov, petrova):
        laptop.pull()
        assert laptop.conflicts == [], laptop.user_id
        assert _listed(api, laptop)["items"] == []
    closed = {c["id"]: c for c in _listed(api, admin, status="resolved")["items"]}
    assert {closed[i]["resolution"] for i in (on_record, on_child, against_delete)} == {"deleted"}
    assert closed[against_delete]["resolved_by"] == ivanov.user_id  # the laptop's delete says who
    # A late resolution (a laptop that resolved offline) is answered as done, and changes nothing.
    r = api.client.post(
        f"/api/v1/conflicts/{on_record}/resolve", json={"choice": "mine"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["resolution"] == "deleted", r.text
    assert (
        api.client.get(f"/api/v1/counterparties/{other['id']}", headers=admin.headers).status_code
        == 404
    )


def test_an_open_field_conflict_whose_record_is_already_gone_is_listed_to_nobody(api: Api) -> None:
    make_user(api.database, "admin", role="admin")
    make_user(api.database, "ivanov")
    admin, ivanov = Laptop(api, "admin"), Laptop(api, "ivanov")
    cp = _create(legal_name="ООО Давно удалённая")
    ivanov.push(cp)
    ivanov.pull()
    ivanov.push(
        {
            "op": "delete",
            "type": "counterparties",
            "id": cp["id"],
            "base_version": ivanov.versions[cp["id"]],
        }
    )
    with (
        api.database.write() as session
    ):  # left open by a server from before conflicts closed with records
        session.add(
            Conflict(
                kind="field",
                record_type="counterparties",
                record_id=cp["id"],
                field="notes",
                server_value="a",
                client_value="b",
                client_by=ivanov.user_id,
                server_by=admin.user_id,
            )
        )
    for laptop in (admin, ivanov):
        laptop.pull()
        assert laptop.conflicts == [] and _listed(api, laptop)["items"] == []


def test_the_sql_selection_of_conflicts_agrees_with_the_per_conflict_rule(
    database: Database,
) -> None:
    """``concerning`` (SQL, for lists and pulls) and ``_concerns`` (per conflict, for resolve) agree."""
    people = [
        ("boss", "manager", "Москва"),
        ("ivanov", "salesperson", "Москва"),
        ("petrova", "salesperson", "Казань"),
        ("office", "office", None),
        ("admin", "admin", None),
    ]
    users = [make_user(database, login, role=role, team=team) for login, role, team in people]
    boss, ivanov, petrova, office, _ = users
    made: list[tuple[str, str]] = []
    with database.write() as session:

        def create(actor: Any, type_name: str, **data: Any) -> Any:
            record = records.create(session, actor, records.record_type(type_name), data)
            made.append((type_name, record.id))
            return record

        for owner, visibility in (
            (boss, "private"),
            (ivanov, "team"),
            (petrova, "private"),
            (petrova, "company"),
        ):
            cp = create(
                owner,
                "counterparties",
                legal_name=f"ООО {owner.login} {visibility}",
                visibility=visibility,
            )
            create(owner, "contact-persons", counterparty_id=cp.id, full_name="Анна")
            create(owner, "deals", counterparty_id=cp.id, title="Поставка")
            create(
                owner,
                "interactions",
                counterparty_id=cp.id,
                subject="Звонок",
                starts_at="2026-11-20T09:00:00Z",
            )
            create(
                owner,
                "reminders",
                title="Позвонить",
                due_at="2026-12-01T09:00:00Z",
                subject_type="counterparty",
                subject_id=cp.id,
            )
        shared = create(petrova, "counterparties", legal_name="ООО Общая")
        create(petrova, "shares", counterparty_id=shared.id, user_id=ivanov.id, can_edit=False)
        create(petrova, "shares", counterparty_id=shared.id, user_id=office.id, can_edit=True)
        create(
            boss,
            "reminders",
            title="Для Иванова",
            due_at="2026-12-01T09:00:00Z",
            assignee_id=ivanov.id,
        )
        gone = create(petrova, "counterparties", legal_name="ООО Удалённая", visibility="company")
        records.delete(session, petrova, records.record_type("counterparties"), gone.id)
        for i, (type_name, record_id) in enumerate(made):
            client, server = users[i % len(users)], users[(i * 2 + 1) % len(users)]
            for kind in ("field", "delete", "edit_deleted"):
                session.add(
                    Conflict(
                        kind=kind,
                        record_type=type_name,
                        record_id=record_id,
                        field="notes",
                        client_by=client.id,
                        server_by=server.id,
                    )
                )
    with database.read() as session:
        everything = list(session.execute(select(Conflict)).scalars())
        for user in users:
            listed = {c["id"] for c in page_conflicts(session, user, limit=MAX_CONFLICTS)[0]}
            expected = {
                c.id
                for c in everything
                if c.status == "open"
                and _concerns(session, user, c)
                and (
                    c.kind == "edit_deleted"
                    or session.get(records.record_type(c.record_type).model, c.record_id)
                    is not None
                )
            }
            assert listed == expected, user.login
            assert listed, user.login
            assert count_open(session, user) == len(expected), (
                user.login
            )  # the header badge's count


def test_keeping_the_servers_side_never_undoes_an_edit_made_after_the_conflict(api: Api) -> None:
    """A field conflict stays open while others go on editing the field; keeping the server's side
    keeps what the server holds now, not the value it held when the conflict was recorded (which
    would silently undo the later edit). Taking the laptop's side or a new value writes it, as asked."""
    make_user(api.database, "petrova", team="Питер")
    make_user(api.database, "sidorova", team="Питер")
    petrova, sidorova = Laptop(api, "petrova"), Laptop(api, "sidorova")
    ours = _create(legal_name="ООО Питерская", visibility="team")
    petrova.push(ours)
    petrova.pull()
    sidorova.pull()

    def stored() -> Any:
        with api.database.read() as session:
            found = session.get(records.record_type("counterparties").model, ours["id"])
            assert found is not None
            session.expunge(found)
            return found

    # Each case: sidorova's edit is applied, petrova's (from the same base) waits in a conflict; then
    # someone edits the field again over REST while the conflict is open; then a party resolves.
    cases = [
        # petrova keeps the server's side: the later edit stands
        (("первое", "второе"), sidorova, "третье", petrova, "theirs", "третье"),
        # the same from the server's party: sidorova's «mine» is the server's side
        (("четвёртое", "пятое"), petrova, "шестое", sidorova, "mine", "шестое"),
        # taking the laptop's side is an explicit choice: its value is written over the later edit
        (("седьмое", "восьмое"), sidorova, "девятое", petrova, "mine", "восьмое"),
    ]
    for values, editor, later, resolver, choice, kept in cases:
        petrova.pull()
        sidorova.pull()
        conflict_id = _clash(sidorova, petrova, ours["id"], "notes", values=values)
        r = api.client.patch(
            f"/api/v1/counterparties/{ours['id']}", json={"notes": later}, headers=editor.headers
        )
        assert r.status_code == 200, r.text
        assert _conflict(api, conflict_id).server_value == values[0]  # what the server held then
        r = api.client.post(
            f"/api/v1/conflicts/{conflict_id}/resolve",
            json={"choice": choice},
            headers=resolver.headers,
        )
        assert r.status_code == 200, r.text
        assert (stored().notes, _conflict(api, conflict_id).status) == (kept, "resolved"), values


def test_a_party_who_may_only_read_the_record_settles_only_by_writing_nothing(api: Api) -> None:
    """docs/access.md: a conflict is settled by whoever may change the record or made a side. A side
    whose share was made read-only may withdraw its own value (the server's side: the field stays as
    the server holds it, nothing written, the data version unmoved); a choice that would write —
    its own value, a new one — is refused, over REST and from a laptop, and the conflict stays open."""
    make_user(api.database, "boss", role="manager")
    make_user(api.database, "petrova", team="Питер")
    boss, petrova = Laptop(api, "boss"), Laptop(api, "petrova")
    cp = _create(legal_name="ООО Общая")
    share = _create("shares", counterparty_id=cp["id"], user_id=petrova.user_id, can_edit=True)
    boss.push(cp, share)
    boss.pull()
    petrova.pull()
    mine = _clash(boss, petrova, cp["id"], "notes")  # petrova's value waits; the boss's stands
    boss.pull()
    boss.push(boss.update(share["id"], "shares", can_edit=False))
    edited = api.client.patch(
        f"/api/v1/counterparties/{cp['id']}", json={"notes": "позже"}, headers=boss.headers
    )
    assert edited.status_code == 200, edited.text
    with api.database.read() as session:
        version = changes.current(session)[0]
    for choice in ("mine", "value"):
        r = api.client.post(
            f"/api/v1/conflicts/{mine}/resolve",
            json={"choice": choice, "value": "её"},
            headers=petrova.headers,
        )
        assert r.status_code == 403, (choice, r.text)
    refused = petrova.push({"op": "resolve", "conflict_id": mine, "choice": "mine"})
    assert refused["results"][0]["status"] == "refused"
    assert _conflict(api, mine).status == "open"
    r = api.client.post(
        f"/api/v1/conflicts/{mine}/resolve", json={"choice": "theirs"}, headers=petrova.headers
    )
    assert r.status_code == 200, r.text
    assert _conflict(api, mine).status == "resolved"
    with api.database.read() as session:
        assert changes.current(session)[0] == version
    boss.pull()
    assert boss.records[cp["id"]]["notes"] == "позже"


def test_a_pulls_conflicts_statement_names_only_the_types_that_have_open_ones(
    database: Database,
) -> None:
    """Every pull sends the first page of its user's open conflicts. One statement that ORed every
    record type's rules took PostgreSQL 20–30 ms to plan, at every pull: the types that have open
    conflicts are asked first (from an index), and only theirs are named; with none open, nothing
    more is asked. What is found is the same."""
    from sqlalchemy import event

    ivanov = make_user(database, "ivanov")
    petrova = make_user(database, "petrova")
    with database.write() as session:
        cp = records.create(
            session, ivanov, records.record_type("counterparties"), {"legal_name": "ООО Ромашка"}
        )
        deal = records.create(
            session,
            ivanov,
            records.record_type("deals"),
            {"counterparty_id": cp.id, "title": "Поставка"},
        )
        call = records.create(
            session,
            ivanov,
            records.record_type("interactions"),
            {"counterparty_id": cp.id, "subject": "Звонок", "starts_at": "2026-11-20T09:00:00Z"},
        )
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "sync_conflict" in statement:
            statements.append(statement)

    def asked(user: Any) -> tuple[set[str], int]:
        statements.clear()
        with database.read() as session:
            listed = {c["id"] for c in page_conflicts(session, user)[0]}
            return listed, count_open(session, user)

    def ivanovs_own(record_type: str, record_id: str, field: str) -> Conflict:
        with database.write() as session:
            made = Conflict(
                kind="field",
                record_type=record_type,
                record_id=record_id,
                field=field,
                client_by=ivanov.id,
                server_by=ivanov.id,
            )
            session.add(made)
        return made

    for engine in database.engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        assert asked(ivanov) == (set(), 0)
        assert len(statements) == 2 and all("GROUP BY" in s for s in statements), statements

        on_deal = ivanovs_own("deals", deal.id, "title")
        assert asked(ivanov) == ({on_deal.id}, 1)
        assert asked(petrova) == (set(), 0)  # not hers to see
        rules = [s for s in statements if "GROUP BY" not in s]
        assert rules and all("deal" in s and "interaction" not in s for s in rules), rules

        on_call = ivanovs_own("interactions", call.id, "subject")
        assert asked(ivanov) == ({on_deal.id, on_call.id}, 2)
        rules = [s for s in statements if "GROUP BY" not in s]
        assert rules and all("interaction" in s for s in rules), rules
    finally:
        for engine in database.engines:
            event.remove(engine, "before_cursor_execute", seen)


def test_every_record_types_conflicts_are_listed_to_whom_the_rule_gives_them(
    database: Database,
) -> None:
    """The SQL that lists conflicts (``concerning``) agrees with the per-conflict rule
    (``_concerns``, which resolving applies) for every record type a laptop may push, on the demo
    company's records: an outside trial found conflicts on absences, event participants and
    supplier terms that a manager or the office may resolve, yet never saw listed."""
    from crm import demo
    from crm.models import User

    demo.generate(database, "small", seed=1)
    kinds = ("field", "delete")
    with database.write() as session:
        users = list(session.execute(select(User).order_by(User.login)).scalars())
        n = 0
        for rt in records.RECORD_TYPES.values():
            if not (rt.synced and rt.writable):
                continue
            model: Any = rt.model
            ids = list(session.execute(select(model.id).order_by(model.id).limit(4)).scalars())
            for record_id in ids:
                n += 1
                session.add(
                    Conflict(
                        kind=kinds[n % 2],
                        record_type=rt.name,
                        record_id=record_id,
                        field="notes",
                        client_by=users[n % len(users)].id,
                        server_by=users[(n * 3 + 1) % len(users)].id,
                    )
                )
    with database.read() as session:
        everything = list(session.execute(select(Conflict)).scalars())
        types = {c.record_type for c in everything}
        for user in users:
            listed = {c["id"] for c in page_conflicts(session, user, limit=MAX_CONFLICTS)[0]}
            expected = {c.id for c in everything if _concerns(session, user, c)}
            wrong = {c.record_type for c in everything if (c.id in listed) != (c.id in expected)}
            assert not wrong, (user.login, user.role, sorted(wrong))
            assert count_open(session, user) == len(expected), user.login
    assert len(types) >= 15, sorted(types)  # the demo has records of (nearly) every type
