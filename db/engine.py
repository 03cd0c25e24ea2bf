"""Engines and sessions, tuned per database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from s3meta.errors import ConfigError


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: pre-ping and recycle for RDS, WAL and a busy timeout for SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # RDS and proxies drop idle connections; pre-ping finds them before a query does.
    # READ COMMITTED: a locking read of a key not yet in the table takes no gap lock, so
    # workers inserting different new keys do not deadlock each other.
    kwargs.setdefault("isolation_level", "READ COMMITTED")
    return sa.create_engine(url, pool_pre_ping=True, pool_recycle=1800, **kwargs)


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


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


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
