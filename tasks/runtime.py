"""What a worker process builds once and reuses across tasks: settings, S3, the database."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from db.engine import create_engine, session_factory
from db.store import MetadataStore
from s3meta.aws.clients import s3_client
from s3meta.aws.s3 import S3Storage
from s3meta.config import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    storage: S3Storage
    store: MetadataStore


@cache
def runtime() -> Runtime:
    """This process's runtime, built on first use (never at import)."""
    settings = get_settings()
    engine = create_engine(settings.database_url)
    return Runtime(
        settings=settings,
        storage=S3Storage(s3_client(settings)),
        store=MetadataStore(session_factory(engine)),
    )


# Pooled connections must not be shared with a forked pool child: each builds its own.
os.register_at_fork(after_in_child=runtime.cache_clear)
