"""The sync protocol's bodies as pydantic models (docs/sync-protocol.md).

One description serves three ends: the server validates the bodies of push,
pull and bootstrap requests with these models (``parse``), the OpenAPI document
describes the sync endpoints with their JSON Schema (``server.openapi``), and
docs/sync-protocol.md shows them by example. The answers' models are only
described, not checked on the way out: the verbs build them as plain dicts.

Validation answers a malformed body with ``MalformedInput`` naming the first
problem in the words the protocol has always used (``mutations[3].seq must be a
positive integer``), not pydantic's: a client's message to its user quotes them.
Each model keeps those words per field in ``must``; a field with ``{types}`` in
them names the synced types, a UUID field the value it got.

Record types are not listed here: a ``TypeName`` is any synced type of
``crm.registry`` at the time of the request, and the schema lists them when it
is generated.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationInfo,
)
from pydantic import ValidationError as PydanticError
from pydantic.json_schema import JsonSchemaValue, models_json_schema
from pydantic_core import PydanticCustomError, core_schema

from crm.errors import MalformedInput
from sync import protocol

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _canonical_uuid(value: Any) -> str:
    # As the protocol always read them: whatever ``uuid.UUID`` takes, written the canonical way.
    # Laptops send them canonical already, and a push holds up to a thousand: spare them the parse.
    if type(value) is str and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise PydanticCustomError("uuid", "must be a UUID") from None


def _synced_type(value: Any) -> str:
    if not isinstance(value, str) or value not in protocol.TYPES:
        raise PydanticCustomError("record_type", "must be a synced record type")
    return value


class _TypeNameSchema:
    """The JSON Schema of a ``TypeName``: the synced types registered when it is generated."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(_synced_type)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: Any
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": list(protocol.TYPES)}


def cursor_position(raw: str | None) -> tuple[int, str | None, str | None, int]:
    """(position, after type, after id, base) of a pull cursor this server gave out.

    ``"W"`` is a finished pull: the stream continues after version *W*, and *W* is
    also what the laptop holds (its base). ``"V:type:id:B"`` points inside a pull
    that started from base *B*: the stream continues after (V, type, id), and
    evictions are still judged against *B*, what the laptop held when it started.
    ``"V:type:id"`` is the older form without a base; its base is taken as V - 1.
    """
    if raw is None:
        return 0, None, None, 0
    parts = raw.split(":")
    try:
        version = int(parts[0])
        base = (
            int(parts[3])
            if len(parts) == 4
            else max(version - 1, 0)
            if len(parts) == 3
            else version
        )
    except ValueError:
        raise _not_given_out(raw) from None
    if len(parts) not in (1, 3, 4) or not 0 <= base <= version:
        raise _not_given_out(raw)
    if len(parts) == 1:
        return version, None, None, base
    return version, parts[1], parts[2], base


def _not_given_out(raw: str) -> PydanticCustomError:
    # Type "wire": the message is the protocol's own words, told as they are.
    return PydanticCustomError(
        "wire", "{cursor} is not one this server gave out", {"cursor": repr(raw[:60])}
    )


def _cursor(raw: str) -> str:
    cursor_position(raw)
    return raw


def _not_after_now(watermark: int, info: ValidationInfo) -> int:
    # The caller's context may say what the current version is: a watermark is one the server gave out.
    current = (info.context or {}).get("current")
    if current is not None and watermark > current():
        raise PydanticCustomError("watermark_ahead", "is ahead of the server")
    return watermark


Uuid = Annotated[
    str,
    PlainValidator(_canonical_uuid, json_schema_input_type=str),
    Field(json_schema_extra={"format": "uuid"}),
]
TypeName = Annotated[str, _TypeNameSchema]
Seq = Annotated[
    StrictInt,
    Field(ge=1, description="the device's mutations are numbered 1, 2, 3, … and never repeat"),
]
ClientTime = Annotated[
    StrictStr | None, Field(max_length=40, description="the laptop's clock, shown, never trusted")
]
BaseVersion = Annotated[
    StrictInt | None, Field(ge=0, description="the server version of the client's copy")
]
Choice = Literal["mine", "theirs", "value"]

_MUTATION_WORDS = {
    "seq": "must be a positive integer, got {got}",
    "op": f"must be one of {', '.join(protocol.OPS)}, got {{got}}",
    "client_time": "must be a short ISO 8601 string, got {got}",
    "conflict_id": "must be a UUID, got {got}",
    "choice": f"must be one of {', '.join(protocol.CHOICES)}, got {{got}}",
    "type": "must be one of {types}, got {got}",
    "id": "must be a UUID, got {got}",
    "base_version": "must be a non-negative integer or null, got {got}",
    "fields": "must be an object of field values, got {got}",
}


class _Wire(BaseModel):
    # Keys a body carries beyond the model are ignored, as they always were.
    model_config = ConfigDict(extra="ignore")
    # Per field, what a malformed value is told; in field order, which is the order they are checked in.
    must: ClassVar[dict[str, str]] = {}


