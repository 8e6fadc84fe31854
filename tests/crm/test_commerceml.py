"""1C's CommerceML 2 documents: a realistic windows-1251 exchange file stored as sales and invoices
with known answers, a broken file refused whole, a repeated import adding nothing, a DTD refused,
a UTF-8 file with the namespace, only the office importing; and the parser, on mutated files,
raising nothing but its own error."""

from __future__ import annotations

import codecs
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from crm import commerceml, records
from crm.commerceml import CommerceMLError
from crm.commerceml_import import import_commerceml
from crm.database import Database
from crm.errors import ImportFailed, PermissionDenied
from crm.models import Counterparty, Sale, SalesSummary, User
from crm.models.trade import Invoice
from tests.conftest import FUZZ_SEED, examples, make_user
from tests.crm.test_duplicates import inn10

D = Decimal
OURS = inn10("772000000")  # the company itself, the seller
ALPHA, BETA, UNKNOWN = inn10("770100001"), inn10("770100002"), inn10("770100009")
NS = "urn:1C.ru:commerceml_2"


def _company(database: Database) -> dict[str, str]:
    make_user(database, "office", role="office", team=None)
    make_user(database, "ivanov")
    rt = records.record_type("counterparties")
    ids: dict[str, str] = {}
    with database.write() as session:
        ivanov = _user(session, "ivanov")
        for name, data in (
            ("ООО Альфа", {"inn": ALPHA, "kpp": "770101001"}),
            ("ООО Бета", {"inn": BETA}),
            ("ООО Гамма", {}),  # no INN: found by its name
        ):
            cp = records.create(session, ivanov, rt, {"legal_name": name, **data})
            ids[name] = cp.id
    return ids


def _user(session: Any, login: str) -> User:
    return session.execute(select(User).where(col(User.login) == login)).scalar_one()


def _party(role: str, name: str, inn: str = "", kpp: str = "", full: str = "") -> str:
    return (
        "<Контрагент><Ид>" + f"cp-{inn or name}" + "</Ид>"
        f"<Наименование>{name}</Наименование>"
        + (f"<ПолноеНаименование>{full}</ПолноеНаименование>" if full else "")
        + (f"<ИНН>{inn}</ИНН>" if inn else "")
        + (f"<КПП>{kpp}</КПП>" if kpp else "")
        + f"<Роль>{role}</Роль></Контрагент>"
    )


SELLER = _party("Продавец", "ООО Ювелирный дом", OURS, "772001001")


def _line(name: str, amount: str, group: str = "", requisite: str = "") -> str:
    return (
        f"<Товар><Ид>{name}</Ид><Наименование>{name}</Наименование>"
        + (f"<Группы><Ид>{group}</Ид></Группы>" if group else "")
        + '<БазоваяЕдиница Код="796">шт</БазоваяЕдиница><ЦенаЗаЕдиницу>1</ЦенаЗаЕдиницу>'
        f"<Количество>1</Количество><Сумма>{amount}</Сумма>"
        + (
            "<ЗначенияРеквизитов><ЗначениеРеквизита><Наименование>НоменклатурнаяГруппа"
            f"</Наименование><Значение>{requisite}</Значение></ЗначениеРеквизита>"
            "</ЗначенияРеквизитов>"
            if requisite
            else ""
        )
        + "</Товар>"
    )


def _doc(
    ident: str,
    number: str,
    day: str,
    operation: str,
    total: str,
    parties: list[str],
    lines: list[str] | None = None,
    requisites: dict[str, str] | None = None,
    extra: str = "",
) -> str:
    pairs = "".join(
        f"<ЗначениеРеквизита><Наименование>{k}</Наименование><Значение>{v}</Значение>"
        "</ЗначениеРеквизита>"
        for k, v in (requisites or {}).items()
    )
    return (
        f"\n  <Документ>\n    <Ид>{ident}</Ид>\n    <Номер>{number}</Номер>\n"
        f"    <Дата>{day}</Дата>\n    <ХозОперация>{operation}</ХозОперация>\n"
        "    <Роль>Продавец</Роль>\n    <Валюта>руб</Валюта>\n    <Курс>1</Курс>\n"
        f"    <Сумма>{total}</Сумма>\n"
        f"    <Контрагенты>{''.join(parties)}</Контрагенты>\n"
        f"    <Время>10:00:00</Время>{extra}\n"
        + (f"    <Товары>{''.join(lines)}</Товары>\n" if lines else "")
        + (f"    <ЗначенияРеквизитов>{pairs}</ЗначенияРеквизитов>\n" if pairs else "")
        + "  </Документ>"
    )


