"""A real worker deletes acknowledged tasks in batches: counted at the fault proxy, on SQS.

Each test has a task queue of its own, created here with a short visibility timeout, and a
worker whose SQS traffic crosses the fault proxy.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.result import AsyncResult

from s3meta.processes import WorkerProcess, wait_for
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60
# A task whose delete never went out comes back this soon.
VISIBILITY_TIMEOUT = 8


@dataclass
class Tasks:
    """A queue of this test's own, its bucket, and a way to start workers on it."""

    stack: Stack
    queue: str
    url: str
    bucket: str
    logs: Path

    def worker(self, name: str, *, delay: float = 30, pool: str = "threads") -> WorkerProcess:
        env = {
            **self.stack.env,
            "AWS_ENDPOINT_URL": self.stack.faults.url,
            "S3META_TASK_QUEUE": self.queue,
            "S3META_ACK_BATCH_DELAY": str(delay),
            "S3META_RETRY_BACKOFF_MAX": "2",
            "S3META_TASK_TIME_LIMIT": "5",
            "S3META_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        }
        return WorkerProcess(
            env, self.logs / f"{name}.log", pool=pool, concurrency=4, name=name, cwd=ROOT
        )

    def run(self, count: int) -> list[str]:
        """Upload ``count`` objects, index each with a task, wait for every result: the keys."""
        keys = [f"object-{n:03}" for n in range(count)]
        client = self.stack.s3()
        for key in keys:
            client.put_object(Bucket=self.bucket, Key=key, Body=key.encode())
        results: list[AsyncResult] = [
            extract_metadata.apply_async(args=(self.bucket, key), queue=self.queue) for key in keys
        ]
        for result in results:
            result.get(timeout=RESULT_TIMEOUT)
        return keys

    def calls(self, action: str) -> int:
        return self.stack.faults.sqs_calls[(action, self.queue)]

    def messages(self) -> tuple[int, int]:
        """Messages on the queue: (visible, in flight)."""
        attributes = self.stack.sqs().get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def attempts(self, key: str) -> int:
        return len(self.stack.reader.attempts(self.bucket, key))


@pytest.fixture
def tasks(stack: Stack, tmp_path: Path) -> Iterator[Tasks]:
    queue = f"s3meta-acks-{uuid.uuid4().hex[:8]}"
    url = stack.sqs().create_queue(
        QueueName=queue, Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT)}
    )["QueueUrl"]
    yield Tasks(stack, queue, url, stack.new_bucket(), tmp_path)
    stack.sqs().delete_queue(QueueUrl=url)


def test_acks_go_out_ten_to_a_delete_message_batch_and_a_graceful_stop_sends_the_rest(
    tasks: Tasks,
) -> None:
    worker = tasks.worker("batched")
    try:
        keys = tasks.run(25)
        wait_for(lambda: tasks.calls("DeleteMessageBatch") == 2, 30, "two full batches")
        assert tasks.messages() == (0, 5), "five acknowledged tasks await their delete"
    finally:
        assert worker.stop() == 0

    assert tasks.calls("DeleteMessageBatch") == 3
    assert tasks.calls("DeleteMessage") == 0
    assert tasks.messages() == (0, 0)
    assert "SQS refused" not in worker.log()
    assert [tasks.attempts(key) for key in keys] == [1] * 25


def test_a_delay_of_zero_deletes_each_task_with_its_own_request(tasks: Tasks) -> None:
    worker = tasks.worker("unbatched", delay=0)
    try:
        tasks.run(3)
        wait_for(lambda: tasks.messages() == (0, 0), 30, "every task deleted")
    finally:
        worker.stop()

    assert tasks.calls("DeleteMessage") == 3
    assert tasks.calls("DeleteMessageBatch") == 0


def test_deletes_sqs_refuses_in_a_batch_are_sent_again_one_by_one(tasks: Tasks) -> None:
    refusal = tasks.stack.faults.refuse_entries(
        tasks.queue, after=7, times=3, action="DeleteMessageBatch"
    )
    worker = tasks.worker("refused")
    try:
        tasks.run(10)
        wait_for(lambda: tasks.messages() == (0, 0), 30, "every task deleted")
    finally:
        worker.stop()
        tasks.stack.faults.clear_entries(refusal)

    assert tasks.calls("DeleteMessageBatch") == 1
    assert tasks.calls("DeleteMessage") == 3
    assert "SQS refused 3 of 10 delete(s)" in worker.log()


def test_a_worker_killed_with_acks_pending_has_its_tasks_run_again_with_the_row_still_right(
    tasks: Tasks,
) -> None:
    killed = tasks.worker("killed")
    try:
        [key] = tasks.run(1)
        assert tasks.messages() == (0, 1), "the task's delete is still pending"
    finally:
        os.kill(killed.pid, signal.SIGKILL)
        killed.stop()
    before = tasks.stack.reader.get(tasks.bucket, key)

    successor = tasks.worker("successor")
    try:
        wait_for(lambda: tasks.attempts(key) == 2, RESULT_TIMEOUT, "the task to run again")
    finally:
        assert successor.stop() == 0

    after = tasks.stack.reader.get(tasks.bucket, key)
    assert before is not None
    assert after is not None
    assert (after.size, after.etag, after.is_deleted) == (before.size, before.etag, False)
    assert after.size == len(key)
    assert tasks.messages() == (0, 0)
