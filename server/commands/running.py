"""``satchel serve``, ``demo``, ``db``, ``backup`` and ``restore``: running the server and keeping its database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm.console import console, err, listen, reporting
from server.commands.opening import ConfigOpt, load_config, open_db

if TYPE_CHECKING:
    from server.config import Config

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port (PostgreSQL only). Default: 1, or the "
            "workers setting.",
        ),
    ] = None,
) -> None:
    """Run the server (migrating the database first). A port in use: exit 11."""
    import uvicorn

    from server import logs
    from server.app import create_app

    cfg = load_config(config, host=host, port=port, workers=workers)
    if cfg.workers > 1 and not cfg.database_url.startswith("postgresql"):
        err.print(
            f"[red]{cfg.workers} server processes need PostgreSQL:[/red] SQLite is written by one "
            "process (docs/deployment.md). Run one, or set database_url to PostgreSQL."
        )
        raise typer.Exit(2)
    _only_server_of(cfg.database_url)
    with reporting():
        listener = listen(cfg.host, cfg.port)  # a taken port says so before anything else
    logs.configure(cfg.log_level)  # redacts addresses and phones, for uvicorn's loggers too
    with listener:
        database = open_db(cfg)  # migrated once, here, before any process serves
        options: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "log_level": cfg.log_level,
            # No access log: request lines would carry calendar feed tokens (secrets) into the log.
            "access_log": False,
            "server_header": False,
            "log_config": None,
            **proxy_settings(cfg),
        }
        console.print(
            f"Satchel listening on {address(cfg.host, listener)}  (database: {database.dialect}"
            + (f", {cfg.workers} processes)" if cfg.workers > 1 else ")")
        )
        if not _has_users(database):
            # With this server's configuration: without it a command opens the default database.
            source = config or os.environ.get("SATCHEL_CONFIG")
            settings = (
                f"SATCHEL_CONFIG={source} "
                if source
                else "(with this server's SATCHEL_DATABASE_URL and SATCHEL_DATA_DIR) "
            )
            console.print(
                "No users yet: create the first administrator with "
                f'{settings}satchel user add admin --name "Администратор" --role admin '
                "(docs/deployment.md) / пользователей ещё нет",
                soft_wrap=True,
                highlight=False,
            )
        if cfg.workers == 1:
            uvicorn.Server(uvicorn.Config(create_app(cfg, database), **options)).run(
                sockets=[listener]
            )
            return
        database.dispose()
        _serve_processes(cfg, config, listener, options)


def _has_users(database: Any) -> bool:
    from sqlalchemy import select
    from sqlmodel import col

    from crm.models import User

    with database.read() as session:
        return session.execute(select(col(User.id)).limit(1)).first() is not None


_HELD: list[Any] = []  # the lock of this process's SQLite database, held until it exits


def _only_server_of(database_url: str) -> None:
    """SQLite is written by one server process: a second ``satchel serve`` on the same file (another
    port, another shell) is refused with exit 2, as ``--workers 2`` is, instead of two servers each
    believing it serves the company alone. The lock is the kernel's (``flock`` on ``<file>.serve``),
    so a server that died leaves nothing to clean up."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        import fcntl
    except ImportError:  # not POSIX: no such check
        return
    try:
        parsed = make_url(database_url)
    except (ArgumentError, ValueError):
        return  # no database URL: opening the database says so
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(str(parsed.database) + ".serve")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = path.open("a+")
    except OSError:
        return  # the database itself cannot be made there either: opening it says why
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        err.print(
            f"[red]another satchel serve (process {holder}) already serves this SQLite database[/red] "
            f"({parsed.database}): SQLite is written by one server process. Stop that one, or use "
            "PostgreSQL for several (docs/deployment.md)."
        )
        raise typer.Exit(2) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _HELD.append(handle)


