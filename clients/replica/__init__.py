"""The field client's local replica: one SQLite file per (server, user).

It holds the same record tables as the server for the records in the user's
scope, plus the client's own bookkeeping (docs/sync-protocol.md, "The field
client's replica"):

* ``replica_version`` — the server version of each local record, the
  ``base_version`` of the next edit of it;
* ``outbox`` — pending mutations in ``seq`` order, kept until their result is stored;
* ``conflict`` — the server's last list of open conflicts, with any local
  resolution not yet pushed;
* ``quarantine`` — refused mutations and pending edits of evicted records;
* ``sync_state`` — server, login, device, token, cursor, next seq, last sync.

Nothing here touches the network: ``clients.agent`` carries the outbox to the
server and the server's answers back. ``Replica`` is one class built in three
layers, a module each, so that each concern reads on its own:

* ``store`` — the file: opening, schema, encryption at rest, transactions, sync
  state, reading, the outbox's storage and numbering;
* ``edits`` — local edits through ``crm.records``, each queued in the outbox in
  the same transaction; pending ones laid back over the server's copies; the
  quarantine;
* ``apply`` — the server's answers: push results, pull pages, bootstraps,
  evictions, refreshed records.
"""

from __future__ import annotations

from clients.replica.apply import EVICTED, Applying, PushOutcome
from clients.replica.edits import LocalEdits

__all__ = ["EVICTED", "LocalEdits", "PushOutcome", "Replica"]


class Replica(Applying):
    """The local replica file. Open it with ``Replica.open(path)``."""
