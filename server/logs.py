"""The server's logging: one handler on the root logger whose formatter redacts personal data.

docs/configuration.md promises that logs never contain email addresses or phone
numbers. They would get there through exception messages and tracebacks: a
database error quoting the row it refused (PostgreSQL's ``DETAIL: Key (login)=…``),
a mail error quoting a recipient. The engines already hide SQL parameters
(``crm.database``); this formatter is the one place that catches the rest, for
every logger (uvicorn's too, which ``configure`` routes here).

Each line also names the request it was written for: ``RequestId`` (an ASGI
middleware, outermost in ``server.app``) gives every request an id — the
client's ``X-Request-Id`` when it is short and plain, a fresh one otherwise —
keeps it in a context variable for the request's task and the threads it runs
work in, and echoes it in the answer's ``X-Request-Id``; ``RequestIdFilter``
puts it on each record (``-`` outside a request).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from types import TracebackType
from typing import TextIO, TypeAlias

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
NO_REQUEST = "-"

# Any address a person may have: a dotted domain or not (admin@localhost), a quoted local part
# ("john doe"@mail.ru), an address literal (user@[10.0.0.1]).
_EMAIL = re.compile(r'(?:"[^"\r\n]{1,64}"|[\w.+%-]+)@(?:\[[^\]\s]{1,64}\]|[\w-]+(?:\.[\w-]+)*)')
# E.164 as stored (+79161234567), and Russian numbers as typed: 8 (916) 123-45-67, +7 916 123 45 67.
_PHONE = re.compile(
    r"(?<![\w.-])(?:\+\d{10,15}|(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]?\d{2}[\s-]?\d{2})(?![\w-])"
)


def redact(text: str) -> str:
    """``text`` with every email address and phone number replaced by a placeholder."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


_request_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)
# A client's own id is kept only when it is short and plain: it goes into every log line
# and answer of the request, so it must not be able to forge a line, nor carry a number.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id() -> str:
    """The id of the request being handled; ``-`` outside one."""
    return _request_id.get()


def accept_request_id(value: str | None) -> str:
    """The client's ``X-Request-Id`` when it is safe to log and echo; a fresh id otherwise."""
    if value is not None and _CLIENT_ID.fullmatch(value) and redact(value) == value:
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` to the current request's id (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class RequestId:
    """ASGI middleware: the request's id in ``request_id()`` while it is handled and in
    the ``X-Request-Id`` of its answer. Put it outside Starlette's error layer, so that a
    500 carries the header too (``server.app``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (value for name, value in scope["headers"] if name == b"x-request-id"), None
        )
        rid = accept_request_id(incoming.decode("latin-1") if incoming is not None else None)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    item
                    for item in message.get("headers", [])
                    if item[0].lower() != b"x-request-id"
                ]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = _request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_id.reset(token)


# What ``sys.exc_info()`` returns: the argument of ``logging.Formatter.formatException``.
_ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
)


class RedactingFormatter(logging.Formatter):
    """Redacts the message, the traceback and the stack; the time and logger name are ours."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = redact(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: _ExcInfo) -> str:  # noqa: N802
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


class _Handler(logging.StreamHandler):
    """A stream handler whose failure to write says so in one line without the record: logging's
    own report of it prints the message's arguments (addresses, phones) unredacted."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        _, exc, _ = sys.exc_info()
        try:
            sys.__stderr__.write(f"satchel: a log line could not be written: {exc!r}\n")  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001, S110 - nowhere left to say it
            pass


class _Stderr(_Handler):
    """Writes to ``sys.stderr`` as it is when a line is written (as logging's last resort does), not
    as it was when logging was set up: an app made while something had swapped ``sys.stderr`` (a
    command run in a test's runner) must not keep writing to that closed stream afterwards."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


def configure(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` and above through one redacting handler (stderr by default),
    each line naming the request it was written for.

    Replaces handlers set before, so that nothing reaches the output unredacted.
    Start uvicorn with ``log_config=None`` so that its loggers propagate here.
    """
    handler = _Handler(stream) if stream is not None else _Stderr()
    handler.setFormatter(RedactingFormatter(FORMAT, defaults={"request_id": NO_REQUEST}))
    handler.addFilter(RequestIdFilter())
    # Alembic announces its plugins at INFO before every migration: noise before anything useful.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
