"""The ``satchel-field`` command: a salesperson's CRM on the laptop, synced when there is a network.

Record commands (counterparties, people, interactions, reminders) work on the
local replica only and never touch the network; ``sync`` and ``watch`` are the
only commands that talk to the server, and ``login`` to get a device token.

The replica, the sync agent and the screens are imported by the commands that use
them, so that ``--help`` starts at once.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import zoneinfo
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from clients import vault
from clients.profiles import ENV_HOME, Profiles, default_home
from crm import console as terminal
from crm.console import (
    JsonOpt,
    PasswordFileOpt,
    PasswordStdinOpt,
    ReportJsonOpt,
    clip,
    console,
    err,
    listing,
    print_json,
    read_password,
)

if TYPE_CHECKING:
    import httpx

    from clients.replica import Replica

ObjectJsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON object.")]

app = typer.Typer(
    help="Satchel field client: your CRM on the laptop, with or without a network. / "
    "Полевой клиент Satchel: CRM на ноутбуке, с сетью и без.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
quarantine_app = typer.Typer(
    help="Changes the server refused, or of records you can no longer see: list, retry, drop.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app, name="quarantine")


def sync_exit_codes() -> dict[type[Exception], int]:
    """The laptop's own errors as exit codes; the domain's are in crm.console.EXIT_CODES."""
    from clients.agent import NotLoggedIn, Offline, ServerRefused, SyncError, UpgradeRequired

    return {SyncError: 1, NotLoggedIn: 6, Offline: 7, UpgradeRequired: 8, ServerRefused: 9}


def __getattr__(name: str) -> Any:
    """The screens' home, imported when ``ui`` first needs it (tests replace ``LaptopHome`` here)."""
    if name == "LaptopHome":
        from clients.web_home import LaptopHome

        return LaptopHome
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar=ENV_HOME,
            help="Where replicas live (default: your user data folder).",
        ),
    ] = None,
) -> None:
    """Satchel field client / Полевой клиент Satchel."""
    ctx.obj = Profiles(data_dir or default_home())
    terminal.use_columns()


def reporting() -> AbstractContextManager[None]:
    """Turn domain and sync errors into a clear message and a distinct exit code."""
    return terminal.reporting(sync_exit_codes)


@contextmanager
def opened(ctx: typer.Context) -> Iterator[Replica]:
    profiles: Profiles = ctx.obj
    profile = profiles.current()
    if profile is None:
        err.print(
            "[red]error:[/red] not logged in yet: run 'satchel-field login SERVER --user LOGIN'"
        )
        raise typer.Exit(6)
    replica = _open(profile.replica, create=False)
    try:
        with reporting():
            yield replica
    finally:
        replica.close()


REPEAT_PROMPT = "Repeat for confirmation / Повторите для подтверждения"


def _ask_passphrase(prompt: str, confirm: bool) -> str | None:
    try:
        return str(
            typer.prompt(
                prompt, hide_input=True, confirmation_prompt=REPEAT_PROMPT if confirm else False
            )
        )
    except (typer.Abort, EOFError):
        return None


def _open(path: Path, *, create: bool) -> Replica:
    """The replica at ``path``, decrypted with its key (vault); a wrong passphrase stops here, exit 10."""
    from clients.replica import Replica
    from crm.database import WrongKey

    try:
        return Replica.open(path, key=vault.replica_key(path, _ask_passphrase, create=create))
    except vault.LockedReplica as exc:
        err.print(f"[red]error:[/red] {exc.message}")
    except WrongKey:
        err.print(
            "[red]error:[/red] the key does not open this replica (was it copied from another "
            "laptop?); log in again with another --data-dir"
        )
    raise typer.Exit(10)


def _http(server: str) -> httpx.Client:
    import httpx

    return httpx.Client(base_url=server.rstrip("/"), timeout=httpx.Timeout(60.0, connect=10.0))


@app.command()
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


@app.command()
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


@app.command()
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


@app.command()
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


def _timezone(name: str | None) -> str | None:
    """An IANA zone name as tzdata spells it (``Europe/Moscow``), or None for the laptop's own zone."""
    if name is None:
        return None
    try:
        if name in zoneinfo.available_timezones():
            zoneinfo.ZoneInfo(name)
            return name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    raise typer.BadParameter(
        f"{name!r} is not an IANA time zone name (e.g. Europe/Moscow, Asia/Yekaterinburg)"
    )


