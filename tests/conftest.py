"""Fixtures shared by every test tier.

``database`` is parametrised by backend, so every test that takes it runs on
SQLite and on PostgreSQL. Each test run creates its own PostgreSQL database
(on 127.0.0.1:5432 as postgres, or the server in ``SATCHEL_TEST_PG_URL``) and
drops it at the end; tables are emptied between tests. Where no PostgreSQL is
reachable the PostgreSQL half is skipped with the reason, except under
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import functools
import gc
import os
import random
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import hypothesis
import pytest
import typer.testing
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import calendar_bridge.models  # noqa: F401 - its table is emptied between tests too
import crm.changes  # noqa: F401
import mail.models  # noqa: F401 - the mail tables are emptied between tests too
from clients import vault
from crm import accounts
from crm.database import Database
from crm.models import User, metadata
from server import migrate
from server.config import Config

# Hypothesis profiles. "ci" (the default, what `make test` runs) keeps hypothesis's defaults for the
# tests that set nothing and the ``examples(ci, thorough)`` counts of the tests that set their own;
# SATCHEL_HYPOTHESIS_PROFILE=thorough runs ten times as many (1,000 where nothing is set) for a
# deeper look before a release or after touching a parser.
HYPOTHESIS_PROFILE = os.environ.get("SATCHEL_HYPOTHESIS_PROFILE", "ci")
hypothesis.settings.register_profile("ci", hypothesis.settings())
hypothesis.settings.register_profile("thorough", max_examples=1000)
hypothesis.settings.load_profile(HYPOTHESIS_PROFILE)


# typer's test runner builds the whole command tree from the functions' signatures again on every
# ``invoke`` (~70 ms for ``satchel`` on the 2-core VM, hundreds of invocations in the suite); the
# apps are module-level objects nobody changes in a test, so each is built once per process.
_built_commands: dict[int, tuple[Any, Any]] = {}
_build_command = typer.testing._get_command


def _command_once(app: Any) -> Any:
    if id(app) not in _built_commands:
        _built_commands[id(app)] = (app, _build_command(app))  # the app held: its id stays its own
    return _built_commands[id(app)][1]


typer.testing._get_command = _command_once  # type: ignore[assignment]


# The fuzz tests that drew the same inputs every run (derandomized) and the convergence histories
# draw from a seed that changes every run instead: fewer examples per run, other ones each run, more
# over a week. The controller draws it before the xdist workers start (they inherit the environment,
# so all collect the same tests); the run's header prints it and SATCHEL_RUN_SEED=N repeats a run.
if "SATCHEL_RUN_SEED" not in os.environ:
    os.environ["SATCHEL_RUN_SEED"] = str(random.SystemRandom().randrange(1_000_000))


def env_number(name: str, default: str | None = None, *, least: int = 0) -> int:
    """The environment variable ``name`` as a whole number of at least ``least``; a clear error, not
    a traceback, for anything else (``SATCHEL_RUN_SEED=abc``, ``SATCHEL_CONVERGENCE_HISTORIES=-3``)."""
    value = os.environ.get(name, default)
    if value is None or not value.strip().isdigit() or int(value) < least:
        raise pytest.UsageError(f"{name} must be a whole number of at least {least}; got {value!r}")
    return int(value)


RUN_SEED = env_number("SATCHEL_RUN_SEED")
FUZZ_SEED = env_number("SATCHEL_FUZZ_SEED", str(RUN_SEED))


def examples(ci: int, thorough: int | None = None) -> int:
    """A test's ``max_examples``: ``ci`` in the normal run, ``thorough`` (10 × ``ci`` unless given) in the thorough profile."""
    if HYPOTHESIS_PROFILE == "thorough":
        return thorough if thorough is not None else 10 * ci
    return ci


