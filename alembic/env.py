"""Alembic environment: migrates the database named by S3META_DATABASE_URL."""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alembic import context
from db.engine import create_engine
from db.models import Base
from s3meta import composition
from s3meta.compat import celery_results as _result_tables  # noqa: F401  (declares them on Base)
from s3meta.config import check_database_url, get_settings
from s3meta.errors import ConfigError
from s3meta.masking import redact

# MySQL's ER_BAD_DB_ERROR: "Unknown database".
_MYSQL_UNKNOWN_DATABASE = 1049

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    try:
        if url:
            check_database_url(url)
            return url
        return composition.database_url(get_settings())
    except (ConfigError, ValueError) as exc:
        # A configuration mistake (a bad URL, an unreadable secret) is one line, not a traceback.
        raise SystemExit(f"alembic: {redact(str(exc))}") from None


def _connect(engine: Engine) -> Connection:
    """A connection; a database that is down or does not exist is one line, not a traceback."""
    try:
        return engine.connect()
    except sa.exc.DBAPIError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = exc.orig if exc.orig is not None else exc
        code = reason.args[0] if reason.args else None
        database = engine.url.database
        if code == _MYSQL_UNKNOWN_DATABASE:
            hint = f"create it first (CREATE DATABASE `{database}` CHARACTER SET utf8mb4)"
        elif engine.url.get_backend_name() == "sqlite":
            hint = "does the file's directory exist and may it be written?"
        else:
            hint = "is the server running and the URL right?"
        raise SystemExit(f"alembic: cannot connect to {where}: {reason}; {hint}") from None


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_database_url())
    try:
        with _connect(engine) as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                compare_type=True,
                # SQLite can't ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
