"""Contact persons as vCards (crm.vcards) over REST and the command line, on SQLite and PostgreSQL:
what goes out comes back the same, a second import adds nothing, a bad card refuses the whole file
naming it, Outlook's Windows-1251 files are read; what one may not see is never exported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import vobject
from sqlalchemy import func, select
from typer.testing import CliRunner

from crm.models import ContactPerson
from server.commands import app
from tests.server.conftest import Api

OUTLOOK = (
    "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=Windows-1251:Смирнова;Анна;Игоревна\r\n"
    "FN;CHARSET=Windows-1251:Смирнова Анна Игоревна\r\nTITLE;CHARSET=Windows-1251:Бухгалтер\r\n"
    "TEL;WORK;VOICE:8 (495) 765-43-21\r\nEMAIL;PREF;INTERNET:buh@romashka.test\r\nEND:VCARD\r\n"
)


def _people(api: Api, counterparty_id: str) -> list[ContactPerson]:
    with api.database.read() as session:
        return list(
            session.execute(
                select(ContactPerson)
                .where(ContactPerson.counterparty_id == counterparty_id)
                .order_by(ContactPerson.full_name)
            ).scalars()
        )


def test_people_go_out_as_vcards_and_come_back_the_same(api: Api) -> None:
    owner = api.user("ivanov")
    stranger = api.user("petrova", team="Питер")
    cp = api.create(owner, "counterparties", legal_name="ООО «Ромашка»", short_name="Ромашка")
    api.create(
        owner,
        "contact-persons",
        counterparty_id=cp["id"],
        full_name="Петров Пётр Петрович",
        position="Директор",
        birthday="1980-06-15",
        notes="Звонить до обеда; любит чай, без сахара",
        contacts=[
            {"kind": "phone", "value": "+7 495 123-45-67", "ext": "204"},
            {"kind": "email", "value": "petrov@romashka.test"},
        ],
    )
    api.create(owner, "contact-persons", counterparty_id=cp["id"], full_name="Anna Smith")
    r = api.client.get(f"/api/v1/counterparties/{cp['id']}/vcard", headers=owner)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vcard")
    assert "attachment" in r.headers["content-disposition"]
    cards = list(vobject.readComponents(r.text))
    assert [c.fn.value for c in cards] == ["Anna Smith", "Петров Пётр Петрович"]
    petrov = cards[1]
    assert (petrov.n.value.family, petrov.n.value.given, petrov.n.value.additional) == (
        "Петров",
        "Пётр",
        "Петрович",
    )
    assert petrov.org.value == ["Ромашка"] and petrov.title.value == "Директор"
    assert petrov.tel.value == "+74951234567;ext=204" and petrov.bday.value == "1980-06-15"
    assert petrov.note.value == "Звонить до обеда; любит чай, без сахара"
    assert cards[0].n.value.family == "Smith"
    # A stranger gets nothing of it.
    assert (
        api.client.get(f"/api/v1/counterparties/{cp['id']}/vcard", headers=stranger).status_code
        == 404
    )
    # Into another counterparty: the same people, the same values.
    other = api.create(owner, "counterparties", legal_name="ООО «Вектор»")
    imported = api.client.post(
        f"/api/v1/counterparties/{other['id']}/vcard",
        content=r.text.encode(),
        headers={**owner, "Content-Type": "text/vcard"},
    )
    assert imported.status_code == 201, imported.text
    assert len(imported.json()["created"]) == 2 and imported.json()["skipped"] == []
    [anna, back] = _people(api, other["id"])
    assert (back.full_name, back.position, str(back.birthday), back.notes) == (
        "Петров Пётр Петрович",
        "Директор",
        "1980-06-15",
        "Звонить до обеда; любит чай, без сахара",
    )
    assert back.contacts == [
        {"kind": "phone", "value": "+74951234567", "ext": "204"},
        {"kind": "email", "value": "petrov@romashka.test"},
    ]
    assert anna.full_name == "Anna Smith"
    # Again: nothing new.
    again = api.client.post(
        f"/api/v1/counterparties/{other['id']}/vcard",
        content=r.text.encode(),
        headers={**owner, "Content-Type": "text/vcard"},
    )
    assert again.status_code == 201 and again.json() == {
        "created": [],
        "skipped": ["Anna Smith", "Петров Пётр Петрович"],
    }
    assert len(_people(api, other["id"])) == 2


def test_a_bad_card_refuses_the_file_and_outlooks_windows_1251_is_read(api: Api) -> None:
    owner = api.user("ivanov")
    cp = api.create(owner, "counterparties", legal_name="ООО «Ромашка»")

    def post(body: bytes) -> Any:
        return api.client.post(
            f"/api/v1/counterparties/{cp['id']}/vcard",
            content=body,
            headers={**owner, "Content-Type": "text/vcard"},
        )

    bad = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Хороший\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Плохой\r\nEMAIL:не-адрес\r\nEND:VCARD\r\n"
    )
    r = post(bad.encode())
    assert r.status_code == 422, r.text
    assert "Плохой" in str(r.json()["details"])
    assert _people(api, cp["id"]) == []
    for junk in (b"", b"hello", b"BEGIN:VCARD\r\nFN:broken", b"\x00"):
        refused = post(junk)
        assert refused.status_code == 400, (junk, refused.text)
    assert _people(api, cp["id"]) == []
    r = post(OUTLOOK.encode("cp1251"))
    assert r.status_code == 201, r.text
    [anna] = _people(api, cp["id"])
    assert (anna.full_name, anna.position) == ("Смирнова Анна Игоревна", "Бухгалтер")
    assert {c["value"] for c in anna.contacts} == {"+74957654321", "buh@romashka.test"}


def test_the_command_line_exports_and_imports(api: Api, tmp_path: Path) -> None:
    owner = api.user("ivanov")
    cp = api.create(owner, "counterparties", legal_name="ООО «Ромашка»")
    api.create(owner, "contact-persons", counterparty_id=cp["id"], full_name="Пётр Петров")
    other = api.create(owner, "counterparties", legal_name="ООО «Вектор»")
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "200"}
    runner = CliRunner()
    out = tmp_path / "people.vcf"
    done = runner.invoke(
        app, ["vcard", "export", cp["id"], "--as", "ivanov", "-o", str(out)], env=env
    )
    assert done.exit_code == 0, done.output
    assert "1 card(s)" in done.output and "FN:Пётр Петров" in out.read_text(encoding="utf-8")
    added = runner.invoke(
        app, ["vcard", "import", str(out), "--counterparty", other["id"], "--as", "ivanov"], env=env
    )
    assert added.exit_code == 0 and "1 contact person(s) added" in added.output, added.output
    again = runner.invoke(
        app, ["vcard", "import", str(out), "--counterparty", other["id"], "--as", "ivanov"], env=env
    )
    assert "0 contact person(s) added, 1 already there" in again.output
    with api.database.read() as session:
        assert session.execute(select(func.count()).select_from(ContactPerson)).scalar_one() == 2
