"""The record cache on the machine's Redis: exact records, the latest version standing under
races (the Lua script), real workers writing through, and the API reading through it, going
around a Redis that is down and answering stale from it while its MariaDB is stopped."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.engine import writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.caching import GuardedCache
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.processes import free_port, wait_for
from s3meta.rediscache import RedisCache
from tests.support.api import api_client
from tests.support.mariadb import MariaDB, private_mariadb
from tests.support.records import T0, record
from tests.support.redis import REDIS_URL, redis_prefix
from tests.support.stack import Stack
from tests.support.threads import in_threads
from tests.support.workers import send, worker_on
from tests.support.writes import save_state

pytestmark = pytest.mark.mysql


@pytest.fixture
def prefix() -> Iterator[str]:
    with redis_prefix() as found:
        yield found


@pytest.fixture
def cache(prefix: str) -> Iterator[RedisCache]:
    found = RedisCache(REDIS_URL, prefix=prefix, keep_seconds=600)
    yield found
    found.close()


def test_a_record_comes_back_from_redis_exactly(cache: RedisCache) -> None:
    original = record(T0 + timedelta(microseconds=3))
    now = datetime.now(UTC)

    assert cache.put(original, now)
    found = cache.get(original.bucket, original.object_key)

    assert found is not None
    assert found.record == original
    assert abs((found.cached_at - now).total_seconds()) < 0.001
    assert cache.get("b-1", "other") is None


def test_threads_putting_shuffled_duplicated_versions_leave_redis_the_latest(
    cache: RedisCache,
) -> None:
    versions = [record(T0 + timedelta(microseconds=n), size=n) for n in range(1, 41)] * 3
    random.Random(3).shuffle(versions)
    in_threads(versions, lambda version: cache.put(version, datetime.now(UTC)), 6)

    found = cache.get("b-1", "k é")
    assert found is not None
    assert found.record.size == 40


def test_shuffled_duplicated_events_by_real_workers_leave_the_cache_equal_to_table_and_s3(
    stack: Stack, mysql_url: str, prefix: str, cache: RedisCache, tmp_path: Path
) -> None:
    bucket = stack.new_bucket()
    keys = [f"race/{index}" for index in range(6)]
    s3 = stack.s3()
    tasks: list[tuple[str, int]] = []
    for key in keys:
        for version in range(1, 4):
            tasks += [(key, version)] * 2
    random.Random(15).shuffle(tasks)

    with worker_on(
        stack,
        mysql_url,
        tmp_path / "worker.log",
        concurrency=4,
        S3META_CACHE_URL=REDIS_URL,
        S3META_CACHE_PREFIX=prefix,
    ) as (_, queue):
        written: dict[str, int] = {}
        for key, version in tasks:
            # S3 changes while the tasks of earlier versions are still running.
            if version > written.get(key, 0):
                s3.put_object(Bucket=bucket, Key=key, Body=b"x" * version)
                written[key] = version
            send(queue, bucket, key)
        reader = ObjectReader(writer_engine(mysql_url))
        wait_for(
            lambda: sum(len(reader.attempts(bucket, key)) for key in keys) == len(tasks),
            90,
            "every task's attempt",
        )

    for key in keys:
        row = reader.get(bucket, key)
        cached = cache.get(bucket, key)
        assert row is not None
        assert cached is not None, key
        assert cached.record == row
        assert row.size == written[key]
        assert row.etag == s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


def test_the_api_goes_around_a_redis_that_is_down_and_counts_it(mysql_url: str) -> None:
    save_state(
        MetadataStore(writer_engine(mysql_url)),
        ObjectState("cached-bucket", "k", size=4, etag="e", last_modified=T0),
        EventInfo(),
    )
    down = GuardedCache(RedisCache(f"redis://127.0.0.1:{free_port()}/0"))

    with api_client(mysql_url, cache=down) as (client, _):
        shown = client.get("/objects/cached-bucket/k")
        ready = client.get("/readyz")

    assert (shown.status_code, shown.json()["size"]) == (200, 4)
    assert ready.status_code == 200
    assert ready.json()["cache"]["ok"] is False
    assert "cache unavailable" in ready.json()["cache"]["error"]
    assert down.failures >= 2


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MariaDB]:
    with private_mariadb(tmp_path / "mariadb") as server:
        yield server


def test_while_its_mariadb_is_stopped_the_api_answers_cached_keys_marked_stale_and_recovers(
    own_server: MariaDB, cache: RedisCache
) -> None:
    url = own_server.new_database()
    store = MetadataStore(writer_engine(url))
    for key in ("seen", "unseen"):
        save_state(
            store,
            ObjectState("outage", key, size=9, etag="e", last_modified=T0),
            EventInfo(),
        )
    guarded = GuardedCache(cache)

    with api_client(url, cache=guarded, cache_ttl_seconds=0.001) as (client, _):
        before = client.get("/objects/outage/seen")
        own_server.stop()
        stale = client.get("/objects/outage/seen")
        uncached = client.get("/objects/outage/unseen")
        listing = client.get("/objects", params={"bucket": "outage"})
        degraded = client.get("/readyz")
        own_server.start()
        wait_for(
            lambda: client.get("/objects/outage/seen").headers.get("X-S3meta-Stale") is None,
            30,
            "the API to read the database again",
        )
        after = client.get("/objects/outage/seen")
        ready = client.get("/readyz")

    assert (before.status_code, before.json()["stale"]) == (200, False)
    assert stale.status_code == 200
    assert stale.headers["X-S3meta-Stale"] == "true"
    assert stale.json() == {**before.json(), "stale": True, "cached_at": stale.json()["cached_at"]}
    assert uncached.status_code == 503
    assert "database unavailable" in uncached.json()["error"]
    assert listing.status_code == 503
    assert degraded.status_code == 503
    assert degraded.json()["status"] == (
        "degraded: database unreachable, key lookups served stale from the cache"
    )
    assert degraded.json()["cache"]["ok"] is True
    assert (after.status_code, after.json()["stale"], after.headers["X-S3meta-Source"]) == (
        200,
        False,
        "primary",
    )
    assert ready.json()["status"] == "ready"


def test_a_replica_behind_cannot_put_an_older_version_over_a_workers_newer_one(
    cache: RedisCache,
) -> None:
    newer = record(T0 + timedelta(seconds=5), size=5)
    older = replace(newer, updated_at=T0, size=1)

    cache.put(newer, datetime.now(UTC))
    GuardedCache(cache).put(older)
    found = cache.get(newer.bucket, newer.object_key)

    assert found is not None
    assert found.record.size == 5


def test_clearing_a_cache_deletes_its_prefixes_entries_only(cache: RedisCache) -> None:
    with redis_prefix() as other_prefix:
        other = RedisCache(REDIS_URL, prefix=other_prefix)
        other.put(record(T0), datetime.now(UTC))
        cache.put(record(T0), datetime.now(UTC))
        cache.put(replace(record(T0), object_key="second"), datetime.now(UTC))

        cleared = cache.clear()

        assert cleared == 2
        assert cache.get("b-1", "k é") is None
        assert other.get("b-1", "k é") is not None
        other.close()
