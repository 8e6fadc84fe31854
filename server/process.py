"""``satchel serve`` in a child process: what benchmarks, end-to-end tests and, later,
field-client tests run against — the real server over real TCP."""

from __future__ import annotations

import os
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


@contextmanager
def running_server(database_url: str, *, settings: dict[str, str] | None = None,
                   timeout: float = 60) -> Iterator[str]:
    """Start the server on a free loopback port, wait until ``/healthz`` answers, yield its base URL.

    ``settings`` are extra ``SATCHEL_*`` environment variables. The process is
    stopped when the block ends; if it dies or does not answer in ``timeout``
    seconds, ``RuntimeError`` carries what it printed.
    """
    port = free_port()
    env = {**os.environ, "SATCHEL_DATABASE_URL": database_url, "SATCHEL_PORT": str(port),
           "SATCHEL_LOG_LEVEL": "warning", **(settings or {})}
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"satchel serve did not start: {output}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
