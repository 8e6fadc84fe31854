"""The sync protocol's constants and its wire shapes (see docs/sync-protocol.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from crm import registry

PROTOCOL = 1
# Raised with every migration that changes a synced table's fields. A client of an older schema down
# to MIN_SCHEMA is served the types it knows (``types_for``); one older still is told to update.
SCHEMA = 9
MIN_PROTOCOL = 1
MIN_SCHEMA = 5

PROTOCOL_HEADER = "Satchel-Protocol"
SCHEMA_HEADER = "Satchel-Schema"

MAX_MUTATIONS = 1000
DEFAULT_PULL = 1000
MAX_PULL = 5000
DEFAULT_PAGE = 5000
MAX_PAGE = 20000
TOMBSTONE_DAYS = 400


class _SyncedTypes(Sequence[str]):
    """The wire names of the synced record types, in bootstrap order (what a record points at
    arrives before it), read from ``crm.registry`` at each use: a type registered there is a
    protocol type without another declaration."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return registry.synced_names()[index]

    def __len__(self) -> int:
        return len(registry.synced_names())

    def __iter__(self) -> Iterator[str]:
        return iter(registry.synced_names())

    def __contains__(self, name: object) -> bool:
        return name in registry.synced_names()

    def __repr__(self) -> str:
        return repr(registry.synced_names())


TYPES: Sequence[str] = _SyncedTypes()
OPS = ("create", "update", "delete", "resolve")


def types_for(schema: int) -> tuple[str, ...]:
    """The synced types a client of ``schema`` knows, in bootstrap order: those a later schema
    brought (``RecordType.since_schema``) are not sent to it, nor bootstrapped, nor its conflicts."""
    if schema >= SCHEMA:
        return registry.synced_names()
    return tuple(
        name
        for name in registry.synced_names()
        if registry.RECORD_TYPES[name].since_schema <= schema
    )


CHOICES = ("mine", "theirs", "value")


def headers() -> dict[str, str]:
    """What a client sends with every sync request."""
    return {PROTOCOL_HEADER: str(PROTOCOL), SCHEMA_HEADER: str(SCHEMA)}


def mine_is_server_side(
    conflict: dict[str, Any], user_id: str | None, device_id: str | None
) -> bool:
    """Whether "mine" means the conflict's server side (the change that reached the server first).

    "Mine" is the resolver's own change: the side their device made, else the side
    they made from another device; when they made neither, the side that arrived second.
    """
    server, client = conflict.get("server") or {}, conflict.get("client") or {}
    if device_id is not None and device_id in (server.get("device"), client.get("device")):
        return bool(server.get("device") == device_id)
    return bool(user_id is not None and server.get("by") == user_id and client.get("by") != user_id)
