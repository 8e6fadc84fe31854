"""``satchel mail mailbox …``: add, edit, list and test the mailboxes the bridge reads."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crm.console import (
    ZONE_LABEL,
    JsonOpt,
    PasswordFileOpt,
    PasswordStdinOpt,
    console,
    err,
    listing,
    read_password,
    reporting,
    show,
)
from server.commands.opening import (
    ConfigOpt,
    load_config,
    mail_bridge,
    open_db,
    peeking,
    writing,
)

mailbox_app = typer.Typer(
    help="Add, edit, list, test mailboxes; change their passwords.", no_args_is_help=True
)

Multi = list[str] | None
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        help="Password; asked for when no other way is given. Visible to "
        "other users of this machine: prefer --password-file. "
        "Stored encrypted."
    ),
]


@mailbox_app.command("add")
def mailbox_add(
    name: Annotated[str, typer.Argument(help="A name for the list, e.g. 'sales' or 'ivanov'.")],
    address: Annotated[str, typer.Option(help="The mailbox's email address.")],
    imap_host: Annotated[str, typer.Option(help="IMAP server, e.g. imap.yandex.ru.")],
    imap_port: Annotated[
        int | None, typer.Option(help="IMAP port (993 for ssl, 143 otherwise).")
    ] = None,
    imap_security: Annotated[
        str, typer.Option(help="ssl, starttls or plain (plain only on localhost).")
    ] = "ssl",
    login: Annotated[
        str | None, typer.Option(help="IMAP/SMTP login; default: the address.")
    ] = None,
    password: PasswordOpt = None,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    oauth_token: Annotated[
        str | None, typer.Option(help="An XOAUTH2 access token instead of a password.")
    ] = None,
    smtp_host: Annotated[
        str | None, typer.Option(help="SMTP server for sending, e.g. smtp.yandex.ru.")
    ] = None,
    smtp_port: Annotated[
        int | None, typer.Option(help="SMTP port (465 for ssl, 587 for starttls).")
    ] = None,
    smtp_security: Annotated[str, typer.Option(help="ssl, starttls or plain.")] = "ssl",
    owner: Annotated[
        str | None, typer.Option(help="Login of the salesperson whose own box this is.")
    ] = None,
    provider_saves_sent: Annotated[
        bool,
        typer.Option(
            help="The provider files sent letters in Sent itself "
            "(Gmail, Yandex): no copy is appended."
        ),
    ] = False,
    send_per_hour: Annotated[
        int | None,
        typer.Option(
            help="Send at most this many letters in any hour (the provider's limit); "
            "the rest wait for the next hour. Default: no limit."
        ),
    ] = None,
    folder: Annotated[
        Multi,
        typer.Option(
            help="Read only this folder (repeatable); default: all but Junk, Trash and Drafts."
        ),
    ] = None,
    private_address: Annotated[
        Multi, typer.Option(help="Letters with this address are private (repeatable).")
    ] = None,
    private_domain: Annotated[
        Multi, typer.Option(help="Letters with this domain are private (repeatable).")
    ] = None,
    private_folder: Annotated[
        Multi, typer.Option(help="Letters in this folder are private (repeatable).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Configure a mailbox to read (and send from, with --smtp-host)."""
    bridge = mail_bridge()
    cfg = load_config(config)
    if oauth_token is None or password is not None or password_stdin or password_file is not None:
        password = read_password(password, stdin=password_stdin, file=password_file)
    with writing(config) as session:
        box = bridge.add_mailbox(
            session,
            cfg,
            name=name,
            address=address,
            imap_host=imap_host,
            imap_port=imap_port,
            imap_security=imap_security,
            login=login,
            password=password,
            oauth_token=oauth_token,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            smtp_security=smtp_security,
            owner=owner,
            provider_saves_sent=provider_saves_sent,
            send_per_hour=send_per_hour,
            folders=folder,
            private_addresses=private_address,
            private_domains=private_domain,
            private_folders=private_folder,
        )
        console.print(
            f"mailbox {box.name} ({box.address}) added; check it with `satchel mail mailbox test {box.name}`"
        )


