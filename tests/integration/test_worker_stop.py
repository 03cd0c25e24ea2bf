"""A real worker stopped with SIGTERM leaves nothing it received from SQS invisible.

The test's queue hides a received message far longer than the test runs, so a message a
stopping worker strands fails it; the worker's SQS traffic crosses the fault proxy.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from s3meta.processes import WorkerProcess, wait_for
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

VISIBILITY_TIMEOUT = 300
# SQS's answer to the long poll comes back this late: after the worker left its event loop
# (within a second of SIGTERM), well within what its cancelled consumer waits for it.
HOLD = 2.5
STOP_RECEIVE_WAIT = 6


def test_a_message_the_long_poll_in_flight_gets_while_the_worker_stops_is_visible_at_once(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-stop-{uuid.uuid4().hex[:8]}"
    sqs = stack.sqs()
    url = sqs.create_queue(
        QueueName=queue, Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT)}
    )["QueueUrl"]
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="object", Body=b"object")
    env = {
        **stack.env,
        "AWS_ENDPOINT_URL": stack.faults.url,
        "S3META_TASK_QUEUE": queue,
        "S3META_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "S3META_TASK_TIME_LIMIT": "30",
        "S3META_RETRY_BACKOFF_MAX": "10",
        "S3META_STOP_RECEIVE_WAIT": str(STOP_RECEIVE_WAIT),
    }

    def in_flight() -> int:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def worker(name: str) -> WorkerProcess:
        return WorkerProcess(
            env, tmp_path / f"{name}.log", pool="threads", concurrency=2, name=name, cwd=ROOT
        )

    try:
        stopping = worker("stopping")
        try:
            wait_for(
                lambda: stack.faults.sqs_calls[("ReceiveMessage", queue)] >= 1,
                30,
                "the worker's long poll",
            )
            stack.faults.hold_sqs_answers("ReceiveMessage", queue, HOLD)
            os.kill(stopping.pid, signal.SIGTERM)
            wait_for(lambda: "Warm shutdown" in stopping.log(), 30, "the warm shutdown")
            extract_metadata.apply_async(args=(bucket, "object"), queue=queue)
        finally:
            code = stopping.stop()
        stack.faults.hold_sqs_answers("ReceiveMessage", queue, 0)
        assert code == 0, stopping.log()
        assert in_flight() == 0, stopping.log()
        assert "made 1 message(s) received after the consumer" in stopping.log()
        print(*(line for line in stopping.log().splitlines() if "at cancel in" in line), sep="\n")

        successor = worker("successor")
        try:
            wait_for(
                lambda: len(stack.reader.attempts(bucket, "object")) == 1, 60, "the task to run"
            )
            wait_for(lambda: in_flight() == 0, 30, "its message deleted")
        finally:
            assert successor.stop() == 0
    finally:
        sqs.delete_queue(QueueUrl=url)
    assert len(stack.reader.attempts(bucket, "object")) == 1
