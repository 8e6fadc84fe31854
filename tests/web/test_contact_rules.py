"""Contact rules per ABC class on the screens: a manager sets them, a salesperson only reads them and
is refused; the agenda lists one's own clients due for contact; the deals board shows a deal's
stage history and closing day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlmodel import col

from crm.models import ContactRule, Counterparty, Deal
from tests.web.conftest import Web, create, read, user


def _rules(web: Web) -> dict[str, int]:
    with web.database.read() as session:
        return {r.abc_class: r.days for r in session.execute(select(ContactRule)).scalars()}


def test_a_manager_sets_the_rules_and_a_salesperson_is_refused(web: Web) -> None:
    user(web.database, "boss", role="manager")
    user(web.database, "ivanov")
    web.sign_in("boss")
    r = web.post("/contact-rules", {"days-A": "14", "days-B": "30", "days-C": ""})
    assert r.status_code == 303
    assert _rules(web) == {"A": 14, "B": 30}
    # A bad value is refused beside its field, and nothing of the form is kept.
    r = web.post("/contact-rules", {"days-A": "7", "days-B": "0", "days-C": "x"})
    assert r.status_code == 422
    assert 'id="days-B-error"' in r.text and 'id="days-C-error"' in r.text
    assert _rules(web) == {"A": 14, "B": 30}
    web.client.cookies.clear()
    web.sign_in("ivanov")
    page = web.get("/contact-rules")
    assert page.status_code == 200 and 'id="contact-rules-save"' not in page.text
    assert "Эти правила задают руководители" in page.text
    r = web.post("/contact-rules", {"days-A": "365", "days-B": "", "days-C": ""})
    assert r.status_code == 403
    assert _rules(web) == {"A": 14, "B": 30}


def test_the_agenda_lists_my_clients_due_for_contact(web: Web) -> None:
    boss = user(web.database, "boss", role="manager")
    ivanov = user(web.database, "ivanov")
    create(web.database, boss, "contact-rules", abc_class="A", days=14)
    mine = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    fresh = create(web.database, ivanov, "counterparties", legal_name="ООО «Свежий»")
    with web.database.write() as session:
        session.execute(
            update(Counterparty)
            .where(col(Counterparty.id).in_([mine.id, fresh.id]))
            .values(abc_class="A")
        )
    create(
        web.database,
        ivanov,
        "interactions",
        counterparty_id=fresh.id,
        kind="call",
        status="done",
        starts_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    web.sign_in("ivanov")
    page = web.get("/")
    assert page.status_code == 200
    assert 'id="due"' in page.text and f'id="due-{mine.id}"' in page.text
    assert f'id="due-{fresh.id}"' not in page.text  # called yesterday
    assert "контактов не было; класс A: раз в 14 дн." in page.text
    web.client.cookies.clear()
    web.sign_in("boss")  # his own agenda: not his clients
    assert 'id="due"' not in web.get("/").text


def test_the_board_shows_the_stage_history_and_the_closing_day(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    deal = create(web.database, ivanov, "deals", counterparty_id=cp.id, title="Поставка муки")
    web.sign_in("ivanov")
    assert (
        web.post(f"/deals/{deal.id}/stage", {"stage": "proposal", "version": "1"}).status_code
        == 303
    )
    assert web.post(f"/deals/{deal.id}/stage", {"stage": "won", "version": "2"}).status_code == 303
    stored = read(web.database, Deal, deal.id)
    assert [s["stage"] for s in stored.stages] == ["new", "proposal", "won"]
    page = web.get("/deals").text
    item = page[page.index(f'id="deal-{deal.id}"') :]
    item = item[: item.index("</li>\n")]
    assert "История стадий" in page and "Закрыта" in item
    assert item.index("Новая") < item.index("Предложение") < item.rindex("Выиграна")


def test_contracts_on_the_card(web: Web) -> None:
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    web.sign_in("ivanov")
    r = web.post(
        f"/counterparties/{cp.id}/contracts",
        {
            "number": "П-118/2026",
            "signed_on": "2026-01-10",
            "ends_on": "2026-12-31",
            "payment_days": "30",
        },
    )
    assert r.status_code == 303
    card = web.get(f"/counterparties/{cp.id}").text
    assert "П-118/2026" in card and 'id="contracts-list"' in card
    # Ends before it starts, and a deferment of a thousand days: refused beside the fields.
    r = web.post(
        f"/counterparties/{cp.id}/contracts",
        {
            "number": "П-2",
            "starts_on": "2026-05-01",
            "ends_on": "2026-04-01",
            "payment_days": "1000",
        },
    )
    assert r.status_code == 422
    assert 'id="contract-ends_on-error"' in r.text and 'id="contract-payment_days-error"' in r.text
    web.client.cookies.clear()
    web.sign_in("petrov")  # does not see ivanov's private client
    r = web.post(f"/counterparties/{cp.id}/contracts", {"number": "ЧУЖОЙ"})
    assert r.status_code == 404
    with web.database.read() as session:
        from crm.models import Contract

        assert [c.number for c in session.execute(select(Contract)).scalars()] == ["П-118/2026"]
