"""Mail bridge ingest benchmarks against a private Dovecot on loopback.

A realistic mix of letters is made from :func:`tests.mail.letters.generate`
(Russian B2B letters in windows-1251, koi8-r and UTF-8, replies, forwards, small
attachments) by padding each one to a size drawn around a 30 KB median: a quoted
history in the letter's own charset and transfer encoding, and for half of them a
file (an inline logo or a scan); one letter in ten also carries a 100–500 KB
attachment. The letters are APPENDed once to Dovecot (MULTIAPPEND, ``mail_fsync =
never``: they are only read back; one mailbox per purpose). The single-mailbox
benchmarks read INBOX only (``folders=["INBOX"]``, so Dovecot's virtual "All" folder
is not read); the company's mailboxes are read with ``folders=["INBOX", "Sent"]``.

* company: a company's mail in one run — six mailboxes with INBOX and Sent each, folders
  of 30 to 400 letters of the same mix, our letters in Sent (from the mailbox, to a
  client) and the clients' answers to them in INBOX (``In-Reply-To`` a letter of Sent).
  One ``Ingest`` reads every mailbox and folder (``folders=["INBOX", "Sent"]``) with
  ``run_many``, as ``bridge.run_once`` does. Target ≥ 200 letters/s and within 5× the floor: a plain
  imapclient session per mailbox with the same commands (login, LIST, EXAMINE, SEARCH,
  RFC822.SIZE, BODY.PEEK[] in the same batches) over the same folders.
* throughput: ``Ingest.run()`` of a fresh database over a mailbox of N letters,
  end to end (connect, EXAMINE, SEARCH, sizes, ``UID FETCH BODY.PEEK[]`` in
  batches, parse, classify, match, file, commit per batch). Every run has a new
  database (SQLite file or a throwaway PostgreSQL database), a new data directory
  (attachment blobs) and the same small company: one counterparty per letter
  domain with a contact person. Target ≥ 200 letters/s. The floor: a plain
  imapclient session fetching the same letters with the same IMAP commands and
  the same batches (login, EXAMINE, SEARCH, RFC822.SIZE, BODY.PEEK[]), nothing
  done with them. Floor and ingest runs alternate, so both see the same noise.
* memory: the same ingest in a child process over a 10,000-letter mailbox and
  over a 1,000-letter one (a mix with a 10 KB median, to keep the run short; the
  big attachments stay); peak RSS (VmHWM) of each. Bounded: the 10k peak is
  ≤ 1.5× the 1k peak.
* profile: one cProfile run of the company ingest, summarised in the notes (phases
  by cumulative time, the top functions by own time).

``python -m bench`` runs them all. ``python -m bench.mail --only-company`` runs the company
measurement alone (Dovecot holds the company's letters only; no 2,000-letter throughput, no
memory imports), ``--only sqlite|postgresql`` one database, ``--runs N`` N runs (default 3),
``--profile`` adds the cProfile run before it; it prints the table rows and notes and writes nothing.
"""

from __future__ import annotations

import base64
import cProfile
import itertools
import json
import math
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ != "__mp_main__":
    # A mail parse worker (started with spawn) imports the main module again before it parses
    # anything; `satchel mail run`'s main module imports little, so neither may this one or the
    # benchmark would time 0.6 s of imports in every worker that the product does not have.
    from imapclient import IMAPClient

    from bench.harness import ROOT, WORK, Report, Result, median, pg_database
    from crm import accounts, records
    from crm.database import Database
    from server import migrate
    from server.config import Config

SEED = 1251
DOMAIN = "torgdom.test"
TARGET_RATE = 200.0  # letters per second, end to end
TARGET_MEMORY = 1.5  # the 10k peak over the 1k peak
TARGET_FLOOR = 5.0  # the company's ingest time over the floor's


@dataclass(frozen=True)
class Plan:
    """How much to run; ``QUICK`` is for trying the code out, not for figures."""

    letters: int = 2_000
    runs: int = 3
    memory_small: int = 1_000
    memory_large: int = 10_000
    # The company: per mailbox (INBOX letters, Sent letters); every other Sent letter has its answer in INBOX.
    company: tuple[tuple[int, int], ...] = (
        (400, 150),
        (250, 120),
        (180, 90),
        (120, 60),
        (80, 40),
        (50, 30),
    )
    median_kb: float = 30.0  # the mix's median size (before the 10 % big attachments)
    memory_median_kb: float = 10.0  # smaller for the 10k-letter import, to keep the run short


FULL = Plan()
QUICK = Plan(
    letters=300, runs=1, memory_small=100, memory_large=300, company=((120, 40), (60, 30), (30, 30))
)


# ---------------------------------------------------------------- the mix of letters

_QUOTE_HEAD = (
    "-----Original Message-----\nFrom: {name}\nSent: {date}\nTo: sales@torgdom.test\n"
    "Subject: {subject}\n\n"
)


def _ratios() -> dict[tuple[str, str], float]:
    """Raw bytes per character of Russian text, per (charset, transfer encoding) of the generator."""
    from tests.mail.letters import CHARSETS, PHRASES, _body_part

    sample = "\n".join(f"> {p}" for p in PHRASES * 20)
    return {
        (cs, tr): len(_body_part(sample, cs, tr)) / len(sample)
        for cs in CHARSETS
        for tr in ("base64", "quoted-printable", "8bit")
    }


