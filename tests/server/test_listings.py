"""The listings' Core clauses (server/commands/listings.py) name real columns with the models'
types, and a listing starts without SQLModel and the models."""

from __future__ import annotations

import subprocess
import sys

import calendar_bridge.models  # noqa: F401 - every table in the metadata
import mail.models  # noqa: F401
from crm.models import metadata
from server.commands.listings import TABLES


def test_every_listed_column_is_the_models_with_its_type() -> None:
    for clause in TABLES:
        model = metadata.tables[clause.name]
        for column in clause.columns:
            assert column.name in model.columns, f"{clause.name}.{column.name} is no column"
            ours, theirs = column.type, model.columns[column.name].type
            assert ours._type_affinity is theirs._type_affinity or type(ours) is type(theirs), (
                f"{clause.name}.{column.name}: {ours!r} where the model has {theirs!r}"
            )


def test_a_listing_reads_without_the_orm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each listing command in a fresh interpreter on a new database: it answers, and neither
    SQLModel nor a model module was imported (what made a listing take 2–6 s to start)."""
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['satchel', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('server', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m == 'sqlmodel' or m.startswith('crm.models')\n"
        "               or m.startswith('mail.') or m == 'alembic')\n"
        "print('HEAVY', heavy)\n"
    )
    env = {"SATCHEL_DATABASE_URL": f"sqlite:///{tmp_path / 'satchel.db'}", "PATH": "/usr/bin"}
    # The first command migrates the new database (that one may import everything).
    subprocess.run(
        [sys.executable, "-m", "server", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    for command in (["user", "list"], ["mail", "mailbox", "list"], ["mail", "review", "list"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *command, "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "HEAVY []" in done.stdout, (command, done.stdout[-500:], done.stderr[-500:])