class CreateMutation(_Wire):
    """Create a record with the id the laptop made."""

    must = _MUTATION_WORDS
    seq: Seq
    op: Literal["create"]
    client_time: ClientTime = None
    type: TypeName
    id: Uuid
    base_version: BaseVersion = None
    fields: dict[str, Any] = Field(default_factory=dict)


class UpdateMutation(_Wire):
    """Change some fields of a record; merged per field against ``base_version``."""

    must = _MUTATION_WORDS
    seq: Seq
    op: Literal["update"]
    client_time: ClientTime = None
    type: TypeName
    id: Uuid
    base_version: BaseVersion = None
    fields: dict[str, Any] = Field(min_length=1)


def _object_or_empty(value: Any) -> Any:
    return value if isinstance(value, dict) else {}


class DeleteMutation(_Wire):
    """Delete a record; a conflict if someone else changed it since ``base_version``."""

    must = _MUTATION_WORDS
    seq: Seq
    op: Literal["delete"]
    client_time: ClientTime = None
    type: TypeName
    id: Uuid
    base_version: BaseVersion = None
    fields: Annotated[dict[str, Any], BeforeValidator(_object_or_empty)] = Field(
        default_factory=dict, description="ignored"
    )


class ResolveMutation(_Wire):
    """Settle a conflict from the laptop: ``mine``, ``theirs`` or a new ``value``."""

    must = _MUTATION_WORDS
    seq: Seq
    op: Literal["resolve"]
    client_time: ClientTime = None
    conflict_id: Uuid
    choice: Choice
    value: Any = None


Mutation = Annotated[
    CreateMutation | UpdateMutation | DeleteMutation | ResolveMutation, Field(discriminator="op")
]


class PushRequest(_Wire):
    """``POST /sync/v1/push``: a device's outbox, or the start of it."""

    device_id: str = Field(description="the pushing device; a device pushes only its own changes")
    mutations: list[Mutation] = Field(max_length=protocol.MAX_MUTATIONS)


class MutationError(_Wire):
    error: str
    message: str
    details: Any = None


class MutationResult(_Wire):
    """What became of one mutation; ``refused`` ones go to the laptop's quarantine."""

    seq: int
    status: Literal["applied", "conflict", "refused"]
    version: int | None = None
    conflicts: list[str] | None = Field(default=None, description="ids of the conflicts it opened")
    error: MutationError | None = None
    note: str | None = None


class PushAnswer(_Wire):
    last_seq: int
    version: int
    results: list[MutationResult]


class PullRequest(_Wire):
    """``POST /sync/v1/pull``: the changes after a cursor."""

    must = {
        "cursor": "must be the string a previous pull returned",
        "limit": f"must be an integer from 1 to {protocol.MAX_PULL}",
    }
    cursor: Annotated[StrictStr, AfterValidator(_cursor)] | None = Field(
        default=None, description="as the previous pull returned; null: from nothing"
    )
    limit: Annotated[StrictInt, Field(ge=1, le=protocol.MAX_PULL)] | None = Field(
        default=None, description=f"changes per page, {protocol.DEFAULT_PULL} by default"
    )


class ConflictSide(_Wire):
    value: Any = None
    by: str | None = None
    device: str | None = None
    at: str | None = None
    client_time: str | None = None


class Conflict(_Wire):
    """An open (or resolved) conflict, as pulls and ``/api/v1/conflicts`` list it."""

    id: str
    kind: str
    type: str
    record_id: str
    field: str | None = None
    status: str
    created_at: str | None = None
    server: ConflictSide
    client: ConflictSide
    resolution: Any = None
    resolved_by: str | None = None
    resolved_at: str | None = None


class Change(_Wire):
    op: Literal["upsert", "evict", "delete"]
    type: str
    id: str
    version: int
    record: dict[str, Any] | None = Field(
        default=None, description="upserts only: the record as it is now"
    )


class PullAnswer(_Wire):
    cursor: str
    more: bool
    reset: bool = Field(description="push the outbox, then bootstrap again")
    changes: list[Change]
    conflicts: list[Conflict]
    conflicts_more: bool


def _none_if_empty(value: Any) -> Any:
    # A bootstrap's first request may say "no type" with any empty value, as it always could.
    return value or None


class BootstrapRequest(_Wire):
    """``POST /sync/v1/bootstrap``: one page of the caller's scope."""

    must = {
        "watermark": "must be the integer the first page returned",
        "type": "must be one of {types}",
        "after": "must be the id the previous page returned",
        "limit": f"must be an integer from 1 to {protocol.MAX_PAGE}",
    }
    watermark: Annotated[StrictInt, Field(ge=0), AfterValidator(_not_after_now)] | None = Field(
        default=None, description="null on the first page, then as the first page returned"
    )
    type: Annotated[TypeName | None, BeforeValidator(_none_if_empty)] = None
    after: StrictStr | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=protocol.MAX_PAGE)] | None = Field(
        default=None, description=f"rows per page, {protocol.DEFAULT_PAGE} by default"
    )


