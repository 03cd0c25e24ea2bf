"""The worker's metrics: CloudWatch when ``S3META_CLOUDWATCH_NAMESPACE`` is set, else none."""

from __future__ import annotations

from functools import cache
from typing import Any

from celery.signals import worker_process_shutdown, worker_shutdown

from s3meta import composition
from s3meta.config import get_settings
from s3meta.domain.metrics import Metrics


@cache
def metrics() -> Metrics:
    """This process's metrics, chosen once from the settings.

    A forked pool child may keep the parent's publisher: it forgets the parent's data and
    thread at fork (``s3meta.aws.metrics``).
    """
    return composition.metrics(get_settings())


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _flush_at_process_shutdown(**_: Any) -> None:
    """A prefork child ends with ``os._exit``: no exit handler runs, so send what is left."""
    metrics().flush()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _flush_at_worker_shutdown(**_: Any) -> None:
    """Solo and thread pools record in the main process: send what is left."""
    metrics().flush()