@app.command()
def ui(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (default: any free one).")
    ] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the browser at once.")
    ] = True,
    sync_minutes: Annotated[
        float, typer.Option("--sync-minutes", min=0.1, help="Minutes between background syncs.")
    ] = 5.0,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            callback=_timezone,
            metavar="ZONE",
            help="IANA time zone the screens show and read times in, e.g. Europe/Moscow "
            "(default: this laptop's own zone).",
        ),
    ] = None,
) -> None:
    """Satchel in your browser, on this computer only; syncs in the background. / Satchel в браузере."""
    import threading
    import webbrowser

    import uvicorn

    from clients.background import BackgroundSync
    from clients.web_home import create_app as create_ui
    from clients.web_home import launch_url

    home_type = sys.modules[
        __name__
    ].LaptopHome  # through __getattr__: imported now, or a test's stand-in
    with opened(ctx) as replica:
        # Bound here, before uvicorn starts, so the port is known for the Host check and the link;
        # listening already, the link printed below answers even before uvicorn runs. A taken
        # port is PortTaken: exit 11. (TCP named on the socket: without it every answer waited
        # ~40 ms on the browser's delayed ACK, bench/web.py found it.)
        listener = terminal.listen("127.0.0.1", port)
        actual = listener.getsockname()[1]
        with _http(replica.state("server") or "http://127.0.0.1:9") as http:
            background = BackgroundSync(replica, http, every=sync_minutes * 60)
            home = home_type(replica, background, timezone=timezone)
            url = launch_url(home, actual)
            server = uvicorn.Server(
                uvicorn.Config(
                    create_ui(home, actual),
                    host="127.0.0.1",
                    port=actual,
                    access_log=False,
                    server_header=False,
                    log_level="warning",
                    lifespan="off",
                )
            )
            # «Выйти» in the browser closes Satchel here too, a moment later (the browser first
            # gets the page that says how to open it again).
            home.on_signed_out = lambda: threading.Timer(
                2.0, lambda: setattr(server, "should_exit", True)
            ).start()
            console.print(
                f"Satchel: {url}\n(this link works once; Ctrl-C or «Выйти» stops Satchel "
                "/ ссылка действует один раз; Ctrl-C или «Выйти» — остановить)"
            )
            background.start()
            if open_browser:
                webbrowser.open(url)
            try:
                server.run(sockets=[listener])
            finally:
                background.stop()


@app.command()
def shortcut(
    ctx: typer.Context,
    desktop: Annotated[
        Path | None,
        typer.Option(help="The desktop folder (default: ~/Desktop or ~/Рабочий стол, if there)."),
    ] = None,
) -> None:
    """A «Satchel» shortcut on the desktop and in the applications menu: it opens Satchel in the
    browser (a small window asks the passphrase). / Ярлык «Satchel» на рабочем столе и в меню."""
    import shutil

    profiles: Profiles = ctx.obj
    program = shutil.which("satchel-field") or str(Path(sys.argv[0]).resolve())
    command = [program, "--data-dir", str(profiles.home), "ui", "--open"]
    icon = Path(__file__).resolve().parent.parent / "web" / "static" / "favicon.svg"
    entry = "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.0",
            "Name=Satchel",
            "Comment=CRM Satchel в браузере / Satchel CRM in the browser",
            "Exec=" + " ".join(_desktop_quote(part) for part in command),
            "Terminal=true",
            f"Icon={icon}",
            "Categories=Office;",
            "",
        ]
    )
    home = Path.home()
    places = [home / ".local" / "share" / "applications" / "satchel-field.desktop"]
    folder = desktop or next(
        (d for d in (home / "Desktop", home / "Рабочий стол") if d.is_dir()), None
    )
    if folder is not None:
        places.append(folder / "Satchel.desktop")
    for place in places:
        place.parent.mkdir(parents=True, exist_ok=True)
        place.write_text(entry, encoding="utf-8")
        place.chmod(0o755)
        console.print(f"shortcut / ярлык: {place}")


