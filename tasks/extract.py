"""``extract_metadata``: bring one key's row in line with S3, recording every attempt."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval

from db.models import utcnow
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.names import (
    InvalidTaskCall,
    TaskCall,
    check_task_arguments,
    check_task_call,
    recordable_bucket,
    recordable_key,
)
from s3meta.domain.objects import ObjectState
from s3meta.domain.transitions import Change
from s3meta.errors import (
    InvalidTaskArguments,
    ObjectNotFound,
    PermanentError,
    S3MetaError,
    TransientError,
)
from tasks.app import app
from tasks.metrics import metrics, record_applied
from tasks.runtime import Runtime, runtime

logger = logging.getLogger(__name__)


class ExtractTask(Task):  # type: ignore[misc]
    """The task class of ``extract_metadata``: its arguments are checked before sending."""

    # A permanent failure is an outcome, not a bug: the task logs one line about it and
    # Celery keeps the traceback in the result only (see tasks.app.ExpectedFailureFilter).
    throws = (PermanentError,)

    def apply_async(
        self,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        *rest: Any,
        **options: Any,
    ) -> Any:
        """Send the task, or raise ``InvalidTaskArguments`` in the caller, sending nothing.

        ``delay`` and signatures come through here too; only ``app.send_task`` does not,
        and the worker checks again.
        """
        try:
            check_task_arguments(args, kwargs)
        except InvalidTaskCall as exc:
            raise InvalidTaskArguments(str(exc)) from None
        return super().apply_async(args, kwargs, *rest, **options)


@app.task(bind=True, base=ExtractTask, name="s3meta.extract_metadata")  # type: ignore[untyped-decorator]
def extract_metadata(self: Task, bucket: str, key: str, **event: Any) -> dict[str, Any]:
    """Read ``s3://bucket/key`` with HeadObject and upsert its row; ``event`` is the S3 event.

    Idempotent: any number of runs leave one row. A missing object marks the row deleted.
    Transient failures are retried with exponential backoff and jitter; the rest fail.
    """
    return _extract(self, runtime(), bucket, key, event)


def _extract(
    task: Task, rt: Runtime, bucket: Any, key: Any, event_kwargs: dict[str, Any]
) -> dict[str, Any]:
    task_id = str(task.request.id)
    retries = int(task.request.retries or 0)
    started = utcnow()
    try:
        call = check_task_call(bucket, key, event_kwargs)
    except InvalidTaskCall as exc:
        _refuse(rt, task_id, retries + 1, started, bucket, key, InvalidTaskArguments(str(exc)))
    return _run(task, rt, call, task_id, retries, started)


def _refuse(
    rt: Runtime,
    task_id: str,
    attempt: int,
    started: datetime,
    bucket: Any,
    key: Any,
    exc: InvalidTaskArguments,
) -> NoReturn:
    """Fail a call no run can use: one line, a failed attempt that says what it was given."""
    logger.error("%s; not run", exc)
    try:
        rt.store.record_attempt(
            Attempt(
                task_id=task_id,
                bucket=recordable_bucket(bucket),
                key=recordable_key(key),
                attempt=attempt,
                outcome=Outcome.FAILED,
                started_at=started,
                finished_at=utcnow(),
                error_type=type(exc).__name__,
                error=str(exc),
            )
        )
    except S3MetaError as record_exc:
        logger.error("could not record the refused call: %s", record_exc)
    metrics().record_failure()
    raise exc


def _run(
    task: Task, rt: Runtime, call: TaskCall, task_id: str, retries: int, started: datetime
) -> dict[str, Any]:
    bucket, key = call.bucket, call.key

    def attempt(outcome: Outcome, exc: BaseException | None = None) -> Attempt:
        return Attempt(
            task_id=task_id,
            bucket=bucket,
            key=key,
            attempt=retries + 1,
            outcome=outcome,
            started_at=started,
            finished_at=utcnow(),
            error_type=type(exc).__name__ if exc else None,
            error=str(exc) if exc else None,
        )

    def record(outcome: Outcome, exc: BaseException) -> None:
        try:
            rt.store.record_attempt(attempt(outcome, exc))
        except Exception:
            logger.exception("could not record %s attempt for s3://%s/%s", outcome, bucket, key)

    event = call.event
    try:
        observed_at = utcnow()
        state: ObjectState | None
        try:
            state = rt.storage.head(bucket, key, with_tags=rt.settings.fetch_tags)
        except ObjectNotFound:
            state = None
        # The outcome is decided under the row lock: succeeded, gone, or skipped if newer.
        applied = rt.store.apply(
            Change(bucket, key, state, event, observed_at, task_id), attempt(Outcome.SUCCEEDED)
        )
    except (TransientError, SoftTimeLimitExceeded) as exc:
        max_retries = rt.settings.max_retries
        if retries >= max_retries:
            logger.error("s3://%s/%s failed after %d attempts: %s", bucket, key, retries + 1, exc)
            record(Outcome.FAILED, exc)
            metrics().record_failure()
            raise
        countdown = get_exponential_backoff_interval(
            factor=rt.settings.retry_backoff,
            retries=retries,
            maximum=rt.settings.retry_backoff_max,
            full_jitter=True,
        )
        logger.warning(
            "s3://%s/%s attempt %d failed (%s); retrying in %d s",
            bucket,
            key,
            retries + 1,
            exc,
            countdown,
        )
        record(Outcome.RETRYING, exc)
        metrics().record_retry()
        raise task.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc
    except Exception as exc:
        # Permanent errors and bugs alike: retrying would fail the same way. A bug keeps the
        # traceback Celery logs; a permanent error is this one line.
        if isinstance(exc, PermanentError):
            logger.error("s3://%s/%s failed, not retried: %s", bucket, key, exc)
        record(Outcome.FAILED, exc)
        metrics().record_failure()
        raise
    record_applied(applied.outcome, event.event_time)
    return {
        "bucket": bucket,
        "key": key,
        "outcome": str(applied.outcome),
        "attempt": retries + 1,
        "version_id": state.version_id if state else None,
        "etag": state.etag if state else None,
        "record_type": str(applied.record_type) if applied.record_type else None,
    }
