"""``s3meta.indexing.Indexer`` on in-memory parts: every outcome, attempt row and count."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.metrics import Counter
from s3meta.domain.objects import ObjectState
from s3meta.domain.ordering import RecordType
from s3meta.domain.records import TaskResultRecord
from s3meta.domain.retries import RetryPolicy
from s3meta.errors import (
    DatabaseUnavailable,
    InvalidTaskArguments,
    PermanentError,
    StorageUnavailable,
)
from s3meta.indexing import Failed, Indexed, Indexer, IndexOutcome, Refused, Retry
from s3meta.memory import MemoryMetrics, MemoryObjects, MemoryStore

BUCKET = "bucket-a"
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
EVENT_TIME = "2026-11-20T09:59:50.000Z"  # ten seconds before T0
LOGGER = "s3meta.indexing"


class Clock:
    """Starts at ``T0``; each reading is one millisecond later than the one before."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class TimeLimit(Exception):
    """A caller's own exception for "this run took too long"."""


@dataclass
class Parts:
    objects: MemoryObjects = field(default_factory=MemoryObjects)
    clock: Clock = field(default_factory=Clock)
    metrics: MemoryMetrics = field(default_factory=MemoryMetrics)
    draws: list[int] = field(default_factory=list)  # the range of each backoff draw
    store: MemoryStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = MemoryStore(self.clock)

    def indexer(self, max_retries: int = 3, fetch_tags: bool = True) -> Indexer:
        return Indexer(
            storage=self.objects,
            store=self.store,
            metrics=self.metrics,
            retries=RetryPolicy(max_retries=max_retries, backoff=2, backoff_max=600),
            fetch_tags=fetch_tags,
            clock=self.clock,
            draw=self._highest,
        )

    def _highest(self, n: int) -> int:
        self.draws.append(n)
        return n - 1

    def put(self, key: str, size: int = 1, **details: Any) -> ObjectState:
        found = ObjectState(
            BUCKET, key, size=size, etag=f"etag-{size}", last_modified=T0, **details
        )
        self.objects.put(found)
        return found

    def outcomes(self, key: str) -> list[str]:
        return [each.outcome for each in self.store.attempts_of(BUCKET, key)]


def index(
    parts: Parts, key: object, attempt: int = 1, indexer: Indexer | None = None, **event: Any
) -> IndexOutcome:
    runner = indexer or parts.indexer()
    return runner.index(BUCKET, key, event, attempt=attempt, task_id="task-1")


def created(sequencer: str) -> dict[str, Any]:
    return {"event_name": "ObjectCreated:Put", "event_time": EVENT_TIME, "sequencer": sequencer}


def test_an_object_found_is_applied_with_its_result_attempt_and_lag() -> None:
    parts = Parts()
    parts.put("a.txt", size=5, version_id="v1")

    outcome = index(parts, "a.txt", **created("0A"))

    expected = Indexed(BUCKET, "a.txt", Outcome.SUCCEEDED, 1, "v1", "etag-5", RecordType.CREATE)
    assert outcome == expected
    assert isinstance(outcome, Indexed)
    assert outcome.result() == {
        "bucket": BUCKET,
        "key": "a.txt",
        "outcome": "succeeded",
        "attempt": 1,
        "version_id": "v1",
        "etag": "etag-5",
        "record_type": "CREATE",
    }
    record = parts.store.get(BUCKET, "a.txt")
    assert record is not None
    assert (record.size, record.sequencer, record.last_task_id) == (5, "0A", "task-1")
    (attempt,) = parts.store.attempts
    assert (attempt.outcome, attempt.attempt, attempt.task_id) == (Outcome.SUCCEEDED, 1, "task-1")
    assert attempt.started_at < attempt.finished_at
    assert parts.metrics.counts == {Counter.INDEXED: 1}
    (lag,) = parts.metrics.lags
    assert 10 < lag < 11


def recorded(value: dict[str, Any]) -> TaskResultRecord:
    """A runtime's record of a result: the value as JSON, as Celery's would hold it."""
    return TaskResultRecord("task-1", "SUCCESS", json.dumps(value).encode(), T0, *[None] * 9)


