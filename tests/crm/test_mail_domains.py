"""A counterparty's own mail domains: how they are typed, what is refused, what the website names."""

from __future__ import annotations

import pytest

from crm import validation


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("romashka.ru", "romashka.ru"),
        (" @Romashka.RU ", "romashka.ru"),
        ("Ромашка.рф", "xn--80aa3agjl3d.xn--p1ai"),
        ("mail.romashka.ru", "mail.romashka.ru"),
        ("corp.mail.ru", "corp.mail.ru"),
    ],
)
def test_a_domain_is_stored_as_mail_compares_it(typed: str, stored: str) -> None:
    assert validation.mail_domain(typed) == stored


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("gmail.com", "public mail service"),
        ("@mail.ru", "public mail service"),
        ("yandex.ru", "public mail service"),
        ("romashka", "domain"),
        ("a b.ru", "whitespace"),
        ("192.168.0.1", "IP address"),
        ("", "a dot"),
        ("evil.ru\r\nBcc: x@y.ru", "whitespace"),
    ],
)
def test_what_is_not_a_companys_own_domain_is_refused_with_the_reason(
    typed: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        validation.mail_domain(typed)
    assert str(caught.value).startswith("mail domain ")


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("https://www.romashka.ru/about", "romashka.ru"),
        ("http://Romashka.RU", "romashka.ru"),
        ("https://shop.romashka.ru:8443/", "shop.romashka.ru"),
        ("www.romashka.ru", "romashka.ru"),
        ("romashka.ru/contacts", "romashka.ru"),
        ("javascript:alert(1)", None),
        ("mailto:info@romashka.ru", None),
        ("romashka", None),
        ("https://vk.com/romashka", None),
        ("https://romashka.tilda.ws", None),
        ("https://192.168.1.1/", None),
        ("https://gmail.com", None),
        ("ftp://romashka.ru", None),
        ("", None),
        (None, None),
    ],
)
def test_the_website_names_a_mail_domain_only_when_it_is_a_companys_own(
    website: str | None, domain: str | None
) -> None:
    assert validation.website_domain(website) == domain
