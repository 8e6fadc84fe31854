"""The card's requisites show what the forms ask for: region, industry, segment, source, website."""

from __future__ import annotations

import pytest

from tests.web.conftest import Web, create, user
from web.routes.counterparty import website_link


def test_the_card_shows_region_industry_segment_source_and_website(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="ООО «Ромашка»",
        region="Татарстан",
        industry="Розница",
        segment="Опт",
        source="Выставка",
        website="https://romashka.example.ru",
    )
    web.sign_in("ivanov")
    page = web.get(f"/counterparties/{cp.id}").text
    for label, value in (
        ("Регион", "Татарстан"),
        ("Отрасль", "Розница"),
        ("Сегмент", "Опт"),
        ("Источник", "Выставка"),
    ):
        assert f"<dt>{label}</dt>" in page and f">{value}</dd>" in page
    assert "<dt>Сайт</dt>" in page
    assert '<a href="https://romashka.example.ru" rel="noopener noreferrer nofollow"' in page


def test_an_empty_field_is_not_listed(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    page = web.get(f"/counterparties/{cp.id}").text
    assert [
        label
        for label in ("Регион", "Отрасль", "Сегмент", "Источник", "Сайт")
        if f"<dt>{label}</dt>" in page
    ] == []


@pytest.mark.parametrize(
    "website",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "www.romashka.ru",
        "http:/romashka",
    ],
)
def test_a_website_that_is_not_a_web_address_is_text_not_a_link(web: Web, website: str) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»", website=website)
    web.sign_in("ivanov")
    page = web.get(f"/counterparties/{cp.id}").text
    dd = page.split('id="cp-website">', 1)[1].split("</dd>", 1)[0]
    assert "<a" not in dd and "href" not in dd


@pytest.mark.parametrize(
    ("typed", "link"),
    [
        ("https://x.ru", "https://x.ru"),
        ("HTTP://x.ru/a?b=1", "HTTP://x.ru/a?b=1"),
        ("javascript:alert(1)", None),
        ("mailto:a@x.ru", None),
        ("", None),
        (None, None),
        ("https://x.ru/\nevil", None),
    ],
)
def test_website_link(typed: str | None, link: str | None) -> None:
    assert website_link(typed) == link


def test_phones_are_shown_as_people_read_them_and_dial_from_the_card(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="ООО «Ромашка»",
        contacts=[
            {"kind": "phone", "value": "8 (495) 123-45-67"},
            {"kind": "email", "value": "info@romashka.ru"},
        ],
    )
    web.sign_in("ivanov")
    page = web.get(f"/counterparties/{cp.id}").text
    assert '<a href="tel:+74951234567">+7 495 123-45-67</a>' in page
    assert '<a href="mailto:info@romashka.ru">info@romashka.ru</a>' in page
    found = web.get("/search", params={"q": "1234567"}).text
    assert "+7 495 123-45-67" in found
