"""Tests for crm.bank: reading 1C bank statements, telling in from out, finding the counterparty."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.bank import (
    BankDocument,
    Statement,
    direction,
    match_counterparty,
    parse_statement,
)
from crm.errors import ImportFailed

OWN_ACCOUNT = "40702810900000000001"
OWN_INN = "7712345678"
ByInn = dict[str, list[tuple[str, str | None]]]

HEADER = """1CClientBankExchange
ВерсияФормата=1.03
Кодировка={encoding}
Отправитель=Бухгалтерия предприятия
Получатель=
ДатаСоздания=05.11.2026
ВремяСоздания=10:15:00
ДатаНачала=01.10.2026
ДатаКонца=31.10.2026
РасчСчет=40702810900000000001
СекцияРасчСчет
ДатаНачала=01.10.2026
ДатаКонца=31.10.2026
РасчСчет=40702810900000000001
НачальныйОстаток=1000.00
КонецРасчСчет
"""

INCOMING = """СекцияДокумент=Платежное поручение
Номер=123
Дата=02.10.2026
Сумма=150000.00
ПлательщикСчет=40702810100000000777
Плательщик=ИНН 7701234567 ООО "Ромашка"
Плательщик1=ООО "Ромашка"
ПлательщикИНН=7701234567
ПлательщикКПП=770101001
ПолучательСчет=40702810900000000001
Получатель=ООО "Сатчел"
ПолучательИНН=7712345678
ПолучательКПП=771201001
НазначениеПлатежа=Оплата по счету 45 от 01.10.2026, в т.ч. НДС
ДатаПоступило=02.10.2026
КонецДокумента
"""

OUTGOING = """СекцияДокумент=Платежное поручение
Номер=7
Дата=03.10.2026
Сумма=2500.50
ПлательщикСчет=40702810900000000001
Плательщик=ООО "Сатчел"
ПлательщикИНН=7712345678
ПлательщикКПП=771201001
ПолучательСчет=40802810500000000042
Получатель1=ИП Ёлкина Анна Сергеевна
ПолучательИНН=500100732259
ПолучательКПП=0
НазначениеПлатежа=Оплата за доставку
ДатаСписано=03.10.2026
КонецДокумента
"""


def statement(*documents: str, encoding: str = "Windows", end: str = "КонецФайла\n") -> str:
    return HEADER.format(encoding=encoding) + "".join(documents) + end


def encode(text: str, codec: str = "cp1251") -> bytes:
    return text.replace("\n", "\r\n").encode(codec)


def parse(*documents: str, **kwargs: str) -> Statement:
    return parse_statement(encode(statement(*documents, **kwargs)))


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based number of the line where ``needle`` starts for the ``occurrence``-th time."""
    seen = 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(needle):
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found")


def test_a_good_statement_reads_every_value_exactly() -> None:
    text = statement(INCOMING, OUTGOING)
    result = parse_statement(encode(text))

    assert result.errors == []
    assert result.account == OWN_ACCOUNT
    assert (result.starts, result.ends) == (date(2026, 10, 1), date(2026, 10, 31))
    incoming, outgoing = result.documents
    assert incoming == BankDocument(
        line=line_of(text, "СекцияДокумент", 1),
        kind="Платежное поручение",
        number="123",
        date=date(2026, 10, 2),
        amount=Decimal("150000.00"),
        payer_name='ООО "Ромашка"',
        payer_inn="7701234567",
        payer_kpp="770101001",
        payer_account="40702810100000000777",
        payee_name='ООО "Сатчел"',
        payee_inn=OWN_INN,
        payee_kpp="771201001",
        payee_account=OWN_ACCOUNT,
        purpose="Оплата по счету 45 от 01.10.2026, в т.ч. НДС",
        received=date(2026, 10, 2),
        written_off=None,
    )
    assert outgoing.line == line_of(text, "СекцияДокумент", 2)
    assert outgoing.amount == Decimal("2500.50")
    assert outgoing.payee_name == "ИП Ёлкина Анна Сергеевна"
    assert outgoing.payee_inn == "500100732259"
    assert outgoing.payee_kpp == ""  # "0": a sole trader has none
    assert outgoing.payer_name == 'ООО "Сатчел"'
    assert (outgoing.received, outgoing.written_off) == (None, date(2026, 10, 3))