PG_BASE_URL = os.environ.get(
    "SATCHEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin_engine() -> Any:
    return create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped afterwards."""
    name = f"satchel_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no PostgreSQL"
        message = f"PostgreSQL not reachable at {make_url(PG_BASE_URL).render_as_string(hide_password=True)}: {exc}"
        if IN_CI:
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    url = make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    migrate.upgrade(database)
    database.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating every time."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database)
    database.dispose()  # closing the last connection folds the WAL into the file
    return path


def _empty_tables(database: Database) -> None:
    """Empty what the last test filled and restart the sequences it moved. One query finds them, and
    a DELETE empties them, children first: a TRUNCATE, which makes each table's files anew, took
    60–190 ms a test, most of a PostgreSQL test's set-up."""
    tables = [t.name for t in metadata.sorted_tables]
    found = " UNION ALL ".join(
        f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables
    )
    with database.engine.begin() as conn:
        filled = set(conn.exec_driver_sql(found).scalars())
        for name in reversed(tables):
            if name in filled:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
        moved = conn.exec_driver_sql(
            "SELECT schemaname, sequencename FROM pg_sequences WHERE last_value IS NOT NULL"
        ).all()
        for schema, sequence in moved:
            conn.exec_driver_sql(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART')


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# For a test that takes ``database`` (or ``api``, ``web``) only to have a user and an app, and whose
# assertions are about something no SQL decides (request ids, headers, CSRF, redirects, form
# validation): it runs on SQLite alone. Every test that exercises SQL stays on both databases.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# One ``Database`` per worker and backend, reused by every test: an engine keeps the SQL it compiled
# (SQLAlchemy's statement cache lives on the engine), and a new engine per test compiled most
# statements afresh — half of the statements of a typical API test, ~15 % of its time. Between tests
# the engine's connections are closed (``dispose``) and the data is made anew: the SQLite file is
# replaced by a copy of the migrated template, PostgreSQL's tables are emptied.
_SHARED: dict[str, Database] = {}


def _shared(url: str) -> Database:
    database = _SHARED.get(url)
    if database is None:
        database = _SHARED[url] = Database(url)
    return database


def _fresh_sqlite(template: Path, path: Path) -> None:
    """``path`` becomes a copy of ``template``: a new file (a connection someone leaked keeps the old
    one), without the last test's WAL."""
    for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copy(template, path.with_name(path.name + ".new"))
    os.replace(path.with_name(path.name + ".new"), path)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = template.with_name("satchel.db")
        _fresh_sqlite(template, path)
        database = _shared(f"sqlite:///{path}")
    else:
        database = _shared(request.getfixturevalue("pg_url"))
        _empty_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def blank_database(backend: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database, not migrated (for tests of the migrations themselves): a new SQLite file,
    or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'blank.db'}")
        yield database
        database.dispose()
        return
    name = f"satchel_blank_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    except Exception as exc:  # noqa: BLE001 - as in pg_url
        if IN_CI:
            pytest.fail(f"CI=true and PostgreSQL not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    database = Database(
        make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)
    )
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def config(database: Database, tmp_path: Path) -> Config:
    return Config.load(
        environ={"SATCHEL_DATA_DIR": str(tmp_path), "SATCHEL_DATABASE_URL": database.url}
    )


class _RememberingHasher(PasswordHasher):
    """Argon2id with the server's own parameters, but each password is hashed, and each (hash,
    password) pair verified, once per test process.

    Argon2 is slow on purpose (about a second a round on a busy 2-core CI box), and the suite
    creates users and logs in thousands of times with a handful of passwords. Verifying is a pure
    function of the stored hash and the password, so a repeated pair gets the answer (``True`` or
    the same exception) the real verification gave the first time. ``hash`` gives a real argon2id
    hash with the real parameters, made once per password: users with the same password share a
    salt within a run, which no test relies on either way. ``check_needs_rehash`` is untouched.
    Lost: only the constant time of an unknown login's answer, which no test measures.
    """

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:  # noqa: A003 - argon2's name
        if salt is not None:
            return super().hash(password, salt=salt)
        key = password.encode(self.encoding) if isinstance(password, str) else bytes(password)
        if key not in _HASHED:
            _HASHED[key] = super().hash(password)
        return _HASHED[key]

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002 - argon2's name
        key = (
            hash.encode("ascii") if isinstance(hash, str) else bytes(hash),
            password.encode(self.encoding) if isinstance(password, str) else bytes(password),
        )
        answer = _VERIFIED.get(key)
        if answer is None:
            try:
                answer = super().verify(hash, password)
            except (
                VerificationError,
                InvalidHashError,
            ) as exc:  # a mismatch, or a hash argon2 cannot read
                answer = exc
            _VERIFIED[key] = answer
        if isinstance(answer, Exception):
            raise type(answer)(*answer.args)
        return True


_HASHED: dict[bytes, str] = {}
_VERIFIED: dict[tuple[bytes, bytes], Literal[True] | Exception] = {}
accounts._hasher = _RememberingHasher.from_parameters(accounts._hasher._parameters)

# The replica's key is unwrapped with Argon2id (64 MiB, about 0.25 s) by every satchel-field command
# and every laptop UI start, and the suite runs the same (passphrase, salt) hundreds of times: half of
# the laptop command tests' time. A pure function of its arguments, remembered per test process like
# the password hasher above; each distinct (passphrase, salt) still goes through real Argon2id once.
_real_derive = vault._derive


@functools.cache
def _derive_once(passphrase: str, salt: bytes, params: tuple[tuple[str, int], ...]) -> bytes:
    return _real_derive(passphrase, salt, dict(params))


vault._derive = lambda passphrase, salt, params: _derive_once(  # type: ignore[assignment]
    passphrase, salt, tuple(sorted(params.items()))
)

PASSWORD = "correct-horse-42"
# Argon2 is slow on purpose; hash the shared test password once per run.
_PASSWORD_HASH = accounts.hash_password(PASSWORD)


def someone_waits_for_a_lock(database: Database, seconds: float) -> bool:
    """Whether, within ``seconds``, a transaction on ``database`` (PostgreSQL) waits for a lock
    another holds: a test's condition to go on, not a sleep."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with database.read() as session:
            waiting = session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        if waiting:
            return True
        time.sleep(0.02)
    return False


def make_user(
    database: Database,
    login: str,
    *,
    role: str = "salesperson",
    team: str | None = "Москва",
    active: bool = True,
) -> User:
    with database.write() as session:
        user = accounts.create_user(
            session, login=login, full_name=f"Пользователь {login}", role=role, team=team
        )
        user.password_hash = _PASSWORD_HASH
        if not active:
            accounts.set_active(session, user, False)
    return user


def pytest_report_header() -> str:
    from tests.sync.test_convergence import HISTORIES, OFFSET

    return (
        f"run seed {RUN_SEED} (SATCHEL_RUN_SEED={RUN_SEED} repeats this run's draws): "
        f"convergence {HISTORIES} histories per database from seed {OFFSET}, fuzz seed {FUZZ_SEED}"
    )


# The longest tests start first, so that on two workers none of them is left to run alone at the end
# of the run while the other worker idles.
SLOW_FIRST = (
    "tests/server/test_schemathesis.py",
    "tests/server/test_access_matrix.py",
    "tests/sync/test_convergence.py",
    "tests/sync/test_hostile_sync.py",
    "tests/web/test_browser.py",
    "tests/server/test_hostile_input.py",
    "tests/sync/test_server_crash.py",
    "tests/server/test_workers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection built (every module, the app's schemas and tables) out of the garbage
    collector's sight: the full collections that follow need not walk it again and again."""
    gc.collect()
    gc.freeze()


T = TypeVar("T")


def at_once(count: int, work: Callable[[int], T], timeout: float = 120) -> list[T]:
    """``work(0)`` … ``work(count - 1)`` in as many threads, released together (first writes of a new
    database, two workers on one outbox); their results in order, or the first error any raised."""
    import threading

    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = work(n)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results
