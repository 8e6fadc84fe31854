"""Timing, a real server in a subprocess, throwaway databases, and the results file.

The machines are shared and noisy, so every figure is compared with a floor
measured in the same run, and figures are medians over several runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from crm.database import Database
from server import process

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
PG_BASE_URL = os.environ.get(
    "SATCHEL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Result:
    """One line of the results table."""

    name: str
    backend: str
    figure: str
    target: str
    floor: str
    ratio: str
    ok: bool
    runs: int


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.results.append(result)
        mark = "ok" if result.ok else "MISSED"
        print(
            f"[{mark}] {result.name} ({result.backend}): {result.figure}; floor {result.floor}; ratio {result.ratio}",
            flush=True,
        )

    def write(self, path: Path, *, keep_row: Callable[[str, str], bool] | None = None) -> None:
        """Write the main table of ``path`` (and its notes), keeping the file's other sections.

        ``keep_row(name, database)`` says which rows of the old table this run did not
        measure and should keep (a run of some benchmarks or one database only); their
        notes are kept too.
        """
        old = path.read_text().splitlines() if path.exists() else []
        sections = [i for i, line in enumerate(old) if line.startswith("## ")]
        top_end = sections[0] if sections else len(old)
        kept_rows = []
        if keep_row is not None:
            for line in old[:top_end]:
                cells = [c.strip() for c in line.split("|")]
                if (
                    line.startswith("| ")
                    and len(cells) > 3
                    and cells[2] not in ("database", "---")
                    and keep_row(cells[1], cells[2])
                ):
                    kept_rows.append(line)
        kept_notes: list[str] = []
        others: list[str] = []  # every other section, as it was ("## Sync", "## Mail", …)
        for n, start in enumerate(sections):
            end = sections[n + 1] if n + 1 < len(sections) else len(old)
            if old[start] == "## Notes":
                if keep_row is not None:
                    kept_notes = [line for line in old[start:end] if line.startswith("- ")]
            else:
                others += [*old[start:end]]
        lines = [
            "# Benchmark results",
            "",
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {machine()}",
            "- command: `make bench` (`python -m bench`)",
            "",
            "| benchmark | database | figure | target | floor (same run) | ratio to floor | runs | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.results:
            lines.append(
                f"| {r.name} | {r.backend} | {r.figure} | {r.target} | {r.floor} | {r.ratio} | {r.runs} | "
                f"{'yes' if r.ok else '**no**'} |"
            )
        if kept_rows:
            lines += kept_rows
            lines += [
                "",
                "Rows after the first " + str(len(self.results)) + " are from an earlier run "
                "(this run measured only the others).",
            ]
        notes = [
            *(f"- {n}" for n in self.notes),
            *(n for n in kept_notes if n[2:] not in self.notes),
        ]
        if notes:
            lines += ["", "## Notes", "", *notes]
        if others:
            lines += ["", *others]
        path.write_text("\n".join(lines).rstrip("\n") + "\n")

    def write_section(
        self, path: Path, title: str, command: str, *, keep_others: bool = False
    ) -> None:
        """Put these results under ``## title`` in ``path``, replacing that section and keeping the rest.

        ``keep_others``: keep the section's rows (and notes) of databases this run did not measure.
        """
        lines = [
            f"## {title}",
            "",
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {machine()}",
            f"- command: `{command}`",
            "",
            "| benchmark | database | figure | target | floor (same run) | ratio to floor | runs | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.results:
            lines.append(
                f"| {r.name} | {r.backend} | {r.figure} | {r.target} | {r.floor} | {r.ratio} | {r.runs} | "
                f"{'yes' if r.ok else '**no**'} |"
            )
        if self.notes:
            lines += ["", f"### Notes ({title.lower()})", "", *[f"- {n}" for n in self.notes]]
        old = path.read_text().splitlines() if path.exists() else ["# Benchmark results"]
        heading = f"## {title}"
        if keep_others and heading in old:
            start = old.index(heading)
            end = next(
                (i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old)
            )
            ran = {r.backend for r in self.results}
            kept = [
                line
                for line in old[start:end]
                if line.startswith("| ")
                and line.count("|") > 3
                and line.split("|")[2].strip() not in ran | {"database", "---"}
            ]
            kept_notes = [
                line
                for line in old[start:end]
                if line.startswith("- ")
                and line.split(":")[0][2:] not in ran
                and not line.startswith(("- date", "- machine", "- command"))
            ]
            at = lines.index("|---|---|---|---|---|---|---|---|") + 1
            lines[at:at] = kept
            if kept_notes:
                if not self.notes:
                    lines += ["", f"### Notes ({title.lower()})", ""]
                lines += [n for n in kept_notes if n not in lines]
        if heading in old:
            start = old.index(heading)
            end = next(
                (i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old)
            )
            new = old[:start] + lines + ([""] + old[end:] if end < len(old) else [])
        else:
            new = [*old, "", *lines]
        path.write_text("\n".join(new).rstrip("\n") + "\n")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {platform.python_version()}, {platform.system()}"


@contextmanager
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards."""
    name = f"satchel_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    try:
        yield make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def running_server(database_url: str) -> Iterator[str]:
    """The real server for a benchmark; failed logins are not limited (the bench logs in often)."""
    with process.running_server(
        database_url, settings={"SATCHEL_LOGIN_MAX_FAILURES": "1000"}
    ) as base:
        yield base


