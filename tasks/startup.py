"""The worker's database at start: its URL completed from the secret, then checked.

The worker is the Celery process that opens the database, so it alone reads
``S3META_DATABASE_SECRET_ARN`` (before anything else is set up, so that Celery's result
backend gets the completed URL too); a secret it cannot read stops it with one line. Then
the check: a schema behind head would fail every task (``Unknown column …``), so the worker
refuses to start. An unreachable database only warns: RDS fails over or restarts and comes
back, and the tasks retry until it does, so a worker that exited would only need
restarting by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup, celeryd_init

from db.migrations import SchemaRevision, read_schema_revision
from s3meta import composition
from s3meta.config import get_settings
from s3meta.errors import ConfigError, DatabaseUnavailable
from s3meta.masking import mask_url, redact
from tasks import runtime

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


@celeryd_init.connect  # type: ignore[untyped-decorator]
def _complete_database_url(conf: Any, **_: Any) -> None:
    """Runs first in a worker, before its result backend exists."""
    try:
        url = runtime.database_url()
    except ConfigError as exc:
        # Logging is not set up yet; SystemExit, as Celery's signal dispatch swallows errors.
        raise SystemExit(f"celery worker: {redact(str(exc))}") from None
    conf.result_backend = composition.result_backend(get_settings(), url)


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _check_database_at_start(**_: Any) -> None:
    """Runs after logging is set up and before the worker consumes anything."""
    url = runtime.database_url()
    revision = check_database(url)
    if revision is None:
        return
    if not revision.at_head:
        logger.error("%s at %s: the worker will not start", revision.verdict(), mask_url(url))
        # Not an Exception: Celery's signal dispatch logs and swallows those.
        raise SchemaBehind(1)
    logger.info("database at %s: %s", mask_url(url), revision.verdict())
