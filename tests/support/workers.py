"""A real worker on a database of the test's own (a private MariaDB), fed from its own queue
on the session's moto server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasks.extract import extract_metadata
from tests.support.database import ROOT
from tests.support.processes import WorkerProcess
from tests.support.stack import Stack


@contextmanager
def worker_on(
    stack: Stack, database_url: str, log: Path, *, concurrency: int = 2, **env: str
) -> Iterator[tuple[WorkerProcess, str]]:
    """A worker writing to ``database_url`` (with ``env``), and the task queue it reads."""
    queue = f"s3meta-test-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        {**stack.env, "S3META_DATABASE_URL": database_url, "S3META_TASK_QUEUE": queue, **env},
        log,
        concurrency=concurrency,
        name=f"own-{uuid.uuid4().hex[:6]}",
        cwd=ROOT,
    )
    try:
        yield worker, queue
    finally:
        worker.stop()


def send(queue: str, bucket: str, key: str, **event: object) -> None:
    """One ``extract_metadata`` task to ``queue``, as the bridge would send it."""
    extract_metadata.apply_async((bucket, key), event, queue=queue)
