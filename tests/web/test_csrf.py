"""Every state change needs the session's CSRF token and a same-site origin; a refused one changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.models import Counterparty, Device, Interaction, User
from tests.conftest import SQLITE_ONLY
from tests.web.conftest import Web, create, read, user

TEMPLATES = Path(__file__).parents[2] / "web" / "templates"


@pytest.fixture
def signed_in(web: Web) -> tuple[Web, Counterparty]:
    ivanov = user(web.database, "ivanov")
    cp = create(web.database, ivanov, "counterparties", legal_name="ООО «Ромашка»")
    assert web.sign_in("ivanov").status_code == 303
    return web, cp


def interactions(web: Web) -> int:
    with web.database.read() as db:
        return int(db.execute(select(func.count()).select_from(Interaction)).scalar_one())


@SQLITE_ONLY  # refused by the CSRF check before any SQL runs
@pytest.mark.parametrize("token", [None, "", "0" * 64, "wrong"])
def test_an_edit_without_the_right_token_changes_nothing(
    signed_in: tuple[Web, Counterparty], token: str | None
) -> None:
    web, cp = signed_in
    data = {"legal_name": "ООО «Подмена»", "stage": "lead", "visibility": "company", "version": "1"}
    if token is not None:
        data["csrf"] = token
    r = web.client.post(f"/counterparties/{cp.id}/edit", data=data, follow_redirects=False)
    assert r.status_code == 403
    stored = read(web.database, Counterparty, cp.id)
    assert (
        stored.legal_name == "ООО «Ромашка»"
        and stored.visibility == "private"
        and stored.version == 1
    )


@SQLITE_ONLY  # refused by the CSRF check before any SQL runs
def test_another_users_token_is_not_mine(signed_in: tuple[Web, Counterparty]) -> None:
    web, cp = signed_in
    from web.session import csrf_token

    r = web.client.post(
        f"/counterparties/{cp.id}/interactions",
        data={"csrf": csrf_token("someone-elses-session"), "starts_at": "2026-12-01T10:00"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and interactions(web) == 0


@SQLITE_ONLY  # refused by the CSRF check before any SQL runs
def test_a_form_sent_from_another_site_is_refused_even_with_the_token(
    signed_in: tuple[Web, Counterparty],
) -> None:
    web, cp = signed_in
    r = web.post(
        f"/counterparties/{cp.id}/interactions",
        {"starts_at": "2026-12-01T10:00", "subject": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and interactions(web) == 0
    same = web.post(
        f"/counterparties/{cp.id}/interactions",
        {"starts_at": "2026-12-01T10:00", "subject": "x"},
        headers={"Origin": "http://testserver"},
    )
    assert same.status_code == 303 and interactions(web) == 1


@SQLITE_ONLY  # refused by the CSRF check before any SQL runs
def test_logging_a_contact_and_changing_language_and_signing_out_need_the_token(
    signed_in: tuple[Web, Counterparty],
) -> None:
    web, cp = signed_in
    assert (
        web.client.post(
            f"/counterparties/{cp.id}/interactions",
            data={"starts_at": "2026-12-01T10:00"},
            follow_redirects=False,
        ).status_code
        == 403
    )
    assert interactions(web) == 0
    assert (
        web.client.post(
            "/settings/language", data={"locale": "en"}, follow_redirects=False
        ).status_code
        == 403
    )
    with web.database.read() as db:
        assert db.execute(select(User.locale).where(User.login == "ivanov")).scalar_one() == "ru"
    assert web.client.post("/signout", data={}, follow_redirects=False).status_code == 403
    with web.database.read() as db:
        assert db.execute(select(Device.revoked_at)).scalar_one() is None


def test_pages_carry_a_csp_without_inline_script(signed_in: tuple[Web, Counterparty]) -> None:
    web, cp = signed_in
    for path in (
        "/",
        "/signin",
        f"/counterparties/{cp.id}",
        f"/counterparties/{cp.id}/edit",
        "/search?q=ром",
        "/settings",
        "/counterparties/00000000-0000-0000-0000-000000000000",
    ):
        r = web.get(path)
        csp = r.headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp
            and "frame-ancestors 'none'" in csp
        )
        assert r.headers["x-content-type-options"] == "nosniff"


def test_templates_hold_no_inline_script_or_handlers() -> None:
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path.name
        assert not re.search(r"\son[a-z]+\s*=", text), path.name
        assert "|safe" not in text and "Markup(" not in text, path.name


def test_every_address_in_the_templates_is_under_the_base() -> None:
    """The screens may be served under a prefix (a laptop's secret /u/<secret>, docs/web.md): an address
    written as "/…" in a template would leave it, and the cookie with the prefix's path behind."""
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"""\b(?:href|src|action|data-[a-z-]+)\s*=\s*["']/""", text), path.name
        assert not re.search(r"""\b(?:href|src|action)\s*=\s*["']https?:""", text), path.name
    script = (TEMPLATES.parent / "static" / "app.js").read_text()
    assert re.findall(r"""["']/[a-z]+""", script) == ['"/signin'] and 'base + "/signin"' in script


def _posted_screens() -> list[str]:
    """Every path the server's web UI takes a POST on (``web/app.py``'s table), but signing in,
    which has no session yet and its own double-submit token, ``/sync/…``, which only a
    laptop serves (tests/clients/test_laptop_ui.py checks its token), and a mailing's one-click
    unsubscribe (RFC 8058: a mail provider posts it with no session; its signed link is the
    proof, tests/mail/test_mailing_delivery.py)."""
    table = (Path(__file__).parents[2] / "web" / "app.py").read_text(encoding="utf-8")
    found = re.findall(r'\(\s*"(/[^"]*)",\s*[\w.]+,\s*\["POST"\]', table)
    exempt = {"/signin", "/unsubscribe/{token}"}
    return sorted({p for p in found if p not in exempt and not p.startswith("/sync/")})


def test_the_screens_table_is_read() -> None:
    assert {"/counterparties/{record_id}/complaints", "/complaints/{complaint_id}/status"} <= set(
        _posted_screens()
    )


@SQLITE_ONLY  # refused by the CSRF check before any SQL runs
@pytest.mark.parametrize("path", _posted_screens())
def test_every_posted_screen_refuses_a_form_without_the_token(
    signed_in: tuple[Web, Counterparty], path: str
) -> None:
    """A screen added later is covered too: no state change without the session's token."""
    from crm.changes import current

    web, cp = signed_in
    target = re.sub(r"\{record_id\}", cp.id, path)
    target = re.sub(r"\{[a-z_0-9]+\}", "00000000-0000-0000-0000-000000000000", target)
    with web.database.read() as db:
        before = current(db)[0]
    r = web.client.post(
        target,
        # A form each screen would take (a bad choice is answered with the page, changing nothing).
        data={"status": "resolved", "description": "x", "version": "1", "choice": "mine"},
        follow_redirects=False,
    )
    assert r.status_code == 403, (path, r.status_code)
    with web.database.read() as db:
        assert current(db)[0] == before
