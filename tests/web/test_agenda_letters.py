"""The agenda lists the user's letters still on their way out apart, not among today's calls and meetings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.models import Interaction, User
from tests.web.conftest import Web, create, user


def letter(web: Web, actor: User, cp_id: str, subject: str, mail_status: str | None) -> Any:
    made = create(
        web.database,
        actor,
        "interactions",
        counterparty_id=cp_id,
        kind="letter",
        direction="outgoing",
        status="planned",
        subject=subject,
        starts_at=datetime.now(UTC).isoformat(),
        mail_status="queued",
        participants=[{"role": "to", "address": "petr@romashka.ru"}],
    )
    with web.database.write() as db:  # as the mail bridge left it
        stored = db.get_one(Interaction, made.id)
        stored.mail_status = mail_status
        db.add(stored)
    return made


def section(page: str, name: str) -> str:
    found = re.search(
        rf'<section aria-labelledby="{name}-h" id="{name}">(.*?)</section>', page, re.S
    )
    return found.group(1) if found else ""


def test_letters_waiting_to_be_sent_have_a_section_of_their_own(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova")
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    hers = create(web.database, petrova, "counterparties", legal_name="ООО «Василёк»")
    queued = letter(web, ivanov, mine.id, "Счёт на оплату", "queued")
    failed = letter(web, ivanov, mine.id, "Договор", "failed")
    letter(web, ivanov, mine.id, "Уже ушло", "sent")
    letter(web, ivanov, mine.id, "Черновик отозван", None)
    letter(web, petrova, hers.id, "Её письмо", "queued")
    create(
        web.database,
        ivanov,
        "interactions",
        counterparty_id=mine.id,
        kind="call",
        status="planned",
        subject="Звонок сегодня",
        starts_at=(datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    )
    web.sign_in("ivanov")
    page = web.get("/").text
    today = section(page, "today")
    assert (
        "Звонок сегодня" in today or "ничего не запланировано" in today.lower()
    )  # near midnight: tomorrow's
    assert "Счёт на оплату" not in today and "Договор" not in today  # a letter is no call
    letters = section(page, "letters")
    assert "Письма к отправке" in letters
    assert letters.index("Договор") < letters.index("Счёт на оплату")  # the newest first
    assert f'href="/letters/{queued.id}"' in letters and f'href="/letters/{failed.id}"' in letters
    assert f'href="/counterparties/{mine.id}"' in letters
    assert "ждёт отправки" in letters and "не отправлено" in letters
    assert '<span class="tag warning">не отправлено</span>' in letters
    assert "Уже ушло" not in page and "Черновик отозван" not in page and "Её письмо" not in page


def test_no_section_without_letters_and_a_client_taken_away_takes_its_letters(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    web.sign_in("ivanov")
    assert 'id="letters"' not in web.get("/").text
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    letter(web, ivanov, cp.id, "Счёт на оплату", "uncertain")
    assert "Счёт на оплату" in section(web.get("/").text, "letters")
    petrova = user(web.database, "petrova", team="Питер")
    with web.database.write() as db:  # handed to a salesperson of another team
        from crm.models import Counterparty

        stored = db.get_one(Counterparty, cp.id)
        stored.owner_id = petrova.id
        db.add(stored)
    assert "Счёт на оплату" not in web.get("/").text
