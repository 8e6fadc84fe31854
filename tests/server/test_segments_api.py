"""Segments over REST, a laptop's push and the commands, on SQLite and PostgreSQL: every report takes
``segment`` and equals the report restricted by hand (ABC ranking within the segment), exports
name it, a segment's members page like any list; bad criteria are refused with their message and
nothing stored; a salesperson changes nobody else's segment, over REST or in a push."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from crm import trade
from crm.models import Segment, User
from server.commands import app
from tests.crm.test_duplicates import inn10
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop

PERIOD = {"from": "2025-01-01", "to": "2025-12-31"}
MOSCOW = {"region": ["Москва"]}


def _world(api: Api, tmp_path: Path) -> dict[str, Any]:
    w: dict[str, Any] = {
        "office": api.user("office", role="office", team=None),
        "boss": api.user("boss", role="manager"),
        "ivanov": api.user("ivanov"),
        "petrova": api.user("petrova", team="Питер"),
    }
    made = [
        ("ivanov", "ООО «Альфа»", "Москва", ["vip"], 1000),
        ("ivanov", "ООО «Бета»", "Казань", [], 3000),
        ("ivanov", "ООО «Вега»", " москва", [], 0),
        ("petrova", "ООО «Гамма»", "Москва", ["VIP"], 5000),
        ("petrova", "ООО «Дельта»", "Тверь", [], 700),
    ]
    lines = ["Номер;Дата;ИНН;Сумма;Себестоимость"]
    for n, (owner, name, region, tags, amount) in enumerate(made):
        inn = inn10(f"77000000{n}")
        cp = api.create(
            w[owner], "counterparties", legal_name=name, inn=inn, region=region, tags=tags
        )
        w[name] = cp["id"]
        for m in range(1, 13) if amount else ():
            lines.append(f"{n}-{m};10.{m:02d}.2025;{inn};{amount + m};")
    path = tmp_path / "sales.csv"
    path.write_bytes("\n".join(lines).encode("cp1251"))
    with api.database.write() as session:
        who = session.execute(select(User).where(User.login == "office")).scalar_one()
        trade.import_sales(session, who, path)
    return w


def _rows(api: Api, headers: dict[str, str], name: str, **params: Any) -> list[dict[str, Any]]:
    r = api.client.get(f"/api/v1/reports/{name}", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["rows"]  # type: ignore[no-any-return]


def test_a_report_over_a_segment_is_the_report_restricted_to_its_members(
    api: Api, tmp_path: Path
) -> None:
    w = _world(api, tmp_path)
    segment = api.create(w["ivanov"], "segments", name="Москва", criteria=MOSCOW)
    assert segment["criteria"] == MOSCOW and segment["owner_id"]
    moscow = {w["ООО «Альфа»"], w["ООО «Вега»"], w["ООО «Гамма»"]}
    # ABC over the segment ranks within it: Гамма and Альфа share its total (Вега bought nothing).
    office = api.client.get(
        "/api/v1/reports/abc", params={**PERIOD, "segment": segment["id"]}, headers=w["office"]
    ).json()
    assert [(r["counterparty_id"], r["abc"]) for r in office["rows"]] == [
        (w["ООО «Гамма»"], "A"),
        (w["ООО «Альфа»"], "B"),  # 83 % of the segment's total above it
    ]
    assert office["about"]["total"] == str(sum(1000 + m + 5000 + m for m in range(1, 13))) + ".00"
    assert office["about"]["segment"] == "Москва" and office["title"] == "ABC/XYZ — Москва"
    whole = _rows(api, w["office"], "abc", **PERIOD)
    assert len(whole) == 4 and whole[0]["counterparty_id"] == w["ООО «Гамма»"]
    # The same segment gives Ivanov his own Moscow clients only; there Альфа is the A.
    his = _rows(api, w["ivanov"], "abc", **PERIOD, segment=segment["id"])
    assert [(r["counterparty_id"], r["abc"]) for r in his] == [(w["ООО «Альфа»"], "A")]
    # Reports without rankings are the whole report's rows of the members.
    for name, params in (
        ("neglected", {"kind": "client", "days": "30"}),
        ("completeness", {}),
        ("rfm", PERIOD),
    ):
        all_rows = _rows(api, w["office"], name, **params)
        within = _rows(api, w["office"], name, **params, segment=segment["id"])
        assert {r["counterparty_id"] for r in within} == (
            {r["counterparty_id"] for r in all_rows} & moscow
        ), name
        if name != "rfm":  # RFM scores by quintile among the segment's clients
            assert within == [r for r in all_rows if r["counterparty_id"] in moscow], name
    owners = _rows(api, w["office"], "completeness-owners", segment=segment["id"])
    assert sorted((r["login"], r["cards"]) for r in owners) == [("ivanov", 2), ("petrova", 1)]


def test_every_report_takes_a_segment_and_an_unknown_one_is_a_404(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    segment = api.create(w["ivanov"], "segments", name="VIP", criteria={"tags": ["vip"]})
    names = ["abc", "matrix", "rfm", "neglected", "funnel", "lost", "sources", "activity"]
    names += ["completeness", "completeness-owners"]
    paths = api.client.get("/api/v1/openapi.json").json()["paths"]
    for name in names:
        params: dict[str, str] = {"segment": segment["id"]}
        get = paths[f"/api/v1/reports/{name}"]["get"]
        assert "segment" in {p["name"] for p in get["parameters"]}, name
        r = api.client.get(f"/api/v1/reports/{name}", params=params, headers=w["office"])
        assert r.status_code == 200, (name, r.text)
        assert r.json()["about"]["segment"] == "VIP", name
        r = api.client.get(f"/api/v1/reports/{name}", params={"segment": "VIP"}, headers=w["boss"])
        assert r.status_code == 200, (name, r.text)  # its name does as well as its id
        r = api.client.get(
            f"/api/v1/reports/{name}", params={"segment": str(uuid.uuid4())}, headers=w["office"]
        )
        assert r.status_code == 404 and "no segment" in r.json()["message"], (name, r.text)
        r = api.client.get(f"/api/v1/reports/{name}?segment=VIP&segment=VIP", headers=w["office"])
        assert r.status_code == 400 and "twice" in r.json()["message"], name
    moves = api.client.get(
        "/api/v1/reports/moves",
        params={"since": "2025-01-01", "segment": segment["id"]},
        headers=w["office"],
    )
    assert moves.status_code == 200 and moves.json()["about"]["segment"] == "VIP"


def test_exports_over_a_segment_name_it(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    segment = api.create(w["ivanov"], "segments", name="Москва", criteria=MOSCOW)
    xlsx = api.client.get(
        "/api/v1/reports/abc",
        params={**PERIOD, "segment": segment["id"], "format": "xlsx"},
        headers=w["office"],
    )
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = book.active
    assert sheet is not None and sheet.title == "ABC-XYZ — Москва"
    assert book.properties.title == "ABC/XYZ — Москва"
    assert sheet.max_row == 3  # the header and the segment's two clients with sales
    disposition = xlsx.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="abc-')
    assert "abc-Москва-" in unquote(disposition.split("filename*=UTF-8''")[1])
    csv = api.client.get(
        "/api/v1/reports/neglected",
        params={"segment": segment["id"], "format": "csv", "kind": "client"},
        headers=w["office"],
    )
    assert csv.status_code == 200 and "Москва" in unquote(csv.headers["content-disposition"])
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 3 and "Дельта" not in csv.content.decode("utf-8-sig")


def test_a_segments_members_page_like_any_list(api: Api, tmp_path: Path) -> None:
    w = _world(api, tmp_path)
    segment = api.create(w["petrova"], "segments", name="Москва", criteria=MOSCOW)
    url = f"/api/v1/segments/{segment['id']}/members"
    r = api.client.get(url, headers=w["office"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["segment"]["name"] == "Москва" and body["total"] == 3
    assert [i["legal_name"] for i in body["items"]] == ["ООО «Альфа»", "ООО «Вега»", "ООО «Гамма»"]
    assert body["items"][0]["owner"] == "ivanov"
    second = api.client.get(url, params={"limit": 1, "offset": 1}, headers=w["office"]).json()
    assert [i["legal_name"] for i in second["items"]] == ["ООО «Вега»"] and second["total"] == 3
    found = api.client.get(url, params={"q": "гамм"}, headers=w["office"]).json()
    assert [i["legal_name"] for i in found["items"]] == ["ООО «Гамма»"]
    # Ivanov sees his two; Petrova's segment shows him nothing of hers.
    his = api.client.get(url, headers=w["ivanov"]).json()
    assert {i["id"] for i in his["items"]} == {w["ООО «Альфа»"], w["ООО «Вега»"]}
    for params in ({"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"colour": "red"}):
        assert api.client.get(url, params=params, headers=w["office"]).status_code == 400
    missing = api.client.get(f"/api/v1/segments/{uuid.uuid4()}/members", headers=w["office"])
    assert missing.status_code == 404


def test_bad_criteria_are_refused_with_their_message_and_nothing_is_stored(
    api: Api, tmp_path: Path
) -> None:
    w = _world(api, tmp_path)
    for criteria, said in (
        ({"colour": ["red"]}, "unknown criterion 'colour'"),
        ({"region": "Москва"}, "region: must be a list of texts"),
        ({"region": [f"Город {n}" for n in range(201)]}, "region: at most 200 values"),
        ({"abc_class": ["D"]}, "abc_class: 'D' is not one of A, B, C"),
        (["region"], "criteria"),
    ):
        r = api.client.post(
            "/api/v1/segments", json={"name": "Плохой", "criteria": criteria}, headers=w["ivanov"]
        )
        assert r.status_code in (400, 422), r.text
        assert said in json.dumps(r.json(), ensure_ascii=False), r.text
    with api.database.read() as session:
        assert session.execute(select(Segment)).first() is None
    good = api.create(w["ivanov"], "segments", name="Хороший", criteria=MOSCOW)
    r = api.client.patch(
        f"/api/v1/segments/{good['id']}", json={"criteria": {"tags": 5}}, headers=w["ivanov"]
    )
    assert r.status_code in (400, 422)
    assert (
        api.client.get(f"/api/v1/segments/{good['id']}", headers=w["ivanov"]).json()["criteria"]
        == MOSCOW
    )


def test_a_salesperson_changes_no_colleagues_segment_over_rest_or_in_a_push(
    api: Api, tmp_path: Path
) -> None:
    w = _world(api, tmp_path)
    segment = api.create(w["ivanov"], "segments", name="Москва", criteria=MOSCOW)
    url = f"/api/v1/segments/{segment['id']}"
    # Everyone sees it; Petrova (another team) and the office change nothing of it.
    for who in ("petrova", "office"):
        assert api.client.get(url, headers=w[who]).status_code == 200
        r = api.client.patch(url, json={"name": "Моё"}, headers=w[who])
        assert r.status_code == 403, r.text
        assert api.client.delete(url, headers=w[who]).status_code == 403
    # Nor does she make one in his name.
    r = api.client.post(
        "/api/v1/segments",
        json={"name": "Подлог", "criteria": {}, "owner_id": segment["owner_id"]},
        headers=w["petrova"],
    )
    assert r.status_code == 403
    laptop = Laptop(api, "petrova")
    laptop.pull()
    assert segment["id"] in laptop.records  # laptops get every segment
    answer = laptop.push(
        laptop.update(segment["id"], "segments", name="Моё", criteria={}),
        {
            "op": "delete",
            "type": "segments",
            "id": segment["id"],
            "base_version": laptop.versions[segment["id"]],
        },
    )
    assert [r["status"] for r in answer["results"]] == ["refused", "refused"]
    kept = api.client.get(url, headers=w["ivanov"]).json()
    assert (kept["name"], kept["criteria"], kept["version"]) == ("Москва", MOSCOW, 1)
    # His manager may; so may he.
    r = api.client.patch(url, json={"name": "Москва и Казань"}, headers=w["boss"])
    assert r.status_code == 200, r.text
    r = api.client.patch(
        url, json={"criteria": {"region": ["Москва", "Казань"]}}, headers=w["ivanov"]
    )
    assert r.status_code == 200 and r.json()["version"] == 3
    assert api.client.delete(url, headers=w["ivanov"]).status_code == 204


def test_the_commands_save_list_use_and_delete_segments(api: Api, tmp_path: Path) -> None:
    _world(api, tmp_path)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "250"}
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), env=env)

    added = run(
        "segment", "add", "Крупные Москва",
        "--criterion", "abc_class=A,B,-", "--criterion", "region=Москва",
        "--criterion", "owner_id=ivanov,petrova", "--as", "ivanov",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "ivanov sees 2 counterparties" in added.output
    with api.database.read() as session:
        stored = session.execute(select(Segment)).scalar_one()
        ids = dict(session.execute(select(User.login, User.id)).all())
    assert stored.criteria == {
        "abc_class": ["A", "B", "-"],
        "region": ["Москва"],
        "owner_id": [ids["ivanov"], ids["petrova"]],
    }
    listed = run("segment", "list", "--as", "office", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(r["name"], r["members"]) for r in json.loads(listed.output)] == [("Крупные Москва", 3)]
    shown = run("segment", "show", "крупные москва", "--as", "office", "--json")
    assert json.loads(shown.output)["total"] == 3
    report = run("report", "abc", "--as", "office", "--from", "2025-01", "--to", "2025-12",
                 "--segment", "Крупные Москва", "--json")  # fmt: skip
    assert report.exit_code == 0, report.output
    body = json.loads(report.output)
    assert body["about"]["segment"] == "Крупные Москва" and len(body["rows"]) == 2
    for name in ("rfm", "neglected", "funnel", "lost", "sources", "activity", "completeness"):
        done = run("report", name, "--as", "ivanov", "--segment", stored.id, "--json")
        assert done.exit_code == 0, (name, done.output)
        assert json.loads(done.output)["about"]["segment"] == "Крупные Москва", name
    unknown = run("report", "abc", "--as", "office", "--segment", "нет такого")
    assert unknown.exit_code != 0 and "no segment" in unknown.output
    bad = run("segment", "add", "x", "--criterion", "colour=red", "--as", "ivanov")
    assert bad.exit_code == 2 and "unknown criterion" in bad.output
    bad = run("segment", "add", "x", "--criterion", "abc_class=D", "--as", "ivanov")
    assert bad.exit_code != 0 and "abc_class" in bad.output
    refused = run("segment", "delete", "Крупные Москва", "--as", "petrova")
    assert refused.exit_code != 0
    assert run("segment", "delete", "Крупные Москва", "--as", "ivanov").exit_code == 0
    with api.database.read() as session:
        assert session.execute(select(Segment)).first() is None
