"""``satchel user …``: add, list, disable and enable users, set their passwords."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from crm.console import JsonOpt, PasswordFileOpt, PasswordStdinOpt, console, listing, read_password
from server.commands.opening import ConfigOpt, peeking, writing


class Role(StrEnum):
    """``crm.models.enums.Role``, spelt out: importing that loads the whole model (a second at
    startup, for ``--help`` too). tests/server/test_cli.py checks that the two agree."""

    SALESPERSON = "salesperson"
    MANAGER = "manager"
    OFFICE = "office"
    ADMIN = "admin"


user_app = typer.Typer(
    help="Add, list, disable users and set their passwords.", no_args_is_help=True
)


@user_app.command("add")
def user_add(
    login: str,
    name: Annotated[str, typer.Option("--name", help="Full name, e.g. 'Иванов Иван'.")],
    role: Annotated[Role, typer.Option(help="Role.")] = Role.SALESPERSON,
    team: Annotated[str | None, typer.Option(help="Team name (created if new).")] = None,
    email: Annotated[str | None, typer.Option(help="Work email.")] = None,
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (asked for when omitted; visible to other "
            "users of this machine: prefer --password-file)."
        ),
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a user."""
    from crm import accounts

    secret = read_password(password, stdin=password_stdin, file=password_file)
    with writing(config) as session:
        user = accounts.create_user(
            session,
            login=login,
            full_name=name,
            password=secret,
            role=role.value,
            team=team,
            email=email,
        )
        console.print(f"added user {user.login} ({user.role}) id {user.id}")


@user_app.command("list")
def user_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List users."""
    from rich.table import Table
    from sqlalchemy import select

    from server.commands.listings import TEAM, USER

    with peeking(config) as connection:
        teams = {row.id: row.name for row in connection.execute(select(TEAM.c.id, TEAM.c.name))}
        rows = [
            {
                "login": u.login,
                "name": u.full_name,
                "role": u.role,
                "team": teams.get(u.team_id or "", ""),
                "active": u.is_active,
            }
            for u in connection.execute(select(USER).order_by(USER.c.login))
        ]
    table = Table("login", "name", "role", "team", "active")
    for r in rows:
        table.add_row(r["login"], r["name"], r["role"], r["team"], "yes" if r["active"] else "no")
    listing(table, rows, as_json=as_json)


def _ending_feeds_too() -> None:
    # Registers the feed tokens with accounts.end_sessions: a user's feeds end with their devices.
    import calendar_bridge.tokens  # noqa: F401


@user_app.command("disable")
def user_disable(login: str, config: ConfigOpt = None) -> None:
    """Disable a user: every device, browser session and calendar feed of theirs ends at once."""
    from crm import accounts

    _ending_feeds_too()
    with writing(config) as session:
        accounts.set_active(session, accounts.find_user(session, login), False)
    console.print(f"user {login} disabled; their devices and calendar feeds are revoked")


@user_app.command("enable")
def user_enable(login: str, config: ConfigOpt = None) -> None:
    """Enable a disabled user again. Their old tokens stay ended: they log in anew."""
    from crm import accounts

    _ending_feeds_too()
    with writing(config) as session:
        accounts.set_active(session, accounts.find_user(session, login), True)
    console.print(f"user {login} enabled")


@user_app.command("password")
def user_password(
    login: str,
    password: Annotated[
        str | None,
        typer.Option(
            help="New password (asked for when omitted; visible to other "
            "users of this machine: prefer --password-file)."
        ),
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set a user's password: every device, browser session and calendar feed of theirs ends."""
    from crm import accounts

    secret = read_password(password, stdin=password_stdin, file=password_file)
    _ending_feeds_too()
    with writing(config) as session:
        accounts.set_password(session, accounts.find_user(session, login), secret)
    console.print(f"password of {login} set; their devices and calendar feeds are revoked")
