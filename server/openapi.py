"""The OpenAPI 3.1 document of the whole API, built from the same tables the routes come from."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import records
from crm.completeness import RULES, SORTS, describe
from server.http import json_response
from sync import protocol, wire

_ERROR = {"$ref": "#/components/schemas/Error"}


# crm.validation takes dates and times from the years 1900 to 2200 only.
_YEARS = r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-"


def _dated(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        return {**schema, "anyOf": [_dated(b) for b in schema["anyOf"]]}
    return (
        {**schema, "pattern": _YEARS} if schema.get("format") in ("date", "date-time") else schema
    )


def _constrained(schema: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        return {
            **schema,
            "anyOf": [
                b if b.get("type") == "null" else _constrained(b, extra) for b in schema["anyOf"]
            ],
        }
    merged = dict(schema)
    for key, value in extra.items():
        merged[key] = (
            _constrained(merged[key], value) if isinstance(value, dict) and key in merged else value
        )
    return merged


def _field_schema(rt: records.RecordType, name: str) -> dict[str, Any]:
    annotation = rt.model.model_fields[name].annotation
    assert annotation is not None, (
        f"{rt.name}.{name} has no annotation"
    )  # a model field always has one
    schema = TypeAdapter(annotation).json_schema()
    schema.pop("title", None)
    return schema


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request",
        401: "Not logged in, or token revoked",
        403: "Not allowed",
        404: "Not found or not visible",
        409: "Version conflict",
        413: "Body too large",
        422: "Invalid values",
        426: "Client too old: update it (its outbox is kept)",
        429: "Too many attempts",
        503: "Busy: nothing was done; try again after Retry-After seconds (with some jitter)",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}}
        for c in codes
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _record_paths(rt: records.RecordType) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{rt.singular}"}
    new = {"$ref": f"#/components/schemas/{rt.singular}_write"}
    tag = [rt.name]
    filters = [
        {
            "name": f,
            "in": "query",
            "required": False,
            "schema": _dated(_field_schema(rt, f)),
            "description": f"equals; also {f}__gte, {f}__gt, {f}__lte, {f}__lt",
        }
        for f in rt.filters
    ]
    paging = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": records.MAX_PAGE, "default": 50},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string", "enum": [*rt.sorts, *("-" + s for s in rt.sorts)]},
            "description": "a leading '-' sorts descending",
        },
    ]
    if rt.searchable:
        paging.append(
            {
                "name": "q",
                "in": "query",
                "schema": {"type": "string"},
                "description": "name fragment (any case, Cyrillic too), INN, phone in any format, or email",
            }
        )
    id_param = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "the ETag (version) the edit is based on",
    }
    etag = {
        "ETag": {
            "description": "the record's version, to send back as If-Match",
            "required": True,
            "schema": {"type": "string"},
        }
    }
    location = {
        "Location": {
            "description": "the created record's address",
            "required": True,
            "schema": {"type": "string"},
        }
    }
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }
    paths: dict[str, Any] = {
        f"/api/v1/{rt.name}": {
            "get": {
                "tags": tag,
                "summary": f"List {rt.name}",
                "operationId": f"list_{rt.singular}",
                "parameters": paging + filters,
                "responses": {
                    "200": _json(page) | {"description": "A page"},
                    **_errors(400, 401, 422),
                },
            },
            "post": {
                "tags": tag,
                "summary": f"Create a {rt.singular}",
                "operationId": f"create_{rt.singular}",
                "requestBody": {"required": True, **_json(new)},
                "responses": {
                    "201": _json(ref) | {"description": "Created", "headers": etag | location},
                    **_errors(400, 401, 403, 409, 413, 422),
                },
            },
        },
        f"/api/v1/{rt.name}/batch": {
            "post": {
                "tags": tag,
                "summary": f"Create up to {records.MAX_BATCH} {rt.name} at once, all or none",
                "operationId": f"create_{rt.singular}_batch",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "items": new,
                                    "maxItems": records.MAX_BATCH,
                                }
                            },
                        }
                    ),
                },
                "responses": {
                    "201": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": ref}}}
                    )
                    | {"description": "Created, in the order sent"},
                    **_errors(400, 401, 413, 422),
                },
            },
        },
        f"/api/v1/{rt.name}/{{id}}": {
            "get": {
                "tags": tag,
                "summary": f"Get a {rt.singular}",
                "operationId": f"get_{rt.singular}",
                "parameters": id_param,
                "responses": {
                    "200": _json(ref) | {"description": "The record", "headers": etag},
                    **_errors(401, 404),
                },
            },
            "patch": {
                "tags": tag,
                "summary": f"Change some fields of a {rt.singular}",
                "operationId": f"update_{rt.singular}",
                "parameters": [*id_param, if_match],
                "requestBody": {"required": True, **_json(new)},
                "responses": {
                    "200": _json(ref) | {"description": "Updated", "headers": etag},
                    **_errors(400, 401, 403, 404, 409, 413, 422),
                },
            },
            "delete": {
                "tags": tag,
                "summary": f"Delete a {rt.singular}",
                "operationId": f"delete_{rt.singular}",
                "parameters": [*id_param, if_match],
                "responses": {
                    "204": {"description": "Deleted"},
                    **_errors(400, 401, 403, 404, 409),
                },
            },
        },
    }
    if rt.read_only:  # computed or imported by the server: read, never written over the API
        del paths[f"/api/v1/{rt.name}/batch"]
        del paths[f"/api/v1/{rt.name}"]["post"]
        for verb in ("patch", "delete"):
            del paths[f"/api/v1/{rt.name}/{{id}}"][verb]
    return paths


_ID = "$response.body#/id"
_VERSION = "$response.header.ETag"


def _link(
    operation_id: str,
    description: str,
    parameters: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An OpenAPI link; a ``body`` is merged into the target's request body, its runtime expressions evaluated."""
    link: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        link["parameters"] = parameters
    if body is not None:
        link["requestBody"] = body
    return link


