"""``s3meta.aws.sqs.Queue`` on moto in process: what a received message carries, and release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from s3meta.aws.sqs import Attribute, DeadLetters, Queue, QueueMessage
from s3meta.errors import QueueNotFound
from tests.unit.conftest import QUEUE

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


def test_a_received_message_carries_its_attributes_and_when_it_was_sent(sqs: SQSClient) -> None:
    queue = Queue(sqs, QUEUE)
    before = datetime.now(UTC) - timedelta(seconds=1)
    original = QueueMessage("original-id", "receipt", "the body", receive_count=4)
    DeadLetters(queue).send(original, "unusable:\n  no Records", "events")

    (message,) = queue.receive(wait_seconds=0, visibility_timeout=30)

    assert message.body == "the body"
    assert message.receive_count == 1
    assert dict(message.attributes) == {
        "s3meta-reason": Attribute("unusable: no Records"),
        "s3meta-source-queue": Attribute("events"),
        "s3meta-original-message-id": Attribute("original-id"),
        "s3meta-receive-count": Attribute("4"),
    }
    assert message.sent_at is not None
    assert before <= message.sent_at <= datetime.now(UTC)


def test_a_peek_leaves_the_messages_visible(sqs: SQSClient) -> None:
    queue = Queue(sqs, QUEUE)
    for body in ("a", "b"):
        queue.send(body)

    peeked = queue.peek(wait_seconds=0)

    assert sorted(message.body for message in peeked) == ["a", "b"]
    assert queue.depth().visible == 2


def test_released_messages_are_visible_again_at_once(sqs: SQSClient) -> None:
    queue = Queue(sqs, QUEUE)
    for body in ("a", "b"):
        queue.send(body)
    taken = queue.receive(wait_seconds=0, visibility_timeout=300)
    assert queue.depth().in_flight == 2

    queue.release(taken)

    assert (queue.depth().visible, queue.depth().in_flight) == (2, 0)


def test_a_missing_queue_is_named_when_peeked_at(sqs: SQSClient) -> None:
    with pytest.raises(QueueNotFound, match="'no-such-queue': no such queue"):
        Queue(sqs, "no-such-queue").peek(wait_seconds=0)


def test_attributes_of_every_data_type_are_sent_and_received_exactly(sqs: SQSClient) -> None:
    queue = Queue(sqs, QUEUE)
    attributes = {
        "text": Attribute("ünï \t text"),
        "count": Attribute("42", "Number"),
        "ratio": Attribute("0.5", "Number.float"),
        "blob": Attribute(b"\x00\xff binary", "Binary"),
        "image": Attribute(b"GIF89a", "Binary.gif"),
    }
    queue.send("body", attributes)

    (message,) = queue.receive(wait_seconds=0, visibility_timeout=30)

    assert dict(message.attributes) == attributes
    assert message.text("count") == "42"
    assert message.text("blob") is None
    assert message.text("missing") is None
