"""Mailings over REST, sync and the ``satchel`` command on SQLite and PostgreSQL: a draft's plan,
queueing it once (201, then 200 writing nothing), a salesperson refused another's mailing (403
to queue, 403 to create one owned by another, 404 for one that does not exist), a laptop's push
of a mailing naming its status or counts refused, and ``satchel mailing plan | queue``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from crm.models import Interaction
from tests.server.conftest import Api
from tests.server.test_sync_api import Laptop, _create


def _world(api: Api) -> dict[str, Any]:
    ivanov = api.user("ivanov")
    petrov = api.user("petrov")
    office = api.user("office", role="office", team=None)
    client = api.create(ivanov, "counterparties", legal_name="ООО Лотос", region="Тверь")
    for name, address, opted in (
        ("Орлов Пётр", "orlov@lotos.ru", False),
        ("Белова Анна", "belova@lotos.ru", True),
        ("Васин", None, False),
    ):
        api.create(
            ivanov,
            "contact-persons",
            counterparty_id=client["id"],
            full_name=name,
            contacts=[{"kind": "email", "value": address}] if address else [],
            no_mailings=opted,
        )
    segment = api.create(ivanov, "segments", name="Тверь", criteria={"region": ["Тверь"]})
    mailing = api.create(
        ivanov,
        "mailings",
        name="Новая коллекция",
        subject="{{contact.first_name}}, новая коллекция",
        body="Здравствуйте!",
        segment_id=segment["id"],
    )
    return {
        "ivanov": ivanov,
        "petrov": petrov,
        "office": office,
        "client": client,
        "segment": segment,
        "mailing": mailing,
    }


def test_plan_and_queue_over_rest(api: Api) -> None:
    w = _world(api)
    mailing_id = w["mailing"]["id"]
    plan = api.client.get(f"/api/v1/mailings/{mailing_id}/plan", headers=w["ivanov"])
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert (body["recipients"], body["opted_out"], body["unreachable"]) == (1, 1, 1)
    assert [(i["person_name"], i["email"]) for i in body["items"]] == [
        ("Орлов Пётр", "orlov@lotos.ru")
    ]
    assert {x["reason"] for x in body["left_out"]} == {"opted_out", "no_address"}
    # petrov sees the mailing and its counts, not ivanov's private client.
    theirs = api.client.get(f"/api/v1/mailings/{mailing_id}/plan", headers=w["petrov"]).json()
    assert (theirs["recipients"], theirs["items"], theirs["hidden"]) == (1, [], 3)
    refused = api.client.post(f"/api/v1/mailings/{mailing_id}/queue", headers=w["petrov"])
    assert refused.status_code == 403, refused.text
    missing = api.client.post(
        "/api/v1/mailings/00000000-0000-4000-8000-000000000000/queue", headers=w["ivanov"]
    )
    assert missing.status_code == 404

    done = api.client.post(f"/api/v1/mailings/{mailing_id}/queue", headers=w["ivanov"])
    assert done.status_code == 201, done.text
    assert done.json()["letters"] == 1 and done.json()["mailing"]["status"] == "queued"
    again = api.client.post(f"/api/v1/mailings/{mailing_id}/queue", headers=w["office"])
    assert again.status_code == 200 and again.json()["letters"] == 0
    history = api.client.get(
        "/api/v1/interactions",
        params={"counterparty_id": w["client"]["id"], "kind": "letter"},
        headers=w["ivanov"],
    ).json()["items"]
    assert [(h["mail_status"], h["participants"][0]["address"]) for h in history] == [
        ("queued", "orlov@lotos.ru")
    ]
    letters = api.client.get(f"/api/v1/mailings/{mailing_id}/plan", headers=w["ivanov"]).json()
    assert [(i["email"], i["state"]) for i in letters["items"]] == [("orlov@lotos.ru", "queued")]
    changed = api.client.patch(
        f"/api/v1/mailings/{mailing_id}", json={"body": "Другое"}, headers=w["ivanov"]
    )
    assert changed.status_code == 422


def test_unknown_merge_field_and_foreign_owner_are_refused(api: Api) -> None:
    w = _world(api)
    bad = api.create(
        w["ivanov"],
        "mailings",
        name="Ошибка",
        subject="Тема",
        body="{{client.phone}}",
        segment_id=w["segment"]["id"],
    )
    r = api.client.post(f"/api/v1/mailings/{bad['id']}/queue", headers=w["ivanov"])
    assert r.status_code == 422 and "client.phone" in r.text
    ivanov_id = w["mailing"]["owner_id"]
    r = api.client.post(
        "/api/v1/mailings",
        json={
            "name": "Чужая",
            "subject": "Т",
            "body": "Б",
            "segment_id": w["segment"]["id"],
            "owner_id": ivanov_id,
        },
        headers=w["petrov"],
    )
    assert r.status_code == 403, r.text
    with api.database.read() as session:
        assert session.execute(select(func.count()).select_from(Interaction)).scalar_one() == 0


def test_a_laptop_cannot_push_a_queued_mailing_or_its_counts(api: Api) -> None:
    w = _world(api)
    laptop = Laptop(api, "ivanov")
    fields = {"name": "С ноутбука", "subject": "Т", "body": "Б", "segment_id": w["segment"]["id"]}
    for extra in ({"status": "queued"}, {"recipients": 1000}, {"sent": 3}):
        answer = laptop.push(_create("mailings", **fields, **extra))
        assert answer["results"][0]["status"] == "refused", answer
    answer = laptop.push(_create("mailings", **fields))
    assert answer["results"][0]["status"] == "applied", answer
    laptop.pull()
    drafted = [r for r in laptop.records.values() if r.get("name") == "С ноутбука"]
    assert [r["status"] for r in drafted] == ["draft"]


def test_satchel_mailing_plan_and_queue(api: Api) -> None:
    from server.commands import app

    w = _world(api)
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "200"}
    mailing_id = w["mailing"]["id"]
    shown = CliRunner().invoke(
        app, ["mailing", "plan", mailing_id, "--as", "ivanov", "--json"], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["recipients"] == 1
    table = CliRunner().invoke(app, ["mailing", "plan", mailing_id, "--as", "ivanov"], env=env)
    assert table.exit_code == 0 and "orlov@lotos.ru" in table.output, table.output
    refused = CliRunner().invoke(app, ["mailing", "queue", mailing_id, "--as", "petrov"], env=env)
    assert refused.exit_code != 0
    done = CliRunner().invoke(app, ["mailing", "queue", mailing_id, "--as", "ivanov"], env=env)
    assert done.exit_code == 0 and "1" in done.output, done.output
    again = CliRunner().invoke(app, ["mailing", "queue", mailing_id, "--as", "ivanov"], env=env)
    assert again.exit_code == 0 and "already" in again.output, again.output
    # The ids the plan and the queue take are listed, as each user may see them over REST.
    for login in ("ivanov", "petrov"):
        listed = CliRunner().invoke(app, ["mailing", "list", "--as", login, "--json"], env=env)
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.output)
        rest = api.client.get("/api/v1/mailings", params={"limit": 500}, headers=w[login])
        assert {r["id"] for r in rows} == {m["id"] for m in rest.json()["items"]}, login
    mine = json.loads(
        CliRunner().invoke(app, ["mailing", "list", "--as", "ivanov", "--json"], env=env).output
    )
    assert {(r["id"], r["status"]) for r in mine} >= {(mailing_id, "queued")}
    table = CliRunner().invoke(app, ["mailing", "list", "--as", "ivanov"], env=env)
    assert table.exit_code == 0 and mailing_id in table.output, table.output
    assert CliRunner().invoke(app, ["mailing", "list", "--as", "nobody"], env=env).exit_code != 0


def test_a_client_that_got_a_mailing_is_merged_or_deleted_and_a_queued_mailing_stays(
    api: Api,
) -> None:
    from crm.models import Mailing, MailingRecipient

    w = _world(api)
    mailing_id = w["mailing"]["id"]
    assert api.client.post(f"/api/v1/mailings/{mailing_id}/queue", headers=w["ivanov"]).is_success
    # A queued mailing is history: deleting it says so and changes nothing.
    r = api.client.delete(f"/api/v1/mailings/{mailing_id}", headers=w["ivanov"])
    assert r.status_code == 422 and "queued" in r.json()["message"], r.text
    # Its client merged into a twin: the merge goes through, the mailing's recipient follows.
    twin = api.create(w["ivanov"], "counterparties", legal_name="ООО «Лотос»", region="Тверь")
    r = api.client.post(
        f"/api/v1/counterparties/{twin['id']}/merge",
        headers=w["office"],
        json={"absorb": w["client"]["id"], "take": []},
    )
    assert r.status_code in (200, 201), r.text
    with api.database.read() as session:
        [recipient] = session.execute(select(MailingRecipient)).scalars().all()
        assert recipient.counterparty_id == twin["id"]
    # Its person deleted, then the client itself: the mailing stays, with its counts.
    person = recipient.contact_person_id
    assert person is not None
    r = api.client.delete(f"/api/v1/contact-persons/{person}", headers=w["ivanov"])
    assert r.status_code == 204, r.text
    r = api.client.delete(f"/api/v1/counterparties/{twin['id']}", headers=w["ivanov"])
    assert r.status_code == 204, r.text
    with api.database.read() as session:
        assert session.execute(select(func.count()).select_from(MailingRecipient)).scalar() == 0
        mailing = session.get(Mailing, mailing_id)
        assert mailing is not None and mailing.recipients == 1
    # A draft may go.
    draft = api.create(
        w["ivanov"],
        "mailings",
        name="Черновик",
        subject="Тема",
        body="Текст",
        segment_id=w["segment"]["id"],
    )
    assert (
        api.client.delete(f"/api/v1/mailings/{draft['id']}", headers=w["ivanov"]).status_code == 204
    )


def test_a_mailing_named_like_markup_is_listed_as_written(api: Api) -> None:
    """Names are users' words: «[/bold]» or «[link=…]» in one must neither stop the command (an
    unbalanced tag did) nor vanish into formatting."""
    from server.commands import app

    w = _world(api)
    name = "Акция [/bold] до конца [link=http://evil.example]Клик[/link] :smile:"
    r = api.client.post(
        "/api/v1/mailings",
        json={"name": name, "subject": "Т", "body": "Б", "segment_id": w["segment"]["id"]},
        headers=w["ivanov"],
    )
    assert r.status_code == 201, r.text
    env = {"SATCHEL_DATABASE_URL": api.database.url, "COLUMNS": "300"}
    listed = CliRunner().invoke(app, ["mailing", "list", "--as", "ivanov"], env=env)
    assert listed.exit_code == 0, listed.output
    assert name in listed.output
    plan = CliRunner().invoke(app, ["mailing", "plan", r.json()["id"], "--as", "ivanov"], env=env)
    assert plan.exit_code == 0, plan.output
    assert name in plan.output
