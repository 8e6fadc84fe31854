"""The sync bodies as models (``sync.wire``) and the record types as one registry (``crm.registry``), issue 17."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import SQLModel

from crm import changes, merge, registry
from crm.errors import MalformedInput
from server import openapi
from sync import protocol, push, wire
from web.routes import duplicates as duplicates_screen

DEVICE: Any = types.SimpleNamespace(id="device-1")
UUID = "6f9619ff-8b86-d011-b42d-00c04fc964ff"


def _parse(*mutations: Any) -> list[dict[str, Any]]:
    return push.parse_push({"device_id": DEVICE.id, "mutations": list(mutations)}, DEVICE)


def _refused(*mutations: Any) -> str:
    with pytest.raises(MalformedInput) as caught:
        _parse(*mutations)
    return caught.value.message


class Memo(SQLModel):
    """A record type of the test's own: not a table, the registry needs only its fields here."""

    id: str
    counterparty_id: str | None = None
    text: str | None = None


@pytest.fixture
def memos() -> Iterator[registry.RecordType]:
    rt = registry.register(
        registry.RecordType(
            "memos",
            "memo",
            Memo,
            lambda *_: None,
            writable=("counterparty_id", "text"),
            sight=registry.Sight.ITS_COUNTERPARTY,
            constraints={"text": registry.NAMED},
            columns=(("text", "Текст / Text"),),
        )
    )
    try:
        yield rt
    finally:
        registry.unregister("memos")


def test_a_type_registered_once_is_a_sync_type_everywhere(memos: registry.RecordType) -> None:
    assert (
        protocol.TYPES[-1] == "memos" and "memos" in protocol.TYPES
    )  # bootstrapped last: registered last
    assert changes.SYNCED[Memo] == "memos"
    [parsed] = _parse(
        {"seq": 1, "op": "create", "type": "memos", "id": UUID, "fields": {"text": "x"}}
    )
    assert parsed["type"] == "memos"
    schemas = openapi.document()["components"]["schemas"]
    assert "memos" in schemas["CreateMutation"]["properties"]["type"]["enum"]
    # Its own declaration is all the rest reads: what the document says a write may hold, what a
    # merge of its counterparty does with it (it belongs to one: it moves, and the screen counts it).
    text = schemas["memo_write"]["properties"]["text"]
    assert [b for b in text["anyOf"] if b.get("type") == "string"] == [
        {"type": "string", **registry.NAMED}
    ]
    assert memos.merged is registry.Merged.EACH
    assert memos in merge.moving(registry.Merged.EACH)
    assert "memos" in duplicates_screen._moved_kinds()


def test_a_type_names_only_fields_it_has() -> None:
    with pytest.raises(ValueError, match=r"memos names fields it lacks: \['txt'\]"):
        registry.RecordType(
            "memos", "memo", Memo, lambda *_: None, writable=(), columns=(("txt", "Text"),)
        )


def test_an_unregistered_type_is_gone_again() -> None:
    assert "memos" not in protocol.TYPES and Memo not in changes.SYNCED
    assert all(rt.model is not Memo for rt in merge.moving(*registry.Merged))
    assert _refused({"seq": 1, "op": "create", "type": "memos", "id": UUID}).startswith(
        "mutations[0].type must be one of teams, users,"
    )


def test_the_document_describes_the_sync_bodies_with_the_models() -> None:
    doc = openapi.document()
    refs, definitions = wire.schemas("#/components/schemas/{model}")
    for name in ("push", "pull", "bootstrap"):
        operation = doc["paths"][f"/sync/v1/{name}"]["post"]
        assert (
            operation["requestBody"]["content"]["application/json"]["schema"]
            == refs[name]["request"]
        )
        assert (
            operation["responses"]["200"]["content"]["application/json"]["schema"]
            == refs[name]["answer"]
        )
    for name, schema in definitions.items():
        assert doc["components"]["schemas"][name] == schema
    mutation = definitions["PushRequest"]["properties"]["mutations"]
    assert mutation["maxItems"] == protocol.MAX_MUTATIONS
    assert set(mutation["items"]["discriminator"]["mapping"]) == set(protocol.OPS)


def test_parsed_mutations_and_their_digests_are_what_they_always_were() -> None:
    """Digests stored by earlier servers must still match a resend of the same outbox entry."""
    parsed = _parse(
        {
            "seq": 1,
            "op": "update",
            "type": "counterparties",
            "id": "{6F9619FF-8B86-D011-B42D-00C04FC964FF}",
            "base_version": 7,
            "fields": {"notes": "x"},
            "client_time": "2026-11-20T09:12:00Z",
            "extra": 1,
        },
        {
            "seq": 2,
            "op": "resolve",
            "conflict_id": UUID.replace("-", ""),
            "choice": "value",
            "value": [1, "a"],
        },
        {"seq": 3, "op": "delete", "type": "reminders", "id": UUID, "fields": "junk"},
    )
    assert parsed[0] == {
        "seq": 1,
        "op": "update",
        "client_time": "2026-11-20T09:12:00Z",
        "type": "counterparties",
        "id": UUID,
        "base_version": 7,
        "fields": {"notes": "x"},
    }
    assert parsed[2]["fields"] == {}
    assert [push.digest(m) for m in parsed] == [
        "b88f493e01bce7bc8f804dd1a4a9d8b501f7ac047518fdf26c4f87b4d8ac3a0a",
        "918d3b3eb3b8d1ba70c17a2d8a5133cf91cc88e56cb2c134f3dcad5cc3a1dad1",
        "5b73d634c7398ddaa5f2e2932c2aa46f3d6aa0822b87307415f26a22c9776d4c",
    ]


