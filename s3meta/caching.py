"""The cache of object records (Redis, ElastiCache): its port, and the guard that keeps its
failures from failing anything.

Workers write a key's record through after their commit (``s3meta.indexing``); the API reads
through it (``s3meta.operations.serving``). A cache that fails is logged, counted and gone
around: a task or a request never fails because of it.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Protocol

from s3meta.domain.cached import CachedRecord
from s3meta.domain.records import ObjectRecord
from s3meta.errors import CacheUnavailable

logger = logging.getLogger(__name__)


class ObjectCache(Protocol):
    """Records by (bucket, key), the latest version of each kept (``s3meta.rediscache``)."""

    def get(self, bucket: str, key: str) -> CachedRecord | None:
        """The cached record, or None; ``CacheUnavailable`` if the cache cannot say."""
        ...

    def put(self, record: ObjectRecord, now: datetime) -> bool:
        """Cache ``record`` as of ``now`` unless a later version of its key is there
        (compared and set atomically); True if it is now the cached one."""
        ...

    def ping(self) -> None:
        """Raise ``CacheUnavailable`` unless the cache answers."""
        ...


class GuardedCache:
    """``cache`` whose failures are logged (once per run of them), counted and bypassed."""

    def __init__(self, cache: ObjectCache) -> None:
        self.cache = cache
        self.failures = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str) -> CachedRecord | None:
        try:
            found = self.cache.get(bucket, key)
        except CacheUnavailable as exc:
            self._failed("read", exc)
            return None
        self._ok()
        return found

    def put(self, record: ObjectRecord, now: datetime | None = None) -> bool:
        try:
            stored = self.cache.put(record, now or datetime.now(UTC))
        except CacheUnavailable as exc:
            self._failed("write", exc)
            return False
        self._ok()
        return stored

    def problem(self) -> str | None:
        """None when the cache answers, else why not."""
        try:
            self.cache.ping()
        except CacheUnavailable as exc:
            self._failed("ping", exc)
            return str(exc)
        self._ok()
        return None

    def _failed(self, what: str, exc: CacheUnavailable) -> None:
        with self._lock:
            self.failures += 1
            first = self.last_error is None
            self.last_error = str(exc)
        if first:
            logger.warning("cache %s failed, going around the cache: %s", what, exc)

    def _ok(self) -> None:
        if self.last_error is not None:
            with self._lock:
                was, self.last_error = self.last_error, None
            if was is not None:
                logger.warning("cache answers again")