CLASSIFIER = """
  <Классификатор>
    <Ид>cls-1</Ид><Наименование>Классификатор (Номенклатура)</Наименование>
    <Группы>
      <Группа><Ид>g-rings</Ид><Наименование>Кольца</Наименование>
        <Группы><Группа><Ид>g-earrings</Ид><Наименование>Серьги</Наименование></Группа></Группы>
      </Группа>
    </Группы>
  </Классификатор>"""

POSTED = {"Проведен": "true", "ПометкаУдаления": "false"}

# The realistic file: two shipments and an invoice to store; a return, an order, a deleted and an
# unposted shipment skipped.
DOCUMENTS = [
    _doc(
        "d-101",
        "ТД00-000101",
        "2026-02-03",
        "Отпуск товара",
        "12 600,00",
        [SELLER, _party("Покупатель", "ООО Альфа", ALPHA, "770101001")],
        [
            _line("Кольцо 585", "4\u00a0000,00", "g-rings"),
            _line("Кольцо 750", "6000.00", "g-rings"),
            _line("Серьги пусеты", "1 500,50", "g-earrings"),
            _line("Цепь якорная", "1099.50", requisite="Цепи"),
        ],
        {**POSTED, "Ответственный": "Пользователь ivanov", "Договор": "Основной договор"},
    ),
    _doc(
        "d-102",
        "ТД00-000102",
        "2026-02-05",
        "Отпуск товара",
        "1 234,50",
        [_party("Покупатель", "ООО Гамма", full="Общество с ограниченной ответственностью Гамма")],
        requisites={**POSTED, "Менеджер": "ivanov"},
    ),
    _doc(
        "d-7",
        "СЧ-7",
        "2026-02-01",
        "Счет на оплату",
        "50000.00",
        [SELLER, _party("Плательщик", "ООО Бета", BETA)],
        [_line("Кольцо 585", "50000.00", "g-rings")],
        {**POSTED, "Договор": "Договор поставки № 15/2026 от 10.01.2026"},
        extra="<СрокПлатежа>2026-02-15</СрокПлатежа>",
    ),
    _doc(
        "d-r1",
        "ВЗ-1",
        "2026-02-10",
        "Возврат товара",
        "4000.00",
        [_party("Покупатель", "ООО Альфа", ALPHA, "770101001")],
        [_line("Кольцо 585", "4000.00", "g-rings")],
        POSTED,
    ),
    _doc(
        "d-o5",
        "ЗК-5",
        "2026-02-02",
        "Заказ товара",
        "999.00",
        [_party("Покупатель", "ООО Бета", BETA)],
        requisites=POSTED,
    ),
    _doc(
        "d-100",
        "ТД00-000100",
        "2026-02-01",
        "Отпуск товара",
        "777.00",
        [_party("Покупатель", "ООО Альфа", ALPHA, "770101001")],
        requisites={"Проведен": "false", "ПометкаУдаления": "true"},
    ),
    _doc(
        "d-103",
        "ТД00-000103",
        "2026-02-06",
        "Отпуск товара",
        "500.00",
        [_party("Покупатель", "ООО Бета", BETA)],
        requisites={"Проведен": "false"},
    ),
]


def _file(
    documents: list[str],
    *,
    classifier: str = CLASSIFIER,
    encoding: str = "windows-1251",
    namespace: bool = False,
    prolog: str = "",
) -> bytes:
    xmlns = f' xmlns="{NS}" xmlns:xs="http://www.w3.org/2001/XMLSchema"' if namespace else ""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{prolog}'
        f'<КоммерческаяИнформация{xmlns} ВерсияСхемы="2.08" '
        'ДатаФормирования="2026-02-28T18:00:00">' + classifier + "".join(documents) + "\n"
        "</КоммерческаяИнформация>\n"
    )
    return text.encode("cp1251" if encoding == "windows-1251" else encoding)


