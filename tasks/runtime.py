"""What a worker process keeps across tasks, built by ``s3meta.composition`` on first use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from db.store import MetadataStore
from s3meta import composition
from s3meta.aws.s3 import S3Storage
from s3meta.config import Settings, get_settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    storage: S3Storage
    store: MetadataStore


def database_url() -> str:
    """This worker's database URL, its secret read once: forked pool children inherit it."""
    return _database_url(get_settings())


@cache
def _database_url(settings: Settings) -> str:
    return composition.database_url(settings)


@cache
def runtime() -> Runtime:
    """This process's runtime, built on first use (never at import)."""
    settings = get_settings()
    return Runtime(
        settings=settings,
        storage=composition.storage(settings),
        store=composition.store(database_url()),
    )


# Pooled connections must not be shared with a forked pool child: each builds its own.
os.register_at_fork(after_in_child=runtime.cache_clear)