def _quoted_history(rng: random.Random, chars: int) -> str:
    from tests.mail.letters import FIRST_NAMES, LAST_NAMES, PHRASES, SIGNATURE, SUBJECTS

    out: list[str] = []
    size = 0
    depth = 1
    while size < chars:
        name = f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"
        block = _QUOTE_HEAD.format(
            name=name,
            date=f"{rng.randrange(1, 28)}.03.2024 {rng.randrange(8, 19)}:00",
            subject=rng.choice(SUBJECTS).format(n=rng.randrange(100, 999)),
        )
        block += "\n".join(rng.choices(PHRASES, k=rng.randrange(3, 9))) + "\n\n"
        block += SIGNATURE.format(name=name, company="ООО Ромашка") + "\n"
        quoted = "\n".join(">" * depth + " " + line for line in block.splitlines())
        out.append(quoted)
        size += len(quoted) + 2
        depth = min(depth + 1, 4)
    return "\n\n".join(out).replace("№", "N")


def _file_part(rng: random.Random, n: int, size: int, charset: str, *, inline: bool) -> bytes:
    from tests.mail.letters import _attachment_part

    data = rng.randbytes(size)  # incompressible, like a JPEG or a scanned PDF
    if not inline:
        name = rng.choice(
            ("Скан счёта.pdf", "Договор (подписан).pdf", "Фото склада.jpg", "Прайс.xlsx")
        )
        return _attachment_part(f"{n} {name}", data, charset, n % 3)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        f'Content-Type: image/png; name="image{n:03d}.png"\r\n'
        f'Content-Disposition: inline; filename="image{n:03d}.png"\r\n'
        f"Content-ID: <image{n:03d}.png@01DA{n:08X}>\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + encoded


def _with_parts(raw: bytes, n: int, parts: list[bytes]) -> bytes:
    """``raw`` with ``parts`` added to its top-level multipart/mixed (made when it has none)."""
    from tests.mail.letters import _multipart

    closing = f"--=_mixed-{n}--\r\n".encode()
    if raw.endswith(closing):
        added = b"".join(f"--=_mixed-{n}\r\n".encode() + part + b"\r\n" for part in parts)
        return raw[: -len(closing)] + added + closing
    end = raw.index(b"\r\n\r\n")
    split = (
        raw.find(b"\r\nContent-Type:", 0, end) + 2
    )  # the generator puts the content headers last
    head, body = _multipart([raw[split:], *parts], f"=_bench-{n}")
    return raw[:split] + head + b"\r\n" + body


def realistic(count: int, median_kb: float, seed: int = SEED) -> Iterator[bytes]:
    """``count`` letters of the mix, the same ones for the same seed (a prefix of a longer run)."""
    from tests.mail.letters import _body_part, generate

    ratios = _ratios()
    rng = random.Random(seed * 31 + 7)
    for n, g in enumerate(generate(count, seed)):
        raw = g.raw
        target = min(max(rng.lognormvariate(math.log(median_kb * 1024), 0.6), 6_000), 200_000)
        with_file = rng.random() < 0.5
        big = rng.random() < 0.10
        gap = target - len(raw)
        parts: list[bytes] = []
        if gap > 500:
            text_bytes = gap * (0.35 if with_file else 1.0)
            part = _body_part(g.text, g.charset, g.transfer)
            if raw.count(part) == 1:
                chars = int(text_bytes / ratios[(g.charset, g.transfer)])
                raw = raw.replace(
                    part,
                    _body_part(
                        g.text + "\n\n" + _quoted_history(rng, chars), g.charset, g.transfer
                    ),
                )
            if with_file:
                size = max(500, int((target - len(raw)) / 1.37))
                parts.append(_file_part(rng, n, size, g.charset, inline=n % 2 == 0))
        if big:
            parts.append(
                _file_part(rng, n + 1, rng.randrange(100_000, 500_000), g.charset, inline=False)
            )
        yield _with_parts(raw, n, parts) if parts else raw


def _headers(raw: bytes, replace: dict[str, bytes | None]) -> bytes:
    """``raw`` with the headers named in ``replace`` (folded lines and all) replaced, or dropped for None."""
    end = raw.index(b"\r\n\r\n") + 2
    kept: list[bytes] = []
    for line in raw[:end].split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and kept:
            kept[-1] += b"\r\n" + line
        else:
            kept.append(line)
    wanted = {name.lower(): value for name, value in replace.items()}
    out = [h for h in kept if h.split(b":", 1)[0].decode("ascii", "replace").lower() not in wanted]
    out += [name.encode() + b": " + value for name, value in replace.items() if value is not None]
    return b"\r\n".join(out) + b"\r\n" + raw[end:]


def _from_header(raw: bytes) -> bytes:
    end = raw.index(b"\r\n\r\n")
    lines = raw[:end].split(b"\r\n")
    for at, line in enumerate(lines):
        if line.lower().startswith(b"from:"):
            value = [line[5:].strip()]
            value += [
                c for c in itertools.takewhile(lambda x: x[:1] in (b" ", b"\t"), lines[at + 1 :])
            ]
            return b"\r\n".join(value)
    raise ValueError("a letter without From")