def _write(tmp_path: Path, raw: bytes, name: str = "documents.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def _stored(database: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with database.read() as session:
        sales = sorted(
            (s.number, s.sold_on, s.counterparty_id, s.product_group, s.revenue, s.salesperson_id)
            for s in session.execute(select(Sale)).scalars()
        )
        bills = sorted(
            (i.number, i.issued_on, i.counterparty_id, i.amount, i.due_on, i.contract_number)
            for i in session.execute(select(Invoice)).scalars()
        )
    return sales, bills


# -- the parser alone


def test_the_parser_reads_the_realistic_file() -> None:
    package = commerceml.parse(_file(DOCUMENTS))
    assert package.version == "2.08" and package.read == 7 and not package.errors
    shipment, gamma, invoice = package.documents
    assert (shipment.kind, shipment.number, shipment.date) == (
        commerceml.SHIPMENT,
        "ТД00-000101",
        date(2026, 2, 3),
    )
    assert shipment.buyer.inn == ALPHA and shipment.buyer.kpp == "770101001"
    assert shipment.groups == {
        "Кольца": D("10000.00"),
        "Серьги": D("1500.50"),
        "Цепи": D("1099.50"),
    }
    assert shipment.total == D("12600.00") and shipment.salesperson == "Пользователь ivanov"
    assert gamma.groups == {"": D("1234.50")} and gamma.buyer.inn == ""
    assert gamma.buyer.names == ["ООО Гамма", "Общество с ограниченной ответственностью Гамма"]
    assert (invoice.kind, invoice.total, invoice.due_on, invoice.contract) == (
        commerceml.INVOICE,
        D("50000.00"),
        date(2026, 2, 15),
        "15/2026",
    )
    assert invoice.buyer.inn == BETA  # the payer, not the seller listed first
    assert [(s.operation, s.number, s.reason) for s in package.skipped] == [
        ("Возврат товара", "ВЗ-1", commerceml.NOT_IMPORTED),
        ("Заказ товара", "ЗК-5", commerceml.NOT_IMPORTED),
        ("Отпуск товара", "ТД00-000100", commerceml.DELETED),
        ("Отпуск товара", "ТД00-000103", commerceml.NOT_POSTED),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1234.50", D("1234.50")),
        ("1 234,50", D("1234.50")),
        ("1\u00a0234,5", D("1234.50")),
        ("-15", D("-15.00")),
        ("7.000", D("7.00")),
    ],
)
def test_amounts_as_1c_and_people_write_them(text: str, value: Decimal) -> None:
    assert commerceml.parse_amount(text) == value


@pytest.mark.parametrize(
    "text", ["12,3,4", "1.005", "NaN", "Infinity", "1e5", "1_000", "", "12O", "1" * 14]
)
def test_amounts_refused(text: str) -> None:
    with pytest.raises(ValueError):
        commerceml.parse_amount(text)


def test_a_foreign_currency_document_is_converted_at_its_rate() -> None:
    doc = _doc(
        "d-usd",
        "ТД-9",
        "2026-02-03",
        "Отпуск товара",
        "100.00",
        [_party("Покупатель", "ООО Альфа", ALPHA)],
        [_line("Кольцо", "100.00", "g-rings")],
    ).replace(
        "<Валюта>руб</Валюта>\n    <Курс>1</Курс>", "<Валюта>USD</Валюта><Курс>92,4567</Курс>"
    )
    (found,) = commerceml.parse(_file([doc])).documents
    assert found.groups == {"Кольца": D("9245.67")} and found.total == D("9245.67")
    no_rate = doc.replace("<Курс>92,4567</Курс>", "")
    assert "gives no Курс" in str(commerceml.parse(_file([no_rate])).errors[0])


# -- over a database


