"""Suppliers on the screens (issue 15): the card of a supplier shows its terms and price list, who may
change the card enters and changes the terms (a bad rating refused beside its field, nothing
stored), a colleague who only sees it gets no form; the compare page lists the suppliers one sees."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from crm import suppliers
from crm.models import SupplierTerms, User
from tests.web.conftest import Web, create, user


def _terms(web: Web) -> list[tuple[int | None, int | None, str | None]]:
    with web.database.read() as session:
        return [
            (t.lead_time_days, t.rating, t.payment_terms)
            for t in session.execute(select(SupplierTerms)).scalars()
        ]


def _world(web: Web, tmp_path: Path) -> dict[str, str]:
    office = user(web.database, "office", role="office", team=None)
    ivanov = user(web.database, "ivanov")
    user(web.database, "petrova", team="Питер")
    mine = create(
        web.database,
        ivanov,
        "counterparties",
        legal_name="ООО Ювелир-Опт",
        kinds=["supplier"],
        visibility="company",
    )
    private = create(
        web.database, office, "counterparties", legal_name="ООО Тайный", kinds=["supplier"]
    )
    client = create(web.database, ivanov, "counterparties", legal_name="ООО Покупатель")
    with web.database.write() as session:
        who = session.get_one(User, office.id)
        for cp, price in ((mine.id, "18 500"), (private.id, "17 000")):
            path = tmp_path / f"{cp}.csv"
            path.write_bytes(
                f"Наименование;Цена\r\nКольцо обручальное 585 4 мм;{price}".encode("cp1251")
            )
            suppliers.import_prices(session, who, path, supplier_id=cp, valid_from=date(2026, 1, 1))
    return {"mine": mine.id, "private": private.id, "client": client.id}


def test_the_terms_on_a_suppliers_card(web: Web, tmp_path: Path) -> None:
    ids = _world(web, tmp_path)
    web.sign_in("ivanov")
    card = web.get(f"/counterparties/{ids['mine']}")
    assert card.status_code == 200
    assert 'id="supplier-terms"' in card.text and 'id="supplier-terms-form"' in card.text
    assert "Кольцо обручальное 585 4 мм" in card.text and 'id="price-list"' in card.text
    # A client that supplies nothing has no such section.
    assert 'id="supplier-terms"' not in web.get(f"/counterparties/{ids['client']}").text

    url = f"/counterparties/{ids['mine']}/supplier-terms"
    bad = web.post(url, {"lead_time_days": "14", "rating": "6", "payment_terms": "30 дней"})
    assert bad.status_code == 422 and 'id="terms-rating-error"' in bad.text
    assert _terms(web) == []
    made = web.post(url, {"lead_time_days": "14", "rating": "4", "payment_terms": "30 дней"})
    assert made.status_code == 303, made.text
    assert _terms(web) == [(14, 4, "30 дней")]
    card = web.get(f"/counterparties/{ids['mine']}")
    assert "30 дней" in card.text and 'name="version" value="1"' in card.text
    changed = web.post(
        url, {"version": "1", "lead_time_days": "21", "rating": "5", "payment_terms": ""}
    )
    assert changed.status_code == 303, changed.text
    assert _terms(web) == [(21, 5, None)]

    # Petrova sees his supplier (company visibility) but may not change its terms.
    web.client.cookies.clear()
    web.sign_in("petrova")
    card = web.get(f"/counterparties/{ids['mine']}")
    assert 'id="supplier-terms-shown"' in card.text and 'id="supplier-terms-form"' not in card.text
    refused = web.post(url, {"version": "2", "rating": "1"})
    assert refused.status_code == 403
    assert _terms(web) == [(21, 5, None)]


def test_the_compare_page(web: Web, tmp_path: Path) -> None:
    ids = _world(web, tmp_path)
    web.sign_in("office")
    page = web.get("/suppliers/compare?product=кольцо+585&on=2026-02-01")
    assert page.status_code == 200 and 'id="compare-table"' in page.text
    assert page.text.index("ООО Тайный") < page.text.index("ООО Ювелир-Опт")  # cheapest first
    web.client.cookies.clear()
    web.sign_in("ivanov")
    page = web.get("/suppliers/compare?product=кольцо+585&on=2026-02-01")
    assert "ООО Ювелир-Опт" in page.text and "ООО Тайный" not in page.text
    assert 'id="compare-none"' in web.get("/suppliers/compare?product=кольцо&on=2025-01-01").text
    assert 'id="compare-on-error"' in web.get("/suppliers/compare?product=кольцо&on=x").text
    assert 'id="compare-form"' in web.get("/suppliers/compare").text
    assert ids["private"] not in web.get("/suppliers/compare?product=585").text
