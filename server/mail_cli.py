"""``satchel mail …``: mailboxes, the bridge worker, its status, the review queue, the outbox."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from calendar_bridge import invitations
from crm import accounts
from mail import invites
from server import logs
from server.cli import ConfigOpt, _password, console, err, load_config, open_db, reporting, writing

# Meetings go out as iTIP invitations and their answers come back through the mail bridge.
invites.use(invitations)  # type: ignore[arg-type]

mail_app = typer.Typer(help="Mail bridge: mailboxes, the worker that files letters and sends the outbox, "
                            "its status, the review queue. / Почта: ящики, разбор писем, отправка.",
                       no_args_is_help=True)
mailbox_app = typer.Typer(help="Add, list, test mailboxes; change their passwords.", no_args_is_help=True)
review_app = typer.Typer(help="Letters the bridge could not file with certainty: list and settle them.",
                         no_args_is_help=True)
template_app = typer.Typer(help="Letter templates with merge fields such as {{contact.first_name}}.",
                           no_args_is_help=True)
mail_app.add_typer(mailbox_app, name="mailbox")
mail_app.add_typer(review_app, name="review")
mail_app.add_typer(template_app, name="template")

Multi = list[str] | None


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@mailbox_app.command("add")
def mailbox_add(
    name: Annotated[str, typer.Argument(help="A name for the list, e.g. 'sales' or 'ivanov'.")],
    address: Annotated[str, typer.Option(help="The mailbox's email address.")],
    imap_host: Annotated[str, typer.Option(help="IMAP server, e.g. imap.yandex.ru.")],
    imap_port: Annotated[int | None, typer.Option(help="IMAP port (993 for ssl, 143 otherwise).")] = None,
    imap_security: Annotated[str, typer.Option(help="ssl, starttls or plain (plain only on localhost).")] = "ssl",
    login: Annotated[str | None, typer.Option(help="IMAP/SMTP login; default: the address.")] = None,
    password: Annotated[str | None, typer.Option(help="Password; asked for when neither it nor --oauth-token "
                                                      "is given. Stored encrypted.")] = None,
    oauth_token: Annotated[str | None, typer.Option(help="An XOAUTH2 access token instead of a password.")] = None,
    smtp_host: Annotated[str | None, typer.Option(help="SMTP server for sending, e.g. smtp.yandex.ru.")] = None,
    smtp_port: Annotated[int | None, typer.Option(help="SMTP port (465 for ssl, 587 for starttls).")] = None,
    smtp_security: Annotated[str, typer.Option(help="ssl, starttls or plain.")] = "ssl",
    owner: Annotated[str | None, typer.Option(help="Login of the salesperson whose own box this is.")] = None,
    provider_saves_sent: Annotated[bool, typer.Option(help="The provider files sent letters in Sent itself "
                                                            "(Gmail, Yandex): no copy is appended.")] = False,
    folder: Annotated[Multi, typer.Option(help="Read only this folder (repeatable); default: all but "
                                               "Junk, Trash and Drafts.")] = None,
    private_address: Annotated[Multi, typer.Option(help="Letters with this address are private (repeatable).")] = None,
    private_domain: Annotated[Multi, typer.Option(help="Letters with this domain are private (repeatable).")] = None,
    private_folder: Annotated[Multi, typer.Option(help="Letters in this folder are private (repeatable).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Configure a mailbox to read (and send from, with --smtp-host)."""
    from mail import bridge

    cfg = load_config(config)
    if password is None and oauth_token is None:
        password = _password(None)
    with writing(config) as session:
        box = bridge.add_mailbox(
            session, cfg, name=name, address=address, imap_host=imap_host, imap_port=imap_port,
            imap_security=imap_security, login=login, password=password, oauth_token=oauth_token,
            smtp_host=smtp_host, smtp_port=smtp_port, smtp_security=smtp_security, owner=owner,
            provider_saves_sent=provider_saves_sent, folders=folder, private_addresses=private_address,
            private_domains=private_domain, private_folders=private_folder)
        console.print(f"mailbox {box.name} ({box.address}) added; check it with `satchel mail mailbox test {box.name}`")


@mailbox_app.command("list")
def mailbox_list(config: ConfigOpt = None) -> None:
    """List mailboxes (never their passwords)."""
    from mail import bridge

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            boxes, _folders, _waiting = bridge.status(session)
            table = Table("name", "address", "kind", "imap", "smtp", "enabled", "last run", "last error")
            for b in boxes:
                table.add_row(b.name, b.address, b.kind, f"{b.imap_host}:{b.imap_port} {b.imap_security}",
                              f"{b.smtp_host}:{b.smtp_port}" if b.smtp_host else "—", "yes" if b.enabled else "no",
                              _when(b.last_run_at) or "never", b.last_error or "")
    console.print(table)


