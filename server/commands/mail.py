"""``satchel mail …``: the bridge worker, its status, suggestions, the outbox, letter templates.

Mailboxes (``mail mailbox``) and the review queue (``mail review``) have modules of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from crm.console import ZONE_LABEL, JsonOpt, console, err, listing, print_json, reporting
from crm.console import when as _when
from server.commands import mailboxes, opening, reviews
from server.commands.opening import ConfigOpt, load_config, open_db, writing

if TYPE_CHECKING:
    from types import ModuleType

mail_app = typer.Typer(
    help="Mail bridge: mailboxes, the worker that files letters and sends the outbox, "
    "its status, the review queue. / Почта: ящики, разбор писем, отправка.",
    no_args_is_help=True,
)
template_app = typer.Typer(
    help="Letter templates with merge fields such as {{contact.first_name}}.", no_args_is_help=True
)
mail_app.add_typer(mailboxes.mailbox_app, name="mailbox")
mail_app.add_typer(reviews.review_app, name="review")
mail_app.add_typer(template_app, name="template")


# ``crm.models.enums.MailStatus.QUEUED``, spelt out: importing that loads the whole model.
# tests/server/test_listings.py checks that the two agree.
QUEUED = "queued"


def when(moment: Any) -> str:
    """A time in a listing: ``2026-12-02 04:07``, Moscow time (crm.console.when)."""
    return _when(moment)


def _summary(report: Any, secrets: Mapping[str, str] | None = None) -> str:
    """One mailbox's line: what was read and filed; a mailbox that failed says why on it
    (``sales: cannot reach imap.yandex.ru:993: …``), never with its password."""
    if getattr(report, "skipped", False):
        by = getattr(report, "held_by", None)
        return (
            f"{report.mailbox}: being read by another worker ({by or 'satchel mail run elsewhere'}) / "
            "его читает другой обработчик"
        )
    away = sum(sum(f.classified.values()) for f in report.folders)
    text = (
        f"{report.mailbox}: {report.total('fetched')} read, {report.total('filed')} filed, "
        f"{report.total('review')} to review, {report.total('duplicates')} already known, {away} not business"
    )
    if report.total("errors"):
        text += f", {report.total('errors')} failed (in review)"
    if report.total("from_review"):
        text += (
            f", {report.total('from_review')} waiting in review filed with the letters they answer"
        )
    if report.error:
        error = _unsecret(str(report.error), (secrets or {}).get(report.mailbox))
        if report.total("fetched"):
            return f"{text}; then stopped: {error}"
        return f"{report.mailbox}: {error}"
    return text


def _unsecret(text: str, secret: str | None) -> str:
    """``text`` with a mailbox's password (or token) blotted out, should a server have echoed it."""
    return text.replace(secret, "***") if secret and len(secret) >= 3 else text


def _secrets(bridge_: ModuleType, database: Any, cfg: Any) -> dict[str, str]:
    """Every mailbox's password, by name: only to keep them out of the messages printed."""
    found: dict[str, str] = {}
    with database.read() as session:
        boxes = bridge_.mailboxes(session)
    try:
        box = bridge_.secret_box(cfg)
    except Exception:  # noqa: BLE001 - no key, no passwords to read: none can be shown either
        return found
    for b in boxes:
        try:
            if b.secret:
                found[b.name] = box.decrypt(b.secret)
        except Exception:  # noqa: BLE001 - an undecryptable password cannot be shown either
            pass
    return found


def _line(report: Any, secrets: Mapping[str, str]) -> None:
    """Print a mailbox's summary; one that failed in red, on standard error too when it is not
    a terminal (so that a cron job's mail or a log shows it whatever is kept)."""
    line = _summary(report, secrets)
    if report.error:
        console.print(f"[red]{escape(line)}[/red]", soft_wrap=True)
    else:
        console.print(escape(line), soft_wrap=True)


