"""Mailbox passwords at rest: encrypted with a key derived from the server's secret.

The secret is the ``secret_key`` setting or, when that is not set, a random key
made on first use in ``<data_dir>/secret.key`` (mode 0600). Each use derives its
own key with HKDF, so the same secret can serve other purposes later without one
leaking into another. Fernet (AES-128-CBC + HMAC-SHA256) authenticates what it
decrypts: a wrong key or a tampered value is refused, never decrypted to garbage.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretBox", "SecretError", "box_for", "load_secret"]

_KEY_FILE = "secret.key"


class SecretError(RuntimeError):
    """A stored secret cannot be read with this server's key."""


def load_secret(secret_key: str | None, data_dir: str | Path) -> bytes:
    """The server's secret: the configured one, else the key file (made on first use)."""
    if secret_key:
        return secret_key.encode()
    path = Path(data_dir) / _KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48).encode()
    # O_EXCL: two processes starting at once agree on one key (the loser reads the winner's).
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key


def box_for(settings: Any) -> SecretBox:
    """The box for mailbox credentials under the server's settings (``secret_key``, ``data_dir``)."""
    return SecretBox(load_secret(settings.secret_key, settings.data_dir))


class SecretBox:
    """Encrypts and decrypts one kind of secret with a key derived from the server's secret."""

    def __init__(self, secret: bytes, purpose: str = "mailbox-credentials") -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"satchel", info=purpose.encode()
        ).derive(secret)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretError(
                "a stored mailbox password cannot be decrypted with this process's secret key: every "
                "server and mail worker on one database needs the same key (the secret_key setting, "
                "or one secret.key file copied to each host: docs/deployment.md); only if the key was "
                "replaced for good, set the password again with `satchel mail mailbox password NAME`"
            ) from None
