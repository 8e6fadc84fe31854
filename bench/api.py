"""REST API benchmarks over a real server process with the LARGE demo company loaded.

* search: counterparties by name fragment, INN and phone (typed three ways), as a
  salesperson (so the access rules are in every query); target p50 ≤ 20 ms and
  p95 ≤ 50 ms. Floor: ``GET /healthz`` (one trivial query) on the same server.
* create: 10,000 interactions through ``POST /api/v1/interactions`` from 4
  keep-alive clients; target ≥ 500 per second. Floor: the same rows inserted
  with ``executemany`` straight into the same database.
"""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select

from bench.harness import Report, Result, median, percentile
from crm.database import Database
from crm.models import ContactKey, Counterparty, Interaction, User

ROUNDS = 3
REQUESTS_PER_KIND = 200
CREATES = 10_000
CLIENTS = 4
BATCH = 100


def _login(base: str, login: str) -> dict[str, str]:
    r = httpx.post(
        base + "/api/v1/auth/login",
        json={"login": login, "password": "demo-password", "device_name": "bench"},
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _phone_forms(e164: str) -> list[str]:
    d = e164[2:]  # ten digits after +7
    return [e164, f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}", f"{d[3:6]}-{d[6:8]}-{d[8:]}"]


def _queries(database: Database, owner_login: str) -> dict[str, list[str]]:
    """Realistic search terms taken from the records the salesperson owns."""
    rng = random.Random(7)
    with database.read() as session:
        owner = session.execute(select(User).where(User.login == owner_login)).scalar_one()
        cps = list(
            session.execute(
                select(Counterparty).where(Counterparty.owner_id == owner.id).limit(2000)
            ).scalars()
        )
        phones = list(
            session.execute(
                select(ContactKey.key).where(ContactKey.kind == "phone").limit(2000)
            ).scalars()
        )
    names, inns = [], []
    for cp in cps:
        words = [
            w
            for w in (cp.short_name or cp.legal_name).replace("«", " ").replace("»", " ").split()
            if len(w) > 4
        ]
        if words:
            word = rng.choice(words)
            names.append(word[: rng.randint(4, len(word))].lower())
        if cp.inn:
            inns.append(cp.inn)
    phone_terms = [form for key in phones for form in _phone_forms("+" + key)]
    return {"name fragment": names, "INN": inns, "phone (3 formats)": phone_terms}


def _timed_gets(client: httpx.Client, url: str, params: list[dict[str, str]]) -> list[float]:
    out = []
    for p in params:
        start = time.perf_counter()
        r = client.get(url, params=p)
        out.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return out


def bench_search(report: Report, base: str, database: Database, backend: str) -> None:
    headers = _login(base, "ivanov")
    queries = _queries(database, "ivanov")
    rng = random.Random(11)
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        _timed_gets(
            client, "/api/v1/counterparties", [{"q": q} for q in queries["name fragment"][:20]]
        )  # warm up
        floor_p50 = median(
            [
                median(_timed_gets(client, "/healthz", [{}] * REQUESTS_PER_KIND))
                for _ in range(ROUNDS)
            ]
        )
        for kind, terms in queries.items():
            p50s, p95s = [], []
            for _ in range(ROUNDS):
                sample = [{"q": rng.choice(terms), "limit": "20"} for _ in range(REQUESTS_PER_KIND)]
                times = _timed_gets(client, "/api/v1/counterparties", sample)
                p50s.append(percentile(times, 50))
                p95s.append(percentile(times, 95))
            p50, p95 = median(p50s), median(p95s)
            report.add(
                Result(
                    f"search by {kind}, 20k counterparties",
                    backend,
                    f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
                    "p50 ≤ 20 ms, p95 ≤ 50 ms",
                    f"healthz p50 {floor_p50:.1f} ms",
                    f"{p50 / floor_p50:.1f}× (p50)",
                    p50 <= 20 and p95 <= 50,
                    ROUNDS,
                )
            )


def _interaction_bodies(database: Database, n: int, login: str = "ivanov") -> list[dict[str, Any]]:
    """``n`` interactions under the clients ``login`` owns."""
    with database.read() as session:
        owner = session.execute(select(User).where(User.login == login)).scalar_one()
        cp_ids = list(
            session.execute(
                select(Counterparty.id).where(Counterparty.owner_id == owner.id)
            ).scalars()
        )
    rng = random.Random(5)
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    return [
        {
            "counterparty_id": rng.choice(cp_ids),
            "kind": rng.choice(["call", "meeting", "letter"]),
            "subject": f"Звонок по заказу №{i}",
            "starts_at": (start + timedelta(minutes=i)).isoformat(),
            "duration_minutes": 15,
        }
        for i in range(n)
    ]


def _post_all(
    base: str, headers: dict[str, str], path: str, payloads: list[Any], clients: int
) -> float:
    """POST every payload from ``clients`` keep-alive connections; the rate in payloads per second."""
    chunks = [payloads[i::clients] for i in range(clients)]

    def send(chunk: list[Any]) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for body in chunk:
                client.post(path, json=body).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, chunks))
    return len(payloads) / (time.perf_counter() - start)


def bench_create(report: Report, base: str, database: Database, backend: str) -> None:
    headers = _login(base, "ivanov")
    bodies = _interaction_bodies(database, CREATES)
    single_rate = _post_all(base, headers, "/api/v1/interactions", bodies, CLIENTS)
    batches = [{"items": bodies[i : i + BATCH]} for i in range(0, CREATES, BATCH)]
    batch_rate = _post_all(base, headers, "/api/v1/interactions/batch", batches, 2) * BATCH

    # Floor: the same number of rows, straight into the table in one executemany.
    with database.read() as session:
        owner_id = session.execute(select(User.id).where(User.login == "ivanov")).scalar_one()
    rows = [
        {
            **b,
            "id": str(uuid.uuid4()),
            "starts_at": datetime.fromisoformat(b["starts_at"]),
            "responsible_id": owner_id,
            "direction": "outgoing",
            "status": "done",
            "importance": "normal",
            "version": 1,
            "created_at": datetime.now(UTC),
            "updated_at": datetime.now(UTC),
        }
        for b in bodies
    ]
    start = time.perf_counter()
    with database.write() as session:
        session.execute(insert(Interaction), rows)
    floor_rate = CREATES / (time.perf_counter() - start)
    report.add(
        Result(
            f"create 10,000 interactions via API, batches of {BATCH} (2 clients)",
            backend,
            f"{batch_rate:.0f} /s",
            "≥ 500 /s",
            f"executemany {floor_rate:.0f} /s",
            f"{floor_rate / batch_rate:.1f}× slower",
            batch_rate >= 500,
            1,
        )
    )
    report.add(
        Result(
            f"create 10,000 interactions via API, one per request ({CLIENTS} clients)",
            backend,
            f"{single_rate:.0f} /s",
            "≥ 500 /s",
            f"executemany {floor_rate:.0f} /s",
            f"{floor_rate / single_rate:.1f}× slower",
            single_rate >= 500,
            1,
        )
    )
