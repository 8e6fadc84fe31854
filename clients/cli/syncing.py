"""``satchel-field login``, ``sync``, ``watch`` and ``status``: the only commands that talk to the
server (``status`` reads the replica's bookkeeping of it)."""

from __future__ import annotations

import socket
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clients.profiles import Profiles
from crm.console import (
    PasswordFileOpt,
    PasswordStdinOpt,
    console,
    print_json,
    read_password,
)

from .common import ObjectJsonOpt, _http, _open, opened, reporting

if TYPE_CHECKING:
    from clients.replica import Replica


def login(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="Server address, e.g. https://crm.example.ru")],
    user: Annotated[str, typer.Option("--user", "-u", help="Your login.")],
    device: Annotated[
        str, typer.Option("--device", "-d", help="A name for this laptop.")
    ] = socket.gethostname(),
    password: Annotated[
        str | None,
        typer.Option(
            envvar="SATCHEL_FIELD_PASSWORD",
            help="Password (asked for when omitted; or set SATCHEL_FIELD_PASSWORD).",
        ),
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    password_file: PasswordFileOpt = None,
) -> None:
    """Log in from this laptop; later commands use this server and login. / Вход с этого ноутбука."""
    if "://" not in server:
        server = f"https://{server}"
    if password is None and not password_stdin and password_file is None:
        secret = typer.prompt("Password / Пароль", hide_input=True)
    else:
        secret = read_password(password, stdin=password_stdin, file=password_file, confirm=False)
    profiles: Profiles = ctx.obj
    path = profiles.path_for(server, user)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replica = _open(path, create=True)
    try:
        with reporting(), _http(server) as http:
            from clients.agent import SyncAgent

            answer = SyncAgent(replica, http).login(server, user, secret, device)
    finally:
        replica.close()
    profiles.set_current(server, user)
    console.print(
        f"logged in as {answer['user']['full_name']} ({user}) on {server}; device '{device}'. "
        "Run 'satchel-field sync' to load your clients."
    )


def _sync_once(replica: Replica, *, show_progress: bool) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from clients.agent import SyncAgent

    server = replica.state("server") or ""
    with _http(server) as http:
        agent = SyncAgent(replica, http)
        if not show_progress:
            return agent.sync().line()
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]} rec/s"),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=console, transient=True) as bar:
            tasks: dict[str, Any] = {}
            started = time.monotonic()

            def report(phase: str, done: int, total: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total, speed="0")
                speed = f"{done / max(time.monotonic() - started, 1e-3):,.0f}"
                bar.update(tasks[phase], completed=done, total=total, speed=speed)

            return agent.sync(report).line()


def sync(ctx: typer.Context) -> None:
    """Send your changes and receive everyone else's. / Синхронизация с сервером."""
    with opened(ctx) as replica:
        console.print(_sync_once(replica, show_progress=console.is_terminal))
        _warn_open(replica)


def _warn_open(replica: Replica) -> None:
    status = replica.status()
    if status["conflicts"]:
        console.print(
            f"[yellow]{status['conflicts']} open conflict(s): see 'satchel-field conflicts'[/yellow]"
        )
    if status["quarantine"]:
        console.print(
            f"[yellow]{status['quarantine']} change(s) in quarantine: "
            "see 'satchel-field quarantine list'[/yellow]"
        )


def watch(
    ctx: typer.Context,
    every: Annotated[float, typer.Option("--every", min=1, help="Seconds between syncs.")] = 300,
    times: Annotated[
        int | None, typer.Option(help="Stop after this many syncs (default: until Ctrl-C).")
    ] = None,
) -> None:
    """Sync every few minutes; network errors are reported and retried. / Синхронизация по расписанию."""
    from clients.agent import Offline

    done = 0
    with opened(ctx) as replica:
        try:
            while times is None or done < times:
                stamp = datetime.now().strftime("%H:%M:%S")
                try:
                    console.print(f"{stamp} {_sync_once(replica, show_progress=False)}")
                except Offline as exc:
                    console.print(f"{stamp} [yellow]offline:[/yellow] {exc.message}")
                done += 1
                if times is None or done < times:
                    time.sleep(every)
        except KeyboardInterrupt:
            console.print("stopped")


def status(ctx: typer.Context, as_json: ObjectJsonOpt = False) -> None:
    """Last sync, pending changes, open conflicts, quarantine. / Состояние синхронизации."""
    with opened(ctx) as replica:
        s = replica.status()
        if as_json:
            print_json(s)
            return
        console.print(f"server: {s['server']}  login: {s['login']}  device: {s['device_id']}")
        console.print(f"last sync: {s['last_sync'] or 'never'}")
        console.print(f"pending changes: {s['pending']}")
        console.print(f"open conflicts: {s['conflicts']}")
        console.print(f"quarantine: {s['quarantine']}")


def register(app: typer.Typer) -> None:
    """Put the commands on ``app``, in the order ``satchel-field --help`` lists them."""
    app.command()(login)
    app.command()(sync)
    app.command()(watch)
    app.command()(status)
