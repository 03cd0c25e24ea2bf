"""Alembic environment: migrates the database named by S3META_DATABASE_URL."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from db.engine import create_engine
from db.models import Base
from s3meta.config import get_settings
from s3meta.errors import ConfigError

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if url:
        return url
    try:
        return get_settings().database_url
    except ConfigError as exc:
        # A configuration mistake (a bad URL, an unreadable secret) is one line, not a traceback.
        raise SystemExit(f"alembic: {exc}") from None


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
        with engine.connect() as connection:
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
