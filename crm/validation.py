"""Validation and normalisation of the identifiers a Russian CRM stores.

Pure functions only: no database, no project imports, no I/O. Every validator
returns the normalised form that should be stored and compared, and raises the
built-in :class:`ValueError` with an English message that names the field, the
offending value and the problem. Callers that need a domain error wrap it.
"""

import re
import unicodedata
from datetime import date
from decimal import Decimal

import phonenumbers

__all__ = [
    "FREE_MAIL_DOMAINS",
    "ISO_4217",
    "check_year",
    "currency_code",
    "email_domain",
    "exact_money",
    "fold_text",
    "inn_check_digits",
    "is_free_mail",
    "mail_domain",
    "normalize_email",
    "normalize_phone",
    "phone_extension",
    "phone_search_digits",
    "validate_inn",
    "validate_kpp",
    "website_domain",
]

# Error messages quote user input. repr() makes CR/LF and other invisible
# characters visible (and harmless in logs); the cut keeps a pasted novel from
# turning into a novel-sized error message.
_SHOW_LIMIT = 80


def _show(value: str) -> str:
    """Return ``value`` quoted for an error message, shortened if very long."""
    if len(value) > _SHOW_LIMIT:
        return repr(value[:_SHOW_LIMIT]) + "…"
    return repr(value)


def _remove_whitespace(value: str) -> str:
    # People paste INN/KPP from PDFs and letters with spaces, NBSP or tabs in
    # the middle ("7707 083 893"); whitespace never carries meaning there.
    return "".join(value.split())


# --------------------------------------------------------------------------- INN

# Weights of the FNS checksum (приказ ФНС, algorithm for ИНН control digits).
_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)

# Explicit [0-9] rather than \d or str.isdigit(): both also accept Arabic-Indic,
# full-width and superscript digits, which int() would happily convert and
# which must never reach the database as an INN.
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _inn_digit(digits: str, weights: tuple[int, ...]) -> str:
    """One INN control digit: weighted sum mod 11, then mod 10 (10 becomes 0)."""
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    return str(total % 11 % 10)


def inn_check_digits(prefix: str) -> str:
    """Compute the control digit(s) of an INN from its leading digits.

    ``prefix`` must be exactly 9 ASCII digits (legal entity: one control digit
    is returned) or exactly 10 ASCII digits (individual / ИП: two control
    digits are returned). ``prefix + inn_check_digits(prefix)`` is then always
    accepted by :func:`validate_inn`. The prefix is not stripped or otherwise
    normalised, because this is meant for generated data, not user input.

    Raises ``ValueError`` for any other input.
    """
    if not _ASCII_DIGITS.fullmatch(prefix):
        raise ValueError(f"INN prefix {_show(prefix)}: must contain only digits 0-9")
    if len(prefix) == 9:
        return _inn_digit(prefix, _INN10_WEIGHTS)
    if len(prefix) == 10:
        eleventh = _inn_digit(prefix, _INN12_WEIGHTS_11)
        # The 12th digit's checksum covers the 11th digit as well.
        twelfth = _inn_digit(prefix + eleventh, _INN12_WEIGHTS_12)
        return eleventh + twelfth
    raise ValueError(
        f"INN prefix {_show(prefix)}: must have 9 digits (legal entity) "
        f"or 10 digits (individual), got {len(prefix)}"
    )


def validate_inn(value: str) -> str:
    """Validate a Russian taxpayer number (ИНН) and return it normalised.

    Whitespace anywhere in ``value`` is removed. The rest must be 10 ASCII
    digits (legal entity, one control digit) or 12 ASCII digits (individual
    or sole proprietor, two control digits), and the control digits must match
    the FNS checksum. Returns the bare digit string.

    Only the checksum is checked: the region/tax-office prefix is not, so
    e.g. ``"0000000000"`` passes. For 10-digit INNs the checksum, being taken
    mod 11 and then mod 10, misses some single-digit typos (roughly 2 %: those
    that move the sum between residues 0 and 10); the two checks of a 12-digit
    INN together catch every single-digit typo. See the tests for the proof.

    Raises ``ValueError`` for a wrong length, non-digit characters or a
    control digit mismatch.
    """
    digits = _remove_whitespace(value)
    if not digits:
        raise ValueError(f"INN {_show(value)}: empty")
    if not _ASCII_DIGITS.fullmatch(digits):
        raise ValueError(f"INN {_show(value)}: must contain only digits 0-9")
    if len(digits) not in (10, 12):
        raise ValueError(
            f"INN {_show(value)}: must have 10 digits (legal entity) "
            f"or 12 digits (individual), got {len(digits)}"
        )
    expected = inn_check_digits(digits[:-1] if len(digits) == 10 else digits[:-2])
    actual = digits[-len(expected) :]
    if actual != expected:
        raise ValueError(
            f"INN {_show(digits)}: check digit mismatch (expected {expected}, got {actual})"
        )
    return digits


