"""s3meta's errors for the database's: transient only when the server is away or busy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from s3meta.errors import DatabaseError, DatabaseUnavailable, S3MetaError, SchemaNotMigrated

# MySQL/MariaDB errors that say the server is away or busy, not that the query is wrong:
# too many connections, shutdown, lock wait timeout, deadlock, connection killed,
# can't connect, server gone away, lost connection.
TRANSIENT_MYSQL_ERRORS = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055})
NO_SUCH_TABLE_MYSQL = 1146
DEADLOCK_MYSQL = 1213
_TRANSIENT_SQLITE_MESSAGES = ("database is locked", "database table is locked")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Database errors raised inside come out as s3meta's (``translate_database_error``)."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        raise translate_database_error(exc) from exc


def translate_database_error(exc: sa_exc.DBAPIError | sa_exc.TimeoutError) -> S3MetaError:
    """s3meta's error for a failed query: transient only if the server is away or busy."""
    if isinstance(exc, sa_exc.TimeoutError):
        return DatabaseUnavailable(f"no database connection free in the pool: {exc}")
    original = exc.orig
    detail = str(original) if original is not None else str(exc)
    code = error_code(exc)
    if exc.connection_invalidated or code in TRANSIENT_MYSQL_ERRORS:
        return DatabaseUnavailable(f"database unavailable: {detail}")
    if any(message in detail for message in _TRANSIENT_SQLITE_MESSAGES):
        return DatabaseUnavailable(f"database busy: {detail}")
    if code == NO_SUCH_TABLE_MYSQL or "no such table" in detail:
        return SchemaNotMigrated(
            f"the database has no s3meta schema; run `alembic upgrade head` ({detail})"
        )
    return DatabaseError(f"database error: {detail}")


def error_code(exc: sa_exc.DBAPIError) -> object:
    """The driver's error code (MySQL's number), if it has one."""
    original = exc.orig
    return original.args[0] if original is not None and original.args else None
