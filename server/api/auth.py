"""Logging in from a device, the caller's own account, and their devices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm import accounts, records
from crm.errors import MalformedInput, Unauthenticated
from crm.models import Device, User
from crm.models.base import to_jsonable
from server.http import as_caller, as_user, client_address, config, db, json_response, read_json

USERS = records.record_type("users")


def device_dict(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "user_id": device.user_id,
        "name": device.name,
        "created_at": to_jsonable(device.created_at),
        "last_seen_at": to_jsonable(device.last_seen_at),
        "revoked_at": to_jsonable(device.revoked_at),
    }


async def login(request: Request) -> Response:
    body = await read_json(request, public=True)
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("login", "password", "device_name")
    ):
        raise MalformedInput('send {"login": ..., "password": ..., "device_name": ...} as strings')
    cfg = config(request)
    policy = accounts.LoginPolicy(
        cfg.login_max_failures, timedelta(minutes=cfg.login_failure_window_minutes)
    )
    database = db(request)
    address = client_address(request)

    def run() -> dict[str, Any] | None:
        with database.write() as session:
            user = accounts.verify_password(
                session, body["login"], body["password"], address, policy
            )
            if user is None:
                return None  # the failure is committed with the transaction
            device, token = accounts.register_device(session, user, body["device_name"])
            return {
                "token": token,
                "device": device_dict(device),
                "user": records.to_dict(USERS, user),
            }

    result = await run_in_threadpool(run)
    if result is None:
        raise Unauthenticated("wrong login or password, or the user is disabled")
    return json_response(result, status_code=201)


async def logout(request: Request) -> Response:
    def work(session: Any, user: User, device: Device) -> None:
        accounts.revoke_device(session, user, device.id)

    await as_caller(request, work, write=True)
    return Response(status_code=204)


async def me(request: Request) -> Response:
    def work(session: Any, user: User, device: Device) -> dict[str, Any]:
        return {"user": records.to_dict(USERS, user), "device": device_dict(device)}

    return json_response(await as_caller(request, work, write=False))


async def list_devices(request: Request) -> Response:
    def work(session: Any, user: User) -> list[dict[str, Any]]:
        mine = None if user.role == "admin" and request.query_params.get("all") == "1" else user
        return [device_dict(d) for d in accounts.list_devices(session, mine)]

    return json_response({"items": await as_user(request, work, write=False)})


async def revoke_device(request: Request) -> Response:
    device_id = request.path_params["device_id"]

    def work(session: Any, user: User) -> dict[str, Any]:
        return device_dict(accounts.revoke_device(session, user, device_id))

    return json_response(await as_user(request, work, write=True))


routes = [
    Route("/api/v1/auth/login", login, methods=["POST"]),
    Route("/api/v1/auth/logout", logout, methods=["POST"]),
    Route("/api/v1/me", me, methods=["GET"]),
    Route("/api/v1/devices", list_devices, methods=["GET"]),
    Route("/api/v1/devices/{device_id}", revoke_device, methods=["DELETE"]),
]