def _links() -> dict[tuple[str, str], dict[str, Any]]:
    """How an answer's values feed the next call, by (operationId, status code).

    The create, read and change of every record type chain by id (and If-Match from
    the ETag); a new counterparty, contact person, deal or interaction leads to the
    records made under it; a feed to its revocation and new URL; the conflict list to
    a resolution. Devices are not linked: revoking the caller's own device ends its token.
    """
    links: dict[tuple[str, str], dict[str, Any]] = {}
    for rt in records.RECORD_TYPES.values():
        s = rt.singular
        if rt.read_only:
            first = {"path.id": "$response.body#/items/0/id"}
            links[(f"list_{s}", "200")] = {
                "GetFirst": _link(f"get_{s}", f"Read the first {s} listed", first)
            }
            continue
        by_id = {"path.id": _ID}
        versioned = {"path.id": _ID, "header.If-Match": _VERSION}
        first = {"path.id": "$response.body#/items/0/id"}
        links[(f"create_{s}", "201")] = {
            "Get": _link(f"get_{s}", f"Read the new {s}", by_id),
            "Update": _link(f"update_{s}", f"Change the new {s}", versioned),
            "Delete": _link(f"delete_{s}", f"Delete the new {s}", versioned),
        }
        links[(f"create_{s}_batch", "201")] = {
            "GetFirst": _link(f"get_{s}", f"Read the first new {s}", first)
        }
        links[(f"list_{s}", "200")] = {
            "GetFirst": _link(f"get_{s}", f"Read the first {s} listed", first)
        }
        links[(f"get_{s}", "200")] = {
            "Update": _link(f"update_{s}", f"Change the {s} as read", versioned),
            "Delete": _link(f"delete_{s}", f"Delete the {s} as read", versioned),
        }
        links[(f"update_{s}", "200")] = {
            "Get": _link(f"get_{s}", f"Read the changed {s} back", by_id),
            "Delete": _link(f"delete_{s}", f"Delete the changed {s}", versioned),
        }

    def reminder(subject: str) -> dict[str, Any]:
        return _link(
            "create_reminder",
            f"A reminder about the new {subject}",
            body={"subject_type": subject, "subject_id": _ID},
        )

    under_counterparty = {"counterparty_id": _ID}
    links[("create_counterparty", "201")] |= {
        "CreateContactPerson": _link(
            "create_contact_person",
            "A contact person at the new counterparty",
            body=under_counterparty,
        ),
        "CreateDeal": _link(
            "create_deal", "A deal with the new counterparty", body=under_counterparty
        ),
        "CreateInteraction": _link(
            "create_interaction",
            "An interaction with the new counterparty",
            body=under_counterparty,
        ),
        "CreateShare": _link("create_share", "Share the new counterparty", body=under_counterparty),
        "CreateReminder": reminder("counterparty"),
        "ListContactPersons": _link(
            "list_contact_person",
            "The new counterparty's contact persons",
            {"query.counterparty_id": _ID},
        ),
        "ListDeals": _link(
            "list_deal", "The new counterparty's deals", {"query.counterparty_id": _ID}
        ),
        "ListInteractions": _link(
            "list_interaction",
            "The new counterparty's interactions",
            {"query.counterparty_id": _ID},
        ),
    }
    links[("create_contact_person", "201")] |= {
        "CreateInteraction": _link(
            "create_interaction",
            "An interaction with the new contact person",
            body={"counterparty_id": "$response.body#/counterparty_id", "contact_person_id": _ID},
        ),
        "CreateReminder": reminder("contact_person"),
    }
    links[("create_deal", "201")] |= {
        "CreateInteraction": _link(
            "create_interaction",
            "An interaction about the new deal",
            body={"counterparty_id": "$response.body#/counterparty_id", "deal_id": _ID},
        ),
        "CreateReminder": reminder("deal"),
    }
    links[("create_interaction", "201")] |= {"CreateReminder": reminder("interaction")}
    links[("create_team", "201")] |= {
        "CreateUser": _link("create_user", "A user in the new team", body={"team_id": _ID}),
        "ListUsers": _link("list_user", "The new team's users", {"query.team_id": _ID}),
    }
    links[("me", "200")] = {
        "GetUser": _link(
            "get_user", "The calling user's record", {"path.id": "$response.body#/user/id"}
        )
    }
    revoke = _link("revoke_feed", "Revoke this feed", {"path.feed_id": _ID})
    links[("create_feed", "201")] = {
        "Revoke": revoke,
        "Regenerate": _link("regenerate_feed", "Replace this feed's URL", {"path.feed_id": _ID}),
    }
    links[("regenerate_feed", "201")] = {"Revoke": revoke}
    links[("list_feeds", "200")] = {
        "RevokeFirst": _link(
            "revoke_feed",
            "Revoke the first feed listed",
            {"path.feed_id": "$response.body#/items/0/id"},
        )
    }
    links[("list_conflicts", "200")] = {
        "ResolveFirst": _link(
            "resolve_conflict",
            "Settle the first conflict listed",
            {"path.conflict_id": "$response.body#/items/0/id"},
        )
    }
    return links


