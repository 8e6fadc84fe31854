"""The mail bridge's desk over REST: review queue, suggestions, outbox — and who may use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm.models import ContactPerson, Interaction
from crm.models.base import utcnow
from mail.filing import BlobStore
from mail.models import MailReview, MailSuggestion
from server.config import Config
from tests.server.conftest import Api

RAW = (
    "From: Пётр <petr@unknown-client.ru>\r\nTo: sales@torgdom.ru\r\nSubject: =?utf-8?b?0JfQsNC60LDQtw==?=\r\n"
    "Message-ID: <order-1@unknown-client.ru>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0300\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\nПришлите счёт, пожалуйста.\r\n"
).encode()


@pytest.fixture
def desk(api: Api, config: Config) -> dict[str, Any]:
    ivanov = api.user("ivanov")
    office = api.user("office", role="office")
    cp = api.create(ivanov, "counterparties", legal_name="ООО «Ромашка»", inn="7707083893")
    blobs = BlobStore(Path(config.data_dir) / "mail-blobs")
    sha = blobs.put(RAW)
    blobs.sync()
    blobs.close()
    with api.database.write() as db:
        review = MailReview(
            key="order-1@unknown-client.ru",
            mailbox_id="box",
            folder="INBOX",
            subject="Заказ",
            sender="petr@unknown-client.ru",
            received_at=utcnow(),
            reason="ambiguous",
            candidates=[cp["id"]],
            raw_sha256=sha,
        )
        suggestion = MailSuggestion(
            address="anna@romashka.ru", name="Анна Смирнова", counterparty_id=cp["id"], letters=3
        )
        db.add(review)
        db.add(suggestion)
        db.flush()
        ids = {"review": review.id, "suggestion": suggestion.id}
    return {"ivanov": ivanov, "office": office, "cp": cp, **ids}


def test_a_salesperson_is_refused_the_queue_and_the_suggestions_and_changes_nothing(
    api: Api, desk: dict[str, Any]
) -> None:
    ivanov, review, suggestion = desk["ivanov"], desk["review"], desk["suggestion"]
    for method, path, body in (
        ("GET", "/api/v1/mail/reviews", None),
        ("GET", f"/api/v1/mail/reviews/{review}", None),
        ("POST", f"/api/v1/mail/reviews/{review}/settle", {"counterparty_id": desk["cp"]["id"]}),
        ("POST", f"/api/v1/mail/reviews/{review}/dismiss", None),
        ("GET", "/api/v1/mail/suggestions", None),
        ("POST", f"/api/v1/mail/suggestions/{suggestion}/accept", None),
        ("POST", f"/api/v1/mail/suggestions/{suggestion}/dismiss", None),
    ):
        r = api.client.request(method, path, json=body, headers=ivanov)
        assert (path, r.status_code, r.json()["error"]) == (path, 403, "permission_denied")
        assert (
            api.client.request(method, path, json=body).status_code == 401
        )  # no token: not even that
    with api.database.read() as db:
        assert db.get_one(MailReview, review).status == "open"
        assert db.get_one(MailSuggestion, suggestion).status == "open"
        assert (
            db.execute(select(Interaction)).first() is None
            and db.execute(select(ContactPerson)).first() is None
        )


def test_office_lists_reads_and_settles_a_letter(api: Api, desk: dict[str, Any]) -> None:
    office, review = desk["office"], desk["review"]
    listed = api.client.get("/api/v1/mail/reviews", headers=office).json()["items"]
    assert [(i["id"], i["subject"], i["candidates"]) for i in listed] == [
        (review, "Заказ", [desk["cp"]["id"]])
    ]
    letter = api.client.get(f"/api/v1/mail/reviews/{review}", headers=office).json()
    assert letter["subject"] == "Заказ" and "Пришлите счёт" in letter["text"]
    r = api.client.post(
        f"/api/v1/mail/reviews/{review}/settle",
        json={"counterparty_id": desk["cp"]["id"]},
        headers=office,
    )
    assert r.status_code == 200 and r.json()["status"] == "settled"
    assert api.client.get("/api/v1/mail/reviews", headers=office).json()["items"] == []
    filed = api.client.get(
        "/api/v1/interactions", params={"counterparty_id": desk["cp"]["id"]}, headers=desk["ivanov"]
    ).json()["items"]
    assert [(i["kind"], i["subject"]) for i in filed] == [("letter", "Заказ")]


@pytest.mark.parametrize(
    "body", [None, [], {"counterparty_id": 5}, {"counterparty_id": "x", "contact_person_id": 1}]
)
def test_a_malformed_settle_is_a_clear_400_and_changes_nothing(
    api: Api, desk: dict[str, Any], body: Any
) -> None:
    r = api.client.post(
        f"/api/v1/mail/reviews/{desk['review']}/settle", json=body, headers=desk["office"]
    )
    assert r.status_code == 400 and "counterparty_id" in r.json()["message"]
    with api.database.read() as db:
        assert db.get_one(MailReview, desk["review"]).status == "open"


def test_an_administrator_turns_a_suggestion_into_a_contact_person(
    api: Api, desk: dict[str, Any]
) -> None:
    # (office staff decide suggestions on the counterparties they may change; ivanov's is private to him)
    office, suggestion = api.user("boss", role="admin"), desk["suggestion"]
    listed = api.client.get("/api/v1/mail/suggestions", headers=office).json()["items"]
    assert [(s["id"], s["address"]) for s in listed] == [(suggestion, "anna@romashka.ru")]
    r = api.client.post(f"/api/v1/mail/suggestions/{suggestion}/accept", headers=office)
    assert r.status_code == 201, r.text
    person = api.client.get(
        f"/api/v1/contact-persons/{r.json()['contact_person_id']}", headers=desk["ivanov"]
    ).json()
    assert person["full_name"] == "Анна Смирнова" and person["counterparty_id"] == desk["cp"]["id"]
    assert (
        api.client.post(
            f"/api/v1/mail/suggestions/{suggestion}/dismiss", headers=office
        ).status_code
        == 409
    )  # decided


def test_the_outbox_shows_each_user_only_the_letters_they_may_see(
    api: Api, desk: dict[str, Any]
) -> None:
    ivanov = desk["ivanov"]
    petrova = api.user("petrova", team="Питер")
    theirs = api.create(petrova, "counterparties", legal_name="ООО «Чужое»")
    for headers, cp, subject in (
        (ivanov, desk["cp"]["id"], "Счёт Ромашке"),
        (petrova, theirs["id"], "Чужой счёт"),
    ):
        api.create(
            headers,
            "interactions",
            counterparty_id=cp,
            kind="letter",
            direction="outgoing",
            subject=subject,
            mail_status="queued",
            starts_at="2026-12-01T10:00:00+03:00",
            participants=[{"role": "to", "address": "someone@example.ru"}],
        )
    mine = api.client.get("/api/v1/mail/outbox", headers=ivanov).json()
    assert [(x["subject"], x["mail_status"]) for x in mine["letters"]] == [
        ("Счёт Ромашке", "queued")
    ]
    assert "counts" not in mine
    office = api.client.get("/api/v1/mail/outbox", headers=desk["office"]).json()
    assert sorted(x["subject"] for x in office["letters"]) == ["Счёт Ромашке", "Чужой счёт"]
    # Written, not yet taken by the mail worker: they count as queued all the same.
    assert office["counts"] == {"queued": 2}


@pytest.mark.parametrize("body", [b"null", b"{bad json", b"[" * 200])
def test_a_salesperson_is_refused_before_the_settle_body_is_read(
    api: Api, desk: dict[str, Any], body: bytes
) -> None:
    r = api.client.post(
        f"/api/v1/mail/reviews/{desk['review']}/settle",
        content=body,
        headers={**desk["ivanov"], "Content-Type": "application/json"},
    )
    assert r.status_code == 403


def test_a_contact_person_has_no_mail_domain(api: Api, desk: dict[str, Any]) -> None:
    r = api.client.post(
        "/api/v1/contact-persons",
        headers=desk["ivanov"],
        json={
            "counterparty_id": desk["cp"]["id"],
            "full_name": "Пётр",
            "contacts": [{"kind": "domain", "value": "x.ru"}],
        },
    )
    assert r.status_code == 422 and "contacts[0]" in r.json()["details"]


def test_the_outbox_pages_newest_first_and_counts_the_rest(api: Api, desk: dict[str, Any]) -> None:
    ivanov = desk["ivanov"]
    made = {}
    for n, status in enumerate(("queued", "failed", "sent", "uncertain", "queued")):
        made[n] = api.create(
            ivanov,
            "interactions",
            counterparty_id=desk["cp"]["id"],
            kind="letter",
            direction="outgoing",
            subject=f"Письмо {n}",
            mail_status="queued",
            starts_at="2026-12-01T10:00:00+03:00",
            participants=[{"role": "to", "address": "someone@example.ru"}],
        )["id"]
        with api.database.write() as db:  # as the mail bridge moves them
            letter = db.get_one(Interaction, made[n])
            letter.mail_status = status
            letter.updated_at = utcnow()
    first = api.client.get("/api/v1/mail/outbox?limit=2", headers=ivanov).json()
    rest = api.client.get("/api/v1/mail/outbox?limit=2&offset=2", headers=ivanov).json()
    assert [x["subject"] for x in first["letters"]] == ["Письмо 4", "Письмо 3"]
    assert [x["subject"] for x in rest["letters"]] == [
        "Письмо 1",
        "Письмо 0",
    ]  # "sent" is not waiting
    assert first["total"] == 4 and (first["limit"], first["offset"]) == (2, 0)


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/api/v1/mail/outbox?limt=5", "ivanov"),
        ("/api/v1/mail/outbox?limit=0", "ivanov"),
        ("/api/v1/mail/outbox?limit=501", "ivanov"),
        ("/api/v1/mail/outbox?offset=-1", "ivanov"),
        ("/api/v1/mail/reviews?status=all", "office"),
        ("/api/v1/mail/suggestions?limit=x", "office"),
    ],
)
def test_a_listing_refuses_a_parameter_it_does_not_take(
    api: Api, desk: dict[str, Any], path: str, who: str
) -> None:
    answer = api.client.get(path, headers=desk[who])
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "malformed_input"
    if "limit=" in path:  # the range a listing takes, not merely "a number"
        assert "must be a whole number from 1 to 500" in answer.json()["message"]


def test_the_queue_and_the_suggestions_page(api: Api, desk: dict[str, Any]) -> None:
    office = desk["office"]
    reviews = api.client.get("/api/v1/mail/reviews?limit=1", headers=office).json()
    assert [r["id"] for r in reviews["items"]] == [desk["review"]]
    assert api.client.get("/api/v1/mail/reviews?offset=1", headers=office).json()["items"] == []
    admin = api.user("admin", role="admin")  # the suggestion is on a client office may not change
    assert [
        s["id"]
        for s in api.client.get("/api/v1/mail/suggestions?limit=1", headers=admin).json()["items"]
    ] == [desk["suggestion"]]
    assert api.client.get("/api/v1/mail/suggestions?offset=1", headers=admin).json()["items"] == []
    # A salesperson is refused for the role whatever the parameters say.
    assert api.client.get("/api/v1/mail/reviews?bogus=1", headers=desk["ivanov"]).status_code == 403


def test_a_list_filter_takes_several_values(api: Api, desk: dict[str, Any]) -> None:
    ivanov = desk["ivanov"]
    for kind in ("call", "meeting", "other"):
        api.create(
            ivanov,
            "interactions",
            counterparty_id=desk["cp"]["id"],
            kind=kind,
            subject=kind,
            starts_at="2026-12-01T10:00:00+03:00",
        )
    got = api.client.get("/api/v1/interactions?kind__in=call,meeting", headers=ivanov).json()
    assert sorted(i["kind"] for i in got["items"]) == ["call", "meeting"]
    for bad in ("kind__in=", "kind__in=" + ",".join(["call"] * 51), "starts_at__in=yesterday"):
        answer = api.client.get(f"/api/v1/interactions?{bad}", headers=ivanov)
        assert answer.status_code == 422, (bad, answer.text)


def test_an_administrator_lists_and_edits_mailboxes_over_rest(
    api: Api, desk: dict[str, Any], config: Config
) -> None:
    from mail import bridge
    from mail.models import Mailbox

    admin = api.user("boss", role="admin")
    with api.database.write() as db:
        bridge.add_mailbox(
            db,
            config,
            name="sales",
            address="sales@torgdom.ru",
            imap_host="imap.torgdom.ru",
            password="secret-pass-1",
        )
    listed = api.client.get("/api/v1/mail/mailboxes", headers=admin)
    assert listed.status_code == 200
    [box] = listed.json()["items"]
    assert box["name"] == "sales" and box["imap_security"] == "ssl"
    assert "secret-pass-1" not in listed.text and "secret" not in box

    changed = api.client.patch(
        "/api/v1/mail/mailboxes/sales",
        json={"imap_port": 1993, "private_domains": {"add": ["@Family.RU"]}, "owner": "ivanov"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["imap_port"], changed.json()["private_domains"]) == (1993, ["family.ru"])
    assert changed.json()["owner"] == "ivanov" and changed.json()["kind"] == "personal"

    def stored() -> tuple[Any, ...]:
        with api.database.read() as db:
            b = db.execute(select(Mailbox)).scalar_one()
            return (b.imap_host, b.imap_port, b.imap_security, b.private_domains, b.owner_id)

    before = stored()
    for body, status in (
        ({"imap_host": "imap.yandex.ru", "imap_security": "plain"}, 422),  # a password in clear
        ({"imap_port": 99999, "private_addresses": {"add": ["not an address"]}}, 422),
        ({"imap_port": True}, 400),
        ({"imap_port": "x"}, 400),
        ({"folders": {"remove": ["Nonexistent"]}}, 422),  # a typo, not a change made
        ({"password": "x"}, 400),  # not a setting here: passwords are set by command
        ({"folders": ["INBOX"]}, 400),
        ({}, 400),
    ):
        r = api.client.patch("/api/v1/mail/mailboxes/sales", json=body, headers=admin)
        assert r.status_code == status, (body, r.text)
        assert stored() == before, body
        if body == {"imap_port": "x"}:
            assert r.json()["message"] == "imap_port must be a whole number"
    # Office staff and salespeople: refused before the body is read; nobody anonymous.
    for headers in (desk["office"], desk["ivanov"]):
        assert api.client.get("/api/v1/mail/mailboxes", headers=headers).status_code == 403
        r = api.client.patch("/api/v1/mail/mailboxes/sales", content=b"{bad", headers=headers)
        assert r.status_code == 403
    assert api.client.get("/api/v1/mail/mailboxes").status_code == 401
    assert stored() == before
    assert (
        api.client.patch("/api/v1/mail/mailboxes/nobody", json={"imap_port": 1}, headers=admin)
    ).status_code == 404


def test_a_settle_body_with_a_key_it_does_not_take_is_refused(
    api: Api, desk: dict[str, Any]
) -> None:
    r = api.client.post(
        f"/api/v1/mail/reviews/{desk['review']}/settle",
        json={"counterparty_id": desk["cp"]["id"], "contact_person": "typo"},
        headers=desk["office"],
    )
    assert r.status_code == 400
    with api.database.read() as db:
        assert db.get_one(MailReview, desk["review"]).status == "open"
