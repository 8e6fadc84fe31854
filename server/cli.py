"""The ``satchel`` command: run the server, migrate, manage users and devices, import, demo."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlmodel import Session

from crm import accounts, errors
from crm.database import Database
from crm.models.enums import Role
from server import logs, migrate
from server.config import Config, ConfigError

app = typer.Typer(help="Satchel: offline-first CRM server. / Satchel: сервер CRM для работы без сети.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
user_app = typer.Typer(help="Add, list, disable users and set their passwords.", no_args_is_help=True)
device_app = typer.Typer(help="List and revoke users' devices.", no_args_is_help=True)
import_app = typer.Typer(help="Import counterparties and contact persons from CSV or XLSX.", no_args_is_help=True)
feed_app = typer.Typer(help="Calendar feeds (iCalendar URLs for Outlook and phones): issue, list, revoke.",
                       no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(device_app, name="device")
app.add_typer(import_app, name="import")
app.add_typer(feed_app, name="feed")
sync_app = typer.Typer(help="Offline sync: devices' progress and the change log's tombstones.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")

console = Console()
err = Console(stderr=True)


@app.callback()
def _widths() -> None:
    """Satchel: offline-first CRM server."""
    # The consoles were made at import; a width given for this run (COLUMNS) applies to it.
    columns = os.environ.get("COLUMNS", "")
    if columns.isascii() and columns.isdigit():
        console.width = err.width = int(columns)

# The one place where domain errors become exit codes.
EXIT_CODES: dict[type[errors.SatchelError], int] = {
    errors.ValidationFailed: 3,
    errors.ImportFailed: 3,
    errors.NotFound: 4,
    errors.AlreadyExists: 5,
    errors.PermissionDenied: 6,
    errors.Unauthenticated: 6,
}

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML configuration file.", envvar="SATCHEL_CONFIG")]


def load_config(config: Path | None, **overrides: object) -> Config:
    try:
        return Config.load(config, **overrides)
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def reporting() -> Iterator[None]:
    """Turn domain errors into a clear message and a distinct exit code."""
    try:
        yield
    except errors.SatchelError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        if isinstance(exc.details, dict):
            for key, value in exc.details.items():
                err.print(f"  {key}: {value}")
        elif isinstance(exc.details, list):
            for line in exc.details:
                err.print(f"  {line}")
        raise typer.Exit(EXIT_CODES.get(type(exc), 1)) from None


def open_db(config: Config) -> Database:
    database = Database(config.database_url)
    migrate.upgrade(database)
    return database


@contextmanager
def writing(config: Path | None) -> Iterator[Session]:
    with reporting():
        database = open_db(load_config(config))
        with database.write() as session:
            yield session


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the server (migrating the database first)."""
    import uvicorn

    from server.app import create_app

    cfg = load_config(config, host=host, port=port)
    logs.configure(cfg.log_level)  # redacts addresses and phones, for uvicorn's loggers too
    database = open_db(cfg)
    console.print(f"Satchel listening on http://{cfg.host}:{cfg.port}  (database: {database.dialect})")
    # No access log: request lines would carry calendar feed tokens (secrets) into the log.
    uvicorn.run(create_app(cfg, database), host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=False,
                server_header=False, log_config=None, **proxy_settings(cfg))


def proxy_settings(cfg: Config) -> dict[str, object]:
    """uvicorn's proxy options: X-Forwarded-For is believed only from the configured proxies.

    (uvicorn's default believes it from 127.0.0.1, so a local user could choose the address
    the login limit counts them under.)
    """
    proxies = [p.strip() for p in str(cfg.trusted_proxies or "").split(",") if p.strip()]
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply all pending migrations."""
    with reporting():
        database = open_db(load_config(config))
        console.print(f"database at revision {migrate.current(database)}")


@db_app.command("current")
def db_current(config: ConfigOpt = None) -> None:
    """Show the database's revision and the newest one this version knows."""
    database = Database(load_config(config).database_url)
    console.print(f"current: {migrate.current(database)}  head: {migrate.head()}")


def _password(given: str | None) -> str:
    if given is not None:
        return given
    first = getpass.getpass("Password / Пароль: ")
    if first != getpass.getpass("Again / Ещё раз: "):
        err.print("[red]passwords differ[/red]")
        raise typer.Exit(3)
    return first


