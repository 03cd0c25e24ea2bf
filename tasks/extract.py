"""``extract_metadata``: the Celery task that runs ``s3meta.indexing`` for one key.

The indexer decides; this module maps its outcome onto Celery: a result, a retry, a raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from s3meta.compat.celery import DatabaseResults
from s3meta.domain.task_call import InvalidTaskCall, check_task_arguments
from s3meta.errors import InvalidTaskArguments, PermanentError
from s3meta.indexing import Failed, Indexed, Refused, Retry
from tasks.app import app
from tasks.runtime import database_url, indexer


class ExtractTask(Task):  # type: ignore[misc]
    """The task class of ``extract_metadata``: its arguments are checked before sending."""

    # A permanent failure is an outcome, not a bug: the task logs one line about it and
    # Celery keeps the traceback in the result only (see tasks.log_filters.ExpectedFailureFilter).
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
        check_arguments(args, kwargs)
        return super().apply_async(args, kwargs, *rest, **options)


def check_arguments(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> None:
    """Raise ``InvalidTaskArguments`` unless ``extract_metadata(*args, **kwargs)`` is usable."""
    try:
        check_task_arguments(args, kwargs)
    except InvalidTaskCall as exc:
        raise InvalidTaskArguments(str(exc)) from None


@app.task(bind=True, base=ExtractTask, name="s3meta.extract_metadata")  # type: ignore[untyped-decorator]
def extract_metadata(self: Task, bucket: str, key: str, **event: Any) -> dict[str, Any]:
    """Read ``s3://bucket/key`` with HeadObject and upsert its row; ``event`` is the S3 event.

    Idempotent: any number of runs leave one row. A missing object marks the row deleted.
    Transient failures are retried with exponential backoff and jitter; the rest fail.
    """
    runner = indexer()
    # The result's row goes in the transaction of the task's own rows, when Celery would
    # write it to the same database: Celery's backend then skips its own write.
    backend = self.backend
    recorder = (
        backend.recorder(self, database_url()) if isinstance(backend, DatabaseResults) else None
    )
    outcome = runner.index(
        bucket,
        key,
        event,
        attempt=int(self.request.retries or 0) + 1,
        task_id=str(self.request.id),
        # The soft time limit is raised inside the task: one more try may well finish.
        transient=(SoftTimeLimitExceeded,),
        result=recorder,
    )
    match outcome:
        case Indexed():
            if recorder is not None:
                DatabaseResults.stored_by_task(self.request)
            return outcome.result()
        case Retry(after_seconds=countdown, error=exc):
            max_retries = runner.retries.max_retries
            raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc
        case Failed(error=exc) | Refused(error=exc):
            raise exc
