"""A test client that runs the app in the test's own thread: Starlette's ``TestClient``, less its hops.

``TestClient`` runs the app on an event loop in a thread of its own and hands every step of a
request across to it (the events it waits on, the app's task, each piece of the body): eight or
so round trips between threads a request, about half of a simple request's CPU in this suite.
``InProcessClient`` runs a request from the thread that made the client on an event loop of that
thread instead, to the end, and hands the whole answer back: the app sees the same ASGI request
(the same client address, headers and body) and the test the same ``httpx.Response``. A request
from another thread (tests that send at once, ``tests.conftest.at_once``) still goes through the
``TestClient``'s portal, so concurrent requests still meet in one event loop, as in a server.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from starlette.testclient import TestClient
from starlette.types import ASGIApp

# Starlette's TestClient's address for the caller (rate limits and logs key on it).
CLIENT = ("testclient", 50000)


class _OnThisThread(httpx.BaseTransport):
    """Each request on ``loop``, in the calling thread, through httpx's ASGI transport."""

    def __init__(
        self, app: ASGIApp, loop: asyncio.AbstractEventLoop, *, raise_errors: bool
    ) -> None:
        self.loop = loop
        self.asgi = httpx.ASGITransport(app, raise_app_exceptions=raise_errors, client=CLIENT)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.stream = httpx.ByteStream(request.read())  # an async stream for the ASGI transport

        async def exchange() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            response = await self.asgi.handle_async_request(request)
            body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
            return response.status_code, response.headers.raw, body

        status, headers, body = self.loop.run_until_complete(exchange())
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _in_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class InProcessClient(TestClient):
    """``TestClient``, with the requests of the thread that made it run in that thread (see the module)."""

    __test__ = False

    def __init__(
        self, app: ASGIApp, *, raise_server_exceptions: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(app, raise_server_exceptions=raise_server_exceptions, **kwargs)
        self._owner = threading.get_ident()
        self._loop = asyncio.new_event_loop()
        self._here = _OnThisThread(self.app, self._loop, raise_errors=raise_server_exceptions)

    def _transport_for_url(self, url: httpx.URL) -> httpx.BaseTransport:
        # Not inside a running loop (a laptop's screen that syncs from its own request): a thread
        # runs one loop at a time.
        if threading.get_ident() == self._owner and not _in_a_loop():
            return self._here
        return super()._transport_for_url(url)

    def close(self) -> None:
        super().close()
        if not self._loop.is_closed():
            # Tasks the app left behind (a push group's writer finishing) end before the loop does.
            pending = asyncio.all_tasks(self._loop)
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()
