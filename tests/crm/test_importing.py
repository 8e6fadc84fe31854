"""Tests for crm.importing: reading 1C/Excel files and importing counterparties and contact persons."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from crm import accounts, importing, records, tabular
from crm.database import Database
from crm.errors import ImportFailed
from crm.models import ContactPerson, Counterparty, User
from crm.validation import inn_check_digits
from tests.conftest import SQLITE_ONLY

DATA = Path(__file__).parent.parent / "data" / "import"
COUNTERPARTIES = records.record_type("counterparties")


@pytest.fixture
def db(database: Database) -> Database:
    """The shared fixture: every import test runs on SQLite and PostgreSQL."""
    return database


@pytest.fixture
def ivanov(db: Database) -> User:
    with db.write() as session:
        return accounts.create_user(
            session, login="ivanov", full_name="Иванов Иван", password="secret123", team="Москва"
        )


def make_user(db: Database, login: str, full_name: str, **kwargs: Any) -> User:
    with db.write() as session:
        return accounts.create_user(session, login=login, full_name=full_name, **kwargs)


def add_counterparty(db: Database, actor: User, **data: Any) -> Counterparty:
    with db.write() as session:
        return records.create(session, actor, COUNTERPARTIES, {"legal_name": "ООО Тест", **data})  # type: ignore[no-any-return]


def counterparties(db: Database) -> dict[str, Counterparty]:
    """What a fresh reader sees, i.e. what was committed."""
    with db.read() as session:
        found = {c.legal_name: c for c in session.execute(select(Counterparty)).scalars()}
        session.expunge_all()  # keep the loaded values past the reader's rollback
    return found


def people(db: Database) -> dict[str, ContactPerson]:
    with db.read() as session:
        found = {p.full_name: p for p in session.execute(select(ContactPerson)).scalars()}
        session.expunge_all()
    return found


def write_csv(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


def write_xlsx(path: Path, *rows: list[Any]) -> Path:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def failure(db: Database, run: Any) -> ImportFailed:
    """Run an import that must fail inside a write transaction; return the error."""
    with pytest.raises(ImportFailed) as caught, db.write() as session:
        run(session)
    return caught.value


# ----------------------------------------------------------------------------- reading


def test_read_rows_decodes_cp1251_semicolon_csv() -> None:
    with pytest.raises(UnicodeDecodeError):  # the sample really is windows-1251
        (DATA / "counterparties_cp1251.csv").read_bytes().decode("utf-8")
    headers, rows = tabular.read_rows(DATA / "counterparties_cp1251.csv")
    assert headers[:4] == ["Наименование", "Краткое наименование", "ИНН", "КПП"]
    assert rows[0]["Наименование"] == 'ООО "Ромашка"'
    assert rows[0]["Телефоны"] == "8 (495) 123-45-67, +7 916 123 45 67"
    assert rows[0]["Примечание"] == "Ёлки на складе"
    assert all(
        v == "" for v in rows[2].values()
    )  # the empty row stays, so rows[i] is Excel row i + 2


@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_read_rows_detects_the_delimiter(tmp_path: Path, delimiter: str) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        delimiter.join(["Наименование", "ИНН"]),
        delimiter.join(['"ООО ""Ромашка""; опт, розница"', "7707083893"]),
    )
    assert tabular.read_rows(path) == (
        ["Наименование", "ИНН"],
        [{"Наименование": 'ООО "Ромашка"; опт, розница', "ИНН": "7707083893"}],
    )


def test_read_rows_other_excel_flavours(tmp_path: Path) -> None:
    # "Unicode text (*.txt)": UTF-16 with BOM, tab-separated.
    (tmp_path / "u.txt").write_bytes("ИНН\tФИО\r\n7707083893\tПетров\r\n".encode("utf-16"))
    assert tabular.read_rows(tmp_path / "u.txt") == (
        ["ИНН", "ФИО"],
        [{"ИНН": "7707083893", "ФИО": "Петров"}],
    )
    # A "sep=" line tells Excel the separator and is not shown as a row.
    path = write_csv(tmp_path / "s.csv", "sep=,", "ИНН,ФИО", "7707083893,Петров", encoding="cp1251")
    assert tabular.read_rows(path) == (["ИНН", "ФИО"], [{"ИНН": "7707083893", "ФИО": "Петров"}])


def test_read_rows_xlsx_numbers_and_dates(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "x.xlsx",
        ["ИНН", "Телефон", "День рождения", "Напоминать за (дней)"],
        [7707083893.0, 74951234567, datetime(1980, 5, 17), 3.0],
        [],
        [500100732259.0, None, None, 7],
    )
    headers, rows = tabular.read_rows(path)
    assert headers == ["ИНН", "Телефон", "День рождения", "Напоминать за (дней)"]
    assert rows[0] == {
        "ИНН": "7707083893",
        "Телефон": "74951234567",
        "День рождения": "1980-05-17",
        "Напоминать за (дней)": "3",
    }
    assert rows[2]["ИНН"] == "500100732259"


def test_read_rows_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ImportFailed, match="Excel 97-2003"):
        tabular.read_rows(tmp_path / "old.xls")
    (tmp_path / "empty.csv").write_bytes(b"\r\n;;\r\n")
    with pytest.raises(ImportFailed, match="empty"):
        tabular.read_rows(tmp_path / "empty.csv")


# ----------------------------------------------------------------------------- counterparties


def test_import_cp1251_csv_as_russian_excel_writes_it(db: Database, ivanov: User) -> None:
    with db.write() as session:
        report = importing.import_counterparties(
            session, ivanov, DATA / "counterparties_cp1251.csv"
        )
    assert (report.total, report.created, report.skipped, report.empty, report.errors) == (
        3,
        3,
        0,
        1,
        [],
    )
    found = counterparties(db)
    romashka = found['ООО "Ромашка"']
    assert romashka.short_name == "Ромашка"
    assert (romashka.inn, romashka.kpp) == ("7707083893", "773601001")
    assert romashka.contacts == [
        {"kind": "phone", "value": "+74951234567"},
        {"kind": "phone", "value": "+79161234567"},
        {"kind": "email", "value": "info@romashka.ru"},
    ]
    assert romashka.kinds == ["client", "partner"]
    assert romashka.tags == ["опт", "Москва"]
    assert romashka.notes == "Ёлки на складе"
    assert romashka.owner_id == ivanov.id
    severstal = found["АО «Северсталь-Трейд»"]
    assert severstal.kinds == ["supplier"]
    assert severstal.contacts[0] == {"kind": "phone", "value": "+78125550102", "ext": "123"}
    sole_trader = found["ИП Кузнецов Пётр Ильич"]
    assert (sole_trader.inn, sole_trader.kpp, sole_trader.kinds) == (
        "500100732259",
        None,
        ["prospect"],
    )


def test_import_utf8_bom_csv_with_odd_headers(db: Database, ivanov: User) -> None:
    with db.write() as session:
        report = importing.import_counterparties(
            session, ivanov, DATA / "counterparties_utf8_bom.csv"
        )
    assert report.created == 2
    found = counterparties(db)
    vector = found['ООО "Вектор"']
    assert vector.kinds == ["supplier"]
    assert vector.contacts == [
        {"kind": "phone", "value": "+78312345678"},
        {"kind": "email", "value": "office@vector.ru"},
    ]
    laguna = found["ООО Лагуна"]
    assert (laguna.inn, laguna.kpp) == ("0274062111", "027401001")  # leading zeros restored
    assert laguna.kinds == ["client", "partner"]
    assert laguna.owner_id == ivanov.id  # «Ответственный» given by full name


def test_import_xlsx_with_floats_as_excel_stores_numbers(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    path = write_xlsx(
        tmp_path / "clients.xlsx",
        ["Полное наименование", "Наименование", "ИНН", "КПП", "Телефон", "Вид"],
        [
            "Общество с ограниченной ответственностью «Ромашка»",
            "Ромашка",
            7707083893.0,
            773601001,
            74951234567,
            "Клиент",
        ],
        [
            "Индивидуальный предприниматель Кузнецов П. И.",
            "ИП Кузнецов",
            500100732259.0,
            None,
            89161234567.0,
            None,
        ],
    )
    with db.write() as session:
        report = importing.import_counterparties(session, ivanov, path)
    assert report.created == 2
    found = counterparties(db)
    romashka = found["Общество с ограниченной ответственностью «Ромашка»"]
    # 1C exports both names: «Наименование» is then the short one.
    assert romashka.short_name == "Ромашка"
    assert (romashka.inn, romashka.kpp) == ("7707083893", "773601001")
    assert romashka.contacts == [{"kind": "phone", "value": "+74951234567"}]
    trader = found["Индивидуальный предприниматель Кузнецов П. И."]
    assert trader.inn == "500100732259"
    assert trader.contacts == [{"kind": "phone", "value": "+79161234567"}]


def test_a_bad_row_fails_the_whole_import_and_leaves_nothing(db: Database, ivanov: User) -> None:
    error = failure(
        db,
        lambda s: importing.import_counterparties(s, ivanov, DATA / "counterparties_bad_rows.csv"),
    )
    assert error.message == "2 of 3 rows have errors; nothing was imported"
    assert len(error.details) == 2
    assert (
        error.details[0].startswith("row 3, ИНН: ") and "check digit mismatch" in error.details[0]
    )
    assert error.details[1].startswith("row 4, Телефон: ")
    assert counterparties(db) == {}


def test_dry_run_reports_every_error_and_changes_nothing(db: Database, ivanov: User) -> None:
    with db.write() as session:
        report = importing.import_counterparties(
            session, ivanov, DATA / "counterparties_bad_rows.csv", dry_run=True
        )
        assert session.execute(select(Counterparty)).first() is None
    assert report.created == 1
    assert [(e.row, e.column) for e in report.errors] == [(3, "ИНН"), (4, "Телефон")]
    assert counterparties(db) == {}
    with db.write() as session:
        report = importing.import_counterparties(
            session, ivanov, DATA / "counterparties_cp1251.csv", dry_run=True
        )
    assert (report.created, report.errors) == (3, [])
    assert counterparties(db) == {}


def test_import_errors_from_the_importer_itself(db: Database, ivanov: User, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        "Наименование;ИНН;Вид;Ответственный;ОПФ",
        "ООО А;5,001E+11;клиент;ivanov;ООО",
        "ООО Б;;покупатель;nobody;ООО",
        "ООО В;;друг;;Общество с ограниченной ответственностью",
        ";7736207543;;;",
    )
    error = failure(db, lambda s: importing.import_counterparties(s, ivanov, path))
    assert error.message == "4 of 4 rows have errors; nothing was imported"
    assert error.details[0].startswith("row 2, ИНН: Excel saved '5,001E+11' in exponent form")
    assert error.details[1] == "row 3, Ответственный: no user with login 'nobody'"
    assert error.details[2].startswith("row 4, Вид: must be one of клиент, поставщик")
    assert error.details[3] == "row 4, ОПФ: longer than 20 characters"
    assert error.details[4] == "row 5, Наименование: is required"


def test_owner_must_be_someone_the_actor_may_manage(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    petrova = make_user(db, "petrova", "Петрова Мария", team="Москва")
    path = write_csv(tmp_path / "x.csv", "Наименование;Ответственный", "ООО А;petrova")
    error = failure(db, lambda s: importing.import_counterparties(s, ivanov, path))
    assert error.details == ["row 2, Ответственный: you may not create this counterparty"]
    boss = make_user(db, "boss", "Начальник", team="Москва", role="manager")
    with db.write() as session:
        importing.import_counterparties(session, boss, path)
        importing.import_counterparties(
            session, boss, write_csv(tmp_path / "y.csv", "Наименование", "ООО Б"), owner=petrova
        )
    assert {c.legal_name: c.owner_id for c in counterparties(db).values()} == {
        "ООО А": petrova.id,
        "ООО Б": petrova.id,
    }


def test_duplicates_of_existing_counterparties(db: Database, ivanov: User) -> None:
    add_counterparty(
        db, ivanov, legal_name="ООО Ромашка (старая)", inn="7707083893", kpp="773601001"
    )
    error = failure(
        db, lambda s: importing.import_counterparties(s, ivanov, DATA / "counterparties_cp1251.csv")
    )
    assert error.details == [
        "row 2, ИНН: duplicate of «ООО Ромашка (старая)» already in Satchel "
        "(ИНН 7707083893, КПП 773601001)"
    ]
    with db.write() as session:
        report = importing.import_counterparties(
            session, ivanov, DATA / "counterparties_cp1251.csv", skip_existing=True
        )
    assert (report.created, report.skipped) == (2, 1)
    assert len(counterparties(db)) == 3


def test_duplicates_within_the_file(db: Database, ivanov: User, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        "Наименование;ИНН;КПП",
        "ООО Ромашка;7707083893;773601001",
        "ООО Ромашка, филиал;7707083893;773602001",  # a branch: another KPP
        "Ромашка;7707 083 893;773601001",
    )
    error = failure(db, lambda s: importing.import_counterparties(s, ivanov, path))
    assert error.details == ["row 4, ИНН: duplicate of row 2 (ИНН 7707083893, КПП 773601001)"]
    with db.write() as session:
        report = importing.import_counterparties(session, ivanov, path, skip_existing=True)
    assert (report.created, report.skipped) == (2, 1)


def test_counterparties_the_actor_cannot_see_are_not_duplicates(db: Database, ivanov: User) -> None:
    stranger = make_user(db, "sidorov", "Сидоров", team="Казань")
    add_counterparty(db, stranger, inn="7707083893", kpp="773601001")  # private to sidorov
    with db.write() as session:
        report = importing.import_counterparties(
            session, ivanov, DATA / "counterparties_cp1251.csv"
        )
    assert report.created == 3


@SQLITE_ONLY  # a problem of the file itself, found while reading it, before any row reaches the database
def test_unknown_columns_are_an_error_listing_known_headers(db: Database, ivanov: User) -> None:
    error = failure(
        db,
        lambda s: importing.import_counterparties(
            s, ivanov, DATA / "counterparties_unknown_column.csv"
        ),
    )
    assert "column C «Цвет» is not a known column" in error.message
    assert "Known columns: Наименование, Краткое наименование, ОПФ, ИНН" in error.message
    assert "inn: ИНН / inn" in error.details
    assert counterparties(db) == {}


@SQLITE_ONLY  # a problem of the file itself, found while reading it, before any row reaches the database
def test_header_problems(db: Database, ivanov: User, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "ИНН;инн;;Телефон;Тел.", "7707083893;;x;1;2")
    error = failure(db, lambda s: importing.import_counterparties(s, ivanov, path))
    assert error.details[:3] == [
        "column C has values but no header",
        "columns «ИНН», «инн» all mean inn; keep one",
        "the file needs a column «Наименование»",
    ]


def test_progress_is_reported_every_hundred_rows(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "x.csv", "Наименование", *(f"ООО Компания {i}" for i in range(250)))
    calls: list[tuple[int, int]] = []
    with db.write() as session:
        importing.import_counterparties(
            session, ivanov, path, progress=lambda d, t: calls.append((d, t))
        )
    assert calls == [(100, 250), (200, 250), (250, 250)]


# ----------------------------------------------------------------------------- contact persons


def test_contact_persons_attach_to_the_counterparty_by_inn(db: Database, ivanov: User) -> None:
    romashka = add_counterparty(db, ivanov, legal_name="ООО Ромашка", inn="7707083893")
    severstal = add_counterparty(db, ivanov, legal_name="АО Северсталь", inn="7736207543")
    with db.write() as session:
        report = importing.import_contact_persons(
            session, ivanov, DATA / "contact_persons_cp1251.csv"
        )
    assert report.created == 2
    found = people(db)
    petrov = found["Петров Пётр Петрович"]
    assert petrov.counterparty_id == romashka.id
    assert petrov.position == "Директор"
    assert petrov.contacts == [
        {"kind": "phone", "value": "+74951234567", "ext": "12"},
        {"kind": "email", "value": "petrov@romashka.ru"},
    ]
    assert (petrov.birthday, petrov.birthday_remind_days) == (date(1980, 5, 17), 5)
    sidorova = found["Сидорова Анна"]
    assert sidorova.counterparty_id == severstal.id
    assert (sidorova.birthday, sidorova.birthday_remind_days) == (date(1985, 3, 2), 3)


def test_contact_persons_from_xlsx_by_counterparty_name(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    romashka = add_counterparty(db, ivanov, legal_name="ООО «Ромашка»", short_name="Ромашка")
    path = write_xlsx(
        tmp_path / "people.xlsx",
        ["Контрагент", "ФИО", "Дата рождения", "Напоминать за"],
        ["ромашка", "Петров Пётр", datetime(1980, 5, 17), 7.0],
        ["ООО  «РОМАШКА»", "Иванова Ольга", "02.03.1985", None],
    )
    with db.write() as session:
        importing.import_contact_persons(session, ivanov, path)
    found = people(db)
    assert {p.counterparty_id for p in found.values()} == {romashka.id}
    assert (found["Петров Пётр"].birthday, found["Петров Пётр"].birthday_remind_days) == (
        date(1980, 5, 17),
        7,
    )
    assert found["Иванова Ольга"].birthday == date(1985, 3, 2)


def test_contact_person_counterparty_problems(db: Database, ivanov: User, tmp_path: Path) -> None:
    add_counterparty(db, ivanov, legal_name="ООО Ромашка", inn="7707083893", kpp="773601001")
    add_counterparty(
        db, ivanov, legal_name="ООО Ромашка, филиал", inn="7707083893", kpp="773602001"
    )
    stranger = make_user(db, "sidorov", "Сидоров", team="Казань")
    add_counterparty(db, stranger, legal_name="ООО Чужая", inn="7736207543")
    inn = "123456789" + inn_check_digits("123456789")
    path = write_csv(
        tmp_path / "x.csv",
        "ИНН контрагента;ФИО;День рождения",
        "7707083893;Петров;",
        "7736207543;Сидоров;",
        f"{inn};Кузнецов;",
        "7707083894;Смирнов;",
        ";Без компании;",
        "7707083893;;31.02.1980",
    )
    error = failure(db, lambda s: importing.import_contact_persons(s, ivanov, path))
    assert error.message == "6 of 6 rows have errors; nothing was imported"
    assert error.details[0].startswith(
        "row 2, ИНН контрагента: 2 counterparties have ИНН 7707083893: "
    )
    assert error.details[0].endswith("add a «КПП контрагента» column")
    assert (
        error.details[1] == "row 3, ИНН контрагента: no counterparty you can see has ИНН 7736207543"
    )
    assert error.details[2] == f"row 4, ИНН контрагента: no counterparty you can see has ИНН {inn}"
    assert "check digit mismatch" in error.details[3]
    assert (
        error.details[4] == "row 6: say which counterparty: fill «ИНН контрагента» or «Контрагент»"
    )
    assert error.details[5].startswith(
        "row 7, День рождения: '31.02.1980' is not a date; write dd.mm.yyyy"
    )
    assert people(db) == {}


def test_contact_person_kpp_tells_branches_apart(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    add_counterparty(db, ivanov, legal_name="ООО Ромашка", inn="7707083893", kpp="773601001")
    branch = add_counterparty(
        db, ivanov, legal_name="ООО Ромашка, филиал", inn="7707083893", kpp="773602001"
    )
    path = write_csv(
        tmp_path / "x.csv", "ИНН контрагента;КПП контрагента;ФИО", "7707083893;773602001;Петров"
    )
    with db.write() as session:
        importing.import_contact_persons(session, ivanov, path)
    assert people(db)["Петров"].counterparty_id == branch.id


def test_duplicate_contact_persons(db: Database, ivanov: User, tmp_path: Path) -> None:
    add_counterparty(db, ivanov, legal_name="ООО Ромашка", inn="7707083893")
    path = write_csv(
        tmp_path / "x.csv", "ИНН;ФИО", "7707083893;Петров Пётр", "7707083893;ПЕТРОВ  Петр"
    )
    error = failure(db, lambda s: importing.import_contact_persons(s, ivanov, path))
    assert error.details == ["row 3, ФИО: duplicate of row 2 at this counterparty"]
    with db.write() as session:
        assert (
            importing.import_contact_persons(session, ivanov, path, skip_existing=True).skipped == 1
        )
    with db.write() as session:
        assert (
            importing.import_contact_persons(session, ivanov, path, skip_existing=True).skipped == 2
        )
    assert list(people(db)) == ["Петров Пётр"]


def test_contact_persons_need_write_access_to_the_counterparty(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    stranger = make_user(db, "sidorov", "Сидоров", team="Казань")
    add_counterparty(db, stranger, legal_name="ООО Общая", inn="7707083893", visibility="company")
    path = write_csv(tmp_path / "x.csv", "ИНН контрагента;ФИО", "7707083893;Петров")
    error = failure(db, lambda s: importing.import_contact_persons(s, ivanov, path))
    assert error.details == ["row 2, ИНН контрагента: you may not create this contact_person"]


# ----------------------------------------------------------------------------- aliases


@pytest.mark.parametrize("fields", [importing.COUNTERPARTY_FIELDS, importing.CONTACT_PERSON_FIELDS])
def test_every_header_alias_means_one_field(fields: tuple[Any, ...]) -> None:
    meaning: dict[str, set[str]] = {}
    for f in fields:
        for alias in f.aliases:
            meaning.setdefault(importing._key(alias), set()).add(f.name)
    assert {key: names for key, names in meaning.items() if len(names) > 1} == {}


# ----------------------------------------------------------------------------- hostile and odd files


def _rewrite_member(path: Path, name: str, write: Any) -> None:
    """Replace member ``name`` of the zip at ``path``; ``write(stream)`` writes its new bytes."""
    with zipfile.ZipFile(path) as old:
        members = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in members:
            if info.filename == name:
                with new.open(name, "w", force_zip64=True) as stream:
                    write(stream)
            else:
                new.writestr(info, data)


def test_an_xlsx_declaring_every_cell_of_the_sheet_is_read_as_what_it_holds_or_refused(
    tmp_path: Path,
) -> None:
    path = write_xlsx(
        tmp_path / "wide.xlsx", ["Наименование", "ИНН"], ["ООО Ромашка", "7707083893"]
    )
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    hostile = re.sub(rb"<dimension [^>]*>", b'<dimension ref="A1:XFD1048576"/>', sheet)
    assert hostile != sheet
    _rewrite_member(path, "xl/worksheets/sheet1.xml", lambda s: s.write(hostile))
    assert path.stat().st_size < 8000
    assert tabular.read_rows(path) == (
        ["Наименование", "ИНН"],
        [{"Наименование": "ООО Ромашка", "ИНН": "7707083893"}],
    )
    # And a cell in the very last one: a million rows of 16,384 cells, were they padded.
    last = (
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    )
    _rewrite_member(
        path, "xl/worksheets/sheet1.xml", lambda s: s.write(hostile.replace(b"</sheetData>", last))
    )
    assert path.stat().st_size < 8000
    with pytest.raises(ImportFailed, match="more than 100000 rows"):
        tabular.read_rows(path)


def test_an_xlsx_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "bomb.xlsx", ["Наименование"], ["ООО Ромашка"])
    rows = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 10_000

    def write(stream: Any) -> None:
        stream.write(
            b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><sheetData>'
        )
        for _ in range(150):  # 1.5 million rows, 72 MB unpacked
            stream.write(rows)
        stream.write(b"</sheetData></worksheet>")

    _rewrite_member(path, "xl/worksheets/sheet1.xml", write)
    assert path.stat().st_size < 1_500_000
    with pytest.raises(ImportFailed, match="unpacks to"):
        tabular.read_rows(path)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_rows_and_cells_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    rows = [["Наименование", "ИНН"]] + [[f"ООО {n}", ""] for n in range(30)]
    path = (
        write_xlsx(tmp_path / "x.xlsx", *rows)
        if suffix == ".xlsx"
        else write_csv(tmp_path / "x.csv", *(";".join(r) for r in rows))
    )
    monkeypatch.setattr(tabular, "MAX_ROWS", 20)
    with pytest.raises(ImportFailed, match="more than 20 rows"):
        tabular.read_rows(path)
    monkeypatch.setattr(tabular, "MAX_ROWS", 100)
    monkeypatch.setattr(tabular, "MAX_COLUMNS", 1)
    with pytest.raises(ImportFailed, match="at most 1 can be imported"):
        tabular.read_rows(path)
    if suffix == ".xlsx":
        monkeypatch.setattr(tabular, "MAX_COLUMNS", 10)
        monkeypatch.setattr(tabular, "MAX_CELLS", 40)
        with pytest.raises(ImportFailed, match="more than 40 cells"):
            tabular.read_rows(path)


@SQLITE_ONLY  # a problem of the file itself, found while reading it, before any row reaches the database
def test_a_cell_longer_than_excel_allows_is_a_problem_of_its_row(
    db: Database, ivanov: User, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "x.csv",
        "Наименование;Примечание",
        "ООО Ромашка;склад",
        "ООО Вектор;" + "п" * 200_000,
    )
    error = failure(db, lambda s: importing.import_counterparties(s, ivanov, path))
    assert error.details == ["row 3, Примечание: 200000 characters; a cell holds at most 32767"]
    assert counterparties(db) == {}


@pytest.mark.parametrize(
    "encoding", ["koi8_r", "cp866", "utf-16-le", "utf-16-be", "cp1251", "utf-8"]
)
def test_csv_in_any_encoding_russian_software_writes(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        'Наименование;ИНН;Примечание\r\nООО "Ёлки-палки";7707083893;склад\r\n'
        "ИП Щукин;;звонить утром\r\n".encode(encoding)
    )
    assert tabular.read_rows(path) == (
        ["Наименование", "ИНН", "Примечание"],
        [
            {"Наименование": 'ООО "Ёлки-палки"', "ИНН": "7707083893", "Примечание": "склад"},
            {"Наименование": "ИП Щукин", "ИНН": "", "Примечание": "звонить утром"},
        ],
    )


def test_a_csv_with_nul_bytes_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_bytes("Наименование\r\nООО Ромашка\x00\r\n".encode("cp1251"))
    with pytest.raises(ImportFailed, match="NUL"):
        tabular.read_rows(tmp_path / "x.csv")