@mailbox_app.command("test")
def mailbox_test(name: str, config: ConfigOpt = None) -> None:
    """Log in and list the folders the bridge would read. Exit code 1 when that fails."""
    from mail import bridge

    cfg = load_config(config)
    with reporting():
        check = bridge.test_mailbox(open_db(cfg), cfg, name)
    if not check.ok:
        err.print(f"[red]cannot use mailbox {name}:[/red] {check.message}")
        raise typer.Exit(1)
    console.print(check.message)
    table = Table("folder", "role")
    for folder_name, role in check.folders:
        table.add_row(folder_name, role)
    console.print(table)


@mailbox_app.command("password")
def mailbox_password(name: str, password: Annotated[str | None, typer.Option(help="The new password.")] = None,
                     config: ConfigOpt = None) -> None:
    """Replace a mailbox's password (stored encrypted)."""
    from mail import bridge

    cfg = load_config(config)
    secret = _password(password)
    with writing(config) as session:
        box = bridge.find_mailbox(session, name)
        box.secret = bridge.secret_box(cfg).encrypt(secret)
        box.auth = "password"
    console.print(f"password of mailbox {name} changed")


@mailbox_app.command("enable")
def mailbox_enable(name: str, config: ConfigOpt = None) -> None:
    """Read this mailbox again."""
    from mail import bridge

    with writing(config) as session:
        bridge.find_mailbox(session, name).enabled = True
    console.print(f"mailbox {name} enabled")


@mailbox_app.command("disable")
def mailbox_disable(name: str, config: ConfigOpt = None) -> None:
    """Stop reading this mailbox; what was filed stays."""
    from mail import bridge

    with writing(config) as session:
        bridge.find_mailbox(session, name).enabled = False
    console.print(f"mailbox {name} disabled")


def _summary(report: Any) -> str:
    away = sum(sum(f.classified.values()) for f in report.folders)
    text = (f"{report.mailbox}: {report.total('fetched')} read, {report.total('filed')} filed, "
            f"{report.total('review')} to review, {report.total('duplicates')} already known, {away} not business")
    if report.total("errors"):
        text += f", {report.total('errors')} failed (in review)"
    return text


