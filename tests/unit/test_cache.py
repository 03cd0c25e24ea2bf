"""The record cache's rules on in-memory parts: records kept exactly, the latest version of a
key stands whatever the order of writes, workers write through after their commit only, and
a cache that fails never fails a task."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from s3meta.caching import GuardedCache
from s3meta.domain.cached import decode, encode, stamp
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.retries import RetryPolicy
from s3meta.domain.transitions import Change, transition
from s3meta.indexing import Indexed, Indexer
from s3meta.memory import MemoryCache, MemoryMetrics, MemoryObjects, MemoryStore
from tests.support.records import T0, record
from tests.support.threads import in_threads


def test_a_record_comes_back_from_its_cache_encoding_field_for_field() -> None:
    original = record(T0 + timedelta(microseconds=7))

    assert decode(encode(original)) == original
    assert (
        stamp(original) == int((T0 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6 + 7
    )


def test_something_else_is_not_a_cached_record() -> None:
    with pytest.raises(ValueError, match="not a cached record"):
        decode('{"bucket": 1}')


def test_an_older_version_never_replaces_a_newer_one_in_the_cache() -> None:
    cache = MemoryCache()

    assert cache.put(record(T0 + timedelta(seconds=2), size=2), T0)
    assert not cache.put(record(T0 + timedelta(seconds=1), size=1), T0)
    found = cache.get("b-1", "k é")

    assert found is not None
    assert found.record.size == 2


def test_a_key_written_twice_at_the_same_clock_reading_gets_a_later_stamp() -> None:
    state = ObjectState("b-1", "k", size=1, etag="e1", last_modified=T0)
    first = transition(None, Change("b-1", "k", state, EventInfo(), T0, "t1"), T0).record
    assert first is not None
    second = transition(
        first,
        Change("b-1", "k", state, EventInfo("ObjectTagging:Put", T0), T0, "t2"),
        T0,
    ).record

    assert second is not None
    assert stamp(second) > stamp(first)


def indexer(store: MemoryStore, objects: MemoryObjects, cache: GuardedCache) -> Indexer:
    return Indexer(
        storage=objects,
        store=store,
        metrics=MemoryMetrics(),
        retries=RetryPolicy(max_retries=3, backoff=2, backoff_max=600),
        cache=cache,
    )


def test_a_worker_writes_the_committed_record_through_to_the_cache() -> None:
    store, objects, cache = MemoryStore(), MemoryObjects(), MemoryCache()
    objects.put(ObjectState("b-1", "k", size=5, etag="e", last_modified=T0))

    indexer(store, objects, GuardedCache(cache)).index("b-1", "k", {}, attempt=1, task_id="t")
    objects.delete("b-1", "k")
    indexer(store, objects, GuardedCache(cache)).index("b-1", "k", {}, attempt=1, task_id="t2")

    found = cache.get("b-1", "k")
    assert found is not None
    assert found.record == store.records["b-1", "k"]
    assert found.record.is_deleted  # the tombstone of the delete


def test_a_cache_that_fails_never_fails_the_task_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, objects, cache = MemoryStore(), MemoryObjects(), MemoryCache()
    objects.put(ObjectState("b-1", "k", size=5, etag="e", last_modified=T0))
    cache.down = True
    guarded = GuardedCache(cache)

    with caplog.at_level(logging.WARNING, "s3meta.caching"):
        outcomes = [
            indexer(store, objects, guarded).index("b-1", "k", {}, attempt=1, task_id=f"t{n}")
            for n in range(3)
        ]

    assert all(isinstance(outcome, Indexed) for outcome in outcomes)
    assert guarded.failures == 3
    # One line for a run of failures, not one per task.
    assert caplog.text.count("cache write failed, going around the cache") == 1
    assert guarded.get("b-1", "k") is None
    assert guarded.problem() == "cache unavailable: the memory cache is down"


def test_shuffled_duplicated_changes_by_several_threads_leave_the_cache_equal_to_the_store() -> (
    None
):
    store, cache = MemoryStore(), MemoryCache()
    guarded = GuardedCache(cache)
    changes = []
    for version in range(1, 21):
        state = ObjectState("b-1", "k", size=version, etag=f"e{version}", last_modified=T0)
        event = EventInfo("ObjectCreated:Put", T0, f"{version:04X}")
        changes += [Change("b-1", "k", state, event, T0, f"t{version}")] * 3
    random.Random(15).shuffle(changes)

    def apply(change: Change) -> None:
        applied = store.apply(change)
        if applied.record is not None:
            guarded.put(applied.record)

    in_threads(changes, apply, 4)

    found = cache.get("b-1", "k")
    assert found is not None
    assert found.record == store.records["b-1", "k"]
    assert found.record.size == 20
