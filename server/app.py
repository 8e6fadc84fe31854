"""The Starlette application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio.to_thread import current_default_thread_limiter
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from crm.database import Database
from server import openapi, web_home
from server.api import auth, calendar, duplicates, mail, records, reports, segments, sync, vcards
from server.api import mailings as mailing_api
from server.api import suppliers as supplier_api
from server.config import Config
from server.errors import HANDLERS
from server.headers import SecurityHeaders
from server.http import TokenGate, db, json_response
from server.logs import RequestId
from sync import push as push_verb
from sync.group import PushGroups

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    database = db(request)

    def ping() -> None:
        with database.read() as session:
            session.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception:
        log.exception("health check failed")
        return json_response({"status": "database unreachable"}, status_code=503)
    return json_response({"status": "ok"})


class _App(Starlette):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's own error layer, so that a 500 carries the security headers and
        # the request id too; the id outermost, so that every line logged for the request has it.
        return RequestId(SecurityHeaders(super().build_middleware_stack()))


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    # The process's threads (every request's database work runs in one) as many as its database
    # connections, not anyio's 40: past the pool's size they only wait, and 40 threads taking turns
    # for the interpreter kept the push writer waiting for it after each round trip (500 laptops
    # released together: 40 -> 50 syncs a second, docs/scaling.md). The writer has a thread of its
    # own (``sync.group``).
    current_default_thread_limiter().total_tokens = app.state.db.threads
    yield


def create_app(config: Config, database: Database | None = None) -> Starlette:
    """The app for ``config``; pass ``database`` to share one already open (tests, the demo)."""
    app = _App(
        lifespan=_lifespan,
        routes=[
            Route("/healthz", health, methods=["GET"]),
            # Routes are tried in order (~0.3 µs each): the laptops' sync requests, the most
            # frequent, come first (they were behind 157 others: 62 µs a request).
            *sync.routes,
            *openapi.routes,
            *auth.routes,
            *records.routes,
            *calendar.routes,
            *mail.routes,
            *duplicates.routes,
            *vcards.routes,
            *reports.routes,
            *segments.routes,
            *supplier_api.routes,
            *mailing_api.routes,
        ],
        exception_handlers=HANDLERS,
    )
    app.state.config = config
    app.state.db = database or Database(config.database_url)
    app.state.openapi = openapi.served()
    app.state.feed_cache = calendar.FeedCache()
    app.state.token_gate = TokenGate()  # tokens found good a moment ago (server.http.authenticated)
    # Group commit of pushes (sync.group), each group's first questions asked together.
    app.state.push_groups = PushGroups(
        app.state.db, prepare=push_verb.group, after=push_verb.after_group
    )
    app.state.sync_busy = 0  # sync requests in hand (server.api.sync._admitted)
    # The web UI answers whatever the API does not (so the API's routes stay exactly its OpenAPI paths).
    app.router.default = web_home.router(config, app.state.db)
    return app


def from_environment() -> Starlette:
    """The app of one of several server processes (``satchel serve --workers N``): its
    configuration from the environment the parent set, its database migrated by the parent.
    Nothing a request needs lives in a process's memory alone (docs/deployment.md)."""
    from server import logs

    config = Config.load()
    logs.configure(config.log_level)
    return create_app(config)
