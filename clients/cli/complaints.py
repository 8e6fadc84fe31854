"""``satchel-field complaints``: clients' complaints registered, worked and closed, offline."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import FieldOpt, _created, _fields, _show, opened
from .records import _record_commands

complaints_app = typer.Typer(
    help="Clients' complaints: register, work and close them, offline. / Рекламации.",
    no_args_is_help=True,
)
_record_commands("complaints", complaints_app)


@complaints_app.command("add")
def complaint_add(
    ctx: typer.Context,
    description: Annotated[str, typer.Argument(help="What the client complains of.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    about: Annotated[
        str, typer.Option("--about", help="product, delivery, service or other.")
    ] = "product",
    product: Annotated[str | None, typer.Option(help="The product (free text).")] = None,
    person: Annotated[str | None, typer.Option(help="Contact person id.")] = None,
    responsible: Annotated[
        str | None, typer.Option(help="Responsible user id (default: the client's owner).")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="Settle by this day, YYYY-MM-DD (default: in 10 days).")
    ] = None,
    field: FieldOpt = None,
) -> None:
    """Register a client's complaint."""
    with opened(ctx) as replica:
        _created(
            replica,
            "complaints",
            _fields(
                field,
                description=description,
                counterparty_id=counterparty,
                subject=about,
                product=product,
                contact_person_id=person,
                responsible_id=responsible,
                deadline=deadline,
            ),
        )


@complaints_app.command("close")
def complaint_close(
    ctx: typer.Context,
    record_id: str,
    resolution: Annotated[str, typer.Option(help="What was done (or why it is rejected).")],
    cause: Annotated[
        str,
        typer.Option(
            help="product_quality, delivery_delay, wrong_goods, documents, service, price or other."
        ),
    ],
    reject: Annotated[bool, typer.Option("--reject", help="Rejected, not resolved.")] = False,
) -> None:
    """Close a complaint: resolved (or --reject), with what was done and its cause."""
    with opened(ctx) as replica:
        _show(
            replica.update(
                "complaints",
                record_id,
                {
                    "status": "rejected" if reject else "resolved",
                    "resolution": resolution,
                    "cause": cause,
                },
            )
        )
