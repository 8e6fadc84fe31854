"""Charset repair: undeclared 8-bit, wrong labels, RFC 2047 words (mail/charsets.py)."""

from __future__ import annotations

import base64

import pytest

from mail import charsets
from mail.charsets import decode_bytes, decode_header_value, decode_words, resolve_charset

RUSSIAN = "Добрый день! Прошу выставить счёт на двадцать тонн арматуры."
CODECS = {"windows-1251": "cp1251", "koi8-r": "koi8_r", "utf-8": "utf-8"}


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("windows-1251", "cp1251"),
        ("Windows-1251", "cp1251"),
        ("win-1251", "cp1251"),
        ("x-cp1251", "cp1251"),
        ("cp1251", "cp1251"),
        ("koi8-r", "koi8_r"),
        ("KOI8R", "koi8_r"),
        ("koi8-r*ru", "koi8_r"),
        ("UTF-8", "utf_8"),
        ('"utf-8"', "utf_8"),
        ("us-ascii", "ascii"),
        ("x-unknown", None),
        ("unknown-8bit", None),
        ("no-such-charset", None),
        ("", None),
        (None, None),
        ("rot13", None),
        ("base64", None),
        ("zlib", None),
    ],
)
def test_resolve_charset(name: str | None, codec: str | None) -> None:
    assert resolve_charset(name) == codec


@pytest.mark.parametrize("charset", CODECS)
def test_declared_charset_round_trip(charset: str) -> None:
    assert decode_bytes(RUSSIAN.encode(CODECS[charset]), charset) == (RUSSIAN, None)


@pytest.mark.parametrize("charset", CODECS)
@pytest.mark.parametrize(
    "text", [RUSSIAN, "Акт сверки", "ООО Ромашка", "ЗАО ВЕКТОР", "Счёт 15 от 12.03", "Отправленные"]
)
def test_undeclared_bytes_are_guessed(charset: str, text: str) -> None:
    decoded, _note = decode_bytes(text.encode(CODECS[charset]), None)
    assert decoded == text


@pytest.mark.parametrize(
    ("declared", "actual"),
    [
        ("koi8-r", "cp1251"),
        ("windows-1251", "koi8_r"),
        ("us-ascii", "cp1251"),
        ("iso-8859-1", "cp1251"),
        ("utf-8", "cp1251"),
        ("utf-8", "koi8_r"),
        ("bogus", "koi8_r"),
    ],
)
def test_wrong_declared_charset_is_repaired(declared: str, actual: str) -> None:
    decoded, note = decode_bytes(RUSSIAN.encode(actual), declared)
    assert decoded == RUSSIAN
    assert note and declared in note


def test_undecodable_bytes_never_raise() -> None:
    decoded, _note = decode_bytes(bytes(range(256)), "utf-8")
    assert isinstance(decoded, str)


def test_other_declared_charsets_are_trusted() -> None:
    assert decode_bytes("Grüße".encode("iso-8859-1"), "iso-8859-1")[0] == "Grüße"
    assert decode_bytes("日本語".encode("iso-2022-jp"), "iso-2022-jp")[0] == "日本語"


@pytest.mark.parametrize("charset", CODECS)
def test_encoded_words_b_and_q(charset: str) -> None:
    data = "Счёт на оплату".encode(CODECS[charset])
    b_word = f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    q_word = f"=?{charset}?Q?" + "".join(f"={b:02X}" for b in data) + "?="
    assert decode_words(b_word)[0] == "Счёт на оплату"
    assert decode_words(q_word)[0] == "Счёт на оплату"
    assert decode_words(f"Re: {b_word}")[0] == "Re: Счёт на оплату"


def test_adjacent_words_join_and_split_characters_survive() -> None:
    data = "Счёт".encode()
    first = base64.b64encode(data[:3]).decode()
    second = base64.b64encode(data[3:]).decode()
    assert decode_words(f"=?utf-8?B?{first}?=  =?UTF-8?B?{second}?=")[0] == "Счёт"


def test_broken_base64_padding_and_unknown_charset() -> None:
    data = base64.b64encode("Акт сверки".encode("cp1251")).decode().rstrip("=")
    assert decode_words(f"=?windows-1251?B?{data}?=")[0] == "Акт сверки"
    text, notes = decode_words(f"=?x-garbage?B?{data}?=")
    assert text == "Акт сверки"
    assert notes


def test_header_with_raw_cp1251_and_folding() -> None:
    raw = "Акт сверки\r\n за квартал".encode("cp1251").decode("ascii", "surrogateescape")
    text, notes = decode_header_value(raw)
    assert text == "Акт сверки за квартал"
    assert notes


def test_short_guesses_kept_for_the_process_answer_as_a_fresh_guess_does() -> None:
    # _best_guess keeps its answer for short strings (names, subjects): the answer is a function of
    # the bytes and the candidates only, so keeping it must change nothing.
    samples = [
        "ЗАО ВЕКТОР",
        "Иванов Иван",
        "Счёт 17 на поставку",
        "прайс-лист.xlsx",
        RUSSIAN,
    ]
    names = ("utf_8", "cp1251", "koi8_r")
    for text in samples:
        for codec in ("cp1251", "koi8_r"):
            data = text.encode(codec)
            fresh = charsets._guess(data, names)
            assert charsets._best_guess(data, names) == fresh
            assert charsets._best_guess(data, list(names)) == fresh  # kept, asked again
