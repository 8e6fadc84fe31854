"""Letters on the card: read in a sandboxed frame with its own CSP, written to be sent by the bridge."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm.models import Counterparty, Interaction, User
from mail.filing import BlobStore
from server.config import Config
from tests.web.conftest import Web, create, user

HOSTILE = (
    '<p>Добрый день!</p><script>window.top.__xss=1</script><img src=x onerror="window.top.__xss=1">'
    '<a href="javascript:alert(1)">ссылка</a><style>body{display:none}</style><form action="https://evil.example">'
    '<input name=p></form><iframe src="https://evil.example"></iframe>'
)


def filed_letter(web: Web, author: User, cp: Counterparty, **extra: Any) -> Interaction:
    """A letter as the mail bridge files it (body_html and attachments are the bridge's to write)."""
    letter = create(
        web.database,
        author,
        "interactions",
        counterparty_id=cp.id,
        kind="letter",
        direction="incoming",
        subject="Счёт на оплату",
        notes="Добрый день!",
        starts_at="2026-12-01T10:00:00+03:00",
        participants=[
            {"role": "from", "name": "Пётр", "address": "petr@romashka.ru"},
            {"role": "to", "address": "sales@torgdom.ru"},
        ],
    )
    with web.database.write() as db:
        stored = db.get_one(Interaction, letter.id)
        stored.body_html = extra.get("body_html", HOSTILE)
        stored.attachments = [
            {
                "filename": "счёт.pdf",
                "content_type": "application/pdf",
                "size": 48_213,
                "sha256": "0" * 64,
            }
        ]
        db.add(stored)
    return letter  # type: ignore[no-any-return]


@pytest.fixture
def card(web: Web) -> dict[str, Any]:
    ivanov = user(web.database, "ivanov")
    petrova = user(web.database, "petrova", team="Питер")
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    hers = create(web.database, petrova, "counterparties", legal_name="ООО «Василёк»")
    return {
        "ivanov": ivanov,
        "petrova": petrova,
        "mine": mine,
        "hers": hers,
        "letter": filed_letter(web, ivanov, mine),
        "her_letter": filed_letter(web, petrova, hers),
    }


def letters(web: Web) -> list[Interaction]:
    with web.database.read() as db:
        return list(
            db.execute(select(Interaction).where(Interaction.mail_status.is_not(None))).scalars()
        )  # type: ignore[union-attr]


def test_a_filed_letter_reads_in_a_sandboxed_frame(web: Web, card: dict[str, Any]) -> None:
    web.sign_in("ivanov")
    letter = card["letter"]
    page = web.get(f"/letters/{letter.id}")
    assert page.status_code == 200
    assert "Счёт на оплату" in page.text and "petr@romashka.ru" in page.text
    assert "счёт.pdf" in page.text and "47,1 кБ" in page.text
    frame = re.search(r"<iframe[^>]*>", page.text)
    assert frame and f'src="/letters/{letter.id}/body"' in frame.group(0)
    sandbox = re.search(r'sandbox="([^"]*)"', frame.group(0))
    assert (
        sandbox
        and "allow-scripts" not in sandbox.group(1)
        and "allow-same-origin" not in sandbox.group(1)
    )
    assert "<script>window.top" not in page.text  # the HTML is only in the frame
    # the card's history links to it
    assert f'href="/letters/{letter.id}"' in web.get(f"/counterparties/{card['mine'].id}").text


def test_the_frame_has_its_own_strict_csp_and_no_active_content(
    web: Web, card: dict[str, Any]
) -> None:
    web.sign_in("ivanov")
    body = web.get(f"/letters/{card['letter'].id}/body")
    assert body.status_code == 200
    csp = body.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "sandbox" in csp and "allow-scripts" not in csp and "script-src" not in csp
    assert body.headers["x-frame-options"] == "SAMEORIGIN"
    assert "Добрый день!" in body.text
    lowered = body.text.lower()
    for active in (
        "<script",
        "onerror",
        "javascript:",
        "<style",
        "<form",
        "<iframe",
        "evil.example",
    ):
        assert active not in lowered, active


@pytest.mark.parametrize("path", ["/letters/{id}", "/letters/{id}/body"])
def test_another_salespersons_letter_is_not_found(
    web: Web, card: dict[str, Any], path: str
) -> None:
    web.sign_in("ivanov")
    r = web.get(path.format(id=card["her_letter"].id))
    assert r.status_code == 404 and "Добрый день" not in r.text and "Счёт" not in r.text


def test_an_interaction_that_is_no_letter_is_not_one(web: Web, card: dict[str, Any]) -> None:
    call = create(
        web.database,
        card["ivanov"],
        "interactions",
        counterparty_id=card["mine"].id,
        kind="call",
        starts_at="2026-12-01T10:00:00+03:00",
    )
    web.sign_in("ivanov")
    assert web.get(f"/letters/{call.id}").status_code == 404


def test_writing_a_letter_queues_it(web: Web, card: dict[str, Any]) -> None:
    web.sign_in("ivanov")
    cp = card["mine"]
    assert web.get(f"/counterparties/{cp.id}/letters/new").status_code == 200
    r = web.post(
        f"/counterparties/{cp.id}/letters",
        {
            "to": "petr@romashka.ru; Olga@Romashka.ru",
            "cc": "",
            "subject": "Коммерческое предложение",
            "text": "Здравствуйте!",
        },
    )
    assert r.status_code == 303
    [letter] = letters(web)
    assert r.headers["location"] == f"/letters/{letter.id}"
    assert (
        letter.kind,
        letter.direction,
        letter.mail_status,
        letter.counterparty_id,
        letter.responsible_id,
    ) == ("letter", "outgoing", "queued", cp.id, card["ivanov"].id)
    assert [p["address"] for p in letter.participants] == ["petr@romashka.ru", "olga@romashka.ru"]
    page = web.get(f"/letters/{letter.id}").text
    assert "ждёт отправки" in page and "Здравствуйте!" in page
    assert "ждёт отправки" in web.get(f"/counterparties/{cp.id}").text


def test_a_reply_is_prefilled(web: Web, card: dict[str, Any]) -> None:
    web.sign_in("ivanov")
    form = web.get(
        f"/counterparties/{card['mine'].id}/letters/new?reply_to={card['letter'].id}"
    ).text
    assert 'value="petr@romashka.ru"' in form and 'value="Re: Счёт на оплату"' in form
    assert (
        web.get(
            f"/counterparties/{card['mine'].id}/letters/new?reply_to={card['her_letter'].id}"
        ).status_code
        == 404
    )


def test_a_letter_without_a_good_address_is_refused_beside_the_field(
    web: Web, card: dict[str, Any]
) -> None:
    web.sign_in("ivanov")
    cp = card["mine"]
    r = web.post(f"/counterparties/{cp.id}/letters", {"to": "", "subject": "", "text": "x"})
    assert r.status_code == 422
    assert '<span class="field-error" id="l-to-error">Укажите хотя бы один адрес</span>' in r.text
    assert '<span class="field-error" id="l-subject-error">Обязательное поле</span>' in r.text
    r = web.post(
        f"/counterparties/{cp.id}/letters", {"to": "не адрес", "subject": "Тема", "text": "x"}
    )
    assert r.status_code == 422 and 'id="l-to-error"' in r.text and 'value="Тема"' in r.text
    assert letters(web) == []


def test_writing_needs_the_token_and_a_card_i_can_see(web: Web, card: dict[str, Any]) -> None:
    web.sign_in("ivanov")
    data = {"to": "a@b.ru", "subject": "Тема", "text": "x"}
    r = web.client.post(
        f"/counterparties/{card['mine'].id}/letters", data=data, follow_redirects=False
    )
    assert r.status_code == 403
    assert web.post(f"/counterparties/{card['hers'].id}/letters", data).status_code == 404
    assert web.get(f"/counterparties/{card['hers'].id}/letters/new").status_code == 404
    assert letters(web) == []


def test_an_attachment_downloads_only_from_a_letter_i_may_read(
    web: Web, card: dict[str, Any], config: Config
) -> None:
    blobs = BlobStore(Path(config.data_dir) / "mail-blobs")
    listed, unlisted = (
        blobs.put(b"%PDF-1.4 invoice"),
        blobs.put(b"<script>alert(1)</script> someone else's"),
    )
    blobs.sync()
    blobs.close()
    for key in ("letter", "her_letter"):
        with web.database.write() as db:
            stored = db.get_one(Interaction, card[key].id)
            stored.attachments = [
                {
                    "filename": "счёт №1.pdf",
                    "content_type": "application/pdf",
                    "size": 16,
                    "sha256": listed,
                }
            ]
            db.add(stored)
    web.sign_in("ivanov")
    letter = card["letter"]
    assert (
        f'href="/letters/{letter.id}/attachments/{listed}"' in web.get(f"/letters/{letter.id}").text
    )
    r = web.get(f"/letters/{letter.id}/attachments/{listed}")
    assert r.status_code == 200 and r.content == b"%PDF-1.4 invoice"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment; filename*=UTF-8''%D1%81")
    assert r.headers["x-content-type-options"] == "nosniff"
    # a stored file that this letter does not list, and another salesperson's letter, are not there
    assert web.get(f"/letters/{letter.id}/attachments/{unlisted}").status_code == 404
    assert web.get(f"/letters/{card['her_letter'].id}/attachments/{listed}").status_code == 404
    assert web.get(f"/letters/{letter.id}/attachments/..%2F..%2Fsecret.key").status_code == 404


def test_a_queued_letter_can_be_taken_back_and_sent_again(web: Web, card: dict[str, Any]) -> None:
    web.sign_in("ivanov")
    web.post(
        f"/counterparties/{card['mine'].id}/letters",
        {"to": "petr@romashka.ru", "subject": "Тема", "text": "x"},
    )
    [letter] = letters(web)
    assert (
        web.client.post(
            f"/letters/{letter.id}/mail", data={"action": "cancel"}, follow_redirects=False
        ).status_code
        == 403
    )
    assert letters(web)[0].mail_status == "queued"
    assert (
        web.post(f"/letters/{letter.id}/mail", {"action": "cancel", "version": "1"}).status_code
        == 303
    )
    with web.database.read() as db:
        assert db.get_one(Interaction, letter.id).mail_status is None
    page = web.get(f"/letters/{letter.id}").text
    assert "не будет отправлено" in page
    assert (
        web.post(f"/letters/{letter.id}/mail", {"action": "queue", "version": "1"}).status_code
        == 409
    )  # stale
    assert (
        web.post(f"/letters/{letter.id}/mail", {"action": "queue", "version": "2"}).status_code
        == 303
    )
    assert letters(web)[0].mail_status == "queued"
    web.client.cookies.clear()
    web.sign_in("petrova")
    assert web.post(f"/letters/{letter.id}/mail", {"action": "cancel"}).status_code == 404
    assert letters(web)[0].mail_status == "queued"
