"""The office's outbox: letters waiting to be sent (or not sent), on the server only."""

from __future__ import annotations

from tests.web.conftest import Web, create, user
from tests.web.test_agenda_letters import letter


def test_the_office_sees_the_letters_waiting_to_be_sent(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "office", role="office")
    cp = create(
        web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»", visibility="company"
    )
    queued = letter(web, ivanov, cp.id, "Счёт на оплату", "queued")
    failed = letter(web, ivanov, cp.id, "Договор", "failed")
    letter(web, ivanov, cp.id, "Уже ушло", "sent")
    web.sign_in("office")
    assert 'href="/outbox"' in web.get("/").text  # in the office's menu
    page = web.get("/outbox")
    assert page.status_code == 200 and "<h1>Исходящие</h1>" in page.text
    assert (
        f'href="/letters/{queued.id}"' in page.text and f'href="/letters/{failed.id}"' in page.text
    )
    assert page.text.index("Договор") < page.text.index("Счёт на оплату")  # the latest change first
    assert "ждёт отправки" in page.text and "не отправлено" in page.text
    assert "Уже ушло" not in page.text and "ООО «Ромашка»" in page.text
    assert "Пользователь ivanov" in page.text  # who wrote it


def test_salespeople_are_refused_and_see_no_menu_entry(web: Web) -> None:
    user(web.database, "ivanov")
    user(web.database, "boss", role="manager")
    for login in ("ivanov", "boss"):
        web.sign_in(login)
        assert 'href="/outbox"' not in web.get("/").text
        assert web.get("/outbox").status_code == 403
