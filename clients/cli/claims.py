"""``satchel-field claims`` (who holds a client for which product group) and ``contact-rules`` (how
often clients of each ABC class must be contacted): who works a client, and how often."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from .common import _created, _fields, _show, opened
from .records import _record_commands

claims_app = typer.Typer(
    help="Claims: who holds a client for which product group, offline. / Закрепления клиентов.",
    no_args_is_help=True,
)
_record_commands("claims", claims_app)

contact_rules_app = typer.Typer(
    help="How often clients of each ABC class must be contacted (managers set them). / "
    "Частота контактов.",
    no_args_is_help=True,
)
_record_commands("contact-rules", contact_rules_app)


@claims_app.command("add")
def claim_add(
    ctx: typer.Context,
    product_group: Annotated[
        str, typer.Argument(help="The product group or direction, e.g. 'Золото 585'.")
    ],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    until: Annotated[
        str | None, typer.Option(help="Last day, YYYY-MM-DD (default: in 90 days; a year at most).")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
) -> None:
    """Claim a client for a product group for yourself (refused while a colleague holds it)."""
    with opened(ctx) as replica:
        _created(
            replica,
            "claims",
            _fields(
                None,
                counterparty_id=counterparty,
                product_group=product_group,
                ends_on=until,
                notes=notes,
            ),
        )


@claims_app.command("end")
def claim_end(ctx: typer.Context, record_id: str) -> None:
    """End a claim today (in force through today; sent with the next sync)."""
    with opened(ctx) as replica:
        claim = replica.get("claims", record_id)
        today = datetime.now(UTC).date().isoformat()
        ends_on = max(today, claim["starts_on"] or today)
        _show(replica.update("claims", record_id, {"ends_on": ends_on}))


@contact_rules_app.command("add")
def contact_rule_add(
    ctx: typer.Context,
    abc_class: Annotated[str, typer.Argument(help="The ABC class: A, B or C.")],
    days: Annotated[int, typer.Option(help="Contact every this many days (1 to 366).")],
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Interaction kinds that count (repeat; default: every kind)."),
    ] = None,
) -> None:
    """Set how often clients of a class must be contacted (managers and admins). / Задать частоту."""
    with opened(ctx) as replica:
        _created(
            replica, "contact-rules", {"abc_class": abc_class, "days": days, "kinds": kind or []}
        )
