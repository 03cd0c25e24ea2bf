"""Engines, tuned per database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool, PoolResetState

from db.together import allow_statements_together
from s3meta.errors import ConfigError

# Below the idle timeouts of RDS Proxy (30 min) and most NATs and proxies: a connection is
# replaced before anything in between drops it.
POOL_RECYCLE_SECONDS = 1500
# A writer's pool keeps every connection its threads opened, up to this many, and never makes
# a thread wait for one. Below the number of threads, SQLAlchemy's default (5 kept) closed a
# connection at nearly every return and opened another at the next checkout: a connect, TLS
# set up (PyMySQL 1.2 builds an SSL context per connection, ~18 ms of CPU) and session
# statements, for one task in forty on an 8-thread worker.
WRITER_POOL_SIZE = 32
# A server that vanishes (an RDS writer during a failover, a black-holed route) sends no
# reset: without these a connection waits for its answer for ever (PyMySQL's reads, the
# server's greeting included, have no timeout of their own). Reads wait longer than
# InnoDB's lock wait (50 s), so that a statement queued on a row lock is not cut short.
# A URL's own ``?connect_timeout=&read_timeout=&write_timeout=`` win.
MYSQL_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 60, "write_timeout": 60}
# In a pooled connection's info: its last transaction was ended by SQLAlchemy.
_ENDED = "s3meta_transaction_ended"


def create_engine(url: str, *, timeouts: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``: recycled before idle timeouts and no reset ROLLBACK after a
    COMMIT on MySQL; WAL and a busy timeout for SQLite. With ``timeouts``, each connection
    gives up on a MySQL server that stopped answering (``MYSQL_TIMEOUTS``): for the writer and
    the API, not for reports whose queries may run for minutes."""
    if timeouts:
        connect_args = {**connect_timeouts(url), **kwargs.pop("connect_args", {})}
        if connect_args:
            kwargs["connect_args"] = connect_args
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # READ COMMITTED: a locking read of a key not yet in the table takes no gap lock, so
    # workers inserting different new keys do not deadlock each other.
    kwargs.setdefault("isolation_level", "READ COMMITTED")
    # No ping per checkout (a round trip each): a connection the server dropped fails at its
    # first statement, which the writer starts again (db.store); readers' engines are new.
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
    kwargs.setdefault("pool_reset_on_return", None)
    engine = sa.create_engine(url, **kwargs)
    if kwargs["pool_reset_on_return"] is None:
        reset_only_open_transactions(engine)
    return engine


def writer_engine(url: str, **kwargs: Any) -> Engine:
    """``create_engine`` with ``timeouts``, and on MySQL a query may carry several statements
    (``db.together``); its pool keeps up to ``WRITER_POOL_SIZE`` connections and opens more
    rather than wait."""
    parsed = make_url(url)
    # An in-memory SQLite database has one connection per thread, no pool to size.
    if parsed.get_backend_name() != "sqlite" or parsed.database not in (None, "", ":memory:"):
        kwargs.setdefault("pool_size", WRITER_POOL_SIZE)
        kwargs.setdefault("max_overflow", -1)
    engine = create_engine(url, timeouts=True, **kwargs)
    allow_statements_together(engine)
    return engine


def connect_timeouts(url: str) -> dict[str, int]:
    """PyMySQL's ``MYSQL_TIMEOUTS`` that ``url`` does not set itself; none for other drivers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "mysql" or parsed.get_driver_name() != "pymysql":
        return {}
    return {name: value for name, value in MYSQL_TIMEOUTS.items() if name not in parsed.query}


def sign_in_with(engine: Engine, password: Callable[[], str]) -> None:
    """Open each new connection of ``engine`` with the password ``password()`` gives then: an
    RDS IAM token (``s3meta.aws.rds``), which expires, so it is never kept in the URL."""

    def fresh_password(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["password"] = password()

    event.listen(engine, "do_connect", fresh_password)


def reset_only_open_transactions(engine: Engine) -> None:
    """Roll back a connection returned to ``engine``'s pool only if its transaction may be open.

    SQLAlchemy's pool rolls back every connection returned after a COMMIT (a round trip each),
    unless the engine is made with ``pool_reset_on_return=None``, as it must be for this. A
    connection counts as clean from a COMMIT or ROLLBACK that SQLAlchemy issued until the
    next checkout, transaction or error; a connection used any other way is rolled back.
    """
    if isinstance(engine.pool, NullPool):
        return  # NullPool closes every connection returned: nothing is left open
    event.listen(engine, "checkout", _open_at_checkout)
    event.listen(engine, "begin", _open)
    event.listen(engine, "handle_error", _open_on_error)
    event.listen(engine, "commit", _ended)
    event.listen(engine, "rollback", _ended)
    event.listen(engine, "reset", _rollback_if_open)


def _open_at_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    record.info[_ENDED] = False


def _open(connection: sa.Connection) -> None:
    connection.info[_ENDED] = False


def _open_on_error(context: sa.engine.ExceptionContext) -> None:
    if context.connection is not None and not context.connection.invalidated:
        context.connection.info[_ENDED] = False


def _ended(connection: sa.Connection) -> None:
    # Fired before the COMMIT or ROLLBACK is sent: if it fails, handle_error follows. An
    # invalidated connection's record is discarded (and reading its info would reconnect).
    if not connection.invalidated:
        connection.info[_ENDED] = True


def _rollback_if_open(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
    if state.terminate_only or state.transaction_was_reset:
        return  # closed next, or rolled back by SQLAlchemy's Connection already
    if not record.info.get(_ENDED, False):
        dbapi_connection.rollback()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the CLI read while a worker writes; LIKE must be case-sensitive as S3 keys are.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()
    # pysqlite's own BEGIN is deferred; SQLAlchemy issues ours instead (see below).
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: sa.Connection) -> None:
    # A deferred transaction that reads, then writes, fails at once ("database is locked")
    # when another writer got there first; IMMEDIATE takes the write lock up front, so
    # writers queue for busy_timeout instead. SQLite has no row locks to do better.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def require_database(url: str) -> None:
    """Raise ``ConfigError`` if ``url`` is a SQLite file that does not exist.

    SQLite would create an empty one, and the command would then fail on a missing table.
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise ConfigError(f"no database at {path}: run `alembic upgrade head` or `s3meta demo`")


@contextmanager
def open_engine(url: str) -> Iterator[Engine]:
    """An engine for the existing database at ``url``, disposed of on exit."""
    require_database(url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
