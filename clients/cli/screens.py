"""``satchel-field ui``: Satchel in the browser, on this computer only, over the replica and syncing
in the background; ``shortcut``: a desktop and menu entry that runs it."""

from __future__ import annotations

import sys
import zoneinfo
from pathlib import Path
from typing import Annotated, Any

import typer

from clients.profiles import Profiles
from crm import console as terminal
from crm.console import console

from .common import _http


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

    from clients import cli  # the package: its opened and LaptopHome, or a test's stand-ins
    from clients.background import BackgroundSync
    from clients.web_home import create_app as create_ui
    from clients.web_home import launch_url

    home_type: Any = cli.LaptopHome  # through the package's __getattr__: imported now
    with cli.opened(ctx) as replica:
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
    icon = Path(__file__).resolve().parents[2] / "web" / "static" / "favicon.svg"
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


def register(app: typer.Typer) -> None:
    """Put the commands on ``app``, in the order ``satchel-field --help`` lists them."""
    app.command()(ui)
    app.command()(shortcut)
