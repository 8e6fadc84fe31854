"""Backups of the server's database, and restoring one so that laptops recover by themselves.

SQLite: the online backup API copies a consistent snapshot while the server runs
(readers and the writer go on). PostgreSQL: ``pg_dump --format=custom`` and
``pg_restore --clean``, the engine's own tools.

A restored database is older than what the laptops have seen: their pull
cursors point past its data version, and versions handed out after the restore
would reuse numbers they already hold. ``restore`` therefore starts a new epoch:
the data version jumps far past any cursor the old database gave out, and the
tombstone horizon moves there too, so every laptop is told to push its outbox and
bootstrap again (DESIGN sync invariant 6) instead of trusting a cursor from a
future that never happened.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlmodel import col

from crm import changes
from crm.database import Database
from crm.errors import AlreadyExists, SatchelError
from crm.models.base import utcnow

log = logging.getLogger(__name__)

# Far beyond the writes a company makes between a backup and its restore (versions rise
# by one per transaction), and far below the 2^63 of a BIGINT.
EPOCH_GAP = 1_000_000_000


class BackupFailed(SatchelError):
    """A backup or restore could not be made; the message says why. Nothing was replaced."""

    code = "backup_failed"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory database has nothing to back up")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for ``url`` (without the driver suffix), and the environment with its password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(tool: str, args: list[str], env: dict[str, str]) -> None:
    if shutil.which(tool) is None:
        raise BackupFailed(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run([tool, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupFailed(f"{tool} failed: {done.stderr.strip()[-500:]}")


def backup(database: Database, target: Path) -> None:
    """Write a consistent copy of ``database`` to ``target`` (readable by its owner only)."""
    target = Path(target)
    if target.exists():
        raise AlreadyExists(f"{target} exists already; choose a new file name")
    if database.dialect == "sqlite":
        path = _sqlite_path(database.url)
        if not path.exists() or not _has_data_version(path):
            raise BackupFailed(
                f"{path} holds no Satchel database; is SATCHEL_DATA_DIR or "
                "SATCHEL_DATABASE_URL (or --config) the server's? (the demo lives in <data_dir>/demo)"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT, 0o600))
    try:
        if database.dialect == "sqlite":
            source = sqlite3.connect(_sqlite_path(database.url))
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
        else:
            dsn, env = _libpq(database.url)
            _run(
                "pg_dump",
                ["--format=custom", "--no-owner", f"--file={partial}", f"--dbname={dsn}"],
                env,
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("backup written (%s, %d bytes)", database.dialect, target.stat().st_size)


def restore(database: Database, source: Path) -> int:
    """Replace ``database``'s contents by the backup at ``source``; returns the new epoch's data version.

    Stop the server (and the mail workers) first: a restore under a running server
    would mix two histories. The caller migrates the result to the current schema.
    """
    source = Path(source)
    if not source.is_file():
        raise BackupFailed(f"no backup at {source}")
    if database.dialect == "sqlite":
        _check_sqlite_backup(source)
        database.dispose()
        target = sqlite3.connect(_sqlite_path(database.url))
        backup_db = sqlite3.connect(source)
        try:
            backup_db.backup(target)  # page by page into the live file, WAL and all
        finally:
            backup_db.close()
            target.close()
    else:
        dsn, env = _libpq(database.url)
        database.dispose()
        _run(
            "pg_restore",
            [
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                f"--dbname={dsn}",
                str(source),
            ],
            env,
        )
    return new_epoch(database)


def _has_data_version(path: Path) -> bool:
    check = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (
            check.execute("SELECT 1 FROM sqlite_master WHERE name = 'data_version'").fetchone()
            is not None
        )
    except sqlite3.DatabaseError:
        return False
    finally:
        check.close()


def _check_sqlite_backup(source: Path) -> None:
    """Refuse a file that is not an intact SQLite backup of a Satchel database, before touching anything."""
    check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        intact = check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ours = (
            check.execute("SELECT 1 FROM sqlite_master WHERE name = 'data_version'").fetchone()
            is not None
        )
    except sqlite3.DatabaseError as exc:
        raise BackupFailed(f"{source} is not a Satchel backup ({exc})") from None
    finally:
        check.close()
    if not intact:
        raise BackupFailed(f"{source} is damaged (PRAGMA integrity_check failed)")
    if not ours:
        raise BackupFailed(f"{source} is not a Satchel backup (it has no data_version table)")


def new_epoch(database: Database) -> int:
    """Move the data version and the tombstone horizon past every cursor handed out before."""
    with database.write() as session:
        version = changes.allocate(session) + EPOCH_GAP
        session.execute(
            update(changes.DataVersion)
            .where(col(changes.DataVersion.id) == 1)
            .values(version=version, changed_at=utcnow())
        )
        session.execute(
            update(changes.Horizon)
            .where(col(changes.Horizon.id) == 1)
            .values(version=version, pruned_at=utcnow())
        )
        if changes.horizon(session) != version:
            session.add(changes.Horizon(id=1, version=version, pruned_at=utcnow()))
    log.info("restored; laptops will load their data again (new epoch at version %d)", version)
    return version