@mail_app.command("run")
def mail_run(
    once: Annotated[bool, typer.Option("--once", help="One pass over every mailbox and the outbox, then exit.")] = False,
    mailbox: Annotated[str | None, typer.Option(help="Only this mailbox (with --once).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Run the mail bridge in the foreground: file new letters, send the outbox. Ctrl-C stops it."""
    import logging

    from mail import bridge

    cfg = load_config(config)
    logs.configure(cfg.log_level)  # letters are full of addresses; the log must not be
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with reporting():
        database = open_db(cfg)
        if once:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=err) as bar:
                tasks: dict[str, Any] = {}

                def progress(folder: str, done: int, total: int) -> None:
                    if folder not in tasks:
                        tasks[folder] = bar.add_task(folder, total=total)
                    bar.update(tasks[folder], completed=done, total=total)

                reports = bridge.run_once(database, cfg, mailbox=mailbox, progress=progress)
            failed = False
            for report in reports:
                console.print(_summary(report))
                if report.error:
                    err.print(f"[red]{report.mailbox}:[/red] {report.error}")
                    failed = True
            if failed:
                raise typer.Exit(1)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print("mail bridge running; Ctrl-C stops it / почтовый мост работает; Ctrl-C — остановить")
        try:
            bridge.serve(database, cfg, stop=stop, on_report=lambda r: console.print(_summary(r))
                         if r.total("fetched") or r.error else None)
        except KeyboardInterrupt:
            stop.set()


@mail_app.command("status")
def mail_status(config: ConfigOpt = None) -> None:
    """Per folder: cursor, filed, not business (by kind), in review, errors; and the outbox."""
    from mail import bridge

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            boxes, folders, waiting = bridge.status(session)
            outbox = bridge.outbox_counts(session)
    table = Table("mailbox", "folder", "role", "UIDVALIDITY", "last UID", "filed", "not business", "review",
                  "known", "errors", "last run", "last error")
    for f in folders:
        counts = dict(f.counts)
        main = {k: counts.pop(k, 0) for k in ("filed", "review", "duplicates", "errors")}
        away = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "0"
        table.add_row(f.mailbox, f.folder, f.role, str(f.uidvalidity or ""), str(f.last_uid), str(main["filed"]), away,
                      str(main["review"]), str(main["duplicates"]), str(main["errors"]),
                      _when(f.last_run_at), f.last_error or "")
    console.print(table)
    for b in boxes:
        if b.last_error:
            err.print(f"[red]{b.name}:[/red] {b.last_error}")
    console.print(f"{waiting} letter(s) waiting in review / писем ждут разбора")
    console.print("outbox: " + (", ".join(f"{state} {n}" for state, n in sorted(outbox.items())) or "empty"))


@review_app.command("list")
def review_list(
    all_: Annotated[bool, typer.Option("--all", help="Settled ones too.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Letters waiting for a person to say whose they are."""
    from mail import bridge

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            items = bridge.list_reviews(session, status_=None if all_ else "open", limit=500)
    table = Table(Column("id", no_wrap=True, min_width=36), "received", "from", "subject", "why", "candidates",
                  "status")
    for r in items:
        table.add_row(r.id, _when(r.received_at), r.sender, r.subject, f"{r.reason}: {r.detail}",
                      ", ".join(r.candidates), r.status)
    console.print(table)


@review_app.command("settle")
def review_settle(
    review_id: str,
    as_login: Annotated[str, typer.Option("--as", help="Settle as this user: they must see the counterparty.")],
    counterparty: Annotated[str | None, typer.Option(help="File under this counterparty (id).")] = None,
    contact_person: Annotated[str | None, typer.Option(help="And this contact person (id).")] = None,
    dismiss: Annotated[bool, typer.Option(help="Not a letter for any client: never file it.")] = False,
    config: ConfigOpt = None,
) -> None:
    """File a waiting letter under a counterparty, or dismiss it."""
    from mail import bridge

    cfg = load_config(config)
    with reporting():
        database = open_db(cfg)
        with database.read() as session:
            actor = accounts.find_user(session, as_login)
        review = bridge.settle_review(database, cfg, review_id, actor, counterparty_id=counterparty,
                                      contact_person_id=contact_person, dismiss=dismiss)
    console.print(f"letter {review.id}: {review.status}" + (f" as interaction {review.interaction_id}"
                                                             if review.interaction_id else ""))


@review_app.command("rematch")
def review_rematch(config: ConfigOpt = None) -> None:
    """Match the waiting letters again, e.g. after adding contact persons or importing clients."""
    from mail import bridge

    cfg = load_config(config)
    with reporting():
        filed, waiting = bridge.rematch_reviews(open_db(cfg), cfg)
    console.print(f"{filed} letter(s) filed, {waiting} still waiting / разобрано {filed}, ждут {waiting}")


@mail_app.command("suggestions")
def mail_suggestions(config: ConfigOpt = None) -> None:
    """Unknown addresses on filed letters: candidates for new contact persons."""
    from crm.models import Counterparty
    from mail import bridge

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            items = bridge.list_suggestions(session, limit=500)
            names = {s.counterparty_id: (cp.short_name or cp.legal_name) if (cp := session.get(Counterparty,
                     s.counterparty_id)) else s.counterparty_id for s in items}
    table = Table("address", "name", "counterparty", Column("counterparty id", no_wrap=True, min_width=36),
                  "letters")
    for s in items:
        table.add_row(s.address, s.name, names[s.counterparty_id], s.counterparty_id, str(s.letters))
    console.print(table)


@mail_app.command("retry")
def mail_retry(interaction_id: str, config: ConfigOpt = None) -> None:
    """Send a failed or uncertain letter again (same Message-ID). Make sure it did not arrive first."""
    from mail import outbox

    cfg = load_config(config)
    with reporting():
        outbox.retry(open_db(cfg), interaction_id)
    console.print(f"letter {interaction_id} queued again; `satchel mail run` sends it")


@template_app.command("add")
def template_add(
    name: str,
    subject: Annotated[str, typer.Option(help="Subject; may hold merge fields.")],
    body_file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="UTF-8 text file with the body.")],
    config: ConfigOpt = None,
) -> None:
    """Add a letter template. Merge fields: {{counterparty.name}}, {{contact.first_name}}, {{salesperson.name}}…"""
    from mail.models import MailTemplate

    body = body_file.read_text(encoding="utf-8")
    with writing(config) as session:
        session.add(MailTemplate(name=name, subject=subject, body=body))
    console.print(f"template {name} added")


@template_app.command("list")
def template_list(config: ConfigOpt = None) -> None:
    """List letter templates."""
    from sqlalchemy import select

    from mail.models import MailTemplate

    with reporting():
        database = open_db(load_config(config))
        with database.read() as session:
            items = list(session.execute(select(MailTemplate).order_by(MailTemplate.name)).scalars())
    table = Table("name", "subject", "body")
    for t in items:
        table.add_row(t.name, t.subject, t.body[:60] + ("…" if len(t.body) > 60 else ""))
    console.print(table)
