"""``satchel serve`` in a child process: what benchmarks, end-to-end tests and the
field-client tests run against — the real server over real TCP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One ``satchel serve`` on a fixed loopback port that can be killed and started again."""

    def __init__(
        self, database_url: str, *, settings: dict[str, str] | None = None, timeout: float = 60
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.timeout = timeout
        self.env = {
            **os.environ,
            "SATCHEL_DATABASE_URL": database_url,
            "SATCHEL_PORT": str(self.port),
            "SATCHEL_LOG_LEVEL": "warning",
            **(settings or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until ``/healthz`` answers; ``RuntimeError`` carries what it printed if not."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                output = (
                    self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                )
                raise RuntimeError(f"satchel serve did not start: {output}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, open transactions die with the process (a crash, a power cut)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.proc.stderr:
            self.proc.stderr.close()


@contextmanager
def running_server(
    database_url: str, *, settings: dict[str, str] | None = None, timeout: float = 60
) -> Iterator[str]:
    """Start the server on a free loopback port, wait until ``/healthz`` answers, yield its base URL.

    ``settings`` are extra ``SATCHEL_*`` environment variables. The process is
    stopped when the block ends; if it dies or does not answer in ``timeout``
    seconds, ``RuntimeError`` carries what it printed.
    """
    server = ServerProcess(database_url, settings=settings, timeout=timeout)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