def _serve_processes(
    cfg: Config, config: Path | None, listener: Any, options: dict[str, Any]
) -> None:
    """``cfg.workers`` processes on one listening socket (uvicorn's supervisor restarts one that
    dies). Each builds its app from the environment (``server.app.from_environment``): the
    parent passes its configuration file and the flags given as ``SATCHEL_*`` variables."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if config is not None:
        os.environ["SATCHEL_CONFIG"] = str(config)
    os.environ["SATCHEL_HOST"] = cfg.host
    os.environ["SATCHEL_PORT"] = str(listener.getsockname()[1])
    os.environ["SATCHEL_DATABASE_URL"] = cfg.database_url
    processes = uvicorn.Config(
        "server.app:from_environment", factory=True, workers=cfg.workers, **options
    )
    Multiprocess(processes, sockets=[listener]).run()


def address(host: str, listener: Any) -> str:
    """The server's address as a browser takes it, with the port actually bound (``--port 0``)."""
    port = listener.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def proxy_settings(cfg: Config) -> dict[str, Any]:
    """uvicorn's proxy options: X-Forwarded-For is believed only from the configured proxies.

    (uvicorn's default believes it from 127.0.0.1, so a local user could choose the address
    the login limit counts them under.)
    """
    proxies = [p.strip() for p in str(cfg.trusted_proxies or "").split(",") if p.strip()]
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Apply all pending migrations."""
    from server import migrate

    with reporting():
        database = open_db(load_config(config))
        console.print(f"database at revision {migrate.current(database)}")


@db_app.command("current")
def db_current(config: ConfigOpt = None) -> None:
    """Show the database's revision and the newest one this version knows."""
    from server import migrate

    database = open_db(load_config(config), upgrade=False)
    console.print(f"current: {migrate.current(database)}  head: {migrate.head()}")


def demo(
    size: Annotated[
        str, typer.Option(help="small, medium or large (20,000 counterparties).")
    ] = "small",
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same company.")
    ] = 1,
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo database lives.")] = None,
    reset: Annotated[
        bool, typer.Option(help="Throw away an existing demo database first.")
    ] = False,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Run the server afterwards.")
    ] = True,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Build a demo trading company on SQLite and run the server, ready to log into."""
    from datetime import date

    import uvicorn
    from sqlalchemy import func, select

    from crm import demo as demo_data
    from crm.models import Counterparty
    from server.app import create_app
    from server.config import Config

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
        # The port first: a taken one stops the command before the company is built (exit 11).
        listener = listen(cfg.host, cfg.port) if serve_after else None
        database = open_db(cfg)
        with database.read() as session:
            existing = session.execute(select(func.count()).select_from(Counterparty)).scalar_one()
        if existing:
            console.print(
                f"using the demo company in {db_file} ({existing} counterparties; --reset to rebuild)"
            )
        else:
            from rich.progress import Progress

            with Progress(console=err) as bar:
                tasks: dict[str, object] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

                # Dated today: the agenda of a first sign-in shows today's calls, meetings and reminders.
                demo_data.generate(database, size, seed=seed, today=date.today(), progress=progress)
    console.print(
        f"demo users (password [bold]{demo_data.DEMO_PASSWORD}[/bold]): "
        "admin, manager, ivanov, petrova, sidorov, kuznetsova, office",
        soft_wrap=True,
    )
    console.print(  # one line even when piped: it is a command to copy
        f"other commands work on the demo with SATCHEL_DATA_DIR={directory} "
        f"(e.g. SATCHEL_DATA_DIR={directory} satchel user list)",
        soft_wrap=True,
    )
    if listener is not None:
        with listener:
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(cfg, database),
                    host=cfg.host,
                    port=cfg.port,
                    log_level="warning",
                    access_log=False,
                    server_header=False,
                    **proxy_settings(cfg),
                )
            )
            console.print(
                f"Satchel demo on {address(cfg.host, listener)}  — Ctrl+C to stop "
                "/ Ctrl+C — остановить"
            )
            server.run(sockets=[listener])


def backup_command(
    target: Annotated[Path, typer.Argument(help="The backup file to write (must not exist yet).")],
    config: ConfigOpt = None,
) -> None:
    """Write a consistent backup of the database while the server runs. / Резервная копия базы."""
    from server import backup

    with reporting():
        cfg = load_config(config)
        backup.backup(open_db(cfg, upgrade=False), target)
    console.print(f"backup written to {target}")


def restore_command(
    source: Annotated[Path, typer.Argument(help="A file written by 'satchel backup'.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Replace the database by a backup (stop the server first); laptops then reload their data by
    themselves, keeping their unsent changes. / Восстановить базу из резервной копии."""
    from server import backup, migrate

    cfg = load_config(config)
    if not yes:
        typer.confirm(
            "Everything written after this backup will be replaced. Stop the server and the mail "
            "workers first. Restore now?",
            abort=True,
        )
    with reporting():
        database = open_db(cfg, upgrade=False)
        epoch = backup.restore(database, source)
        migrate.upgrade(database)
    console.print(
        f"restored from {source}; laptops will load their data again at their next sync "
        f"(data version {epoch})"
    )


def register(app: typer.Typer) -> None:
    """Put the top-level commands on ``app``, in the order ``satchel --help`` lists them."""
    app.command()(serve)
    app.command()(demo)
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