def test_lf_line_ends_read_the_same() -> None:
    crlf = parse_statement(encode(statement(INCOMING, OUTGOING)))
    lf = parse_statement(statement(INCOMING, OUTGOING).encode("cp1251"))
    assert lf == crlf


def test_a_dos_statement_is_read_as_cp866() -> None:
    text = statement(INCOMING, OUTGOING, encoding="DOS")
    result = parse_statement(encode(text, "cp866"))

    assert result.errors == []
    assert [doc.payer_name for doc in result.documents] == ['ООО "Ромашка"', 'ООО "Сатчел"']
    assert result.documents[1].payee_name == "ИП Ёлкина Анна Сергеевна"
    assert result.documents[0].kind == "Платежное поручение"


def test_a_utf8_statement_with_a_bom_is_read_as_utf8() -> None:
    raw = b"\xef\xbb\xbf" + encode(statement(INCOMING), "utf-8")
    result = parse_statement(raw)
    assert result.errors == []
    assert result.documents[0].payer_name == 'ООО "Ромашка"'


def test_a_broken_document_is_reported_and_the_good_ones_still_come() -> None:
    broken = (
        INCOMING.replace("Номер=123", "Номер=124")
        .replace("Сумма=150000.00", "Сумма=15O00")
        .replace("Дата=02.10.2026", "Дата=32.10.2026")
        .replace("ПлательщикИНН=7701234567", "ПлательщикИНН=77012")
        .replace("КонецДокумента", "просто строка\nКонецДокумента")
    )
    text = statement(INCOMING, broken, OUTGOING)
    result = parse_statement(encode(text))

    assert [doc.number for doc in result.documents] == ["123", "7"]
    [error] = result.errors
    assert error.line == line_of(text, "СекцияДокумент", 2)
    assert "№124" in error.message
    assert "Сумма '15O00' is not an amount" in error.message
    assert "Дата '32.10.2026' is not a date" in error.message
    assert "ИНН '77012' is not 10 or 12 digits" in error.message
    assert f"line {line_of(text, 'просто строка')} 'просто строка' is not Key=Value" in (
        error.message
    )
    assert str(error).startswith(f"line {error.line}: ")


def test_a_document_without_number_date_or_amount_is_reported() -> None:
    bare = "СекцияДокумент=Платежное поручение\nПлательщикИНН=7701234567\nКонецДокумента\n"
    result = parse(bare, OUTGOING)
    [error] = result.errors
    assert "Номер is missing" in error.message
    assert "Дата is missing" in error.message
    assert "Сумма is missing" in error.message
    assert [doc.number for doc in result.documents] == ["7"]


def test_bad_kpp_and_non_positive_amount_are_reported() -> None:
    bad = INCOMING.replace("ПлательщикКПП=770101001", "ПлательщикКПП=7701").replace(
        "Сумма=150000.00", "Сумма=0.00"
    )
    [error] = parse(bad).errors
    assert "ПлательщикКПП '7701' is not a КПП of 9 characters" in error.message
    assert "Сумма '0.00' is not more than zero" in error.message


def test_a_document_not_closed_is_reported_and_the_next_one_is_read() -> None:
    unclosed = INCOMING.replace("КонецДокумента\n", "")
    text = statement(unclosed, OUTGOING)
    result = parse_statement(encode(text))
    [error] = result.errors
    assert error.line == line_of(text, "СекцияДокумент", 1)
    assert "not closed by КонецДокумента" in error.message
    assert [doc.number for doc in result.documents] == ["7"]


def test_a_statement_cut_short_keeps_what_came_before() -> None:
    text = statement(INCOMING, OUTGOING.split("НазначениеПлатежа")[0], end="")
    result = parse_statement(encode(text))
    assert [doc.number for doc in result.documents] == ["123"]
    [error] = result.errors
    assert error.line == line_of(text, "СекцияДокумент", 2)
    assert "ends before the document's КонецДокумента" in error.message