def company_letters(plan: Plan, n: int) -> tuple[list[bytes], list[bytes]]:
    """Mailbox ``n`` of the company: (INBOX, Sent). Sent letter k goes from the mailbox to the
    sender of INBOX letter k; for even k that INBOX letter is the client's answer to it."""
    inbox_count, sent_count = plan.company[n]
    inbox = list(realistic(inbox_count, plan.median_kb, seed=SEED + 100 + n))
    sent = []
    for k, raw in enumerate(realistic(sent_count, plan.median_kb, seed=SEED + 200 + n)):
        message_id = f"<sent-{n}-{k}.{SEED}@{DOMAIN}>".encode()
        client = _from_header(inbox[k]) if k < len(inbox) else f"<director@{DOMAIN}>".encode()
        sent.append(
            _headers(
                raw,
                {
                    "From": f"<{_login(_company(n))}>".encode(),
                    "To": client,
                    "Message-ID": message_id,
                    "In-Reply-To": None,
                    "References": None,
                },
            )
        )
        if k % 2 == 0 and k < len(inbox):
            inbox[k] = _headers(inbox[k], {"In-Reply-To": message_id, "References": message_id})
    return inbox, sent


def _company(n: int) -> str:
    return f"company-{n + 1}"


# ---------------------------------------------------------------- Dovecot and the mailboxes


@dataclass
class Mailboxes:
    """The running Dovecot and what was appended to it: login → letters, with the sizes."""

    dovecot: Any
    plan: Plan
    counts: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, list[int]] = field(default_factory=dict)
    append_seconds: float = 0.0
    parse_seconds: float = (
        0.0  # parse_letter alone, per letter of the mix (set by the profile step)
    )

    @property
    def host(self) -> str:
        return str(self.dovecot.host)

    @property
    def port(self) -> int:
        return int(self.dovecot.port)


def _login(purpose: str) -> str:
    return f"{purpose}@{DOMAIN}"


THROUGHPUT, MEMORY_SMALL, MEMORY_LARGE = "bench", "mem-small", "mem-large"
COMPANY = "company"  # the key of the company's letters in Mailboxes.counts and .sizes


@contextmanager
def mailboxes(plan: Plan) -> Iterator[Mailboxes]:
    """A private Dovecot with one user per benchmark, each INBOX holding a prefix of the mix."""
    from tests.mail.servers import DovecotServer, MailUser

    wanted = {
        THROUGHPUT: (plan.letters, plan.median_kb),
        MEMORY_SMALL: (plan.memory_small, plan.memory_median_kb),
        MEMORY_LARGE: (plan.memory_large, plan.memory_median_kb),
    }
    wanted = {p: (n, m) for p, (n, m) in wanted.items() if n}  # --only-company: none of these
    users = [MailUser(_login(p), folders=()) for p in wanted]
    users += [MailUser(_login(_company(n)), folders=("Sent",)) for n in range(len(plan.company))]
    dovecot = DovecotServer(users)
    try:
        # The letters are only read back: no fsync per APPEND (reading is not affected).
        with (dovecot.root / "dovecot.conf").open("a", encoding="utf-8") as conf:
            conf.write("mail_fsync = never\n")
        dovecot.start()
        dovecot.make_folders()
        boxes = Mailboxes(
            dovecot,
            plan,
            counts=dict.fromkeys([*wanted, COMPANY], 0),
            sizes={p: [] for p in [*wanted, COMPANY]},
        )
        start = time.perf_counter()
        for n in range(len(plan.company)):
            with dovecot.connect(_login(_company(n)), timeout=300) as client:
                for folder, letters in zip(
                    ("INBOX", "Sent"), company_letters(plan, n), strict=True
                ):
                    for at in range(0, len(letters), 200):
                        client.multiappend(folder, letters[at : at + 200])
                    boxes.counts[COMPANY] += len(letters)
                    boxes.sizes[COMPANY] += [len(raw) for raw in letters]
        with ExitStack() as stack:
            clients = {
                p: stack.enter_context(dovecot.connect(_login(p), timeout=300)) for p in wanted
            }
            for median_kb in sorted({m for _n, m in wanted.values()}):
                mine = {p: n for p, (n, m) in wanted.items() if m == median_kb}
                letters = realistic(max(mine.values()), median_kb)  # each mailbox holds a prefix
                done = 0
                while chunk := list(itertools.islice(letters, 200)):
                    for purpose, count in mine.items():
                        part = chunk[: max(0, count - done)]
                        if part:
                            clients[purpose].multiappend("INBOX", part)  # one command for the chunk
                            boxes.counts[purpose] += len(part)
                            boxes.sizes[purpose] += [len(raw) for raw in part]
                    done += len(chunk)
        boxes.append_seconds = time.perf_counter() - start
        total = sum(sum(s) for s in boxes.sizes.values())
        print(
            f"mail: {sum(boxes.counts.values()):,} letters ({total / 1e6:.0f} MB) made and appended to Dovecot in "
            f"{boxes.append_seconds:.0f} s",
            flush=True,
        )
        yield boxes
    finally:
        dovecot.close()


# ---------------------------------------------------------------- a company to file into


def _config(url: str, data_dir: Path) -> Config:
    return Config.load(
        environ={
            "SATCHEL_DATA_DIR": str(data_dir),
            "SATCHEL_DATABASE_URL": url,
            "SATCHEL_COMPANY_DOMAINS": DOMAIN,
        }
    )


