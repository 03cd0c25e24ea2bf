"""What a worker process builds once and reuses across tasks: the indexer and its parts."""

from __future__ import annotations

import os
from functools import cache

from db.engine import create_engine, session_factory
from db.store import MetadataStore
from s3meta.aws.clients import s3_client
from s3meta.aws.s3 import S3Storage
from s3meta.config import get_settings
from s3meta.domain.retries import RetryPolicy
from s3meta.indexing import Indexer
from tasks.metrics import metrics


@cache
def indexer() -> Indexer:
    """This process's indexer on S3 and the database, built on first use (never at import)."""
    settings = get_settings()
    engine = create_engine(settings.database_url)
    return Indexer(
        storage=S3Storage(s3_client(settings)),
        store=MetadataStore(session_factory(engine)),
        metrics=metrics(),
        retries=RetryPolicy(
            max_retries=settings.max_retries,
            backoff=settings.retry_backoff,
            backoff_max=settings.retry_backoff_max,
        ),
        fetch_tags=settings.fetch_tags,
    )


# Pooled connections must not be shared with a forked pool child: each builds its own.
os.register_at_fork(after_in_child=indexer.cache_clear)