# --------------------------------------------------------------------------- KPP

# 4 digits: tax office (код налогового органа); 2 characters: reason for
# registration, digits or capital Latin letters since FNS order ММВ-7-6/435@
# (2012); 3 digits: serial number.
_KPP_RE = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")


def validate_kpp(value: str) -> str:
    """Validate a Russian tax registration reason code (КПП).

    Whitespace anywhere is removed and letters are uppercased. The result must
    be 9 characters: 4 digits, 2 digits-or-Latin-capitals (A-Z), 3 digits.
    Returns that normalised string.

    Cyrillic look-alike letters (e.g. Cyrillic "А") are rejected, not mapped:
    the FNS alphabet for KPP is Latin, and a silent mapping could hide a typo.

    Raises ``ValueError`` otherwise.
    """
    kpp = _remove_whitespace(value).upper()
    if not kpp:
        raise ValueError(f"KPP {_show(value)}: empty")
    if len(kpp) != 9:
        raise ValueError(f"KPP {_show(value)}: must have 9 characters, got {len(kpp)}")
    if not _KPP_RE.fullmatch(kpp):
        raise ValueError(
            f"KPP {_show(value)}: must be 4 digits, 2 digits or Latin letters A-Z, 3 digits"
        )
    return kpp


# -------------------------------------------------------------------------- phone


def _parse_phone(value: str, default_region: str) -> phonenumbers.PhoneNumber:
    """Parse a phone the way a person typed it, or raise ``ValueError``."""
    try:
        # A number without "+" is read as a national number of default_region;
        # for "RU" phonenumbers strips the trunk prefix 8 and also a leading 7
        # country code typed without "+", and understands "доб.", "ext", "#".
        return phonenumbers.parse(value, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"phone {_show(value)}: not a phone number ({exc})") from exc