def _auth_paths() -> dict[str, Any]:
    user = {"$ref": "#/components/schemas/user"}
    device = {"$ref": "#/components/schemas/Device"}
    feed = {"$ref": "#/components/schemas/Feed"}
    login_body = {
        "type": "object",
        "required": ["login", "password", "device_name"],
        "properties": {
            "login": {"type": "string"},
            "password": {"type": "string", "format": "password"},
            "device_name": {"type": "string"},
        },
    }
    login_answer = {
        "type": "object",
        "properties": {"token": {"type": "string"}, "device": device, "user": user},
    }
    return {
        "/api/v1/auth/login": {
            "post": {
                "tags": ["auth"],
                "summary": "Log in from a named device; returns its bearer token",
                "operationId": "login",
                "security": [],
                "requestBody": {"required": True, **_json(login_body)},
                "responses": {
                    "201": _json(login_answer) | {"description": "Logged in"},
                    **_errors(400, 401, 429),
                },
            }
        },
        "/api/v1/auth/logout": {
            "post": {
                "tags": ["auth"],
                "summary": "Revoke the calling device's token",
                "operationId": "logout",
                "responses": {"204": {"description": "Logged out"}, **_errors(401)},
            }
        },
        "/api/v1/me": {
            "get": {
                "tags": ["auth"],
                "summary": "The calling user and device",
                "operationId": "me",
                "responses": {
                    "200": _json({"type": "object", "properties": {"user": user, "device": device}})
                    | {"description": "You"},
                    **_errors(401),
                },
            }
        },
        "/api/v1/devices": {
            "get": {
                "tags": ["auth"],
                "summary": "Your devices (admins: all=1 for everyone's)",
                "operationId": "list_devices",
                "parameters": [
                    {"name": "all", "in": "query", "schema": {"type": "string", "enum": ["1"]}}
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": device}},
                        }
                    )
                    | {"description": "Devices"},
                    **_errors(401),
                },
            }
        },
        "/api/v1/devices/{device_id}": {
            "delete": {
                "tags": ["auth"],
                "summary": "Revoke a device (a lost laptop is cut off at once)",
                "operationId": "revoke_device",
                "parameters": [
                    {
                        "name": "device_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(device) | {"description": "Revoked"},
                    **_errors(401, 403, 404),
                },
            }
        },
        "/calendar/{token}.ics": {
            "get": {
                "tags": ["calendar"],
                "summary": "A calendar feed (iCalendar) for Outlook, Google and phones",
                "operationId": "calendar_feed",
                "security": [],
                "parameters": [
                    {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                    {"name": "If-Modified-Since", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The feed",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    "304": {"description": "Unchanged since the validators sent"},
                    "404": {"description": "Unknown or revoked token"},
                    "429": {"description": "Too many bad tokens"},
                },
            }
        },
        "/api/v1/feeds": {
            "get": {
                "tags": ["calendar"],
                "summary": "Your calendar feeds",
                "operationId": "list_feeds",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": feed}},
                        }
                    )
                    | {"description": "Feeds"},
                    **_errors(401),
                },
            },
            "post": {
                "tags": ["calendar"],
                "summary": "Issue a feed; its URL is shown only in this answer",
                "operationId": "create_feed",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["kind"],
                            "properties": {
                                "kind": {"type": "string", "enum": ["plan", "team", "birthdays"]},
                                "free_busy": {"type": "boolean"},
                                "label": {"type": "string"},
                            },
                        }
                    ),
                },
                "responses": {
                    "201": _json(feed) | {"description": "Issued"},
                    **_errors(400, 401, 403, 422),
                },
            },
        },
        "/api/v1/feeds/{feed_id}": {
            "delete": {
                "tags": ["calendar"],
                "summary": "Revoke a feed; its URL fails from the next poll on",
                "operationId": "revoke_feed",
                "parameters": [
                    {
                        "name": "feed_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": _json(feed) | {"description": "Revoked"}, **_errors(401, 404)},
            }
        },
        "/api/v1/feeds/{feed_id}/regenerate": {
            "post": {
                "tags": ["calendar"],
                "summary": "Replace a feed's URL (the old one stops working)",
                "operationId": "regenerate_feed",
                "parameters": [
                    {
                        "name": "feed_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"201": _json(feed) | {"description": "New URL"}, **_errors(401, 404)},
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "tags": ["meta"],
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": {"description": "OpenAPI document"}},
            }
        },
        "/healthz": {
            "get": {
                "tags": ["meta"],
                "summary": "Liveness and database check",
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": {"description": "Healthy"},
                    "503": {"description": "Database unreachable"},
                },
            }
        },
    }


def _sync_paths(shapes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The sync endpoints; their bodies are ``sync.wire``'s models (``shapes``), explained in
    docs/sync-protocol.md."""
    versions = [
        {
            "name": "Satchel-Protocol",
            "in": "header",
            "required": True,
            "schema": {"type": "integer"},
        },
        {"name": "Satchel-Schema", "in": "header", "required": True, "schema": {"type": "integer"}},
    ]

    def op(summary: str, operation: str, *codes: int) -> dict[str, Any]:
        shape = shapes[operation.removeprefix("sync_")]
        return {
            "post": {
                "tags": ["sync"],
                "summary": summary,
                "operationId": operation,
                "parameters": versions,
                "description": "See docs/sync-protocol.md.",
                "requestBody": {"required": True, **_json(shape["request"])},
                "responses": {
                    "200": _json(shape["answer"]) | {"description": "Done"},
                    **_errors(*codes),
                },
            }
        }

    conflict = shapes["conflict"]["answer"]
    return {
        "/sync/v1/push": op(
            "Apply a device's outbox: idempotent, ordered, merged per field",
            "sync_push",
            400,
            401,
            403,
            409,
            413,
            426,
            503,
        ),
        "/sync/v1/pull": op(
            "Changes since a cursor within the caller's scope", "sync_pull", 400, 401, 426, 503
        ),
        "/sync/v1/bootstrap": op(
            "A page of the caller's scope for a new device (gzip)",
            "sync_bootstrap",
            400,
            401,
            426,
            503,
        ),
        "/api/v1/conflicts": {
            "get": {
                "tags": ["sync"],
                "summary": "Conflicts that concern you",
                "operationId": "list_conflicts",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "resolved"]},
                    }
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": conflict}},
                        }
                    )
                    | {"description": "Conflicts"},
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/conflicts/{conflict_id}/resolve": {
            "post": {
                "tags": ["sync"],
                "summary": "Settle a conflict: mine, theirs or a new value",
                "operationId": "resolve_conflict",
                "parameters": [
                    {
                        "name": "conflict_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["choice"],
                            "properties": {
                                "choice": {"type": "string", "enum": list(protocol.CHOICES)},
                                "value": {},
                            },
                        }
                    ),
                },
                "responses": {
                    "200": _json(conflict) | {"description": "Resolved"},
                    **_errors(400, 401, 404, 409, 422),
                },
            }
        },
    }


def _segment_paths() -> dict[str, Any]:
    """A saved segment's members (server/api/segments.py)."""
    member = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "legal_name": {"type": "string"},
            **{
                k: {"type": ["string", "null"]}
                for k in ("inn", "owner_id", "owner", "region", "abc_class", "xyz_class")
            },
        },
    }
    return {
        "/api/v1/segments/{id}/members": {
            "get": {
                "tags": ["segments"],
                "summary": "The counterparties the caller sees that match a saved segment, by name",
                "operationId": "segment_members",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": records.MAX_PAGE,
                            "default": 50,
                        },
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": records.MAX_OFFSET,
                            "default": 0,
                        },
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "search among them as the counterparties' list searches",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "One page of the members",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "segment": {"type": "object"},
                                    "items": {"type": "array", "items": member},
                                    "total": {"type": "integer"},
                                    "limit": {"type": "integer"},
                                    "offset": {"type": "integer"},
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 404),
                },
            }
        }
    }


