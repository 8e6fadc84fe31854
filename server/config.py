"""One configuration schema: defaults, a TOML file, then environment variables.

Each setting is declared once in ``SETTINGS`` with its type, default and
description; ``docs/configuration.md`` documents every one of them (a test
keeps the two in step). A value is looked up in this order, later wins:

1. the default below;
2. the TOML file given by ``--config`` or ``SATCHEL_CONFIG`` (top-level keys);
3. the environment variable ``SATCHEL_<NAME>`` (e.g. ``SATCHEL_DATABASE_URL``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mail.invites import InvitationCodec


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "satchel" / "server")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        str,
        None,
        "Directory for the SQLite database and other server files. "
        "Default: $XDG_DATA_HOME/satchel/server (~/.local/share/satchel/server).",
    ),
    Setting(
        "database_url",
        str,
        None,
        "SQLAlchemy URL of the database. Default: a SQLite file "
        "satchel.db in data_dir. Use postgresql+psycopg://user@host/db for PostgreSQL.",
    ),
    Setting("host", str, "127.0.0.1", "Address the server listens on."),
    Setting("port", int, 8470, "Port the server listens on."),
    Setting(
        "workers",
        int,
        1,
        "Server processes sharing the port (PostgreSQL only; SQLite is written by one process). "
        "Every process is stateless: sessions, login limits and feed tokens live in the database.",
    ),
    Setting("log_level", str, "info", "Logging level: debug, info, warning, error."),
    Setting(
        "trusted_proxies",
        str,
        "",
        "Comma-separated addresses of reverse proxies whose "
        "X-Forwarded-For names the client (for the per-address login limit). Default: none — "
        "the connecting address counts, so nobody can pick the address they are counted under.",
    ),
    Setting(
        "public_url",
        str,
        None,
        "The server's address as people and calendar apps reach it, for links, feed URLs "
        "and a mailing's unsubscribe links (HTTPS for one-click unsubscribe), e.g. "
        "https://crm.example.ru. Default: http://<host>:<port>.",
    ),
    Setting(
        "login_max_failures",
        int,
        5,
        "Failed logins allowed per login name, and per client "
        "address, within login_failure_window_minutes before further attempts are refused.",
    ),
    Setting("login_failure_window_minutes", int, 15, "Window for counting failed logins."),
    Setting("max_body_bytes", int, 1_048_576, "Largest request body the API accepts, in bytes."),
    Setting(
        "sync_queue_limit",
        int,
        512,
        "Sync requests (push, pull, bootstrap) one server process holds at once (working on them "
        "or waiting for the thread pool or the push writer); past it a laptop is answered 503 with "
        "Retry-After at once instead of waiting into a timeout, and tries again a little later.",
    ),
    Setting(
        "secret_key",
        str,
        None,
        "Key that encrypts secrets at rest (mailbox passwords). Default: "
        "made on first use and kept in data_dir/secret.key (mode 0600); back it up with the database.",
    ),
    Setting(
        "company_domains",
        str,
        "",
        "The company's own mail domains, comma-separated (e.g. "
        "torgdom.ru,torgdom.com): letters among them only are internal, and never filed.",
    ),
    Setting(
        "mail_attachment_max_bytes",
        int,
        25 * 1024 * 1024,
        "Largest attachment the mail bridge "
        "stores; a larger one is listed on the letter with its size only.",
    ),
    Setting(
        "mail_poll_seconds",
        int,
        60,
        "How often the mail bridge polls a mailbox that offers no IDLE, "
        "and the longest it idles before checking every folder again.",
    ),
)


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class Config:
    data_dir: str
    database_url: str
    host: str
    port: int
    workers: int
    log_level: str
    trusted_proxies: str
    public_url: str
    login_max_failures: int
    login_failure_window_minutes: int
    max_body_bytes: int
    sync_queue_limit: int
    secret_key: str | None
    company_domains: str
    mail_attachment_max_bytes: int
    mail_poll_seconds: int

    @property
    def invitations(self) -> InvitationCodec:
        """The mail bridge's invitation codec: meetings go out as iTIP invitations and their
        answers come back through the calendar bridge (``mail.bridge.BridgeSettings``)."""
        from calendar_bridge import invitations

        return invitations

    @property
    def company_domain_list(self) -> list[str]:
        return [
            d.strip().lower().lstrip("@.") for d in self.company_domains.split(",") if d.strip()
        ]

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Config:
        """Build the configuration. ``overrides`` (e.g. command-line flags) win over everything."""
        env = os.environ if environ is None else environ
        path = path or env.get("SATCHEL_CONFIG")
        values: dict[str, Any] = {s.name: s.default for s in SETTINGS}
        known = {s.name: s for s in SETTINGS}
        if path:
            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read configuration file {path}: {exc}") from exc
            unknown = sorted(set(data) - set(known))
            if unknown:
                raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
            values.update(data)
        for setting in SETTINGS:
            raw = env.get(f"SATCHEL_{setting.name.upper()}")
            if raw is not None:
                values[setting.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in values.items():
            setting = known[name]
            if value is not None and not isinstance(value, setting.type):
                try:
                    values[name] = setting.type(value)
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"setting {name} must be {setting.type.__name__}, got {value!r}"
                    ) from None
        for name in ("workers", "sync_queue_limit"):  # 0 would serve nothing, or refuse every sync
            if values[name] < 1:
                raise ConfigError(f"setting {name} must be at least 1, got {values[name]}")
        if not values["data_dir"]:
            values["data_dir"] = _default_data_dir()
        if not values["public_url"]:
            values["public_url"] = f"http://{values['host']}:{values['port']}"
        values["public_url"] = values["public_url"].rstrip("/")
        if not values["database_url"]:
            values["database_url"] = "sqlite:///" + str(Path(values["data_dir"]) / "satchel.db")
        return cls(**values)