class BootstrapNext(_Wire):
    type: str
    after: str | None


class BootstrapPage(_Wire):
    watermark: int
    type: str
    fields: list[str]
    rows: list[list[Any]]
    versions: list[int]
    next: BootstrapNext | None
    total: dict[str, int] | None = Field(
        default=None, description="first page only: records per type"
    )


# Built once: a push validates up to MAX_MUTATIONS mutations per request.
_MUTATIONS: TypeAdapter[list[Mutation]] = TypeAdapter(list[Mutation])
_SEQ: TypeAdapter[int] = TypeAdapter(Seq)
_ORDER = {name: i for i, name in enumerate(_MUTATION_WORDS)}


def _words(model: type[_Wire], name: str, error: Any) -> str:
    if error["type"] == "wire":
        return str(error["msg"])
    return model.must[name].format(types=", ".join(protocol.TYPES), got=_shown(error))


_SHOWN = 60  # characters of a wrong value quoted back


def _shown(error: Any) -> str:
    """What a field held, as the JSON it came in says it (``null``, not Python's ``None``)."""
    return "nothing" if error["type"] == "missing" else quoted(error["input"])


def quoted(value: Any) -> str:
    """``value`` as JSON, cut after ``_SHOWN`` characters of it (escapes counted) with its length
    given: a wrong value quoted back in an error never makes the answer long."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= _SHOWN:
        return text
    return f"{text[:_SHOWN]}… ({len(value) if isinstance(value, str) else len(text):,} characters)"


def parse_mutations(raw: list[Any]) -> list[dict[str, Any]]:
    """The mutations of a push as plain dicts, each with the keys of its op's model, or
    ``MalformedInput`` naming the first problem (the earliest mutation, its earliest field)."""
    try:
        parsed = _MUTATIONS.validate_python(raw)
    except PydanticError as exc:
        error = min(
            exc.errors(),
            key=lambda e: (
                e["loc"][0],
                _ORDER.get(str(e["loc"][2]), -1) if len(e["loc"]) > 2 else -1,
            ),
        )
        where = f"mutations[{error['loc'][0]}]"
        if len(error["loc"]) < 3:
            if not isinstance(error["input"], dict):
                raise MalformedInput(f"{where} must be an object") from None
            # The op decides the model, so pydantic looks at it first; the protocol has always
            # named a bad seq before a bad op.
            sent = error["input"]

            def wrong(field_name: str) -> MalformedInput:
                shown = quoted(sent[field_name]) if field_name in sent else "nothing"
                words = _MUTATION_WORDS[field_name].format(got=shown)
                return MalformedInput(f"{where}.{field_name} {words}")

            try:
                _SEQ.validate_python(sent.get("seq"))
            except PydanticError:
                raise wrong("seq") from None
            raise wrong("op") from None
        name = str(error["loc"][2])
        raise MalformedInput(f"{where}.{name} {_words(CreateMutation, name, error)}") from None
    return [dict(m.__dict__) for m in parsed]


def parse(model: type[_Wire], body: Any, usage: str, context: dict[str, Any] | None = None) -> Any:
    """``body`` as ``model``, or ``MalformedInput``: ``usage`` for a body that is no object, else
    the words of the first field found wrong (in the model's field order). ``context`` goes to
    the validators (a bootstrap's ``current``: a function that reads the current version)."""
    if not isinstance(body, dict):
        raise MalformedInput(usage)
    try:
        return model.model_validate(body, context=context)
    except PydanticError as exc:
        order = list(model.model_fields)
        error = min(exc.errors(), key=lambda e: order.index(str(e["loc"][0])))
        name = str(error["loc"][0])
        raise MalformedInput(f"{name} {_words(model, name, error)}") from None


def schemas(ref_template: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The JSON Schema of each request and answer, by operation: ``({"push": {"request": {"$ref": …},
    "answer": {"$ref": …}}, …}, definitions)``, the definitions to be placed where ``ref_template`` points."""
    pairs: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
        "push": (PushRequest, PushAnswer),
        "pull": (PullRequest, PullAnswer),
        "bootstrap": (BootstrapRequest, BootstrapPage),
    }
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for request, answer in pairs.values():
        wanted += [(request, "validation"), (answer, "serialization")]
    wanted.append((Conflict, "serialization"))
    refs, definitions = models_json_schema(wanted, ref_template=ref_template)
    out = {
        name: {"request": refs[(request, "validation")], "answer": refs[(answer, "serialization")]}
        for name, (request, answer) in pairs.items()
    }
    out["conflict"] = {"answer": refs[(Conflict, "serialization")]}
    return out, definitions.get("$defs", {})