def _mailing_paths() -> dict[str, Any]:
    """A mailing's plan and its queueing (server/api/mailings.py)."""
    text = {"type": "string"}
    maybe = {"type": ["string", "null"]}
    recipient = {
        "type": "object",
        "properties": {
            "counterparty_id": text,
            "counterparty_name": text,
            "contact_person_id": text,
            "person_name": text,
            "email": text,
            "interaction_id": maybe,
            "state": {"type": "string", "enum": ["queued", "sent", "failed", "bounced"]},
        },
    }
    left_out = {
        "type": "object",
        "properties": {
            "counterparty_id": text,
            "counterparty_name": text,
            "contact_person_id": maybe,
            "person_name": maybe,
            "email": maybe,
            "reason": {
                "type": "string",
                "enum": ["opted_out", "no_address", "failing", "no_people", "duplicate"],
            },
        },
    }
    count = {"type": "integer"}
    mailing = {"$ref": "#/components/schemas/mailing"}
    path_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    return {
        "/api/v1/mailings/{id}/plan": {
            "get": {
                "tags": ["mailings"],
                "summary": "Who a mailing writes to and who it leaves out (of a queued one: its "
                "letters and where each stands); rows only of the clients the caller sees",
                "operationId": "mailing_plan",
                "parameters": [path_id],
                "responses": {
                    "200": {
                        "description": "The plan",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "mailing": mailing,
                                    "recipients": count,
                                    "clients": count,
                                    "opted_out": count,
                                    "unreachable": count,
                                    "duplicates": count,
                                    "hidden": count,
                                    "items": {"type": "array", "items": recipient},
                                    "left_out": {"type": "array", "items": left_out},
                                },
                            }
                        ),
                    },
                    **_errors(400, 401, 404),
                },
            }
        },
        "/api/v1/mailings/{id}/queue": {
            "post": {
                "tags": ["mailings"],
                "summary": "Queue a draft mailing's letters in the outbox, one per address; "
                "a queued one again writes nothing",
                "operationId": "mailing_queue",
                "parameters": [path_id],
                "responses": {
                    "201": {
                        "description": "Queued: how many letters were written",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"mailing": mailing, "letters": count},
                            }
                        ),
                    },
                    "200": {
                        "description": "Queued already: nothing written (letters is 0)",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"mailing": mailing, "letters": count},
                            }
                        ),
                    },
                    **_errors(400, 401, 403, 404, 422),
                },
            }
        },
    }


