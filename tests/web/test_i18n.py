"""Russian by default, English as the user's setting; every message of the screens is in the ru catalog."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from crm.models import User
from tests.web.conftest import Web, create, user
from web import i18n

WEB = Path(__file__).parents[2] / "web"


def _catalog(locale: str) -> dict[str, str]:
    with (WEB / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id}


def test_every_message_of_the_screens_is_translated_to_russian() -> None:
    used = {msg for _f, _l, msg, _c, _x in extract_from_dir(
        str(WEB), method_map=[("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}})}
    ru, en = _catalog("ru"), _catalog("en")
    assert used, "nothing extracted"
    assert sorted(m for m in used if not ru.get(m)) == []
    assert sorted(used - en.keys()) == []  # English keeps its ids; the catalog still lists them
    assert sorted(ru.keys() - used) == []  # nothing stale


def test_switching_to_english_is_the_users_setting(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    assert "Мой день" in web.get("/").text
    r = web.post("/settings/language", {"locale": "en", "back": "/settings"})
    assert r.status_code == 303 and r.headers["location"] == "/settings"
    with web.database.read() as db:
        assert db.execute(select(User.locale).where(User.id == ivanov.id)).scalar_one() == "en"
    page = web.get("/").text
    assert '<html lang="en">' in page and "Planned for today" in page and "Agenda" in page
    # a date in English, and problems beside the field in English too
    r = web.post(f"/counterparties/{cp.id}/edit", {"legal_name": "ООО «Ромашка»", "inn": "7707083894",
                                                   "stage": "lead", "visibility": "private"})
    assert "The INN check digit does not match (expected 3, got 4)" in r.text and ">INN<" in r.text
    # the setting follows the user to a new browser
    web.client.cookies.clear()
    web.sign_in("ivanov")
    assert "Planned for today" in web.get("/").text


def test_an_unknown_language_is_refused(web: Web) -> None:
    user(web.database, "ivanov")
    web.sign_in("ivanov")
    assert web.post("/settings/language", {"locale": "xx"}).status_code == 422


def test_the_sign_in_form_speaks_both() -> None:
    assert i18n.gettext_for("en")("Sign in") == "Sign in"
    assert i18n.gettext_for("ru")("Sign in") == "Вход"


def test_dates_follow_the_locale() -> None:
    from datetime import UTC, date, datetime

    moment = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert i18n.Formats("ru", "Europe/Moscow").datetime(moment) == "01.12.2026, 10:30"
    assert i18n.Formats("en", "Europe/Moscow").datetime(moment) == "12/1/26, 10:30\u202fAM"
    assert i18n.Formats("ru", "Europe/Moscow").day_month(date(2026, 12, 5)) == "5 декабря"
    assert i18n.Formats("en", "Europe/Moscow").day_month(date(2026, 12, 5)) == "December 5"


def test_the_sign_in_page_language_can_be_chosen(web: Web) -> None:
    assert "Password" in web.get("/signin?lang=en").text
    assert "Password" in web.get("/signin").text  # remembered by this browser
    web.client.cookies.clear()
    assert "Пароль" in web.get("/signin").text
