"""The worker's metrics: CloudWatch when ``S3META_CLOUDWATCH_NAMESPACE`` is set, else none."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from celery.signals import worker_process_shutdown, worker_shutdown

from db.models import utcnow
from s3meta import composition
from s3meta.config import get_settings
from s3meta.domain.attempts import Outcome
from s3meta.domain.metrics import Metrics, event_to_row_lag


@cache
def metrics() -> Metrics:
    """This process's metrics, chosen once from the settings.

    A forked pool child may keep the parent's publisher: it forgets the parent's data and
    thread at fork (``s3meta.aws.metrics``).
    """
    return composition.metrics(get_settings())


def record_applied(outcome: Outcome, event_time: datetime | None) -> None:
    """Count a task whose change was applied (or skipped) just now, with its event's lag."""
    sink = metrics()
    if outcome is Outcome.SKIPPED:
        sink.record_skipped()
    elif event_time is None:
        sink.record_indexed()
    else:
        sink.record_indexed(event_to_row_lag(event_time, utcnow()))


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _flush_at_process_shutdown(**_: Any) -> None:
    """A prefork child ends with ``os._exit``: no exit handler runs, so send what is left."""
    metrics().flush()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _flush_at_worker_shutdown(**_: Any) -> None:
    """Solo and thread pools record in the main process: send what is left."""
    metrics().flush()