def test_a_realistic_file_is_stored_with_known_answers(database: Database, tmp_path: Path) -> None:
    ids = _company(database)
    path = _write(tmp_path, _file(DOCUMENTS))
    with database.write() as session:
        report = import_commerceml(session, _user(session, "office"), path)
        ivanov = _user(session, "ivanov").id
    assert report.documents == 7
    assert (report.sales_created, report.sales_skipped) == (4, 0)
    assert (report.invoices_created, report.invoices_skipped) == (1, 0)
    assert report.months == 2  # Альфа's and Гамма's summaries
    assert report.skipped_by_kind() == [
        ("Возврат товара", commerceml.NOT_IMPORTED, 1),
        ("Заказ товара", commerceml.NOT_IMPORTED, 1),
        ("Отпуск товара", commerceml.DELETED, 1),
        ("Отпуск товара", commerceml.NOT_POSTED, 1),
    ]
    sales, bills = _stored(database)
    alpha, gamma, beta = ids["ООО Альфа"], ids["ООО Гамма"], ids["ООО Бета"]
    assert sales == [
        ("ТД00-000101", date(2026, 2, 3), alpha, "Кольца", D("10000.00"), ivanov),
        ("ТД00-000101", date(2026, 2, 3), alpha, "Серьги", D("1500.50"), ivanov),
        ("ТД00-000101", date(2026, 2, 3), alpha, "Цепи", D("1099.50"), ivanov),
        ("ТД00-000102", date(2026, 2, 5), gamma, "", D("1234.50"), ivanov),
    ]
    assert bills == [("СЧ-7", date(2026, 2, 1), beta, D("50000.00"), date(2026, 2, 15), "15/2026")]
    with database.read() as session:
        months = {
            s.counterparty_id: s.months for s in session.execute(select(SalesSummary)).scalars()
        }
    assert set(months) == {alpha, gamma}
    assert months[gamma] == "2026-02,0,123450,,1,5"

    # The same file again adds nothing; a dry run says so too.
    with database.write() as session:
        again = import_commerceml(session, _user(session, "office"), path, dry_run=True)
    assert (again.sales_created, again.sales_skipped) == (0, 4)
    assert (again.invoices_created, again.invoices_skipped) == (0, 1)
    with database.write() as session:
        again = import_commerceml(session, _user(session, "office"), path)
    assert (again.sales_created, again.sales_skipped, again.months) == (0, 4, 0)
    assert (again.invoices_created, again.invoices_skipped) == (0, 1)
    assert _stored(database) == (sales, bills)


def test_a_broken_file_imports_nothing_and_names_every_bad_document(
    database: Database, tmp_path: Path
) -> None:
    _company(database)
    broken = [
        DOCUMENTS[0],  # good: still not stored
        _doc(
            "d-201",
            "ТД00-000201",
            "2026-02-07",
            "Отпуск товара",
            "100.00",
            [_party("Покупатель", "ООО Бета", BETA)],
            [_line("Кольцо", "12,3,4", "g-rings")],
        ),
        _doc(
            "d-202",
            "ТД00-000202",
            "2026-02-08",
            "Счет на оплату",
            "300.00",
            [_party("Покупатель", "ООО Неизвестная", UNKNOWN)],
        ),
        _doc(
            "d-203",
            "",
            "2026-02-08",
            "Отпуск товара",
            "5",
            [_party("Покупатель", "ООО Бета", BETA)],
        ),
        _doc(
            "d-204",
            "ТД00-000204",
            "31.02.2026",
            "Отпуск товара",
            "5",
            [_party("Покупатель", "ООО Бета", BETA)],
        ),
    ]
    path = _write(tmp_path, _file(broken))
    with database.write() as session, pytest.raises(ImportFailed) as failed:
        import_commerceml(session, _user(session, "office"), path)
    assert "4 of 5 documents have errors" in failed.value.message
    details = "\n".join(failed.value.details)
    assert "document № ТД00-000201" in details and "'12,3,4' is not an amount" in details
    assert "document № ТД00-000202" in details and f"no counterparty with ИНН {UNKNOWN}" in details
    assert "a document without a number" in details and "has no Номер" in details
    assert "document № ТД00-000204" in details and "31.02.2026" in details
    assert "ТД00-000101" not in details
    line = next(d for d in failed.value.details if "ТД00-000201" in d)
    raw_lines = _file(broken).decode("cp1251").splitlines()
    at = int(line.split(",")[0].removeprefix("line "))
    assert "12,3,4" in raw_lines[at - 1]  # the line of the bad amount itself
    assert _stored(database) == ([], [])
    with database.read() as session:
        assert session.execute(select(SalesSummary)).first() is None
    with database.write() as session:  # a dry run lists the same and writes nothing
        report = import_commerceml(session, _user(session, "office"), path, dry_run=True)
    assert {e.number for e in report.errors} == {"ТД00-000201", "ТД00-000202", "", "ТД00-000204"}
    assert _stored(database) == ([], [])


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE КоммерческаяИнформация [<!ENTITY a "ха"><!ENTITY b "&a;&a;&a;&a;">]>\n',
        '<!DOCTYPE КоммерческаяИнформация SYSTEM "file:///etc/passwd">\n',
        '<!doctype КоммерческаяИнформация [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]>\n',
    ],
)
def test_a_dtd_or_entity_is_refused_and_nothing_stored(
    database: Database, tmp_path: Path, prolog: str
) -> None:
    _company(database)
    path = _write(tmp_path, _file(DOCUMENTS, prolog=prolog))
    with database.write() as session, pytest.raises(CommerceMLError, match="DTD or entities"):
        import_commerceml(session, _user(session, "office"), path)
    assert _stored(database) == ([], [])


