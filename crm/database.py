"""The one place that opens a database.

SQLite (the embedded default) and PostgreSQL behind one small interface:
``Database.read()`` and ``Database.write()`` give a SQLModel session inside a
transaction. On SQLite every write transaction starts with ``BEGIN IMMEDIATE``
and goes through a single connection, so writers queue instead of failing with
"database is locked" half-way through; readers use WAL snapshots and never
block the writer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

if TYPE_CHECKING:
    from sqlmodel import Session

# SQLModel, the models and the change log are imported when a session is first opened, not with
# this module: a listing reads through ``peek()`` without them and starts in a third of a second.

log = logging.getLogger(__name__)


def native_insert(dialect_name: str, table: Any) -> Any:
    """An INSERT of ``table`` in the database's own dialect, which knows ``ON CONFLICT``
    (``on_conflict_do_nothing``, ``on_conflict_do_update``, ``excluded``) on PostgreSQL and SQLite."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table)


def among(dialect_name: str, column: Any, values: list[Any]) -> Any:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``, one parameter, so the statement's
    text does not grow with the list: psycopg converts a statement of more than 4 KB to its own form
    again on every execution (a pull's page asks for up to 500 ids), and SQLAlchemy renders an
    expanding list anew each time."""
    if dialect_name == "postgresql":
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def plan_once(session: Any) -> None:
    """On PostgreSQL, let this transaction's prepared statements keep one plan for every value they
    are given (``plan_cache_mode``): for a long statement whose plan hardly depends on its values,
    such as the conflicts that concern a user (an OR of every record type's rules). PostgreSQL
    would otherwise plan it again at every execution, and planning it cost 40 times running it."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")


# psycopg keeps a statement's conversion to its own form (placeholders, their order) for the next
# execution only when the statement is at most 4 KB with at most 50 parameters: every pull's first
# page of conflicts (an OR of every record type's rules: a salesperson's is 22 KB with 76
# parameters) was converted again each time, 5 % of a server's CPU in a burst of syncs (py-spy,
# bench.burst). Satchel's statements take their values as parameters, so their texts are a few
# hundred templates; psycopg's cache stays bounded (128 entries). A bulk INSERT of many rows has
# more parameters still and is left uncached, as psycopg intends.
_LONGEST_CACHED_STATEMENT = 64 * 1024
_MOST_CACHED_PARAMETERS = 256


# A pooled PostgreSQL connection idle longer than this is pinged before it is lent out.
PING_AFTER_IDLE = 2.0

# Connections a pool keeps open for reads (SQLite's readers; PostgreSQL's pool, which opens as
# many again for a burst and closes them after).
CONNECTIONS = 10


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before lending it only when it lay idle ``PING_AFTER_IDLE``
    seconds or more (a database restarted or a firewall that dropped it meanwhile: it is replaced
    unseen). SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip of every request,
    ~7 % of a single-request create's machine CPU (bench.writes). A connection lost in the seconds
    after its last use fails the request that gets it; that answers 503, try again
    (``server.errors``), and the pool drops every connection opened before."""
    import time

    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means: not this connection
            # The pool opens another in its place (up to three times).
            raise DisconnectionError(f"a pooled connection did not answer: {exc}") from exc


def _cache_long_statements() -> None:
    try:
        from psycopg import _queries
    except ImportError:  # no psycopg: nothing to tune
        return
    length = getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", None)
    parameters = getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", None)
    if isinstance(length, int) and isinstance(parameters, int):  # the psycopg this was measured on
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(length, _LONGEST_CACHED_STATEMENT)
        _queries.MAX_CACHED_STATEMENT_PARAMS = max(parameters, _MOST_CACHED_PARAMETERS)


class CannotOpen(Exception):
    """The database's URL is none Satchel can use, or its SQLite file cannot be made: the message says
    which, in one line (``satchel``'s commands print it and exit 1)."""


class WrongKey(Exception):
    """An encrypted SQLite file that the given key does not open (or a plain file given a key)."""


def _sqlcipher() -> Any:
    try:
        import sqlcipher3.dbapi2 as driver
    except ImportError:
        raise WrongKey(
            "encrypted databases need the sqlcipher3 package (pip install sqlcipher3-binary)"
        ) from None
    return driver


def _sqlite_engine(
    url: str, *, immediate: bool, pool_size: int, key: bytes | None = None
) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=QueuePool,
        hide_parameters=True,  # errors would print SQL parameters (emails, phones) into the log
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        **({"module": _sqlcipher()} if key is not None else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if key is not None:
            # The key comes first, as raw bytes (our own KDF made it); SQLCipher's own
            # error log on a wrong key would only repeat what WrongKey says.
            cursor.execute("PRAGMA cipher_log_level = NONE")
            cursor.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
            try:
                cursor.execute("SELECT count(*) FROM sqlite_master").fetchall()
            except Exception as exc:  # noqa: BLE001 - the driver says only "file is not a database"
                cursor.close()
                raise WrongKey("this key does not open the database") from exc
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Engines for one database URL; ``read()``/``write()`` are the only ways in."""

    def __init__(self, url: str, *, key: bytes | None = None, change_log: bool = True) -> None:
        """``key`` (SQLite only) opens the file encrypted with SQLCipher under that raw 256-bit key.

        ``change_log``: the company's database (the server's) enters every write in the change
        log the laptops pull from (``crm.changes.ServerWrite``); a laptop's replica passes False.
        """
        self.url = url
        self.change_log = change_log
        try:
            parsed = make_url(url)
            parsed.port  # noqa: B018 - a port that is no number is refused here, not at first use
        except (ArgumentError, ValueError):
            raise CannotOpen(
                "database_url is not a database URL (e.g. postgresql://satchel@127.0.0.1/satchel)"
            ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise CannotOpen(
                f"database_url names {self.dialect}: Satchel keeps its data in SQLite or PostgreSQL"
            )
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                # The company's data: owner-only from the first byte (SQLite gives its WAL and
                # shared-memory files the database file's mode).
                path = Path(parsed.database)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
                except OSError as exc:
                    raise CannotOpen(
                        f"cannot open the database: {path}: {exc.strerror or exc} (check "
                        "database_url / SATCHEL_DATABASE_URL or data_dir / SATCHEL_DATA_DIR)"
                    ) from None
            self._writer = _sqlite_engine(url, immediate=True, pool_size=1, key=key)
            self._reader = _sqlite_engine(url, immediate=False, pool_size=CONNECTIONS, key=key)
        else:
            _cache_long_statements()
            self._writer = create_engine(
                url, pool_size=2 * CONNECTIONS, max_overflow=CONNECTIONS, hide_parameters=True
            )
            _ping_when_idle(self._writer)
            # The same pool; its transactions BEGIN READ ONLY (no extra round trip) and end in a
            # COMMIT: psycopg forgets a connection's prepared statements at every ROLLBACK, so reads
            # that rolled back had PostgreSQL plan every statement again (the conflicts' first page,
            # a 22 KB statement, took longer to plan than to run).
            self._reader = self._writer.execution_options(postgresql_readonly=True)

    @property
    def threads(self) -> int:
        """How many threads a server process lets work at once (``server.app``): as many as the
        connections its reads keep open. More would only wait for a connection (or open one more
        and close it again) and take turns with the others for the interpreter, the push writer's
        thread among them."""
        return CONNECTIONS

    @property
    def engine(self) -> Engine:
        """The writing engine, for migrations and bulk work."""
        return self._writer

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine (the writer, and on SQLite the readers'), e.g. to tune each new connection."""
        return (self._writer,) if self.dialect != "sqlite" else (self._writer, self._reader)

    @contextmanager
    def read(self) -> Iterator[Session]:
        from sqlmodel import Session

        # Committing (a read-only transaction: nothing to write) ends it without expiring what was
        # loaded, so callers may use the objects after the block; on PostgreSQL it keeps the
        # connection's prepared statements, which a rollback would drop.
        with Session(self._reader, expire_on_commit=False) as session:
            yield session
            session.commit()

    @contextmanager
    def peek(self) -> Iterator[Connection]:
        """A read-only transaction on a plain SQLAlchemy connection, for Core queries that need
        none of the ORM (the commands' listings)."""
        with self._reader.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def write(self, *, device: str | None = None) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back on any error.

        ``device``: the laptop whose changes this write applies (``crm.changes.from_device``
        says it later, once a push's caller is known).
        """
        from crm.changes import ServerWrite, Write

        session: Session = (
            ServerWrite(self._writer, expire_on_commit=False, device_id=device)
            if self.change_log
            else Write(self._writer, expire_on_commit=False)
        )
        with session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load; the plans depend on them.

        On PostgreSQL also VACUUM, which marks pages all-visible so that searches
        can answer from the index alone (what autovacuum would do later).
        """
        if self.dialect == "sqlite":
            with self._writer.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        else:
            with self._writer.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")

    def dispose(self) -> None:
        self._writer.dispose()
        if self.dialect == "sqlite":
            self._reader.dispose()