def _desktop_quote(arg: str) -> str:
    """An argument of a desktop entry's Exec line (freedesktop.org: double quotes, \\-escapes)."""
    arg = arg.replace("%", "%%")  # a field code otherwise
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`="):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def _id_column() -> Column:
    return Column("id", no_wrap=True, min_width=36)


@app.command()
def conflicts(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Open conflicts: the same field changed on two laptops. / Конфликты правок."""
    from sync import protocol

    with opened(ctx) as replica:
        items = replica.conflicts()
        user_id, device_id = replica.state("user_id"), replica.state("device_id")
    rows = []
    for c in items:
        server, client = (
            (c.get("server") or {}).get("value"),
            (c.get("client") or {}).get("value"),
        )
        server_side = protocol.mine_is_server_side(c, user_id, device_id)
        mine, theirs = (server, client) if server_side else (client, server)
        rows.append(
            {
                "id": c["id"],
                "type": c["type"],
                "record_id": c["record_id"],
                "field": c.get("field") or c["kind"],
                "mine": mine,
                "theirs": theirs,
                "kept_now": "mine" if server_side else "theirs",
                "resolution": c.get("pending_choice"),
            }
        )
    if not rows and not as_json:
        console.print("no open conflicts / конфликтов нет")
        return
    table = Table(
        _id_column(),
        "Запись / Record",
        "Поле / Field",
        "Моё / Mine",
        "Их / Theirs",
        "Сейчас / Kept now",
        "Решение / Resolution",
    )
    for r in rows:
        table.add_row(
            r["id"],
            f"{r['type']} {r['record_id']}",
            r["field"],
            clip(r["mine"]),
            clip(r["theirs"]),
            r["kept_now"],
            r["resolution"] or "",
        )
    listing(table, rows, as_json=as_json)


def _value(raw: str) -> Any:
    """A command-line value: JSON when it reads as a list or object, else the text as typed."""
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


@app.command()
def resolve(
    ctx: typer.Context,
    conflict_id: Annotated[str, typer.Argument(help="Conflict id (see 'conflicts').")],
    choice: Annotated[str, typer.Argument(help="mine, theirs or value.")],
    value: Annotated[str | None, typer.Option(help="The new value, with 'value'.")] = None,
) -> None:
    """Resolve a conflict (works offline; sent with the next sync). / Разрешить конфликт."""
    if choice == "value" and value is None:
        err.print("[red]error:[/red] give the new value with --value")
        raise typer.Exit(3)
    with opened(ctx) as replica:
        replica.resolve(conflict_id, choice, _value(value) if value is not None else None)
        console.print(f"conflict {conflict_id}: {choice}; it is sent with the next sync")


@quarantine_app.command("list")
def quarantine_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show quarantined changes and why."""
    with opened(ctx) as replica:
        items = replica.quarantine()
    table = Table("id", "Изменение / Change", "Причина / Reason", "С / Since")
    for q in items:
        m = q["mutation"]
        what = f"{m['op']} {m.get('type', '')} {m.get('id') or m.get('conflict_id')}"
        table.add_row(
            str(q["id"]), what + f"\n{clip(m.get('fields', ''), 60)}", q["reason"], q["at"]
        )
    listing(table, items, as_json=as_json)


@quarantine_app.command("retry")
def quarantine_retry(
    ctx: typer.Context, item: Annotated[int, typer.Argument(help="Quarantine id.")]
) -> None:
    """Queue a quarantined change again (sent with the next sync)."""
    with opened(ctx) as replica:
        replica.retry(item)
        console.print(f"change {item} queued again")


@quarantine_app.command("drop")
def quarantine_drop(
    ctx: typer.Context, item: Annotated[int, typer.Argument(help="Quarantine id.")]
) -> None:
    """Discard a quarantined change for good."""
    with opened(ctx) as replica:
        replica.drop(item)
        console.print(f"change {item} dropped")


# -- records (offline) -----------------------------------------------------------

FieldOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--field", "-f", help="Any field as name=value (repeatable); lists and objects as JSON."
    ),
]


def _fields(pairs: list[str] | None, **named: Any) -> dict[str, Any]:
    data = {k: v for k, v in named.items() if v is not None}
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep:
            err.print(f"[red]error:[/red] --field wants name=value, got {pair!r}")
            raise typer.Exit(3)
        data[name.strip()] = _value(raw)
    return data


def _contacts(phone: str | None, email: str | None) -> list[dict[str, str]] | None:
    items = ([{"kind": "phone", "value": phone}] if phone else []) + (
        [{"kind": "email", "value": email}] if email else []
    )
    return items or None


# The columns of each listing: the field, and its header in both languages.
def _show(record: dict[str, Any], *, as_json: bool = False) -> None:
    if as_json:
        print_json(record)
        return
    table = Table("field", "value", show_header=False)
    for name, value in record.items():
        table.add_row(name, clip(value, 100))
    listing(table, [record])


def _value_labels() -> dict[tuple[str, str], dict[str, str]]:
    """A listing's words for the values of a field that are codes (an event's kind), in both
    languages as the reports name them."""
    from crm import reports

    return {("events", "kind"): reports.EVENT_KINDS}


def _counterparty_names(replica: Any, items: list[dict[str, Any]]) -> dict[str, str]:
    """The names of the counterparties ``items`` name (``counterparty_id``), as a card shows them;
    one not on this laptop keeps its id."""
    from crm.errors import NotFound

    names: dict[str, str] = {}
    for cp_id in {str(i["counterparty_id"]) for i in items if i.get("counterparty_id")}:
        try:
            cp = replica.get("counterparties", cp_id)
        except NotFound:
            continue
        names[cp_id] = cp.get("short_name") or cp.get("legal_name") or cp_id
    return names


def _cell_text(type_name: str, name: str, value: Any, names: dict[str, str]) -> Any:
    """A listing's cell: a counterparty by its name, a code by its words, the rest as stored."""
    if value is None or value == "":
        return ""
    if name == "counterparty_id":
        return names.get(str(value), value)
    return _value_labels().get((type_name, name), {}).get(str(value), value)


def _label(record: dict[str, Any]) -> str:
    """What a person calls a record: its name, subject or title."""
    for name in ("legal_name", "full_name", "subject", "title", "description"):
        if record.get(name):
            return str(record[name])
    return str(record["id"])


def _record_commands(type_name: str, group: typer.Typer) -> None:
    @group.command("edit")
    def edit(
        ctx: typer.Context,
        record_id: str,
        field: FieldOpt = None,
        notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    ) -> None:
        """Change fields (offline; sent with the next sync)."""
        with opened(ctx) as replica:
            _show(replica.update(type_name, record_id, _fields(field, notes=notes)))

    @group.command("delete")
    def delete(
        ctx: typer.Context,
        record_id: str,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
    ) -> None:
        """Delete a record (offline; sent with the next sync). Asks first unless --yes."""
        from crm import records

        with opened(ctx) as replica:
            record = replica.get(type_name, record_id)  # a wrong id says so before any question
            what = f"{records.record_type(type_name).singular} {_label(record)!r}"
            if type_name == "counterparties":
                what += " with its contact persons, deals and history"
            if not yes and not typer.confirm(f"Delete {what}? / Удалить?", default=False):
                console.print("nothing deleted / ничего не удалено")
                raise typer.Exit(1)
            replica.delete(type_name, record_id)
            console.print(f"deleted {record_id} (sent with the next sync)")

    @group.command("show")
    def show(ctx: typer.Context, record_id: str, as_json: ObjectJsonOpt = False) -> None:
        """Show one record (--json: as JSON)."""
        with opened(ctx) as replica:
            _show(replica.get(type_name, record_id), as_json=as_json)

    @group.command("list")
    def list_(
        ctx: typer.Context,
        q: Annotated[
            str | None, typer.Option("--q", help="Search (names, phones, emails, INN).")
        ] = None,
        limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
        where: Annotated[
            list[str] | None,
            typer.Option(
                "--where",
                help="Only those with field=value (repeatable; field__lt=value and the like bound "
                "it, e.g. status=new or deadline__lt=2026-12-01).",
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """List records (from this laptop); --json: the whole records as JSON."""
        filters: dict[str, str] = {}
        for pair in where or []:
            name, sep, value = pair.partition("=")
            if not sep:
                err.print(f"[red]error:[/red] --where wants field=value, got {pair!r}")
                raise typer.Exit(3)
            filters[name.strip()] = value
        from crm import records

        rt = records.record_type(type_name)
        columns = rt.columns or tuple((f, f) for f in rt.fields()[:5])
        with opened(ctx) as replica:
            items = replica.list(
                type_name,
                q=q if rt.searchable else None,
                filters=filters or None,
                limit=limit,
            )
            names = (
                _counterparty_names(replica, items)
                if any(name == "counterparty_id" for name, _ in columns)
                else {}
            )
        table = Table(_id_column(), *(header for _, header in columns))
        for item in items:
            table.add_row(
                item["id"],
                *(clip(_cell_text(type_name, name, item.get(name), names)) for name, _ in columns),
            )
        listing(table, items, as_json=as_json)


# The laptop's commands over records (which record types have one is this command's choice; what
# their listings show is the type's, crm.registry). Importing the registry would load the models,
# and `satchel-laptop --help` must stay quick: the names are given here.
counterparties_app = typer.Typer(
    help="Counterparties (clients, suppliers…), offline. / Контрагенты.", no_args_is_help=True
)
people_app = typer.Typer(
    help="Contact persons of counterparties, offline. / Контактные лица.", no_args_is_help=True
)
interactions_app = typer.Typer(
    help="Calls, meetings, letters: history and plans, offline. / Взаимодействия.",
    no_args_is_help=True,
)
reminders_app = typer.Typer(
    help="Reminders with a due time, offline. / Напоминания.", no_args_is_help=True
)
complaints_app = typer.Typer(
    help="Clients' complaints: register, work and close them, offline. / Рекламации.",
    no_args_is_help=True,
)
absences_app = typer.Typer(
    help="Absences: business trips, vacations, sick leave, days off, offline. / Отсутствия.",
    no_args_is_help=True,
)
claims_app = typer.Typer(
    help="Claims: who holds a client for which product group, offline. / Закрепления клиентов.",
    no_args_is_help=True,
)
contracts_app = typer.Typer(
    help="Contracts with counterparties: number, validity, payment terms, offline. / Договоры.",
    no_args_is_help=True,
)
contact_rules_app = typer.Typer(
    help="How often clients of each ABC class must be contacted (managers set them). / "
    "Частота контактов.",
    no_args_is_help=True,
)
supplier_terms_app = typer.Typer(
    help="Suppliers' terms: delivery, payment, lead time, rating, offline (their price lists are "
    "on the server). / Условия поставщиков.",
    no_args_is_help=True,
)
events_app = typer.Typer(
    help="Marketing events: exhibitions, seminars, promotions, offline (their owner, the owner's "
    "manager, the office keep them; anyone invites their clients). / Мероприятия.",
    no_args_is_help=True,
)
event_costs_app = typer.Typer(
    help="The cost lines of marketing events, offline. / Затраты на мероприятия.",
    no_args_is_help=True,
)
event_participants_app = typer.Typer(
    help="Clients invited to marketing events and whether they came, offline. / Участники "
    "мероприятий.",
    no_args_is_help=True,
)
mailings_app = typer.Typer(
    help="Mailings: letters to a segment's clients or an event's participants, drafted offline "
    "(the server works out who gets them and queues them: satchel mailing, the web). / Рассылки.",
    no_args_is_help=True,
)
for _name, _group, _command in (
    ("events", events_app, "events"),
    ("mailings", mailings_app, "mailings"),
    ("event-costs", event_costs_app, "event-costs"),
    ("event-participants", event_participants_app, "event-participants"),
    ("counterparties", counterparties_app, "counterparties"),
    ("contact-persons", people_app, "people"),
    ("interactions", interactions_app, "interactions"),
    ("reminders", reminders_app, "reminders"),
    ("complaints", complaints_app, "complaints"),
    ("claims", claims_app, "claims"),
    ("absences", absences_app, "absences"),
    ("contracts", contracts_app, "contracts"),
    ("contact-rules", contact_rules_app, "contact-rules"),
    ("supplier-terms", supplier_terms_app, "supplier-terms"),
):
    app.add_typer(_group, name=_command)
    _record_commands(_name, _group)


def _created(replica: Replica, type_name: str, data: dict[str, Any]) -> None:
    record = replica.create(type_name, data)
    console.print(f"created {record['id']} (sent with the next sync)")


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


@mailings_app.command("add")
def mailing_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The mailing's name, e.g. 'Приглашение на JUNWEX'.")],
    subject: Annotated[str, typer.Option(help="The letters' subject (merge fields allowed).")],
    body: Annotated[str, typer.Option(help="The letters' text (merge fields allowed).")],
    segment: Annotated[
        str | None, typer.Option(help="To this saved segment's clients (id).")
    ] = None,
    event: Annotated[str | None, typer.Option(help="To this event's participants (id).")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            help="Of the event's participants only these (repeatable): invited, "
            "registered, attended, declined."
        ),
    ] = None,
    field: FieldOpt = None,
) -> None:
    """Draft a mailing (sent with the next sync; queued on the server). / Черновик рассылки."""
    with opened(ctx) as replica:
        _created(
            replica,
            "mailings",
            _fields(
                field,
                name=name,
                subject=subject,
                body=body,
                segment_id=segment,
                event_id=event,
                statuses=status or None,
            ),
        )


@events_app.command("add")
def event_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The event's name, e.g. 'JUNWEX Москва'.")],
    kind: Annotated[
        str, typer.Option(help="exhibition, seminar, promotion, advertising or mailing.")
    ] = "exhibition",
    starts_on: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    ends_on: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    place: Annotated[str | None, typer.Option(help="Where.")] = None,
    budget: Annotated[str | None, typer.Option(help="Planned spending, roubles.")] = None,
    field: FieldOpt = None,
) -> None:
    """Add a marketing event of your own (sent with the next sync). / Добавить мероприятие."""
    with opened(ctx) as replica:
        _created(
            replica,
            "events",
            _fields(
                field,
                name=name,
                kind=kind,
                starts_on=starts_on,
                ends_on=ends_on,
                place=place,
                budget=budget,
            ),
        )


@events_app.command("invite")
def event_invite(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id (satchel-field events list).")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    person: Annotated[
        str | None, typer.Option("--person", help="One of its contact persons' id.")
    ] = None,
    status: Annotated[
        str, typer.Option(help="invited, registered, attended or declined.")
    ] = "invited",
) -> None:
    """Invite a client to an event (sent with the next sync). / Пригласить клиента."""
    with opened(ctx) as replica:
        _created(
            replica,
            "event-participants",
            _fields(
                None,
                event_id=event_id,
                counterparty_id=counterparty,
                contact_person_id=person,
                status=status,
            ),
        )


@event_costs_app.command("add")
def event_cost_add(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    item: Annotated[str, typer.Argument(help="What was paid for, e.g. 'Стенд'.")],
    amount: Annotated[str, typer.Argument(help="Roubles, e.g. 350000 or 1250.50.")],
    spent_on: Annotated[str | None, typer.Option(help="Day paid, YYYY-MM-DD.")] = None,
) -> None:
    """Add a cost line to an event you keep (sent with the next sync). / Добавить затраты."""
    with opened(ctx) as replica:
        _created(
            replica,
            "event-costs",
            _fields(None, event_id=event_id, item=item, amount=amount, spent_on=spent_on),
        )


@event_participants_app.command("add")
def event_participant_add(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(help="The event's id.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    person: Annotated[
        str | None, typer.Option("--person", help="One of its contact persons' id.")
    ] = None,
    status: Annotated[
        str, typer.Option(help="invited, registered, attended or declined.")
    ] = "invited",
) -> None:
    """Add a participant to an event (as events invite). / Добавить участника."""
    event_invite(ctx, event_id, counterparty, person, status)


@supplier_terms_app.command("add")
def supplier_terms_add(
    ctx: typer.Context,
    counterparty: Annotated[
        str, typer.Option("--counterparty", "-c", help="The supplier's id (a supplier's card).")
    ],
    lead_time: Annotated[
        int | None, typer.Option("--lead-time", help="Days from an order to delivery (0 to 365).")
    ] = None,
    rating: Annotated[
        int | None, typer.Option(help="Reliability, 1 (unreliable) to 5 (never late).")
    ] = None,
    payment: Annotated[
        str | None, typer.Option(help="Payment terms, e.g. '30 дней', 'предоплата'.")
    ] = None,
    delivery: Annotated[
        str | None, typer.Option(help="Delivery terms, e.g. 'DAP Москва', 'самовывоз'.")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    field: FieldOpt = None,
) -> None:
    """Enter a supplier's terms (one set per supplier; sent with the next sync). / Условия
    поставщика."""
    with opened(ctx) as replica:
        _created(
            replica,
            "supplier-terms",
            _fields(
                field,
                counterparty_id=counterparty,
                lead_time_days=lead_time,
                rating=rating,
                payment_terms=payment,
                delivery_terms=delivery,
                notes=notes,
            ),
        )


@contact_rules_app.command("add")
def contact_rule_add(
    ctx: typer.Context,
    abc_class: Annotated[str, typer.Argument(help="The ABC class: A, B or C.")],
    days: Annotated[int, typer.Option(help="Contact every this many days (1 to 366).")],
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Interaction kinds that count (repeat; default: every kind)."),
    ] = None,
) -> None:
    """Set how often clients of a class must be contacted (managers and admins). / Задать частоту."""
    with opened(ctx) as replica:
        _created(
            replica, "contact-rules", {"abc_class": abc_class, "days": days, "kinds": kind or []}
        )


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


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@interactions_app.command("add")
def interaction_add(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="What it was about.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    kind: Annotated[
        str, typer.Option(help="call, meeting, letter, purchase, complaint, other.")
    ] = "call",
    at: Annotated[
        str | None, typer.Option(help="When, ISO 8601 with offset (default: now).")
    ] = None,
    status: Annotated[str, typer.Option(help="done, planned or cancelled.")] = "done",
    person: Annotated[str | None, typer.Option(help="Contact person id.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    invite: Annotated[
        list[str] | None,
        typer.Option(
            help="Send a meeting invitation to this address after the "
            "next sync (repeatable; Outlook and phones accept it)."
        ),
    ] = None,
    field: FieldOpt = None,
) -> None:
    """Log a call or meeting, or plan one (with --invite: and invite the client's people)."""
    extra: dict[str, Any] = {}
    if invite:
        extra = {
            "participants": [{"role": "attendee", "address": a} for a in invite],
            "mail_status": "queued",
        }
    with opened(ctx) as replica:
        _created(
            replica,
            "interactions",
            _fields(
                field,
                subject=subject,
                counterparty_id=counterparty,
                kind=kind,
                starts_at=at or _now_iso(),
                status=status,
                contact_person_id=person,
                notes=notes,
                **extra,
            ),
        )
        _warn_claimed(replica, counterparty)


def _warn_claimed(replica: Replica, counterparty_id: str) -> None:
    """Say whose client it is when colleagues hold it for a group (a warning, not a refusal)."""
    warning = replica.claimed(counterparty_id)
    if warning:
        err.print(f"[yellow]{warning}[/yellow]")


@absences_app.command("add")
def absence_add(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="trip, vacation, sick_leave or day_off.")],
    starts_on: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    ends_on: Annotated[str, typer.Option("--until", help="Last day, YYYY-MM-DD.")],
    city: Annotated[str | None, typer.Option(help="Where a trip goes.")] = None,
    user: Annotated[
        str | None, typer.Option(help="Whose (a user id; a manager's people, for the office).")
    ] = None,
    substitute: Annotated[
        str | None,
        typer.Option(
            help="Who covers meanwhile (a login or user id): sees and works the absent one's "
            "clients on these days only."
        ),
    ] = None,
) -> None:
    """Enter an absence (yours unless --user; refused when it overlaps another of theirs)."""
    with opened(ctx) as replica:
        fields = _fields(
            None, kind=kind, starts_on=starts_on, ends_on=ends_on, city=city, user_id=user
        )
        if substitute is not None:
            fields["substitute_id"] = _user_id(replica, substitute)
        _created(replica, "absences", fields)


def _user_id(replica: Any, login_or_id: str) -> str:
    """A colleague's id from their login (or their id as it is); an unknown one is an error."""
    from sqlmodel import col, or_, select

    from crm.models import User

    with replica.db.read() as session:
        found = session.execute(
            select(col(User.id)).where(
                or_(col(User.login) == login_or_id.strip().lower(), col(User.id) == login_or_id)
            )
        ).scalar_one_or_none()
    if found is None:
        err.print(f"[red]error:[/red] no colleague with login or id {login_or_id!r}")
        raise typer.Exit(3)
    return str(found)


@app.command("whereabouts")
def whereabouts_show(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="A day of the week to show (default: this week).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where is everyone this week (or the week of --from): office, at a client, trip, vacation…"""
    from datetime import date, timedelta

    try:
        day = date.fromisoformat(start) if start else datetime.now(UTC).date()
    except ValueError:
        err.print(f"[red]error:[/red] --from wants a date, YYYY-MM-DD, got {start!r}")
        raise typer.Exit(2) from None
    monday = day - timedelta(days=day.weekday())
    with opened(ctx) as replica:
        rows = replica.whereabouts(monday)
    days = [monday + timedelta(days=n) for n in range(7)]
    items = [
        {
            "user_id": r.user_id,
            "name": r.name,
            "days": [
                {"day": d.isoformat(), "kind": w.kind, "detail": w.detail}
                for d, w in zip(days, r.days, strict=True)
            ],
        }
        for r in rows
    ]
    table = Table("Сотрудник / Employee", *(d.strftime("%a %d.%m") for d in days))
    for r in rows:
        table.add_row(
            r.name, *(w.kind + (f" ({clip(w.detail, 30)})" if w.detail else "") for w in r.days)
        )
    listing(table, items, as_json=as_json)


@claims_app.command("add")
def claim_add(
    ctx: typer.Context,
    product_group: Annotated[
        str, typer.Argument(help="The product group or direction, e.g. 'Золото 585'.")
    ],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    until: Annotated[
        str | None, typer.Option(help="Last day, YYYY-MM-DD (default: in 90 days; a year at most).")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
) -> None:
    """Claim a client for a product group for yourself (refused while a colleague holds it)."""
    with opened(ctx) as replica:
        _created(
            replica,
            "claims",
            _fields(
                None,
                counterparty_id=counterparty,
                product_group=product_group,
                ends_on=until,
                notes=notes,
            ),
        )


@claims_app.command("end")
def claim_end(ctx: typer.Context, record_id: str) -> None:
    """End a claim today (in force through today; sent with the next sync)."""
    with opened(ctx) as replica:
        claim = replica.get("claims", record_id)
        today = datetime.now(UTC).date().isoformat()
        ends_on = max(today, claim["starts_on"] or today)
        _show(replica.update("claims", record_id, {"ends_on": ends_on}))


# Saved segments (crm.segments): filters over counterparties every report takes (`report show …
# --segment NAME`). Everyone sees every segment; its owner, their manager and an admin change it.
segments_app = typer.Typer(
    help="Saved segments: filters over counterparties for every report, offline. / Сегменты.",
    no_args_is_help=True,
)
app.add_typer(segments_app, name="segments")
CriterionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--criterion",
        help="name=value[,value…], repeatable: kinds, tags, stage, owner_id (logins too), "
        "visibility, region, industry, segment, source, abc_class, xyz_class; '-' for an empty "
        "field. Any value of one criterion matches; every criterion must.",
    ),
]