@user_app.command("add")
def user_add(
    login: str,
    name: Annotated[str, typer.Option("--name", help="Full name, e.g. 'Иванов Иван'.")],
    role: Annotated[Role, typer.Option(help="Role.")] = Role.SALESPERSON,
    team: Annotated[str | None, typer.Option(help="Team name (created if new).")] = None,
    email: Annotated[str | None, typer.Option(help="Work email.")] = None,
    password: Annotated[str | None, typer.Option(help="Password (asked for when omitted).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a user."""
    secret = _password(password)
    with writing(config) as session:
        user = accounts.create_user(session, login=login, full_name=name, password=secret,
                                    role=role.value, team=team, email=email)
        console.print(f"added user {user.login} ({user.role}) id {user.id}")


@user_app.command("list")
def user_list(config: ConfigOpt = None) -> None:
    """List users."""
    from sqlalchemy import select

    from crm.models import Team, User

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            teams = {t.id: t.name for t in session.execute(select(Team)).scalars()}
            table = Table("login", "name", "role", "team", "active")
            for u in session.execute(select(User).order_by(User.login)).scalars():
                table.add_row(u.login, u.full_name, u.role, teams.get(u.team_id or "", ""), "yes" if u.is_active else "no")
    console.print(table)


def _ending_feeds_too() -> None:
    # Registers the feed tokens with accounts.end_sessions: a user's feeds end with their devices.
    import calendar_bridge.tokens  # noqa: F401


@user_app.command("disable")
def user_disable(login: str, config: ConfigOpt = None) -> None:
    """Disable a user: every device, browser session and calendar feed of theirs ends at once."""
    _ending_feeds_too()
    with writing(config) as session:
        accounts.set_active(session, accounts.find_user(session, login), False)
    console.print(f"user {login} disabled; their devices and calendar feeds are revoked")


@user_app.command("enable")
def user_enable(login: str, config: ConfigOpt = None) -> None:
    """Enable a disabled user again. Their old tokens stay ended: they log in anew."""
    _ending_feeds_too()
    with writing(config) as session:
        accounts.set_active(session, accounts.find_user(session, login), True)
    console.print(f"user {login} enabled")


@user_app.command("password")
def user_password(
    login: str,
    password: Annotated[str | None, typer.Option(help="New password (asked for when omitted).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Set a user's password: every device, browser session and calendar feed of theirs ends."""
    secret = _password(password)
    _ending_feeds_too()
    with writing(config) as session:
        accounts.set_password(session, accounts.find_user(session, login), secret)
    console.print(f"password of {login} set; their devices and calendar feeds are revoked")


@device_app.command("list")
def device_list(
    login: Annotated[str | None, typer.Option("--user", help="Only this user's devices.")] = None,
    config: ConfigOpt = None,
) -> None:
    """List devices with when they were last seen."""
    from sqlalchemy import select

    from crm.models import User

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            user = accounts.find_user(session, login) if login else None
            logins = {u.id: u.login for u in session.execute(select(User)).scalars()}
            table = Table(Column("id", no_wrap=True, min_width=36), "user", "name", "last seen", "revoked")
            for d in accounts.list_devices(session, user):
                table.add_row(d.id, logins.get(d.user_id, "?"), d.name, str(d.last_seen_at or ""), str(d.revoked_at or ""))
    console.print(table)


@device_app.command("revoke")
def device_revoke(device_id: str, config: ConfigOpt = None) -> None:
    """Revoke a device: its token is refused from the next request on."""
    with writing(config) as session:
        device = accounts.revoke_device(session, None, device_id)
    console.print(f"device '{device.name}' revoked")


@sync_app.command("prune")
def sync_prune(
    days: Annotated[int, typer.Option(help="Keep tombstones of deletes younger than this many days.")] = 400,
    config: ConfigOpt = None,
) -> None:
    """Forget old tombstones; a laptop that was away longer pushes its changes and loads its data again."""
    from datetime import timedelta

    from crm import changes
    from crm.models.base import utcnow

    if days < 30:
        err.print("refusing to keep tombstones for less than 30 days: laptops offline longer would miss deletes")
        raise typer.Exit(2)
    with writing(config) as session:
        count = changes.prune_tombstones(session, utcnow() - timedelta(days=days))
    console.print(f"{count} tombstones older than {days} days forgotten")


@sync_app.command("devices")
def sync_devices(config: ConfigOpt = None) -> None:
    """Every device's sync progress: mutations applied, and who it belongs to."""
    from sqlalchemy import select

    from crm.models import Device, User
    from sync.models import DeviceCursor

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            rows = session.execute(select(User.login, Device.name, Device.id, DeviceCursor.last_seq, Device.last_seen_at)
                                   .join(Device, Device.user_id == User.id)
                                   .outerjoin(DeviceCursor, DeviceCursor.device_id == Device.id)
                                   .order_by(User.login, Device.name)).all()
    table = Table("user", "device", Column("id", no_wrap=True, min_width=36), "mutations applied", "last seen")
    for login, name, device_id, last_seq, seen in rows:
        table.add_row(login, name, device_id, str(last_seq or 0), str(seen or ""))
    console.print(table)


@feed_app.command("add")
def feed_add(
    login: str,
    kind: Annotated[str, typer.Option(help="plan, team (managers) or birthdays.")] = "plan",
    free_busy: Annotated[bool, typer.Option(help="Publish times only, as busy.")] = False,
    label: Annotated[str, typer.Option(help="A note for the list, e.g. 'Outlook на ноутбуке'.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Issue a feed for a user and print its URL (shown only now)."""
    from calendar_bridge import tokens

    cfg = load_config(config)
    with writing(config) as session:
        feed, token = tokens.issue(session, accounts.find_user(session, login), kind, free_busy=free_busy, label=label)
    console.print(f"feed {feed.id} ({feed.kind}) for {login}:")
    console.print(f"{cfg.public_url}/calendar/{token}.ics", soft_wrap=True)


@feed_app.command("list")
def feed_list(
    login: Annotated[str | None, typer.Option("--user", help="Only this user's feeds.")] = None,
    config: ConfigOpt = None,
) -> None:
    """List feeds (never their URLs: only their hashes are kept)."""
    from calendar_bridge import tokens

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            user = accounts.find_user(session, login) if login else None
            table = Table(Column("id", no_wrap=True, min_width=36), "user", "kind", "free/busy", "label", "created", "revoked")
            for f in tokens.mine(session, user):
                table.add_row(f.id, f.user_id, f.kind, "yes" if f.free_busy else "", f.label, str(f.created_at),
                              str(f.revoked_at or ""))
    console.print(table)


@feed_app.command("revoke")
def feed_revoke(feed_id: str, config: ConfigOpt = None) -> None:
    """Revoke a feed: its URL fails from the next poll on."""
    from calendar_bridge import tokens

    with writing(config) as session:
        tokens.revoke(session, None, feed_id)
    console.print(f"feed {feed_id} revoked")


@feed_app.command("regenerate")
def feed_regenerate(feed_id: str, config: ConfigOpt = None) -> None:
    """Replace a feed's URL; the old one stops working."""
    from calendar_bridge import tokens

    cfg = load_config(config)
    with writing(config) as session:
        feed, token = tokens.regenerate(session, None, feed_id)
    console.print(f"feed {feed.id} replaces {feed_id}:")
    console.print(f"{cfg.public_url}/calendar/{token}.ics", soft_wrap=True)


def _progress_bar(label: str):  # type: ignore[no-untyped-def]
    """A rich progress bar and a ``progress(done, total)`` callback that drives it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   console=err, transient=False)
    task = bar.add_task(label, total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, progress


ImportFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .csv or .xlsx file.")]
AsUser = Annotated[str, typer.Option("--as", help="Import as this user: their access rules apply.")]


@import_app.command("counterparties")
def import_counterparties(
    path: ImportFile,
    as_login: AsUser,
    owner: Annotated[str | None, typer.Option(help="Responsible salesperson for rows without one.")] = None,
    skip_existing: Annotated[bool, typer.Option(help="Skip rows whose INN/KPP already exists instead of failing.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Import counterparties. Any bad row: nothing is imported and every bad row is listed."""
    from crm import importing

    bar, progress = _progress_bar("Импорт контрагентов / counterparties")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        owner_user = accounts.find_user(session, owner) if owner else None
        report = importing.import_counterparties(session, actor, path, owner=owner_user, progress=progress,
                                                 skip_existing=skip_existing)
    console.print(f"imported {report.created} counterparties, skipped {report.skipped}")


@import_app.command("contact-persons")
def import_contact_persons(path: ImportFile, as_login: AsUser, config: ConfigOpt = None) -> None:
    """Import contact persons, attached to counterparties by INN or name."""
    from crm import importing

    bar, progress = _progress_bar("Импорт контактных лиц / contact persons")
    with writing(config) as session, bar:
        actor = accounts.find_user(session, as_login)
        report = importing.import_contact_persons(session, actor, path, progress=progress)
    console.print(f"imported {report.created} contact persons, skipped {report.skipped}")


@app.command()
def demo(
    size: Annotated[str, typer.Option(help="small, medium or large (20,000 counterparties).")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same company.")] = 1,
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo database lives.")] = None,
    reset: Annotated[bool, typer.Option(help="Throw away an existing demo database first.")] = False,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Run the server afterwards.")] = True,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Build a demo trading company on SQLite and run the server, ready to log into."""
    import uvicorn
    from sqlalchemy import func, select

    from crm import demo as demo_data
    from crm.models import Counterparty
    from server.app import create_app

    if size not in demo_data.SIZES:
        err.print(f"[red]unknown size {size}[/red]; choose from {', '.join(demo_data.SIZES)}")
        raise typer.Exit(2)
    directory = data_dir or Path(Config.load(environ={}).data_dir).parent / "demo"
    db_file = directory / "satchel.db"
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    cfg = load_config(None, data_dir=str(directory), database_url=f"sqlite:///{db_file}", port=port)
    with reporting():
        database = open_db(cfg)
        with database.read() as session:
            existing = session.execute(select(func.count()).select_from(Counterparty)).scalar_one()
        if existing:
            console.print(f"using the demo company in {db_file} ({existing} counterparties; --reset to rebuild)")
        else:
            from rich.progress import Progress

            with Progress(console=err) as bar:
                tasks: dict[str, object] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

                demo_data.generate(database, size, seed=seed, progress=progress)
    console.print(f"demo users (password [bold]{demo_data.DEMO_PASSWORD}[/bold]): "
                  "admin, manager, ivanov, petrova, sidorov, kuznetsova, office")
    console.print(f"other commands work on the demo with SATCHEL_DATA_DIR={directory} "
                  f"(e.g. SATCHEL_DATA_DIR={directory} satchel user list)")
    if serve_after:
        console.print(f"Satchel demo on http://{cfg.host}:{cfg.port}  — Ctrl+C to stop")
        uvicorn.run(create_app(cfg, database), host=cfg.host, port=cfg.port, log_level="warning", access_log=False,
                    server_header=False, **proxy_settings(cfg))


@app.command("backup")
def backup_command(
    target: Annotated[Path, typer.Argument(help="The backup file to write (must not exist yet).")],
    config: ConfigOpt = None,
) -> None:
    """Write a consistent backup of the database while the server runs. / Резервная копия базы."""
    from server import backup

    with reporting():
        cfg = load_config(config)
        backup.backup(Database(cfg.database_url), target)
    console.print(f"backup written to {target}")


@app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="A file written by 'satchel backup'.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Replace the database by a backup (stop the server first); laptops then reload their data by
    themselves, keeping their unsent changes. / Восстановить базу из резервной копии."""
    from server import backup

    cfg = load_config(config)
    if not yes:
        typer.confirm("Everything written after this backup will be replaced. Stop the server and the mail "
                      "workers first. Restore now?", abort=True)
    with reporting():
        database = Database(cfg.database_url)
        epoch = backup.restore(database, source)
        migrate.upgrade(database)
    console.print(f"restored from {source}; laptops will load their data again at their next sync "
                  f"(data version {epoch})")


def main() -> None:
    app()


# Registered last: the mail commands use the helpers above.
from server.mail_cli import mail_app  # noqa: E402

app.add_typer(mail_app, name="mail")
