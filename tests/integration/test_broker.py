"""The worker's SQS broker under failures: its SQS traffic crosses the fault proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3meta.processes import WorkerProcess
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.faults import Fault, SqsFault
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60


@pytest.fixture
def queue(stack: Stack) -> str:
    """A task queue of this test's own, read by this test's worker only."""
    return f"s3meta-broker-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def failing_receives(stack: Stack, queue: str) -> Iterator[SqsFault]:
    """The first two ReceiveMessage calls on ``queue`` answer 500, as SQS does at times."""
    fault = stack.faults.fail_sqs("ReceiveMessage", queue, Fault(500, "InternalError", times=2))
    yield fault
    stack.faults.clear_sqs(fault)


@pytest.fixture
def worker(stack: Stack, queue: str, failing_receives: SqsFault, tmp_path: Path) -> Iterator[None]:
    env = {**stack.env, "AWS_ENDPOINT_URL": stack.faults.url, "S3META_TASK_QUEUE": queue}
    process = WorkerProcess(
        env, tmp_path / "worker.log", pool="threads", concurrency=2, name="broker", cwd=ROOT
    )
    yield
    process.stop()


def test_a_worker_keeps_consuming_after_sqs_fails_its_receives(
    stack: Stack, queue: str, failing_receives: SqsFault, worker: None
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="after-the-blip.txt", Body=b"x")

    result = extract_metadata.apply_async(args=(bucket, "after-the-blip.txt"), queue=queue)
    result.get(timeout=RESULT_TIMEOUT, propagate=False)

    assert failing_receives.fault.times == 0, "the worker never met the failing receives"
    assert result.successful(), result.traceback
    assert stack.reader.get(bucket, "after-the-blip.txt") is not None