def _criteria(replica: Replica, pairs: list[str]) -> dict[str, list[str]]:
    try:
        return replica.segment_criteria(pairs)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --criterion: {exc}")
        raise typer.Exit(2) from None


@segments_app.command("list")
def segments_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The segments, with how many of your counterparties (on this laptop) each holds."""
    with opened(ctx) as replica:
        rows = replica.segment_overview()
    table = Table(
        _id_column(),
        "Название / Name",
        "Автор / Owner",
        "Условия / Criteria",
        Column("Клиентов / Members", justify="right"),
    )
    for r in rows:
        table.add_row(r["id"], r["name"], r["owner"], clip(r["criteria"], 60), str(r["members"]))
    listing(table, rows, as_json=as_json)


@segments_app.command("add")
def segments_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The segment's name, e.g. 'Крупные Москва'.")],
    criterion: CriterionOpt = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
) -> None:
    """Save a segment (offline; sent with the next sync): e.g. add "Крупные Москва"
    --criterion abc_class=A,B --criterion region=Москва."""
    with opened(ctx) as replica:
        data = _fields(None, name=name, criteria=_criteria(replica, criterion or []), notes=notes)
        _created(replica, "segments", data)


@segments_app.command("edit")
def segments_edit(
    ctx: typer.Context,
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    criterion: Annotated[
        list[str] | None,
        typer.Option("--criterion", help="The new criteria (all of them), as add takes them."),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
) -> None:
    """Change a segment (offline; sent with the next sync)."""
    with opened(ctx) as replica:
        found = replica.segment_detail(segment, limit=1)
        criteria = _criteria(replica, criterion) if criterion is not None else None
        values = _fields(None, name=name, criteria=criteria, notes=notes)
        _show(replica.update("segments", found["id"], values))


@segments_app.command("show")
def segments_show(
    ctx: typer.Context,
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    limit: Annotated[int, typer.Option(min=1, max=500, help="Members shown, at most.")] = 50,
    as_json: ObjectJsonOpt = False,
) -> None:
    """A segment and its members on this laptop, by name."""
    from crm.segments import describe

    with opened(ctx) as replica:
        found = replica.segment_detail(segment, limit=limit)
    if as_json:
        print_json(found)
        return
    console.print(f"{found['name']} ({found['id']}): {describe(found['criteria'])}")
    if found.get("notes"):
        console.print(found["notes"])
    table = Table(_id_column(), "Контрагент / Counterparty", "ИНН / INN", "ABC")
    for m in found["members"]:
        table.add_row(m["id"], m["name"], m["inn"] or "", m["abc_class"] or "")
    listing(table, found["members"])
    console.print(f"{found['total']} counterparties / контрагентов")


@segments_app.command("delete")
def segments_delete(
    ctx: typer.Context,
    segment: Annotated[str, typer.Argument(help="The segment's name or id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a segment (offline; sent with the next sync). Asks first unless --yes."""
    with opened(ctx) as replica:
        found = replica.segment_detail(segment, limit=1)
        if not yes and not typer.confirm(
            f"Delete segment {found['name']!r}? / Удалить сегмент?", default=False
        ):
            console.print("nothing deleted / ничего не удалено")
            raise typer.Exit(1)
        replica.delete("segments", found["id"])
    console.print(f"deleted {found['id']} (sent with the next sync)")


