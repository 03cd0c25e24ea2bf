# kombu is untyped: every call into its connection and queue would need an ignore.
# mypy: disable-error-code="no-untyped-call"
"""``s3meta.compat.kombu.BatchedAcks`` on kombu's real SQS channel, against moto in process."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from kombu.connection import Connection
from kombu.simple import SimpleQueue

from s3meta.compat import kombu as compat
from s3meta.processes import wait_for

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

QUEUE = "tasks"


class Broker:
    """A kombu connection through s3meta's transport, and the SQS requests its channel sends."""

    def __init__(self, sqs: SQSClient, delay: float) -> None:
        self.url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
        self._sqs = sqs
        self.connection = Connection(
            "sqs://testing:testing@",
            transport=compat.Transport,
            transport_options={
                "region": "us-east-1",
                "wait_time_seconds": 0,
                "ack_batch_delay": delay,
            },
        )
        self.queue: SimpleQueue = self.connection.SimpleQueue(QUEUE)
        self.channel: Any = self.queue.channel
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Counted once answered: a test that waits for a count then sees the request's effect.
        self.channel.sqs(queue=QUEUE).meta.events.register("after-call.sqs.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.requests[model.name] += 1

    def received(self, count: int) -> list[Any]:
        for n in range(count):
            self.queue.put({"n": n})
        return [self.queue.get(timeout=5) for _ in range(count)]

    def in_flight(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def deletes(self) -> tuple[int, int]:
        with self._lock:
            return self.requests["DeleteMessageBatch"], self.requests["DeleteMessage"]


@pytest.fixture
def broker(sqs: SQSClient, request: pytest.FixtureRequest) -> Iterator[Broker]:
    sqs.create_queue(QueueName=QUEUE)
    broker = Broker(sqs, delay=getattr(request, "param", 30.0))
    yield broker
    broker.connection.close()


def test_ten_acks_go_out_as_one_delete_message_batch(broker: Broker) -> None:
    for message in broker.received(10):
        message.ack()

    wait_for(lambda: broker.deletes() == (1, 0), 10, "one DeleteMessageBatch")
    assert broker.in_flight() == 0


def test_an_ack_releases_its_prefetch_slot_at_once_and_its_delete_waits(broker: Broker) -> None:
    [message] = broker.received(1)

    message.ack()

    broker.channel.qos._flush()
    assert message.delivery_tag not in broker.channel.qos._delivered
    assert broker.deletes() == (0, 0)
    assert broker.in_flight() == 1


def test_closing_the_connection_sends_every_pending_delete(broker: Broker) -> None:
    for message in broker.received(13):
        message.ack()
    wait_for(lambda: broker.deletes()[0] == 1, 10, "the full batch")

    broker.connection.close()

    assert broker.deletes() == (2, 0)
    assert broker.in_flight() == 0


@pytest.mark.parametrize("broker", [0.2], indirect=True)
def test_a_lone_ack_is_deleted_once_the_delay_has_passed(broker: Broker) -> None:
    [message] = broker.received(1)

    message.ack()

    wait_for(lambda: broker.deletes() == (1, 0), 10, "the delayed DeleteMessageBatch")
    assert broker.in_flight() == 0


@pytest.mark.parametrize("broker", [0], indirect=True)
def test_a_delay_of_zero_deletes_each_message_at_once_as_kombu_does(broker: Broker) -> None:
    first, second = broker.received(2)

    first.ack()
    assert broker.deletes() == (0, 1)
    second.ack()

    assert broker.deletes() == (0, 2)
    assert broker.in_flight() == 0


def test_acks_from_many_threads_are_each_deleted_once(broker: Broker) -> None:
    messages = broker.received(40)
    threads = [threading.Thread(target=m.ack) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    wait_for(lambda: broker.deletes() == (4, 0), 10, "four full batches")
    assert broker.in_flight() == 0


def test_a_requeued_or_rejected_message_is_never_deleted_as_an_ack(broker: Broker) -> None:
    requeued, rejected = broker.received(2)

    requeued.requeue()
    rejected.reject()  # kombu deletes a message rejected without requeue at once, itself
    broker.connection.close()

    assert broker.requests["DeleteMessageBatch"] == 0
    assert broker.requests["DeleteMessage"] == 1


def test_deletes_sqs_refuses_are_tried_once_each_then_logged(
    broker: Broker, sqs: SQSClient, caplog: pytest.LogCaptureFixture
) -> None:
    for message in broker.received(3):
        message.ack()
    sqs.delete_queue(QueueUrl=broker.url)

    broker.connection.close()

    assert broker.deletes() == (1, 3)
    assert "SQS refused 3 of 3 delete(s)" in caplog.text
    assert caplog.text.count("SQS delivers it again after its visibility timeout") == 3


def test_pending_deletes_are_sent_at_exit_by_a_process_that_never_closed(
    broker: Broker,
) -> None:
    [message] = broker.received(1)
    message.ack()

    compat.flush_pending_acks()

    assert broker.deletes() == (1, 0)
    assert broker.in_flight() == 0
