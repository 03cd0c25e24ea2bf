"""What ``s3meta serve`` answers: key lookups through the cache, reads on the replica unless it
lags, and stale answers from the cache while the database is unreachable.

No HTTP here (``s3meta.api`` maps these onto responses), no SQL (``db.reader``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from s3meta.domain.records import JournalRecord, ObjectRecord
from s3meta.errors import DatabaseUnavailable, S3MetaError

if TYPE_CHECKING:
    from db.reader import ObjectReader
    from s3meta.caching import GuardedCache

# SHOW REPLICA STATUS at most this often: a request reads the last figure.
LAG_EVERY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Lag:
    """The replica's lag as last measured: seconds, or why there is no figure."""

    seconds: float | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """A key lookup's answer: the record (None: no such object), where it came from, and
    whether it is a cached copy served because the database could not be read."""

    record: ObjectRecord | None
    source: str  # "cache", "replica" or "primary"
    stale: bool = False
    cached_at: datetime | None = None


class Serving:
    """Reads for the API: ``replica`` (if any) for listings, ``primary`` for writes' truth."""

    def __init__(
        self,
        primary: ObjectReader,
        *,
        replica: ObjectReader | None = None,
        replica_lag: Callable[[], float] | None = None,
        cache: GuardedCache | None = None,
        max_lag_seconds: float = 30,
        cache_ttl_seconds: float = 60,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.cache = cache
        self._replica_lag = replica_lag
        self._max_lag = max_lag_seconds
        self._ttl = cache_ttl_seconds
        self._clock = clock
        self._lag = Lag(None, "not measured yet")
        self._lag_at = -LAG_EVERY_SECONDS
        self._lag_lock = threading.Lock()

    @property
    def reads(self) -> ObjectReader:
        """Where listings, journals and counts are read: the replica if there is one."""
        return self.replica or self.primary

    def lag(self) -> Lag | None:
        """The replica's lag, measured at most every ``LAG_EVERY_SECONDS``; None: no replica."""
        if self.replica is None or self._replica_lag is None:
            return None
        with self._lag_lock:
            if time.monotonic() - self._lag_at >= LAG_EVERY_SECONDS:
                try:
                    self._lag = Lag(self._replica_lag())
                except S3MetaError as exc:
                    self._lag = Lag(None, str(exc))
                self._lag_at = time.monotonic()
            return self._lag

    def key_reader(self) -> tuple[ObjectReader, str]:
        """Where a key is read: the replica unless it lags more than allowed (or has no lag
        figure: stopped, unreachable), else the primary."""
        lag = self.lag()
        fresh = lag is not None and lag.seconds is not None and lag.seconds <= self._max_lag
        if self.replica is not None and fresh:
            return self.replica, "replica"
        return self.primary, "primary"

    def lookup(self, bucket: str, key: str) -> Found:
        """The key's record: a fresh cache entry, else the database (and the cache refreshed);
        the cached entry however old, marked stale, when the database cannot be read."""
        cached = self.cache.get(bucket, key) if self.cache is not None else None
        now = self._clock()
        if cached is not None and cached.age(now) < self._ttl:
            return Found(cached.record, "cache", cached_at=cached.cached_at)
        reader, source = self.key_reader()
        try:
            record = reader.get(bucket, key)
        except DatabaseUnavailable:
            if cached is None:
                raise
            return Found(cached.record, "cache", stale=True, cached_at=cached.cached_at)
        if record is not None and self.cache is not None:
            # The cache keeps the later version: a lagging replica's cannot replace it.
            self.cache.put(record, now)
        return Found(record, source)

    def history(self, bucket: str, key: str) -> list[JournalRecord]:
        return self.reads.history(bucket, key)

    def database_problem(self, reader: ObjectReader) -> str | None:
        """None when ``reader``'s database answers a query, else why not."""
        try:
            reader.ping()
        except S3MetaError as exc:
            return str(exc)
        return None
