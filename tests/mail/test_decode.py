"""Reading letters (mail/decode.py): the CPython corpus, field samples, generated letters."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail import decode
from mail.decode import parse_letter
from mail.filenames import safe_filename
from mail.identity import normalize_message_id, parse_message_ids
from tests.mail.letters import CHARSETS, generate

DATA = Path(__file__).parent.parent / "data" / "mail"
CPYTHON = sorted((DATA / "cpython").glob("msg_*.txt"))
SAMPLES = DATA / "samples"
GENERATED = generate(300)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize("path", CPYTHON, ids=lambda p: p.name)
def test_cpython_corpus_parses(path: Path) -> None:
    letter = parse_letter(path.read_bytes())
    assert isinstance(letter.text, str)
    assert len(letter.fingerprint) == 64


def test_cpython_known_values() -> None:
    first = parse_letter((DATA / "cpython" / "msg_01.txt").read_bytes())
    assert first.subject == "This is a test message"
    assert first.from_[0].address == "bbb@ddd.com"
    assert first.message_id == "<15090.61304.110929.45684@aaa.zzz.org>"
    dsn = parse_letter((DATA / "cpython" / "msg_16.txt").read_bytes())
    assert dsn.content_type == "multipart/report"
    assert dsn.delivery_status  # no report-type here, but a message/delivery-status part


# ---------------------------------------------------------------- generated letters


@pytest.mark.parametrize(
    "generated", GENERATED, ids=lambda g: f"{g.charset}-{g.header_style}-{g.transfer}"
)
def test_generated_letter_round_trip(generated) -> None:  # noqa: ANN001 - a GeneratedLetter
    letter = parse_letter(generated.raw)
    assert letter.subject == generated.subject
    assert letter.from_[0].name == generated.from_name
    assert letter.from_[0].address == generated.from_address
    assert [a.address for a in letter.to] == [generated.to_address]
    assert letter.message_id == generated.message_id
    assert letter.in_reply_to == generated.in_reply_to
    assert letter.references == generated.references
    assert letter.text.strip() == generated.text.strip()
    files = [(a.filename, a.data) for a in letter.attachments if a.content_type != "message/rfc822"]
    assert files == generated.attachments
    if generated.forwarded == "attached":
        assert any(a.filename.endswith(".eml") for a in letter.attachments)
    assert letter.date is not None and letter.date.tzinfo is not None


def test_generator_covers_every_combination() -> None:
    combos = {(g.charset, g.header_style, g.transfer) for g in GENERATED}
    assert len(combos) == 27
    assert {g.charset for g in GENERATED} == set(CHARSETS)
    assert any(g.free_mail for g in GENERATED)
    assert any(g.in_reply_to and not g.references for g in GENERATED)
    assert {g.forwarded for g in GENERATED} == {"", "inline", "attached"}


# ---------------------------------------------------------------- field samples


def test_outlook_reply_without_references() -> None:
    letter = parse_letter(sample("outlook-reply-no-references-cp1251.eml"))
    assert letter.subject == "RE: Счёт на оплату № 142"
    assert letter.from_[0].name == "Кузнецов Дмитрий"
    assert letter.to[0].name == "Отдел продаж"
    assert letter.message_id == "<000d01da7450$a1b2c3d4$e5f60718@romashka.test>"
    assert letter.in_reply_to == "<142.778899@torgdom.test>"
    assert letter.references == []
    assert letter.thread_ids == ["<142.778899@torgdom.test>"]
    assert "платёжное поручение" in letter.text
    assert letter.date == datetime(2024, 3, 12, 10, 15, tzinfo=timezone(timedelta(hours=3)))


def test_1c_letter_with_undeclared_8bit_headers() -> None:
    letter = parse_letter(sample("1c-undeclared-8bit-cp1251.eml"))
    assert letter.subject == "Акт сверки взаиморасчётов за I квартал 2024"
    assert letter.from_[0].name == "ООО Ромашка"
    assert letter.text.startswith("Направляем акт сверки.")
    [attachment] = letter.attachments
    assert attachment.filename == "Акт сверки.pdf"
    assert attachment.data.startswith(b"%PDF")
    assert any("cp1251" in p for p in letter.problems)


def test_body_declared_koi8r_but_written_in_cp1251() -> None:
    letter = parse_letter(sample("koi8-declared-but-cp1251.eml"))
    assert letter.subject == "Заявка на поставку"
    assert letter.text.startswith("Добрый день! Прошу выставить счёт")
    assert any("koi8-r looked wrong" in p for p in letter.problems)


def test_body_declared_ascii_but_cp1251() -> None:
    letter = parse_letter(sample("ascii-declared-cp1251-body.eml"))
    assert letter.text.startswith("Высылаем обновлённый прайс-лист")


def test_utf8_character_split_across_encoded_words() -> None:
    letter = parse_letter(sample("utf8-split-encoded-words.eml"))
    assert letter.from_[0].name == "Смирнова Ольга"
    assert letter.subject == "Вопрос по счёту"


def test_html_only_letter_gets_text() -> None:
    letter = parse_letter(sample("mailing-list.eml"))
    assert letter.html is not None and "<h1>" in letter.html
    assert letter.text == "Цены\n\nАрматура подешевела на 3%."


def test_dsn_delivery_status_is_read() -> None:
    letter = parse_letter(sample("postfix-bounce-dsn.eml"))
    assert letter.delivery_status[0]["action"] == "failed"
    assert letter.delivery_status[0]["final-recipient"] == "rfc822; no-such-user@romashka.test"


# ---------------------------------------------------------------- details


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" <ABC.123@Host.RU> ", "<abc.123@host.ru>"),
        ("<abc@host>\r\n <second@host>", "<abc@host>"),
        ("abc@host", "<abc@host>"),
        ("<abc\r\n @host>", "<abc@host>"),
        ("", None),
        (None, None),
        ("<>", None),
    ],
)
def test_normalize_message_id(raw: str | None, expected: str | None) -> None:
    assert normalize_message_id(raw) == expected


def test_references_keep_order_once_each_and_the_newest() -> None:
    assert parse_message_ids("<a@x> <B@x>\r\n\t<a@x> <c@x>") == ["<a@x>", "<b@x>", "<c@x>"]
    many = " ".join(f"<{i}@x>" for i in range(500))
    kept = parse_message_ids(many)
    assert len(kept) == 200 and kept[-1] == "<499@x>"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("Счёт №15.pdf", "Счёт №15.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ivanov\\Договор.docx", "Договор.docx"),
        ("..", "attachment"),
        (".htaccess", "htaccess"),
        ('a\r\nb<>:"|?*.txt', "a__b_______.txt"),
        ("CON.txt", "_CON.txt"),
        ("", "attachment"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_safe_filename_cuts_long_names_keeping_the_extension() -> None:
    name = safe_filename("Я" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_attachment_over_the_limit_is_listed_without_data() -> None:
    generated = next(g for g in GENERATED if g.attachments)
    letter = parse_letter(generated.raw, max_attachment_bytes=10)
    [attachment] = [a for a in letter.attachments if a.content_type != "message/rfc822"]
    assert attachment.omitted and attachment.data == b""
    assert attachment.size == len(generated.attachments[0][1])
    assert any("over the size limit" in p for p in letter.problems)


def test_letter_without_message_id_has_a_stable_fingerprint() -> None:
    raw = b"From: a@romashka.test\r\nSubject: x\r\nDate: Tue, 12 Mar 2024 10:15:00 +0300\r\n\r\nhi\r\n"
    first, again = parse_letter(raw), parse_letter(raw.replace(b"\r\n", b"\n"))
    assert first.message_id is None
    assert first.dedup_key == again.dedup_key == f"sha256:{first.fingerprint}"
    other = parse_letter(raw.replace(b"hi", b"bye"))
    assert other.fingerprint != first.fingerprint


def test_date_without_zone_is_utc_and_noted() -> None:
    letter = parse_letter(b"Date: Tue, 12 Mar 2024 10:15:00 -0000\r\n\r\nx")
    assert letter.date == datetime(2024, 3, 12, 10, 15, tzinfo=UTC)
    assert any("time zone" in p for p in letter.problems)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b"Subject: =?utf-8?B?@@@?=\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--",
        b'Content-Type: text/plain; charset="=?utf-8?q?x?="\r\nContent-Transfer-Encoding: base64\r\n'
        b"\r\n!!!not base64!!!",
        b'From: "unterminated <a@b\r\nTo: ,,,;;;<<>>\r\nDate: 99 Foo 99999 99:99\r\n\r\n',
        b"Content-Type: message/rfc822\r\n\r\nnot a letter",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        + b"--x\r\nContent-Type: multipart/mixed; "
        b"boundary=x\r\n\r\n" * 200,
    ],
)
def test_broken_letters_never_raise(raw: bytes) -> None:
    letter = parse_letter(raw)
    assert isinstance(letter.problems, list)
    assert isinstance(letter.subject, str)


def test_a_date_outside_the_years_the_records_accept_is_ignored_not_refused_later() -> None:
    from mail.decode import parse_letter

    raw = (
        b"From: a@romashka.ru\r\nTo: b@torgdom.ru\r\nSubject: x\r\n"
        b"Date: Tue, 01 Jan 2999 00:00:00 +0300\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"
    )
    letter = parse_letter(raw)
    assert letter.date is None


# ---------------------------------------------------------------- folding (mail.decode._fold)

_PIECES = [
    b"\n",
    b"\r\n",
    b"\r",
    b"-",
    b"--b",
    b":",
    b" ",
    b"\t",
    b"From ",
    b"From",
    b"a",
    b"Zz09+/=",
    b"\x80\xff",
    b"\x00",
    b"x:y",
    b"ab c",
    b"ab c:d",
    b"\n\n",
    b"\r\n\r\n",
    b"QUJD" * 19,
]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=60))
def test_folding_finds_the_runs_the_regular_expression_defines(pieces: list[bytes]) -> None:
    # _fold finds the runs of inert lines without matching _INERT line by line; _RUN is the definition.
    raw = b"".join(pieces)
    assert decode._fold(raw) == decode._fold_by_regex(raw)


def test_folding_of_real_letters_matches_the_definition() -> None:
    letters = [g.raw for g in GENERATED] + [p.read_bytes() for p in CPYTHON]
    letters += [p.read_bytes() for p in sorted(SAMPLES.iterdir()) if p.is_file()]
    rng = random.Random(1251)
    for raw in letters:
        assert decode._fold(raw) == decode._fold_by_regex(raw)
        for _ in range(3):  # the bytes the rule turns on, dropped in anywhere
            changed = bytearray(raw)
            for _ in range(4):
                changed[rng.randrange(len(changed))] = rng.choice(b"\r\n:- \tF")
            assert decode._fold(bytes(changed)) == decode._fold_by_regex(bytes(changed))
