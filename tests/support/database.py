"""Scratch test databases, migrated by Alembic (never ``create_all``) and dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from db.migrations import PROJECT_ROOT as ROOT
from db.migrations import upgrade as migrate

__all__ = ["ROOT", "migrate", "require_mysql", "scratch_mysql_database", "scratch_sqlite_database"]
MYSQL_SERVER_URL = os.environ.get("S3META_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
IN_CI = bool(os.environ.get("CI"))


def mysql_available() -> str | None:
    """None when the MySQL server answers, else why not."""
    engine = sa.create_engine(MYSQL_SERVER_URL, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    return None


def require_mysql() -> None:
    """Skip locally, fail in CI, when the MySQL server is not there."""
    reason = mysql_available()
    if reason is None:
        return
    message = f"MySQL/MariaDB not reachable at {MYSQL_SERVER_URL}: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI must run the MySQL tests)")
    pytest.skip(f"!!! SKIPPING MySQL TEST: {message}")


@contextmanager
def scratch_mysql_database() -> Iterator[str]:
    """A new empty MySQL database (URL), dropped afterwards."""
    require_mysql()
    name = f"s3meta_test_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(MYSQL_SERVER_URL)
    with server.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield f"{MYSQL_SERVER_URL}/{name}?charset=utf8mb4"
    finally:
        with server.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


@contextmanager
def scratch_sqlite_database(directory: Path) -> Iterator[str]:
    """A new empty SQLite database file (URL) in ``directory``."""
    path = directory / f"s3meta-{uuid.uuid4().hex[:8]}.db"
    yield f"sqlite:///{path}"