def _run_once(bridge_: ModuleType, database: Any, cfg: Any, mailbox: str | None) -> list[Any]:
    """One pass with a progress bar per folder, labelled ``mailbox/folder``; the reports."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from mail import leases, outbox

    with database.read() as session:
        names = (
            [bridge_.find_mailbox(session, mailbox).name]
            if mailbox
            else [b.name for b in bridge_.mailboxes(session) if b.enabled]
        )
    reports: list[Any] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        tasks: dict[str, Any] = {}
        for name in names:

            def progress(folder: str, done: int, total: int, box: str = name) -> None:
                label = f"{box}/{folder}"
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            # One mailbox at a time: the bridge's progress names only the folder.
            reports += bridge_.run_once(database, cfg, mailbox=name, progress=progress, send=False)
    # The outbox is sent by one worker at a time (mail.leases): if a running bridge has it, it is.
    worker = leases.Worker()
    try:
        sent = outbox.send_due(database, cfg, worker=worker)
    finally:
        worker.release(database, leases.OUTBOX)
    if sent.skipped:
        err.print(
            "the outbox is being sent by another worker (satchel mail run elsewhere) / "
            "исходящие отправляет другой обработчик"
        )
    return reports


@mail_app.command("run")
def mail_run(
    once: Annotated[
        bool, typer.Option("--once", help="One pass over every mailbox and the outbox, then exit.")
    ] = False,
    mailbox: Annotated[str | None, typer.Option(help="Only this mailbox (with --once).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Run the mail bridge in the foreground: file new letters, send the outbox. Ctrl-C stops it."""
    import logging
    import signal
    import threading

    from server import logs

    mail_bridge = opening.mail_bridge()
    cfg = load_config(config)
    logs.configure(cfg.log_level)  # letters are full of addresses; the log must not be
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with reporting():
        database = open_db(cfg)
        secrets = _secrets(mail_bridge, database, cfg)
        if once:
            reports = _run_once(mail_bridge, database, cfg, mailbox)
            for report in reports:
                _line(report, secrets)
            failed = [r.mailbox for r in reports if r.error]
            if failed:
                err.print(
                    f"[red]error:[/red] {len(failed)} of {len(reports)} mailbox(es) failed: "
                    f"{', '.join(failed)} / не удалось прочитать ящики: {', '.join(failed)}"
                )
                raise typer.Exit(1)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(
            "mail bridge running; Ctrl-C stops it / почтовый мост работает; Ctrl-C — остановить"
        )
        try:
            mail_bridge.serve(
                database,
                cfg,
                stop=stop,
                on_report=lambda r: _line(r, secrets) if r.total("fetched") or r.error else None,
            )
        except KeyboardInterrupt:
            stop.set()


def _status(connection: Any) -> tuple[list[Any], list[Any], int, dict[str, int]]:
    """What ``mail status`` shows, read as ``mail.bridge.outbox_counts`` reads the outbox but
    through Core (server.commands.listings), without the bridge's IMAP, matching and models:
    (mailboxes by name, their folders by mailbox name and folder, letters waiting in review,
    outgoing letters by state — one written and not yet in the outbox counts as queued)."""
    from sqlalchemy import func, select

    from server.commands.listings import INTERACTION, MAIL_FOLDER, MAIL_OUTBOX, MAIL_REVIEW, MAILBOX

    boxes = list(
        connection.execute(
            select(MAILBOX.c.id, MAILBOX.c.name, MAILBOX.c.last_error).order_by(MAILBOX.c.name)
        )
    )
    # A folder of a mailbox gone (there is a foreign key: none should be) shows its mailbox's id.
    mailbox = func.coalesce(MAILBOX.c.name, MAIL_FOLDER.c.mailbox_id)
    folders = list(
        connection.execute(
            select(
                mailbox.label("mailbox"),
                MAIL_FOLDER.c.name,
                MAIL_FOLDER.c.role,
                MAIL_FOLDER.c.uidvalidity,
                MAIL_FOLDER.c.last_uid,
                MAIL_FOLDER.c.counts,
                MAIL_FOLDER.c.last_run_at,
                MAIL_FOLDER.c.last_error,
            )
            .select_from(MAIL_FOLDER.outerjoin(MAILBOX, MAILBOX.c.id == MAIL_FOLDER.c.mailbox_id))
            .order_by(mailbox, MAIL_FOLDER.c.name)
        )
    )
    waiting = connection.execute(
        select(func.count()).select_from(MAIL_REVIEW).where(MAIL_REVIEW.c.status == "open")
    ).scalar_one()
    outbox: dict[str, int] = {
        state: count
        for state, count in connection.execute(
            select(MAIL_OUTBOX.c.state, func.count()).group_by(MAIL_OUTBOX.c.state)
        )
    }
    written = connection.execute(
        select(func.count())
        .select_from(INTERACTION)
        .where(
            INTERACTION.c.mail_status == QUEUED,
            ~INTERACTION.c.id.in_(select(MAIL_OUTBOX.c.interaction_id)),
        )
    ).scalar_one()
    if written:
        outbox[QUEUED] = outbox.get(QUEUED, 0) + written
    return boxes, folders, int(waiting), outbox


@mail_app.command("status")
def mail_status(
    config: ConfigOpt = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the folders, review and outbox as one JSON object."),
    ] = False,
) -> None:
    """Per folder: cursor, filed, not business (by kind), in review, errors; and the outbox."""
    from rich.table import Table

    with opening.peeking(config) as connection:
        boxes, folders, waiting, outbox = _status(connection)
    rows = []
    for f in folders:
        counts = dict(f.counts)
        main = {k: counts.pop(k, 0) for k in ("filed", "review", "duplicates", "errors")}
        rows.append(
            {
                "mailbox": f.mailbox,
                "folder": f.name,
                "role": f.role,
                "uidvalidity": f.uidvalidity,
                "last_uid": f.last_uid,
                "filed": main["filed"],
                "not_business": dict(sorted(counts.items())),
                "review": main["review"],
                "known": main["duplicates"],
                "errors": main["errors"],
                "last_run": f.last_run_at,
                "last_error": f.last_error,
            }
        )
    if as_json:
        summary = {
            "folders": rows,
            "mailbox_errors": {b.name: b.last_error for b in boxes if b.last_error},
            "waiting_in_review": waiting,
            "outbox": dict(sorted(outbox.items())),
        }
        print_json(summary)
        return
    table = Table(
        "mailbox",
        "folder",
        "role",
        "UIDVALIDITY",
        "last UID",
        "filed",
        "not business",
        "review",
        "known",
        "errors",
        f"last run ({ZONE_LABEL})",
        "last error",
    )
    for r in rows:
        away = ", ".join(f"{k} {v}" for k, v in r["not_business"].items()) or "0"
        table.add_row(
            r["mailbox"],
            r["folder"],
            r["role"],
            str(r["uidvalidity"] or ""),
            str(r["last_uid"]),
            str(r["filed"]),
            away,
            str(r["review"]),
            str(r["known"]),
            str(r["errors"]),
            when(r["last_run"]),
            r["last_error"] or "",
        )
    listing(table, rows)
    for b in boxes:
        if b.last_error:
            err.print(f"[red]{b.name}:[/red] {b.last_error}")
    console.print(f"{waiting} letter(s) waiting in review / писем ждут разбора")
    console.print(
        "outbox: " + (", ".join(f"{state} {n}" for state, n in sorted(outbox.items())) or "empty")
    )