def normalize_phone(value: str, default_region: str = "RU") -> str:
    """Return a phone number in E.164 form, e.g. ``"+79161234567"``.

    Accepts the usual ways Russians write numbers: ``"+7 916 123-45-67"``,
    ``"8 (916) 123 45 67"``, ``"89161234567"``, ``"7 916 1234567"``, and ten
    digits without trunk prefix such as ``"(495) 123-45-67"`` (read as a
    number of ``default_region``). An extension (``"доб. 123"``, ``"ext 123"``,
    ``"#123"``) is allowed and dropped from the result; use
    :func:`phone_extension` to get it.

    Raises ``ValueError`` when the text cannot be parsed or the digit count is
    not possible for the country.
    """
    number = _parse_phone(value, default_region)
    # "Possible" (length fits the country) rather than "valid" (the range is
    # allocated in the library's metadata): operators get new ranges all the
    # time, offline clients run with old metadata for months, and refusing a
    # real customer's number is worse than storing an unallocated one.
    if not phonenumbers.is_possible_number(number):
        raise ValueError(
            f"phone {_show(value)}: not a possible phone number "
            "(wrong number of digits for the country)"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_extension(value: str) -> str | None:
    """Return the extension the user wrote after the number, or ``None``.

    ``"+7 495 123-45-67 доб. 123"`` → ``"123"``; ``"+7 495 123-45-67"`` →
    ``None``. The number is parsed as a Russian one when it has no ``+``.

    Raises ``ValueError`` when ``value`` is not a phone number at all.
    """
    number = _parse_phone(value, "RU")
    # phonenumbers leaves extension as "" or None when there is none.
    return number.extension or None


# Leading digits of a 10-digit Russian national number: 3xx, 4xx, 8xx area
# codes and 9xx mobile codes.
_RU_NATIONAL_FIRST_DIGITS = frozenset("3489")


def phone_search_digits(query: str) -> str:
    """Turn a typed (possibly partial) phone into digits to find in E.164 numbers.

    Stored numbers are E.164 (``"+79161234567"``); the caller looks for the
    returned digits as a substring of the stored digits. Rules:

    * keep only ASCII digits; no digits at all gives ``""``;
    * 11 digits starting with 8 (Russian trunk prefix) → leading 8 becomes 7;
    * exactly 10 digits starting with 3, 4, 8 or 9 (Russian area or mobile
      code without prefix) → ``"7"`` is prepended;
    * anything else is a fragment and is returned unchanged.

    Fragments are never rewritten, because a leading 8 in a fragment may be a
    trunk prefix ("8 916 123") or part of an area code ("812 ..."), and we
    cannot tell which; so "8 916 123" is searched as "8916123".
    """
    digits = "".join(ch for ch in query if "0" <= ch <= "9")
    if len(digits) == 11 and digits[0] == "8":
        return "7" + digits[1:]
    if len(digits) == 10 and digits[0] in _RU_NATIONAL_FIRST_DIGITS:
        return "7" + digits
    return digits


# -------------------------------------------------------------------------- email

# RFC 5321: a forward/reverse path is at most 256 octets including the angle
# brackets, hence 254 for the address; the local part is at most 64 octets.
_EMAIL_MAX_LENGTH = 254
_LOCAL_PART_MAX_OCTETS = 64

# RFC 5322 "specials" that are not allowed unquoted in a local part or a
# domain. Rejecting them (and thus quoted local parts) also shuts the door on
# header injection and address-list smuggling ("a@b.ru, c@d.ru").
_EMAIL_FORBIDDEN = frozenset(',<>;:"()[]\\')

# Letter-digit-hyphen host label, after IDNA conversion and lowercasing.
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def normalize_email(value: str) -> str:
    """Validate an e-mail address and return its normalised form.

    Normalisation: surrounding whitespace is stripped, the whole address is
    lowercased (Satchel treats addresses case-insensitively, local part
    included), and an internationalised domain (``"почта.рф"``) is converted
    to its ASCII punycode form (``"xn--80a1acny.xn--p1ai"``) with Python's
    ``idna`` codec, so that the same mailbox always compares equal. A
    non-ASCII local part is kept as is (lowercased).

    Accepted shape: exactly one ``@``; a non-empty local part without leading,
    trailing or doubled dots and at most 64 octets; a domain of at least two
    non-empty dot-separated labels, each letters/digits/hyphens after
    conversion, with a non-numeric last label; at most 254 characters in
    total. Whitespace, control and other invisible format characters (CR/LF
    included), commas, angle brackets and the other RFC 5322 specials are
    refused anywhere.

    Raises ``ValueError`` otherwise.
    """
    text = value.strip()
    if not text:
        raise ValueError(f"email {_show(value)}: empty")
    # Check the raw length first so that pathological input never reaches the
    # idna codec; the encoded form is checked again below.
    if len(text) > _EMAIL_MAX_LENGTH:
        raise ValueError(f"email {_show(value)}: longer than {_EMAIL_MAX_LENGTH} characters")
    for ch in text:
        # Category C* = control (CR, LF, NUL, TAB…), format (zero-width space,
        # BOM, bidi overrides — invisible spoofing), surrogates, private use
        # and unassigned code points.
        if ch.isspace() or unicodedata.category(ch).startswith("C"):
            raise ValueError(f"email {_show(value)}: contains whitespace or a control character")
        if ch in _EMAIL_FORBIDDEN:
            raise ValueError(f"email {_show(value)}: contains forbidden character {ch!r}")

    text = text.lower()
    if text.count("@") != 1:
        raise ValueError(f"email {_show(value)}: must contain exactly one '@'")
    local, _, domain = text.partition("@")

    if not local:
        raise ValueError(f"email {_show(value)}: empty part before '@'")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise ValueError(f"email {_show(value)}: dots in the part before '@' must separate words")
    if len(local.encode("utf-8")) > _LOCAL_PART_MAX_OCTETS:
        raise ValueError(
            f"email {_show(value)}: part before '@' longer than {_LOCAL_PART_MAX_OCTETS} bytes"
        )

    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise ValueError(
            f"email {_show(value)}: domain must be like 'example.ru' (a dot, no empty parts)"
        )
    try:
        # IDNA 2003 as implemented by the stdlib codec: nameprep + punycode.
        # ASCII labels pass through unchanged (only their length is checked).
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"email {_show(value)}: invalid domain ({exc})") from exc
    ascii_domain = ascii_domain.lower()
    ascii_labels = ascii_domain.split(".")
    if not all(_LDH_LABEL.fullmatch(label) for label in ascii_labels):
        raise ValueError(
            f"email {_show(value)}: domain may contain only letters, digits, "
            "hyphens (not at the ends of a part) and dots"
        )
    if ascii_labels[-1].isdigit():
        # "user@192.168.0.1" is an IP address, not a domain; we do not store
        # those (and bracketed address literals are refused above).
        raise ValueError(f"email {_show(value)}: domain must not be an IP address")

    result = f"{local}@{ascii_domain}"
    if len(result) > _EMAIL_MAX_LENGTH:
        raise ValueError(
            f"email {_show(value)}: longer than {_EMAIL_MAX_LENGTH} characters "
            "once the domain is converted to punycode"
        )
    return result


