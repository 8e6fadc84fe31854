"""``satchel-field counterparties``, ``people`` and ``contracts``: a client's card, offline
(``add`` here, the rest as every record group has them)."""

from __future__ import annotations

from typing import Annotated

import typer

from crm.console import console

from .common import FieldOpt, _created, _fields, opened
from .records import _record_commands

counterparties_app = typer.Typer(
    help="Counterparties (clients, suppliers…), offline. / Контрагенты.", no_args_is_help=True
)
_record_commands("counterparties", counterparties_app)

people_app = typer.Typer(
    help="Contact persons of counterparties, offline. / Контактные лица.", no_args_is_help=True
)
_record_commands("contact-persons", people_app)

contracts_app = typer.Typer(
    help="Contracts with counterparties: number, validity, payment terms, offline. / Договоры.",
    no_args_is_help=True,
)
_record_commands("contracts", contracts_app)


def _contacts(phone: str | None, email: str | None) -> list[dict[str, str]] | None:
    items = ([{"kind": "phone", "value": phone}] if phone else []) + (
        [{"kind": "email", "value": email}] if email else []
    )
    return items or None


@counterparties_app.command("add")
def counterparty_add(
    ctx: typer.Context,
    legal_name: Annotated[str, typer.Argument(help="Legal name, e.g. 'ООО Ромашка'.")],
    inn: Annotated[str | None, typer.Option(help="INN.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone.")] = None,
    email: Annotated[str | None, typer.Option(help="Email.")] = None,
    region: Annotated[str | None, typer.Option(help="Region.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    field: FieldOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Create it even when it looks like one already here.")
    ] = False,
) -> None:
    """Add a counterparty; one that looks like a counterparty already here is shown and asked about
    first. / Добавить контрагента (с проверкой на дубликаты)."""
    with opened(ctx) as replica:
        data = _fields(
            field,
            legal_name=legal_name,
            inn=inn,
            region=region,
            notes=notes,
            contacts=_contacts(phone, email),
        )
        found = [] if yes else replica.similar(data)
        if found:
            console.print("This counterparty may be here already / Возможно, он уже есть:")
            for item in found:
                console.print(
                    f"  {item['legal_name']} ({item['id']}): {item['score']}, "
                    + ", ".join(item["reasons"])
                )
            typer.confirm("Create a new one all the same? / Всё равно создать?", abort=True)
        _created(replica, "counterparties", data)


@people_app.command("add")
def person_add(
    ctx: typer.Context,
    full_name: Annotated[str, typer.Argument(help="Full name.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    position: Annotated[str | None, typer.Option(help="Position.")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone.")] = None,
    email: Annotated[str | None, typer.Option(help="Email.")] = None,
    birthday: Annotated[str | None, typer.Option(help="Birthday, YYYY-MM-DD.")] = None,
    field: FieldOpt = None,
) -> None:
    """Add a contact person to a counterparty."""
    with opened(ctx) as replica:
        _created(
            replica,
            "contact-persons",
            _fields(
                field,
                full_name=full_name,
                counterparty_id=counterparty,
                position=position,
                birthday=birthday,
                contacts=_contacts(phone, email),
            ),
        )


@contracts_app.command("add")
def contract_add(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The contract's number, e.g. 'П-118/2026'.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    signed_on: Annotated[str | None, typer.Option(help="Signed on, YYYY-MM-DD.")] = None,
    starts_on: Annotated[str | None, typer.Option(help="In force from, YYYY-MM-DD.")] = None,
    ends_on: Annotated[str | None, typer.Option(help="In force until, YYYY-MM-DD.")] = None,
    payment_days: Annotated[
        int | None, typer.Option(help="Payment deferment in days (0 to 365).")
    ] = None,
    status: Annotated[str, typer.Option(help="draft, active, expired or terminated.")] = "active",
    terms: Annotated[str | None, typer.Option(help="Terms in words.")] = None,
    field: FieldOpt = None,
) -> None:
    """Add a contract to a counterparty (sent with the next sync). / Добавить договор."""
    with opened(ctx) as replica:
        _created(
            replica,
            "contracts",
            _fields(
                field,
                number=number,
                counterparty_id=counterparty,
                signed_on=signed_on,
                starts_on=starts_on,
                ends_on=ends_on,
                payment_days=payment_days,
                status=status,
                terms=terms,
            ),
        )
