"""``tasks.extract.extract_metadata``, run eagerly on in-memory parts: the indexer's outcome
becomes Celery's result, retry or failure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celery.exceptions import SoftTimeLimitExceeded

import tasks.extract
from s3meta.domain.attempts import Outcome
from s3meta.domain.objects import ObjectState
from s3meta.domain.retries import RetryPolicy
from s3meta.errors import InvalidTaskArguments, PermanentError, StorageUnavailable
from s3meta.indexing import Indexer
from s3meta.memory import MemoryMetrics, MemoryObjects, MemoryStore
from tasks.extract import extract_metadata

pytestmark = pytest.mark.usefixtures("isolated_environment")

BUCKET = "bucket-a"


@pytest.fixture
def objects() -> MemoryObjects:
    return MemoryObjects()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, objects: MemoryObjects) -> MemoryStore:
    """The store of the indexer the task gets, on ``objects``, with two retries allowed."""
    memory = MemoryStore()
    indexer = Indexer(
        storage=objects,
        store=memory,
        metrics=MemoryMetrics(),
        retries=RetryPolicy(max_retries=2, backoff=1, backoff_max=1),
    )
    monkeypatch.setattr(tasks.extract, "indexer", lambda: indexer)
    return memory


def put(objects: MemoryObjects, key: str) -> None:
    modified = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    objects.put(ObjectState(BUCKET, key, size=1, etag="e", last_modified=modified))


def outcomes(store: MemoryStore, key: str) -> list[str]:
    return [attempt.outcome for attempt in store.attempts_of(BUCKET, key)]


def test_an_indexed_key_is_the_tasks_result(objects: MemoryObjects, store: MemoryStore) -> None:
    put(objects, "a.txt")

    result = extract_metadata.apply((BUCKET, "a.txt"), {"event_name": "ObjectCreated:Put"})

    assert result.successful(), result.traceback
    assert result.result == {
        "bucket": BUCKET,
        "key": "a.txt",
        "outcome": "succeeded",
        "attempt": 1,
        "version_id": None,
        "etag": "e",
        "record_type": "CREATE",
    }
    assert [a.task_id for a in store.attempts] == [result.id]


def test_a_retry_runs_the_task_again_as_the_next_attempt(
    objects: MemoryObjects, store: MemoryStore
) -> None:
    put(objects, "a.txt")
    objects.fail(BUCKET, "a.txt", StorageUnavailable("slow"), SoftTimeLimitExceeded())

    result = extract_metadata.apply((BUCKET, "a.txt"))

    assert result.successful(), result.traceback
    assert result.result["attempt"] == 3
    assert outcomes(store, "a.txt") == [Outcome.RETRYING, Outcome.RETRYING, Outcome.SUCCEEDED]
    assert [a.error_type for a in store.attempts] == [
        "StorageUnavailable",
        "SoftTimeLimitExceeded",
        None,
    ]


def test_spent_retries_raise_the_last_error(objects: MemoryObjects, store: MemoryStore) -> None:
    objects.fail(BUCKET, "a.txt", *(StorageUnavailable(f"slow {n}") for n in range(3)))

    result = extract_metadata.apply((BUCKET, "a.txt"))

    assert result.failed()
    assert isinstance(result.result, StorageUnavailable)
    assert str(result.result) == "slow 2"
    assert outcomes(store, "a.txt") == [Outcome.RETRYING, Outcome.RETRYING, Outcome.FAILED]


def test_a_permanent_error_is_raised_at_once(objects: MemoryObjects, store: MemoryStore) -> None:
    objects.fail(BUCKET, "a.txt", PermanentError("S3 403 AccessDenied"))

    result = extract_metadata.apply((BUCKET, "a.txt"))

    assert result.failed()
    assert isinstance(result.result, PermanentError)
    assert outcomes(store, "a.txt") == [Outcome.FAILED]


def test_a_refused_call_raises_invalid_task_arguments(store: MemoryStore) -> None:
    # apply() skips apply_async's check, as a task sent by another client would.
    result = extract_metadata.apply((BUCKET, ""))

    assert result.failed()
    assert isinstance(result.result, InvalidTaskArguments)
    assert outcomes(store, "''") == [Outcome.FAILED]
