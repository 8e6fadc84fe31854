"""The mail review queue on the server's screens: office and admins file or dismiss what waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm.models import Counterparty, Interaction
from crm.models.base import utcnow
from mail.filing import BlobStore
from mail.models import MailReview
from server.config import Config
from tests.web.conftest import Web, create, read, user

RAW = (
    "From: Пётр <petr@unknown-client.ru>\r\nTo: sales@torgdom.ru\r\nSubject: =?utf-8?b?0JfQsNC60LDQtw==?=\r\n"
    "Message-ID: <order-1@unknown-client.ru>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0300\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nПришлите счёт, пожалуйста.\r\n"
).encode()


def waiting_letter(web: Web, config: Config, candidates: list[str] | None = None) -> MailReview:
    blobs = BlobStore(Path(config.data_dir) / "mail-blobs")
    sha = blobs.put(RAW)
    blobs.sync()
    blobs.close()
    with web.database.write() as db:
        review = MailReview(
            key="order-1@unknown-client.ru",
            mailbox_id="box",
            folder="INBOX",
            subject="Заказ",
            sender="petr@unknown-client.ru",
            received_at=utcnow(),
            reason="ambiguous" if candidates else "no_match",
            candidates=candidates or [],
            raw_sha256=sha,
        )
        db.add(review)
    return review


@pytest.fixture
def office(web: Web, config: Config) -> dict[str, Any]:
    ivanov = user(web.database, "ivanov")
    user(web.database, "office", role="office")
    user(web.database, "petrova", team="Питер")
    romashka = create(
        web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»", inn="7707083893"
    )
    vasilek = create(web.database, ivanov, "counterparties", legal_name="ООО «Василёк»")
    return {
        "romashka": romashka,
        "vasilek": vasilek,
        "review": waiting_letter(web, config, [romashka.id, vasilek.id]),
    }


def filed(web: Web) -> list[Interaction]:
    with web.database.read() as db:
        return list(db.execute(select(Interaction).where(Interaction.kind == "letter")).scalars())


def test_office_sees_the_queue_with_its_candidates(web: Web, office: dict[str, Any]) -> None:
    web.sign_in("office")
    home = web.get("/").text
    assert (
        'href="/review">Письма на разбор: 1</a>' in home
        and 'href="/review">Разбор почты</a>' in home
    )
    page = web.get("/review")
    assert page.status_code == 200
    assert "Заказ" in page.text and "petr@unknown-client.ru" in page.text
    assert "ООО «Ромашка»" in page.text and "ООО «Василёк»" in page.text


def test_filing_under_a_candidate(web: Web, office: dict[str, Any]) -> None:
    web.sign_in("office")
    review = office["review"]
    r = web.post(f"/review/{review.id}/settle", {"counterparty_id": office["romashka"].id})
    assert r.status_code == 303
    settled = read(web.database, MailReview, review.id)
    assert settled.status == "filed"
    [letter] = filed(web)
    assert (letter.counterparty_id, letter.mail_rule, letter.subject) == (
        office["romashka"].id,
        "review",
        "Заказ",
    )
    assert 'id="review-empty"' in web.get("/review").text
    # and its owner reads it on the card
    web.client.cookies.clear()
    web.sign_in("ivanov")
    assert "Пришлите счёт" in web.get(f"/letters/{letter.id}").text


def test_filing_under_one_found_by_inn_and_asking_when_several_match(
    web: Web, office: dict[str, Any]
) -> None:
    web.sign_in("office")
    review = office["review"]
    r = web.post(f"/review/{review.id}/settle", {"find": "ООО"})
    assert r.status_code == 422 and "Найдено несколько: выберите одного" in r.text
    r = web.post(f"/review/{review.id}/settle", {"find": "нет такого"})
    assert r.status_code == 422 and f'id="find-{review.id}-error">Ничего не найдено' in r.text
    assert read(web.database, MailReview, review.id).status == "open"
    assert web.post(f"/review/{review.id}/settle", {"find": "7707083893"}).status_code == 303
    assert [i.counterparty_id for i in filed(web)] == [office["romashka"].id]


def test_dismissing(web: Web, office: dict[str, Any]) -> None:
    web.sign_in("office")
    review = office["review"]
    assert web.post(f"/review/{review.id}/dismiss", {}).status_code == 303
    assert read(web.database, MailReview, review.id).status == "dismissed" and filed(web) == []


@pytest.mark.parametrize("login", ["ivanov", "petrova"])
def test_salespeople_are_refused_and_nothing_is_filed(
    web: Web, office: dict[str, Any], login: str
) -> None:
    web.sign_in(login)
    assert 'href="/review"' not in web.get("/").text
    review = office["review"]
    assert web.get("/review").status_code == 403
    assert (
        web.post(
            f"/review/{review.id}/settle", {"counterparty_id": office["romashka"].id}
        ).status_code
        == 403
    )
    assert web.post(f"/review/{review.id}/dismiss", {}).status_code == 403
    assert read(web.database, MailReview, review.id).status == "open" and filed(web) == []


def test_settling_needs_the_token(web: Web, office: dict[str, Any]) -> None:
    web.sign_in("office")
    review = office["review"]
    r = web.client.post(
        f"/review/{review.id}/settle",
        data={"counterparty_id": office["romashka"].id},
        follow_redirects=False,
    )
    assert r.status_code == 403
    r = web.client.post(
        f"/review/{review.id}/dismiss", data={"csrf": "forged"}, follow_redirects=False
    )
    assert r.status_code == 403
    assert read(web.database, MailReview, review.id).status == "open" and filed(web) == []


def test_a_counterparty_that_does_not_exist_files_nothing(web: Web, office: dict[str, Any]) -> None:
    web.sign_in("office")
    review = office["review"]
    r = web.post(
        f"/review/{review.id}/settle", {"counterparty_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert r.status_code == 404
    assert read(web.database, MailReview, review.id).status == "open" and filed(web) == []
    assert read(web.database, Counterparty, office["romashka"].id) is not None


def test_a_waiting_letter_can_be_read_before_filing(web: Web, office: dict[str, Any]) -> None:
    review = office["review"]
    web.sign_in("office")
    page = web.get(f"/review/{review.id}")
    assert page.status_code == 200
    assert (
        "Пришлите счёт, пожалуйста." in page.text
        and "Пётр &lt;petr@unknown-client.ru&gt;" in page.text
    )
    assert web.get("/review/00000000-0000-0000-0000-000000000000").status_code == 404
    web.client.cookies.clear()
    web.sign_in("ivanov")
    r = web.get(f"/review/{review.id}")
    assert r.status_code == 403 and "Пришлите счёт" not in r.text