def _reports_paths() -> dict[str, Any]:
    """The analyses (server/api/reports.py): ABC/XYZ, the matrix, RFM, neglected clients, moves,
    the deals funnel, lost reasons, sources, activity, the cards' completeness and receivables."""

    day = {"type": "string", "format": "date"}
    period = [
        {
            "name": "from",
            "in": "query",
            "schema": day,
            "description": "first month (default: 12 full months back)",
        },
        {
            "name": "to",
            "in": "query",
            "schema": day,
            "description": "last month (default: last month)",
        },
    ]
    percent = {"type": "number", "minimum": 0, "maximum": 100}
    thresholds = [
        {"name": name, "in": "query", "schema": percent | {"default": default}, "description": text}
        for name, default, text in (
            ("a", 70, "A: share of the total, percent"),
            ("b", 20, "B: share of the total, percent (C: the rest)"),
            ("x", 10, "X: at most this variation of monthly revenue, percent"),
            ("y", 25, "Y: at most this variation, percent"),
        )
    ] + [
        {
            "name": "min_months",
            "in": "query",
            "schema": {"type": "integer", "minimum": 2, "maximum": 120, "default": 6},
            "description": "months of history a client needs for an XYZ class",
        }
    ]
    basis = {
        "name": "basis",
        "in": "query",
        "schema": {"type": "string", "enum": ["revenue", "profit"], "default": "revenue"},
    }
    group = {
        "name": "group",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "only this product group",
    }
    fmt = {
        "name": "format",
        "in": "query",
        "schema": {"type": "string", "enum": ["json", "xlsx", "csv"], "default": "json"},
        "description": "json, or a file to open in Excel",
    }
    owner = {
        "name": "owner",
        "in": "query",
        "schema": {"type": "string", "maxLength": 100},
        "description": "only this salesperson's deals or contacts (a login or a user id)",
    }
    segment = {
        "name": "segment",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "only the counterparties of this saved segment (its id or name) the caller "
        "sees; ABC ranks within them (404: no such segment)",
    }
    report = {
        "type": "object",
        "properties": {
            "report": {"type": "string"},
            "title": {"type": "string"},
            "about": {"type": "object"},
            "columns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "title": {"type": "string"},
                        "kind": {
                            "type": "string",
                            "enum": ["text", "int", "money", "price", "percent", "date"],
                        },
                    },
                },
            },
            "rows": {"type": "array", "items": {"type": "object"}},
        },
    }
    answer = {
        "200": {
            "description": "The report",
            "content": {
                "application/json": {"schema": report},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **_errors(400, 401, 404, 422),
    }

    def get(op: str, summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "get": {
                "tags": ["reports"],
                "summary": summary,
                "operationId": op,
                "parameters": [*parameters, fmt],
                "responses": answer,
            }
        }

    return {
        "/api/v1/reports/abc": get(
            "report_abc",
            "ABC by revenue or gross profit and XYZ by the variation of monthly revenue",
            [*period, basis, *thresholds, group, segment],
        ),
        "/api/v1/reports/matrix": get(
            "report_matrix",
            "The ABC × XYZ matrix: clients and amount per cell",
            [*period, basis, *thresholds, group, segment],
        ),
        "/api/v1/reports/rfm": get(
            "report_rfm",
            "Recency, frequency, monetary: scores 1–5 and segments",
            [*period, group, segment],
        ),
        "/api/v1/reports/neglected": get(
            "report_neglected",
            "Clients nobody has contacted for N days, the longest first",
            [
                {
                    "name": "days",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 3650, "default": 60},
                },
                {
                    "name": "kind",
                    "in": "query",
                    "schema": {
                        "type": "string",
                        "enum": ["client", "prospect", "supplier", "partner", "competitor"],
                    },
                    "description": "counterparty kind (repeat; default client)",
                },
                {"name": "owner_id", "in": "query", "schema": {"type": "string", "maxLength": 36}},
                segment,
            ],
        ),
        "/api/v1/reports/moves": get(
            "report_moves",
            "Who changed class between the last computation kept before a day and the newest",
            [
                {"name": "since", "in": "query", "required": True, "schema": day},
                {
                    "name": "what",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["abc", "xyz"], "default": "abc"},
                },
                segment,
            ],
        ),
        **{
            f"/api/v1/reports/{name}": get(f"report_{name}", summary, [*period, owner, segment])
            for name, summary in (
                ("funnel", "Deals created in the period by stage: conversion, win rate, forecast"),
                ("lost", "Lost deals created in the period by reason: count, amount, share"),
                (
                    "sources",
                    "Per source: new counterparties, how many became clients, won deals, revenue",
                ),
                ("activity", "Contacts per person by kind: done, planned, overdue, cancelled"),
                (
                    "closed",
                    "Deals won and lost in the period by the day they were closed, per month and owner",
                ),
                (
                    "events",
                    "Marketing events of the period: cost, participants, deals, revenue attributed, "
                    "return on cost (owner: the events' owner)",
                ),
            )
        },
        **{
            f"/api/v1/reports/{name}": get(
                f"report_{name.replace('-', '_')}",
                summary,
                [
                    {
                        "name": "owner",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 100},
                        "description": "only this salesperson's counterparties (a login or a user id)",
                    },
                    {
                        "name": "rules",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 500},
                        "description": "the rules to judge by, comma-separated, each with an optional "
                        "weight 1–100 (inn:30); default every rule with its weight: "
                        + describe(RULES),
                    },
                    {
                        "name": "sort",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(SORTS), "default": "score"},
                        "description": "score: the worst first; -score: the best first; name",
                    },
                    segment,
                ],
            )
            for name, summary in (
                (
                    "completeness",
                    "How complete each card is: a score 0–100 and what is missing, the worst first",
                ),
                (
                    "completeness-owners",
                    "Completeness per salesperson: cards, average score, cards under 50 %",
                ),
            )
        },
        **{
            f"/api/v1/reports/{name}": get(
                f"report_{name.replace('-', '_')}",
                summary,
                [
                    {
                        "name": "owner",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 100},
                        "description": "only this salesperson's clients (a login or a user id)",
                    },
                    segment,
                ],
            )
            for name, summary in (
                (
                    "receivables",
                    "What each client owes on its open invoices today: overdue, not yet due, "
                    "ageing (1–30, 31–60, 61–90, over 90 days); the most overdue first",
                ),
                (
                    "receivables-owners",
                    "Receivables per salesperson (the clients' owner): owed, overdue, ageing",
                ),
                (
                    "due",
                    "Clients due for contact by their ABC class's rule (contact-rules): never "
                    "contacted first, then the most overdue",
                ),
            )
        },
        "/api/v1/reports/abc/keep": {
            "post": {
                "tags": ["reports"],
                "summary": "Keep an ABC/XYZ computation of the whole company and put its classes on the cards (office, admin)",
                "operationId": "keep_abc",
                "requestBody": _json(
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "from": day,
                            "to": day,
                            "basis": {"type": "string", "enum": ["revenue", "profit"]},
                            **{k: percent for k in ("a", "b", "x", "y")},
                            "min_months": {"type": "integer", "minimum": 2, "maximum": 120},
                        },
                    }
                ),
                "responses": {
                    "201": _json({"type": "object"}) | {"description": "Kept"},
                    **_errors(400, 401, 403, 422),
                },
            }
        },
        # Suppliers compared (server/api/suppliers.py): a report like the ones above.
        "/api/v1/suppliers/compare": {
            "get": {
                "tags": ["suppliers"],
                "summary": "Each supplier's price in force on a day for a product, with its lead "
                "time and rating: the suppliers the caller sees, by currency then price",
                "operationId": "suppliers_compare",
                "parameters": [
                    {
                        "name": "product",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        "description": "words of the product's name (all of them), or its article",
                    },
                    {
                        "name": "on",
                        "in": "query",
                        "schema": day,
                        "description": "the prices in force on this day (default: today)",
                    },
                    segment,
                    fmt,
                ],
                "responses": answer,
            }
        },
    }


