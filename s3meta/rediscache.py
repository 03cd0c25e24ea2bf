"""The record cache on Redis (ElastiCache): ``redis://`` or, with in-transit encryption,
``rediss://``.

An entry is a hash: ``s`` the record's stamp (``s3meta.domain.cached.stamp``), ``v`` the
record, ``c`` when it was cached. A Lua script compares the stamps and sets in one step, so
of two writers of a key the later version stands, whichever writes last. Entries expire
after ``keep_seconds`` (memory is bounded); whether one is fresh enough to answer from is
the reader's call (its ``cached_at``). Redis's errors come out as ``CacheUnavailable``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import redis
import redis.exceptions

from s3meta.domain.cached import CachedRecord, decode, encode, stamp
from s3meta.domain.records import ObjectRecord
from s3meta.errors import CacheUnavailable

# Keep the entry of the highest stamp; an equal stamp is the same version: refresh its time.
_PUT = """
local stored = redis.call('HGET', KEYS[1], 's')
if stored and tonumber(stored) > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'v', ARGV[2], 'c', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""
# Seconds to wait for Redis: a cache that is slow is as good as absent.
TIMEOUT_SECONDS = 0.5


class RedisCache:
    """Object records in Redis at ``url``, under ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "s3meta:", keep_seconds: int = 86_400) -> None:
        try:
            self._redis = redis.Redis.from_url(
                url,
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
                health_check_interval=30,
            )
        except ValueError as exc:
            raise CacheUnavailable(f"not a Redis URL: {exc}") from None
        self._prefix = prefix
        self._keep = keep_seconds
        self._put = self._redis.register_script(_PUT)

    def key(self, bucket: str, key: str) -> str:
        return f"{self._prefix}object:{bucket}/{key}"

    def get(self, bucket: str, key: str) -> CachedRecord | None:
        found: Any = self._call(lambda: self._redis.hmget(self.key(bucket, key), ["v", "c"]))
        value, cached_at = found
        if value is None or cached_at is None:
            return None
        try:
            record = decode(value)
            when = datetime.fromtimestamp(float(cached_at), UTC)
        except ValueError as exc:
            raise CacheUnavailable(
                f"unreadable cache entry for s3://{bucket}/{key}: {exc}"
            ) from None
        return CachedRecord(record, when)

    def put(self, record: ObjectRecord, now: datetime) -> bool:
        arguments: list[str | int] = [
            stamp(record),
            encode(record),
            f"{now.timestamp():.6f}",
            self._keep,
        ]
        stored = self._call(
            lambda: self._put(keys=[self.key(record.bucket, record.object_key)], args=arguments)
        )
        return bool(stored)

    def ping(self) -> None:
        self._call(self._redis.ping)

    def clear(self) -> int:
        """Delete every entry under the prefix; how many there were."""

        def delete() -> int:
            keys = list(self._redis.scan_iter(match=f"{self._prefix}*", count=1000))
            return int(self._redis.delete(*keys)) if keys else 0

        return int(self._call(delete))

    def close(self) -> None:
        self._redis.close()

    @staticmethod
    def _call(command: Any) -> Any:
        try:
            return command()
        except redis.exceptions.RedisError as exc:
            raise CacheUnavailable(f"cache unavailable: {exc}") from None


@contextmanager
def scratch_prefix(url: str, label: str) -> Iterator[str]:
    """A key prefix no one else uses (``s3meta-LABEL-…:``); every key under it is deleted
    afterwards. For tests and benchmarks that share one Redis."""
    prefix = f"s3meta-{label}-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        cache = RedisCache(url, prefix=prefix)
        try:
            cache.clear()
        finally:
            cache.close()
