"""Security headers on every answer, as a plain ASGI middleware.

* ``X-Content-Type-Options: nosniff`` — a browser never guesses a type from content;
* ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` — no page frames ours;
* ``Cache-Control: no-store`` on JSON — answers carry customers' data, and no proxy
  or browser cache should keep them.

A header the route set itself wins: calendar feeds keep their own caching headers
(ETag, ``Cache-Control``), the web UI its own Content-Security-Policy. The
``Server`` header is uvicorn's to omit (``server_header=False`` where it starts).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
)
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds the headers above to each HTTP response of ``app`` that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                added = [item for item in _ALWAYS if item[0] not in present]
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                if b"cache-control" not in present and content_type.startswith(b"application/json"):
                    added.append(_NO_STORE)
                message = {**message, "headers": headers + added}
            await send(message)

        await self.app(scope, receive, send_with_headers)
