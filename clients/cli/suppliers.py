"""``satchel-field supplier-terms``: suppliers' terms, offline (their price lists are on the
server)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import FieldOpt, _created, _fields, opened
from .records import _record_commands

supplier_terms_app = typer.Typer(
    help="Suppliers' terms: delivery, payment, lead time, rating, offline (their price lists are "
    "on the server). / Условия поставщиков.",
    no_args_is_help=True,
)
_record_commands("supplier-terms", supplier_terms_app)


@supplier_terms_app.command("add")
def supplier_terms_add(
    ctx: typer.Context,
    counterparty: Annotated[
        str, typer.Option("--counterparty", "-c", help="The supplier's id (a supplier's card).")
    ],
    lead_time: Annotated[
        int | None, typer.Option("--lead-time", help="Days from an order to delivery (0 to 365).")
    ] = None,
    rating: Annotated[
        int | None, typer.Option(help="Reliability, 1 (unreliable) to 5 (never late).")
    ] = None,
    payment: Annotated[
        str | None, typer.Option(help="Payment terms, e.g. '30 дней', 'предоплата'.")
    ] = None,
    delivery: Annotated[
        str | None, typer.Option(help="Delivery terms, e.g. 'DAP Москва', 'самовывоз'.")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    field: FieldOpt = None,
) -> None:
    """Enter a supplier's terms (one set per supplier; sent with the next sync). / Условия
    поставщика."""
    with opened(ctx) as replica:
        _created(
            replica,
            "supplier-terms",
            _fields(
                field,
                counterparty_id=counterparty,
                lead_time_days=lead_time,
                rating=rating,
                payment_terms=payment,
                delivery_terms=delivery,
                notes=notes,
            ),
        )
