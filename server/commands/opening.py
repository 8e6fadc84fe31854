"""What every ``satchel`` command opens: the configuration and the database (migrated first).

Imports of the configuration, the database and the migrations happen when a command
opens them, not when ``satchel`` starts: ``satchel --help`` reads none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm.console import err, reporting

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from sqlmodel import Session

    from crm.database import Database
    from server.config import Config

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file.", envvar="SATCHEL_CONFIG"),
]


def load_config(config: Path | None, **overrides: Any) -> Config:
    """The settings of this run; a bad configuration exits with 2."""
    from server.config import Config, ConfigError

    try:
        return Config.load(config, **overrides)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def open_db(config: Config, *, upgrade: bool = True) -> Database:
    """The configured database, migrated to the newest schema unless ``upgrade`` is false."""
    from crm.database import Database

    database = Database(config.database_url)
    if upgrade:
        from server import migrate  # Alembic itself only when there is something to do

        migrate.upgrade(database)
    return database


@contextmanager
def writing(config: Path | None) -> Iterator[Session]:
    """A write transaction on the configured database; domain errors become exit codes."""
    with reporting():
        database = open_db(load_config(config))
        with database.write() as session:
            yield session


@contextmanager
def reading(config: Path | None) -> Iterator[Session]:
    """A read transaction on the configured database; domain errors become exit codes."""
    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            yield session


@contextmanager
def peeking(config: Path | None) -> Iterator[Connection]:
    """A read of the configured database for a listing: a Core connection, without SQLModel and
    the models (``server.commands.listings``). A database behind the newest schema is migrated
    first, as every command does; one that is up to date is told by one query."""
    from crm.database import Database
    from server import migrate

    with reporting():
        database = Database(load_config(config).database_url)
        if not migrate.up_to_date(database):
            migrate.upgrade(database)
        with database.peek() as connection:
            yield connection


def mail_bridge() -> ModuleType:
    """``mail.bridge``, imported when a command needs it (``satchel --help`` and the other commands
    start without the mail bridge's imports). Meetings' invitations come with the settings
    (``Config.invitations``)."""
    from mail import bridge

    return bridge
