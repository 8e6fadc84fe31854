"""How often clients of each ABC class must be contacted (issue 14): the rules, and a manager's form.

Everyone sees the rules (they explain the agenda's "time to get in touch"); a manager or an admin
sets a class's interval in days through the home's ``create``/``update`` (``crm.records``), so a laptop queues the change for sync and the API's rules apply
(``crm.rules.check_contact_rule``, ``crm.access``): anyone else is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import Response

from crm import records
from crm.errors import ValidationFailed
from crm.models import ContactRule
from crm.models.enums import AbcClass, Role
from web.home import Home
from web.visit import Visit, read_form, signed_in, written

RULES = records.record_type("contact-rules")
CLASSES = [c.value for c in AbcClass]


def _page(
    db: Session,
    visit: Visit,
    *,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rules = {r.abc_class: r for r in db.execute(select(ContactRule)).scalars()}
    return visit.page(
        db,
        "contact_rules.html",
        status_code=status_code,
        classes=CLASSES,
        rules=rules,
        typed=typed or {},
        errors=errors or {},
        may_set=visit.user.role in (Role.ADMIN, Role.MANAGER),
    )


async def show(request: Request, home: Home) -> Response:
    return await signed_in(request, home, lambda db, visit: _page(db, visit))


async def save(request: Request, home: Home) -> Response:
    """Set every class's interval from the form: a number sets it; an empty field leaves the class
    as it is (a rule is removed over the API or with the commands: ``DELETE /api/v1/contact-rules/…``)."""
    form = await read_form(request)
    typed = {c: str(form.get(f"days-{c}", "")).strip() for c in CLASSES}

    def work(db: Session, visit: Visit) -> Response:
        rules = {
            r.abc_class: r
            for r in db.execute(select(ContactRule).order_by(col(ContactRule.abc_class))).scalars()
        }
        problems: dict[str, str] = {}
        for abc in CLASSES:
            raw, rule = typed[abc], rules.get(abc)
            if not raw:
                continue
            if not raw.isdigit():
                problems[abc] = "must be between 1 and 366"
                continue
            data: dict[str, Any] = {"days": int(raw)}
            try:
                if rule is None:
                    home.create(db, visit.user, RULES, {"abc_class": abc, **data})
                elif rule.days != int(raw):
                    home.update(db, visit.user, RULES, rule.id, data, None)
            except ValidationFailed as exc:
                found = exc.details if isinstance(exc.details, dict) else {"": exc.message}
                problems[abc] = "; ".join(str(v) for v in found.values())
        if problems:
            raise ValidationFailed("contact rules are not valid", details=problems)
        return visit.redirect("/contact-rules")

    def again(db: Session, visit: Visit, errors: dict[str, str]) -> Response:
        return _page(db, visit, typed=typed, errors=errors, status_code=422)

    return await written(request, home, work, form=form, again=again)
