"""The worker's start-up check of its database: reachable, and its schema at Alembic's head.

A schema behind head would fail every task (``Unknown column …``), so the worker refuses to
start. An unreachable database only warns: RDS fails over or restarts and comes back, and
the tasks retry until it does, so a worker that exited would only need restarting by hand.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from celery.signals import celeryd_after_setup

from db.engine import create_engine, sqlite_path
from db.migrations import SchemaRevision, schema_revision
from s3meta.config import get_settings, mask_url
from s3meta.errors import ConfigError

logger = logging.getLogger(__name__)
# Connecting to an address that drops packets would otherwise hold the start for minutes.
CONNECT_TIMEOUT = 10


class SchemaBehind(SystemExit):
    """The worker must not start: its database's schema is older than its code."""


def check_database(url: str) -> SchemaRevision | None:
    """The schema's revision at ``url``; None (with a warning logged) if it cannot be read."""
    where = mask_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        logger.warning("no database at %s: run `alembic upgrade head`", path)
        return None
    options: dict[str, Any] = {}
    if path is None:
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
    engine = create_engine(url, **options)
    try:
        with engine.connect() as connection:
            return schema_revision(connection)
    except sa.exc.DBAPIError as exc:
        reason = exc.orig if exc.orig is not None else exc
        logger.warning(
            "database unreachable at %s: %s; tasks will retry until it answers", where, reason
        )
        return None
    finally:
        engine.dispose()


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _check_database_at_start(**_: Any) -> None:
    """Runs after logging is set up and before the worker consumes anything."""
    try:
        url = get_settings().database_url
        revision = check_database(url)
    except ConfigError as exc:
        logger.error("%s", exc)
        raise SystemExit(1) from None
    if revision is None:
        return
    if not revision.at_head:
        logger.error("%s at %s: the worker will not start", revision.verdict(), mask_url(url))
        # Not an Exception: Celery's signal dispatch logs and swallows those.
        raise SchemaBehind(1)
    logger.info("database at %s: %s", mask_url(url), revision.verdict())