@interactions_app.command("write")
def letter_write(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="The letter's subject.")],
    counterparty: Annotated[str, typer.Option("--counterparty", "-c", help="Counterparty id.")],
    to: Annotated[list[str], typer.Option("--to", help="Recipient address (repeatable).")],
    body: Annotated[
        str | None,
        typer.Option(
            help="The text; merge fields such as {{contact.first_name}} "
            "are filled in when the server sends it."
        ),
    ] = None,
    body_file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Read the text from this UTF-8 file."),
    ] = None,
    cc: Annotated[list[str] | None, typer.Option("--cc", help="Copy to (repeatable).")] = None,
    person: Annotated[str | None, typer.Option(help="Contact person id.")] = None,
    reply_to: Annotated[
        str | None, typer.Option(help="Id of the letter (interaction) this one answers.")
    ] = None,
) -> None:
    """Write a letter, offline too: the server sends it after the next sync. / Написать письмо."""
    text = body_file.read_text(encoding="utf-8") if body_file else (body or "")
    participants = [{"role": "to", "address": a} for a in to] + [
        {"role": "cc", "address": a} for a in cc or []
    ]
    with opened(ctx) as replica:
        record = replica.create(
            "interactions",
            {
                "subject": subject,
                "counterparty_id": counterparty,
                "contact_person_id": person,
                "kind": "letter",
                "direction": "outgoing",
                "status": "planned",
                "starts_at": _now_iso(),
                "notes": text,
                "participants": participants,
                "reply_to_id": reply_to,
                "mail_status": "queued",
            },
        )
    console.print(
        f"letter {record['id']} queued: the server sends it after the next sync "
        "/ письмо будет отправлено после синхронизации"
    )