def test_a_succeeded_runs_result_is_recorded_with_its_rows() -> None:
    parts = Parts()
    parts.put("a.txt", size=5)

    outcome = parts.indexer().index(
        BUCKET, "a.txt", created("0A"), attempt=1, task_id="task-1", result=recorded
    )

    assert isinstance(outcome, Indexed)
    stored = parts.store.results["task-1"]
    assert stored.status == "SUCCESS"
    assert stored.result is not None
    assert json.loads(stored.result) == outcome.result()


def test_a_skipped_run_records_its_result_too() -> None:
    parts = Parts()
    parts.put("a.txt", size=2)
    index(parts, "a.txt", **created("0B"))

    outcome = parts.indexer().index(
        BUCKET, "a.txt", created("0A"), attempt=1, task_id="task-1", result=recorded
    )

    assert isinstance(outcome, Indexed)
    assert outcome.outcome is Outcome.SKIPPED
    stored = parts.store.results["task-1"].result
    assert stored is not None
    assert json.loads(stored) == outcome.result()


def test_a_run_that_does_not_succeed_records_no_result() -> None:
    parts = Parts()
    parts.objects.fail(BUCKET, "a.txt", StorageUnavailable("throttled"))

    outcome = parts.indexer().index(
        BUCKET, "a.txt", {}, attempt=1, task_id="task-1", result=recorded
    )

    assert isinstance(outcome, Retry)
    assert parts.store.results == {}


def test_a_manual_requeue_is_counted_without_a_lag() -> None:
    parts = Parts()
    parts.put("a.txt")

    index(parts, "a.txt")

    assert parts.metrics.counts == {Counter.INDEXED: 1}
    assert parts.metrics.lags == []


def test_an_object_not_found_is_gone_and_its_record_marked_deleted() -> None:
    parts = Parts()
    parts.put("a.txt", size=3)
    index(parts, "a.txt", **created("0A"))
    parts.objects.delete(BUCKET, "a.txt")

    outcome = index(
        parts,
        "a.txt",
        event_name="ObjectRemoved:Delete",
        event_time="2026-11-20T09:59:55Z",
        sequencer="0B",
    )

    assert outcome == Indexed(BUCKET, "a.txt", Outcome.GONE, 1, None, None, RecordType.DELETE)
    record = parts.store.get(BUCKET, "a.txt")
    assert record is not None
    assert (record.is_deleted, record.deleted_by, record.size) == (True, "ObjectRemoved:Delete", 3)
    assert parts.outcomes("a.txt") == [Outcome.SUCCEEDED, Outcome.GONE]
    assert parts.metrics.counts == {Counter.INDEXED: 2}


def test_an_older_event_than_the_record_is_skipped_and_changes_nothing() -> None:
    parts = Parts()
    parts.put("a.txt", size=2)
    index(parts, "a.txt", **created("0B"))
    before = parts.store.get(BUCKET, "a.txt")
    parts.put("a.txt", size=9)

    outcome = index(parts, "a.txt", **created("0A"))

    assert outcome == Indexed(BUCKET, "a.txt", Outcome.SKIPPED, 1, None, "etag-9", None)
    assert parts.store.get(BUCKET, "a.txt") == before
    assert parts.outcomes("a.txt") == [Outcome.SUCCEEDED, Outcome.SKIPPED]
    assert parts.metrics.counts == {Counter.INDEXED: 1, Counter.SKIPPED: 1}
    assert [entry.record_type for entry in parts.store.history(BUCKET, "a.txt")] == ["CREATE"]