def email_domain(value: str) -> str:
    """Return the domain of an e-mail address, normalised (punycode, lowercase).

    ``value`` is passed through :func:`normalize_email` first, so any accepted
    spelling works: ``"Ivan@Почта.РФ"`` → ``"xn--80a1acny.xn--p1ai"``.

    Raises ``ValueError`` if ``value`` is not an acceptable address.
    """
    return normalize_email(value).rpartition("@")[2]


# Public mailbox providers: an address there says nothing about the company,
# so e.g. "guess the counterparty from the sender's domain" must skip them.
# Exact domains only, in normalised (lowercase ASCII) form.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # VK / Mail.ru
        "mail.ru",
        "bk.ru",
        "inbox.ru",
        "list.ru",
        "internet.ru",
        "mail.ua",
        # Yandex
        "yandex.ru",
        "yandex.com",
        "yandex.by",
        "yandex.kz",
        "yandex.ua",
        "ya.ru",
        "narod.ru",
        # Rambler
        "rambler.ru",
        "lenta.ru",
        "ro.ru",
        "autorambler.ru",
        "myrambler.ru",
        # Google
        "gmail.com",
        "googlemail.com",
        # Microsoft
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        # Apple
        "icloud.com",
        "me.com",
        "mac.com",
        # Others common in Russian B2B correspondence
        "yahoo.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "mail.com",
        "ukr.net",
    }
)


def mail_domain(value: str) -> str:
    """A company's own mail domain as typed (``"Ромашка.рф"``, ``"@romashka.ru"``), normalised like
    the domain of an address; a public mail service (:data:`FREE_MAIL_DOMAINS`) is refused, since
    its letters say nothing of whose they are. Raises ``ValueError``."""
    text = value.strip().removeprefix("@")
    address = f"postmaster@{text}"
    try:
        domain = email_domain(address)
    except ValueError as exc:
        reason = str(exc).removeprefix(f"email {_show(address)}: ")
        raise ValueError(f"mail domain {_show(value)}: {reason}") from None
    if domain in FREE_MAIL_DOMAINS:
        raise ValueError(
            f"mail domain {_show(value)}: a public mail service, not a company's own domain"
        )
    return domain


# Sites where many companies keep a page: a website there names no company's mail domain.
_SHARED_SITES = frozenset(
    {
        "vk.com",
        "vk.ru",
        "ok.ru",
        "t.me",
        "telegram.me",
        "instagram.com",
        "facebook.com",
        "youtube.com",
        "rutube.ru",
        "dzen.ru",
        "ozon.ru",
        "wildberries.ru",
        "wb.ru",
        "avito.ru",
        "market.yandex.ru",
        "2gis.ru",
        "hh.ru",
        "tilda.ws",
        "wixsite.com",
        "ucoz.ru",
        "narod.ru",
        "business.site",
        "taplink.cc",
        "github.io",
        "google.com",
    }
)


def website_domain(website: str | None) -> str | None:
    """The mail domain a company's website names (``https://www.romashka.ru/about`` → ``romashka.ru``),
    or None when it names none: not a web address, an IP address, a public mail
    service's host, or a site where many companies keep a page (``vk.com/romashka``)."""
    from urllib.parse import urlsplit

    text = (website or "").strip()
    if text and "://" not in text and ":" not in text.partition("/")[0]:
        text = "http://" + text  # typed as people do: "romashka.ru", "www.romashka.ru/contacts"
    try:
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        domain = mail_domain(parts.hostname.removeprefix("www."))
    except ValueError:
        return None
    labels = domain.split(".")
    shared = any(".".join(labels[i:]) in _SHARED_SITES for i in range(len(labels) - 1))
    return None if shared else domain


