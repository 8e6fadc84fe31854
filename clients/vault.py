"""The key that encrypts a laptop's replica at rest (SQLCipher, AES-256).

A laptop is lost, copied or backed up to places nobody controls: the replica —
every client, letter and the device's sync token — must be unreadable without
its owner. Each replica has its own random 256-bit data key, kept

* in the operating system's keyring (Windows Credential Manager, macOS
  Keychain, the Secret Service on a Linux desktop) where there is one: nothing
  to type, and the key never lies beside the file; else
* in ``<replica>.key`` (mode 0600), wrapped with AES-GCM under a key derived
  from a passphrase with Argon2id. The passphrase is asked for on the terminal,
  or read from ``SATCHEL_FIELD_PASSPHRASE`` (for scripts and the desktop
  shortcut); it is never stored.

A wrong passphrase or key fails closed with ``LockedReplica`` and a message
that says what to do; nothing is opened, changed or created.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

ENV_PASSPHRASE = "SATCHEL_FIELD_PASSPHRASE"
KEYRING_SERVICE = "satchel-field"
KEY_BYTES = 32
# Argon2id as RFC 9106's second recommendation (64 MiB, 3 passes): about 0.2 s on a laptop,
# once per command, and a guess costs an attacker as much.
_KDF = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
MIN_PASSPHRASE = 8

# asks(prompt, confirm) -> the passphrase typed; None when nobody can be asked.
Ask = Callable[[str, bool], str | None]


class LockedReplica(Exception):
    """The replica's key could not be had: a wrong or missing passphrase, a damaged key file."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def key_file(replica: Path) -> Path:
    return replica.with_name(replica.name + ".key")


def _keyring() -> Any | None:
    """The OS keyring, or None where there is none (a server, a headless box, no package)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    if isinstance(keyring.get_keyring(), fail.Keyring):
        return None
    return keyring


def _derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    return hash_secret_raw(passphrase.encode(), salt, hash_len=KEY_BYTES, type=Type.ID, **params)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, replacing it in one step."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _wrap(data_key: bytes, passphrase: str) -> str:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    wrapped = AESGCM(_derive(passphrase, salt, _KDF)).encrypt(
        nonce, data_key, b"satchel-replica-key"
    )
    return json.dumps(
        {
            "version": 1,
            "kdf": "argon2id",
            **_KDF,
            "salt": _b64(salt),
            "nonce": _b64(nonce),
            "key": _b64(wrapped),
        }
    )


def _unwrap(text: str, passphrase: str) -> bytes:
    try:
        box = json.loads(text)
        params = {name: int(box[name]) for name in _KDF}
        salt, nonce, wrapped = (base64.b64decode(box[k]) for k in ("salt", "nonce", "key"))
    except (ValueError, KeyError, TypeError):
        raise LockedReplica(
            "the replica's key file is damaged; restore it from a backup, or log in "
            "again with a new data folder (unsent changes in this replica cannot be read)"
        ) from None
    try:
        return AESGCM(_derive(passphrase, salt, params)).decrypt(
            nonce, wrapped, b"satchel-replica-key"
        )
    except InvalidTag:
        raise LockedReplica(
            "wrong passphrase for this replica / неверная парольная фраза"
        ) from None


def _passphrase(ask: Ask, *, creating: bool) -> str:
    given = os.environ.get(ENV_PASSPHRASE)
    if given is not None:
        if creating and len(given) < MIN_PASSPHRASE:
            raise LockedReplica(
                f"choose a passphrase of at least {MIN_PASSPHRASE} characters (in {ENV_PASSPHRASE})"
            )
        return given
    prompt = "Passphrase for the laptop's data / Парольная фраза для данных ноутбука"
    for _ in range(3):  # a person who typed too short a passphrase is asked again, not sent away
        typed = ask(prompt, creating)
        if typed is None:
            break
        if not creating or len(typed) >= MIN_PASSPHRASE:
            return typed
        prompt = (
            f"At least {MIN_PASSPHRASE} characters, please / Не короче {MIN_PASSPHRASE} символов. "
            "Passphrase / Парольная фраза"
        )
    if creating:
        raise LockedReplica(f"choose a passphrase of at least {MIN_PASSPHRASE} characters")
    raise LockedReplica(f"the replica is encrypted: type its passphrase, or set {ENV_PASSPHRASE}")


def replica_key(replica: Path, ask: Ask, *, create: bool) -> bytes:
    """The data key of ``replica``: from the keyring, else unwrapped from its key file.

    With ``create`` a replica that has no key yet gets one (stored in the keyring,
    else in a key file under a passphrase asked for with confirmation); without
    it, a missing key is ``LockedReplica``.
    """
    ring = _keyring()
    account = str(replica.resolve())
    if ring is not None:
        try:
            stored = ring.get_password(KEYRING_SERVICE, account)
        except Exception:  # noqa: BLE001 - a locked or broken keyring: fall back to the passphrase
            log.warning("the OS keyring did not answer; using the replica's passphrase instead")
            stored = None
            ring = None
        if stored:
            return bytes.fromhex(stored)
    box = key_file(replica)
    if box.exists():
        return _unwrap(box.read_text(encoding="utf-8"), _passphrase(ask, creating=False))
    if not create:
        raise LockedReplica(
            f"no key for the replica {replica.name}: log in again "
            "(satchel-field login SERVER --user LOGIN)"
        )
    data_key = secrets.token_bytes(KEY_BYTES)
    if ring is not None:
        try:
            ring.set_password(KEYRING_SERVICE, account, data_key.hex())
            return data_key
        except Exception:  # noqa: BLE001 - fall back to a key file under a passphrase
            log.warning("the OS keyring refused the replica's key; using a passphrase instead")
    _write_private(box, _wrap(data_key, _passphrase(ask, creating=True)))
    return data_key


def forget(replica: Path) -> None:
    """Remove the replica's key (its data becomes unreadable for good)."""
    ring = _keyring()
    if ring is not None:
        try:
            ring.delete_password(KEYRING_SERVICE, str(replica.resolve()))
        except Exception:  # noqa: BLE001 - nothing stored there
            pass
    key_file(replica).unlink(missing_ok=True)