def test_a_newer_event_wins_over_the_record() -> None:
    parts = Parts()
    parts.put("a.txt", size=2)
    index(parts, "a.txt", **created("0A"))
    parts.put("a.txt", size=9)

    outcome = index(parts, "a.txt", **created("0B"))

    assert isinstance(outcome, Indexed)
    assert outcome.outcome is Outcome.SUCCEEDED
    record = parts.store.get(BUCKET, "a.txt")
    assert record is not None
    assert (record.size, record.sequencer) == (9, "0B")


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 2), (2, 4), (3, 8)])
def test_a_transient_failure_is_retried_after_a_backoff_within_its_bound(
    attempt: int, ceiling: int, caplog: pytest.LogCaptureFixture
) -> None:
    parts = Parts()
    parts.put("a.txt")
    error = StorageUnavailable("S3 503 SlowDown (s3://bucket-a/a.txt)")
    parts.objects.fail(BUCKET, "a.txt", error)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        outcome = index(parts, "a.txt", attempt=attempt)

    assert outcome == Retry(ceiling, error)
    assert parts.draws == [ceiling + 1]  # drawn from 0..ceiling
    (recorded,) = parts.store.attempts
    assert (recorded.outcome, recorded.attempt) == (Outcome.RETRYING, attempt)
    assert (recorded.error_type, recorded.error) == ("StorageUnavailable", str(error))
    assert parts.metrics.counts == {Counter.RETRIES: 1}
    assert parts.store.get(BUCKET, "a.txt") is None
    assert caplog.messages == [
        f"s3://bucket-a/a.txt attempt {attempt} failed ({error}); retrying in {ceiling} s"
    ]


def test_a_retried_key_succeeds_on_its_next_attempt_with_every_attempt_recorded() -> None:
    parts = Parts()
    parts.put("a.txt")
    parts.objects.fail(BUCKET, "a.txt", StorageUnavailable("slow"), StorageUnavailable("slow"))

    outcomes = [index(parts, "a.txt", attempt=n) for n in (1, 2, 3)]

    assert [type(each) for each in outcomes] == [Retry, Retry, Indexed]
    assert parts.outcomes("a.txt") == [Outcome.RETRYING, Outcome.RETRYING, Outcome.SUCCEEDED]
    assert [each.attempt for each in parts.store.attempts] == [1, 2, 3]
    assert parts.objects.looks == [(BUCKET, "a.txt")] * 3


def test_a_store_that_is_away_is_transient_too() -> None:
    parts = Parts()
    parts.put("a.txt")

    class AwayStore(MemoryStore):
        def apply(self, *args: Any, **kwargs: Any) -> Any:
            raise DatabaseUnavailable("database unavailable: gone away")

    parts.store = AwayStore(parts.clock)

    outcome = index(parts, "a.txt")

    assert isinstance(outcome, Retry)
    assert parts.outcomes("a.txt") == [Outcome.RETRYING]