def each_process_count(url: str, processes: list[int]) -> Iterator[tuple[int, str]]:
    """``satchel serve --workers N`` on ``url`` for each N of ``processes`` in turn (failed logins not
    limited: benchmarks log in often): (N, its base URL)."""
    for workers in processes:
        settings = {"SATCHEL_WORKERS": str(workers), "SATCHEL_LOGIN_MAX_FAILURES": "1000"}
        with process.running_server(url, settings=settings) as base:
            yield workers, base


def medium_company(url: str, prepare: Callable[[Database], T]) -> T:
    """The demo company of size medium loaded into ``url``'s new database, then ``prepare`` on it."""
    from crm import demo
    from server import migrate

    database = Database(url)
    try:
        migrate.upgrade(database)
        demo.generate(database, "medium", seed=1)
        return prepare(database)
    finally:
        database.dispose()


BACKENDS = ("sqlite", "postgresql")


@contextmanager
def backend_database(backend: str, name: str) -> Iterator[tuple[str, Path]]:
    """(URL, folder) for one benchmark run on ``backend``: a new SQLite file, or a throwaway
    PostgreSQL database; the folder ``WORK/<name>`` (for the SQLite file and anything else the
    benchmark writes beside it) is new and removed afterwards. Each benchmark has its own folder:
    others keep theirs in WORK."""
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        if backend == "sqlite":
            yield f"sqlite:///{folder / f'{name}.db'}", folder
        else:
            with pg_database() as url:
                yield url, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_standalone(
    module: str,
    description: str | None,
    section: str,
    arguments: Callable[[argparse.ArgumentParser], None],
    bench: Callable[[Report, str, str, Path, argparse.Namespace], None],
) -> None:
    """The ``main`` of a benchmark run on its own (``python -m bench.<name>``): ``--only`` one
    backend and the benchmark's own ``arguments``; ``bench(report, backend, url, folder, args)``
    once per backend on a fresh database; its section of bench/RESULTS.md rewritten (with
    ``--only``, the other backend's rows are kept)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--only", choices=BACKENDS, help="one database only (default: both)")
    arguments(parser)
    args = parser.parse_args()
    report = Report()
    for backend in BACKENDS:
        if args.only and backend != args.only:
            continue
        with backend_database(backend, module.rpartition(".")[2]) as (url, folder):
            bench(report, backend, url, folder, args)
    report.notes.append(
        f"machine load average at the end: {open('/proc/loadavg').read().split()[:3]}"
    )
    command = " ".join(["python -m", module, *map(shlex.quote, sys.argv[1:])])  # as it was run
    report.write_section(
        ROOT / "bench" / "RESULTS.md", section, command, keep_others=bool(args.only)
    )
    print("wrote bench/RESULTS.md")