@reminders_app.command("add")
def reminder_add(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What to do.")],
    due: Annotated[
        str, typer.Option(help="Due time, ISO 8601 with offset, e.g. 2026-11-25T10:00:00+03:00.")
    ],
    about: Annotated[
        str | None,
        typer.Option(
            help="What it is about, as TYPE:ID (counterparty, contact_person, interaction, deal)."
        ),
    ] = None,
    notes: Annotated[str | None, typer.Option(help="Notes.")] = None,
    field: FieldOpt = None,
) -> None:
    """Add a reminder for yourself."""
    subject_type, _, subject_id = (about or "").partition(":")
    with opened(ctx) as replica:
        _created(
            replica,
            "reminders",
            _fields(
                field,
                title=title,
                due_at=due,
                notes=notes,
                subject_type=subject_type or None,
                subject_id=subject_id or None,
            ),
        )


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


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COLUMNS", "120")
    app()


report_app = typer.Typer(
    help="Reports over your clients, offline: ABC/XYZ, the matrix, RFM, neglected clients, the "
    "deals funnel, lost reasons, sources, activity, events, completeness, receivables. / "
    "Отчёты по вашим клиентам без сети.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


@report_app.command("show")
def report_show(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="abc, matrix, rfm, neglected, due, funnel, lost, closed, sources, activity, "
            "events, completeness, completeness-owners, receivables or receivables-owners."
        ),
    ],
    starts: Annotated[
        str | None,
        typer.Option("--from", help="First month (YYYY-MM-DD); default: 12 full months back."),
    ] = None,
    ends: Annotated[
        str | None, typer.Option("--to", help="Last month (YYYY-MM-DD); default: last month.")
    ] = None,
    basis: Annotated[str, typer.Option(help="revenue or profit (ABC).")] = "revenue",
    group: Annotated[str | None, typer.Option(help="Only this product group.")] = None,
    days: Annotated[
        int, typer.Option(min=1, help="neglected: no contact for this many days.")
    ] = 60,
    owner: Annotated[
        str | None,
        typer.Option(
            help="funnel, lost, closed, sources, activity, due, completeness, receivables: only "
            "this salesperson (a login); events: only their events."
        ),
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            help="completeness: the rules to judge by, comma-separated, each with an optional "
            "weight (inn:30,phone); default every rule."
        ),
    ] = None,
    sort: Annotated[
        str, typer.Option(help="completeness: score (the worst first), -score or name.")
    ] = "score",
    segment: Annotated[
        str | None,
        typer.Option(
            help="Only the clients of this saved segment (its name or id; satchel-field "
            "segments list)."
        ),
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Also write the report to this .xlsx or .csv file.")
    ] = None,
    as_json: ReportJsonOpt = False,
) -> None:
    """Show a report over the clients on this laptop (the server's rules, the synced sales)."""
    from datetime import date

    from crm import analytics
    from crm.console import fail, show_report
    from crm.reports import COMPLETENESS, PIPELINE, RECEIVABLES, period

    known = ("abc", "matrix", "rfm", "neglected", "due", *PIPELINE, *COMPLETENESS, *RECEIVABLES)
    if name not in known:
        fail(f"the report is one of {', '.join(known)}", 2)
    if basis not in analytics.BASES:
        fail(f"--basis is one of {', '.join(analytics.BASES)}", 2)
    try:
        chosen = period(starts, ends, date.today())
    except ValueError as exc:
        fail(str(exc), 2)
    if group is not None and len(group) > 200:
        fail("--group is a product group's name, up to 200 characters", 2)
    with opened(ctx) as replica:
        try:
            report = replica.report(
                name,
                *chosen,
                basis=basis,
                product_group=group,
                days=days,
                owner=owner,
                rules=rules,
                sort=sort,
                segment=segment,
            )
        except ValueError as exc:
            said = str(exc)
            fail(
                f"--{said}"
                if said.startswith(("rules", "sort"))
                else said.replace("owner", "--owner", 1),
                2,
            )
    show_report(report, as_json=as_json, export=export)