def _prepare(
    database: Database, config: Config, boxes: Mailboxes, purposes: list[str], folders: list[str]
) -> list[str]:
    """Schema, a salesperson, one counterparty per letter domain with a contact person, and the mailboxes."""
    from mail import bridge
    from tests.mail.letters import COMPANIES
    from tests.mail.servers import PASSWORD

    migrate.upgrade(database)
    with database.write() as session:
        ivanov = accounts.create_user(
            session, login="ivanov", full_name="Иван Иванов", role="salesperson", team="Москва"
        )
    rt_cp, rt_person = records.record_type("counterparties"), records.record_type("contact-persons")
    with database.write() as session:
        for name, domain in COMPANIES:
            cp = records.create(session, ivanov, rt_cp, {"legal_name": name, "visibility": "team"})
            records.create(
                session,
                ivanov,
                rt_person,
                {
                    "counterparty_id": cp.id,
                    "full_name": f"Контакт {name}",
                    "contacts": [
                        {"kind": "email", "value": f"director@{domain}"},
                        {"kind": "email", "value": f"second@{domain}"},
                    ],
                },
            )
    with database.write() as session:
        return [
            str(
                bridge.add_mailbox(
                    session,
                    config,
                    name=purpose,
                    address=_login(purpose),
                    imap_host=boxes.host,
                    imap_port=boxes.port,
                    imap_security="plain",
                    password=PASSWORD,
                    folders=folders,
                ).id
            )
            for purpose in purposes
        ]


@contextmanager
def fresh_company(
    backend: str, boxes: Mailboxes, purpose: str
) -> Iterator[tuple[Database, Config, str]]:
    """A new database and data directory holding the company and the mailbox of ``purpose``."""
    with fresh_companies(backend, boxes, [purpose], ["INBOX"]) as (database, config, ids):
        yield database, config, ids[0]


@contextmanager
def fresh_companies(
    backend: str, boxes: Mailboxes, purposes: list[str], folders: list[str]
) -> Iterator[tuple[Database, Config, list[str]]]:
    """A new database and data directory holding the company and the mailboxes of ``purposes``."""
    with ExitStack() as stack:
        work = WORK / "mail" / f"{backend}-{purposes[0]}-{time.monotonic_ns()}"
        work.mkdir(parents=True)
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        url = (
            f"sqlite:///{work / 'mail.db'}"
            if backend == "sqlite"
            else stack.enter_context(pg_database())
        )
        database = Database(url)
        stack.callback(database.dispose)
        config = _config(url, work / "data")
        yield database, config, _prepare(database, config, boxes, purposes, folders)


# ---------------------------------------------------------------- throughput


def _batches(uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
    """The ingest's own batching, so that the floor fetches exactly what the ingest does."""
    from mail import ingest

    return ingest.batches(uids, sizes)


def floor_fetch(
    boxes: Mailboxes,
    purpose: str,
    keep: list[bytes] | None = None,
    folders: tuple[str, ...] = ("INBOX",),
) -> tuple[float, int, int]:
    """A plain imapclient session over the same letters: (seconds, letters, bytes); ``keep`` gets the letters."""
    from tests.mail.servers import PASSWORD

    start = time.perf_counter()
    client = IMAPClient(boxes.host, port=boxes.port, ssl=False, use_uid=True, timeout=120)
    client.login(_login(purpose), PASSWORD)
    if len(folders) > 1:
        client.list_folders()  # the ingest finds the folders and their roles first
    letters = total = 0
    for folder in folders:
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search(["UID", "1:*"]))
        sizes: dict[int, int] = {}
        for at in range(0, len(uids), 1000):
            fetched = client.fetch(uids[at : at + 1000], ["RFC822.SIZE"])
            sizes.update({uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in fetched.items()})
        for batch in _batches(uids, sizes):
            for data in client.fetch(batch, ["BODY.PEEK[]"]).values():
                letters += 1
                total += len(data[b"BODY[]"])
                if keep is not None:
                    keep.append(data[b"BODY[]"])
    client.logout()
    return time.perf_counter() - start, letters, total


def company_floor(boxes: Mailboxes, keep: list[bytes] | None = None) -> tuple[float, int, int]:
    """The floor over the company: every mailbox, INBOX and Sent, one session each, one after another."""
    seconds = letters = total = 0
    for n in range(len(boxes.plan.company)):
        s, c, b = floor_fetch(boxes, _company(n), keep, folders=("INBOX", "Sent"))
        seconds, letters, total = seconds + s, letters + c, total + b
    return seconds, letters, total


def ingest_once(
    database: Database, config: Config, mailbox_id: str, **kwargs: Any
) -> tuple[float, Any]:
    from mail import bridge

    start = time.perf_counter()
    with bridge.ingest_for(database, config, timeout=120, **kwargs) as ingest:
        report = ingest.run(mailbox_id)
    seconds = time.perf_counter() - start
    if report.error:
        raise RuntimeError(f"mail ingest failed: {report.error}")
    return seconds, report


def company_ingest(
    database: Database, config: Config, mailbox_ids: list[str]
) -> tuple[float, list[Any]]:
    """One run over every mailbox of the company, as ``bridge.run_once`` makes it (one Ingest)."""
    from mail import bridge

    start = time.perf_counter()
    with bridge.ingest_for(database, config, timeout=120) as ingest:
        reports = ingest.run_many(mailbox_ids)
    seconds = time.perf_counter() - start
    for report in reports:
        if report.error:
            raise RuntimeError(f"mail ingest failed: {report.error}")
    return seconds, reports


class _Reports:
    """Several mailbox reports counted as one, for :func:`_outcome`."""

    def __init__(self, reports: list[Any]) -> None:
        self.reports = reports

    def total(self, name: str) -> int:
        return sum(r.total(name) for r in self.reports)


def _outcome(report: Any) -> str:
    fetched, filed, review = report.total("fetched"), report.total("filed"), report.total("review")
    duplicates, errors = report.total("duplicates"), report.total("errors")
    other = fetched - filed - review - duplicates - errors
    return (
        f"{fetched} fetched: {filed} filed, {review} to review, {duplicates} duplicates, {errors} errors, "
        f"{other} classified as not business"
    )


