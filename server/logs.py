"""The server's logging: one handler on the root logger whose formatter redacts personal data.

docs/configuration.md promises that logs never contain email addresses or phone
numbers. They would get there through exception messages and tracebacks: a
database error quoting the row it refused (PostgreSQL's ``DETAIL: Key (login)=…``),
a mail error quoting a recipient. The engines already hide SQL parameters
(``crm.database``); this formatter is the one place that catches the rest, for
every logger (uvicorn's too, which ``configure`` routes here).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
# E.164 as stored (+79161234567), and Russian numbers as typed: 8 (916) 123-45-67, +7 916 123 45 67.
_PHONE = re.compile(r"(?<![\w.-])(?:\+\d{10,15}|(?:\+7|8)[\s(-]*\d{3}[\s)-]*\d{3}[\s-]?\d{2}[\s-]?\d{2})(?![\w-])")


def redact(text: str) -> str:
    """``text`` with every email address and phone number replaced by a placeholder."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class RedactingFormatter(logging.Formatter):
    """Redacts the message, the traceback and the stack; the time and logger name are ours."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = redact(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:  # noqa: N802
        return redact(super().formatException(ei))  # type: ignore[arg-type]

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return redact(super().formatStack(stack_info))


def configure(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record at ``level`` and above through one redacting handler (stderr by default).

    Replaces handlers set before, so that nothing reaches the output unredacted.
    Start uvicorn with ``log_config=None`` so that its loggers propagate here.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