def test_a_utf8_file_with_the_namespace_a_bom_and_containers(
    database: Database, tmp_path: Path
) -> None:
    """As 1C:ERP writes 2.08+: UTF-8 with a BOM, the namespace, documents in a Контейнер, the
    classifier after the documents, dates as dd.mm.yyyy in the requisites."""
    ids = _company(database)
    shipment = _doc(
        "e-1",
        "РТУ-1",
        "2026-03-02",
        "Отпуск товара",
        "700",
        [_party("Покупатель", "ООО Бета", BETA)],
        [_line("Серьги", "700", "g-earrings")],
        POSTED,
    )
    invoice = _doc(
        "e-2",
        "СЧ-2",
        "2026-03-01",
        "Счёт на оплату",
        "700",
        [_party("Покупатель", "ООО Бета", BETA)],
        requisites={**POSTED, "Срок оплаты": "11.03.2026"},
    )
    body = f"\n  <Контейнер>{invoice}{shipment}\n  </Контейнер>"
    raw = codecs.BOM_UTF8 + _file(
        [body, CLASSIFIER], classifier="", encoding="utf-8", namespace=True
    )
    path = _write(tmp_path, raw)
    with database.write() as session:
        report = import_commerceml(session, _user(session, "office"), path)
    assert (report.documents, report.sales_created, report.invoices_created) == (2, 1, 1)
    beta = ids["ООО Бета"]
    assert _stored(database) == (
        [("РТУ-1", date(2026, 3, 2), beta, "Серьги", D("700.00"), None)],
        [("СЧ-2", date(2026, 3, 1), beta, D("700.00"), date(2026, 3, 11), None)],
    )


def test_only_the_office_imports(database: Database, tmp_path: Path) -> None:
    _company(database)
    path = _write(tmp_path, _file(DOCUMENTS))
    with database.write() as session, pytest.raises(PermissionDenied):
        import_commerceml(session, _user(session, "ivanov"), path)
    assert _stored(database) == ([], [])
    with database.read() as session:
        assert len(session.execute(select(Counterparty)).all()) == 3


# -- the parser on hostile input

_GOOD = _file(DOCUMENTS)
_SNIPPETS = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x110000;",
    b"]]>",
    b"<![CDATA[",
    b"<!--",
    b"<!DOCTYPE x>",
    b"<!ENTITY e 'x'>",
    b"<?pi x?>",
    b'<?xml version="1.0" encoding="koi8-r"?>',
    b'encoding="rot13"',
    "<Документ>".encode("cp1251"),
    "</Документ>".encode("cp1251"),
    "<Сумма>1e400</Сумма>".encode("cp1251"),
    "<Курс>0</Курс>".encode("cp1251"),
    "<Группы><Группа><Ид>g-rings</Ид></Группа></Группы>".encode("cp1251"),
    "<Контейнер>".encode("cp1251"),
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\x00",
    b"\x98",
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(_GOOD)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw)))
        what = draw(st.sampled_from(["delete", "insert", "replace", "cut"]))
        if what == "delete":
            del raw[at : at + draw(st.integers(1, 40))]
        elif what == "insert":
            raw[at:at] = draw(st.sampled_from(_SNIPPETS) | st.binary(max_size=8))
        elif what == "replace":
            raw[at : at + 1] = bytes([draw(st.integers(0, 255))])
        else:
            del raw[at:]
    return bytes(raw)


@seed(FUZZ_SEED)
@settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(_mutated())
def test_the_parser_raises_only_its_own_error_on_mutated_files(raw: bytes) -> None:
    try:
        package = commerceml.parse(raw)
    except CommerceMLError as exc:
        assert exc.message
        return
    for doc in package.documents:
        assert doc.number and doc.groups and all(abs(a) < D("1e13") for a in doc.groups.values())
    for error in package.errors:
        assert str(error)
