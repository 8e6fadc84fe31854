"""The laptop's data at rest (issue 10, item 3): the replica is encrypted, private to its owner,
opened only with its key; a copied file or a wrong passphrase reads nothing."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from clients import vault
from clients.profiles import Profiles
from clients.replica import Replica
from crm.database import Database, WrongKey
from tests.clients.test_cli import PASSPHRASE, LiveServer, field, live  # noqa: F401 - the fixture
from tests.conftest import PASSWORD, make_user


def _replica_files(home: Path) -> list[Path]:
    return [p for p in (home / "replicas").iterdir() if p.is_file()]


def test_a_hundred_canaries_are_nowhere_in_the_laptops_files_or_logs(
    live: LiveServer,  # noqa: F811
    database: Database,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    make_user(database, "ivanov")
    home = tmp_path / "home"
    assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
    canaries = [f"КАНАРЕЙКА{n:03d}zq" for n in range(100)]
    profile = Profiles(home).current()
    assert profile is not None
    key = vault.replica_key(profile.replica, lambda *_: PASSPHRASE, create=False)
    replica = Replica.open(profile.replica, key=key)
    try:  # the same local edits the commands make, without a hundred Argon2id unlockings
        for n, canary in enumerate(canaries):
            replica.create(
                "counterparties",
                {"legal_name": f"ООО {canary}"}
                if n % 2
                else {"legal_name": "ООО Тайная", "notes": canary},
            )
    finally:
        replica.close()
    assert field(home, "sync").exit_code == 0
    # Unsynced edits too (the outbox), and the WAL before any checkpoint.
    cp_id = field(
        home, "counterparties", "add", "ООО Последняя", "--notes", canaries[0]
    ).output.split()[1]
    assert field(home, "counterparties", "edit", cp_id, "--notes", canaries[1]).exit_code == 0
    replica = Replica.open(profile.replica, key=key)
    try:
        token = replica.state("token")
        assert replica.status()["pending"] == 2
        assert len(replica.list("counterparties", limit=500)) == 101
        files = _replica_files(home)
        assert {p.name for p in files} >= {profile.replica.name, profile.replica.name + ".key"}
        secrets = [c.encode() for c in canaries] + [token.encode(), PASSPHRASE.encode()]  # type: ignore[union-attr]
        for path in files:
            data = path.read_bytes()
            found = [s for s in secrets if s in data]
            assert not found, f"{path.name} holds {found[:3]}"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        replica.close()
    logged = caplog.text
    assert not [c for c in canaries if c in logged] and token not in logged


def test_a_wrong_passphrase_fails_closed_and_changes_nothing(
    live: LiveServer,  # noqa: F811
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_user(database, "ivanov")
    home = tmp_path / "home"
    assert field(home, "login", live.url, "--user", "ivanov", "--password", PASSWORD).exit_code == 0
    assert field(home, "counterparties", "add", "ООО Ромашка").exit_code == 0
    before = {p.name: p.read_bytes() for p in _replica_files(home)}
    monkeypatch.setenv(vault.ENV_PASSPHRASE, "не тот ключ")
    from typer.testing import CliRunner

    from clients.cli import app

    result = CliRunner().invoke(
        app,
        ["--data-dir", str(home), "counterparties", "list"],
        env={vault.ENV_PASSPHRASE: "не тот ключ"},
    )
    assert result.exit_code == 10 and "wrong passphrase" in result.output
    assert {p.name: p.read_bytes() for p in _replica_files(home)} == before
    # The data key itself, from another replica, does not open it either.
    profile = Profiles(home).current()
    assert profile is not None
    with pytest.raises(WrongKey):
        Replica.open(profile.replica, key=os.urandom(32))
    assert "ООО Ромашка" in field(home, "counterparties", "list").output


def test_a_plain_replica_of_an_older_client_is_encrypted_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    plain = Replica.open(path)
    plain.set_state(token="ТОКЕН-СТАРОГО-КЛИЕНТА", server="http://x")
    plain.close()
    assert (
        b"\xd0\xa2\xd0\x9e\xd0\x9a\xd0\x95\xd0\x9d" in path.read_bytes()
    )  # "ТОКЕН" in clear, as before
    key = os.urandom(32)
    replica = Replica.open(path, key=key)
    try:
        assert replica.state("token") == "ТОКЕН-СТАРОГО-КЛИЕНТА"
    finally:
        replica.close()
    for name in os.listdir(tmp_path):
        assert "ТОКЕН".encode() not in (tmp_path / name).read_bytes(), name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


class _MemoryKeyring(KeyringBackend):
    """The one seam faked: an OS keyring (Credential Manager, Keychain) this headless box lacks."""

    priority = -1  # type: ignore[assignment]  # never chosen by keyring's discovery: set explicitly

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.stored.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.stored[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.stored.pop((service, username), None)


def test_with_an_os_keyring_the_key_lives_there_and_nothing_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring

    ring = _MemoryKeyring()
    previous: Any = keyring.get_keyring()
    keyring.set_keyring(ring)
    monkeypatch.delenv(vault.ENV_PASSPHRASE, raising=False)
    try:

        def never(*_: Any) -> str:
            raise AssertionError("asked for a passphrase although the keyring holds the key")

        path = tmp_path / "r.db"
        key = vault.replica_key(path, never, create=True)
        assert not vault.key_file(path).exists()
        assert vault.replica_key(path, never, create=False) == key
        Replica.open(path, key=key).close()
        vault.forget(path)
        with pytest.raises(vault.LockedReplica):
            vault.replica_key(path, never, create=False)
    finally:
        keyring.set_keyring(previous)


def test_a_short_or_missing_passphrase_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(vault.ENV_PASSPHRASE, raising=False)
    path = tmp_path / "r.db"
    with pytest.raises(vault.LockedReplica, match="at least"):
        vault.replica_key(
            path, lambda *_: "short", create=True
        )  # asked three times, short each time
    typed = iter(["short", "long enough now"])
    vault.replica_key(
        tmp_path / "second.db", lambda *_: next(typed), create=True
    )  # asked again, then fine
    assert vault.key_file(tmp_path / "second.db").exists()
    with pytest.raises(vault.LockedReplica, match="passphrase"):
        vault.replica_key(path, lambda *_: None, create=True)
    assert not vault.key_file(path).exists()
