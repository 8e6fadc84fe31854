"""What encrypting the laptop's replica at rest costs: the same bootstrap pages and searches
on a plain SQLite replica (the floor) and on a SQLCipher one, in the same run.

    python -m bench.replica_crypto [--records 50000] [--runs 3]

Writes (or replaces) the "Replica encryption" section of bench/RESULTS.md. The
load is the replica's own bulk path (``Replica.apply_bootstrap_page``, pages of
5,000 as the server sends them) for counterparties and their contact persons of
an office laptop's shape; the reads are quick searches by name and by phone
fragment through ``Replica.list``, as the incoming-call screen makes them.
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clients.replica import Replica
from crm import records

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## Replica encryption"
PAGE = 5000
KEY = bytes(range(32))
_WORDS = [
    "Ромашка",
    "Алмаз",
    "Золото",
    "Восток",
    "Север",
    "Торг",
    "Опт",
    "Снаб",
    "Ювелир",
    "Гранит",
]


def _wire(type_name: str, values: dict[str, Any]) -> list[Any]:
    fields = records.record_type(type_name).fields()
    return [values.get(name) for name in fields]


def _pages(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    owner = str(uuid.UUID(int=1))
    audit = {
        "created_at": now,
        "updated_at": now,
        "created_by": owner,
        "updated_by": owner,
        "version": 1,
    }
    cps, people = [], []
    for i in range(n):
        cp_id = str(uuid.UUID(int=rng.getrandbits(128)))
        name = f"ООО «{rng.choice(_WORDS)} {rng.choice(_WORDS)} {i}»"
        phone = f"+7916{rng.randrange(10**7):07d}"
        cps.append(
            _wire(
                "counterparties",
                {
                    **audit,
                    "id": cp_id,
                    "kinds": ["client"],
                    "legal_form": "ООО",
                    "legal_name": name,
                    "short_name": name,
                    "inn": None,
                    "contacts": [{"kind": "phone", "value": phone}],
                    "region": "Москва",
                    "owner_id": owner,
                    "stage": "active",
                    "visibility": "company",
                    "tags": [],
                    "notes": "заметка " * 5,
                },
            )
        )
        people.append(
            _wire(
                "contact-persons",
                {
                    **audit,
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "counterparty_id": cp_id,
                    "full_name": f"{rng.choice(['Анна', 'Иван', 'Ольга'])} {rng.choice(_WORDS)}ова",
                    "contacts": [{"kind": "email", "value": f"p{i}@example.ru"}],
                    "birthday_remind_days": 3,
                },
            )
        )
    pages: list[dict[str, Any]] = []
    for type_name, rows in (("counterparties", cps), ("contact-persons", people)):
        fields = records.record_type(type_name).fields()
        for start in range(0, len(rows), PAGE):
            chunk = rows[start : start + PAGE]
            pages.append(
                {
                    "watermark": 100,
                    "type": type_name,
                    "fields": fields,
                    "rows": chunk,
                    "versions": [1] * len(chunk),
                    "next": {"type": type_name, "after": "x"},
                }
            )
    pages[-1]["next"] = None
    return pages


def _load(path: Path, pages: list[dict[str, Any]], key: bytes | None) -> tuple[float, Replica]:
    replica = Replica.open(path, key=key)
    started = time.perf_counter()
    for page in pages:
        replica.apply_bootstrap_page(page)
    replica.build_search_index()  # as SyncAgent.sync does after the pull: the searches use it
    return time.perf_counter() - started, replica


def _searches(replica: Replica, queries: list[str]) -> float:
    from sync.columns import layout

    with replica._write() as (_, raw):  # noqa: SLF001 - a local user, as a login would store
        users = layout("users")
        raw.execute(
            users.upsert_sql,
            users.row(
                {
                    "id": str(uuid.UUID(int=1)),
                    "login": "office",
                    "full_name": "Офис",
                    "role": "office",
                    "is_active": True,
                    "locale": "ru",
                    "version": 1,
                    "created_at": "2026-11-01T00:00:00Z",
                    "updated_at": "2026-11-01T00:00:00Z",
                }
            ),
        )
        raw.execute(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES ('user_id', ?)",
            (str(uuid.UUID(int=1)),),
        )
    started = time.perf_counter()
    for q in queries:
        replica.list("counterparties", q=q, limit=20)
    return (time.perf_counter() - started) / len(queries) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_crypto", description=__doc__)
    parser.add_argument(
        "--records", type=int, default=50_000, help="counterparties (and as many persons)"
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pages = _pages(args.records)
    rng = random.Random(3)
    queries = [rng.choice(_WORDS).lower() for _ in range(50)] + [
        f"916{rng.randrange(1000):03d}" for _ in range(50)
    ]
    loads: dict[str, list[float]] = {"plain": [], "encrypted": []}
    reads: dict[str, list[float]] = {"plain": [], "encrypted": []}
    for run in range(args.runs):
        for kind in ("plain", "encrypted") if run % 2 == 0 else ("encrypted", "plain"):
            work = Path(tempfile.mkdtemp(prefix="satchel-crypto-"))
            try:
                seconds, replica = _load(work / "r.db", pages, KEY if kind == "encrypted" else None)
                loads[kind].append(seconds)
                reads[kind].append(_searches(replica, queries))
                replica.close()
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(
                f"run {run + 1} {kind}: load {loads[kind][-1]:.2f} s, search {reads[kind][-1]:.2f} ms",
                flush=True,
            )
    load_p, load_e = statistics.median(loads["plain"]), statistics.median(loads["encrypted"])
    read_p, read_e = statistics.median(reads["plain"]), statistics.median(reads["encrypted"])
    total = args.records * 2
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.machine()}, {platform.processor() or platform.system()}, Python {platform.python_version()}"
    section = f"""{SECTION}

`python -m bench.replica_crypto` — {when}, {machine}; medians of {args.runs} runs, plain and
encrypted alternating; the machine was shared (other jobs running), so compare the ratio, not the seconds.

| measure | plain SQLite (floor) | SQLCipher (AES-256) | ratio |
|---|---|---|---|
| bootstrap load of {total:,} records (pages of {PAGE:,}, search keys, indexes, ANALYZE) | {load_p:.2f} s | {load_e:.2f} s | {load_e / load_p:.2f}× |
| quick search on the laptop (name or phone fragment, 20 results), per search | {read_p:.2f} ms | {read_e:.2f} ms | {read_e / read_p:.2f}× |
"""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if SECTION in text:
        start = text.index(SECTION)
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")
    print(section)


if __name__ == "__main__":
    main()