def test_the_last_allowed_attempt_failing_transiently_fails_for_good(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = Parts()
    error = StorageUnavailable("S3 500 InternalError")
    parts.objects.fail(BUCKET, "a.txt", error)

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        outcome = index(parts, "a.txt", attempt=4)  # 3 retries allowed

    assert outcome == Failed(error, permanent=False)
    assert parts.outcomes("a.txt") == [Outcome.FAILED]
    assert parts.metrics.counts == {Counter.FAILURES: 1}
    assert parts.draws == []
    assert caplog.messages == [f"s3://bucket-a/a.txt failed after 4 attempts: {error}"]


def test_a_permanent_failure_fails_at_once_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    parts = Parts()
    error = PermanentError("S3 403 AccessDenied (s3://bucket-a/a.txt)")
    parts.objects.fail(BUCKET, "a.txt", error)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        outcome = index(parts, "a.txt")

    assert outcome == Failed(error, permanent=True)
    (recorded,) = parts.store.attempts
    assert (recorded.outcome, recorded.error_type) == (Outcome.FAILED, "PermanentError")
    assert parts.metrics.counts == {Counter.FAILURES: 1}
    assert caplog.messages == [f"s3://bucket-a/a.txt failed, not retried: {error}"]
    assert caplog.records[0].exc_info is None


def test_a_bug_fails_without_retrying_and_keeps_its_traceback_for_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = Parts()
    error = KeyError("ContentLength")
    parts.objects.fail(BUCKET, "a.txt", error)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        outcome = index(parts, "a.txt")

    assert outcome == Failed(error, permanent=False)
    assert isinstance(outcome, Failed)
    assert outcome.error.__traceback__ is not None
    assert parts.outcomes("a.txt") == [Outcome.FAILED]
    assert caplog.messages == []  # the caller logs it, traceback and all


def test_a_callers_own_transient_error_is_retried_and_others_are_not() -> None:
    parts = Parts()
    parts.objects.fail(BUCKET, "a.txt", TimeLimit(), TimeLimit())
    indexer = parts.indexer()

    retried = indexer.index(BUCKET, "a.txt", {}, attempt=1, task_id="t", transient=(TimeLimit,))
    failed = indexer.index(BUCKET, "a.txt", {}, attempt=2, task_id="t")

    assert isinstance(retried, Retry)
    assert isinstance(failed, Failed)
    assert not failed.permanent
    assert parts.outcomes("a.txt") == [Outcome.RETRYING, Outcome.FAILED]


def test_a_call_no_run_can_use_is_refused_with_a_failed_attempt_holding_what_it_was_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = Parts()

    with caplog.at_level(logging.INFO, logger=LOGGER):
        outcome = parts.indexer().index(123, None, {}, attempt=1, task_id="task-1")

    assert isinstance(outcome, Refused)
    assert isinstance(outcome.error, InvalidTaskArguments)
    (recorded,) = parts.store.attempts
    assert (recorded.bucket, recorded.key, recorded.outcome) == ("123", "None", Outcome.FAILED)
    assert recorded.error_type == "InvalidTaskArguments"
    assert "bucket must be a string, got int 123" in (recorded.error or "")
    assert parts.objects.looks == []
    assert parts.metrics.counts == {Counter.FAILURES: 1}
    assert caplog.messages == [f"{outcome.error}; not run"]


def test_a_refused_call_with_unreadable_event_fields_keeps_its_valid_bucket_and_key() -> None:
    parts = Parts()

    outcome = index(parts, "a.txt", event_time="yesterday")

    assert isinstance(outcome, Refused)
    assert "unreadable event fields" in str(outcome.error)
    assert [(a.bucket, a.key) for a in parts.store.attempts] == [(BUCKET, "a.txt")]


class UnrecordingStore(MemoryStore):
    """Applies changes but cannot record an attempt on its own."""

    def record_attempt(self, attempt: Attempt) -> None:
        raise DatabaseUnavailable("database unavailable: gone away")


def test_an_attempt_the_store_cannot_record_is_logged_and_the_outcome_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = Parts()
    parts.store = UnrecordingStore(parts.clock)
    parts.objects.fail(BUCKET, "a.txt", StorageUnavailable("slow"))

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        outcome = index(parts, "a.txt")

    assert isinstance(outcome, Retry)
    assert caplog.messages == ["could not record retrying attempt for s3://bucket-a/a.txt"]
    assert parts.metrics.counts == {Counter.RETRIES: 1}


def test_a_refused_call_the_store_cannot_record_is_one_more_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = Parts()
    parts.store = UnrecordingStore(parts.clock)

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        outcome = index(parts, "")

    assert isinstance(outcome, Refused)
    assert caplog.messages == [
        "extract_metadata: key is empty; not run",
        "could not record the refused call: database unavailable: gone away",
    ]
    assert parts.metrics.counts == {Counter.FAILURES: 1}


@pytest.mark.parametrize("fetch_tags", [True, False])
def test_tags_are_read_only_when_asked_for(fetch_tags: bool) -> None:
    parts = Parts()
    parts.put("a.txt", tags={"team": "a"})

    index(parts, "a.txt", indexer=parts.indexer(fetch_tags=fetch_tags))

    record = parts.store.get(BUCKET, "a.txt")
    assert record is not None
    assert record.tags == ({"team": "a"} if fetch_tags else None)


def test_the_indexer_imports_neither_celery_nor_the_database_nor_aws_clients() -> None:
    code = (
        "import sys, s3meta.indexing\n"
        "loaded = sorted({name.split('.')[0] for name in sys.modules})\n"
        "print(' '.join(loaded))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    loaded = set(done.stdout.split())
    assert "s3meta" in loaded
    assert loaded.isdisjoint({"celery", "kombu", "sqlalchemy", "db", "tasks", "boto3", "botocore"})