def _duplicates_paths() -> dict[str, Any]:
    """Likely duplicate counterparties and their merges (server/api/duplicates.py)."""
    from crm.merge import SCALARS, UNITED

    integer = {"type": "integer"}
    id_param = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    merged = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "survivor_id": {"type": "string"},
            "absorbed_id": {"type": "string"},
            "absorbed": {"type": "object", "description": "the absorbed counterparty as it was"},
            "taken": {"type": "array", "items": {"type": "string"}},
            "moved": {"type": "object", "additionalProperties": {"type": "integer"}},
            "merged_by": {"type": "string"},
            "merged_at": {"type": "string", "format": "date-time"},
        },
    }
    pair = {
        "type": "object",
        "properties": {
            "first": {"type": "string"},
            "second": {"type": "string"},
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "reasons": {
                "type": "array",
                "items": {"type": "string", "enum": ["inn", "name", "phone", "email", "domain"]},
            },
        },
    }
    answer = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": pair},
            "total": integer,
            "limit": integer,
            "offset": integer,
            "branches": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "string"}},
                "description": "a company and its branches: one INN, several KPPs; never merged",
            },
            "names": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return {
        "/api/v1/duplicates": {
            "get": {
                "tags": ["duplicates"],
                "summary": "Likely duplicate counterparties among those you may see, the surest first",
                "operationId": "list_duplicates",
                "parameters": [
                    {
                        "name": "min_score",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 100, "default": 70},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                ],
                "responses": {"200": _json(answer) | {"description": "Done"}, **_errors(400, 401)},
            }
        },
        "/api/v1/duplicates/similar": {
            "post": {
                "tags": ["duplicates"],
                "summary": "Before creating a counterparty: the ones you see it would likely duplicate",
                "description": "Send the fields you would create it with (legal_name, short_name, "
                "inn, kpp, contacts, website, region); the answer lists the counterparties you may "
                "see that it would pair with at a score of 85 or more, the surest first. Nothing is "
                "written.",
                "operationId": "similar_counterparties",
                "requestBody": {"required": True, **_json({"type": "object"})},
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "id": {"type": "string"},
                                            "legal_name": {"type": "string"},
                                            "score": integer,
                                            "reasons": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    },
                                }
                            },
                        }
                    )
                    | {"description": "Done"},
                    **_errors(400, 401, 422),
                },
            }
        },
        "/api/v1/counterparties/{id}/merge": {
            "post": {
                "tags": ["duplicates"],
                "summary": "Merge another counterparty into this one: its history moves here, it is deleted",
                "description": "Administrators, the office, a manager of both owners or the owner of "
                "both. Each field keeps this counterparty's value, or the absorbed one's where this "
                "has none; `take` names the fields whose absorbed value wins. Two INNs, or one INN "
                "with two KPPs (a branch), are refused.",
                "operationId": "merge_counterparty",
                "parameters": id_param,
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["absorb"],
                            "additionalProperties": False,
                            "properties": {
                                "absorb": {"type": "string", "format": "uuid"},
                                "take": {
                                    "type": "array",
                                    "items": {"type": "string", "enum": [*SCALARS, *UNITED]},
                                },
                            },
                        }
                    ),
                },
                "responses": {
                    "200": _json(merged) | {"description": "Merged"},
                    **_errors(400, 401, 403, 404, 422),
                },
            }
        },
        "/api/v1/counterparties/{id}/merges": {
            "get": {
                "tags": ["duplicates"],
                "summary": "The merges into this counterparty: who, when, what it absorbed",
                "operationId": "list_counterparty_merges",
                "parameters": id_param,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": merged}},
                        }
                    )
                    | {"description": "Done"},
                    **_errors(400, 401, 404),
                },
            }
        },
    }