def bench_throughput(report: Report, backend: str, boxes: Mailboxes) -> None:
    plan = boxes.plan
    count, nbytes = boxes.counts[THROUGHPUT], sum(boxes.sizes[THROUGHPUT])
    floors: list[float] = []
    times: list[float] = []
    outcome = ""
    load = os.getloadavg()[0]
    for run in range(plan.runs):
        seconds, letters, fetched_bytes = floor_fetch(boxes, THROUGHPUT)
        if letters != count:
            raise RuntimeError(f"the floor fetched {letters} letters, not {count}")
        floors.append(seconds)
        with fresh_company(backend, boxes, THROUGHPUT) as (database, config, mailbox_id):
            seconds, result = ingest_once(database, config, mailbox_id)
        if result.total("fetched") != count:
            raise RuntimeError(f"the ingest fetched {result.total('fetched')} letters, not {count}")
        times.append(seconds)
        outcome = _outcome(result)
        print(
            f"mail {backend} run {run + 1}: ingest {count / seconds:.0f} letters/s ({seconds:.1f} s), "
            f"floor {count / floors[-1]:.0f} letters/s ({floors[-1]:.2f} s); {outcome}",
            flush=True,
        )
    t, f = median(times), median(floors)
    rate, floor_rate = count / t, count / f
    report.add(
        Result(
            f"ingest of {count:,} letters (median {statistics.median(boxes.sizes[THROUGHPUT]) / 1024:.0f} KB, "
            f"{nbytes / 1e6:.0f} MB) from Dovecot on loopback, end to end",
            backend,
            f"{rate:.0f} letters/s ({nbytes / 1e6 / t:.1f} MB/s, {t:.1f} s)",
            f"≥ {TARGET_RATE:.0f} letters/s",
            f"plain imapclient fetch {floor_rate:,.0f} letters/s ({nbytes / 1e6 / f:.0f} MB/s, {f:.2f} s)",
            f"{t / f:.1f}× the floor's time",
            rate >= TARGET_RATE,
            plan.runs,
        )
    )
    spread = max(floors) / min(floors)
    disturbed = (
        f"; the floor varied {spread:.1f}× between runs: the machine was busy"
        if spread > 1.3
        else ""
    )
    if boxes.parse_seconds:
        from mail import ingest

        per_letter = t / count
        how = (
            "parses in worker processes (one per core, at most 4; started once for the run since the folder "
            f"has ≥ {ingest._PARALLEL_FROM:,} letters) while it files the batch before, so the two overlap"
            if count >= ingest._PARALLEL_FROM and (os.cpu_count() or 1) > 1
            else "parses in-process"
        )
        report.notes.append(
            f"{backend}: without the profiler, parsing alone (parse_letter over the company's letters, median of 3 "
            f"passes, one process) takes {boxes.parse_seconds * 1000:.1f} ms a letter (wall time), against the "
            f"{count:,}-letter ingest's median {per_letter * 1000:.1f} ms a letter: the ingest {how}."
        )
    report.notes.append(
        f"{backend}: throughput runs {', '.join(f'{count / s:.0f}' for s in times)} letters/s, "
        f"floor {', '.join(f'{count / s:.0f}' for s in floors)} letters/s (load average "
        f"{load:.1f} → {os.getloadavg()[0]:.1f} on 2 cores){disturbed}; each run: {outcome}"
    )


@contextmanager
def _company_db(backend: str, boxes: Mailboxes) -> Iterator[tuple[Database, Config, list[str]]]:
    purposes = [_company(n) for n in range(len(boxes.plan.company))]
    with fresh_companies(backend, boxes, purposes, ["INBOX", "Sent"]) as made:
        yield made


