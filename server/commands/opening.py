"""What every ``satchel`` command opens: the configuration and the database (migrated first).

Imports of the configuration, the database and the migrations happen when a command
opens them, not when ``satchel`` starts: ``satchel --help`` reads none of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm.console import err, reporting

if TYPE_CHECKING:
    from sqlmodel import Session

    from crm.database import Database
    from server.config import Config

MIGRATIONS = Path(__file__).parent.parent / "migrations" / "versions"

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
    if upgrade and not up_to_date(database):
        from server import migrate

        migrate.upgrade(database)
    return database


_REVISION = re.compile(r"""^(down_)?revision\b[^=]*=\s*(.*)$""", re.MULTILINE)


def newest_revisions(versions: Path = MIGRATIONS) -> set[str]:
    """The heads of the migrations this version knows, read from the files as text.

    Alembic itself (a second and more to import) is loaded only when there is something to do.
    """
    known: set[str] = set()
    replaced: set[str] = set()
    for script in versions.glob("*.py"):
        for down, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (replaced if down else known).update(re.findall(r"""['"]([^'"]+)['"]""", value))
    return known - replaced


def up_to_date(database: Database) -> bool:
    """Whether the database's schema is at the newest revision already (then nothing is migrated)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with database.engine.connect() as connection:
            current = set(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    except SQLAlchemyError:
        return False  # no schema yet, or one we cannot read: the migrations say why
    heads = newest_revisions()
    return bool(heads) and current == heads


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