def _vcard_paths() -> dict[str, Any]:
    """Contact persons as vCards (server/api/vcards.py)."""
    id_param = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    vcf = {
        "content": {"text/vcard": {"schema": {"type": "string"}}},
        "description": "vCard 3.0, one card per person",
    }
    return {
        "/api/v1/counterparties/{id}/vcard": {
            "get": {
                "tags": ["vcard"],
                "summary": "Every contact person of a counterparty as one .vcf",
                "operationId": "export_counterparty_vcards",
                "parameters": id_param,
                "responses": {"200": vcf, **_errors(400, 401, 404)},
            },
            "post": {
                "tags": ["vcard"],
                "summary": "Import a .vcf's cards as contact persons of a counterparty",
                "description": "All or nothing; a card whose person is there already (UID, name, "
                "e-mail or phone) is skipped, so a second import adds nothing.",
                "operationId": "import_counterparty_vcards",
                "parameters": id_param,
                "requestBody": {
                    "required": True,
                    "content": {"text/vcard": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "created": {"type": "array", "items": {"type": "string"}},
                                "skipped": {"type": "array", "items": {"type": "string"}},
                            },
                        }
                    )
                    | {"description": "Imported"},
                    **_errors(400, 401, 403, 404, 413, 422),
                },
            },
        },
        "/api/v1/contact-persons/{id}/vcard": {
            "get": {
                "tags": ["vcard"],
                "summary": "One contact person as a .vcf",
                "operationId": "export_contact_person_vcard",
                "parameters": id_param,
                "responses": {"200": vcf, **_errors(400, 401, 404)},
            }
        },
    }


