"""Classification before filing (mail/classify.py): each kind, its reason, the order."""

from __future__ import annotations

from pathlib import Path

import pytest

from mail.classify import LetterKind, PrivacyRules, classify
from mail.decode import parse_letter
from tests.mail.letters import generate

SAMPLES = Path(__file__).parent.parent / "data" / "mail" / "samples"
COMPANY = ("torgdom.test", "td-torgdom.test")


def letter(headers: str, body: str = "Добрый день.") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode("utf-8")


def kind_of(raw: bytes, **kwargs) -> LetterKind:  # noqa: ANN003 - classify's keywords
    return classify(parse_letter(raw), company_domains=COMPANY, **kwargs).kind


CLIENT = "From: d.kuznetsov@romashka.test\nTo: sales@torgdom.test\nSubject: Счёт"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("postfix-bounce-dsn.eml", LetterKind.BOUNCE),
        ("exchange-ndr-ru.eml", LetterKind.BOUNCE),
        ("yandex-autoreply.eml", LetterKind.AUTO_REPLY),
        ("read-receipt-mdn.eml", LetterKind.AUTO_REPLY),
        ("mailing-list.eml", LetterKind.MAILING_LIST),
        ("outlook-reply-no-references-cp1251.eml", LetterKind.BUSINESS),
        ("1c-undeclared-8bit-cp1251.eml", LetterKind.BUSINESS),
        ("utf8-split-encoded-words.eml", LetterKind.BUSINESS),
    ],
)
def test_samples(name: str, kind: LetterKind) -> None:
    assert kind_of((SAMPLES / name).read_bytes()) is kind


@pytest.mark.parametrize(
    "headers",
    [
        "From: MAILER-DAEMON@mx.romashka.test\nTo: sales@torgdom.test\nSubject: failure notice",
        "From: Mail Delivery Subsystem <postmaster@romashka.test>\nTo: sales@torgdom.test\nSubject: x",
        CLIENT + "\nX-Failed-Recipients: nobody@romashka.test",
        "From: robot@romashka.test\nTo: sales@torgdom.test\nReturn-Path: <>\n"
        "Subject: Delivery Status Notification (Failure)",
        "From: robot@romashka.test\nTo: sales@torgdom.test\nReturn-Path: <>\n"
        "Subject: =?utf-8?B?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU=?=",
        "From: mailer-daemon@torgdom.test\nTo: sales@torgdom.test\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
    ],
)
def test_bounces(headers: str) -> None:
    assert kind_of(letter(headers)) is LetterKind.BOUNCE


@pytest.mark.parametrize(
    "headers",
    [
        CLIENT + "\nAuto-Submitted: auto-replied",
        CLIENT + "\nAuto-Submitted: auto-generated; owner-email=x@romashka.test",
        CLIENT + "\nX-Autoreply: yes",
        CLIENT + "\nX-Autorespond: 1",
        CLIENT + "\nPrecedence: auto_reply",
        CLIENT + "\nPrecedence: bulk",
        CLIENT + "\nPrecedence: junk",
        CLIENT.replace("Subject: Счёт", "Subject: Автоответ: Счёт"),
        CLIENT.replace("Subject: Счёт", "Subject: Automatic reply: Счёт"),
    ],
)
def test_auto_replies(headers: str) -> None:
    assert kind_of(letter(headers)) is LetterKind.AUTO_REPLY


def test_auto_submitted_no_is_a_person() -> None:
    assert kind_of(letter(CLIENT + "\nAuto-Submitted: no")) is LetterKind.BUSINESS


@pytest.mark.parametrize(
    "headers",
    [
        CLIENT + "\nList-Id: Metal news <news.metal.test>",
        CLIENT + "\nList-Unsubscribe: <mailto:u@metal.test>",
        CLIENT + "\nPrecedence: list",
        CLIENT + "\nList-Unsubscribe: <https://metal.test/u>\nPrecedence: bulk",
    ],
)
def test_mailing_lists(headers: str) -> None:
    assert kind_of(letter(headers)) is LetterKind.MAILING_LIST


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        (
            "From: ivanov@torgdom.test\nTo: petrova@torgdom.test\nCc: boss@td-torgdom.test",
            LetterKind.INTERNAL,
        ),
        ("From: ivanov@torgdom.test\nTo: sklad@msk.torgdom.test", LetterKind.INTERNAL),
        (
            "From: ivanov@torgdom.test\nTo: petrova@torgdom.test\nCc: d.kuznetsov@romashka.test",
            LetterKind.BUSINESS,
        ),
        ("From: ivanov@torgdom.test\nTo: ivanov.personal@mail.ru", LetterKind.BUSINESS),
        ("From: ivanov@nottorgdom.test\nTo: petrova@torgdom.test", LetterKind.BUSINESS),
    ],
)
def test_internal_only(headers: str, kind: LetterKind) -> None:
    assert kind_of(letter(headers)) is kind


def test_private_by_address_domain_and_folder() -> None:
    rules = PrivacyRules.of(
        addresses=["Wife@Mail.ru"], domains=["sberbank.test"], folders=["Личное"]
    )
    owner = "ivanov@torgdom.test"
    wife = letter("From: wife@mail.ru\nTo: ivanov@torgdom.test\nSubject: Ужин")
    bank = letter("From: noreply@online.sberbank.test\nTo: ivanov@torgdom.test")
    client = letter("From: d.kuznetsov@romashka.test\nTo: ivanov@torgdom.test")
    assert kind_of(wife, privacy=rules, owner=owner) is LetterKind.PRIVATE
    assert kind_of(bank, privacy=rules, owner=owner) is LetterKind.PRIVATE
    assert kind_of(client, privacy=rules, owner=owner) is LetterKind.BUSINESS
    assert kind_of(client, privacy=rules, owner=owner, folder="личное") is LetterKind.PRIVATE


def test_owner_address_never_makes_a_letter_private() -> None:
    rules = PrivacyRules.of(addresses=["ivanov@torgdom.test"])
    raw = letter("From: d.kuznetsov@romashka.test\nTo: ivanov@torgdom.test")
    assert kind_of(raw, privacy=rules, owner="ivanov@torgdom.test") is LetterKind.BUSINESS


def test_private_wins_over_everything_else() -> None:
    rules = PrivacyRules.of(domains=["mail.ru"])
    raw = letter("From: wife@mail.ru\nTo: ivanov@torgdom.test\nAuto-Submitted: auto-replied")
    result = classify(parse_letter(raw), company_domains=COMPANY, privacy=rules)
    assert result.kind is LetterKind.PRIVATE
    assert not result.is_filed


def test_person_writing_about_a_failed_delivery_is_business() -> None:
    raw = letter(CLIENT.replace("Subject: Счёт", "Subject: Re: Недоставленное сообщение"))
    assert kind_of(raw) is LetterKind.BUSINESS
    raw = letter(
        "From: d.kuznetsov@romashka.test\nTo: sales@torgdom.test\n"
        "Return-Path: <d.kuznetsov@romashka.test>\nSubject: Undeliverable goods"
    )
    assert kind_of(raw) is LetterKind.BUSINESS


def test_every_reason_is_said() -> None:
    result = classify(
        parse_letter((SAMPLES / "yandex-autoreply.eml").read_bytes()), company_domains=COMPANY
    )
    assert result.reason == "Auto-Submitted: auto-replied"
    assert not result.is_filed


def test_generated_business_letters_are_business() -> None:
    kinds = {kind_of(g.raw) for g in generate(60)}
    assert kinds == {LetterKind.BUSINESS}
