"""``s3meta bridge --drain`` as an operator runs it, on a queue whose message is in flight."""

from __future__ import annotations

import os

import pytest

from tests.support.cli import run_console
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def test_a_drain_held_up_by_a_message_in_flight_says_so_and_exits_1_after_its_bound(
    stack: Stack,
) -> None:
    events = stack.new_queue("events")
    dead_letters = stack.new_queue("events-dlq")
    sqs = stack.sqs()
    url = sqs.get_queue_url(QueueName=events)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"Records": []}')
    # Another consumer holds it for ten minutes.
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=600).get("Messages")
    env = {
        **os.environ,
        **stack.env,
        "S3META_EVENTS_QUEUE": events,
        "S3META_DEAD_LETTER_QUEUE": dead_letters,
    }

    done = run_console("bridge", "--drain", "--drain-timeout", "2", env=env)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"draining {events}: no message visible, but 1 in flight" in done.stderr
    assert "gave up after 2 s with 1 messages in flight" in done.stderr
