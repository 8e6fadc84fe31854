"""Tests for crm.validation: INN/KPP, phones, e-mails, search folding."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from crm.validation import (
    FREE_MAIL_DOMAINS,
    email_domain,
    fold_text,
    inn_check_digits,
    is_free_mail,
    normalize_email,
    normalize_phone,
    phone_extension,
    phone_search_digits,
    validate_inn,
    validate_kpp,
)

# Weights copied from the FNS algorithm, used below to reason about which
# single-digit typos the checksum can and cannot catch.
W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
W12_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
W12_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)

prefix9 = st.text(alphabet="0123456789", min_size=9, max_size=9)
prefix10 = st.text(alphabet="0123456789", min_size=10, max_size=10)


def weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True))


def replace_digit(s: str, position: int, digit: str) -> str:
    return s[:position] + digit + s[position + 1 :]


# ---------------------------------------------------------------------------- INN

# Hand checks (weights 2,4,10,3,5,9,4,6,8):
#   Sberbank 7707083893: 14+28+0+21+0+72+12+48+72 = 267 = 11*24 + 3 → 3 ✓
#   Yandex   7736207543: 14+28+30+18+10+0+28+30+32 = 190 = 11*17 + 3 → 3 ✓
# The commonly quoted "7707083894" (also the example in the task brief) is
# NOT Sberbank's INN and fails the checksum; see test_bad_check_digit.
# 12-digit 500100732259 (digits 5 0 0 1 0 0 7 3 2 2 | 5 9):
#   11th, weights 7,2,4,10,3,5,9,4,6,8: 35+0+0+10+0+0+63+12+12+16 = 148
#        = 11*13 + 5 → 5 ✓
#   12th, weights 3,7,2,4,10,3,5,9,4,6,8 over the first 11 digits:
#        15+0+0+4+0+0+35+27+8+12+40 = 141 = 11*12 + 9 → 9 ✓
VALID_INNS = ["7707083893", "7736207543", "500100732259"]


@pytest.mark.parametrize("inn", VALID_INNS)
def test_known_valid_inns(inn: str) -> None:
    assert validate_inn(inn) == inn


def test_inn_whitespace_is_removed() -> None:
    assert validate_inn(" 7707 083\u00a0893\t") == "7707083893"
    assert validate_inn("5001 0073 2259\n") == "500100732259"


def test_bad_check_digit() -> None:
    with pytest.raises(ValueError, match=r"INN '7707083894': check digit mismatch"):
        validate_inn("7707083894")
    with pytest.raises(ValueError, match="check digit mismatch"):
        validate_inn("500100732258")  # 12th wrong
    with pytest.raises(ValueError, match="check digit mismatch"):
        validate_inn("500100732249")  # 11th digit wrong


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("770708389", "got 9"),
        ("77070838930", "got 11"),
        ("5001007322590", "got 13"),
        ("7707O83893", "only digits"),  # Latin O instead of zero
        ("7707-083893", "only digits"),
        ("+7707083893", "only digits"),
        ("７７０７０８３８９３", "only digits"),  # full-width digits
        ("٧٧٠٧٠٨٣٨٩٣", "only digits"),  # Arabic-Indic digits
    ],
)
def test_invalid_inns(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_inn(value)


def test_inn_check_digits_examples() -> None:
    assert inn_check_digits("770708389") == "3"
    assert inn_check_digits("773620754") == "3"
    assert inn_check_digits("5001007322") == "59"


@pytest.mark.parametrize("prefix", ["", "12345678", "12345678901", "12345678a", " 770708389"])
def test_inn_check_digits_rejects_bad_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="INN prefix"):
        inn_check_digits(prefix)


@given(st.one_of(prefix9, prefix10))
def test_generated_inn_is_valid(prefix: str) -> None:
    check = inn_check_digits(prefix)
    assert len(check) == (1 if len(prefix) == 9 else 2)
    assert validate_inn(prefix + check) == prefix + check


@given(prefix9, st.integers(min_value=0, max_value=9), st.sampled_from("0123456789"))
def test_single_digit_change_10(prefix: str, position: int, new: str) -> None:
    """Which single-digit typos in a 10-digit INN the checksum catches.

    Changing digit i by d (|d| ≤ 9, d ≠ 0) changes the weighted sum by w_i·d.
    Every weight is non-zero mod 11 and 11 is prime, so the sum *mod 11*
    always changes. But the control digit is (sum mod 11) mod 10, and the
    residues 0 and 10 both give 0. So a typo in the first nine digits escapes
    exactly when it moves the residue from 0 to 10 or from 10 to 0 (about 2 %
    of typos). A typo in the control digit itself is always caught.
    """
    inn = prefix + inn_check_digits(prefix)
    assume(inn[position] != new)
    mutated = replace_digit(inn, position, new)
    if position == 9:
        escapes = False
    else:
        residues = {weighted(inn[:9], W10) % 11, weighted(mutated[:9], W10) % 11}
        assert len(residues) == 2  # the mod-11 sum always changes
        escapes = residues == {0, 10}
    if escapes:
        assert validate_inn(mutated) == mutated
    else:
        with pytest.raises(ValueError, match="check digit mismatch"):
            validate_inn(mutated)


def test_single_digit_change_can_escape_10() -> None:
    # 7707083830: 14+28+0+21+0+72+12+48+24 = 219 = 11*19 + 10 → 10 mod 10 = 0.
    # 7700083830: 14+28+0+0+0+72+12+48+24 = 198 = 11*18 + 0 → 0.
    # One typo (4th digit 7 → 0), both pass: the checksum is not a perfect
    # single-error detector, which is why we assert the exact rule above.
    assert validate_inn("7707083830") == "7707083830"
    assert validate_inn("7700083830") == "7700083830"


def test_sberbank_single_digit_changes_all_caught() -> None:
    # For this particular INN (residue 3) no typo can escape: the escape needs
    # residue 0 or 10 on one side.
    inn = "7707083893"
    for position in range(10):
        for new in "0123456789":
            if new != inn[position]:
                with pytest.raises(ValueError):
                    validate_inn(replace_digit(inn, position, new))


def test_12_digit_weights_make_every_single_digit_change_detectable() -> None:
    """Why a 12-digit INN, unlike a 10-digit one, catches every single-digit typo.

    A change d in digit i < 10 moves both sums: s11 by w11_i·d and s12 by
    w12_i·d (mod 11). Fooling both (mod 10) checks needs each sum to jump
    between residues 0 and 10, i.e. w11_i·d ≡ ±1 and w12_i·d ≡ ±1, hence
    w12_i ≡ ±w11_i (mod 11). No position has that, as asserted here. A
    change in the 11th or 12th digit is caught directly by its own check.
    """
    for w11, w12 in zip(W12_11, W12_12[:10], strict=True):
        assert w12 % 11 not in (w11 % 11, -w11 % 11)


@given(prefix10, st.integers(min_value=0, max_value=11), st.sampled_from("0123456789"))
def test_single_digit_change_12_always_caught(prefix: str, position: int, new: str) -> None:
    inn = prefix + inn_check_digits(prefix)
    assume(inn[position] != new)
    with pytest.raises(ValueError, match="check digit mismatch"):
        validate_inn(replace_digit(inn, position, new))


def test_valid_12_digit_single_digit_changes_all_caught() -> None:
    inn = "500100732259"
    for position in range(12):
        for new in "0123456789":
            if new != inn[position]:
                with pytest.raises(ValueError):
                    validate_inn(replace_digit(inn, position, new))


# ---------------------------------------------------------------------------- KPP


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("773601001", "773601001"),
        ("770701001", "770701001"),
        (" 7707 01 001 ", "770701001"),
        ("7736AB001", "7736AB001"),
        ("7736ab001", "7736AB001"),
        ("77360Z001", "77360Z001"),
    ],
)
def test_valid_kpp(value: str, expected: str) -> None:
    assert validate_kpp(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "77360100",  # 8 characters
        "7736010011",  # 10 characters
        "A73601001",  # letter in the tax-office part
        "773601A01",  # letter in the serial part
        "7736АБ001",  # Cyrillic А, Б — FNS uses Latin letters
        "7736_1001",
        "7736-01-001",
        "７７３６０１００１",  # full-width digits
    ],
)
def test_invalid_kpp(value: str) -> None:
    with pytest.raises(ValueError, match="KPP"):
        validate_kpp(value)


@given(
    st.text(alphabet="0123456789", min_size=4, max_size=4),
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=3, max_size=3),
)
def test_kpp_shape_property(office: str, reason: str, serial: str) -> None:
    kpp = office + reason + serial
    assert validate_kpp(kpp) == kpp
    assert validate_kpp(kpp.lower()) == kpp


# -------------------------------------------------------------------------- phone

MOBILE = "+79161234567"


@pytest.mark.parametrize(
    "value",
    [
        "+7 916 123-45-67",
        "8 (916) 123 45 67",
        "89161234567",
        "7 916 1234567",
        "(916) 123-45-67",  # ten digits, no trunk prefix
        "9161234567",
        "+7(916)123-45-67",
        "+7 916 123-45-67 доб. 123",
        "8 (916) 123-45-67 ДОБ 5",
        "+7 916 123 45 67 ext 123",
        "+7 916 123 45 67 ext. 99",
        "+7 916 123-45-67 #123",
    ],
)
def test_phone_formats_normalise_to_one_e164(value: str) -> None:
    assert normalize_phone(value) == MOBILE


@pytest.mark.parametrize(
    "value",
    ["(495) 123-45-67", "8 495 123 45 67", "+7 495 123-45-67 доб. 123", "4951234567"],
)
def test_landline_without_prefix(value: str) -> None:
    assert normalize_phone(value) == "+74951234567"


def test_phone_other_regions() -> None:
    assert normalize_phone("+1 650 253 0000") == "+16502530000"
    assert normalize_phone("+380 44 123 4567") == "+380441234567"
    assert normalize_phone("020 7946 0018", default_region="GB") == "+442079460018"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "12345",
        "+7 916 123",
        "8 916 123 45 678 9",
        "+7 916 123-45-67\r\nBcc: x@y.ru",
    ],
)
def test_impossible_phones(value: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalize_phone(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+7 495 123-45-67 доб. 123", "123"),
        ("+7 495 123-45-67 доб 45", "45"),
        ("8 (495) 123-45-67, доб. 123", "123"),
        ("+7 495 123-45-67 ext 123", "123"),
        ("+7 495 123-45-67 EXT. 7", "7"),
        ("+7 495 123-45-67 #123", "123"),
        ("84951234567 x123", "123"),
        ("+7 495 123-45-67", None),
        ("89161234567", None),
    ],
)
def test_phone_extension(value: str, expected: str | None) -> None:
    assert phone_extension(value) == expected


def test_phone_extension_of_garbage() -> None:
    with pytest.raises(ValueError, match="not a phone number"):
        phone_extension("no phone here")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("123-45", "12345"),
        ("8 916 123", "8916123"),  # fragment: the 8 may be an area code digit
        ("+7(916)", "7916"),
        ("812", "812"),
        ("8 (916) 123-45-67", "79161234567"),
        ("89161234567", "79161234567"),
        ("+7 916 123-45-67", "79161234567"),
        ("(916) 123-45-67", "79161234567"),
        ("(495) 123-45-67", "74951234567"),
        ("(343) 123-45-67", "73431234567"),
        ("800 555 35 35", "78005553535"),
        ("1234567890", "1234567890"),  # 10 digits but not a Russian code
        ("7123456789", "7123456789"),
        ("79161234567", "79161234567"),
        ("+44 20 7946 0018", "442079460018"),
        ("", ""),
        ("тел.", ""),
    ],
)
def test_phone_search_digits(query: str, expected: str) -> None:
    assert phone_search_digits(query) == expected


@given(st.text())
def test_phone_search_digits_only_ascii_digits(query: str) -> None:
    result = phone_search_digits(query)
    assert all("0" <= ch <= "9" for ch in result)
    if not any("0" <= ch <= "9" for ch in query):
        assert result == ""


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_search_digits_of_full_number_match_stored(tail: str) -> None:
    # However a Russian mobile number is typed in full, its search digits are
    # the stored E.164 digits, so a substring search finds it.
    national = "916" + tail
    for typed in (f"+7 {national}", f"8{national}", national, f"8 ({national[:3]}) {tail}"):
        assert phone_search_digits(typed) == normalize_phone(typed)[1:]


# -------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ivan@example.ru", "ivan@example.ru"),
        ("  Ivan.Petrov@Example.RU \n", "ivan.petrov@example.ru"),
        ("IVAN+crm@MAIL.RU", "ivan+crm@mail.ru"),
        ("ivan@почта.рф", "ivan@xn--80a1acny.xn--p1ai"),
        ("Ivan@ПОЧТА.РФ", "ivan@xn--80a1acny.xn--p1ai"),
        ("ivan@xn--80a1acny.xn--p1ai", "ivan@xn--80a1acny.xn--p1ai"),
        ("Иван@почта.рф", "иван@xn--80a1acny.xn--p1ai"),
        ("a@sub.domain-name.co.uk", "a@sub.domain-name.co.uk"),
        ("o'brien@example.com", "o'brien@example.com"),
    ],
)
def test_normalize_email(value: str, expected: str) -> None:
    assert normalize_email(value) == expected


def test_email_case_and_idn_variants_compare_equal() -> None:
    variants = ["ivan@почта.рф", "IVAN@ПОЧТА.РФ", "Ivan@Почта.Рф", "ivan@XN--80A1ACNY.XN--P1AI"]
    assert len({normalize_email(v) for v in variants}) == 1


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "ivan",
        "ivan@",
        "@example.ru",
        "ivan@example",
        "ivan@@example.ru",
        "a@b@example.ru",
        "iv an@example.ru",
        "ivan@exam ple.ru",
        # header / address-list injection
        "a@b.ru\r\nBcc: x@y.ru",
        "a@b.ru\nBcc: x@y.ru",
        "a@b.ru\rBcc: x@y.ru",
        "a@b.ru%0d%0aBcc:x@y.ru",
        "a@b.ru, x@y.ru",
        "a@b.ru,x@y.ru",
        "Ivan <a@b.ru>",
        "<a@b.ru>",
        "a@b.ru;x@y.ru",
        '"a b"@example.ru',
        # RFC 5322 specials in the local part (only the specials check stops these)
        '"ab"@example.ru',
        "<a>@b.ru",
        "a,b@example.ru",
        "a;b@example.ru",
        "a:b@example.ru",
        "a(comment)@example.ru",
        "a[b]@example.ru",
        "a\\b@example.ru",
        "a@b.ru\x00",
        "a\u200b@b.ru",  # zero-width space
        "a@b.ru\u202e",  # right-to-left override
        # domain shape
        "a@b..ru",
        "a@.b.ru",
        "a@b.ru.",
        "a@-b.ru",
        "a@b-.ru",
        "a@b_c.ru",
        "a@192.168.0.1",
        "a@[192.168.0.1]",
        "a@" + "x" * 64 + ".ru",  # label longer than 63
        # local part shape
        ".a@b.ru",
        "a.@b.ru",
        "a..b@c.ru",
        "a" * 65 + "@b.ru",
    ],
)
def test_invalid_emails(value: str) -> None:
    with pytest.raises(ValueError, match="email"):
        normalize_email(value)


def test_email_length_limit() -> None:
    domain = "a" * 63 + "." + "b" * 63 + "." + "c" * 58 + ".ru"
    address = "l" * 64 + "@" + domain
    assert len(address) == 254
    assert normalize_email(address) == address
    with pytest.raises(ValueError, match="longer than 254"):
        normalize_email("l" * 64 + "@" + "d" + domain)


def test_email_length_limit_counts_punycode() -> None:
    # 214 characters as typed, 274 once the Cyrillic labels become xn--…
    address = "a@" + ".".join(["я" * 20] * 10) + ".рф"
    assert len(address) < 254
    with pytest.raises(ValueError, match="punycode"):
        normalize_email(address)


def test_email_error_message_shows_control_characters() -> None:
    with pytest.raises(ValueError) as info:
        normalize_email("a@b.ru\r\nBcc: x@y.ru")
    message = str(info.value)
    assert "\r" not in message and "\n" not in message
    assert "\\r\\n" in message


local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_+-", min_size=1, max_size=20)
domain_labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=15)
cyrillic_labels = st.text(alphabet="абвгдежзийклмнопрстуфхцчшщъыьэюя", min_size=1, max_size=15)


@given(local_parts, st.lists(st.one_of(domain_labels, cyrillic_labels), min_size=1, max_size=3))
def test_email_normalisation_is_idempotent_and_case_blind(local: str, labels: list[str]) -> None:
    address = local + "@" + ".".join(labels) + ".ru"
    normalised = normalize_email(address)
    assert normalize_email(normalised) == normalised
    assert normalize_email(address.upper()) == normalised
    assert normalised == normalised.lower()
    assert normalised.isascii()


@given(local_parts, domain_labels, st.sampled_from(["\r", "\n", "\r\n", ",", "<", ">", " "]))
def test_email_with_separator_inside_is_refused(local: str, label: str, bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(f"{local}@{label}.ru{bad}bcc@evil.ru")


def test_email_domain() -> None:
    assert email_domain("Ivan@Example.RU") == "example.ru"
    assert email_domain("ivan@почта.рф") == "xn--80a1acny.xn--p1ai"
    with pytest.raises(ValueError):
        email_domain("not an email")


REQUIRED_FREE_DOMAINS = {
    "mail.ru", "bk.ru", "inbox.ru", "list.ru", "internet.ru",
    "yandex.ru", "ya.ru", "yandex.com", "gmail.com", "googlemail.com",
    "rambler.ru", "outlook.com", "hotmail.com", "icloud.com", "me.com",
    "yahoo.com", "proton.me", "protonmail.com",
}  # fmt: skip


def test_free_mail_domains_contents() -> None:
    assert isinstance(FREE_MAIL_DOMAINS, frozenset)
    assert REQUIRED_FREE_DOMAINS <= FREE_MAIL_DOMAINS
    # Stored normalised, so membership tests on normalised domains work.
    for domain in FREE_MAIL_DOMAINS:
        assert domain == email_domain("x@" + domain)


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("ivan@mail.ru", True),
        ("Ivan@Mail.RU", True),
        ("  someone@GMAIL.com ", True),
        ("a@ya.ru", True),
        ("a@proton.me", True),
        ("buh@sberbank.ru", False),
        ("a@corp.mail.ru", False),  # a subdomain is somebody's own
        ("a@gmail.com.evil.ru", False),
        ("ivan@почта.рф", False),
    ],
)
def test_is_free_mail(email: str, expected: bool) -> None:
    assert is_free_mail(email) is expected


def test_is_free_mail_rejects_invalid() -> None:
    with pytest.raises(ValueError):
        is_free_mail("mail.ru")


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ЁЖИК Ёлка", "ежик елка"),
        ("  ООО   «Ромашка»\t\n", "ооо «ромашка»"),
        ("Е\u0308ж", "еж"),  # decomposed Ё
        ("Straße STRASSE", "strasse strasse"),
        ("ＡＢＣ\u00a0Тест", "abc тест"),  # full-width letters, NBSP
        ("Йод", "йод"),  # й must stay й (not и)
        ("", ""),
        (" \t ", ""),
    ],
)
def test_fold_text(value: str, expected: str) -> None:
    assert fold_text(value) == expected


letters = st.text(
    alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\n"
)


@given(letters)
def test_fold_text_is_case_blind_and_idempotent(value: str) -> None:
    folded = fold_text(value)
    assert fold_text(value.upper()) == folded
    assert fold_text(value.lower()) == folded
    assert fold_text(folded) == folded
    assert "ё" not in folded
    assert "  " not in folded
    assert folded == folded.strip()