_OK = {"seq": 1, "op": "create", "type": "counterparties", "id": UUID}


@pytest.mark.parametrize(
    "mutation, message",
    [
        ("x", "mutations[0] must be an object"),
        ({**_OK, "seq": 0}, "mutations[0].seq must be a positive integer, got 0"),
        ({**_OK, "seq": True}, "mutations[0].seq must be a positive integer, got true"),
        (
            {**_OK, "seq": 1.0, "op": "explode"},
            "mutations[0].seq must be a positive integer, got 1.0",
        ),  # seq is told first
        (
            {**_OK, "op": "explode"},
            'mutations[0].op must be one of create, update, delete, resolve, got "explode"',
        ),
        (
            {**_OK, "client_time": "x" * 41},
            f'mutations[0].client_time must be a short ISO 8601 string, got "{"x" * 41}"',
        ),
        (
            {**_OK, "client_time": "\x1b" * 41},  # escapes count against the cut
            "mutations[0].client_time must be a short ISO 8601 string, got "
            + '"'
            + "\\u001b" * 9
            + "\\u001… (41 characters)",
        ),
        (
            {**_OK, "type": "secrets"},
            f'mutations[0].type must be one of {", ".join(protocol.TYPES)}, got "secrets"',
        ),
        ({**_OK, "id": "not-a-uuid"}, 'mutations[0].id must be a UUID, got "not-a-uuid"'),
        ({**_OK, "id": None}, "mutations[0].id must be a UUID, got null"),
        ({**_OK, "id": 42}, "mutations[0].id must be a UUID, got 42"),
        (
            {**_OK, "base_version": -1},
            "mutations[0].base_version must be a non-negative integer or null, got -1",
        ),
        ({**_OK, "fields": []}, "mutations[0].fields must be an object of field values, got []"),
        (
            {**_OK, "op": "update", "fields": {}},
            "mutations[0].fields must be an object of field values, got {}",
        ),
        (
            {"seq": 1, "op": "resolve", "choice": "mine"},
            "mutations[0].conflict_id must be a UUID, got nothing",
        ),
        (
            {"seq": 1, "op": "resolve", "conflict_id": None, "choice": "mine"},
            "mutations[0].conflict_id must be a UUID, got null",
        ),
        (
            {"seq": 1, "op": "resolve", "conflict_id": UUID, "choice": "both"},
            'mutations[0].choice must be one of mine, theirs, value, got "both"',
        ),
        (
            {"seq": 1, "op": "resolve", "conflict_id": UUID, "choice": None},
            "mutations[0].choice must be one of mine, theirs, value, got null",
        ),
        ({**_OK, "seq": "7"}, 'mutations[0].seq must be a positive integer, got "7"'),
        ({"op": "create"}, "mutations[0].seq must be a positive integer, got nothing"),
        (
            {**_OK, "id": "x" * 100_000},
            f'mutations[0].id must be a UUID, got "{"x" * 59}… (100,000 characters)',
        ),
        (
            {**_OK, "id": {"a": "b" * 100}},
            'mutations[0].id must be a UUID, got {"a": "' + "b" * 53 + "… (109 characters)",
        ),
    ],
)
def test_a_malformed_mutation_is_told_in_the_protocols_words(mutation: Any, message: str) -> None:
    assert _refused(_OK, mutation).replace("mutations[1]", "mutations[0]") == message


@pytest.mark.parametrize(
    "model, body, message",
    [
        (wire.PullRequest, {"cursor": 7}, "cursor must be the string a previous pull returned"),
        (
            wire.PullRequest,
            {"cursor": "7:teams"},
            "cursor '7:teams' is not one this server gave out",
        ),
        (
            wire.PullRequest,
            {"cursor": "7", "limit": 0},
            f"limit must be an integer from 1 to {protocol.MAX_PULL}",
        ),
        (
            wire.BootstrapRequest,
            {"type": "secrets"},
            f"type must be one of {', '.join(protocol.TYPES)}",
        ),
        (
            wire.BootstrapRequest,
            {"watermark": 8},
            "watermark must be the integer the first page returned",
        ),
        (wire.BootstrapRequest, {"after": 3}, "after must be the id the previous page returned"),
    ],
)
def test_a_malformed_pull_or_bootstrap_is_told_in_the_protocols_words(
    model: Any, body: Any, message: str
) -> None:
    with pytest.raises(MalformedInput) as caught:
        wire.parse(model, body, "usage", context={"current": lambda: 7})
    assert caught.value.message == message


def test_a_first_bootstrap_page_may_name_no_type_in_any_empty_way() -> None:
    for empty in (None, "", 0, False, []):
        assert wire.parse(wire.BootstrapRequest, {"type": empty}, "usage").type is None
