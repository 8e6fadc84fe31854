"""Where the field client keeps its replicas: one file per (server host:port, login).

The data directory is ``--data-dir``, else ``$SATCHEL_FIELD_HOME``, else the
platform's user data directory. A small ``current.json`` names the profile
that commands use when none is given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import typer

ENV_HOME = "SATCHEL_FIELD_HOME"


def default_home() -> Path:
    return Path(typer.get_app_dir("satchel-field"))


def profile_name(server_url: str, login: str) -> str:
    """A file-system-safe name for (server host:port, login)."""
    parts = urlsplit(server_url if "://" in server_url else f"http://{server_url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    raw = f"{parts.hostname or 'server'}_{port}__{login.strip().lower()}"
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", raw)


@dataclass(frozen=True)
class Profile:
    server: str
    login: str
    replica: Path


class Profiles:
    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def _current_file(self) -> Path:
        return self.home / "current.json"

    def path_for(self, server_url: str, login: str) -> Path:
        return self.home / "replicas" / f"{profile_name(server_url, login)}.db"

    def set_current(self, server_url: str, login: str) -> Profile:
        self.home.mkdir(parents=True, exist_ok=True)
        profile = Profile(server_url, login, self.path_for(server_url, login))
        self._current_file.write_text(
            json.dumps({"server": server_url, "login": login}), encoding="utf-8"
        )
        return profile

    def current(self) -> Profile | None:
        try:
            data = json.loads(self._current_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return Profile(data["server"], data["login"], self.path_for(data["server"], data["login"]))
