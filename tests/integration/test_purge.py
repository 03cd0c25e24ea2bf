"""``celery -A tasks purge`` on SQS: it empties the task queue and counts what it removed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tasks.app import app
from tests.support.database import ROOT
from tests.support.processes import wait_for
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def test_celery_purge_reports_the_number_of_messages_it_removed(stack: Stack) -> None:
    queue = f"s3meta-test-purge-{uuid.uuid4().hex[:8]}"
    for index in range(3):
        app.send_task("s3meta.extract_metadata", args=("bucket", f"key-{index}"), queue=queue)
    url = stack.sqs().get_queue_url(QueueName=queue)["QueueUrl"]

    def visible() -> int:
        attributes = stack.sqs().get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    wait_for(lambda: visible() == 3, 30, "three messages on the queue")
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "purge", "-f", "-Q", queue],
        env={**os.environ, **stack.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Purged 3 messages from 1 known task queue." in done.stdout, done.stdout
    assert visible() == 0