@mail_app.command("suggestions")
def mail_suggestions(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Unknown addresses on filed letters: candidates for new contact persons."""
    from rich.table import Column, Table
    from sqlalchemy import select

    from server.commands.listings import COUNTERPARTY, MAIL_SUGGESTION

    # Through Core (server.commands.listings), as mail.bridge.list_suggestions reads them: the
    # open ones, the most letters first, at most 500; each with its counterparty's name.
    with opening.peeking(config) as connection:
        items = list(
            connection.execute(
                select(MAIL_SUGGESTION)
                .where(MAIL_SUGGESTION.c.status == "open")
                .order_by(MAIL_SUGGESTION.c.letters.desc())
                .limit(500)
            )
        )
        wanted = {s.counterparty_id for s in items}
        found = (
            {
                cp.id: cp.short_name or cp.legal_name
                for cp in connection.execute(
                    select(
                        COUNTERPARTY.c.id, COUNTERPARTY.c.short_name, COUNTERPARTY.c.legal_name
                    ).where(COUNTERPARTY.c.id.in_(wanted))
                )
            }
            if wanted
            else {}
        )
        rows = [
            {
                "id": s.id,
                "address": s.address,
                "name": s.name,
                "counterparty": found.get(s.counterparty_id, s.counterparty_id),
                "counterparty_id": s.counterparty_id,
                "letters": s.letters,
            }
            for s in items
        ]
    table = Table(
        Column("id", no_wrap=True, min_width=36),
        "address",
        "name",
        "counterparty",
        Column("counterparty id", no_wrap=True, min_width=36),
        "letters",
    )
    for r in rows:
        table.add_row(
            r["id"],
            r["address"],
            r["name"],
            r["counterparty"],
            r["counterparty_id"],
            str(r["letters"]),
        )
    listing(table, rows, as_json=as_json)


@mail_app.command("retry")
def mail_retry(interaction_id: str, config: ConfigOpt = None) -> None:
    """Send a failed or uncertain letter again (same Message-ID). Make sure it did not arrive first."""
    from mail import outbox

    opening.mail_bridge()
    cfg = load_config(config)
    with reporting():
        outbox.retry(open_db(cfg), interaction_id)
    console.print(f"letter {interaction_id} queued again; `satchel mail run` sends it")


@template_app.command("add")
def template_add(
    name: str,
    subject: Annotated[str, typer.Option(help="Subject; may hold merge fields.")],
    body_file: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="UTF-8 text file with the body.")
    ],
    config: ConfigOpt = None,
) -> None:
    """Add a letter template. Merge fields: {{counterparty.name}}, {{contact.first_name}}, {{salesperson.name}}…"""
    from crm import rules
    from crm.errors import ValidationFailed
    from crm.models import LetterTemplate, User

    body = body_file.read_text(encoding="utf-8")
    with writing(config) as session:
        # Written as the records service would (the change log takes it to every laptop), by the system.
        template = LetterTemplate(name=name, subject=subject, body=body)
        try:
            rules.run_check(
                rules.check_letter_template,
                session,
                User(login="satchel", full_name="satchel", role="admin"),
                template,
            )
        except ValidationFailed as exc:
            raise ValidationFailed("the template is not valid", details=exc.details) from exc
        session.add(template)
    console.print(f"template {name} added")


@template_app.command("list")
def template_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List letter templates."""
    from rich.table import Table
    from sqlalchemy import select

    from server.commands.listings import LETTER_TEMPLATE

    with opening.peeking(config) as connection:
        rows = [
            {"name": t.name, "subject": t.subject, "body": t.body}
            for t in connection.execute(select(LETTER_TEMPLATE).order_by(LETTER_TEMPLATE.c.name))
        ]
    table = Table("name", "subject", "body")
    for r in rows:
        table.add_row(
            r["name"], r["subject"], r["body"][:60] + ("…" if len(r["body"]) > 60 else "")
        )
    listing(table, rows, as_json=as_json)
