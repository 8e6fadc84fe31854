"""``satchel vcard``: contact persons to and from vCard files (``crm.vcards``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm.console import console
from server.commands.opening import ConfigOpt, reading, writing

vcard_app = typer.Typer(
    help="Contact persons as vCards, for phones and Outlook. / Контакты в формате vCard.",
    no_args_is_help=True,
)


@vcard_app.command("export")
def export_command(
    counterparty: Annotated[str, typer.Argument(help="The counterparty whose people to export.")],
    login: Annotated[str, typer.Option("--as", help="As this user (their sight applies).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: standard output).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Every contact person of a counterparty as one .vcf. / Выгрузить контакты в vCard."""
    from crm import accounts, vcards

    with reading(config) as session:
        actor = accounts.find_user(session, login)
        people = vcards.people_of(session, actor, counterparty)
        text = vcards.export(session, actor, people)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"{len(people)} card(s) written to {output}")


@vcard_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .vcf file.")],
    counterparty: Annotated[str, typer.Option("--counterparty", help="Whose people they are.")],
    login: Annotated[str, typer.Option("--as", help="Who imports (their rights apply).")],
    config: ConfigOpt = None,
) -> None:
    """A .vcf's cards as contact persons of a counterparty: all or nothing, people already there
    skipped. / Загрузить контакты из vCard."""
    from crm import accounts, vcards

    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1251", errors="replace")
    with writing(config) as session:
        actor = accounts.find_user(session, login)
        done = vcards.import_cards(session, actor, counterparty, text)
        created = [p.full_name for p in done.created]
    console.print(
        f"{len(created)} contact person(s) added, {len(done.skipped)} already there"
        + (f": {', '.join(done.skipped)}" if done.skipped else "")
    )