def _mail_paths() -> dict[str, Any]:
    """The mail bridge's desk (server/api/mail.py): review queue and suggestions for office staff
    and administrators, the outbox for everyone."""
    obj: dict[str, Any] = {"type": "object"}
    items = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": obj},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }
    done = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
    }

    paging = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "default": 0},
        },
    ]

    def get(
        summary: str, operation: str, answer: dict[str, Any], *codes: int, path: str | None = None
    ) -> dict[str, Any]:
        parameters = (
            [{"name": path, "in": "path", "required": True, "schema": {"type": "string"}}]
            if path
            else paging
        )
        return {
            "get": {
                "tags": ["mail"],
                "summary": summary,
                "operationId": operation,
                "parameters": parameters,
                "responses": {"200": _json(answer) | {"description": "Done"}, **_errors(*codes)},
            }
        }

    def post(
        summary: str,
        operation: str,
        path: str,
        status: int = 200,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        operation_doc: dict[str, Any] = {
            "tags": ["mail"],
            "summary": summary,
            "operationId": operation,
            "parameters": [
                {"name": path, "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                str(status): _json(done) | {"description": "Done"},
                **_errors(400, 401, 403, 404, 409, 422),
            },
        }
        if body is not None:
            operation_doc["requestBody"] = {"required": True, **_json(body)}
        return {"post": operation_doc}

    settle = {
        "type": "object",
        "additionalProperties": False,
        "required": ["counterparty_id"],
        "properties": {
            "counterparty_id": {"type": "string"},
            "contact_person_id": {"type": ["string", "null"]},
        },
    }
    text_list = {"type": "array", "items": {"type": "string"}, "maxItems": 100}
    change_list = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"add": text_list, "remove": text_list},
    }
    mailbox_edit = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            **{
                key: {"type": "string"}
                for key in (
                    "address",
                    "imap_host",
                    "imap_security",
                    "login",
                    "smtp_host",
                    "smtp_security",
                    "owner",
                )
            },
            "imap_port": {"type": "integer"},
            "smtp_port": {"type": "integer"},
            "provider_saves_sent": {"type": "boolean"},
            "send_per_hour": {
                "type": "integer",
                "minimum": 0,
                "description": "at most this many letters leave the mailbox in any hour; 0: no limit",
            },
            **{
                key: change_list
                for key in ("folders", "private_addresses", "private_domains", "private_folders")
            },
        },
    }
    mailbox = {"type": "object", "description": "every setting but the password or token"}
    outbox = {
        "type": "object",
        "properties": {
            "letters": {"type": "array", "items": obj},
            "total": {"type": "integer", "description": "-1 when not counted"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "counts": {"type": "object", "description": "office and admin only"},
        },
    }
    return {
        "/api/v1/mail/reviews": get(
            "Letters waiting in the review queue", "list_mail_reviews", items, 400, 401, 403
        ),
        "/api/v1/mail/reviews/{review_id}": get(
            "A letter in review: its headers and text",
            "get_mail_review",
            obj,
            401,
            403,
            404,
            path="review_id",
        ),
        "/api/v1/mail/reviews/{review_id}/settle": post(
            "File a letter in review to a counterparty",
            "settle_mail_review",
            "review_id",
            body=settle,
        ),
        "/api/v1/mail/reviews/{review_id}/dismiss": post(
            "Dismiss a letter in review (it is no client's)", "dismiss_mail_review", "review_id"
        ),
        "/api/v1/mail/suggestions": get(
            "Senders suggested as contact persons", "list_mail_suggestions", items, 400, 401, 403
        ),
        "/api/v1/mail/suggestions/{suggestion_id}/accept": post(
            "Turn a suggestion into a contact person",
            "accept_mail_suggestion",
            "suggestion_id",
            201,
        ),
        "/api/v1/mail/suggestions/{suggestion_id}/dismiss": post(
            "Dismiss a suggestion", "dismiss_mail_suggestion", "suggestion_id"
        ),
        "/api/v1/mail/outbox": get(
            "Letters and invitations not yet sent, or that failed", "mail_outbox", outbox, 400, 401
        ),
        "/api/v1/mail/mailboxes": {
            "get": {
                "tags": ["mail"],
                "summary": "The mailboxes the bridge reads, without their passwords (administrators)",
                "operationId": "list_mailboxes",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": mailbox}},
                        }
                    )
                    | {"description": "Done"},
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/mail/mailboxes/{mailbox}": {
            "patch": {
                "tags": ["mail"],
                "summary": "Change a mailbox's settings: what is not sent stays (administrators)",
                "operationId": "edit_mailbox",
                "parameters": [
                    {
                        "name": "mailbox",
                        "in": "path",
                        "required": True,
                        "description": "its name or id",
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {"required": True, **_json(mailbox_edit)},
                "responses": {
                    "200": _json(mailbox) | {"description": "Changed"},
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            }
        },
    }


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
                "request_id": {"type": "string", "description": "as in the X-Request-Id header"},
            },
        },
        "Feed": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "kind": {"type": "string"},
                "free_busy": {"type": "boolean"},
                "label": {"type": "string"},
                "created_at": {"type": "string"},
                "revoked_at": {"type": ["string", "null"]},
                "url": {"type": "string", "description": "only when issued"},
            },
        },
        "Device": {
            "type": "object",
            "properties": {
                k: {"type": ["string", "null"]}
                for k in ("id", "user_id", "name", "created_at", "last_seen_at", "revoked_at")
            },
        },
    }
    shapes, wire_schemas = wire.schemas("#/components/schemas/{model}")
    paths: dict[str, Any] = (
        _auth_paths()
        | _sync_paths(shapes)
        | _mail_paths()
        | _duplicates_paths()
        | _vcard_paths()
        | _reports_paths()
        | _segment_paths()
        | _mailing_paths()
    )
    for rt in records.RECORD_TYPES.values():
        schemas[rt.singular] = {
            "type": "object",
            "properties": {f: _field_schema(rt, f) for f in rt.fields()},
        }
        constraints = {"id": {"format": "uuid"}, **rt.constraints}
        schemas[f"{rt.singular}_write"] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                f: _dated(_constrained(_field_schema(rt, f), constraints.get(f, {})))
                for f in ("id", *rt.writable)
            },
        }
        paths.update(_record_paths(rt))
    clash = set(wire_schemas) & set(schemas)
    assert not clash, f"sync.wire names its models as others of the document do: {sorted(clash)}"
    schemas.update(wire_schemas)
    # Any request may be refused before its operation runs: a NUL in a path or query
    # parameter, a malformed header (server/http.py).
    links = _links()
    for operation in (op for item in paths.values() for op in item.values()):
        operation["responses"].setdefault("400", _errors(400)["400"])
        for code, answer in operation["responses"].items():
            if (operation["operationId"], code) in links:
                answer["links"] = links.pop((operation["operationId"], code))
    assert not links, f"links from operations the document lacks: {sorted(links)}"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Satchel API",
            "version": "1",
            "description": "Offline-first CRM: REST API v1.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@functools.cache
def served() -> dict[str, Any]:
    """The document every app of this process serves: built once (about 90 ms), never changed."""
    return document()


async def openapi(request: Request) -> Response:
    return json_response(request.app.state.openapi)


routes = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