def bench_company(
    report: Report, backend: str, boxes: Mailboxes, *, with_workers: bool = False
) -> None:
    """The company: every mailbox and folder in one run, against the floor over the same folders; with
    ``with_workers`` also one run with parse workers forced on from the first folder (the choice in
    ``mail.ingest._PARALLEL_FROM`` is made by that comparison)."""
    plan = boxes.plan
    count, nbytes = boxes.counts[COMPANY], sum(boxes.sizes[COMPANY])
    floors: list[float] = []
    times: list[float] = []
    outcome = ""
    load = os.getloadavg()[0]
    for run in range(plan.runs):
        seconds, letters, _ = company_floor(boxes)
        if letters != count:
            raise RuntimeError(f"the floor fetched {letters} letters, not {count}")
        floors.append(seconds)
        with _company_db(backend, boxes) as (database, config, mailbox_ids):
            seconds, reports = company_ingest(database, config, mailbox_ids)
        result = _Reports(reports)
        if result.total("fetched") != count:
            raise RuntimeError(f"the ingest fetched {result.total('fetched')} letters, not {count}")
        times.append(seconds)
        outcome = _outcome(result)
        print(
            f"mail {backend} company run {run + 1}: ingest {count / seconds:.0f} letters/s ({seconds:.1f} s), "
            f"floor {count / floors[-1]:.0f} letters/s ({floors[-1]:.2f} s); {outcome}",
            flush=True,
        )
    t, f = median(times), median(floors)
    rate, floor_rate = count / t, count / f
    folders = sorted(n for pair in plan.company for n in pair)
    report.add(
        Result(
            f"company: {len(plan.company)} mailboxes × INBOX + Sent ({len(folders)} folders of {folders[0]}–{folders[-1]} "
            f"letters), {count:,} letters ({nbytes / 1e6:.0f} MB) in one run, end to end",
            backend,
            f"{rate:.0f} letters/s ({nbytes / 1e6 / t:.1f} MB/s, {t:.1f} s)",
            f"≥ {TARGET_RATE:.0f} letters/s, ≤ {TARGET_FLOOR:.0f}× the floor",
            f"plain imapclient fetch {floor_rate:,.0f} letters/s ({nbytes / 1e6 / f:.0f} MB/s, {f:.2f} s)",
            f"{t / f:.1f}× the floor's time",
            rate >= TARGET_RATE and t / f <= TARGET_FLOOR,
            plan.runs,
        )
    )
    spread = max(floors) / min(floors)
    disturbed = (
        f"; the floor varied {spread:.1f}× between runs: the machine was busy"
        if spread > 1.3
        else ""
    )
    report.notes.append(
        f"{backend}: company runs {', '.join(f'{count / s:.0f}' for s in times)} letters/s, "
        f"floor {', '.join(f'{count / s:.0f}' for s in floors)} letters/s (load average "
        f"{load:.1f} → {os.getloadavg()[0]:.1f} on 2 cores){disturbed}; each run: {outcome}"
    )
    if boxes.parse_seconds:
        report.notes.append(
            f"{backend}: company, where the time goes: parsing alone (parse_letter, one process, no profiler) "
            f"{boxes.parse_seconds * 1000:.1f} ms a letter of the ingest's {t / count * 1000:.1f} ms "
            f"({boxes.parse_seconds * count / t:.0%}), and by itself {boxes.parse_seconds * count / f:.1f}× the "
            "floor's time"
            + (
                ": in one process the 5× target cannot be met before mail.decode is faster."
                if boxes.parse_seconds * count / f >= TARGET_FLOOR
                else "."
            )
        )
    if with_workers and (os.cpu_count() or 1) > 1:
        import mail.ingest

        floor_seconds, _, _ = company_floor(boxes)
        parallel_from, mail.ingest._PARALLEL_FROM = mail.ingest._PARALLEL_FROM, 1
        try:
            with _company_db(backend, boxes) as (database, config, mailbox_ids):
                seconds, _ = company_ingest(database, config, mailbox_ids)
        finally:
            mail.ingest._PARALLEL_FROM = parallel_from
        report.notes.append(
            f"{backend}: company with parse workers ({min(4, os.cpu_count() or 1)} processes, started once for the "
            f"run at the first folder), one run: {count / seconds:.0f} letters/s ({seconds:.1f} s, "
            f"{seconds / floor_seconds:.1f}× its floor run) against {rate:.0f} letters/s ({t / f:.1f}×) parsing "
            f"in-process: the workers start only for folders of ≥ {mail.ingest._PARALLEL_FROM:,} letters."
        )


# ---------------------------------------------------------------- memory (in a child process)


def _status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def memory_child(url: str, data_dir: str, mailbox_id: str) -> None:
    """Run in a fresh interpreter: one ingest; print RSS figures (KiB) as JSON."""
    import resource

    import mail.bridge  # noqa: F401 - imported before the baseline, like everything the run needs

    database = Database(url)
    config = _config(url, Path(data_dir))
    samples: list[tuple[int, int]] = []

    def progress(_folder: str, done: int, _total: int) -> None:
        samples.append((done, _status_kb("VmRSS")))

    baseline = _status_kb("VmRSS")
    seconds, report = ingest_once(database, config, mailbox_id, progress=progress)
    print(
        json.dumps(
            {
                "baseline": baseline,
                "hwm": _status_kb("VmHWM"),
                "fetched": report.total("fetched"),
                "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "seconds": seconds,
                # The parse workers (ended by now): the largest of them, KiB.
                "workers_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                "samples": samples,
            }
        )
    )


