"""The field client's sync over HTTP: push the outbox, bootstrap when needed, pull.

``SyncAgent`` is the only part of the client that talks to the server. It
moves state only after it is safe: the outbox is trimmed after a push's
results are stored, the cursor moves after a pull page is applied, so a
network error at any point leaves the replica as it was, and the next sync
picks up where this one stopped (docs/sync-protocol.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from clients.replica import PushOutcome, Replica
from crm.models.base import to_jsonable, utcnow
from sync import protocol

log = logging.getLogger(__name__)

# progress(phase, done, total): phase is "push", "bootstrap", "pull" or "search" (a bootstrap's
# search keys being indexed: the records are usable meanwhile); total may be None.
Progress = Callable[[str, int, int | None], None]


class SyncError(Exception):
    """A sync that could not finish; the message says what to do. Nothing local was lost."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Offline(SyncError):
    """The server cannot be reached."""


class NotLoggedIn(SyncError):
    """No token, or the server refused it (revoked device, disabled user)."""


class Busy(Offline):
    """The server stayed too busy to take this sync (503) through every retry. Nothing was done."""


class UpgradeRequired(SyncError):
    """The server no longer speaks this client's protocol or schema. The outbox is kept."""


class ServerRefused(SyncError):
    """The server answered a request with an error."""

    def __init__(self, message: str, status: int, body: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class Summary:
    pushed: int = 0
    applied: int = 0
    conflicts: int = 0
    refused: int = 0
    pulled: dict[str, int] = field(
        default_factory=lambda: {"upserts": 0, "evicts": 0, "deletes": 0}
    )
    bootstrapped: int = 0
    duration: float = 0.0
    # Seconds until the records were usable: a bootstrap's search keys are indexed after (0: no wait).
    search_index: float = 0.0

    def line(self) -> str:
        p = self.pulled
        text = (
            f"pushed {self.pushed} (applied {self.applied}, conflicts {self.conflicts}, "
            f"refused {self.refused}); pulled {p['upserts']} changed, {p['evicts']} evicted, "
            f"{p['deletes']} deleted"
        )
        if self.bootstrapped:
            text += f"; loaded {self.bootstrapped} records"
        if self.search_index:
            return (
                f"{text} in {self.duration:.1f} s (usable after "
                f"{self.duration - self.search_index:.1f} s; search index {self.search_index:.1f} s)"
            )
        return f"{text} in {self.duration:.1f} s"


# A busy server (503) is asked again after its Retry-After plus up to half of it at random, so
# laptops sent away together do not return together; after BUSY_TRIES answers the sync stops
# with ``Busy`` (the periodic sync tries again later). Longer waits than MAX_WAIT are shortened.
BUSY_TRIES = 5
MAX_WAIT = 30.0
# A connection broken without an answer is tried again once, after BROKEN_WAIT plus up to as much
# again at random.
BROKEN_TRIES = 1
BROKEN_WAIT = 0.5


class SyncAgent:
    """Syncs one replica through ``http`` (an ``httpx.Client`` whose base_url is the server).

    ``sleep`` and ``jitter`` (a number in [0, 1)) are the waits between tries of a busy server:
    ``time.sleep`` and ``random.random`` unless a test passes its own."""

    def __init__(
        self,
        replica: Replica,
        http: httpx.Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.replica = replica
        self.http = http
        self.sleep = sleep
        self.jitter = jitter

    # -- HTTP ---------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        token: str | None = None,
    ) -> httpx.Response:
        headers = protocol.headers()
        if auth:
            # A caller on another thread passes the token: the replica is read on its own thread.
            token = token or self.replica.state("token")
            if not token:
                raise NotLoggedIn(
                    "not logged in: run 'satchel-field login SERVER --user LOGIN' first"
                )
            headers["Authorization"] = f"Bearer {token}"
        broken = busy = 0
        # Only what may be asked twice: a sync request (a push is applied once whatever the tries, by
        # its seq; a pull or a bootstrap page only reads) or a read; never a login (a second device).
        again = BROKEN_TRIES if method == "GET" or path.startswith("/sync/v1/") else 0
        while True:
            try:
                response = self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:
                # A connection broken without an answer (the server's process that held it was
                # killed or restarted; another one answers now) is tried once more, after a moment:
                # a push is applied once whatever the tries (its seq), a pull only reads. A server
                # that does not answer in time is not asked again now.
                if broken < again and not isinstance(exc, httpx.TimeoutException):
                    broken += 1
                    self.sleep(BROKEN_WAIT * (1 + self.jitter()))
                    continue
                raise Offline(
                    f"cannot reach the server ({type(exc).__name__}: {exc}); "
                    "your changes are kept and will be sent next time"
                ) from None
            if response.status_code != 503:
                break
            busy += 1
            if busy == BUSY_TRIES:
                raise Busy(
                    f"the server is busy ({_message(response)}); your changes are kept and "
                    "will be sent next time"
                )
            self.sleep(self._wait(response))
        if response.status_code == 426:
            raise UpgradeRequired(
                f"update Satchel: {_message(response)} (your unsent changes are kept)"
            )
        if response.status_code == 401 and auth:
            raise NotLoggedIn(f"the server refused this device: {_message(response)}; log in again")
        return response

    def _wait(self, busy: httpx.Response) -> float:
        """Seconds before asking a busy server again: its Retry-After (1 s if it gave none or
        nonsense, at most MAX_WAIT), plus up to half again at random."""
        raw = busy.headers.get("retry-after", "").strip()
        after = float(raw) if re.fullmatch(r"[0-9]{1,6}", raw) else 1.0
        after = min(max(after, 1.0), MAX_WAIT)
        return after * (1 + self.jitter() / 2)

    def _post(self, path: str, body: Any, *, token: str | None = None) -> dict[str, Any]:
        response = self._request("POST", path, body, token=token)
        if response.status_code >= 400:
            raise ServerRefused(
                f"{path}: {_message(response)}", response.status_code, _json(response)
            )
        return response.json()

    # -- login --------------------------------------------------------------------

    def login(self, server_url: str, login: str, password: str, device_name: str) -> dict[str, Any]:
        """Log in as ``login`` from a device called ``device_name``; the token goes to the replica."""
        body = {"login": login, "password": password, "device_name": device_name}
        response = self._request("POST", "/api/v1/auth/login", body, auth=False)
        if response.status_code != 201:
            raise NotLoggedIn(f"login refused: {_message(response)}")
        answer = response.json()
        self.replica.remember_login(
            server=server_url,
            login=login,
            token=answer["token"],
            device_id=answer["device"]["id"],
            user=answer["user"],
        )
        return answer

    # -- sync ---------------------------------------------------------------------

    def sync(self, progress: Progress | None = None) -> Summary:
        """Push everything pending, bootstrap if there is no cursor or the server said reset, pull."""
        started = time.monotonic()
        summary = Summary()
        report = progress or (lambda phase, done, total: None)
        try:
            self._refresh_waiting()  # those an earlier sync could not fetch (its answer was lost)
            self.push(summary, report)
            while True:
                if self.replica.state("cursor") is None or self.replica.state("reset"):
                    self.bootstrap(summary, report)
                if self._pull(summary, report):
                    break
                self.push(summary, report)  # reset: push what is pending, then load the scope again
        except Exception:
            # A load finished before the network went (or an earlier one's, on a laptop offline
            # since): its search index needs no server. What failed is what the caller hears.
            with contextlib.suppress(Exception):
                self._search_index(summary, report)
            raise
        self._search_index(summary, report)
        summary.duration = time.monotonic() - started
        self.replica.set_state(
            last_sync=str(to_jsonable(utcnow())), last_summary=json.dumps(asdict(summary))
        )
        return summary

    def _search_index(self, summary: Summary, report: Progress) -> None:
        """Index the search keys a finished bootstrap left unindexed (``Replica.build_search_index``).

        The records are usable meanwhile (the screens read them); a search scans the keys until
        the index is committed."""
        if not self.replica.search_pending():
            return
        report("search", 0, None)
        began = time.monotonic()
        if self.replica.build_search_index():
            summary.search_index = time.monotonic() - began

    def push(self, summary: Summary, report: Progress) -> None:
        """Send the outbox batch by batch until it is empty or the server answers none of it.

        When the server refuses the outbox's numbering the outbox is renumbered and sent again:
        a gap (mutations quarantined before they were sent) is closed; reused seqs (this replica
        was restored from a backup or copied) are moved after the server's last one, once the
        results the server sent for the seqs it really applied are stored.
        """
        device_id = self.replica.state("device_id")
        total = self.replica.status()["pending"]
        renumbered = 0
        while batch := self.replica.pending(protocol.MAX_MUTATIONS):
            response = self._request(
                "POST", "/sync/v1/push", {"device_id": device_id, "mutations": batch}
            )
            body = _json(response)
            error = (
                body.get("error")
                if response.status_code == 409 and isinstance(body, dict)
                else None
            )
            if error in ("sequence_gap", "sequence_reused"):
                renumbered += 1
                if renumbered > 3:
                    raise ServerRefused(
                        "the server keeps refusing the outbox's numbering", 409, body
                    )
                details = body.get("details") or {}
                if error == "sequence_reused":
                    applied = details.get("results") or []
                    self._take(self.replica.store_push_results(applied), len(applied), summary)
                    self.replica.renumber(int(details["expected"]))
                else:
                    self.replica.resequence(int(details["expected"]))
                continue
            if response.status_code >= 400:
                raise ServerRefused(
                    f"push refused: {_message(response)}", response.status_code, body
                )
            outcome = self.replica.store_push_results(body["results"])
            self._take(outcome, len(batch), summary)
            report("push", summary.pushed, total)
            if outcome.applied + outcome.conflicts + outcome.refused == 0:
                break  # the server answered none of them: do not spin

    def _take(self, outcome: PushOutcome, sent: int, summary: Summary) -> None:
        """Count stored push results and fetch the records whose edits the server did not take."""
        summary.pushed += sent
        summary.applied += outcome.applied
        summary.conflicts += outcome.conflicts
        summary.refused += outcome.refused
        self._refresh_waiting()

    def _refresh_waiting(self) -> None:
        """Fetch the records the replica keeps waiting for a refresh; one whose fetch fails on the
        way (the network) stays waiting for the next sync."""
        for type_name, record_id in self.replica.refreshes_waiting():
            if self._refresh(type_name, record_id):
                self.replica.refreshed(type_name, record_id)

    def _refresh(self, type_name: str, record_id: str) -> bool:
        """Fetch one record whose edit the server did not take, so the replica shows the server's copy.
        False when the server failed (5xx): like a lost answer, it is tried again at the next sync."""
        response = self._request("GET", f"/api/v1/{type_name}/{record_id}")
        if response.status_code == 404:
            self.replica.apply_record(type_name, None, record_id)
        elif response.status_code == 200:
            self.replica.apply_record(type_name, response.json(), record_id)
        return response.status_code < 500

    def bootstrap(self, summary: Summary, report: Progress) -> None:
        """Load the whole scope page by page; resumes an interrupted load at its next page.

        The next page is asked for as soon as a page arrives, on a thread of its own, so the server
        builds and sends it while this one is stored (SQLite's inserts let go of the GIL): the load
        takes about the longer of the two rather than their sum. Pages are still stored one at a
        time, in order, each in its own transaction.
        """
        watermark = self.replica.state("bootstrap_watermark")
        following = self.replica.state("bootstrap_next")
        if watermark is None or following is None:
            self.replica.reset_for_bootstrap()
            request: dict[str, Any] = {"watermark": None, "type": None, "after": None}
        else:
            request = {"watermark": int(watermark), **json.loads(following)}
        total = int(self.replica.state("bootstrap_total") or 0) or None
        done = int(self.replica.state("bootstrap_done") or 0)
        token = self.replica.state("token")

        def fetch(request: dict[str, Any]) -> dict[str, Any]:
            body = {**request, "limit": protocol.DEFAULT_PAGE}
            return self._post("/sync/v1/bootstrap", body, token=token)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bootstrap") as pool:
            ahead = pool.submit(fetch, request)
            while True:
                page = ahead.result()
                if page.get("next"):
                    ahead = pool.submit(fetch, {"watermark": page["watermark"], **page["next"]})
                if page.get("total"):
                    total = sum(page["total"].values())
                rows = len(page.get("rows") or ()) if page.get("type") else 0
                last = not page.get("next")
                # Where the load stands is kept in the page's own transaction (one commit a page).
                loaded = self.replica.apply_bootstrap_page(
                    page,
                    bootstrap_total=None if last or total is None else str(total),
                    bootstrap_done=None if last else str(done + rows),
                )
                done += loaded
                summary.bootstrapped += loaded
                report("bootstrap", done, total)
                if last:
                    return

    def _pull(self, summary: Summary, report: Progress) -> bool:
        """Pull until nothing more; False when the server asked for a reset (bootstrap again)."""
        pulled = 0
        while True:
            answer = self._post(
                "/sync/v1/pull",
                {"cursor": self.replica.state("cursor"), "limit": protocol.DEFAULT_PULL},
            )
            counts = self.replica.apply_pull(answer)
            for key, n in counts.items():
                summary.pulled[key] += n
            pulled += sum(counts.values())
            report("pull", pulled, None)
            if answer.get("reset"):
                return False
            if not answer.get("more"):
                return True


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return f"HTTP {response.status_code}"
