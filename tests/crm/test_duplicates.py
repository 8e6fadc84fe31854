"""Duplicate counterparties: a labelled set of Russian company records, precision and recall;
branches grouped, never offered for merging; only what the user may see."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from crm import duplicates, records, validation
from crm.database import Database
from crm.models import User
from tests.conftest import make_user

COUNTERPARTIES = records.record_type("counterparties")
PEOPLE = records.record_type("contact-persons")


def inn10(first9: str) -> str:
    """A valid 10-digit INN beginning with ``first9``."""
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(int(d) * w for d, w in zip(first9, weights, strict=True)) % 11 % 10
    return first9 + str(check)


def _add(database: Database, login: str, name: str, **data: Any) -> str:
    people = data.pop("people", [])
    with database.write() as session:
        user = session.execute(select(User).where(col(User.login) == login)).scalar_one()
        cp = records.create(session, user, COUNTERPARTIES, {"legal_name": name, **data})
        for email in people:
            records.create(
                session,
                user,
                PEOPLE,
                {
                    "counterparty_id": cp.id,
                    "full_name": "Контакт",
                    "contacts": [{"kind": "email", "value": email}],
                },
            )
        return str(cp.id)


def _phone(value: str) -> list[dict[str, str]]:
    return [{"kind": "phone", "value": value}]


@pytest.fixture
def labelled(database: Database) -> dict[str, Any]:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    make_user(database, "petrova", team="Питер")
    romashka, other_romashka, head = inn10("770708389"), inn10("500100732"), inn10("771001234")
    ids: dict[str, str] = {}
    for key, name, data in [
        ("romashka", 'ООО "Ромашка"', {"inn": romashka, "kpp": "770701001"}),
        ("romashka-long", "Общество с ограниченной ответственностью РОМАШКА", {"inn": romashka}),
        ("romashka-other", "ООО «Ромашка»", {"inn": other_romashka}),  # another company
        ("sapfir", "ООО «Сапфир Плюс»", {}),
        ("sapfir-2", "ооо сапфир-плюс", {}),
        ("antonova", "ИП Антонова Ольга Петровна", {}),
        ("antonova-2", "Индивидуальный предприниматель АНТОНОВА ОЛЬГА ПЕТРОВНА", {}),
        ("vek", "ТД Золотой Век", {}),
        ("vek-2", "Торговый дом «Золотой век»", {}),
        ("yuvelir", "ООО Ювелир-Трейд", {"contacts": _phone("+7 495 123-45-67")}),
        ("yuvelir-2", "ЮвелирТрейдинг", {"contacts": _phone("8 (495) 123-45-67")}),
        ("gran", "ООО «Алмазная грань»", {}),
        ("gran-typo", "ООО «Алмазная гранб»", {}),
        ("beta", "ООО «Бета»", {"people": ["zakaz@beta-opt.ru"]}),
        ("beta-2", "Бета Опт", {"people": ["Zakaz@Beta-Opt.ru"]}),
        ("head", "ПАО «Сбытовая компания»", {"inn": head, "kpp": "771001001"}),
        (
            "branch",
            "ПАО «Сбытовая компания» (филиал в Подольске)",
            {"inn": head, "kpp": "503601001"},
        ),
        ("sapphire", "Ювелирный дом «Сапфир»", {}),
        ("terem", "ООО «Ювелирный дом „Серебряный терем“»", {}),
        ("terem-north", "ООО «Ювелирный дом „Северный терем“»", {}),
        ("ruby", "Ювелирный дом «Рубин»", {}),
        ("alfa", "ООО Альфа", {"people": ["ivan@mail.ru"]}),
        ("alfa-stroi", "ООО Альфа-Строй", {"people": ["petr@mail.ru"]}),
    ]:
        ids[key] = _add(database, "ivanov", name, visibility="team", **data)
    # A switchboard: ten companies give the same call-centre number.
    for n in range(10):
        ids[f"crowd-{n}"] = _add(
            database,
            "ivanov",
            f"Клиент номер {n}",
            visibility="team",
            contacts=_phone("+7 800 555-35-35"),
        )
    # Petrova's private client, the same as ivanov's Сапфир: only those who see both may pair them.
    ids["sapfir-hidden"] = _add(database, "petrova", "Сапфир плюс", visibility="private")
    return ids


EXPECTED = {
    frozenset({"romashka", "romashka-long"}): "inn",
    frozenset({"sapfir", "sapfir-2"}): "name",
    frozenset({"antonova", "antonova-2"}): "name",
    frozenset({"vek", "vek-2"}): "name",
    frozenset({"yuvelir", "yuvelir-2"}): "phone",
    frozenset({"gran", "gran-typo"}): "name",
    frozenset({"beta", "beta-2"}): "email",
}


def _scan(database: Database, login: str) -> duplicates.Scan:
    with database.read() as session:
        user = session.execute(select(User).where(col(User.login) == login)).scalar_one()
        return duplicates.scan(session, user)


def test_the_labelled_set_is_found_with_no_false_pair(
    database: Database, labelled: dict[str, str]
) -> None:
    found = _scan(database, "office")
    names = {v: k for k, v in labelled.items()}
    pairs = {frozenset({names[c.first], names[c.second]}): c for c in found.candidates}
    expected = {
        **EXPECTED,
        frozenset({"sapfir", "sapfir-hidden"}): "name",
        frozenset({"sapfir-2", "sapfir-hidden"}): "name",
    }
    assert set(pairs) == set(expected)  # recall 1 and precision 1 on this set
    for pair, reason in expected.items():
        assert reason in pairs[pair].reasons, (pair, pairs[pair].reasons)
        assert 70 <= pairs[pair].score <= 100
    assert pairs[frozenset({"romashka", "romashka-long"})].score == 100
    # The head office and its branch: a group of its own, never a candidate.
    assert [sorted(names[i] for i in group) for group in found.branches] == [["branch", "head"]]
    assert found.candidates == sorted(found.candidates, key=lambda c: -c.score) or all(
        a.score >= b.score for a, b in zip(found.candidates, found.candidates[1:], strict=False)
    )


def test_a_salesperson_pairs_only_what_they_may_see(
    database: Database, labelled: dict[str, str]
) -> None:
    mine = _scan(database, "ivanov")
    seen = {i for c in mine.candidates for i in (c.first, c.second)}
    assert labelled["sapfir-hidden"] not in seen and labelled["sapfir-hidden"] not in mine.names
    hers = _scan(database, "petrova")
    assert hers.candidates == []  # the team's records of Moscow are not hers to see


@given(
    form=st.sampled_from(
        ["ООО", "ооо", "Общество с ограниченной ответственностью", "АО", "ПАО", "ЗАО"]
    ),
    quotes=st.sampled_from(["«{}»", '"{}"', "{}", "“{}”", "'{}'"]),
    name=st.sampled_from(["Ромашка", "Сапфир Плюс", "Ёлка", "Золото-Опт"]),
    upper=st.booleans(),
)
def test_the_core_name_ignores_form_quotes_case_and_yo(
    form: str, quotes: str, name: str, upper: bool
) -> None:
    typed = f"{form} {quotes.format(name)}"
    typed = typed.upper() if upper else typed
    assert (
        duplicates.core_name(typed)
        == duplicates.core_name(name)
        == " ".join(validation.fold_text(name).replace("-", " ").split())
    )


def test_the_api_lists_the_pairs_a_user_may_see(
    database: Database, labelled: dict[str, str], tmp_path: Any
) -> None:
    from server.app import create_app
    from server.config import Config
    from tests.conftest import PASSWORD
    from tests.inprocess import InProcessClient

    config = Config.load(
        environ={"SATCHEL_DATA_DIR": str(tmp_path), "SATCHEL_DATABASE_URL": database.url}
    )
    with InProcessClient(create_app(config, database)) as client:

        def token(login: str) -> dict[str, str]:
            answer = client.post(
                "/api/v1/auth/login",
                json={"login": login, "password": PASSWORD, "device_name": "тест"},
            )
            return {"Authorization": f"Bearer {answer.json()['token']}"}

        office, ivanov = token("office"), token("ivanov")
        got = client.get("/api/v1/duplicates?limit=3", headers=office).json()
        assert got["total"] == len(EXPECTED) + 2 and len(got["items"]) == 3
        assert got["items"][0]["score"] == 100 and got["items"][0]["reasons"][0] == "inn"
        assert set(got["names"]) >= {got["items"][0]["first"], labelled["head"], labelled["branch"]}
        mine = client.get("/api/v1/duplicates?limit=500", headers=ivanov).json()
        assert labelled["sapfir-hidden"] not in mine["names"] and mine["total"] == len(EXPECTED)
        for bad in ("min_score=101", "limit=0", "bogus=1", "offset=x"):
            answer = client.get(f"/api/v1/duplicates?{bad}", headers=office)
            assert answer.status_code == 400, (bad, answer.text)
        assert client.get("/api/v1/duplicates").status_code == 401


def test_the_command_lists_the_whole_base_or_what_a_user_sees(
    database: Database, labelled: dict[str, str]
) -> None:
    import json

    from typer.testing import CliRunner

    from server.commands import app

    env = {"SATCHEL_DATABASE_URL": database.url, "COLUMNS": "200"}
    runner = CliRunner()
    whole = runner.invoke(app, ["duplicates", "--json"], env=env)
    assert whole.exit_code == 0, whole.output
    got = json.loads(whole.output)
    assert len(got["pairs"]) == len(EXPECTED) + 2 and len(got["branches"]) == 1
    mine = json.loads(
        runner.invoke(app, ["duplicates", "--json", "--as", "ivanov"], env=env).output
    )
    assert len(mine["pairs"]) == len(EXPECTED)
    piped = runner.invoke(app, ["duplicates", "--min-score", "100"], env=env)
    assert piped.exit_code == 0 and 'ООО "Ромашка"' in piped.output and "филиал" in piped.output


def _similar(database: Database, login: str, **values: Any) -> dict[str, int]:
    with database.read() as session:
        user = session.execute(select(User).where(col(User.login) == login)).scalar_one()
        return {c.second: c.score for c in duplicates.similar(session, user, values)}


def test_creating_a_likely_duplicate_finds_what_it_duplicates_and_nothing_else(
    database: Database, labelled: dict[str, str]
) -> None:
    ids = labelled
    names = {v: k for k, v in ids.items()}

    def found(login: str = "office", **values: Any) -> set[str]:
        return {names[i] for i in _similar(database, login, **values)}

    assert found(legal_name="ромашка ооо", inn=inn10("770708389")) == {
        "romashka",
        "romashka-long",
    }  # the INN, whatever the name; never the other Ромашка with its own INN
    assert found(legal_name="Сапфир-Плюс") == {"sapfir", "sapfir-2", "sapfir-hidden"}
    assert found("ivanov", legal_name="Сапфир-Плюс") == {"sapfir", "sapfir-2"}  # what he sees
    assert found("petrova", legal_name="Сапфир-Плюс") == {"sapfir-hidden"}
    assert found(
        legal_name="Новый клиент", contacts=[{"kind": "phone", "value": "84951234567"}]
    ) == {
        "yuvelir",
        "yuvelir-2",
    }
    assert found(legal_name="Алмазная гран") == {"gran", "gran-typo"}
    assert found(
        legal_name="Бета-Опт", contacts=[{"kind": "email", "value": "ZAKAZ@beta-opt.ru"}]
    ) >= {
        "beta",
        "beta-2",
    }
    # A branch of the head office (another KPP) and a switchboard's number are not duplicates.
    assert (
        found(legal_name="ПАО «Сбытовая компания»", inn=inn10("771001234"), kpp="500101001")
        == set()
    )
    assert found(legal_name="Клиент", contacts=_phone("+7 800 555-35-35")) == set()
    assert found(legal_name="ООО «Рубин-М»") == set()
    assert found(legal_name="") == set()