def _memory_run(backend: str, boxes: Mailboxes, purpose: str) -> dict[str, Any]:
    with fresh_company(backend, boxes, purpose) as (database, config, mailbox_id):
        code = (
            f"from bench.mail import memory_child; "
            f"memory_child({database.url!r}, {config.data_dir!r}, {mailbox_id!r})"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"memory child failed: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["fetched"] != boxes.counts[purpose]:
        raise RuntimeError(
            f"memory child fetched {result['fetched']} letters, not {boxes.counts[purpose]}"
        )
    return result


def bench_memory(report: Report, backend: str, boxes: Mailboxes) -> None:
    small = _memory_run(backend, boxes, MEMORY_SMALL)
    large = _memory_run(backend, boxes, MEMORY_LARGE)
    n_small, n_large = boxes.counts[MEMORY_SMALL], boxes.counts[MEMORY_LARGE]
    ratio = large["hwm"] / small["hwm"]
    growth_small, growth_large = small["hwm"] - small["baseline"], large["hwm"] - large["baseline"]
    mb_large = sum(boxes.sizes[MEMORY_LARGE]) / 1e6
    report.add(
        Result(
            f"peak RSS importing a {n_large:,}-letter mailbox ({mb_large:.0f} MB) in one run",
            backend,
            f"{large['hwm'] / 1024:.0f} MB (+{growth_large / 1024:.0f} MB over the {large['baseline'] / 1024:.0f} "
            f"MB at start; {n_large / large['seconds']:.0f} letters/s)",
            f"≤ {TARGET_MEMORY}× the {n_small:,}-letter peak",
            f"{n_small:,}-letter import {small['hwm'] / 1024:.0f} MB (+{growth_small / 1024:.0f} MB)",
            f"{ratio:.2f}×",
            ratio <= TARGET_MEMORY,
            1,
        )
    )
    curve = large["samples"]
    picks = (
        [curve[min(len(curve) - 1, round(q * (len(curve) - 1)))] for q in (0, 0.25, 0.5, 0.75, 1)]
        if curve
        else []
    )
    report.notes.append(
        f"{backend}: memory: RSS during the {n_large:,}-letter import, after (letters done → MB): "
        + ", ".join(f"{done:,} → {kb / 1024:.0f}" for done, kb in picks)
        + "; each import in a fresh interpreter (`python -c`), peak = VmHWM at the end. "
        f"The parse worker processes peaked at {large.get('workers_maxrss', 0) / 1024:.0f} MB "
        f"({small.get('workers_maxrss', 0) / 1024:.0f} MB in the {n_small:,}-letter import) each."
    )


# ---------------------------------------------------------------- profile

_PHASES = (  # (label, file suffix, function name): cumulative time, the largest entry of that name in that file
    ("whole run (company_ingest)", "bench/mail.py", "company_ingest"),
    ("IMAP fetch (IMAPClient.fetch)", "imapclient/imapclient.py", "fetch"),
    ("parse (mail.decode.parse_letter)", "mail/decode.py", "parse_letter"),
    (
        "  of it the stdlib MIME parser (email.message_from_bytes)",
        "email/__init__.py",
        "message_from_bytes",
    ),
    ("  of it folding the plain lines (decode._fold)", "mail/decode.py", "_fold"),
    ("  of it charset guessing (charsets._best_guess)", "mail/charsets.py", "_best_guess"),
    ("thread placement (threads.place)", "mail/threads.py", "place"),
    ("classify", "mail/classify.py", "classify"),
    ("match (Matcher.match)", "mail/matching.py", "match"),
    ("file (filing.file_letter)", "mail/filing.py", "file_letter"),
    ("  of it records.create", "crm/records.py", "create"),
    ("  of it rules (crm.rules.run_check)", "crm/rules.py", "run_check"),
    ("  of it blobs (BlobStore.put, fsync)", "mail/filing.py", "put"),
    ("  of it HTML sanitising (nh3)", "mail/filing.py", "sanitize_html"),
    ("suggest contact persons (Suggestions.write)", "mail/filing.py", "write"),
    ("review (filing.send_to_review)", "mail/filing.py", "send_to_review"),
    ("remember (filing.remember)", "mail/filing.py", "remember"),
    ("SQLAlchemy flush (autoflush + commit)", "sqlalchemy/orm/session.py", "flush"),
    ("SQLAlchemy commit", "sqlalchemy/orm/session.py", "commit"),
)


def _short(filename: str) -> str:
    path = filename.replace("\\", "/")
    for marker in ("/site-packages/", "/lib/python3.11/", str(ROOT).replace("\\", "/") + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def bench_profile(report: Report, backend: str, boxes: Mailboxes) -> None:
    count = boxes.counts[COMPANY]
    with _company_db(backend, boxes) as (database, config, mailbox_ids):
        import mail.ingest

        # The profiler sees one process: parse in it for this run, so that parsing shows in the figures.
        parallel_from, mail.ingest._PARALLEL_FROM = mail.ingest._PARALLEL_FROM, 10**9
        profiler = cProfile.Profile()
        try:
            profiler.enable()
            seconds, _ = company_ingest(database, config, mailbox_ids)
            profiler.disable()
        finally:
            mail.ingest._PARALLEL_FROM = parallel_from
    stats = pstats.Stats(profiler)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for label, suffix, name in _PHASES:
        found = [
            ct
            for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in entries.items()
            if func == name and file.replace("\\", "/").endswith(suffix)
        ]
        cumulative[label] = max(found, default=0.0)
    total = cumulative["whole run (company_ingest)"] or seconds
    phases = "; ".join(
        f"{label.strip()} {ct:.2f} s ({ct / total:.0%})"
        for label, ct in cumulative.items()
        if ct and not label.startswith("whole")
    )
    top = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:5]
    top_text = "; ".join(
        f"{_short(file)}:{line} {func} {tt:.2f} s own ({nc:,} calls)"
        for (file, line, func), (_cc, nc, tt, _ct, _callers) in top
    )
    fetch = cumulative["IMAP fetch (IMAPClient.fetch)"]
    parse = cumulative["parse (mail.decode.parse_letter)"]
    own = total - fetch - parse
    verdict = "under the profiler " + (
        "the ingest's own code (classify, match, file, records, blobs, SQL) dominates"
        if own > parse
        else "parsing (mail.decode) dominates"
    )
    report.notes.append(
        f"{backend}: profile (cProfile, the company's {count:,} letters, one run, parsing in-process, {total:.1f} s under the "
        f"profiler = "
        f"{count / total:.0f} letters/s): IMAP fetch {fetch:.2f} s ({fetch / total:.0%}), parse {parse:.2f} s "
        f"({parse / total:.0%}), the rest — classify, match, file, remember, SQL, commit — {own:.2f} s "
        f"({own / total:.0%}): {verdict}."
    )
    report.notes.append(f"{backend}: profile phases (cumulative, overlapping): {phases}.")
    report.notes.append(f"{backend}: profile top 5 by own time: {top_text}.")
    # The same letters parsed alone, without the profiler (which inflates Python-heavy code): median of 3 passes.
    from mail.decode import parse_letter

    raws: list[bytes] = []
    company_floor(boxes, raws)
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        for raw in raws:
            parse_letter(raw, max_attachment_bytes=config.mail_attachment_max_bytes)
        passes.append(time.perf_counter() - start)
    boxes.parse_seconds = median(passes) / len(raws)
    stats_path = WORK / f"mail-profile-{backend}.txt"
    with stats_path.open("w") as out:
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
    print(f"mail profile: {stats_path}", flush=True)


# ---------------------------------------------------------------- entry point


def bench_mail(report: Report, backend: str, boxes: Mailboxes, *, once: bool) -> None:
    """The company and the one large mailbox on ``backend``; with ``once`` (the first database measured) also
    the profile and memory."""
    if once:
        bench_profile(report, backend, boxes)
    bench_company(report, backend, boxes, with_workers=True)
    bench_throughput(report, backend, boxes)
    if once:
        bench_memory(report, backend, boxes)


def notes(boxes: Mailboxes) -> list[str]:
    plan = boxes.plan
    sizes = boxes.sizes[THROUGHPUT]
    ordered = sorted(sizes)
    big = sum(1 for s in sizes if s > 130_000)
    memory = boxes.sizes[MEMORY_LARGE]
    company = boxes.sizes[COMPANY]
    inbox, sent = sum(i for i, _s in plan.company), sum(s for _i, s in plan.company)
    answers = sum(min(i, (s + 1) // 2) for i, s in plan.company)
    return [
        f"mail company: {len(plan.company)} mailboxes (company-1 … company-{len(plan.company)}@{DOMAIN}), "
        f"(INBOX, Sent) letters {', '.join(f'({i}, {s})' for i, s in plan.company)}: {inbox:,} in INBOX, "
        f"{sent:,} in Sent, {len(company):,} letters, {sum(company) / 1e6:.0f} MB, median "
        f"{statistics.median(company) / 1024:.1f} KB, of the same mix as below (each mailbox its own seed). "
        "Sent letter k goes from the mailbox to the sender of INBOX letter k; for every other k that INBOX letter "
        f"answers it (In-Reply-To and References: the Sent letter's Message-ID): {answers:,} answers across folders. "
        "One Ingest reads all mailboxes, INBOX before Sent, as bridge.run_once does; every run files into a new "
        "database. The floor: one plain imapclient session per mailbox, one after another (login, LIST, then per "
        "folder EXAMINE, UID SEARCH, RFC822.SIZE, BODY.PEEK[] in the ingest's batches); medians of "
        f"{plan.runs} runs, floor and ingest alternating.",
        f"mail mix: {len(sizes):,} letters from tests/mail/letters.py (windows-1251, koi8-r, UTF-8; B/Q/8-bit "
        f"headers; base64, QP and 8-bit bodies; replies, forwards) padded to a log-normal size around "
        f"{plan.median_kb:.0f} KB — a quoted history in the letter's own charset and encoding, for half a file "
        f"(inline logo or scan, random bytes) — and one in ten with a 100–500 KB attachment: median "
        f"{statistics.median(sizes) / 1024:.1f} KB, p90 {ordered[int(0.9 * (len(ordered) - 1))] / 1024:.0f} KB, "
        f"largest {ordered[-1] / 1024:.0f} KB, {big} over 130 KB, {sum(sizes) / 1e6:.0f} MB in all. "
        f"Appended once to a private Dovecot ({sum(boxes.counts.values()):,} letters in all mailboxes); "
        "the single-mailbox figure reads INBOX only.",
        f"mail throughput: figure and floor are medians of {plan.runs} runs, floor and ingest alternating; every "
        "ingest run files into a new database (migrated, 1 user, 6 counterparties with a contact person each, "
        "not timed) and a new blob directory. The floor is the same IMAP commands in the same batches "
        "(login, EXAMINE, UID SEARCH, RFC822.SIZE, BODY.PEEK[] ≤ 8 MB or 200 letters) with plain imapclient. "
        "Dovecot, PostgreSQL and the benchmark share the machine's 2 cores; other work may run on it at the same "
        "time, so read the ratio to the floor rather than the absolute rate.",
        f"mail memory: {plan.memory_small:,}- and {plan.memory_large:,}-letter mailboxes of the same kind of mix "
        f"with a smaller median ({statistics.median(memory) / 1024:.1f} KB, still one in ten with a 100–500 KB "
        f"attachment; {sum(memory) / 1e6:.0f} MB for {len(memory):,} letters), to keep the benchmark short; "
        "the batches stay limited by bytes (8 MB) either way. One "
        "import each, in a fresh interpreter, on the first database measured only (SQLite in a full run).",
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.mail``: see the module's docstring."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m bench.mail",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only-company",
        action="store_true",
        help="the company measurement alone (no throughput, no memory imports); required for now",
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--runs", type=int, default=FULL.runs)
    parser.add_argument("--profile", action="store_true", help="also one cProfile run first")
    parser.add_argument("--workers", action="store_true", help="also one run with parse workers")
    args = parser.parse_args(argv)
    if not args.only_company:
        parser.error("use python -m bench --only-bench mail for the whole mail benchmark")
    plan = Plan(letters=0, memory_small=0, memory_large=0, runs=args.runs)
    report = Report()
    with mailboxes(plan) as boxes:
        backends = [args.only] if args.only else ["sqlite", "postgresql"]
        for backend in backends:
            if args.profile:
                bench_profile(report, backend, boxes)
                print(f"profile written to {WORK / f'mail-profile-{backend}.txt'}")
            bench_company(report, backend, boxes, with_workers=args.workers)
    for r in report.results:
        print(
            f"| {r.name} | {r.backend} | {r.figure} | {r.target} | {r.floor} | {r.ratio} | {r.runs} | "
            f"{'yes' if r.ok else '**no**'} |"
        )
    for note in report.notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
