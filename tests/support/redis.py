"""The machine's Redis (127.0.0.1:6379, or S3META_TEST_REDIS_URL) for tests: a key prefix
of the test's own, its keys deleted afterwards. Skipped loudly locally when absent, failing in
CI, as MySQL is."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from s3meta.rediscache import RedisCache
from tests.support.database import IN_CI

REDIS_URL = os.environ.get("S3META_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI must run the Redis tests)")
        pytest.skip(f"!!! SKIPPING REDIS TEST: {message}")
    finally:
        client.close()


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    require_redis()
    prefix = f"s3meta-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        cache = RedisCache(REDIS_URL, prefix=prefix)
        cache.clear()
        cache.close()