def is_free_mail(email: str) -> bool:
    """Tell whether ``email`` belongs to a public mailbox provider.

    Compares the normalised domain with :data:`FREE_MAIL_DOMAINS` exactly
    (subdomains are not free mail: "corp.mail.ru" is a company's own).

    Raises ``ValueError`` if ``email`` is not an acceptable address.
    """
    return email_domain(email) in FREE_MAIL_DOMAINS


# --------------------------------------------------------------------------- text


def fold_text(value: str) -> str:
    """Return a case- and ё-insensitive search key for Cyrillic and Latin text.

    NFKC normalisation (so full-width letters, ligatures, NBSP and a
    decomposed "е" + U+0308 fold like their plain forms), then
    ``str.casefold()``, then "ё" → "е" (Russians routinely type е for ё),
    then every run of whitespace becomes one space and the ends are stripped.

    Used to fill a search column: SQLite's LIKE and lower() fold ASCII only.
    """
    folded = unicodedata.normalize("NFKC", value).casefold().replace("ё", "е")
    # str.split() without arguments splits on any Unicode whitespace.
    return " ".join(folded.split())


# --------------------------------------------------------------------------- money, currencies, dates

# A double holds every decimal of 15 significant digits exactly, and SQLite keeps
# NUMERIC as a double: below 10^13 with two places an amount reads back as sent.
MONEY_MAX_INTEGER_DIGITS = 13


# A number written out: digits, maybe a sign and one decimal point or comma. Not "1e5" or
# "1,5E+3" (a cell Excel showed in scientific form, a figure rounded to its first digits),
# not "1_000", "NaN" or "Infinity".
_PLAIN_NUMBER = re.compile(r"[-+]?(\d+([.,]\d*)?|[.,]\d+)")


def is_plain_number(text: str) -> bool:
    """Whether ``text`` writes a number out in digits (spaces between its groups allowed), not in
    scientific form: an amount of money is taken only as written."""
    return bool(_PLAIN_NUMBER.fullmatch("".join(text.replace("\u00a0", " ").split())))


def plain_money_text(text: str) -> str:
    """``text`` itself when it writes an amount out in digits; else ``ValueError``."""
    if not is_plain_number(text):
        raise ValueError(
            f"must be written out in digits, e.g. 1500.50, not in scientific form; got {_show(text)}"
        )
    return text


def exact_money(value: Decimal | float | int, scale: int) -> Decimal:
    """Return ``value`` as a Decimal of exactly ``scale`` places, or raise ``ValueError``.

    Refused rather than rounded: non-finite values, more places than ``scale``
    ("0.001" for kopecks), and amounts of :data:`MONEY_MAX_INTEGER_DIGITS` or
    more integer digits, which one of the databases could not keep exactly.
    A float (a JSON number) is read by its shortest repr, which is what the
    client wrote whenever that fits these bounds.
    """
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if -exponent > scale:
        raise ValueError(f"at most {scale} decimal places; got {_show(str(value))}")
    if abs(amount) >= Decimal(10) ** MONEY_MAX_INTEGER_DIGITS:
        raise ValueError(f"must be less than 10^{MONEY_MAX_INTEGER_DIGITS} in absolute value")
    return amount.quantize(Decimal(1).scaleb(-scale))


# ISO 4217 active codes (2024). Fixed here: a currency that appears later is one line.
ISO_4217 = frozenset(
    """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD
XOF XPF YER ZAR ZMW ZWL
""".split()
)


def currency_code(value: str) -> str:
    """Return ``value`` as an upper-case ISO 4217 code, or raise ``ValueError``."""
    code = value.strip().upper()
    if code not in ISO_4217:
        raise ValueError(
            f"must be an ISO 4217 currency code such as RUB, USD or EUR; got {_show(value)}"
        )
    return code


# Dates a CRM has reason to hold: birthdays of the living, history, plans. Outside
# this range a time cannot even be converted to UTC near year 1 or 9999.
MIN_YEAR, MAX_YEAR = 1900, 2200


def check_year(value: date) -> None:
    """Raise ``ValueError`` when ``value`` (a date or a time) lies outside MIN_YEAR..MAX_YEAR."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(
            f"must lie between the years {MIN_YEAR} and {MAX_YEAR}; got {value.isoformat()}"
        )