@pytest.mark.parametrize("written", ["150 000,00", "150000,0", " 150 000.00 ", "150\u00a0000"])
def test_an_amount_may_have_a_comma_and_spaces(written: str) -> None:
    result = parse(INCOMING.replace("Сумма=150000.00", f"Сумма={written}"))
    assert result.errors == []
    assert result.documents[0].amount == Decimal("150000.00")
    assert result.documents[0].amount.as_tuple().exponent == -2


def test_the_payer_inn_is_taken_from_the_name_when_its_own_field_is_empty() -> None:
    doc = (
        INCOMING.replace('Плательщик1=ООО "Ромашка"\n', "")
        .replace("ПлательщикИНН=7701234567", "ПлательщикИНН=")
        .replace("ПлательщикКПП=770101001", "ПлательщикКПП=")
    )
    [read] = parse(doc).documents
    assert read.payer_inn == "7701234567"
    assert read.payer_name == 'ООО "Ромашка"'  # "ИНН 7701234567 " is not part of the name


def test_a_name_beginning_with_inn_letters_is_not_cut() -> None:
    doc = INCOMING.replace('Плательщик1=ООО "Ромашка"\n', "").replace(
        'Плательщик=ИНН 7701234567 ООО "Ромашка"', "Плательщик=ИННОТЕХ АО"
    )
    [read] = parse(doc).documents
    assert read.payer_name == "ИННОТЕХ АО"


def test_the_key_is_stable_across_parses_and_differs_between_documents() -> None:
    first = parse(INCOMING, OUTGOING).documents
    # The same payments in an overlapping statement: other lines, other header, leading zeros.
    again = parse(OUTGOING, INCOMING.replace("Номер=123", "Номер=000123")).documents
    assert {doc.key for doc in first} == {doc.key for doc in again}
    assert first[0].line != again[1].line
    assert len({doc.key for doc in first}) == 2
    other_amount = parse(INCOMING.replace("Сумма=150000.00", "Сумма=150000.01")).documents[0]
    other_payer = parse(INCOMING.replace("ПлательщикИНН=7701234567", "ПлательщикИНН=7701234568"))
    assert other_amount.key != first[0].key
    assert other_payer.documents[0].key != first[0].key


def test_direction() -> None:
    incoming, outgoing = parse(INCOMING, OUTGOING).documents
    assert direction(incoming, {OWN_ACCOUNT}, set()) == "in"
    assert direction(outgoing, {OWN_ACCOUNT}, set()) == "out"
    assert direction(incoming, set(), {OWN_INN}) == "in"
    assert direction(outgoing, set(), {OWN_INN}) == "out"
    assert direction(incoming, {"40702810000000000999"}, {"7799999999"}) == "unknown"
    assert direction(incoming, {""}, {""}) == "unknown"  # empty values never match


def test_match_counterparty() -> None:
    incoming, outgoing = parse(INCOMING, OUTGOING).documents
    single: ByInn = {"7701234567": [("romashka", None)], "500100732259": [("yolkina", None)]}
    assert match_counterparty(incoming, "in", single) == "romashka"
    assert match_counterparty(outgoing, "out", single) == "yolkina"
    assert match_counterparty(incoming, "unknown", single) is None

    branches: ByInn = {"7701234567": [("moscow", "770101001"), ("spb", "780101001")]}
    assert match_counterparty(incoming, "in", branches) == "moscow"

    ambiguous: ByInn = {"7701234567": [("moscow", "770201001"), ("spb", "780101001")]}
    assert match_counterparty(incoming, "in", ambiguous) is None
    same_kpp: ByInn = {"7701234567": [("a", "770101001"), ("b", "770101001")]}
    assert match_counterparty(incoming, "in", same_kpp) is None

    assert match_counterparty(incoming, "in", {"7799999999": [("x", "770101001")]}) is None
    assert match_counterparty(incoming, "in", {"7701234567": []}) is None
    with pytest.raises(ValueError):
        match_counterparty(incoming, "sideways", single)


