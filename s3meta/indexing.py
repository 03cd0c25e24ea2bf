"""Index one key: read it from S3, apply what was found under the ordering rule, record it all.

``Indexer.index`` is what every entry point runs for one ``extract_metadata(bucket, key,
**event)`` call (the worker's task, ``tasks.extract``, today). It decides everything: the
outcome, whether and when to try again, the attempt row, the metrics, the log lines. It
returns the decision as a value and its caller maps that onto its runtime: a result, a
scheduled retry, a raised error.

Its parts come in as the ports below; ``s3meta.memory`` has in-memory twins of each.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.metrics import event_to_row_lag
from s3meta.domain.objects import ObjectState
from s3meta.domain.ordering import RecordType
from s3meta.domain.records import ObjectRecord, TaskResultRecord
from s3meta.domain.retries import Draw, RetryPolicy
from s3meta.domain.task_call import (
    InvalidTaskCall,
    TaskCall,
    check_task_call,
    recordable_bucket,
    recordable_key,
)
from s3meta.domain.transitions import NULL_VERSION, Applied, Change
from s3meta.errors import (
    DeleteMarkerFound,
    InvalidTaskArguments,
    ObjectNotFound,
    PermanentError,
    S3MetaError,
    TransientError,
    UnusableVersionId,
)

logger = logging.getLogger(__name__)


class ObjectStorage(Protocol):
    """Where objects are looked at (``s3meta.aws.s3.S3Storage``)."""

    def head(
        self, bucket: str, key: str, *, with_tags: bool = False, version_id: str | None = None
    ) -> ObjectState:
        """The object's current state (``version_id``'s, if given); raise ``ObjectNotFound``
        if it does not exist, ``DeleteMarkerFound`` if it is a delete marker."""
        ...


# The caller's record of a succeeded run's result, given the value the run returns.
ResultRecorder = Callable[[dict[str, Any]], TaskResultRecord]


class IndexStore(Protocol):
    """Where records and attempts are kept (``db.store.MetadataStore``)."""

    def apply(
        self,
        change: Change,
        attempt: Attempt | None = None,
        result: Callable[[Applied], TaskResultRecord] | None = None,
    ) -> Applied:
        """Apply ``change`` by ``s3meta.domain.transitions``, with ``attempt`` ended by its
        outcome and the task's result (``result`` of the outcome), atomically, under a lock
        on the key."""
        ...

    def record_attempt(self, attempt: Attempt) -> None: ...


class RecordCache(Protocol):
    """Where a committed record is written through (``s3meta.caching.GuardedCache``: its
    failures are logged and counted, never raised)."""

    def put(self, record: ObjectRecord) -> bool: ...


class IndexMetrics(Protocol):
    """What the indexer counts (``tasks.metrics``)."""

    def record_indexed(self, lag_seconds: float | None = None) -> None: ...
    def record_skipped(self) -> None: ...
    def record_failure(self) -> None: ...
    def record_retry(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Indexed:
    """The change was applied (succeeded), applied as a removal (gone), or skipped."""

    bucket: str
    key: str
    outcome: Outcome
    attempt: int
    version_id: str | None = None
    etag: str | None = None
    record_type: RecordType | None = None  # the journal entry written, if any

    def result(self) -> dict[str, Any]:
        """The task's result, as JSON."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "outcome": str(self.outcome),
            "attempt": self.attempt,
            "version_id": self.version_id,
            "etag": self.etag,
            "record_type": str(self.record_type) if self.record_type else None,
        }


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: run again in ``after_seconds``."""

    after_seconds: int
    error: Exception


@dataclass(frozen=True, slots=True)
class Failed:
    """Done for good: a permanent error (one log line said so), retries spent, or a bug."""

    error: Exception
    permanent: bool


@dataclass(frozen=True, slots=True)
class Refused:
    """Arguments no run can use: not run at all, and never to be retried."""

    error: InvalidTaskArguments


IndexOutcome = Indexed | Retry | Failed | Refused


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Indexer:
    """Brings one key's record in line with S3, recording every attempt."""

    storage: ObjectStorage
    store: IndexStore
    metrics: IndexMetrics
    retries: RetryPolicy
    fetch_tags: bool = True
    clock: Callable[[], datetime] = _now
    draw: Draw = random.randrange  # the backoff's jitter
    cache: RecordCache | None = None  # the record written, put here after the commit

    def index(
        self,
        bucket: object,
        key: object,
        event_kwargs: Mapping[str, Any],
        *,
        attempt: int,
        task_id: str,
        transient: tuple[type[Exception], ...] = (),
        result: ResultRecorder | None = None,
    ) -> IndexOutcome:
        """Run attempt number ``attempt`` (1 for the first) of task ``task_id``.

        ``transient`` adds the caller's own errors worth retrying (a time limit) to
        ``TransientError``. With ``result``, an ``Indexed`` outcome's result
        (``Indexed.result()``, recorded by ``result``) is written in the same transaction as
        the row, its journal entry and the attempt.
        """
        run = _Run(task_id, attempt, self.clock(), self.clock)
        try:
            call = check_task_call(bucket, key, event_kwargs)
        except InvalidTaskCall as exc:
            return self._refuse(run, bucket, key, InvalidTaskArguments(str(exc)))
        return self._run(run, call, (TransientError, *transient), result)

    def _refuse(self, run: _Run, bucket: object, key: object, exc: InvalidTaskArguments) -> Refused:
        """One line, and a failed attempt that says what it was given."""
        logger.error("%s; not run", exc)
        try:
            self.store.record_attempt(
                run.attempt(recordable_bucket(bucket), recordable_key(key), Outcome.FAILED, exc)
            )
        except S3MetaError as record_exc:
            logger.error("could not record the refused call: %s", record_exc)
        self.metrics.record_failure()
        return Refused(exc)

    def _run(
        self,
        run: _Run,
        call: TaskCall,
        transient: tuple[type[Exception], ...],
        result: ResultRecorder | None,
    ) -> IndexOutcome:
        bucket, key, event = call.bucket, call.key, call.event
        try:
            observed_at = self.clock()
            # In a versioned bucket the event's own version is looked at: each is recorded.
            version = event.version_id if event.version_id != NULL_VERSION else None
            try:
                state, marker = self._look(bucket, key, version)
            except UnusableVersionId:
                # Not a version S3 knows (no real event names one): the key as it is now.
                event = replace(event, version_id=None)
                state, marker = self._look(bucket, key, None)
            # The outcome is decided under the row lock: succeeded, gone, or skipped if newer.
            change = Change(bucket, key, state, event, observed_at, run.task_id, marker)
            record = None if result is None else _recording(result, call, run, state)
            applied = self.store.apply(change, run.attempt(bucket, key, Outcome.SUCCEEDED), record)
        except transient as exc:
            return self._transient_failure(run, call, exc)
        except Exception as exc:  # noqa: BLE001 - handed back in Failed, with its traceback
            # Permanent errors and bugs alike: retrying would fail the same way. A bug keeps
            # its traceback for the caller to log; a permanent error is this one line.
            permanent = isinstance(exc, PermanentError)
            if permanent:
                logger.error("s3://%s/%s failed, not retried: %s", bucket, key, exc)
            self._record(run, call, Outcome.FAILED, exc)
            self.metrics.record_failure()
            return Failed(exc, permanent)
        if self.cache is not None and applied.record is not None:
            # After the commit, never before: the cache holds nothing the table does not.
            self.cache.put(applied.record)
        if applied.outcome is Outcome.SKIPPED:
            self.metrics.record_skipped()
        else:
            self.metrics.record_indexed(event_to_row_lag(event.event_time, self.clock()))
        return _indexed(call, run, state, applied)

    def _look(
        self, bucket: str, key: str, version: str | None
    ) -> tuple[ObjectState | None, str | None]:
        """HeadObject's answer: the state (None if gone) and a delete marker's version id."""
        try:
            return self.storage.head(
                bucket, key, with_tags=self.fetch_tags, version_id=version
            ), None
        except DeleteMarkerFound as found:
            return None, found.version_id
        except ObjectNotFound:
            return None, None

    def _transient_failure(self, run: _Run, call: TaskCall, exc: Exception) -> Retry | Failed:
        bucket, key = call.bucket, call.key
        countdown = self.retries.delay(run.number, self.draw)
        if countdown is None:
            logger.error("s3://%s/%s failed after %d attempts: %s", bucket, key, run.number, exc)
            self._record(run, call, Outcome.FAILED, exc)
            self.metrics.record_failure()
            return Failed(exc, permanent=False)
        logger.warning(
            "s3://%s/%s attempt %d failed (%s); retrying in %d s",
            bucket,
            key,
            run.number,
            exc,
            countdown,
        )
        self._record(run, call, Outcome.RETRYING, exc)
        self.metrics.record_retry()
        return Retry(countdown, exc)

    def _record(self, run: _Run, call: TaskCall, outcome: Outcome, exc: Exception) -> None:
        """Record a failed attempt; a store that cannot is logged, not raised."""
        try:
            self.store.record_attempt(run.attempt(call.bucket, call.key, outcome, exc))
        except Exception:
            logger.exception(
                "could not record %s attempt for s3://%s/%s", outcome, call.bucket, call.key
            )


def _recording(
    result: ResultRecorder, call: TaskCall, run: _Run, state: ObjectState | None
) -> Callable[[Applied], TaskResultRecord]:
    """What the store calls with the outcome: the run's result, as ``result`` records it."""
    return lambda applied: result(_indexed(call, run, state, applied).result())


def _indexed(call: TaskCall, run: _Run, state: ObjectState | None, applied: Applied) -> Indexed:
    return Indexed(
        call.bucket,
        call.key,
        applied.outcome,
        run.number,
        state.version_id if state else None,
        state.etag if state else None,
        applied.record_type,
    )


@dataclass(frozen=True, slots=True)
class _Run:
    """One run of the task: who, which attempt, since when."""

    task_id: str
    number: int
    started_at: datetime
    clock: Callable[[], datetime]

    def attempt(
        self, bucket: str, key: str, outcome: Outcome, exc: Exception | None = None
    ) -> Attempt:
        """This run's attempt row, ending now with ``outcome``."""
        return Attempt(
            task_id=self.task_id,
            bucket=bucket,
            key=key,
            attempt=self.number,
            outcome=outcome,
            started_at=self.started_at,
            finished_at=self.clock(),
            error_type=type(exc).__name__ if exc else None,
            error=str(exc) if exc else None,
        )
