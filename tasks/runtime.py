"""What a worker process keeps across tasks, built by ``s3meta.composition`` on first use."""

from __future__ import annotations

import os
from functools import cache

from s3meta import composition
from s3meta.compat.celery_results import ResultRows
from s3meta.config import Settings, get_settings
from s3meta.indexing import Indexer
from tasks.metrics import metrics


def database_url() -> str:
    """This worker's database URL, its secret read once: forked pool children inherit it."""
    return _database_url(get_settings())


@cache
def _database_url(settings: Settings) -> str:
    return composition.database_url(settings)


@cache
def indexer() -> Indexer:
    """This process's indexer on S3 and the database, built on first use (never at import)."""
    return composition.indexer(get_settings(), database_url(), metrics(), ResultRows())


# Pooled connections must not be shared with a forked pool child: each builds its own.
os.register_at_fork(after_in_child=indexer.cache_clear)