def test_branches_without_a_kpp_on_the_document_are_ambiguous() -> None:
    doc = parse(INCOMING.replace("ПлательщикКПП=770101001", "ПлательщикКПП=")).documents[0]
    branches: ByInn = {"7701234567": [("moscow", "770101001"), ("spb", "780101001")]}
    assert match_counterparty(doc, "in", branches) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        "Номер;Дата;Сумма\r\n1;02.10.2026;100\r\n".encode("cp1251"),
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"\xef\xbb\xbf\xff\xfe",
    ],
)
def test_a_file_that_is_not_a_statement_is_refused(raw: bytes) -> None:
    with pytest.raises(ImportFailed, match="not a 1C bank statement"):
        parse_statement(raw)


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ImportFailed, match="Кодировка is 'KOI8'"):
        parse(INCOMING, encoding="KOI8")


def test_undecodable_bytes_are_refused_naming_the_line() -> None:
    raw = encode(statement(INCOMING)).replace(b"\xd0\xee\xec\xe0\xf8\xea\xe0", b"\x98", 1)
    with pytest.raises(ImportFailed, match=r"line \d+ of the statement cannot be read as cp1251"):
        parse_statement(raw)


def test_a_file_over_32_mib_is_refused() -> None:
    raw = b"1CClientBankExchange\r\n" + b"x" * (32 * 1024 * 1024)
    with pytest.raises(ImportFailed, match="larger than 32 MB"):
        parse_statement(raw)


def test_a_missing_end_of_file_is_reported() -> None:
    result = parse(INCOMING, end="")
    assert [doc.number for doc in result.documents] == ["123"]
    [error] = result.errors
    assert "without КонецФайла" in error.message


_LINES = st.sampled_from(
    [
        "1CClientBankExchange",
        "Кодировка=DOS",
        "Кодировка=Windows",
        "СекцияДокумент=Платежное поручение",
        "КонецДокумента",
        "СекцияРасчСчет",
        "КонецРасчСчет",
        "КонецФайла",
        "Номер=1",
        "Дата=01.01.2026",
        "Дата=31.02.2026",
        "Сумма=1,5",
        "Сумма=-1",
        "ПлательщикИНН=7701234567",
        "Плательщик=ИНН 123 X",
        "ПолучательКПП=77",
        "ДатаНачала=xx",
        "=",
        "",
        "мусор",
    ]
)


@settings(max_examples=200)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=2000).map(lambda tail: b"1CClientBankExchange\r\n" + tail),
        st.lists(st.one_of(_LINES, st.text(max_size=30)), max_size=40).map(
            lambda lines: "\r\n".join(["1CClientBankExchange", *lines]).encode(
                "cp1251", errors="replace"
            )
        ),
    )
)
def test_arbitrary_bytes_give_a_statement_or_import_failed(raw: bytes) -> None:
    try:
        result = parse_statement(raw)
    except ImportFailed:
        return
    assert isinstance(result, Statement)
    for doc in result.documents:
        assert doc.amount > 0


_NUMBERS = st.from_regex(r"[1-9][0-9]{0,5}", fullmatch=True)
_AMOUNTS = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("9999999999.99"), places=2, allow_nan=False
)
_DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(_NUMBERS, _DATES, _AMOUNTS, st.booleans(), st.booleans()),
        min_size=1,
        max_size=5,
    )
)
def test_documents_of_valid_fields_round_trip(
    fields: list[tuple[str, date, Decimal, bool, bool]],
) -> None:
    documents = []
    for number, day, amount, comma, grouped in fields:
        written = f"{amount:,.2f}".replace(",", " ") if grouped else f"{amount:.2f}"
        if comma:
            written = written.replace(".", ",")
        documents.append(
            INCOMING.replace("Номер=123", f"Номер={number}")
            .replace("Дата=02.10.2026", f"Дата={day:%d.%m.%Y}")
            .replace("Сумма=150000.00", f"Сумма={written}")
        )
    result = parse(*documents)
    assert result.errors == []
    assert [(doc.number, doc.date, doc.amount) for doc in result.documents] == [
        (number, day, amount) for number, day, amount, _, _ in fields
    ]