@mailbox_app.command("edit")
def mailbox_edit(
    name: Annotated[
        str, typer.Argument(help="The mailbox's name (see 'satchel mail mailbox list').")
    ],
    address: Annotated[str | None, typer.Option(help="A new email address.")] = None,
    imap_host: Annotated[str | None, typer.Option(help="IMAP server.")] = None,
    imap_port: Annotated[int | None, typer.Option(help="IMAP port.")] = None,
    imap_security: Annotated[
        str | None, typer.Option(help="ssl, starttls or plain (plain only on localhost).")
    ] = None,
    login: Annotated[str | None, typer.Option(help="IMAP/SMTP login.")] = None,
    smtp_host: Annotated[
        str | None, typer.Option(help="SMTP server for sending; '' stops sending from it.")
    ] = None,
    smtp_port: Annotated[int | None, typer.Option(help="SMTP port.")] = None,
    smtp_security: Annotated[str | None, typer.Option(help="ssl, starttls or plain.")] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            help="Login of the salesperson whose own box this is; '' makes it a shared company box."
        ),
    ] = None,
    provider_saves_sent: Annotated[
        bool | None,
        typer.Option(
            "--provider-saves-sent/--no-provider-saves-sent",
            help="Whether the provider files sent letters in Sent itself.",
            show_default=False,
        ),
    ] = None,
    send_per_hour: Annotated[
        int | None,
        typer.Option(help="Send at most this many letters in any hour; 0: no limit."),
    ] = None,
    add_folder: Annotated[Multi, typer.Option(help="Also read this folder (repeatable).")] = None,
    remove_folder: Annotated[
        Multi,
        typer.Option(
            help="No longer read this folder (repeatable); with none "
            "left, every folder but Junk, Trash and Drafts is read."
        ),
    ] = None,
    add_private_address: Annotated[
        Multi, typer.Option(help="Letters with this address are private (repeatable).")
    ] = None,
    remove_private_address: Annotated[
        Multi, typer.Option(help="No longer private (repeatable).")
    ] = None,
    add_private_domain: Annotated[
        Multi, typer.Option(help="Letters with this domain are private (repeatable).")
    ] = None,
    remove_private_domain: Annotated[
        Multi, typer.Option(help="No longer private (repeatable).")
    ] = None,
    add_private_folder: Annotated[
        Multi, typer.Option(help="Letters in this folder are private (repeatable).")
    ] = None,
    remove_private_folder: Annotated[
        Multi, typer.Option(help="No longer private (repeatable).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Change settings of a mailbox: what is not given stays. Letters already filed stay filed."""
    bridge = mail_bridge()
    changes = {
        key: value
        for key, value in (
            ("address", address),
            ("imap_host", imap_host),
            ("imap_port", imap_port),
            ("imap_security", imap_security),
            ("login", login),
            ("smtp_host", smtp_host),
            ("smtp_port", smtp_port),
            ("smtp_security", smtp_security),
            ("owner", owner),
            ("provider_saves_sent", provider_saves_sent),
            ("send_per_hour", send_per_hour),
        )
        if value is not None
    }
    lists = {
        key: (added or [], removed or [])
        for key, added, removed in (
            ("folders", add_folder, remove_folder),
            ("private_addresses", add_private_address, remove_private_address),
            ("private_domains", add_private_domain, remove_private_domain),
            ("private_folders", add_private_folder, remove_private_folder),
        )
        if added or removed
    }
    if not changes and not lists:
        err.print("nothing to change: give at least one option (see --help)")
        raise typer.Exit(2)
    with writing(config) as session:
        box = bridge.edit_mailbox(session, name, changes, lists)
    # Told once the change is committed: a closed pipe while printing cannot undo it.
    console.print(f"mailbox {box.name} changed: {', '.join([*changes, *lists])}")
    _show(box)


def _show(box: Any) -> None:
    for label, values in (
        ("folders read", box.folders or ["all but Junk, Trash and Drafts"]),
        ("private addresses", box.private_addresses),
        ("private domains", box.private_domains),
        ("private folders", box.private_folders),
    ):
        console.print(f"  {label}: {', '.join(values) or '—'}")


@mailbox_app.command("list")
def mailbox_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List mailboxes (never their passwords)."""
    from rich.table import Table
    from sqlalchemy import select

    from server.commands.listings import MAILBOX, USER
    from server.commands.mail import when

    # The table itself rather than mail.bridge, and through Core (server.commands.listings): a
    # listing need not load IMAP, decoding, matching or the models.
    with peeking(config) as connection:
        logins = {row.id: row.login for row in connection.execute(select(USER.c.id, USER.c.login))}
        rows = [
            {
                "name": b.name,
                "address": b.address,
                "kind": b.kind,
                "owner": logins.get(b.owner_id) if b.owner_id else None,
                "login": b.login,
                "provider_saves_sent": b.provider_saves_sent,
                "send_per_hour": b.send_per_hour,
                "imap_host": b.imap_host,
                "imap_port": b.imap_port,
                "imap_security": b.imap_security,
                "smtp_host": b.smtp_host,
                "smtp_port": b.smtp_port if b.smtp_host else None,
                "enabled": b.enabled,
                "last_run": b.last_run_at,
                "last_error": b.last_error,
                "folders": b.folders,
                "private_addresses": b.private_addresses,
                "private_domains": b.private_domains,
                "private_folders": b.private_folders,
            }
            for b in connection.execute(select(MAILBOX).order_by(MAILBOX.c.name))
        ]
    table = Table(
        "name",
        "address",
        "kind",
        "owner",
        "imap",
        "smtp",
        "enabled",
        f"last run ({ZONE_LABEL})",
        "last error",
    )
    for r in rows:
        table.add_row(
            r["name"],
            r["address"],
            r["kind"],
            r["owner"] or "—",
            f"{r['imap_host']}:{r['imap_port']} {r['imap_security']}",
            f"{r['smtp_host']}:{r['smtp_port']}" if r["smtp_host"] else "—",
            "yes" if r["enabled"] else "no",
            when(r["last_run"]) or "never",
            r["last_error"] or "",
        )
    listing(table, rows, as_json=as_json)


@mailbox_app.command("test")
def mailbox_test(name: str, config: ConfigOpt = None) -> None:
    """Log in and list the folders the bridge would read. Exit code 1 when that fails."""
    from rich.table import Table

    bridge = mail_bridge()
    cfg = load_config(config)
    with reporting():
        check = bridge.test_mailbox(open_db(cfg), cfg, name)
    if not check.ok:
        err.print(f"[red]cannot use mailbox {name}:[/red] {check.message}")
        raise typer.Exit(1)
    console.print(check.message)
    table = Table("folder", "role")
    for folder_name, role in check.folders:
        table.add_row(folder_name, role)
    show(table)


@mailbox_app.command("password")
def mailbox_password(
    name: str,
    password: Annotated[
        str | None,
        typer.Option(
            help="The new password (visible to other users of this machine: "
            "prefer --password-file)."
        ),
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Replace a mailbox's password (stored encrypted)."""
    bridge = mail_bridge()
    cfg = load_config(config)
    secret = read_password(password, stdin=password_stdin, file=password_file)
    with writing(config) as session:
        box = bridge.find_mailbox(session, name)
        box.secret = bridge.secret_box(cfg).encrypt(secret)
        box.auth = "password"
    console.print(f"password of mailbox {name} changed")


@mailbox_app.command("enable")
def mailbox_enable(name: str, config: ConfigOpt = None) -> None:
    """Read this mailbox again."""
    bridge = mail_bridge()
    with writing(config) as session:
        bridge.find_mailbox(session, name).enabled = True
    console.print(f"mailbox {name} enabled")


@mailbox_app.command("disable")
def mailbox_disable(name: str, config: ConfigOpt = None) -> None:
    """Stop reading this mailbox; what was filed stays."""
    bridge = mail_bridge()
    with writing(config) as session:
        bridge.find_mailbox(session, name).enabled = False
    console.print(f"mailbox {name} disabled")
