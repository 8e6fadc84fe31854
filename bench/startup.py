"""How long a ``satchel`` command takes to start: ``--help``, and listings on an empty SQLite database.

    python -m bench.startup [--runs 7]

Each command runs in a fresh interpreter, as an administrator types it. The floor is
``python -c pass`` in the same run; the target is 0.5 s of wall time for ``satchel --help``
and a listing (issue 13). The machines are shared: the load average is printed with the
figures, and the CPU time (user + sys) beside the wall time says how much of a slow figure
was waiting for a core. Prints a Markdown table; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.harness import WORK, machine, median

TARGET = 0.5
COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass (floor)", ["-c", "pass"]),
    ("satchel --help", ["-m", "server", "--help"]),
    ("satchel mail mailbox list", ["-m", "server", "mail", "mailbox", "list"]),
    ("satchel user list", ["-m", "server", "user", "list"]),
    ("satchel mail review list", ["-m", "server", "mail", "review", "list"]),
    ("satchel mail status", ["-m", "server", "mail", "status"]),
    ("satchel mail suggestions", ["-m", "server", "mail", "suggestions"]),
    ("satchel mail template list", ["-m", "server", "mail", "template", "list"]),
    ("satchel device list", ["-m", "server", "device", "list"]),
    ("satchel sync devices", ["-m", "server", "sync", "devices"]),
    ("satchel feed list", ["-m", "server", "feed", "list"]),
    ("satchel duplicates", ["-m", "server", "duplicates"]),
    # What one user sees: these ask the access rules, which are written over the models.
    ("satchel mailing list --as boss", ["-m", "server", "mailing", "list", "--as", "boss"]),
    ("satchel segment list --as boss", ["-m", "server", "segment", "list", "--as", "boss"]),
    (
        "satchel report complaints --as boss",
        ["-m", "server", "report", "complaints", "--as", "boss"],
    ),
    ("satchel-field --help", ["-m", "clients.cli", "--help"]),
]


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    shutil.rmtree(WORK / "startup", ignore_errors=True)
    (WORK / "startup").mkdir(parents=True)
    env = {
        **os.environ,
        "SATCHEL_DATABASE_URL": f"sqlite:///{WORK / 'startup' / 'empty.db'}",
        "SATCHEL_DATA_DIR": str(WORK / "startup"),
        "SATCHEL_FIELD_HOME": str(WORK / "startup" / "field"),
    }
    env.pop("COLUMNS", None)
    # Migrated once beforehand: every command migrates first, and an up-to-date database is the usual case.
    subprocess.run(
        [sys.executable, "-m", "server", "db", "upgrade"],
        env=env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    subprocess.run(  # the user the per-user listings run as
        [sys.executable, "-m", "server", "user", "add", "boss", "--name", "Boss", "--role", "admin",
         "--password-stdin"],
        env=env, input=b"startup-bench-1\n", stdout=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, load average {os.getloadavg()[0]:.1f}, "
        f"median of {args.runs} runs\n"
    )
    print("| command | wall | CPU | target | |")
    print("|---|---|---|---|---|")
    for name, command in COMMANDS:
        runs = [_timed(command, env) for _ in range(args.runs)]
        wall, cpu = median([r[0] for r in runs]), median([r[1] for r in runs])
        floor = "floor" in name
        verdict = "" if floor else ("ok" if wall <= TARGET else "MISSED")
        print(
            f"| `{name}` | {wall:.2f} s | {cpu:.2f} s | {'' if floor else f'{TARGET} s'} | {verdict} |"
        )
    shutil.rmtree(WORK / "startup", ignore_errors=True)


if __name__ == "__main__":
    main()
