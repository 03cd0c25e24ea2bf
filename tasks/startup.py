"""The worker's start-up check of its database: reachable, and its schema at Alembic's head.

A schema behind head would fail every task (``Unknown column …``), so the worker refuses to
start. An unreachable database only warns: RDS fails over or restarts and comes back, and
the tasks retry until it does, so a worker that exited would only need restarting by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup

from db.migrations import SchemaRevision, read_schema_revision
from s3meta.config import get_settings, mask_url
from s3meta.errors import ConfigError, DatabaseUnavailable

logger = logging.getLogger(__name__)


class SchemaBehind(SystemExit):
    """The worker must not start: its database's schema is older than its code."""


def check_database(url: str) -> SchemaRevision | None:
    """The schema's revision at ``url``; None (with a warning logged) if it cannot be read."""
    try:
        return read_schema_revision(url)
    except DatabaseUnavailable as exc:
        logger.warning(
            "database unreachable at %s: %s; tasks will retry until it answers",
            mask_url(url),
            exc,
        )
        return None


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
