"""What every ``satchel-field`` command shares: the replica opened (its key from the vault, a
passphrase asked when there is no keyring), the laptop's errors as exit codes, the server's HTTP
client, and the options and output of the record commands.

The replica, the database and httpx are imported when a command opens them, not when
``satchel-field`` starts. The underscored helpers are this package's own: the topic modules
share them, nothing outside ``clients.cli`` should.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from clients import vault
from clients.profiles import Profiles
from crm import console as terminal
from crm.console import clip, console, err, listing, print_json

if TYPE_CHECKING:
    import httpx

    from clients.replica import Replica

ObjectJsonOpt = Annotated[bool, typer.Option("--json", help="Print it as one JSON object.")]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--field", "-f", help="Any field as name=value (repeatable); lists and objects as JSON."
    ),
]


def sync_exit_codes() -> dict[type[Exception], int]:
    """The laptop's own errors as exit codes; the domain's are in crm.console.EXIT_CODES."""
    from clients.agent import NotLoggedIn, Offline, ServerRefused, SyncError, UpgradeRequired

    return {SyncError: 1, NotLoggedIn: 6, Offline: 7, UpgradeRequired: 8, ServerRefused: 9}


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


def _id_column() -> Column:
    return Column("id", no_wrap=True, min_width=36)


def _value(raw: str) -> Any:
    """A command-line value: JSON when it reads as a list or object, else the text as typed."""
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw


def _fields(pairs: list[str] | None, **named: Any) -> dict[str, Any]:
    data = {k: v for k, v in named.items() if v is not None}
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep:
            err.print(f"[red]error:[/red] --field wants name=value, got {pair!r}")
            raise typer.Exit(3)
        data[name.strip()] = _value(raw)
    return data


def _show(record: dict[str, Any], *, as_json: bool = False) -> None:
    if as_json:
        print_json(record)
        return
    table = Table("field", "value", show_header=False)
    for name, value in record.items():
        table.add_row(name, clip(value, 100))
    listing(table, [record])


def _created(replica: Replica, type_name: str, data: dict[str, Any]) -> None:
    record = replica.create(type_name, data)
    console.print(f"created {record['id']} (sent with the next sync)")
